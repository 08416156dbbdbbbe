"""Answer-match judging on the real RouteLLM GSM8K pairs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shadowgap.judging.answer_match import AnswerMatchJudge
from shadowgap.judging.datasets import GsmRow, load_gsm8k
from shadowgap.judging.extract import extract_answer


@pytest.fixture(scope="module")
def rows(routellm_dir: Path) -> list[GsmRow]:
    return load_gsm8k(routellm_dir)


def test_extracts_final_answers_from_real_rows(rows: list[GsmRow]) -> None:
    # Row 0: Mixtral ends "#### 18", GPT-4 ends "...makes 9 * $2 = $18 every day...".
    assert extract_answer(rows[0].cheap).value == "18"
    assert extract_answer(rows[0].cheap).rule == "gsm8k"
    assert extract_answer(rows[0].flagship).value == "18"
    # Row 2: thousands separators and a currency sign ("$25,000.").
    assert extract_answer(rows[2].flagship).value == "25000"
    # Row 44: GPT-4 writes "#### $20.00", the same number as Mixtral's "#### 20".
    assert extract_answer(rows[44].flagship).same_as(extract_answer(rows[44].cheap))
    # Row 1139: the calculator annotation <<40/36=1.11...>> must not be read as the answer.
    assert extract_answer(rows[1139].cheap).value == "1"


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("The answer is 42.", "number", "42"),
        ("So the total is \\boxed{\\frac{1}{2}} or \\boxed{0.5}", "number", "0.5"),
        ("Sales grew by 12.5% this year.", "number", "12.5"),
        ("It weighs 1,250 kg in total.", "number", "1250"),
        ("Answer: B", "choice", "B"),
        ("I pick (C) because the others are wrong.\nThe answer is (C).", "choice", "C"),
        ("The answer is a total of 18 apples.", "number", "18"),
        ('{"answer": "Paris", "confidence": 0.9}', "text", "paris"),
        ('```json\n{"answer": 7}\n```', "number", "7"),
        ("He is now -54 miles away, i.e. 54 miles west.\n#### -54", "number", "-54"),
        ("", "none", ""),
    ],
)
def test_extraction_cases(text: str, kind: str, value: str) -> None:
    found = extract_answer(text)
    assert (found.kind, found.value) == (kind, value)


def test_agreement_on_exactly_one_correct_rows(rows: list[GsmRow]) -> None:
    """On rows where exactly one model is right, the judge must see a difference.

    Raw agreement is 447/478. All 31 misses are label artefacts of RouteLLM's grader, not
    extraction errors: 29 are GPT-4 answers graded wrong although they state the right value
    with cents ("$20.00" for 20), 2 are Mixtral answers graded wrong for stating the right
    number with words after it ("#### 7 packs and 2 extra glue sticks", "#### 50% or 1/2").
    Rows whose labelled-wrong answer concludes with an "X.00" amount (37 rows, the 29 above
    among them) are excluded for the 95% target: 439 of the remaining 441 are detected.
    """
    judge = AnswerMatchJudge()
    one = [row for row in rows if row.exactly_one_correct]
    detected = {
        row.index
        for row in one
        if judge.judge(row.question, row.cheap, row.flagship).winner != "tie"
    }
    raw = len(detected) / len(one)
    assert raw >= 0.93

    cents = re.compile(r"\$?\d[\d,]*\.00\b")

    def cents_artefact(row: GsmRow) -> bool:
        wrong = row.flagship if not row.flagship_correct else row.cheap
        return bool(cents.findall(wrong[-120:]))

    clean = [row for row in one if not cents_artefact(row)]
    assert len(one) - len(clean) == 37
    agreement = sum(row.index in detected for row in clean) / len(clean)
    assert agreement >= 0.95, agreement


def test_both_correct_rows_are_ties(rows: list[GsmRow]) -> None:
    judge = AnswerMatchJudge()
    both = [row for row in rows if row.cheap_correct and row.flagship_correct]
    ties = sum(judge.judge(r.question, r.cheap, r.flagship).winner == "tie" for r in both)
    assert ties / len(both) >= 0.98


def test_flagship_is_the_reference_without_ground_truth(rows: list[GsmRow]) -> None:
    row = next(r for r in rows if r.label == "flagship")
    verdict = AnswerMatchJudge().judge(row.question, row.cheap, row.flagship)
    assert (verdict.winner, verdict.gap_score) == ("flagship", 1.0)
    assert verdict.raw["mode"] == "flagship-reference"
    assert verdict.judge == "answer-match" and verdict.prompt_version


def test_ground_truth_mode_grades_both_answers(rows: list[GsmRow]) -> None:
    judge = AnswerMatchJudge()
    row = rows[0]  # both right: 18
    assert judge.judge_with_reference(row.question, row.cheap, row.flagship, "18").winner == "tie"
    assert (
        judge.judge_with_reference(row.question, "#### 17", row.flagship, "18").winner == "flagship"
    )
    verdict = judge.judge_with_reference(row.question, row.cheap, "It is $17.", "#### 18")
    assert (verdict.winner, verdict.gap_score) == ("cheap", -1.0)
    assert verdict.raw["cheap"]["correct"] is True
