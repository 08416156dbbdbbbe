"""Celery app, queues, beat schedule and the thin task shells."""
