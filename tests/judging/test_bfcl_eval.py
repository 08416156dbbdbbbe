"""judge-eval on the BFCL data: the ground-truth oracle, the fixed variant set, the targets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shadowgap.judging.bfcl import BfclCase, acceptable, flagship_answer, load_bfcl, value_accepted
from shadowgap.judging.bfcl_variants import ACCEPTABLE_KINDS, ERROR_KINDS, build_all, string_pool
from shadowgap.judging.tool_eval import run_bfcl_eval
from shadowgap.schemas import Answer, ToolCall
from tests.conftest import ROOT

BFCL_DIR = ROOT.parent / "shared" / "data" / "bfcl"


@pytest.fixture(scope="module")
def bfcl_dir() -> Path:
    if not BFCL_DIR.is_dir():
        pytest.fail(f"BFCL data not found at {BFCL_DIR}")
    return BFCL_DIR


def _case() -> BfclCase:
    return BfclCase(
        id="t",
        file="simple_python",
        messages=[{"role": "user", "content": "Area of a 10 by 5 triangle"}],
        functions=[
            {
                "name": "area",
                "parameters": {
                    "type": "dict",
                    "required": ["base", "height"],
                    "properties": {
                        "base": {"type": "integer"},
                        "height": {"type": "float"},
                        "unit": {"type": "string"},
                        "round": {"type": "boolean", "default": False},
                    },
                },
            }
        ],
        ground_truth=[{"area": {"base": [10], "height": [5.0], "unit": ["units", "u", ""]}}],
    )


def _call(arguments: dict[str, object]) -> Answer:
    return Answer(tool_calls=[ToolCall(name="area", arguments=json.dumps(arguments))])


def test_the_oracle_follows_bfcl() -> None:
    case = _case()
    assert acceptable(flagship_answer(case), case)
    assert json.loads(flagship_answer(case).tool_calls[0].arguments) == {
        "base": 10,
        "height": 5.0,
        "unit": "units",
    }
    assert acceptable(_call({"base": 10, "height": 5, "unit": "U"}), case)  # int for float, case
    assert acceptable(_call({"base": 10, "height": 5.0}), case)  # "" allows leaving it out
    assert acceptable(_call({"base": 10, "height": 5.0, "round": False}), case)  # the default
    assert not acceptable(_call({"base": 10, "height": 5.0, "round": True}), case)
    assert not acceptable(_call({"base": 11, "height": 5.0}), case)
    assert not acceptable(_call({"base": "10", "height": 5.0}), case)
    assert not acceptable(Answer.from_text("The area is 25."), case)
    assert value_accepted({"a": 1}, {"a": [1, 2], "b": [""]})
    assert not value_accepted({"a": 3}, {"a": [1, 2]})


def test_variants_are_fixed_by_the_seed_and_labelled_by_the_oracle(bfcl_dir: Path) -> None:
    everything = load_bfcl(bfcl_dir)
    pool = string_pool(everything)
    subset = load_bfcl(bfcl_dir, 20)
    first = build_all(subset, 7, pool)
    again = build_all(subset, 7, pool)
    key = [(v.case.id, v.kind, v.cheap.model_dump_json()) for v in first]
    assert key == [(v.case.id, v.kind, v.cheap.model_dump_json()) for v in again]
    # A case draws the same variants in a subset as in a larger run.
    larger = build_all(load_bfcl(bfcl_dir, 40), 7, pool)
    common = {v.case.id for v in first} & {v.case.id for v in larger}
    assert common
    assert [(v.kind, v.cheap) for v in first if v.case.id in common] == [
        (v.kind, v.cheap) for v in larger if v.case.id in common
    ]
    kinds = {v.kind for v in first}
    assert set(ERROR_KINDS) <= kinds and {"form_order", "form_whitespace", "alt_value"} <= kinds
    for variant in first:
        assert variant.acceptable == acceptable(variant.cheap, variant.case)
    share = sum(v.acceptable for v in first if v.kind in ACCEPTABLE_KINDS) / sum(
        1 for v in first if v.kind in ACCEPTABLE_KINDS
    )
    assert share > 0.95


def test_bfcl_subset_meets_the_targets(bfcl_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "bfcl.json"
    result = run_bfcl_eval(50, out, data_dir=bfcl_dir)
    assert result["cases"] >= 245 and result["pairs"] > 1500
    assert json.loads(out.read_text())["passed"] == result["passed"]
    unacceptable, acceptable_, form = (t["figure"] for t in result["targets"])
    assert unacceptable >= 0.97
    assert acceptable_ >= 0.95
    assert form <= 0.01
    assert result["passed"], result["table"]
    assert "PASS" in result["table"] and "alt_value" in result["table"]
    # The policies measured side by side: strict loses acceptable calls, lenient wrong values.
    by_policy = result["policies"]
    assert set(by_policy) == {"compatible", "strict", "lenient"}


def test_judge_eval_command_exits_1_on_a_missed_target(
    bfcl_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from shadowgap.cli.main import app
    from shadowgap.judging import bfcl, tool_eval

    monkeypatch.setattr(bfcl, "DEFAULT_BFCL_DIR", bfcl_dir)
    runner = CliRunner()
    args = ["judge-eval", "--dataset", "bfcl", "--limit", "8", "--out", str(tmp_path / "r.json")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "PASS  agreement on unacceptable calls" in result.output
    # A target no figure can reach fails the run.
    monkeypatch.setattr(tool_eval, "TARGET_ACCEPTABLE", 1.01)
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and "FAIL  agreement on acceptable calls" in result.output
