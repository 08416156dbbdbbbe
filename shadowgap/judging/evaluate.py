"""``judge-eval``: how well a judge agrees with ground truth on real routed pairs.

GSM8K (RouteLLM's 1,319 Mixtral/GPT-4 pairs): the judge's flagship-better / tie / cheap-better
against the correctness labels (flagship right and cheap wrong is flagship-better, both the same
is a tie, cheap right and flagship wrong is cheap-better). Reported: the confusion matrix,
accuracy, Cohen's kappa, and on rows where exactly one model is right both the agreement
(verdict equals label) and the detection rate (the judge saw a difference at all).

MT-Bench (160 question turns answered by both models, graded 1-10 by GPT-4): the Spearman rank
correlation of a grading judge's grades with GPT-4's grades of the cheap answer, and of every
judge's gap score with GPT-4's score difference (flagship - cheap). Pairwise judges also report
position consistency: how often the verdict survives swapping the answers' order.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from shadowgap.config import Settings, get_settings
from shadowgap.enums import Winner
from shadowgap.errors import FlagshipError
from shadowgap.judging.base import WINNERS, Judge
from shadowgap.judging.datasets import GsmRow, MtItem, load_gsm8k, load_mtbench
from shadowgap.schemas import Verdict

Progress = Callable[[int, int], None]  # (done, total)
Item = TypeVar("Item")


def _ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, ties sharing their average rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for position in range(start, end + 1):
            ranks[order[position]] = (start + end) / 2.0 + 1.0
        start = end + 1
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rho (Pearson on average ranks); None when either side is constant.

    >>> spearman([1, 2, 3, 4], [10, 20, 30, 40])
    1.0
    >>> spearman([1, 2, 3], [3, 2, 1])
    -1.0
    """
    if len(x) != len(y) or len(x) < 2:
        return None
    rx, ry = _ranks(x), _ranks(y)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    sxx = sum((a - mx) ** 2 for a in rx)
    syy = sum((b - my) ** 2 for b in ry)
    if sxx == 0 or syy == 0:
        return None
    return sxy / math.sqrt(sxx * syy)


def _empty_confusion() -> dict[str, dict[str, int]]:
    return {label: dict.fromkeys(WINNERS, 0) for label in WINNERS}


def cohens_kappa(confusion: dict[str, dict[str, int]]) -> float | None:
    """Agreement beyond chance between labels (rows) and verdicts (columns)."""
    total = sum(sum(row.values()) for row in confusion.values())
    if total == 0:
        return None
    observed = sum(confusion[k][k] for k in WINNERS) / total
    expected = sum(
        (sum(confusion[k].values()) / total) * (sum(confusion[r][k] for r in WINNERS) / total)
        for k in WINNERS
    )
    if expected == 1.0:
        return None
    return (observed - expected) / (1.0 - expected)


@dataclass
class _Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    first_position: int = 0
    orders: int = 0
    consistent: int = 0
    flips: int = 0
    pairs: int = 0
    errors: int = 0  # judge calls that failed

    def add(self, verdict: Verdict) -> None:
        self.prompt_tokens += verdict.prompt_tokens
        self.completion_tokens += verdict.completion_tokens
        self.cost_usd += verdict.cost_usd
        self.latency_ms += verdict.latency_ms
        orders = verdict.raw.get("orders")
        if isinstance(orders, list) and len(orders) == 2:
            self.pairs += 1
            winners = [order.get("winner") for order in orders]
            self.consistent += winners[0] == winners[1]
            self.flips += set(winners) == {"flagship", "cheap"}
            for order in orders:
                self.orders += 1
                self.first_position += order.get("choice") == "A"

    def position(self) -> tuple[float | None, float | None, float | None]:
        """(consistency, flip rate, first-position rate); Nones for single-order judges."""
        if not self.pairs:
            return None, None, None
        return (
            self.consistent / self.pairs,
            self.flips / self.pairs,
            self.first_position / self.orders,
        )


@dataclass
class GsmEval:
    judge: str
    judge_model: str | None
    prompt_version: str | None
    n: int
    errors: int
    confusion: dict[str, dict[str, int]]  # label -> verdict -> count
    accuracy: float | None
    kappa: float | None
    one_correct_n: int
    one_correct_agreement: float | None  # verdict == label where exactly one model is right
    one_correct_detected: float | None  # verdict != tie where exactly one model is right
    both_correct_tie: float | None  # verdict == tie where both are right
    position_consistency: float | None
    position_flip_rate: float | None
    first_position_rate: float | None
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    mean_latency_ms: float | None
    seconds: float


@dataclass
class MtEval:
    judge: str
    judge_model: str | None
    prompt_version: str | None
    n: int
    errors: int
    grade_spearman: float | None  # judge's grade vs GPT-4's grade of the cheap answer
    gap_spearman: float | None  # judge's gap_score vs GPT-4's (flagship - cheap) grade
    gpt4_agreement: float | None  # verdict vs the winner GPT-4's grades imply
    winners: dict[str, int]
    position_consistency: float | None
    position_flip_rate: float | None
    first_position_rate: float | None
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    mean_latency_ms: float | None
    seconds: float
    by_category: dict[str, dict[str, float | None]] = field(default_factory=dict)


