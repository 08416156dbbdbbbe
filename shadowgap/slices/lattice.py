"""The slice search: conjunctions of up to three feature conditions whose excess gap is
significantly above the rest of the window's traffic. Pure numpy/scipy, no database: the
discovery job (:mod:`shadowgap.slices.discovery`) and ``benchmarks/slices.py`` both call
:func:`search` on a :class:`PairTable`.

**Input.** One row per judged pair (a 'gap' verdict), with ``y`` = 1 when the flagship won,
the Hajek weight ``w = 1 / inclusion_probability``, the outcome of its noise-floor verdict when
the event has one, and its slice features in long form (row, value code), so a multi-valued
feature (tags) simply sets several codes. The rows become a sparse 0/1 matrix X (rows x
feature values); the ten weighted sums every test needs (gap and noise: n, w, wy, w^2, w^2 y)
are one sparse product ``X_sub^T V_sub`` per expanded parent.

**Lattice and pruning** (the SliceLine idea of growing only what can still matter):

* level 1: every feature value with at least ``min_pairs`` judged pairs (and at least that many
  outside it). A value below the support can never have a child above it, so the long tail of
  users and one-off prompt templates (most of the distinct values) is dropped at once.
* level k+1: only the ``beam`` most significant level-k slices with a positive effect are
  expanded, each with every level-1 value, in one product over the parent's rows. A child is
  kept when it has ``min_pairs`` pairs and is a *strict* refinement of every parent it has: when
  a child has as many pairs as one of its (k)-subsets, a condition is implied by the others
  (team=support inside tenant=acme) and the child is that subset, already tested.

**False discoveries.** Every kept candidate is one hypothesis (a one-sided test of its excess
gap against the complement's, :func:`shadowgap.stats.two_sample.excess_gap_greater`, whose z is
the signed root of the likelihood ratio, calibrated in the far tail where the score z made
50-pair null slices look about 5x more significant than they were), and weighted
Benjamini-Hochberg at level ``fdr`` runs over the whole *eligible* family: every value (level
1), every non-nested pair with the minimum support (level 2, counted exactly from the
co-occurrence counts), and for level 3 the tested children per expanded parent times the
eligible pairs (an estimate). The family is the eligible one, not the tested one, because the
beam picks parents by their z, so the children it tests lean towards positive z. Each level
gets an equal share of the budget (:func:`level_weights`): a single condition is tested at about
``fdr / (3 m1)`` instead of ``fdr / (m1 + m2 + m3)``, with the weights fixed by the features
before any outcome is seen. Why BH rather than alpha-investing: the candidates are tested as
one batch, not in a stream, so alpha-investing's advantage (validity under an order chosen on
the fly) buys nothing while its power depends on testing the true slices early; weighted BH is
valid under positive dependence (PRDS) of one-sided tests, which is what overlapping slices
produce (they share rows), and under the global null it bounds the chance of any discovery by
``fdr``. The benchmark's null runs measure the false discoveries per run end to end. Alerts
additionally require confirmation on later, disjoint data.

**Reporting.** Significant slices overlap (a regressed slice makes its parents and children
significant too), so they are grouped greedily: in order of z, a slice is kept unless at least
``max_overlap`` of the smaller one's pairs fall in a slice already kept. The group is named by
the most specific description that carries its excess: starting from the most significant
member, a narrower significant slice it mostly contains replaces it when the rows it adds are
not significantly worse than the traffic outside both (:class:`_Narrowing`); then a wider
description replaces that when the narrowing is unsupported: the wider significant slice's
other rows are regressed too and neither they nor the narrow slice are significantly worse
(:meth:`_Narrowing.widest_supported`: a regressed tenant, not one of its teams). Groups are
ranked by score = effect x size (excess gap over the complement x estimated traffic share).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

from shadowgap.stats.excess_gap import ExcessGap, WeightedSums, excess_gap
from shadowgap.stats.two_sample import SumArrays, benjamini_hochberg, excess_gap_greater

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
FeatureValue = tuple[str, str]
# A slice's own noise floor enters the comparison only from this many noise pairs; below it
# both sides use the pooled floor. (Reported estimates keep the service-wide rule of 30 pairs:
# but a floor from 30 pairs has a standard error as large as the gap's own at 60 pairs, so it
# would double the variance of the test, and the floor is mostly a model property.)
OWN_FLOOR_MIN_NOISE_PAIRS = 200
# A narrower description replaces a wider one only when its extra condition is supported: the
# slice is worse than the rest of the wider one at this one-sided level.
REFINEMENT_ALPHA = 0.05
# Columns of the per-row statistics matrix: gap sums, then noise sums.
GAP = slice(0, 5)
NOISE = slice(5, 10)


@dataclass(frozen=True)
class SearchParams:
    min_pairs: int = 50
    max_conditions: int = 3
    beam: int = 30
    fdr: float = 0.05
    max_overlap: float = 0.5
    max_results: int = 20
    max_examples: int = 3


@dataclass
class PairTable:
    """Judged pairs with their slice features in long form (see the module doc)."""

    event_ids: list[str]
    y: FloatArray
    w: FloatArray
    # 1 when the event's noise-floor verdict had the flagship win, 0 when not, NaN when none.
    noise_y: FloatArray
    rows: IntArray
    codes: IntArray
    values: list[FeatureValue]

    def __len__(self) -> int:
        return len(self.y)


def encode_features(
    features: Sequence[Mapping[str, str | list[str] | None]],
) -> tuple[IntArray, IntArray, list[FeatureValue]]:
    """Long form (row, code) of per-row feature dicts, and the code -> (feature, value) list.
    A list value (tags) sets one code per element; None and empty values set none."""
    index: dict[FeatureValue, int] = {}
    values: list[FeatureValue] = []
    rows: list[int] = []
    codes: list[int] = []
    for row, mapping in enumerate(features):
        for name, raw in mapping.items():
            items: Iterable[str]
            if raw is None or raw == "":
                continue
            items = raw if isinstance(raw, list) else (raw,)
            for item in items:
                key = (name, str(item))
                code = index.get(key)
                if code is None:
                    code = index[key] = len(values)
                    values.append(key)
                rows.append(row)
                codes.append(code)
    return np.asarray(rows, dtype=np.int64), np.asarray(codes, dtype=np.int64), values


def build_table(
    event_ids: list[str],
    y: Sequence[float],
    w: Sequence[float],
    noise_y: Sequence[float | None],
    features: Sequence[Mapping[str, str | list[str] | None]],
) -> PairTable:
    rows, codes, values = encode_features(features)
    return PairTable(
        event_ids=event_ids,
        y=np.asarray(y, dtype=np.float64),
        w=np.asarray(w, dtype=np.float64),
        noise_y=np.asarray([np.nan if v is None else v for v in noise_y], dtype=np.float64),
        rows=rows,
        codes=codes,
        values=values,
    )


@dataclass
class Candidate:
    conditions: tuple[int, ...]
    sums: FloatArray  # the ten sums
    z: float = 0.0
    p_value: float = 1.0
    q_value: float = 1.0
    difference: float = 0.0


@dataclass
class FoundSlice:
    """A discovered slice, as reported."""

    conditions: list[FeatureValue]
    n: int
    traffic_share: float  # estimated share of the judged population (cheap traffic)
    excess: dict[str, float | int | str | None]
    complement: dict[str, float | int | str | None]
    difference: float
    z: float
    p_value: float
    q_value: float
    score: float
    example_event_ids: list[str]
    members: NDArray[np.bool_] = field(repr=False)


@dataclass
class SearchResult:
    slices: list[FoundSlice]
    tested: int
    significant: int
    level_counts: dict[int, int]
    total: WeightedSums
    global_noise: WeightedSums
    # Hypotheses BH accounts for at each level (the eligible family, tested or not).
    families: dict[int, int] = field(default_factory=dict)
    # The largest z of a tested candidate with a positive effect, significant or not: on
    # stationary traffic its distribution is what any threshold over this search must beat.
    max_z: float = 0.0


def _statistics(table: PairTable) -> FloatArray:
    w, y = table.w, table.y
    has_noise = np.isfinite(table.noise_y).astype(np.float64)
    noise_y = np.nan_to_num(table.noise_y)
    w2 = w * w
    return np.column_stack(
        [
            np.ones_like(w),
            w,
            w * y,
            w2,
            w2 * y,
            has_noise,
            w * has_noise,
            w * noise_y * has_noise,
            w2 * has_noise,
            w2 * noise_y * has_noise,
        ]
    )


def _test(sums: FloatArray, total: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(difference, z, p) of each candidate (rows of ``sums``) against its complement."""
    inside = np.atleast_2d(sums)
    rest = np.atleast_2d(total) - inside
    result = excess_gap_greater(
        SumArrays.from_matrix(inside[:, GAP]),
        SumArrays.from_matrix(rest[:, GAP]),
        SumArrays.from_matrix(inside[:, NOISE]),
        SumArrays.from_matrix(rest[:, NOISE]),
        min_noise_pairs=OWN_FLOOR_MIN_NOISE_PAIRS,
    )
    return result.difference, result.z, result.p_value


