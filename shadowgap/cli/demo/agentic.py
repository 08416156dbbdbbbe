"""The demo's sixth tenant: an agent that calls tools, on real BFCL requests.

``cyberdyne`` sends real user requests from BFCL's ``live_multiple`` file (users' own
questions, each with 2 or more candidate functions, mostly 2-5, of which exactly one fits)
with the functions as OpenAI ``tools``. Its answers are tool calls, and the flagship's
(recorded) is an acceptable call built from BFCL's ground truth
(:func:`shadowgap.judging.bfcl.flagship_answer`).

The same router as the other tenants scores each request and sends it cheap below 0.5: 80% of
them, before and after the break (its routing does not change). Halfway through, the cheap
model behind the route is swapped for a new snapshot (same name, price and speed) that drops
required arguments and calls the wrong function. The cheap answers, per request:

- before the swap: the flagship's acceptable call written another way (arguments reordered,
  ``1`` as ``1.0``, other whitespace, a default left out or sent, or as it is), except
  :data:`ERRORS_BEFORE` of them, an error of each kind at its rate;
- after it: the same, except :data:`ERRORS_AFTER` of them.

The error kinds are BFCL variants (:mod:`shadowgap.judging.bfcl_variants`): a required
argument dropped, another candidate function called with what the request gives, a value the
ground truth does not accept. Not a real small model's calls: SmolLM2-135M, the embedded
model, takes tens of seconds a case through llama.cpp's tool-calling format on two cores, and
its grammar-held arguments never drop a required one (measured in docs/demo.md, from
:mod:`shadowgap.judging.bfcl_small_model`).

What shadowgap should say: the quality gap of ``tenant=cyberdyne`` rises (the tool-call judge
names the differences: ``missing_argument``, ``wrong_function``, ``wrong_value``) and the
attribution puts the rise on the cheap path on comparable requests, not the router; no other
signal of the tenant moves. Its draws come from their own generator, so the five GSM8K
tenants' requests are, draw for draw, what they were without it.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from shadowgap.judging.bfcl import BfclCase, acceptable, flagship_answer, load_bfcl
from shadowgap.judging.bfcl_small_model import openai_tools
from shadowgap.judging.bfcl_variants import FORM_KINDS, Variant, build_variants, string_pool
from shadowgap.schemas import Answer, last_user_text

AGENTIC_TENANT = "cyberdyne"
BFCL_FILE = "BFCL_v4_live_multiple.json"
# Requests over the two weeks, as a share of the GSM8K tenants' stream (3%: hooli's volume).
VOLUME = 0.03
VARIANT_SEED = 21  # judge-eval's seed: the same variants judge-eval measures
# Share of cheap answers of each error kind, before and after the swap.
ERRORS_BEFORE = {"missing_argument": 0.02, "wrong_function": 0.01, "wrong_value": 0.02}
ERRORS_AFTER = {"missing_argument": 0.30, "wrong_function": 0.15, "wrong_value": 0.05}
PLAIN = "as_flagship"  # the flagship's call as it is


@dataclass(frozen=True)
class AgenticCase:
    """A pool case: its request, the flagship's call and the cheap answers to draw from."""

    case: BfclCase
    question: str
    flagship: Answer
    acceptable_forms: dict[str, Answer]  # kind -> an acceptable answer (PLAIN included)
    errors: dict[str, Answer]  # error kind -> an unacceptable answer


def load_pool(bfcl_dir: Path) -> list[AgenticCase]:
    """The live_multiple cases the demo can use: one expected call with a required argument,
    every error kind the demo draws available and unacceptable, a question no other case
    shares (the recorded flagship looks answers up by the last user message)."""
    everything = load_bfcl(bfcl_dir)
    strings = string_pool(everything)
    cases = [case for case in everything if case.file == "live_multiple"]
    questions: dict[str, int] = {}
    for case in cases:
        key = last_user_text(case.messages)
        questions[key] = questions.get(key, 0) + 1
    needed = set(ERRORS_BEFORE) | set(ERRORS_AFTER)
    pool = []
    for case in cases:
        question = last_user_text(case.messages)
        flagship = flagship_answer(case)
        if questions[question] > 1 or len(case.ground_truth) != 1:
            continue
        if not acceptable(flagship, case):
            continue
        variants: dict[str, Variant] = {
            v.kind: v for v in build_variants(case, VARIANT_SEED, strings)
        }
        errors = {
            kind: variants[kind].cheap
            for kind in needed
            if kind in variants and not variants[kind].acceptable
        }
        if set(errors) != needed:
            continue
        forms = {PLAIN: flagship} | {
            kind: variants[kind].cheap
            for kind in FORM_KINDS
            if kind in variants and variants[kind].acceptable
        }
        pool.append(AgenticCase(case, question, flagship, forms, errors))
    return pool


