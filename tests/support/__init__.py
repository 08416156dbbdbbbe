"""Helpers the tests share: servers, receivers, factories and pytest plugins.

Test modules import helpers from here; fixtures stay in the ``conftest.py`` files.

- ``settings``: the repository's paths, the test keys and servers, ``require``, ``auth``,
  ``migrate``, ``reset_all_caches``
- ``processes``: a real Celery ``Worker`` and ``wait_for``
- ``factories``: native events from real GSM8K rows
- ``otlp``, ``fake_router``: OTLP JSON written by hand, a router traced with the OpenTelemetry SDK
- ``alert_rows``, ``alert_receiver``, ``alert_formats``: alert data, a local HTTP receiver, the
  Slack and PagerDuty format checks
- ``attribution_store``, ``synthetic``: generated traffic for attribution, reports and the
  dashboard
- ``flagship_stub``, ``live_api``, ``throwaway_postgres``, ``cdp``: a counting flagship, the API
  as a uvicorn process, a PostgreSQL server of a test's own, headless Chromium
- ``crash_isolation``: the pytest plugin that forks each llama.cpp test
"""