class _Lattice:
    def __init__(self, table: PairTable, params: SearchParams) -> None:
        n = len(table)
        self.params = params
        self.n = n
        matrix = sparse.csr_matrix(
            (np.ones(len(table.rows)), (table.rows, table.codes)), shape=(n, len(table.values))
        )
        matrix.data[:] = 1.0  # a value repeated on a row (duplicate tag) still counts once
        self.x = matrix.tocsr()
        self.xc = matrix.tocsc()
        self.v = _statistics(table)
        self.total = self.v.sum(axis=0)

    def column_rows(self, code: int) -> IntArray:
        start, end = self.xc.indptr[code], self.xc.indptr[code + 1]
        return np.asarray(self.xc.indices[start:end], dtype=np.int64)

    def rows_of(self, conditions: tuple[int, ...]) -> IntArray:
        rows = self.column_rows(conditions[0])
        for code in conditions[1:]:
            rows = np.intersect1d(rows, self.column_rows(code), assume_unique=True)
        return rows

    def child_sums(self, rows: IntArray, allowed: NDArray[np.bool_]) -> FloatArray:
        """Sums of every value's conjunction with the rows' slice (0 for values not allowed)."""
        sub = self.x[rows]
        sums = np.asarray(sub.T @ self.v[rows])
        sums[~allowed] = 0.0
        return sums

    def child_counts(self, rows: IntArray) -> FloatArray:
        return np.asarray(self.x[rows].sum(axis=0)).ravel()


