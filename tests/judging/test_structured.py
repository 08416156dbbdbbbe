"""The structured-output judge, and which judge a pair goes to."""

from __future__ import annotations

import json
from typing import Any

from shadowgap.judging.answer_match import AnswerMatchJudge
from shadowgap.judging.score import ScoringPlan, judge_plan
from shadowgap.judging.select import answer_kind, judge_pair
from shadowgap.judging.structured import StructuredOutputJudge

SCHEMA = {
    "type": "object",
    "required": ["name", "age"],
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "country": {"type": "string", "default": "US"},
        "summary": {"type": "string"},
    },
    "additionalProperties": False,
}
REQUEST = {
    "messages": [{"role": "user", "content": "Extract the person."}],
    "params": {
        "response_format": {"type": "json_schema", "json_schema": {"name": "p", "schema": SCHEMA}}
    },
}
FLAGSHIP = json.dumps({"name": "Ada Lovelace", "age": 36, "tags": ["math", "poetry"]})


def judge(cheap: str, flagship: str = FLAGSHIP, request: Any = REQUEST) -> Any:
    return StructuredOutputJudge().judge_answers(request, cheap, flagship)


def test_the_same_object_written_differently_is_a_tie() -> None:
    cheap = (
        '```json\n{"tags": ["math", "poetry"],\n "age": 36.0, '
        '"name": "Ada Lovelace", "country": "US"}\n```'
    )
    verdict = judge(cheap)
    assert (verdict.winner, verdict.raw["difference"], verdict.judge) == (
        "tie",
        "none",
        "structured-output",
    )
    assert verdict.raw["agreement"] == 1.0


def test_invalid_json_and_schema_violations_lose() -> None:
    verdict = judge('{"name": "Ada Lovelace", "age": 36')
    assert (verdict.winner, verdict.raw["difference"]) == ("flagship", "invalid_json")
    verdict = judge(json.dumps({"name": "Ada Lovelace", "age": "36", "extra": 1}))
    assert (verdict.winner, verdict.raw["difference"]) == ("flagship", "schema_violation")
    paths = " ".join(verdict.raw["cheap"]["violations"])
    assert "age" in paths and "extra" in paths
    # The flagship's own break makes the cheap answer win; the worse break loses.
    verdict = judge(FLAGSHIP, flagship=json.dumps({"name": "Ada"}))
    assert (verdict.winner, verdict.raw["difference"]) == ("cheap", "schema_violation")
    verdict = judge("not json", flagship=json.dumps({"name": "Ada"}))
    assert (verdict.winner, verdict.raw["difference"]) == ("flagship", "invalid_json")


def test_differing_fields_are_named_by_path() -> None:
    cheap = json.dumps({"name": "Ada Lovelace", "age": 37, "tags": ["math", "music"]})
    verdict = judge(cheap)
    assert (verdict.winner, verdict.raw["difference"]) == ("flagship", "field_differs")
    assert verdict.raw["differing_fields"] == ["$.age", "$.tags[1]"]
    assert verdict.raw["agreement"] == 0.6  # 3 of 5 leaves (country: the default on both)


def test_compatible_values_and_free_text_do_not_count() -> None:
    long_a = "An English mathematician and writer, chiefly known for her work on Charles " * 2
    long_b = "A mathematician who wrote the first algorithm intended for a machine, " * 2
    flagship = json.dumps({"name": "Ada Lovelace", "age": 36, "summary": long_b})
    cheap = json.dumps({"name": "Lovelace", "age": 36, "summary": long_a})
    verdict = judge(cheap, flagship)
    assert (verdict.winner, verdict.raw["difference"]) == ("tie", "values_differ")
    assert verdict.raw["compatible_fields"] == ["$.name"]
    assert verdict.raw["free_text_fields"] == ["$.summary"]


def test_json_object_mode_needs_an_object() -> None:
    request = {"response_format": {"type": "json_object"}}
    verdict = judge("[1, 2]", flagship='{"a": 1}', request=request)
    assert (verdict.winner, verdict.raw["difference"]) == ("flagship", "schema_violation")
    assert judge('{"a": 1.0}', flagship='{"a": 1}', request=request).winner == "tie"


def test_answer_kind_picks_the_judge() -> None:
    call = {"tool_calls": [{"type": "function", "function": {"name": "f", "arguments": "{}"}}]}
    tools = {"messages": [], "tools": [{"type": "function", "function": {"name": "f"}}]}
    assert answer_kind(tools, call, "prose") == "tool-calls"
    assert answer_kind(tools, "prose", "more prose") == "text"  # the last turn of an agent loop
    assert answer_kind(REQUEST, "{}", "{}") == "structured-output"
    assert answer_kind({"messages": []}, "a", "b") == "text"


def test_judge_pair_records_the_judge_and_falls_back_to_text() -> None:
    text_judge = AnswerMatchJudge()
    verdict = judge_pair(REQUEST, FLAGSHIP, FLAGSHIP, text_judge)
    assert verdict.judge == "structured-output"
    assert verdict.raw["selected_by"] == {
        "kind": "structured-output",
        "tools": False,
        "response_format": "json_schema",
    }
    # A flagship not asked for JSON (the re-run does not forward response_format yet).
    verdict = judge_pair(REQUEST, FLAGSHIP, "The answer is 36.", text_judge, question="Age?")
    assert verdict.judge == "answer-match"
    assert judge_pair({}, "Paris", "Paris", text_judge).judge == "answer-match"


def test_judge_plan_sends_json_requests_to_the_structured_judge() -> None:
    plan = ScoringPlan(
        event_pk=1,
        segment_id=1,
        inclusion_probability=1.0,
        question="Extract the person.",
        pairs=[
            (
                "gap",
                json.dumps({"age": 36, "name": "Ada Lovelace", "tags": ["math", "poetry"]}),
                FLAGSHIP,
            )
        ],
        kinds=["gap"],
        request=REQUEST,
    )
    ((kind, verdict),) = judge_plan(plan, AnswerMatchJudge())
    assert (kind, verdict.judge, verdict.winner) == ("gap", "structured-output", "tie")
