"""``judge-eval --dataset bfcl``: the tool-call judge against BFCL's ground truth.

Per case the flagship answers an acceptable call built from the ground truth, and the cheap
answers are the fixed variant set of :mod:`shadowgap.judging.bfcl_variants`, plus the
``small_model`` stratum: SmolLM2-135M's own calls on a fixed subset, generated once through
llama.cpp's tool-calling chat format (:mod:`shadowgap.judging.bfcl_small_model`). The judge sees
the request, the tools and both answers; the ground truth only labels each cheap answer
acceptable or not. Agreement: the judge does not call the pair a flagship win exactly when the
cheap answer is acceptable. Reported per stratum (variant kind x file) for the default value
policy, and in total for every policy (see :mod:`shadowgap.judging.tool_calls`).

Targets (issue 21): agreement >= 97% on unacceptable calls and >= 95% on acceptable ones; a
flagship win in <= 1% of the pairs whose calls differ only in form.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shadowgap.judging.bfcl import BFCL_FILES, acceptable, file_label, flagship_answer, load_bfcl
from shadowgap.judging.bfcl_small_model import KIND as SMALL_MODEL_KIND
from shadowgap.judging.bfcl_small_model import (
    read_fixture,
    small_model_variants,
    summary,
    summary_lines,
)
from shadowgap.judging.bfcl_variants import FORM_KINDS, KINDS, Variant, build_all, string_pool
from shadowgap.judging.json_schema import validate
from shadowgap.judging.tool_calls import VALUE_POLICIES, ToolCallJudge, ValuePolicy

DEFAULT_SEED = 21
TARGET_UNACCEPTABLE = 0.97
TARGET_ACCEPTABLE = 0.95
TARGET_FORM_WINS = 0.01


@dataclass
class Tally:
    n: int = 0
    acceptable: int = 0
    agree_acceptable: int = 0
    agree_unacceptable: int = 0
    flagship_wins: int = 0

    def add(self, acceptable: bool, flagship_win: bool) -> None:
        self.n += 1
        self.acceptable += acceptable
        self.flagship_wins += flagship_win
        if acceptable:
            self.agree_acceptable += not flagship_win
        else:
            self.agree_unacceptable += flagship_win

    @property
    def agreement(self) -> float | None:
        return (self.agree_acceptable + self.agree_unacceptable) / self.n if self.n else None

    @property
    def acceptable_agreement(self) -> float | None:
        return self.agree_acceptable / self.acceptable if self.acceptable else None

    @property
    def unacceptable_agreement(self) -> float | None:
        unacceptable = self.n - self.acceptable
        return self.agree_unacceptable / unacceptable if unacceptable else None

    @property
    def flagship_win_rate(self) -> float | None:
        return self.flagship_wins / self.n if self.n else None


def measure(
    variants: list[Variant], policy: ValuePolicy
) -> tuple[dict[tuple[str, str], Tally], dict[str, Any]]:
    """Tallies per (kind, file) and the differences the judge named per kind."""
    judge = ToolCallJudge(policy)
    strata: dict[tuple[str, str], Tally] = defaultdict(Tally)
    named: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for variant in variants:
        verdict = judge.judge_answers(variant.case.request, variant.cheap, variant.flagship)
        strata[(variant.kind, variant.case.file)].add(
            variant.acceptable, verdict.winner == "flagship"
        )
        named[variant.kind][str(verdict.raw.get("difference"))] += 1
    return dict(strata), {kind: dict(counts) for kind, counts in named.items()}


def _total(strata: dict[tuple[str, str], Tally], kinds: tuple[str, ...] | None = None) -> Tally:
    total = Tally()
    for (kind, _), tally in strata.items():
        if kinds is None or kind in kinds:
            for field in (
                "n",
                "acceptable",
                "agree_acceptable",
                "agree_unacceptable",
                "flagship_wins",
            ):
                setattr(total, field, getattr(total, field) + getattr(tally, field))
    return total


def targets(strata: dict[tuple[str, str], Tally]) -> list[tuple[str, float | None, bool]]:
    """(name, figure, passed) of the three targets."""
    total, form = _total(strata), _total(strata, FORM_KINDS)
    unacceptable, acceptable, wins = (
        total.unacceptable_agreement,
        total.acceptable_agreement,
        form.flagship_win_rate,
    )
    return [
        (
            f"agreement on unacceptable calls >= {TARGET_UNACCEPTABLE:.0%}",
            unacceptable,
            unacceptable is not None and unacceptable >= TARGET_UNACCEPTABLE,
        ),
        (
            f"agreement on acceptable calls >= {TARGET_ACCEPTABLE:.0%}",
            acceptable,
            acceptable is not None and acceptable >= TARGET_ACCEPTABLE,
        ),
        (
            f"flagship wins where calls differ only in form <= {TARGET_FORM_WINS:.0%}",
            wins,
            wins is not None and wins <= TARGET_FORM_WINS,
        ),
    ]


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def flagship_faults(variants: list[Variant]) -> int:
    """Flagship answers (one per case) whose calls break their tool's schema."""
    seen: set[str] = set()
    faults = 0
    for variant in variants:
        if variant.case.id in seen:
            continue
        seen.add(variant.case.id)
        schemas = variant.case.schemas()
        for call in variant.flagship.tool_calls:
            if validate(json.loads(call.arguments), schemas.get(call.name) or {}):
                faults += 1
                break
    return faults