def search(table: PairTable, params: SearchParams | None = None) -> SearchResult:
    """Find significantly regressed slices (module doc)."""
    params = params or SearchParams()
    lattice = _Lattice(table, params)
    total = lattice.total
    empty = SearchResult([], 0, 0, {}, WeightedSums.of(total[GAP]), WeightedSums())
    if len(table) < 2 * params.min_pairs or not table.values:
        empty.global_noise = WeightedSums.of(total[NOISE])
        return empty
    level1 = np.asarray(lattice.x.T @ lattice.v)
    counts1 = level1[:, 0]
    allowed = (counts1 >= params.min_pairs) & (counts1 <= len(table) - params.min_pairs)

    candidates, level_counts = _grow(lattice, level1, allowed, params)
    found = list(candidates.values())
    families = _family_sizes(lattice, allowed, counts1, level_counts, params)
    weights = level_weights(families)
    q_values = benjamini_hochberg(
        np.asarray([c.p_value for c in found]),
        sum(families.values()),
        np.asarray([weights[len(c.conditions)] for c in found]),
    )
    for candidate, q in zip(found, q_values, strict=True):
        candidate.q_value = float(q)
    significant = [c for c in found if c.q_value <= params.fdr and c.difference > 0]
    global_noise = WeightedSums.of(total[NOISE])
    slices = _report(lattice, table, significant, global_noise, params)
    return SearchResult(
        slices,
        tested=len(found),
        significant=len(significant),
        level_counts=level_counts,
        total=WeightedSums.of(total[GAP]),
        global_noise=global_noise,
        families=families,
        max_z=max((c.z for c in found if c.difference > 0), default=0.0),
    )


