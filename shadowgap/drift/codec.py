"""Detector state as versioned JSON: safe to load, readable, and independent of pickle.

``detector_states.state`` used to be a pickle, which made any database writer a code executor
and broke a segment for good when a class moved. It is now JSON built from an allow-list of
the drift package's own classes: an object is written as ``{"__type__": name, ...}`` with its
attributes, and loading only ever instantiates a class named in :data:`_ALLOWED` (without
calling its constructor, then restoring the attributes). Floats that JSON cannot hold (inf,
nan) and byte strings have tagged forms.

The envelope carries :data:`FORMAT` and :data:`VERSION`. A state that does not decode (an
older version, a renamed class, a hand-edited row) raises :class:`StateFormatError`, and the
store rebuilds that signal from the segment's stored history instead
(:func:`shadowgap.drift.store.update_segment`): the segment stays watched.
"""

from __future__ import annotations

import base64
import dataclasses
import math
import sys
from typing import Any

from shadowgap.drift.bernoulli_cusum import BernoulliCUSUM
from shadowgap.drift.budget import BernoulliDesign, BernoulliLattice
from shadowgap.drift.changepoint import ChangeTracker
from shadowgap.drift.gaussian_cusum import GaussianCUSUM
from shadowgap.drift.glr import BernoulliGLR
from shadowgap.drift.self_starting import SelfStartingCUSUM
from shadowgap.drift.tail_cusum import TailCUSUM
from shadowgap.drift.two_sided import TwoSidedCUSUM
from shadowgap.errors import ShadowgapError
from shadowgap.stats.estimates import RecentWindow, WeightedMean
from shadowgap.stats.excess_gap import WeightedSums

FORMAT = "shadowgap.signal-state"
VERSION = 3  # 1 was the pickle format; 3: the GLR keeps checkpoints before its window

_ALLOWED: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        BernoulliCUSUM,
        BernoulliDesign,
        BernoulliGLR,
        BernoulliLattice,
        ChangeTracker,
        GaussianCUSUM,
        RecentWindow,
        SelfStartingCUSUM,
        TailCUSUM,
        TwoSidedCUSUM,
        WeightedMean,
        WeightedSums,
    )
}


class StateFormatError(ShadowgapError):
    """A stored detector state cannot be decoded (wrong format, version or content)."""


def register(cls: type) -> type:
    """Allow ``cls`` in stored states (the state module registers its own class)."""
    _ALLOWED[cls.__name__] = cls
    return cls


def dumps(state: object) -> dict[str, Any]:
    """The JSON document stored for ``state``."""
    return {"format": FORMAT, "version": VERSION, "state": _encode(state)}


def loads(document: object) -> Any:
    """The object stored by :func:`dumps`; :class:`StateFormatError` when it cannot be."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise StateFormatError("not a shadowgap detector state")
    if document.get("version") != VERSION:
        raise StateFormatError(f"detector state version {document.get('version')!r}")
    try:
        return _decode(document["state"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise StateFormatError(f"detector state does not decode: {exc}") from exc


def _encode(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, list | tuple):
        return [_encode(item) for item in value]
    if isinstance(value, bytes | bytearray):
        tag = "__bytearray__" if isinstance(value, bytearray) else "__bytes__"
        return {tag: base64.b64encode(value).decode("ascii")}
    if isinstance(value, dict):
        return {"__dict__": [[_encode(k), _encode(v)] for k, v in value.items()]}
    name = type(value).__name__
    if _ALLOWED.get(name) is not type(value):
        raise TypeError(f"{name} is not an allowed detector-state type")
    if dataclasses.is_dataclass(value):
        fields = {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"__type__": name, "fields": fields}
    getstate = getattr(type(value), "__getstate__", None)
    if getstate is not None and getstate is not object.__getstate__:
        return {"__type__": name, "slots": _encode(value.__getstate__())}
    return {"__type__": name, "attrs": {k: _encode(v) for k, v in vars(value).items()}}


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(item) for item in value]
    if isinstance(value, str):
        # Names and labels repeat in every state: one shared copy each instead of one per
        # decoded state (about 40% of a loaded state's memory was such duplicate strings).
        return sys.intern(value)
    if not isinstance(value, dict):
        return value
    if "__float__" in value:
        return float(value["__float__"])
    if "__bytes__" in value:
        return base64.b64decode(value["__bytes__"])
    if "__bytearray__" in value:
        return bytearray(base64.b64decode(value["__bytearray__"]))
    if "__dict__" in value:
        return {_decode(k): _decode(v) for k, v in value["__dict__"]}
    cls = _ALLOWED.get(value["__type__"])
    if cls is None:
        raise ValueError(f"type {value['__type__']!r} is not allowed")
    if "fields" in value:
        return cls(**{k: _decode(v) for k, v in value["fields"].items()})
    obj: Any = object.__new__(cls)  # restore attributes without running __init__
    if "slots" in value:
        obj.__setstate__(tuple(_decode(value["slots"])))
    else:
        # setattr, not __dict__.update: it keeps CPython's compact per-instance attribute
        # storage (a materialised __dict__ costs about 200 bytes more per object).
        for key, item in value["attrs"].items():
            setattr(obj, sys.intern(key), _decode(item))
    return obj
