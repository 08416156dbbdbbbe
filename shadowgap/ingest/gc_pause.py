"""The cyclic garbage collector paused while a large body is decoded.

Decoding megabytes of JSON or protobuf allocates millions of objects, and CPython starts a
full collection whenever the objects allocated since the last one grow by a quarter: each is a
C call over every live object that holds the GIL for hundreds of milliseconds, so a decode
moved to a worker thread still froze the event loop (``/healthz`` held 0.3-0.4 s at a time on
a 10 MB OTLP body). Decoded values hold no reference cycles; reference counting frees them,
and what cycles remain are collected once the last decode ends.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_active = 0
_was_enabled = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """Automatic collection off until every concurrent holder has left (then as before)."""
    global _active, _was_enabled
    with _lock:
        if _active == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0 and _was_enabled:
                gc.enable()