def _rate(hits: int, total: int) -> float | None:
    return hits / total if total else None


def _judge_all(
    items: Sequence[Item],
    call: Callable[[Item], Verdict],
    usage: _Usage,
    progress: Progress | None,
) -> Iterator[tuple[Item, Verdict]]:
    """Each item with its verdict, its usage added up. A judge call that fails (context
    overflow, endpoint down) is counted in ``usage.errors``, not fatal."""
    for done, item in enumerate(items, start=1):
        try:
            verdict = call(item)
        except FlagshipError:
            usage.errors += 1
        else:
            usage.add(verdict)
            yield item, verdict
        if progress is not None:
            progress(done, len(items))


def _shared_fields(judge: Judge, usage: _Usage, judged: int, started: float) -> dict[str, Any]:
    """What both reports say besides their metrics: the judge, its position bias, its usage."""
    consistency, flip_rate, first_rate = usage.position()
    return {
        "judge": judge.name,
        "judge_model": judge.model,
        "prompt_version": judge.prompt_version,
        "position_consistency": consistency,
        "position_flip_rate": flip_rate,
        "first_position_rate": first_rate,
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "cost_usd": usage.cost_usd,
        "mean_latency_ms": usage.latency_ms / judged if judged else None,
        "seconds": time.perf_counter() - started,
    }


def _judge_row(judge: Judge, row: GsmRow) -> Verdict:
    with_reference = getattr(judge, "judge_with_reference", None)
    if row.reference is not None and callable(with_reference):
        verdict: Verdict = with_reference(row.question, row.cheap, row.flagship, row.reference)
        return verdict
    return judge.judge(row.question, row.cheap, row.flagship)


def evaluate_gsm8k(
    judge: Judge, rows: Sequence[GsmRow], progress: Progress | None = None
) -> GsmEval:
    started = time.perf_counter()
    confusion = _empty_confusion()
    usage = _Usage()
    one_n = one_agree = one_detect = both_n = both_tie = 0
    for row, verdict in _judge_all(rows, lambda row: _judge_row(judge, row), usage, progress):
        confusion[row.label][verdict.winner] += 1
        if row.exactly_one_correct:
            one_n += 1
            one_agree += verdict.winner == row.label
            one_detect += verdict.winner != Winner.TIE
        elif row.cheap_correct:
            both_n += 1
            both_tie += verdict.winner == Winner.TIE
    judged = len(rows) - usage.errors
    return GsmEval(
        n=judged,
        errors=usage.errors,
        confusion=confusion,
        accuracy=_rate(sum(confusion[k][k] for k in WINNERS), judged),
        kappa=cohens_kappa(confusion),
        one_correct_n=one_n,
        one_correct_agreement=_rate(one_agree, one_n),
        one_correct_detected=_rate(one_detect, one_n),
        both_correct_tie=_rate(both_tie, both_n),
        **_shared_fields(judge, usage, judged, started),
    )


def _gpt4_winner(item: MtItem) -> str:
    if item.flagship_score > item.cheap_score:
        return "flagship"
    return "cheap" if item.flagship_score < item.cheap_score else "tie"


def evaluate_mtbench(
    judge: Judge, items: Sequence[MtItem], progress: Progress | None = None
) -> MtEval:
    started = time.perf_counter()
    usage = _Usage()
    winners: dict[str, int] = dict.fromkeys(WINNERS, 0)
    grades: list[tuple[float, float, str]] = []  # (judge grade, GPT-4 grade, category)
    gaps: list[tuple[float, float, str]] = []  # (gap_score, GPT-4 difference, category)
    agree = 0
    judged_items = _judge_all(
        items, lambda item: judge.judge(item.question, item.cheap, item.flagship), usage, progress
    )
    for item, verdict in judged_items:
        winners[verdict.winner] += 1
        agree += verdict.winner == _gpt4_winner(item)
        difference = item.flagship_score - item.cheap_score
        gaps.append((verdict.gap_score, difference, item.category))
        grade = verdict.raw.get("grade")
        if isinstance(grade, int | float):
            grades.append((float(grade), item.cheap_score, item.category))
    judged = len(items) - usage.errors
    by_category: dict[str, dict[str, float | None]] = {}
    for category in sorted({item.category for item in items}):
        cat_gaps = [(a, b) for a, b, c in gaps if c == category]
        cat_grades = [(a, b) for a, b, c in grades if c == category]
        by_category[category] = {
            "n": float(len(cat_gaps)),
            "gap_spearman": spearman([a for a, _ in cat_gaps], [b for _, b in cat_gaps]),
            "grade_spearman": spearman([a for a, _ in cat_grades], [b for _, b in cat_grades]),
        }
    return MtEval(
        n=judged,
        errors=usage.errors,
        grade_spearman=spearman([a for a, _, _ in grades], [b for _, b, _ in grades]),
        gap_spearman=spearman([a for a, _, _ in gaps], [b for _, b, _ in gaps]),
        gpt4_agreement=_rate(agree, judged),
        winners=winners,
        by_category=by_category,
        **_shared_fields(judge, usage, judged, started),
    )


