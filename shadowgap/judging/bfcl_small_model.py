"""A real small model's calls on BFCL: SmolLM2-135M, the embedded model, on a fixed subset.

The calls are made through llama.cpp's tool-calling chat format (llama-cpp-python's
``chatml-function-calling``, see :meth:`LlamaCppClient.complete_in_chat_format`): the tools are
shown in a system turn, the model answers ``message:`` or ``functions.<name>:``, and a grammar
holds the arguments to that function's JSON Schema. Greedy decoding (temperature 0, the
model's seed 0), the same subset every time (:data:`PER_FILE` evenly spaced cases per file).

They are generated once and committed as a fixture (:data:`FIXTURE`), with this module as the
script that made them (``python -m shadowgap.judging.bfcl_small_model``). Not generated in CI:
the 50 cases took 26 minutes on two shared cores, a greedy answer can change with the
llama.cpp build (docs/llama-build.md), and judge-eval must judge the same calls on every
machine.
``tests/judging/test_bfcl_small_model.py`` regenerates a few cases live and compares them with
the fixture.

Used twice: judge-eval's ``small_model`` stratum (the judge sees the request, the tools and
both calls), and the demo's agentic tenant, which takes the model's call where it is usable
(:func:`usability`) and otherwise a documented error kind (``shadowgap/cli/demo/agentic.py``).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shadowgap.judging.bfcl import BFCL_FILES, BfclCase, acceptable, flagship_answer, load_bfcl
from shadowgap.judging.bfcl_variants import Variant
from shadowgap.judging.json_schema import to_json_schema
from shadowgap.schemas import Answer

if TYPE_CHECKING:
    from shadowgap.llm.llama_cpp_client import LlamaCppClient

FIXTURE = Path(__file__).parent / "data" / "bfcl_smollm2_calls.json"
KIND = "small_model"  # judge-eval's stratum
PER_FILE = 10
CHAT_FORMAT = "chatml-function-calling"
# The format shows the tools only inside a system turn: a case without one gets this one.
SYSTEM_PROMPT = (
    "You are a helpful assistant. When one of the functions fits the user's request, call it "
    "with the arguments the request gives; otherwise answer in a message."
)
MAX_TOKENS = 256  # a prose answer's cap (the format does not cap arguments)
# Long tool lists past this context are answered by nobody: recorded as an error.
N_CTX = 4096


def openai_tools(case: BfclCase) -> list[dict[str, Any]]:
    """The case's functions as OpenAI ``tools`` with JSON Schema types (``dict`` -> ``object``,
    ``float`` -> ``number``, ...), as a real sender sends them."""
    tools = []
    for function in case.functions:
        mapped = {k: v for k, v in function.items() if k != "parameters"}
        mapped["parameters"] = to_json_schema(function.get("parameters") or {})
        tools.append({"type": "function", "function": mapped})
    return tools


def generation_messages(case: BfclCase) -> list[dict[str, Any]]:
    if any(message.get("role") == "system" for message in case.messages):
        return list(case.messages)
    return [{"role": "system", "content": SYSTEM_PROMPT}, *case.messages]


def fixture_cases(data_dir: Path | None = None) -> list[BfclCase]:
    """The fixed subset: :data:`PER_FILE` evenly spaced cases of each BFCL file, the files
    taken in turn (a run cut short still spans every file)."""
    by_file: dict[str, list[BfclCase]] = {}
    for case in load_bfcl(data_dir, PER_FILE):
        by_file.setdefault(case.file, []).append(case)
    return [files[i] for i in range(PER_FILE) for files in by_file.values() if i < len(files)]


@dataclass(frozen=True, slots=True)
class SmallModelAnswer:
    id: str
    file: str
    answer: Answer | None  # None: the model gave no answer (``error`` says why)
    error: str | None = None


def _call_id(index: int) -> str:
    # llama-cpp-python's ids carry a random completion id: fixed ones keep the fixture stable.
    return f"call_{index}"


def generate(cases: list[BfclCase], client: LlamaCppClient) -> Iterator[dict[str, Any]]:
    """One fixture record per case, in order (the model's answer, or the error it raised)."""
    from shadowgap.errors import FlagshipError

    for case in cases:
        started = time.perf_counter()
        record: dict[str, Any] = {"id": case.id, "file": case.file}
        try:
            completion = client.complete_in_chat_format(
                CHAT_FORMAT,
                generation_messages(case),
                max_tokens=MAX_TOKENS,
                temperature=0.0,
                options={"tools": openai_tools(case), "tool_choice": "auto"},
            )
        except FlagshipError as exc:
            record.update(message=None, finish_reason=None, error=str(exc))
        else:
            calls = [
                {"id": _call_id(i), "type": "function", "function": dict(call["function"])}
                for i, call in enumerate(completion.tool_calls or [])
            ]
            record.update(
                message={"content": completion.text or None, "tool_calls": calls},
                finish_reason=completion.finish_reason,
                error=None,
                completion_tokens=completion.completion_tokens,
            )
        record["seconds"] = round(time.perf_counter() - started, 2)
        yield record


def read_fixture(path: Path = FIXTURE) -> dict[str, SmallModelAnswer]:
    """Case id -> the small model's answer, from a fixture :func:`main` wrote."""
    data = json.loads(path.read_text(encoding="utf-8"))
    answers = {}
    for record in data["answers"]:
        message = record.get("message")
        answer = (
            Answer.from_openai_message(message, record.get("finish_reason"))
            if isinstance(message, dict)
            else None
        )
        answers[record["id"]] = SmallModelAnswer(
            record["id"], record["file"], answer, record.get("error")
        )
    return answers


def small_model_variants(
    cases: list[BfclCase], answers: Mapping[str, SmallModelAnswer]
) -> list[Variant]:
    """judge-eval's ``small_model`` stratum: the model's answers that make a call (a prose
    answer is the ``prose`` kind's business), against the flagship's acceptable call, labelled
    by the ground truth. Cases whose ground truth rejects the flagship's own call are left out,
    as judge-eval leaves them out of every stratum."""
    variants = []
    for case in cases:
        record = answers.get(case.id)
        if record is None or record.answer is None or not record.answer.tool_calls:
            continue
        flagship = flagship_answer(case)
        if not acceptable(flagship, case):
            continue
        variants.append(
            Variant(case, KIND, flagship, record.answer, acceptable(record.answer, case))
        )
    return variants


@dataclass(frozen=True, slots=True)
class Usability:
    """What a call gets right, from the ground truth (cases that expect calls)."""

    calls: bool  # made at least one call
    parses: bool  # every call's arguments are a JSON object
    right_function: bool  # the functions the ground truth expects, as a multiset
    required_arguments: bool  # every call sends all its function's required arguments
    acceptable: bool  # BFCL's checker accepts the answer (:func:`bfcl.acceptable`)

    @property
    def usable(self) -> bool:
        """Parses, right function(s), every required argument: a call an app could run."""
        return self.parses and self.right_function and self.required_arguments


def usability(case: BfclCase, answer: Answer | None) -> Usability:
    calls = answer.tool_calls if answer is not None else []
    if not calls:
        return Usability(False, False, False, False, False)
    parsed: list[Any] = []
    for call in calls:
        try:
            parsed.append(call.parsed_arguments())
        except ValueError:
            parsed.append(None)
    parses = all(isinstance(arguments, Mapping) for arguments in parsed)
    expected = sorted(name for call in case.ground_truth for name in call)
    right = sorted(call.name for call in calls) == expected
    schemas = case.schemas()
    required = parses and all(
        set((schemas.get(call.name) or {}).get("required") or []) <= set(arguments)
        for call, arguments in zip(calls, parsed, strict=True)
    )
    assert answer is not None
    return Usability(True, parses, right, required, acceptable(answer, case))


def summary(cases: list[BfclCase], answers: Mapping[str, SmallModelAnswer]) -> dict[str, Any]:
    """Usability counts over the cases that expect calls; abstentions on the irrelevance
    file (where the right answer calls nothing)."""
    expecting = [c for c in cases if c.ground_truth and c.id in answers]
    irrelevant = [c for c in cases if not c.ground_truth and c.id in answers]
    marks = [usability(case, answers[case.id].answer) for case in expecting]
    return {
        "cases": len(expecting),
        "errors": sum(answers[c.id].answer is None for c in expecting + irrelevant),
        "calls": sum(m.calls for m in marks),
        "parses": sum(m.parses for m in marks),
        "right_function": sum(m.right_function for m in marks),
        "required_arguments": sum(m.required_arguments for m in marks),
        "usable": sum(m.usable for m in marks),
        "acceptable": sum(m.acceptable for m in marks),
        "irrelevance_cases": len(irrelevant),
        "irrelevance_abstained": sum(
            (answers[c.id].answer is not None and not answers[c.id].answer.tool_calls)  # type: ignore[union-attr]
            for c in irrelevant
        ),
    }


def summary_lines(figures: Mapping[str, Any]) -> list[str]:
    n = figures["cases"]

    def share(key: str) -> str:
        return f"{figures[key]}/{n} ({figures[key] / n:.0%})" if n else "-"

    lines = [
        f"  SmolLM2-135M on {n} BFCL cases that expect calls ({CHAT_FORMAT}, greedy): "
        f"calls {share('calls')}, parse {share('parses')}, right function "
        f"{share('right_function')}, all required arguments {share('required_arguments')}, "
        f"usable (all three) {share('usable')}, acceptable {share('acceptable')}",
    ]
    if figures["irrelevance_cases"]:
        lines.append(
            f"  on {figures['irrelevance_cases']} irrelevance cases it called nothing in "
            f"{figures['irrelevance_abstained']}; {figures['errors']} cases got no answer "
            "(past the context)"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    """Regenerate the fixture: ``python -m shadowgap.judging.bfcl_small_model``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None, help="BFCL data folder")
    parser.add_argument("--out", type=Path, default=FIXTURE)
    parser.add_argument("--limit", type=int, default=None, help="only the first N cases")
    args = parser.parse_args(argv)

    from shadowgap.llm.llama_cpp_client import LlamaCppClient

    cases = fixture_cases(args.data_dir)[: args.limit]
    client = LlamaCppClient(n_ctx=N_CTX)
    started = time.perf_counter()
    records: list[dict[str, Any]] = []
    for record in generate(cases, client):
        records.append(record)
        # Written after every case: a run stopped early leaves the cases it did.
        _write(args.out, records, client, started)
        print(f"\r  {len(records)}/{len(cases)} {record['id']:<40}", end="", file=sys.stderr)
    print(file=sys.stderr)
    data = _write(args.out, records, client, started)
    answers = read_fixture(args.out)
    print("\n".join(summary_lines(summary(cases, answers))))
    print(f"written to {args.out} in {data['generated_by']['seconds']} s")
    return 0


def _write(
    out: Path, records: list[dict[str, Any]], client: LlamaCppClient, started: float
) -> dict[str, Any]:
    from importlib.metadata import version

    data = {
        "generated_by": {
            "script": "python -m shadowgap.judging.bfcl_small_model",
            "model": client.path.name,
            "llama_cpp_python": version("llama-cpp-python"),
            "chat_format": CHAT_FORMAT,
            "temperature": 0.0,
            "seed": 0,
            "n_ctx": N_CTX,
            "system_prompt": SYSTEM_PROMPT,
            "subset": f"{PER_FILE} evenly spaced cases of each of {', '.join(BFCL_FILES)}, "
            "the files in turn",
            "cases": len(records),
            "machine": platform.machine(),
            "seconds": round(time.perf_counter() - started, 1),
        },
        "answers": records,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return data


if __name__ == "__main__":
    raise SystemExit(main())
