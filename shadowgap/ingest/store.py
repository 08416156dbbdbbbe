"""Storing a validated batch: segments, events (deduplicated), sampling decisions.

Everything happens in the caller's transaction, so a batch is all-or-nothing.

**Nothing serialises API processes.** Events take their ids from the table's sequence with no
lock, and segment counters are appended as deltas rather than updated in place
(shadowgap/db/segment_counts.py), so two processes writing the same segments never wait for
each other's commit. Ids may then commit out of order and leave holes (a rolled-back batch, a
concurrent redelivery skipped by ``ON CONFLICT``): the readers that walk ids read only up to
the event horizon, which also records the holes (shadowgap/db/event_horizon.py); each
transaction marks itself as ingest (a shared advisory lock, which conflicts with nothing)
before it takes the first id, as the horizon's proof needs.
Redeliveries are filtered by ``NOT EXISTS`` before they take an id (and ``ON CONFLICT`` skips a
concurrent one). On SQLite, ``BEGIN IMMEDIATE`` serialises writers and counts are applied to
the segment rows at once.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import func, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from shadowgap.config import Settings
from shadowgap.db import event_horizon, models, partitions, segment_counts
from shadowgap.ingest.answer_checks import check_answer
from shadowgap.ingest.segments import segment_of
from shadowgap.privacy import originals as pending_originals
from shadowgap.privacy.events import redact_batch
from shadowgap.privacy.purge import purged_ids
from shadowgap.privacy.redaction import Redactor, for_settings
from shadowgap.schemas import TrafficEvent
from shadowgap.shadow import sampling
from shadowgap.shadow.costs import budget_exhausted
from shadowgap.slices.cadence import cadence_cache
from shadowgap.slices.exploration import explore_probability
from shadowgap.slices.store import store_features as store_slice_features
from shadowgap.slices.watches import boost_cache

BUDGET_TTL_SECONDS = 10.0
# The sampling allocation's totals are refreshed when the traffic stored since grows by this
# share (and at least MIN_REFRESH_EVENTS), not on a timer: a replay of the same traffic then
# refreshes at the same events and draws the same sample, however fast it is sent.
REFRESH_GROWTH = 0.05
MIN_REFRESH_EVENTS = 1_000


@dataclass
class StoredBatch:
    accepted: int
    new: int
    duplicates: int
    sampled: int = 0
    decision_ids: list[int] = field(default_factory=list)
    segment_ids: set[int] = field(default_factory=set)
    budget_exhausted: bool = False


# prompt_hash reads a long prompt this many characters at a time: one split of a 1,000,000-
# character prompt of short words made 200,000 strings in one call, holding the GIL ~70 ms.
_HASH_CHUNK = 65536
_SPACE = re.compile(r"\s")


def prompt_hash(text: str) -> str:
    """Fingerprint of a prompt, whitespace-insensitive (recorded answers are keyed by it):
    the SHA-256 of ``" ".join(text.split())``, computed a chunk at a time (each chunk ends
    before a whitespace character, so no word is split)."""
    if len(text) <= _HASH_CHUNK:  # one chunk: the same bytes without the chunk loop
        return hashlib.sha256(" ".join(text.split()).encode()).hexdigest()
    digest = hashlib.sha256()
    joined = False
    start = 0
    while start < len(text):
        found = _SPACE.search(text, min(start + _HASH_CHUNK, len(text)))
        end = found.start() if found else len(text)
        words = text[start:end].split()
        if words:
            digest.update(((" " if joined else "") + " ".join(words)).encode())
            joined = True
        start = end
    return digest.hexdigest()


def is_cheap(event: TrafficEvent, settings: Settings) -> bool:
    cheap = {name.lower() for name in settings.cheap_routes}
    return event.route.tier.lower() in cheap or event.route.model.lower() in cheap


def insert_ignoring_conflicts(session: Session, table: Any, index_elements: list[str]) -> Any:
    """An INSERT that skips rows violating the given unique key, on PostgreSQL and SQLite."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(table).on_conflict_do_nothing(index_elements=index_elements)