def message(answer: Answer) -> dict[str, Any] | str:
    """An answer as the router mirrors it: an OpenAI assistant message when it calls tools."""
    if not answer.tool_calls:
        return answer.text
    return {
        "role": "assistant",
        "content": answer.content,
        "tool_calls": [
            {
                "id": call.id or f"call_{i}",
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for i, call in enumerate(answer.tool_calls)
        ],
    }


def cheap_answer(item: AgenticCase, swapped: bool, rng: random.Random) -> tuple[str, Answer]:
    """(kind, answer) of the cheap model before or after the swap (the module docstring)."""
    rates = ERRORS_AFTER if swapped else ERRORS_BEFORE
    u = rng.random()
    for kind, rate in rates.items():
        if u < rate:
            return kind, item.errors[kind]
        u -= rate
    kind = rng.choice(sorted(item.acceptable_forms))
    return kind, item.acceptable_forms[kind]


def events(
    pool: list[AgenticCase],
    n_events: int,
    seed: int,
    begin: datetime,
    days: float,
    shift_at: float,
    router_score: Any,
    threshold: float,
    models: tuple[str, str],
) -> tuple[list[dict[str, Any]], list[str]]:
    """The tenant's requests over the two weeks, evenly spaced in time, ids in time order, and
    which answer each got (a kind of :func:`cheap_answer`, or ``flagship``)."""
    rng = random.Random(f"{seed}:{AGENTIC_TENANT}")
    step = timedelta(days=days) / n_events
    cheap_model, flagship_model = models
    out: list[dict[str, Any]] = []
    kinds: list[str] = []
    for j in range(n_events):
        item = rng.choice(pool)
        score = router_score(False, rng.random())  # 80% below the threshold
        cheap = score < threshold
        swapped = j >= int(n_events * shift_at)
        kind, answer = cheap_answer(item, swapped, rng) if cheap else ("flagship", item.flagship)
        escalated = cheap and rng.random() < 0.03
        latency = rng.gauss(450, 60) if cheap else rng.gauss(1800, 250)
        if escalated:
            latency += rng.gauss(1800, 250)
        failed = rng.random() < 0.004
        tools = openai_tools(item.case)
        # Token counts from the request and the flagship's call: the swap changes no price.
        prompt_tokens = 60 + len(json.dumps([item.case.messages, tools])) // 4
        completion_tokens = sum(len(c.arguments) + len(c.name) for c in item.flagship.tool_calls)
        completion_tokens = 10 + completion_tokens // 4
        price = (0.0006, 0.0006) if cheap else (0.01, 0.03)
        out.append(
            {
                "event_id": f"demo-agent-{j:05d}",
                "timestamp": (begin + step * (j + 0.5)).isoformat(),
                "request": {
                    "messages": item.case.messages,
                    "params": {
                        "tools": tools,
                        "tool_choice": "auto",
                        "temperature": 0,
                        "max_tokens": 512,
                    },
                },
                "route": {
                    "tier": "cheap" if cheap else "flagship",
                    "model": cheap_model if cheap else flagship_model,
                    "score": score,
                    "reason": "score below threshold" if cheap else "score at or above threshold",
                },
                "answer": None if failed else message(answer),
                "finish_reason": None if failed else answer.finish_reason or "tool_calls",
                "latency_ms": round(max(latency, 50.0), 1),
                "ttft_ms": round(max(latency * 0.2, 20.0), 1),
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": 0 if failed else completion_tokens,
                },
                "cost_usd": round(
                    (prompt_tokens * price[0] + completion_tokens * price[1]) / 1000, 6
                ),
                "status": "error" if failed else "ok",
                "error": "upstream timeout" if failed else None,
                "escalated": escalated,
                "attributes": {
                    "tenant": AGENTIC_TENANT,
                    "team": f"{AGENTIC_TENANT}-agents",
                    "tags": ["surface:agent", "lang:en"],
                },
            }
        )
        kinds.append(kind)
    return out, kinds


def write_recorded_answers(
    out: Path, gsm8k_csv: Path, flagship_column: str, pool: Iterable[AgenticCase]
) -> Path:
    """The recorded flagship's answers: GPT-4's GSM8K answers and the agentic tenant's calls
    (a JSONL file, where an answer may be an assistant message with tool calls)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with (
        gsm8k_csv.open(newline="", encoding="utf-8") as source,
        out.open("w", encoding="utf-8") as sink,
    ):
        for row in csv.DictReader(source):
            sink.write(json.dumps({"prompt": row["prompt"], "answer": row[flagship_column]}))
            sink.write("\n")
        for item in pool:
            sink.write(json.dumps({"prompt": item.question, "answer": message(item.flagship)}))
            sink.write("\n")
    return out