def _grow(
    lattice: _Lattice, level1: FloatArray, allowed: NDArray[np.bool_], params: SearchParams
) -> tuple[dict[tuple[int, ...], Candidate], dict[int, int]]:
    """Every candidate the beam tests, with its nominal (difference, z, p), and the count of
    each level."""
    counts1 = level1[:, 0]
    candidates: dict[tuple[int, ...], Candidate] = {}
    level: list[Candidate] = [
        Candidate((int(code),), level1[code]) for code in np.flatnonzero(allowed)
    ]
    level_counts: dict[int, int] = {}
    for depth in range(1, params.max_conditions + 1):
        if not level:
            break
        sums = np.vstack([c.sums for c in level])
        diff, z, p = _test(sums, lattice.total)
        for candidate, d, zz, pp in zip(level, diff, z, p, strict=True):
            candidate.difference, candidate.z, candidate.p_value = float(d), float(zz), float(pp)
            candidates[candidate.conditions] = candidate
        level_counts[depth] = len(level)
        if depth == params.max_conditions:
            break
        level = _expand(lattice, level, candidates, allowed, counts1, params)
    return candidates, level_counts


@dataclass
class Suggestive:
    """A slice whose nominal evidence is suggestive (no multiplicity correction): what
    exploration watches (:mod:`shadowgap.slices.exploration`)."""

    conditions: list[FeatureValue]
    n: int
    weight: float  # sum of Hajek weights: the estimated cheap requests behind its pairs
    difference: float
    z: float
    p_value: float


def screen(table: PairTable, params: SearchParams, p_max: float) -> list[Suggestive]:
    """Slices with ``min_pairs`` pairs whose nominal one-sided p is at most ``p_max`` and
    whose excess is positive, most significant first. The same lattice and beam as
    :func:`search`, but no Benjamini-Hochberg: the output only steers sampling, it never
    alerts (confirmation runs on later pairs)."""
    lattice = _Lattice(table, params)
    if len(table) < 2 * params.min_pairs or not table.values:
        return []
    level1 = np.asarray(lattice.x.T @ lattice.v)
    counts1 = level1[:, 0]
    allowed = (counts1 >= params.min_pairs) & (counts1 <= len(table) - params.min_pairs)
    candidates, _ = _grow(lattice, level1, allowed, params)
    chosen = sorted(
        (c for c in candidates.values() if c.difference > 0 and c.p_value <= p_max),
        key=lambda c: -c.z,
    )
    return [
        Suggestive(
            [table.values[code] for code in c.conditions],
            int(c.sums[0]),
            float(c.sums[1]),
            c.difference,
            c.z,
            c.p_value,
        )
        for c in chosen
    ]


def compare(
    table: PairTable, members: NDArray[np.bool_], other_table: PairTable, other: NDArray[np.bool_]
) -> dict[str, float]:
    """One-sided test that the members of ``table`` have a higher excess gap than the members
    of ``other_table`` (disjoint rows)."""
    inside = sums_of(table, members) if len(table) else np.zeros(10)
    outside = sums_of(other_table, other) if len(other_table) else np.zeros(10)
    difference, z, p = _test(inside, inside + outside)
    return {
        "difference": float(np.nan_to_num(difference[0])),
        "z": float(z[0]),
        "p_value": float(p[0]),
    }


