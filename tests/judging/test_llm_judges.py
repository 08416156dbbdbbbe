"""Pairwise and reference-graded judging with the local SmolLM2 model on real GSM8K rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from shadowgap.judging.datasets import GsmRow, load_gsm8k
from shadowgap.judging.evaluate import evaluate_gsm8k
from shadowgap.judging.pairwise import PROMPT_VERSION as PAIRWISE_VERSION
from shadowgap.judging.pairwise import PairwiseJudge, parse_choice
from shadowgap.judging.reference import ReferenceJudge, gap_from_grade, parse_grade
from shadowgap.llm.llama_cpp_client import LlamaCppClient


@pytest.fixture(scope="module")
def rows(routellm_dir: Path) -> list[GsmRow]:
    # The shortest row of each label (both right, only GPT-4 right, only Mixtral right): a
    # judge prompt of ~250 tokens keeps each call to a few seconds on two shared cores.
    everything = load_gsm8k(routellm_dir)
    chosen = [everything[579], everything[168], everything[873]]
    assert [row.label for row in chosen] == ["tie", "flagship", "cheap"]
    return chosen


@pytest.mark.llama
def test_pairwise_records_both_orders(smollm2_path: Path, rows: list[GsmRow]) -> None:
    judge = PairwiseJudge(LlamaCppClient(), max_tokens=24)
    for row in rows:
        verdict = judge.judge(row.question, row.cheap, row.flagship)
        assert verdict.winner in ("flagship", "tie", "cheap")
        assert -1.0 <= verdict.gap_score <= 1.0
        assert verdict.judge == "pairwise" and verdict.prompt_version == PAIRWISE_VERSION
        assert verdict.judge_model == LlamaCppClient().model
        first, second = verdict.raw["orders"]
        assert (first["a"], first["b"]) == ("cheap", "flagship")
        assert (second["a"], second["b"]) == ("flagship", "cheap")
        assert first["output"] is not None and second["output"] is not None
        assert verdict.raw["consistent"] == (first["winner"] == second["winner"])
        if not verdict.raw["consistent"]:
            assert verdict.winner == "tie"
        assert verdict.prompt_tokens > 200 and 0 < verdict.completion_tokens <= 48
        assert verdict.cost_usd == 0.0  # a local model is free


@pytest.mark.llama
def test_reference_grades_the_cheap_answer(smollm2_path: Path, rows: list[GsmRow]) -> None:
    judge = ReferenceJudge(LlamaCppClient(), max_tokens=24)
    for row in rows:
        verdict = judge.judge(row.question, row.cheap, row.flagship)
        grade = verdict.raw["grade"]
        assert "output" in verdict.raw and verdict.judge == "reference"
        if grade is None:
            assert (verdict.winner, verdict.gap_score) == ("tie", 0.0)
        else:
            assert 1 <= grade <= 10
            assert verdict.gap_score == pytest.approx(gap_from_grade(grade))
            assert verdict.winner == ("flagship" if grade <= 5 else "tie")


@pytest.mark.llama
def test_evaluate_with_the_local_model(smollm2_path: Path, rows: list[GsmRow]) -> None:
    result = evaluate_gsm8k(PairwiseJudge(LlamaCppClient(), max_tokens=16), rows[1:2])
    assert result.n + result.errors == 1
    assert result.position_consistency is not None
    assert result.first_position_rate is not None


@pytest.mark.parametrize(
    ("reply", "choice"),
    [
        ('{"winner": "B", "reason": "B is correct"}', "B"),
        ('Sure! ```json\n{"winner": "tie", "reason": "same"}\n```', "tie"),
        ("After comparing, Answer A is more accurate.", "A"),
        ("[[B]]", "B"),
        ("A", "A"),
        ("Both answers are fine.", None),
    ],
)
def test_parse_choice(reply: str, choice: str | None) -> None:
    assert parse_choice(reply)[0] == choice


@pytest.mark.parametrize(
    ("reply", "grade"),
    [
        ('{"grade": 7, "reason": "minor slip"}', 7.0),
        ("The answer matches. Rating: [[9]]", 9.0),
        ("I would give it 3/10.", 3.0),
        ("Grade: 12", None),
        ("10\n\nThe answer is: 10", 10.0),
        ("2019 was a good year", None),
        ("no idea", None),
    ],
)
def test_parse_grade(reply: str, grade: float | None) -> None:
    assert parse_grade(reply)[0] == grade


def test_grade_mapping() -> None:
    assert gap_from_grade(10) == 0.0 and gap_from_grade(1) == 1.0
    assert gap_from_grade(5.5) == pytest.approx(0.5)