class _Cached:
    """A value recomputed at most every ``ttl`` seconds per process: the totals that steer the
    sampling allocation and the budget check need not be exact, and a query per request
    would dominate single-event ingest."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._value: Any = None
        self._at = -1e18
        self._lock = threading.Lock()

    def get(self, compute: Any) -> Any:
        with self._lock:
            now = time.monotonic()
            if now - self._at > self.ttl:
                self._value = compute()
                self._at = now
            return self._value

    def clear(self) -> None:
        with self._lock:
            self._at = -1e18


class _Totals:
    """The allocation's totals per process, refreshed by traffic growth (see above)."""

    def __init__(self) -> None:
        self._value: sampling.TrafficTotals | None = None
        self._since = 0
        self._lock = threading.Lock()

    def get(
        self, session: Session, new_events: int, pending: dict[int, segment_counts.Counts]
    ) -> sampling.TrafficTotals:
        with self._lock:
            value = self._value
            due = max(MIN_REFRESH_EVENTS, REFRESH_GROWTH * (value.events if value else 0))
            if value is None or self._since >= due:
                value = self._value = traffic_totals(session, pending)
                self._since = 0
            self._since += new_events
            return value

    def clear(self) -> None:
        with self._lock:
            self._value = None


_totals_cache = _Totals()
_budget_cache = _Cached(BUDGET_TTL_SECONDS)


def clear_caches() -> None:
    _totals_cache.clear()
    _budget_cache.clear()
    _segment_cache.forget()
    boost_cache.clear()
    cadence_cache.clear()
    partitions.known.forget()


def traffic_totals(
    session: Session, pending: dict[int, segment_counts.Counts] | None = None
) -> sampling.TrafficTotals:
    """The allocation's totals; ``pending`` is what the caller's transaction adds and has not
    written yet (its counter delta goes in once, after sampling: one statement, not two)."""
    per_segment, events = segment_counts.all_counts(session)
    for segment_id, counts in (pending or {}).items():
        per_segment[segment_id] = per_segment.get(segment_id, 0) + counts.cheap
        events += counts.events
    event = models.TrafficEvent
    first, last = session.execute(
        select(func.min(event.occurred_at), func.max(event.occurred_at))
    ).one()
    span = (last - first).total_seconds() / (7 * 86_400.0) if first and last else 0.0
    return sampling.TrafficTotals(
        events=int(events),
        cheap_events=sum(per_segment.values()),
        cheap_segments=sum(1 for cheap in per_segment.values() if cheap > 0),
        segment_cheap=per_segment,
        span_weeks=span,
    )


class _SegmentIds:
    """Segment key -> id, per process. Segments are never deleted, so once a key is known
    its id is too, and a known segment costs no query."""

    def __init__(self) -> None:
        self._ids: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def cached(self, session: Session, keys: Iterable[str]) -> dict[str, int]:
        """The ids of these keys known without a query."""
        database = str(session.get_bind().engine.url)
        with self._lock:
            return {k: self._ids[(database, k)] for k in keys if (database, k) in self._ids}

    def resolve(
        self, session: Session, keyed: dict[str, dict[str, str]], now: datetime
    ) -> dict[str, int]:
        database = str(session.get_bind().engine.url)
        found = self.cached(session, keyed)
        # Sorted: two processes creating the same new segments must insert (and so lock) their
        # keys in the same order, or each can wait for a key the other inserted first.
        missing = sorted(k for k in keyed if k not in found)
        if missing:
            table = models.Segment.__table__
            rows = [
                {
                    "key": k,
                    "dimensions": keyed[k],
                    "event_count": 0,
                    "cheap_count": 0,
                    "sampled_count": 0,
                    "first_seen_at": now,
                }
                for k in missing
            ]
            stmt = insert_ignoring_conflicts(session, table, ["key"]).returning(table.c.key)
            inserted = set(session.execute(stmt, rows).scalars())
            created = session.execute(
                select(models.Segment.key, models.Segment.id).where(models.Segment.key.in_(missing))
            ).all()
            found.update({key: seg_id for key, seg_id in created})
            # Only ids another transaction committed are cached: the segments this one inserted
            # do not exist for anyone else until it commits (and never if it rolls back), and a
            # concurrent batch that took their ids from here would insert events that point at
            # nothing. The next batch finds them with one query.
            with self._lock:
                self._ids.update(
                    {(database, key): found[key] for key in missing if key not in inserted}
                )
        return found

    def forget(self) -> None:
        with self._lock:
            self._ids.clear()


_segment_cache = _SegmentIds()


