"""judge-eval's statistics and its run on the real RouteLLM data with the answer-match judge."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shadowgap.config import Settings
from shadowgap.judging.answer_match import AnswerMatchJudge
from shadowgap.judging.datasets import load_gsm8k, load_mtbench, parse_judge_prompt
from shadowgap.judging.evaluate import (
    cohens_kappa,
    evaluate_gsm8k,
    evaluate_mtbench,
    format_table,
    run_judge_eval,
    spearman,
)


def test_spearman_handles_ties_and_constants() -> None:
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    # Ties share their average rank: ranks (1.5, 1.5, 3) vs (1, 2, 3).
    assert spearman([5, 5, 9], [1, 2, 3]) == pytest.approx(0.8660254)
    assert spearman([1, 1, 1], [1, 2, 3]) is None


def test_cohens_kappa() -> None:
    perfect = {
        "flagship": {"flagship": 5, "tie": 0, "cheap": 0},
        "tie": {"flagship": 0, "tie": 5, "cheap": 0},
        "cheap": {"flagship": 0, "tie": 0, "cheap": 5},
    }
    assert cohens_kappa(perfect) == pytest.approx(1.0)
    # Always answering "tie" agrees often but no better than chance.
    constant = {
        "flagship": {"flagship": 0, "tie": 3, "cheap": 0},
        "tie": {"flagship": 0, "tie": 6, "cheap": 0},
        "cheap": {"flagship": 0, "tie": 1, "cheap": 0},
    }
    assert cohens_kappa(constant) == pytest.approx(0.0)


def test_answer_match_on_full_gsm8k(routellm_dir: Path) -> None:
    result = evaluate_gsm8k(AnswerMatchJudge(), load_gsm8k(routellm_dir))
    assert result.n == 1319 and result.errors == 0
    assert sum(sum(row.values()) for row in result.confusion.values()) == 1319
    # Without ground truth the flagship is the reference, so it never says cheap-better.
    assert all(result.confusion[label]["cheap"] == 0 for label in result.confusion)
    assert result.one_correct_n == 478
    assert result.one_correct_detected is not None and result.one_correct_detected > 0.93
    assert result.accuracy is not None and result.accuracy > 0.85
    assert result.kappa is not None and result.kappa > 0.7
    assert result.position_consistency is None  # a single-order judge


def test_mtbench_pairs_both_models_per_turn(routellm_dir: Path) -> None:
    items = load_mtbench(routellm_dir)
    assert len(items) == 160
    assert {item.turn for item in items} == {1, 2}
    assert len({item.category for item in items}) == 8
    second = next(item for item in items if item.turn == 2)
    assert second.question.startswith("Earlier question: ")
    assert second.cheap and second.flagship and second.cheap != second.flagship
    result = evaluate_mtbench(AnswerMatchJudge(), items)
    assert result.n == 160 and result.grade_spearman is None
    assert sum(result.winners.values()) == 160


def test_parse_judge_prompt_rejects_unknown_shapes() -> None:
    with pytest.raises(ValueError):
        parse_judge_prompt("nothing here", 1)


def test_run_judge_eval_writes_json(routellm_dir: Path, tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    out = tmp_path / "eval" / "answer-match.json"
    result = run_judge_eval(
        "answer-match",
        40,
        out,
        lambda done, total: seen.append((done, total)),
        data_dir=routellm_dir,
        settings=Settings(),
    )
    stored = json.loads(out.read_text())
    assert stored["gsm8k"]["n"] == 40 and stored["mt_bench"]["n"] == 40
    assert stored["table"] == result["table"]
    assert seen[0] == (1, 80) and seen[-1] == (80, 80) and len(seen) == 80
    assert "Cohen's kappa" in result["table"]


def test_format_table_lists_the_confusion_matrix(routellm_dir: Path) -> None:
    result = evaluate_gsm8k(AnswerMatchJudge(), load_gsm8k(routellm_dir, limit=30))
    table = format_table(result)
    assert "flagship-better" in table and "cheap-better" in table and "accuracy" in table