def level_weights(families: Mapping[int, int]) -> dict[int, float]:
    """BH weight of one hypothesis of each level: every level gets an equal share of the
    error budget, split evenly among its hypotheses (weights average 1 over the family).

    Why: the eligible family grows combinatorially with the number of conditions (a hundred
    values, a thousand pairs, more triples), so unweighted BH gives each single condition the
    tiny share of one triple. Nothing says a regression is likelier to need three conditions
    than one, so each number of conditions gets the same budget, fixed before any outcome is
    seen (the weights depend on the features only). A single value is then tested at about
    q / (3 m1) instead of q / (m1 + m2 + m3); pairs and triples at about what they had.
    """
    total = sum(families.values())
    return {level: total / (len(families) * size) for level, size in families.items()}


def _family_sizes(
    lattice: _Lattice,
    allowed: NDArray[np.bool_],
    counts1: FloatArray,
    level_counts: dict[int, int],
    params: SearchParams,
) -> dict[int, int]:
    """How many hypotheses the search *could* have tested, whatever the outcomes.

    The beam picks parents by their z, so the children actually tested are a data-dependent
    selection that leans towards positive z; counting only them inflates false discoveries
    (the synthetic null runs showed it). So BH runs over the whole eligible family: every value
    (level 1), every non-nested pair with the minimum support (level 2, counted exactly from
    the co-occurrence counts), and for level 3 the tested children per expanded parent times
    the eligible pairs (an estimate: counting every eligible triple costs what the beam saves).
    """
    sizes = {1: max(level_counts.get(1, 0), 1)}
    if params.max_conditions < 2 or level_counts.get(1, 0) == 0:
        return sizes
    columns = np.flatnonzero(allowed)
    sub = lattice.xc[:, columns]
    pair_counts = sparse.triu(sub.T @ sub, k=1).tocoo()
    c = counts1[columns]
    eligible = (
        (pair_counts.data >= params.min_pairs)
        & (pair_counts.data < c[pair_counts.row])
        & (pair_counts.data < c[pair_counts.col])
    )
    pairs = int(eligible.sum())
    if max(pairs, level_counts.get(2, 0)):
        sizes[2] = max(pairs, level_counts.get(2, 0))
    if params.max_conditions >= 3 and level_counts.get(3, 0):
        expanded = max(1, min(params.beam, level_counts.get(2, 0)))
        sizes[3] = max(level_counts[3], int(level_counts[3] / expanded * pairs))
    return sizes


def _expand(
    lattice: _Lattice,
    level: list[Candidate],
    seen: dict[tuple[int, ...], Candidate],
    allowed: NDArray[np.bool_],
    counts1: FloatArray,
    params: SearchParams,
) -> list[Candidate]:
    """Children of the ``beam`` most significant candidates with a positive effect."""
    promising = sorted((c for c in level if c.difference > 0), key=lambda c: -c.z)[: params.beam]
    children: dict[tuple[int, ...], Candidate] = {}
    for parent in promising:
        rows = lattice.rows_of(parent.conditions)
        sums = lattice.child_sums(rows, allowed)
        counts = sums[:, 0]
        ok = (counts >= params.min_pairs) & (counts < len(rows)) & (counts < counts1)
        ok[list(parent.conditions)] = False
        if len(parent.conditions) > 1 and ok.any():
            # The child must also be strictly smaller than each subset that drops one of the
            # parent's conditions (else that condition is implied and the child is the subset).
            for dropped in range(len(parent.conditions)):
                rest = parent.conditions[:dropped] + parent.conditions[dropped + 1 :]
                ok &= counts < lattice.child_counts(lattice.rows_of(rest))
        for code in np.flatnonzero(ok):
            key = tuple(sorted((*parent.conditions, int(code))))
            if key in seen or key in children:
                continue
            children[key] = Candidate(key, sums[code])
    return list(children.values())