def format_bfcl_table(
    strata: dict[tuple[str, str], Tally],
    by_policy: dict[str, dict[tuple[str, str], Tally]],
    *,
    cases: int,
    skipped: int,
    seed: int,
    faults: int,
    policy: str,
    small_model: dict[str, Any] | None = None,
) -> str:
    files = [file_label(name) for name in BFCL_FILES]
    lines = [
        f"BFCL  judge=tool-calls policy={policy} cases={cases} pairs={_total(strata).n} "
        f"seed={seed}",
        f"  skipped {skipped} cases whose ground truth rejects every call; {faults} flagship "
        "answers break their tool's schema (ground-truth values outside an enum, ...)",
        "  agreement with the ground truth per stratum (kind x file): agree% (n); "
        "'*' = below its target;",
        "  ok? = share of the kind's cheap calls the ground truth accepts",
        f"  {'kind':<20}{'ok?':>5}" + "".join(f"{f:>17}" for f in files) + f"{'all':>17}",
    ]
    for kind in (*KINDS, SMALL_MODEL_KIND):
        row = [strata.get((kind, f)) for f in files]
        if not any(row):
            continue
        total = _total({key: t for key, t in strata.items() if key[0] == kind})
        share = total.acceptable / total.n if total.n else 0.0
        cells = []
        for tally in [*row, total]:
            if tally is None:
                cells.append(f"{'':>17}")
                continue
            agreement = tally.agreement
            needed = TARGET_ACCEPTABLE if tally.acceptable * 2 >= tally.n else TARGET_UNACCEPTABLE
            mark = "*" if agreement is not None and agreement < needed else " "
            cells.append(f"{_pct(agreement) + mark + f' ({tally.n})':>17}")
        lines.append(f"  {kind:<20}{share * 100:>4.0f}%" + "".join(cells))
    below = [
        f"{kind}/{file} {_pct(tally.agreement)}"
        for (kind, file), tally in sorted(strata.items())
        if tally.agreement is not None
        and tally.agreement
        < (TARGET_ACCEPTABLE if tally.acceptable * 2 >= tally.n else TARGET_UNACCEPTABLE)
    ]
    lines.append(f"  strata below their target: {', '.join(below) if below else 'none'}")
    if small_model is not None:
        lines += summary_lines(small_model)
        lines.append(
            f"  {SMALL_MODEL_KIND}: its answers that make a call, judged against the flagship's "
            "(fixture judging/data/bfcl_smollm2_calls.json)"
        )
    form = _total(strata, FORM_KINDS)
    lines.append(
        f"  form-only pairs: flagship wins {form.flagship_wins}/{form.n} "
        f"({_pct(form.flagship_win_rate)})"
    )
    lines.append(
        "  policy          acceptable  unacceptable  form flagship wins  alt_value  wrong_value"
    )
    for name, tallies in by_policy.items():
        total, form = _total(tallies), _total(tallies, FORM_KINDS)
        acceptable, unacceptable = total.acceptable_agreement, total.unacceptable_agreement
        alt, wrong = _total(tallies, ("alt_value",)), _total(tallies, ("wrong_value",))
        lines.append(
            f"  {name:<14}{_pct(acceptable):>12}{_pct(unacceptable):>14}"
            f"{_pct(form.flagship_win_rate):>20}{_pct(alt.agreement):>11}{_pct(wrong.agreement):>13}"
        )
    for name, figure, passed in targets(strata):
        lines.append(f"  {'PASS' if passed else 'FAIL'}  {name}: {_pct(figure)}")
    return "\n".join(lines)


