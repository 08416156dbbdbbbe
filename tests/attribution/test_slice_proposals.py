"""Proposals for confirmed discovered slices, on SQLite and PostgreSQL: route a slice a router
can see to the flagship, move the threshold for one defined by what its requests look like."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from shadowgap.cli.main import app
from shadowgap.db.engine import session_scope
from shadowgap.db.models import Segment, Slice, SliceFeatures, TrafficEvent, Verdict
from tests.attribution.test_proposals import NOISE, START, TRUE_LIMIT, _period
from tests.support.attribution_store import store_period
from tests.support.settings import auth

VISIBLE = "tag=lang=de & tenant=acme"
LOOKS = "template=abc"
CADENCE = "cadence=burst"


def _slice(key: str, conditions: list[list[str]], status: str = "confirmed") -> Slice:
    return Slice(
        key=key,
        conditions=conditions,
        status=status,
        window_start=START,
        window_end=START + timedelta(days=7),
        score=3.0,
        traffic_share=0.5,
        n=300,
        details={},
    )


def _seed() -> None:
    """One segment (tenant=acme) of two halves: German requests from template abc, whose
    cheap answers lose above score 0.3 (the curve of test_proposals), and the rest, as good
    cheap as flagship. Slices: the German ones (a router sees tenant and tag), the template
    and the cadence recorded at ingest (it cannot: the German ones' users burst), and two
    that get nothing: unconfirmed, matching no event."""
    rng = np.random.default_rng(11)
    step = timedelta(days=7) / 3000
    with session_scope() as session:
        segment = Segment(key="tenant=acme", dimensions={"tenant": "acme"})
        session.add(segment)
        session.flush()
        bad = _period(rng, 0.0)
        good = _period(rng, -0.6)
        for prefix, period, features in (
            (
                "de",
                bad,
                {"tenant": "acme", "tag": ["lang=de"], "template": "abc", "cadence": "burst"},
            ),
            ("en", good, {"tenant": "acme", "tag": ["lang=en"], "template": "xyz"}),
        ):
            ids = store_period(session, segment, period, START, step, prefix)
            occurred = dict(
                session.query(TrafficEvent.id, TrafficEvent.occurred_at).filter(
                    TrafficEvent.id.in_(ids)
                )
            )
            session.add_all(
                SliceFeatures(
                    event_pk=pk, occurred_at=occurred[pk], user_key=None, hour=0, features=features
                )
                for pk in ids
            )
            judged = [pk for pk, w in zip(ids, period.verdict_weight, strict=True) if w > 0]
            session.add_all(
                Verdict(
                    event_pk=pk,
                    segment_id=segment.id,
                    kind="noise",
                    judge="answer-match",
                    winner="flagship" if rng.random() < NOISE else "tie",
                    gap_score=0.0,
                    inclusion_probability=0.2,
                    raw={},
                    rationale="",
                )
                for pk in judged[::5]
            )
        session.add_all(
            [
                _slice(VISIBLE, [["tag", "lang=de"], ["tenant", "acme"]]),
                _slice(LOOKS, [["template", "abc"]]),
                _slice("template=xyz", [["template", "xyz"]], status="unconfirmed"),
                _slice(CADENCE, [["cadence", "burst"]]),
                _slice("template=none", [["template", "none-such"]]),
            ]
        )


def test_slice_proposals(any_db: str, client: TestClient) -> None:
    client.headers.update(auth("read"))
    _seed()
    body = client.get("/v1/proposals").json()
    by_slice: dict[str, dict[str, dict]] = {}
    for proposal in body["proposals"]:
        if proposal.get("slice"):
            assert "segment" not in proposal
            by_slice.setdefault(proposal["slice"], {})[proposal["kind"]] = proposal
    assert set(by_slice) == {VISIBLE, LOOKS, CADENCE}
    assert set(by_slice[VISIBLE]) == {"route_to_flagship", "threshold"}
    # A template is what requests look like, a cadence how often their user sends them: no
    # router can be told to match either.
    assert set(by_slice[LOOKS]) == {"threshold"}
    assert set(by_slice[CADENCE]) == {"threshold"}

    route = by_slice[VISIBLE]["route_to_flagship"]
    assert route["triggered_by"] == [f"confirmed slice {VISIBLE}"]
    assert route["formats"]["json_rule"] == {
        "match": {"tag:lang=": "de", "tenant": "acme"},
        "action": "route_to_flagship",
    }
    assert "shadowgap-flagship:tag:lang==de,tenant=acme" in route["formats"]["litellm_config"]
    # The slice's own evidence: its 3,000 events and their pairs, not the whole segment's.
    assert route["evidence"]["events"] == 3000
    assert route["current"]["excess_gap"]["low"] > 0.05
    assert route["predicted"]["cheap_share"] == 0.0

    threshold = by_slice[LOOKS]["threshold"]
    assert threshold["formats"]["json_rule"]["match"] == {"template": "abc"}
    assert 0.2 < threshold["threshold"] <= TRUE_LIMIT
    assert threshold["predicted"]["excess_gap"]["value"] < 0.05
    assert threshold["formats"]["routellm_model"].startswith("router-mf-")
    # The two slices hold the same events: the same threshold, under different ids.
    assert threshold["threshold"] == by_slice[VISIBLE]["threshold"]["threshold"]
    assert threshold["id"] != by_slice[VISIBLE]["threshold"]["id"]
    assert "definitions" not in threshold["formats"]["json_rule"]
    # The cadence slice matches the class recorded at ingest: the same events, and its rule
    # says how a router computes the class.
    by_cadence = by_slice[CADENCE]["threshold"]
    assert by_cadence["threshold"] == threshold["threshold"]
    rule = by_cadence["formats"]["json_rule"]
    assert rule["match"] == {"cadence": "burst"}
    assert set(rule["definitions"]) == {"cadence"}
    assert "requests per active hour" in rule["definitions"]["cadence"]
    assert "over the 7 days before" in rule["definitions"]["cadence"]

    html = client.get("/slices").text
    for proposal in body["proposals"]:
        # The slices page shows the slices' proposals, not the segments'.
        assert (f'id="proposal-{proposal["id"]}"' in html) == bool(proposal.get("slice"))
    assert (
        f'<pre class="patch" data-format="routellm">{threshold["formats"]["routellm_model"]}'
        in html
    )
    assert "Route this slice to the flagship" in html
    only = client.get("/v1/proposals", params={"slice": LOOKS}).json()["proposals"]
    assert [p["id"] for p in only] == [threshold["id"]]
    result = CliRunner().invoke(app, ["propose", "--slice", LOOKS])
    assert result.exit_code == 0, result.output
    assert f"{threshold['id']}  slice {LOOKS}: move the threshold to" in result.output
    as_json = CliRunner().invoke(app, ["propose", "--format", "json", "--slice", VISIBLE])
    assert {p["kind"] for p in json.loads(as_json.output)["proposals"]} == {
        "route_to_flagship",
        "threshold",
    }


@pytest.mark.parametrize(
    ("params", "field"),
    [({"slice": "template=nobody"}, "slice"), ({"slice": LOOKS, "segment": "x"}, "slice")],
)
def test_bad_slice_is_named(
    embedded: str, client: TestClient, params: dict[str, str], field: str
) -> None:
    client.headers.update(auth("read"))
    response = client.get("/v1/proposals", params=params)
    assert 400 <= response.status_code < 500
    assert response.json()["detail"]["field"] == field


def test_slice_evidence_stops_where_feature_values_are_emptied(
    embedded: str, configure: Callable[..., None], client: TestClient
) -> None:
    """Over 3.5 days (half the week) a slice has half its events; at 0 days none."""
    client.headers.update(auth("read"))
    _seed()
    configure(slice_feature_days=3.5)
    route = next(
        p
        for p in client.get("/v1/proposals", params={"slice": VISIBLE}).json()["proposals"]
        if p["kind"] == "route_to_flagship"
    )
    assert route["evidence"]["events"] == 1500
    configure(slice_feature_days=0)
    assert client.get("/v1/proposals", params={"slice": VISIBLE}).json()["proposals"] == []
