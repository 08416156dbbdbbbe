"""The real small model's calls on BFCL: the committed fixture is what the script makes, and
judge-eval judges them as their own stratum."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shadowgap.judging.bfcl import acceptable, load_bfcl
from shadowgap.judging.bfcl_small_model import (
    FIXTURE,
    KIND,
    N_CTX,
    fixture_cases,
    generate,
    read_fixture,
    small_model_variants,
    summary,
    usability,
)
from tests.support.settings import ROOT

BFCL_DIR = ROOT.parent / "shared" / "data" / "bfcl"


@pytest.fixture(scope="module")
def bfcl_dir() -> Path:
    if not BFCL_DIR.is_dir():
        pytest.fail(f"BFCL data not found at {BFCL_DIR}")
    return BFCL_DIR


def test_the_fixture_covers_the_fixed_subset_and_is_labelled_by_the_oracle(
    bfcl_dir: Path,
) -> None:
    answers = read_fixture()
    # The fixed subset's cases in their order (the first ones, if the run was cut short).
    cases = fixture_cases(bfcl_dir)[: len(answers)]
    assert list(answers) == [case.id for case in cases]
    assert {case.file for case in cases} == {
        "simple_python",
        "live_simple",
        "live_multiple",
        "parallel",
        "live_irrelevance",
    }
    generated_by = json.loads(FIXTURE.read_text())["generated_by"]
    assert generated_by["chat_format"] == "chatml-function-calling"
    assert generated_by["temperature"] == 0.0
    variants = small_model_variants(cases, answers)
    # Every answer that calls a function is in the stratum, labelled by the ground truth.
    with_calls = [
        c.id
        for c in cases
        if answers[c.id].answer and answers[c.id].answer.tool_calls  # type: ignore[union-attr]
    ]
    assert len(variants) <= len(with_calls) and variants
    for variant in variants:
        assert variant.kind == KIND
        assert variant.acceptable == acceptable(variant.cheap, variant.case)
        assert acceptable(variant.flagship, variant.case)
    figures = summary(cases, answers)
    assert figures["cases"] + figures["irrelevance_cases"] == len(cases)
    assert figures["usable"] <= min(
        figures["parses"], figures["right_function"], figures["required_arguments"]
    )
    # Usable is not acceptable: a right call may carry a wrong value, never the reverse.
    for case in cases:
        mark = usability(case, answers[case.id].answer)
        if case.ground_truth and mark.acceptable:
            assert mark.usable, case.id


@pytest.mark.llama
def test_the_script_makes_the_fixture(bfcl_dir: Path, smollm2_path: Path) -> None:
    """Regenerated live, greedy: the first answers of the fixture come out again."""
    from shadowgap.llm.llama_cpp_client import LlamaCppClient

    answers = read_fixture()
    # Three short simple_python cases: a few seconds of the model.
    cases = [c for c in load_bfcl(bfcl_dir, files=("BFCL_v4_simple_python.json",))]
    chosen = [c for c in cases if c.id in answers][:3]
    client = LlamaCppClient(smollm2_path, n_ctx=N_CTX)
    for record in generate(chosen, client):
        kept = answers[record["id"]].answer
        assert kept is not None and record["message"] is not None
        calls = [
            (c["function"]["name"], c["function"]["arguments"])
            for c in record["message"]["tool_calls"]
        ]
        assert calls == [(c.name, c.arguments) for c in kept.tool_calls], record["id"]
        assert (record["message"]["content"] or None) == kept.content