def _fmt(value: float | None, percent: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value * 100:.1f}%" if percent else f"{value:.3f}"


def format_table(gsm: GsmEval | None = None, mt: MtEval | None = None) -> str:
    """Plain-text report: GSM8K confusion matrix and metrics, then MT-Bench metrics."""
    lines: list[str] = []
    if gsm is not None:
        lines.append(
            f"GSM8K  judge={gsm.judge} model={gsm.judge_model or '-'} n={gsm.n} "
            f"errors={gsm.errors} ({gsm.seconds:.1f}s)"
        )
        header = "label \\ verdict"
        lines.append(f"  {header:<18}" + "".join(f"{w:>10}" for w in WINNERS))
        for label in WINNERS:
            row = gsm.confusion[label]
            lines.append(
                f"  {label + '-better' if label != 'tie' else 'tie':<18}"
                + "".join(f"{row[w]:>10}" for w in WINNERS)
            )
        lines += [
            f"  accuracy                          {_fmt(gsm.accuracy, True)}",
            f"  Cohen's kappa                     {_fmt(gsm.kappa)}",
            f"  exactly-one-correct rows          {gsm.one_correct_n}",
            f"    verdict == label                {_fmt(gsm.one_correct_agreement, True)}",
            f"    difference detected (not tie)   {_fmt(gsm.one_correct_detected, True)}",
            f"  both-correct rows judged tie      {_fmt(gsm.both_correct_tie, True)}",
        ]
        if gsm.position_consistency is not None:
            lines += [
                f"  position consistency              {_fmt(gsm.position_consistency, True)}",
                f"  order swap flips the winner       {_fmt(gsm.position_flip_rate, True)}",
                f"  picks the first answer (A)        {_fmt(gsm.first_position_rate, True)}",
            ]
        lines.append(
            f"  tokens {gsm.prompt_tokens}+{gsm.completion_tokens}  cost ${gsm.cost_usd:.4f}  "
            f"mean latency {_fmt(gsm.mean_latency_ms and gsm.mean_latency_ms / 1000)}s"
        )
    if mt is not None:
        lines.append(
            f"MT-Bench  judge={mt.judge} model={mt.judge_model or '-'} n={mt.n} "
            f"errors={mt.errors} ({mt.seconds:.1f}s)"
        )
        lines += [
            f"  Spearman(grade, GPT-4 grade)      {_fmt(mt.grade_spearman)}",
            f"  Spearman(gap, GPT-4 difference)   {_fmt(mt.gap_spearman)}",
            f"  agreement with GPT-4's winner     {_fmt(mt.gpt4_agreement, True)}",
            "  verdicts                          "
            + ", ".join(f"{w} {mt.winners[w]}" for w in WINNERS),
        ]
        if mt.position_consistency is not None:
            lines += [
                f"  position consistency              {_fmt(mt.position_consistency, True)}",
                f"  order swap flips the winner       {_fmt(mt.position_flip_rate, True)}",
                f"  picks the first answer (A)        {_fmt(mt.first_position_rate, True)}",
            ]
    return "\n".join(lines)


def to_json(gsm: GsmEval | None, mt: MtEval | None) -> dict[str, Any]:
    return {
        "gsm8k": asdict(gsm) if gsm is not None else None,
        "mt_bench": asdict(mt) if mt is not None else None,
    }


def run_judge_eval(
    judge_name: str,
    limit: int | None,
    out_json: Path,
    progress: Progress | None = None,
    *,
    data_dir: Path | None = None,
    settings: Settings | None = None,
    datasets: Sequence[str] = ("gsm8k", "mt-bench"),
) -> dict[str, Any]:
    """Evaluate one judge on GSM8K and MT-Bench (``limit`` evenly spaced items of each).

    Writes the results to ``out_json`` and returns them, with the printable table under
    ``"table"``. ``progress(done, total)`` is called after every judged item, counting
    across both datasets.
    """
    from shadowgap.judging.factory import judge_by_name

    judge = judge_by_name(judge_name, settings or get_settings())
    rows = load_gsm8k(data_dir, limit) if "gsm8k" in datasets else []
    items = load_mtbench(data_dir, limit) if "mt-bench" in datasets else []
    total = len(rows) + len(items)

    def offset(base: int) -> Progress | None:
        report = progress
        if report is None:
            return None
        return lambda done, _: report(base + done, total)

    gsm = evaluate_gsm8k(judge, rows, offset(0)) if rows else None
    mt = evaluate_mtbench(judge, items, offset(len(rows))) if items else None
    result = {
        "judge": judge_name,
        "limit": limit,
        **to_json(gsm, mt),
        "table": format_table(gsm, mt),
    }
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result