class _Narrowing:
    """The most specific significant description of each significant slice.

    The most significant description of a regressed slice is often a wider one that picked up
    rows outside it which, by chance, held a few more flagship wins (region=eu & surface=api
    around one team's slice): it then names the group while the slice itself, nearly as
    significant, is dropped as an overlap. A narrower significant slice C that overlaps the
    candidate B (at least half of C inside B) replaces it when B's rows outside C are not
    significantly worse than the traffic outside both (so B's extra rows carry no excess);
    among such slices the most significant wins, and the step repeats from there. Vectorised
    over the significant slices (one sparse membership matrix), so it stays linear in them.
    """

    def __init__(self, lattice: _Lattice, significant: list[Candidate]) -> None:
        self.lattice = lattice
        self.significant = significant
        self.index = {c.conditions: i for i, c in enumerate(significant)}
        rows = [lattice.rows_of(c.conditions) for c in significant]
        self.rows = rows
        lengths = [len(r) for r in rows]
        self.members = sparse.csc_matrix(
            (
                np.ones(sum(lengths)),
                (
                    np.repeat(np.arange(len(rows)), lengths),
                    np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64),
                ),
            ),
            shape=(len(rows), lattice.n),
        )
        self.sums = np.vstack([c.sums for c in significant]) if significant else np.zeros((0, 10))
        self.z = np.asarray([c.z for c in significant])

    def widest_supported(self, candidate: Candidate) -> Candidate:
        """The wider significant description the candidate narrows without support.

        The most significant description of a regressed slice can be narrower than the slice:
        an extra condition trimmed rows that, by chance, held fewer flagship wins (a third
        condition on a two-condition slice), or one part of it stood out (one team of a
        regressed tenant). A significant slice W that holds every row of the candidate C
        replaces it when W's other rows are regressed too (significantly worse than the
        traffic outside W) and alike C (neither significantly worse than the other: the
        narrowing is unsupported, and C is no milder part of a worse slice); among several,
        the most significant, and the step repeats from there.
        Every wider slice counts, not only the ones named by dropping a condition: a team's
        tenant is wider although "tenant" is none of the team slice's conditions. The first
        test is :meth:`most_specific`'s, so the two never undo each other.
        """
        current = self.index[candidate.conditions]
        while True:
            mine = self.rows[current]
            held = np.asarray(self.members[:, mine].sum(axis=1)).ravel()  # its rows in each
            wider = np.flatnonzero((held >= len(mine)) & (self.sums[:, 0] > len(mine)))
            if not wider.size:
                return self.significant[current]
            extra = self.sums[wider] - self.sums[current]  # W's rows outside C
            outside = self.lattice.total - self.sums[wider]
            _, _, p_extra = _test(extra, extra + outside)
            # C and W's other rows alike: neither is significantly worse than the other.
            inside = np.broadcast_to(self.sums[current], extra.shape)
            _, _, p_narrow = _test(inside, inside + extra)
            _, _, p_rest = _test(extra, inside + extra)
            alike = (p_narrow > REFINEMENT_ALPHA) & (p_rest > REFINEMENT_ALPHA)
            supported = wider[(p_extra <= REFINEMENT_ALPHA) & alike]
            if not supported.size:
                return self.significant[current]
            current = int(supported[np.argmax(self.z[supported])])

    def most_specific(self, candidate: Candidate) -> Candidate:
        current = self.index[candidate.conditions]
        while True:
            mine = self.rows[current]
            both = np.asarray(self.members[:, mine] @ self.lattice.v[mine])  # C and B, per C
            n_other = self.sums[:, 0]
            eligible = (n_other < self.sums[current, 0]) & (2 * both[:, 0] >= n_other)
            if not eligible.any():
                return self.significant[current]
            outside_other = self.sums[current] - both  # B's rows outside C
            rest = self.lattice.total - self.sums[current] - self.sums + both  # outside both
            _, _, p = _test(outside_other, outside_other + rest)
            better = eligible & ((outside_other[:, 0] <= 0) | (p > REFINEMENT_ALPHA))
            if not better.any():
                return self.significant[current]
            current = int(np.flatnonzero(better)[np.argmax(self.z[better])])


