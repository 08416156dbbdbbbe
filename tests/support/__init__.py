"""Helpers the tests share: servers, receivers, factories and pytest plugins."""