def _strata_json(strata: dict[tuple[str, str], Tally]) -> list[dict[str, Any]]:
    return [
        {
            "kind": kind,
            "file": file,
            "n": t.n,
            "acceptable": t.acceptable,
            "agreement": t.agreement,
            "acceptable_agreement": t.acceptable_agreement,
            "unacceptable_agreement": t.unacceptable_agreement,
            "flagship_win_rate": t.flagship_win_rate,
        }
        for (kind, file), t in sorted(strata.items())
    ]


def run_bfcl_eval(
    limit: int | None,
    out_json: Path | None = None,
    *,
    data_dir: Path | None = None,
    seed: int = DEFAULT_SEED,
    policy: ValuePolicy = "compatible",
) -> dict[str, Any]:
    """Build the variant set (``limit``: evenly spaced cases per file), judge it under every
    value policy, and return the figures with the printable table and ``passed``."""
    started = time.perf_counter()
    everything = load_bfcl(data_dir)
    pool = string_pool(everything)
    loaded = everything if limit is None else load_bfcl(data_dir, limit)
    # A flagship call the ground truth itself rejects is no reference (2 live_simple cases
    # list no acceptable value for some arguments).
    cases = [case for case in loaded if acceptable(flagship_answer(case), case)]
    # Fixed before anything is judged: the variants, and the real small model's calls on its
    # fixed subset (whatever ``limit`` is: they were generated once, see bfcl_small_model).
    small_answers = read_fixture()
    small_cases = [case for case in everything if case.id in small_answers]
    variants = build_all(cases, seed, pool) + small_model_variants(small_cases, small_answers)
    small = summary(small_cases, small_answers)
    by_policy: dict[str, dict[tuple[str, str], Tally]] = {}
    named: dict[str, Any] = {}
    for name in VALUE_POLICIES:
        by_policy[name], named_here = measure(variants, name)
        if name == policy:
            named = named_here
    strata = by_policy[policy]
    checks = targets(strata)
    table = format_bfcl_table(
        strata,
        by_policy,
        cases=len(cases),
        skipped=len(loaded) - len(cases),
        seed=seed,
        faults=flagship_faults(variants),
        policy=policy,
        small_model=small,
    )
    result = {
        "dataset": "bfcl",
        "limit": limit,
        "seed": seed,
        "policy": policy,
        "cases": len(cases),
        "skipped_cases": len(loaded) - len(cases),
        "pairs": len(variants),
        "strata": _strata_json(strata),
        "policies": {name: _strata_json(t) for name, t in by_policy.items()},
        "differences_named": named,
        "small_model": small,
        "targets": [{"target": n, "figure": f, "passed": p} for n, f, p in checks],
        "passed": all(p for _, _, p in checks),
        "seconds": time.perf_counter() - started,
        "table": table,
    }
    if out_json is not None:
        out_json.parent.mkdir(parents=True, exist_ok=True)
        out_json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result
