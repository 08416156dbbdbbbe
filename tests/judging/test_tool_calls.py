"""The tool-call judge on hand-made pairs: every difference it names, and what never counts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shadowgap.judging.json_schema import to_json_schema, tool_schemas, validate
from shadowgap.judging.tool_calls import ToolCallJudge
from shadowgap.judging.values import compatible, drops_stated_detail
from shadowgap.schemas import Answer, Verdict

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "required": ["city"],
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "default": "celsius"},
                "days": {"type": "number"},
                "hourly": {"type": "boolean"},
            },
            "additionalProperties": False,
        },
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
REQUEST = {
    "messages": [{"role": "user", "content": "Weather in San Francisco and Boston, 3 days?"}],
    "tools": [WEATHER, TIME],
}


def message(*calls: tuple[str, Any]) -> dict[str, Any]:
    """An OpenAI assistant message with these (name, arguments) calls."""
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": f"call_{i}",
                "type": "function",
                "function": {
                    "name": name,
                    "arguments": args if isinstance(args, str) else json.dumps(args),
                },
            }
            for i, (name, args) in enumerate(calls)
        ],
    }


FLAGSHIP = message(("get_weather", {"city": "San Francisco", "days": 3}))


def judge(cheap: Any, flagship: Any = FLAGSHIP, request: Any = REQUEST, **kw: Any) -> Verdict:
    return ToolCallJudge(**kw).judge_answers(request, cheap, flagship)


@pytest.mark.parametrize(
    ("cheap", "difference"),
    [
        (message(("get_time", {"city": "San Francisco"})), "wrong_function"),
        (message(("get_forecast", {"city": "San Francisco"})), "wrong_function"),
        (message(("get_weather", {"days": 3})), "missing_argument"),
        (message(("get_weather", {"city": "Boston", "days": 3})), "wrong_value"),
        (message(("get_weather", {"city": "San Francisco", "days": "3"})), "wrong_type"),
        (message(("get_weather", '{"city": "San Francisco", "days": 3')), "invalid_arguments_json"),
        (message(("get_weather", "[1, 2]")), "invalid_arguments_json"),
        (
            message(("get_weather", {"city": "San Francisco", "days": 3, "x": 1})),
            "unexpected_argument",
        ),
        (
            message(("get_weather", {"city": "San Francisco", "days": 3, "unit": "kelvin"})),
            "wrong_value",
        ),
        ({"role": "assistant", "content": "It will be sunny."}, "prose_instead_of_call"),
        (
            message(
                ("get_weather", {"city": "San Francisco", "days": 3}),
                ("get_time", {"city": "San Francisco"}),
            ),
            "extra_call",
        ),
    ],
)
def test_each_difference_is_named_and_the_flagship_wins(cheap: Any, difference: str) -> None:
    verdict = judge(cheap)
    assert (verdict.winner, verdict.raw["difference"]) == ("flagship", difference)
    assert verdict.gap_score == 1.0 and verdict.judge == "tool-calls"
    assert difference in verdict.rationale


def test_missing_call_and_call_where_none_fits() -> None:
    both = message(
        ("get_weather", {"city": "San Francisco", "days": 3}),
        ("get_weather", {"city": "Boston", "days": 3}),
    )
    verdict = judge(message(("get_weather", {"city": "Boston", "days": 3})), flagship=both)
    assert (verdict.winner, verdict.raw["difference"]) == ("flagship", "missing_call")
    prose = {"role": "assistant", "content": "No function fits this request."}
    verdict = judge(FLAGSHIP, flagship=prose)
    assert (verdict.winner, verdict.raw["difference"]) == ("flagship", "call_where_none_fits")


@pytest.mark.parametrize(
    "arguments",
    [
        '{"days": 3, "city": "San Francisco"}',  # key order
        '{"city": "San Francisco", "days": 3.0}',  # 1 vs 1.0
        '\n  {\n "city" :  "San Francisco" ,\n "days":3 }  ',  # whitespace in the JSON text
        '{"city": "San Francisco", "days": 3, "unit": "celsius"}',  # the default, sent
    ],
)
def test_form_differences_are_equivalent(arguments: str) -> None:
    verdict = judge(message(("get_weather", arguments)))
    assert (verdict.winner, verdict.raw["difference"], verdict.gap_score) == ("tie", "none", 0.0)


def test_an_omitted_argument_equals_its_default() -> None:
    flagship = message(("get_weather", {"city": "Boston", "unit": "celsius"}))
    assert judge(message(("get_weather", {"city": "Boston"})), flagship).raw["difference"] == "none"
    # ... but not another value: leaving it out means the default, which differs.
    flagship = message(("get_weather", {"city": "Boston", "unit": "fahrenheit"}))
    verdict = judge(message(("get_weather", {"city": "Boston"})), flagship)
    assert (verdict.winner, verdict.raw["difference"]) == ("flagship", "wrong_value")


def test_a_default_written_outside_the_schema_reads_as_the_default() -> None:
    tools = [
        {
            "name": "lookup",
            "parameters": {
                "type": "dict",
                "properties": {
                    "q": {"type": "string"},
                    "detailed": {"type": "boolean", "default": "false"},
                    "unit": {"type": "string", "enum": ["s", "ms"], "default": "N/A"},
                },
            },
        }
    ]
    request = {"messages": [], "tools": tools}
    flagship = message(("lookup", {"q": "x", "detailed": False}))
    cheap = message(("lookup", {"q": "x", "unit": "N/A"}))
    assert judge(cheap, flagship, request).raw["difference"] == "none"


def test_parallel_calls_match_as_a_multiset() -> None:
    flagship = message(
        ("get_weather", {"city": "San Francisco", "days": 3}),
        ("get_weather", {"city": "Boston", "days": 3}),
    )
    cheap = message(
        ("get_weather", '{"days": 3.0, "city": "Boston"}'),
        ("get_weather", {"city": "San Francisco", "days": 3}),
    )
    verdict = judge(cheap, flagship)
    assert (verdict.winner, verdict.raw["difference"]) == ("tie", "none")
    # A wrong value in one of them is pinned to the call it belongs to.
    cheap = message(
        ("get_weather", {"city": "Boston", "days": 5}),
        ("get_weather", {"city": "San Francisco", "days": 3}),
    )
    verdict = judge(cheap, flagship)
    assert verdict.raw["difference"] == "wrong_value"
    (finding,) = verdict.raw["differences"]
    assert finding["path"] == "days" and finding["call"] == 1


def test_san_francisco_ca_is_a_tie_marked_values_differ() -> None:
    flagship = message(("get_weather", {"city": "San Francisco, CA", "days": 3}))
    verdict = judge(message(("get_weather", {"city": "San Francisco", "days": 3})), flagship)
    assert (verdict.winner, verdict.raw["difference"]) == ("tie", "values_differ")
    # The same pair under the other policies.
    strict = judge(
        message(("get_weather", {"city": "San Francisco", "days": 3})), flagship, policy="strict"
    )
    assert strict.winner == "flagship"
    lenient = judge(message(("get_weather", {"city": "Boston", "days": 3})), policy="lenient")
    assert (lenient.winner, lenient.raw["difference"]) == ("tie", "values_differ")


def test_dropping_words_the_user_wrote_is_a_wrong_value() -> None:
    request = {
        "messages": [{"role": "user", "content": "Weather in Chennai, Tamil Nadu?"}],
        "tools": [WEATHER],
    }
    flagship = message(("get_weather", {"city": "Chennai, Tamil Nadu"}))
    verdict = judge(message(("get_weather", {"city": "Chennai"})), flagship, request)
    assert (verdict.winner, verdict.raw["difference"]) == ("flagship", "wrong_value")


def test_the_flagships_own_fault_makes_the_cheap_answer_win_and_shared_faults_cancel() -> None:
    broken = message(("get_weather", {"city": "San Francisco", "days": "3"}))
    verdict = judge(FLAGSHIP, flagship=broken)
    assert (verdict.winner, verdict.raw["difference"], verdict.gap_score) == (
        "cheap",
        "wrong_type",
        -1.0,
    )
    same_fault = message(("get_weather", {"days": "3", "city": "San Francisco"}))
    assert judge(same_fault, flagship=broken).winner == "tie"
    worse = message(("get_weather", {"days": "3"}))  # also misses a required argument
    assert judge(worse, flagship=broken).raw["difference"] == "missing_argument"


def test_without_tools_the_judge_still_compares_calls() -> None:
    verdict = judge(message(("get_weather", {"city": "Boston"})), request={"messages": []})
    assert (verdict.winner, verdict.raw["tools_known"]) == ("flagship", False)
    # The text interface reads answers stored as JSON messages.
    text = ToolCallJudge().judge("q", json.dumps(FLAGSHIP), json.dumps(FLAGSHIP))
    assert (text.winner, text.raw["difference"]) == ("tie", "none")


def test_answer_from_openai_message() -> None:
    answer = Answer.from_openai_message(
        {
            "content": [{"type": "text", "text": "Calling."}],
            "tool_calls": [
                {"id": "a", "type": "function", "function": {"name": "f", "arguments": '{"x":1}'}},
                {"id": "b", "type": "function", "function": {"name": "g", "arguments": {"y": 2}}},
            ],
            "function_call": {"name": "legacy", "arguments": "{}"},
        },
        finish_reason="tool_calls",
    )
    assert answer.text == "Calling." and answer.finish_reason == "tool_calls"
    assert [(c.id, c.name, c.arguments) for c in answer.tool_calls] == [
        ("a", "f", '{"x":1}'),
        ("b", "g", '{"y": 2}'),
        (None, "legacy", "{}"),
    ]
    refusal = Answer.from_openai_message({"content": None, "refusal": "I can't help."})
    assert refusal.text == "I can't help." and not refusal.has_tool_calls
    assert Answer.coerce("plain").text == "plain"


def test_bfcl_types_map_to_json_schema() -> None:
    bfcl = {
        "type": "dict",
        "required": ["a"],
        "properties": {
            "a": {"type": "float"},
            "b": {"type": "tuple", "items": {"type": "integer"}},
            "c": {"type": "any"},
            "d": {"type": "dict", "properties": {"e": {"type": "string", "default": None}}},
        },
    }
    mapped = to_json_schema(bfcl)
    assert mapped["type"] == "object"
    assert mapped["properties"]["a"]["type"] == "number"
    assert mapped["properties"]["b"] == {"type": "array", "items": {"type": "integer"}}
    assert "type" not in mapped["properties"]["c"]
    assert mapped["properties"]["d"]["properties"]["e"]["type"] == ["string", "null"]
    assert not validate({"a": 1, "b": [1, 2], "c": {"x": 1}, "d": {"e": None}}, mapped)
    kinds = [v.kind for v in validate({"b": ["x"], "d": []}, mapped)]
    assert kinds == ["required", "type", "type"]
    # The three tool shapes: OpenAI tools, legacy functions, BFCL's list.
    assert set(tool_schemas([WEATHER, TIME["function"]])) == {"get_weather", "get_time"}


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("San Francisco", "San Francisco, CA"),
        ("SF", "San Francisco"),
        ("L.A.", "Los Angeles"),
        ("NYC", "New York City"),
        ("Chimp", "chimpanzee"),
        ("2022-05-03", "May 3rd, 2022"),
        ("Acrylic", "acrylic"),
        (["b", "a"], ["a", "b"]),
        ("5", 5),
    ],
)
def test_values_that_may_name_the_same_thing(a: Any, b: Any) -> None:
    assert compatible(a, b) and compatible(b, a)


@pytest.mark.parametrize(
    ("a", "b"),
    [("Boston", "San Francisco"), (3, 4), (True, False), ("celsius", "fahrenheit"), ([1], [1, 2])],
)
def test_values_that_differ(a: Any, b: Any) -> None:
    assert not compatible(a, b)


def test_drops_stated_detail_only_for_words_the_user_wrote() -> None:
    assert drops_stated_detail("Chennai", "Chennai, Tamil Nadu", "weather in Chennai, Tamil Nadu")
    assert not drops_stated_detail("Seattle", "Seattle, WA", "weather in Seattle")
    assert not drops_stated_detail("SF", "San Francisco", "a trip to San Francisco")
