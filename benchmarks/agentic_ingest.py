"""Ingest's CPU cost per agentic event next to a prose event of the same size.

An agentic event (a system turn, a user question, an assistant turn calling a tool, the tool's
result, a follow-up question, a tool definition in the params, an answer that is a tool call)
and a prose event of the same JSON size (the same texts in one user message and a text answer)
go through the steps ingest runs before the database write, in-process: parsing and validating
a batch body (shadowgap.ingest.native.parse_native), the answer checks of a cheap answer
(shadowgap.ingest.answer_checks: the tool call against the tool's schema, finish reason),
redaction with every kind on (the default), and building the stored row's values (the request
JSON, the answer's text, tool calls and finish reason, the prompt hash). The row written
afterwards holds the same bytes either way.

Target (issue 21): an agentic event costs at most 1.5x a prose event of the same size.
The HTTP-level figures (events/s into PostgreSQL) are benchmarks/ingest.py's, which needs wrk.

Usage: python benchmarks/agentic_ingest.py [--events 500] [--rounds 7]   (exit 1 on a miss)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shadowgap.ingest.answer_checks import check_answer  # noqa: E402
from shadowgap.ingest.native import parse_native  # noqa: E402
from shadowgap.ingest.store import prompt_hash  # noqa: E402
from shadowgap.privacy.events import redact_batch  # noqa: E402
from shadowgap.privacy.redaction import KINDS, redactor  # noqa: E402
from tests.support.factories import gsm8k_rows  # noqa: E402

TARGET = 1.5
TOOL = {
    "type": "function",
    "function": {
        "name": "calculator",
        "description": "Evaluate an arithmetic expression exactly.",
        "parameters": {
            "type": "object",
            "properties": {"expression": {"type": "string"}},
            "required": ["expression"],
        },
    },
}


def _call(call_id: str, expression: str) -> dict[str, Any]:
    arguments = json.dumps({"expression": expression})
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": "calculator", "arguments": arguments},
    }


def agentic_event(i: int) -> dict[str, Any]:
    question = gsm8k_rows()[i % len(gsm8k_rows())]["prompt"]
    return {
        "event_id": f"agentic-{i}",
        "timestamp": "2026-11-02T12:00:00Z",
        "request": {
            "messages": [
                {"role": "system", "content": "Solve it. Use the calculator for arithmetic."},
                {"role": "user", "content": question},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [_call("call_1", "16 - 3 - 4")],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "9"},
                {"role": "user", "content": "And at $2 each?"},
            ],
            "params": {"tools": [TOOL], "tool_choice": "auto", "temperature": 0},
        },
        "route": {"tier": "cheap", "model": "gpt-4o-mini"},
        "answer": {"role": "assistant", "content": None, "tool_calls": [_call("call_2", "9 * 2")]},
        "finish_reason": "tool_calls",
        "usage": {"prompt_tokens": 200, "completion_tokens": 20},
        "attributes": {"tenant": "acme"},
    }


def prose_event(i: int, size: int) -> dict[str, Any]:
    """A prose event whose JSON is ``size`` bytes: the agentic event's texts in one message."""
    agentic = agentic_event(i)
    texts = [str(m.get("content") or "") for m in agentic["request"]["messages"]]
    event = {
        **agentic,
        "event_id": f"prose-{i}",
        "request": {
            "messages": [{"role": "user", "content": "\n".join(texts)}],
            "params": {"temperature": 0},
        },
        "answer": "9 * 2 = 18",
        "finish_reason": "stop",
    }
    pad = size - len(json.dumps(event))
    if pad > 0:
        event["request"]["messages"][0]["content"] += " " * pad
    return event


def cost_us(events: list[dict[str, Any]], rounds: int) -> float:
    """Microseconds per event: parse and validate, check, redact, build the stored values."""
    body = json.dumps(events).encode()
    every_kind = redactor(KINDS)
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        parsed = parse_native(body)
        for event in parsed:
            check_answer(event)
        clean, _ = redact_batch(parsed, every_kind, keep_originals=True)
        for event in clean:
            event.request.model_dump(mode="json")
            event.answer_text()
            event.answer_tool_calls()
            event.answer_finish_reason()
            prompt_hash(event.prompt_text())
        best = min(best, time.perf_counter() - started)
    return best / len(events) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    agentic = [agentic_event(i) for i in range(args.events)]
    size = max(len(json.dumps(event)) for event in agentic)
    prose = [prose_event(i, size) for i in range(args.events)]
    agentic_us, prose_us = cost_us(agentic, args.rounds), cost_us(prose, args.rounds)
    ratio = agentic_us / prose_us
    verdict = "PASS" if ratio <= TARGET else "FAIL"
    print(f"events of about {size:,} bytes of JSON, {args.events} a batch, best of {args.rounds}")
    print(f"prose event:   {prose_us:8.1f} us (parse + validate + check + redact + row values)")
    print(f"agentic event: {agentic_us:8.1f} us")
    print(f"agentic / prose: {ratio:.2f}  (target <= {TARGET:.2f})  {verdict}")
    if verdict == "FAIL":
        sys.exit(1)


if __name__ == "__main__":
    main()