def _event_row(
    event: TrafficEvent,
    segment_id: int,
    source: str,
    cheap: bool,
    now: datetime,
    checks: dict[str, Any] | None = None,
    hashes: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One traffic_events row. ``hashes`` (one batch's, empty at first) keeps each distinct
    prompt's hash, so that a batch repeating a prompt (a retry, a shared template) hashes it
    once; it lives for one request, like the batch's other memos."""
    prompt = event.prompt_text()
    if hashes is None:
        hashed = prompt_hash(prompt)
    elif prompt in hashes:
        hashed = hashes[prompt]
    else:
        hashed = hashes[prompt] = prompt_hash(prompt)
    return {
        "event_id": event.event_id,
        "segment_id": segment_id,
        "source_format": source,
        "occurred_at": event.timestamp,
        "received_at": now,
        "route_tier": event.route.tier,
        "route_model": event.route.model,
        "route_score": event.route.score,
        "route_reason": event.route.reason,
        "is_cheap": cheap,
        "request": event.request.model_dump(mode="json"),
        "prompt_hash": hashed,
        "answer": event.answer_text(),
        "answer_tool_calls": event.answer_tool_calls(),
        "finish_reason": event.answer_finish_reason(),
        "latency_ms": event.latency_ms,
        "ttft_ms": event.ttft_ms,
        "prompt_tokens": event.usage.prompt_tokens,
        "completion_tokens": event.usage.completion_tokens,
        "cost_usd": event.cost_usd,
        "status": event.status,
        "error": event.error,
        "refused": event.refused,
        "escalated": event.escalated,
        "attributes": event.attributes.model_dump(mode="json"),
        "answer_checks": checks,
    }


@dataclass
class IngestRequest:
    """One accepted request's events, validated. ``originals`` holds the unredacted events
    whose text redaction changed, by event id: those that get sampled are kept for the
    flagship and judge (shadowgap/privacy/originals.py). ``redacted`` says
    :func:`prepare_request` made it; :func:`store_requests` redacts any other request itself,
    so no route can store unredacted text by building its request another way."""

    events: list[TrafficEvent]
    source: str
    originals: dict[str, TrafficEvent] = field(default_factory=dict)
    redacted: bool = False
    # Event id -> the answer checks of a cheap-routed event (shadowgap/ingest/answer_checks.py),
    # taken before redaction and redacted themselves.
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)


def prepare_request(events: list[TrafficEvent], source: str, settings: Settings) -> IngestRequest:
    """The pipeline's CPU-bound step before storing: redaction (nothing unredacted is stored,
    logged or sent). Routes call it off the event loop for large bodies; store_requests calls
    it for a request that did not."""
    redactor = for_settings(settings).for_batch()
    checks = answer_checks(events, settings, redactor)
    clean, originals = redact_batch(
        events, redactor, keep_originals=not settings.redact_before_flagship
    )
    return IngestRequest(clean, source, originals, redacted=True, checks=checks)


def answer_checks(
    events: list[TrafficEvent], settings: Settings, redactor: Redactor
) -> dict[str, dict[str, Any]]:
    """The answer checks of the cheap-routed events, on the text as sent (a redacted number
    inside tool arguments would read as broken JSON); the names and paths they keep are
    redacted like any stored text."""
    out: dict[str, dict[str, Any]] = {}
    for event in events:
        if not is_cheap(event, settings):
            continue
        found = check_answer(event)
        if found is not None:
            out[event.event_id] = redactor.value(found) if redactor.enabled else found
    return out


def store_requests(
    session: Session, requests: list[IngestRequest], settings: Settings, now: datetime
) -> tuple[list[StoredBatch], StoredBatch]:
    """Store several requests' events in the caller's transaction (group commit: concurrent
    requests share one transaction and its round trips). Returns each request's counts and
    the group's totals with the decisions to enqueue after commit. An event id seen twice
    counts as new for the first request that carried it."""
    requests = [
        r if r.redacted else prepare_request(r.events, r.source, settings) for r in requests
    ]
    owner: dict[str, int] = {}
    unique: dict[str, TrafficEvent] = {}
    sources: dict[str, str] = {}
    checks = {k: v for r in requests for k, v in r.checks.items()}
    for index, request in enumerate(requests):
        for event in request.events:
            if event.event_id not in unique:
                unique[event.event_id] = event
                owner[event.event_id] = index
                sources[event.event_id] = request.source
    # Each event's day partition exists before this transaction takes any lock (no-op on SQLite).
    partitions.ensure_event_times(session.get_bind().engine, (e.timestamp for e in unique.values()))
    keys_and_dims = {
        event_id: segment_of(event, settings.segment_dimensions)
        for event_id, event in unique.items()
    }
    # The sampling allocation's input: each segment's cheap count before this batch (read,
    # not locked: a concurrent batch may be counted a moment late, which only nudges the
    # allocation; every decision keeps the probability it was drawn with). Read for the
    # segments whose ids are known already in the statement that marks the transaction.
    known = _segment_cache.cached(session, {key for key, _ in keys_and_dims.values()})
    purged, cheap_before = _open_ingest(session, list(unique), set(known.values()))
    # Purged ids stay purged: a redelivery counts as a duplicate (shadowgap/privacy/purge.py).
    for event_id in purged:
        del unique[event_id]
    results = [StoredBatch(accepted=len(r.events), new=0, duplicates=0) for r in requests]
    group = StoredBatch(accepted=sum(r.accepted for r in results), new=0, duplicates=0)
    if not unique:
        for result in results:
            result.duplicates = result.accepted
        return results, group

    keyed = {key: dims for event_id, (key, dims) in keys_and_dims.items() if event_id in unique}
    segment_ids = _segment_cache.resolve(session, keyed, now)
    segment_of_event = {event_id: segment_ids[keys_and_dims[event_id][0]] for event_id in unique}
    unread = set(segment_of_event.values()) - set(cheap_before)
    if unread:  # segments new to this process: one more read
        cheap_before.update(segment_counts.cheap_counts(session, unread))

    cheap_flags = {e.event_id: is_cheap(e, settings) for e in unique.values()}
    hashes: dict[str, str] = {}
    rows = [
        _event_row(
            e,
            segment_of_event[e.event_id],
            sources[e.event_id],
            cheap_flags[e.event_id],
            now,
            checks.get(e.event_id),
            hashes,
        )
        for e in unique.values()
    ]
    inserted = {event_id: pk for pk, event_id in _insert_events(session, rows)}
    # --- slice features hook (service/slices): one side-table row per new event. ---
    features = store_slice_features(session, unique, inserted, settings)
    for event_id in inserted:
        results[owner[event_id]].new += 1
    shadowable = {
        event_id: cheap_flags[event_id]
        and sampling.worth_shadowing(unique[event_id].status, unique[event_id].answer_text())
        for event_id in inserted
    }
    # The allocation's totals include this batch (passed as pending: its counts and samples
    # are written in one statement after sampling).
    per_segment = _tally({k: unique[k] for k in inserted}, segment_of_event, cheap_flags, now)
    decisions = _sample(
        session,
        inserted,
        shadowable,
        segment_of_event,
        cheap_before,
        settings,
        now,
        features,
        per_segment,
    )
    for segment_id, n in decisions.sampled.items():
        per_segment[segment_id].sampled += n
    segment_counts.add(session, per_segment)
    group.decision_ids, group.budget_exhausted = decisions.ids, decisions.budget_exhausted
    pk_owner = {inserted[event_id]: owner[event_id] for event_id in inserted}
    _keep_originals(session, requests, inserted, decisions.event_pks, now)
    for event_pk in decisions.event_pks:
        results[pk_owner[event_pk]].sampled += 1
    for result in results:
        result.duplicates = result.accepted - result.new
        result.budget_exhausted = decisions.budget_exhausted
    group.new = len(inserted)
    group.duplicates = group.accepted - group.new
    group.segment_ids = set(per_segment)
    return results, group


# PostgreSQL: the transaction's mark (before any id is drawn), the purged-id check and the
# cheap counts of the known segments, in one statement: one round trip instead of three.
_PG_OPEN = text(
    f"SELECT {event_horizon.MARK_SQL}, "
    "ARRAY(SELECT event_id FROM purged_events WHERE event_id = ANY(:event_ids)), "
    f"{segment_counts.PG_CHEAP_COUNTS_SQL}"
)


def _open_ingest(
    session: Session, event_ids: list[str], segment_ids: set[int]
) -> tuple[set[str], dict[int, int]]:
    """Mark the transaction as ingest (shadowgap/db/event_horizon.py) and read which of these
    events were purged and these segments' cheap counts."""
    if session.get_bind().dialect.name != "postgresql":
        event_horizon.mark_ingest(session)
        cheap = segment_counts.cheap_counts(session, segment_ids) if segment_ids else {}
        return purged_ids(session, event_ids), cheap
    _, purged, cheap = session.execute(
        _PG_OPEN,
        {
            "ingest_lock": event_horizon.INGEST_LOCK,
            "event_ids": event_ids,
            "segment_ids": sorted(segment_ids),
        },
    ).one()
    return set(purged), segment_counts.parse_cheap_counts(cheap)


def _keep_originals(
    session: Session,
    requests: list[IngestRequest],
    inserted: dict[str, int],
    sampled_pks: list[int],
    now: datetime,
) -> None:
    """The sampled events' unredacted text, until their verdicts are stored."""
    originals = {k: v for r in requests for k, v in r.originals.items()}
    if not originals:
        return
    sampled = set(sampled_pks)
    for event_id, pk in inserted.items():
        if pk in sampled and event_id in originals:
            pending_originals.keep_event(session, pk, originals[event_id], now)


# PostgreSQL: the whole batch goes as one JSON document, expanded by json_to_recordset. The
# statement text is the same for every batch size, so it is parsed and planned once (a
# multi-row VALUES list is re-parsed for every batch, which dominated batched ingest), and
# encoding is orjson's C code instead of per-value parameter adaptation.
_EVENT_COLUMNS = {
    "event_id": "text",
    "segment_id": "int4",
    "source_format": "text",
    "occurred_at": "timestamptz",
    "received_at": "timestamptz",
    "route_tier": "text",
    "route_model": "text",
    "route_score": "float8",
    "route_reason": "text",
    "is_cheap": "bool",
    "request": "jsonb",
    "prompt_hash": "text",
    "answer": "text",
    "answer_tool_calls": "jsonb",
    "finish_reason": "text",
    "latency_ms": "float8",
    "ttft_ms": "float8",
    "prompt_tokens": "int4",
    "completion_tokens": "int4",
    "cost_usd": "float8",
    "status": "text",
    "error": "text",
    "refused": "bool",
    "escalated": "bool",
    "attributes": "jsonb",
    "answer_checks": "jsonb",
}
_COLUMN_LIST = ", ".join(_EVENT_COLUMNS)
# The ids come from the table's sequence (the column default); see the module docstring.
# The redelivery check stays a plain NOT EXISTS (an anti-join). Forcing a correlated probe per
# row ("OFFSET 0" in the subquery) cut PostgreSQL's CPU in-process on an unanalysed partition,
# but over HTTP, after single-event traffic had prepared the statement, batched ingest fell
# from 3,861 to 538 events/s (benchmarks/ingest.py, docs/performance.md): the prepared
# generic plan (the likely cause) probes the partitions row by row.
_PG_INSERT_EVENTS = text(
    f"INSERT INTO traffic_events ({_COLUMN_LIST}) "
    f"SELECT {_COLUMN_LIST} "
    "FROM ROWS FROM (json_to_recordset(CAST(:rows AS json)) AS ("
    + ", ".join(f"{name} {sql_type}" for name, sql_type in _EVENT_COLUMNS.items())
    + f")) WITH ORDINALITY AS r({_COLUMN_LIST}, ord) "
    "WHERE NOT EXISTS (SELECT 1 FROM traffic_events stored WHERE stored.event_id = r.event_id "
    "AND stored.occurred_at = r.occurred_at) "
    "ORDER BY r.ord "
    "ON CONFLICT (event_id, occurred_at) DO NOTHING RETURNING id, event_id"
)


def _insert_events(session: Session, rows: list[dict[str, Any]]) -> list[tuple[int, str]]:
    """Insert event rows, skipping ids already stored; returns (id, event_id) of new rows."""
    if session.get_bind().dialect.name == "postgresql":
        document = orjson.dumps(rows).decode()
        return [
            (pk, event_id)
            for pk, event_id in session.execute(_PG_INSERT_EVENTS, {"rows": document})
        ]
    table = models.TrafficEvent.__table__
    stmt = insert_ignoring_conflicts(session, table, ["event_id", "occurred_at"]).returning(
        table.c.id, table.c.event_id
    )
    return [(pk, event_id) for pk, event_id in session.execute(stmt, rows)]


def store_events(
    session: Session, events: list[TrafficEvent], source: str, settings: Settings, now: datetime
) -> StoredBatch:
    """Store one request's events (see store_requests)."""
    results, group = store_requests(session, [IngestRequest(events, source)], settings, now)
    results[0].decision_ids = group.decision_ids
    results[0].segment_ids = group.segment_ids
    return results[0]


def _tally(
    new_events: dict[str, TrafficEvent],
    segment_of_event: dict[str, int],
    cheap_flags: dict[str, bool],
    now: datetime,
) -> dict[int, segment_counts.Counts]:
    """What this transaction's new events add to each segment. Redeliveries are
    not in ``new_events``: a segment that got only redeliveries has had no new traffic, so
    its arrival time and event-time range stay as they were."""
    per_segment: dict[int, segment_counts.Counts] = {}
    for event_id, event in new_events.items():
        segment_id = segment_of_event[event_id]
        counts = per_segment.get(segment_id)
        if counts is None:
            counts = per_segment[segment_id] = segment_counts.Counts(
                first_occurred_at=event.timestamp,
                last_occurred_at=event.timestamp,
                # Arrival time, not event time: replays of history must not look stale.
                last_seen_at=now,
            )
        counts.events += 1
        counts.cheap += int(cheap_flags[event_id])
        counts.first_occurred_at = min(counts.first_occurred_at or event.timestamp, event.timestamp)
        counts.last_occurred_at = max(counts.last_occurred_at or event.timestamp, event.timestamp)
    return per_segment


@dataclass
class _Decisions:
    ids: list[int] = field(default_factory=list)
    event_pks: list[int] = field(default_factory=list)
    budget_exhausted: bool = False
    sampled: dict[int, int] = field(default_factory=dict)  # segment id -> decisions


def _sample(
    session: Session,
    inserted: dict[str, int],
    shadowable: dict[str, bool],
    segment_of_event: dict[str, int],
    cheap_before: dict[int, int],
    settings: Settings,
    now: datetime,
    features: dict[str, dict[str, Any]],
    pending: dict[int, segment_counts.Counts],
) -> _Decisions:
    # Cheap-routed events that can get a verdict (see sampling.worth_shadowing).
    candidates = [event_id for event_id in inserted if shadowable[event_id]]
    if not candidates:
        return _Decisions()
    if settings.daily_budget_usd is not None and _budget_cache.get(
        lambda: budget_exhausted(session, settings, now)
    ):
        return _Decisions(budget_exhausted=True)
    totals = _totals_cache.get(session, len(inserted), pending)
    seen_cheap = dict(cheap_before)
    rows: list[dict[str, Any]] = []
    sampled_per_segment: dict[int, int] = defaultdict(int)
    # Slices under watch (issue 23): matching requests get an independent exploration draw,
    # and meanwhile the base design keeps to what the exploration share leaves.
    watched = boost_cache.get(session) if settings.slice_exploration_share > 0 else []
    for event_id in candidates:
        segment_id = segment_of_event[event_id]
        probability = sampling.inclusion_probability(
            seen_cheap[segment_id], totals, settings, segment_id, exploring=bool(watched)
        )
        seen_cheap[segment_id] += 1
        explore = explore_probability(features.get(event_id, {}), watched) if watched else 0.0
        decision = sampling.decide_explored(event_id, probability, explore, settings)
        if not decision.sampled:
            continue
        sampled_per_segment[segment_id] += 1
        rows.append(
            {
                "event_pk": inserted[event_id],
                "segment_id": segment_id,
                "inclusion_probability": decision.probability,
                "base_draw": decision.base,
                "base_probability": probability if explore > 0 else None,
                "hash_value": decision.hash_value,
                "replicates": decision.replicates,
                "decided_at": now,
                "enqueued_at": None,
            }
        )
    if not rows:
        return _Decisions()
    stmt = insert(models.SamplingDecision).returning(models.SamplingDecision.id)
    ids: list[int] = list(session.execute(stmt, rows).scalars())
    return _Decisions(
        ids=ids,
        event_pks=[int(row["event_pk"]) for row in rows],
        sampled=dict(sampled_per_segment),
    )
