"""Structured logs: one JSON object per line, with any ``extra`` fields merged in.

Every line goes through the deployment's PII redactor (SHADOWGAP_REDACT): a message or an
exception that quotes a prompt, an answer or a provider's error never writes an e-mail address,
card number or key into the logs.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType

_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def _unchanged(text: str) -> str:
    return text


class JsonFormatter(logging.Formatter):
    def __init__(self, redact: Callable[[str], str] = _unchanged) -> None:
        super().__init__()
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _RESERVED})
        # A traceback is one field of the one line (json.dumps escapes its newlines).
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return self.redact(json.dumps(entry, default=str))


class RedactingFormatter(logging.Formatter):
    def __init__(self, fmt: str, redact: Callable[[str], str]) -> None:
        super().__init__(fmt)
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(super().format(record))


def _log_uncaught(
    kind: type[BaseException], value: BaseException, tb: TracebackType | None
) -> None:
    logging.getLogger("shadowgap").critical("uncaught exception", exc_info=(kind, value, tb))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is None or isinstance(args.exc_value, SystemExit):
        return
    logging.getLogger("shadowgap").critical(
        "uncaught exception in thread %s",
        args.thread.name if args.thread else "?",
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
    )


def configure_logging(
    level: str = "INFO", as_json: bool = True, redact: Callable[[str], str] = _unchanged
) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter(redact)
        if as_json
        else RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", redact)
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    if as_json:
        # A crash's traceback is logged as one JSON line too, not printed over many.
        sys.excepthook = _log_uncaught
        threading.excepthook = _log_uncaught_in_thread
    # httpx logs every request URL at INFO, and alert webhook URLs are secrets.
    logging.getLogger("httpx").setLevel(logging.WARNING)