def _report(
    lattice: _Lattice,
    table: PairTable,
    significant: list[Candidate],
    global_noise: WeightedSums,
    params: SearchParams,
) -> list[FoundSlice]:
    kept: list[tuple[Candidate, NDArray[np.bool_]]] = []
    narrowing = _Narrowing(lattice, significant)
    chosen: set[tuple[int, ...]] = set()
    for best in sorted(significant, key=lambda c: -c.z):
        candidate = narrowing.widest_supported(narrowing.most_specific(best))
        if candidate.conditions in chosen:
            continue
        chosen.add(candidate.conditions)
        members = np.zeros(lattice.n, dtype=bool)
        members[narrowing.rows[narrowing.index[candidate.conditions]]] = True  # rows known
        size = members.sum()
        if any(
            (members & other).sum() >= params.max_overlap * min(size, other.sum())
            for _, other in kept
        ):
            continue
        kept.append((candidate, members))
    total_w = float(lattice.total[1])
    out: list[FoundSlice] = []
    for candidate, members in kept:
        sums, rest = candidate.sums, lattice.total - candidate.sums
        share = float(sums[1]) / total_w if total_w > 0 else 0.0
        inside = excess_gap(WeightedSums.of(sums[GAP]), WeightedSums.of(sums[NOISE]), global_noise)
        outside = excess_gap(WeightedSums.of(rest[GAP]), WeightedSums.of(rest[NOISE]), global_noise)
        out.append(
            FoundSlice(
                conditions=[table.values[code] for code in candidate.conditions],
                n=int(sums[0]),
                traffic_share=share,
                excess=excess_dict(inside),
                complement=excess_dict(outside),
                difference=candidate.difference,
                z=candidate.z,
                p_value=candidate.p_value,
                q_value=candidate.q_value,
                score=candidate.difference * share,
                example_event_ids=_examples(table, members, params.max_examples),
                members=members,
            )
        )
    out.sort(key=lambda s: -s.score)
    return out[: params.max_results]


def excess_dict(gap: ExcessGap) -> dict[str, float | int | str | None]:
    """The fields of an :class:`shadowgap.stats.excess_gap.ExcessGap` as plain JSON values."""
    fields = ("gap_rate", "noise_rate", "excess", "ci_low", "ci_high", "gap_pairs", "noise_pairs")
    out: dict[str, float | int | str | None] = {name: getattr(gap, name) for name in fields}
    out["noise_source"] = gap.noise_source
    return out


def _examples(table: PairTable, members: NDArray[np.bool_], limit: int) -> list[str]:
    """Latest flagship wins in the slice first (rows are in event order), then other pairs."""
    rows = np.flatnonzero(members)[::-1]
    wins = rows[table.y[rows] > 0.5]
    chosen = (
        list(wins[:limit]) + [r for r in rows if table.y[r] <= 0.5][: max(0, limit - len(wins))]
    )
    return [table.event_ids[r] for r in chosen[:limit]]


def members_of(table: PairTable, conditions: Sequence[FeatureValue]) -> NDArray[np.bool_]:
    """Rows of ``table`` inside the conjunction (False everywhere when a value is unseen)."""
    index = {value: code for code, value in enumerate(table.values)}
    members = np.ones(len(table), dtype=bool)
    for condition in conditions:
        code = index.get((condition[0], condition[1]))
        hit = np.zeros(len(table), dtype=bool)
        if code is not None:
            hit[table.rows[table.codes == code]] = True
        members &= hit
    return members


def sums_of(table: PairTable, members: NDArray[np.bool_]) -> FloatArray:
    """The ten sums over the member rows (gap then noise)."""
    return _statistics(table)[members].sum(axis=0)
