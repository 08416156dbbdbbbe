"""Which judge decides a pair, from what the answers and the request are.

- ``tool-calls``: either answer makes a tool call. (A request with ``tools`` whose two answers
  are both prose goes to the text judge: that is the usual last turn of an agent loop, a reply
  written from tool results, and there are no calls to compare.)
- ``structured-output``: the request's ``response_format`` asks for JSON (``json_schema`` or
  ``json_object``) and neither answer is a tool call.
- ``text``: everything else, judged by the segment's configured judge (answer match,
  pairwise, reference) as before.

Every verdict names the judge that decided it (``Verdict.judge``) and, for the structured
judges, the selection in ``raw["selected_by"]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from shadowgap.judging.base import Judge
from shadowgap.judging.structured import StructuredOutputJudge, parse_json_answer, response_format
from shadowgap.judging.tool_calls import ToolCallJudge, request_tools
from shadowgap.schemas import Answer, Verdict

AnswerKind = Literal["tool-calls", "structured-output", "text"]

_TOOL_JUDGE = ToolCallJudge()
_STRUCTURED_JUDGE = StructuredOutputJudge()


def answer_kind(
    request: Mapping[str, Any] | None,
    cheap: Answer | str | dict[str, Any] | None,
    flagship: Answer | str | dict[str, Any] | None,
) -> AnswerKind:
    """The judge kind for a pair (see the module docstring)."""
    if Answer.coerce(cheap).tool_calls or Answer.coerce(flagship).tool_calls:
        return "tool-calls"
    if response_format(request) is not None:
        return "structured-output"
    return "text"


def judge_pair(
    request: Mapping[str, Any] | None,
    cheap: Answer | str | dict[str, Any] | None,
    flagship: Answer | str | dict[str, Any] | None,
    text_judge: Judge,
    *,
    question: str = "",
    require_json_flagship: bool = True,
) -> Verdict:
    """Judge one pair with the judge its kind calls for.

    ``require_json_flagship``: a JSON request whose flagship answer is not JSON goes to the
    text judge. Until the flagship re-run forwards ``response_format`` (issue 21, item 2) the
    flagship is not asked for JSON, and its prose must not make every cheap answer a winner.
    """
    kind = answer_kind(request, cheap, flagship)
    cheap_answer, flagship_answer = Answer.coerce(cheap), Answer.coerce(flagship)
    if kind == "tool-calls":
        verdict = _TOOL_JUDGE.judge_answers(request, cheap_answer, flagship_answer)
    elif kind == "structured-output" and (
        not require_json_flagship or parse_json_answer(flagship_answer.text)[0]
    ):
        verdict = _STRUCTURED_JUDGE.judge_answers(request, cheap_answer, flagship_answer)
    else:
        return text_judge.judge(question, cheap_answer.text, flagship_answer.text)
    verdict.raw["selected_by"] = {
        "kind": kind,
        "tools": bool(request_tools(request)),
        "response_format": (response_format(request) or {}).get("type"),
    }
    return verdict
