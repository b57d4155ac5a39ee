"""How much a room of raters agrees about pairs: percent agreement and Krippendorff's alpha, per pair and overall.

Split off :mod:`rlhf_lite.pooling` (which reads everyone's label files into :class:`Rating` s and re-exports all
of this): a rating says which of a pair's two items (in a fixed order, whichever side each was shown on) a rater
preferred, so it works for any kind of item (clips, text completions).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from rlhf_lite.preferences import PreferenceRecord

__all__ = ["CATEGORIES", "Rating", "krippendorff_alpha", "PairAgreement", "Agreement", "agreement"]

CATEGORIES = ("first", "second", "equal")
"""What a rating says about a pair, with the pair's items in a fixed order (sorted by name), whichever side each
was shown on: the first is better, the second is, or both are equally good. ``cant_tell`` is no rating."""


@dataclasses.dataclass(frozen=True)
class Rating:
    """One rater's live answer about one pair: ``key`` (the two items' names, sorted: their uids, or for text
    without uids their content), ``category`` (one of
    :data:`CATEGORIES`, or ``None`` for ``cant_tell``), and the record it came from."""

    rater: str
    key: tuple[str, str]
    category: str | None
    record: PreferenceRecord


def krippendorff_alpha(ratings: np.ndarray) -> float:
    """Krippendorff's alpha for nominal ratings ``[units, raters]`` (any labels; ``None`` or ``nan`` = missing).

    ``alpha = 1 - D_o / D_e``: observed disagreement within units against the disagreement expected if the
    same values were paired at random. 1 is full agreement, 0 agreement at chance level, below 0 worse than
    chance. Units with fewer than two ratings carry no information about agreement and are left out, so raters
    may have rated different subsets (Krippendorff 2011, *Computing Krippendorff's Alpha-Reliability*).
    ``nan`` when fewer than two ratings can be paired or every rating is the same value (0 / 0).
    """
    table = np.asarray(ratings, dtype=object)
    if table.ndim != 2:
        raise ValueError(f"ratings must be a 2-D table [units, raters], got shape {table.shape}")

    def missing(v: Any) -> bool:
        return v is None or (isinstance(v, float) and np.isnan(v))

    values = sorted({v for v in table.ravel() if not missing(v)}, key=repr)
    index = {v: i for i, v in enumerate(values)}
    coincidence = np.zeros((len(values), len(values)))
    for row in table:
        counts = np.zeros(len(values))
        for v in row:
            if not missing(v):
                counts[index[v]] += 1
        m = counts.sum()
        if m < 2:
            continue
        # every ordered pair of two different ratings in this unit, weighted 1 / (m - 1)
        coincidence += (np.outer(counts, counts) - np.diag(counts)) / (m - 1)
    n_c = coincidence.sum(axis=1)
    n = n_c.sum()
    if n < 2:
        return float("nan")
    observed = coincidence.sum() - np.trace(coincidence)
    expected = (n * n - np.sum(n_c**2)) / (n - 1)
    if expected == 0:
        return float("nan")
    return float(1.0 - observed / expected)


@dataclasses.dataclass(frozen=True)
class PairAgreement:
    """The room on one pair: ``counts`` per category of :data:`CATEGORIES`, ``agreement`` = the share of pairs of
    raters who gave the same answer (``nan`` with fewer than two ratings), ``cant_tell`` answers not counted."""

    key: tuple[str, str]
    counts: dict[str, int]
    cant_tell: int
    agreement: float

    @property
    def n(self) -> int:
        return sum(self.counts.values())

    def describe(self) -> str:
        said = ", ".join(f"{v} {k}" for k, v in self.counts.items() if v)
        extra = f", {self.cant_tell} can't tell" if self.cant_tell else ""
        return f"{self.key[0]} vs {self.key[1]}: {said}{extra} (agreement {self.agreement:.0%})"


@dataclasses.dataclass
class Agreement:
    """Agreement per pair and overall: ``percent`` (mean share of agreeing rater pairs, over pairs rated at least
    twice, each weighted by its number of rater pairs) and Krippendorff's ``alpha``."""

    pairs: list[PairAgreement]
    percent: float
    alpha: float
    raters: list[str]

    def most_disputed(self, k: int = 5) -> list[PairAgreement]:
        """The ``k`` pairs with the lowest agreement (rated at least twice), the most-rated first among ties."""
        rated = [p for p in self.pairs if p.n >= 2]
        return sorted(rated, key=lambda p: (p.agreement, -p.n, p.key))[:k]


def agreement(pool: Any) -> Agreement:
    """How much the raters of ``pool`` agree, per pair and overall (see :class:`Agreement`).

    A rater who answered the same pair more than once counts with their last answer.
    """
    ratings = list(getattr(pool, "ratings", pool))  # a pooling.Pool, or its ratings
    raters = list(dict.fromkeys(r.rater for r in ratings))
    last: dict[tuple[tuple[str, str], str], str | None] = {}
    for r in ratings:
        last[(r.key, r.rater)] = r.category
    keys = list(dict.fromkeys(r.key for r in ratings))
    col = {rater: j for j, rater in enumerate(raters)}
    row = {key: i for i, key in enumerate(keys)}
    table = np.full((len(keys), len(raters)), None, dtype=object)
    for (key, rater), category in last.items():
        table[row[key], col[rater]] = category
    per_pair, agree_sum, pair_sum = [], 0.0, 0.0
    for key in keys:
        answers = [c for c in table[row[key]] if c is not None]
        counts = {c: answers.count(c) for c in CATEGORIES}
        cant = sum(1 for (k, _), c in last.items() if k == key and c is None)
        m = len(answers)
        same = sum(v * (v - 1) for v in counts.values())
        per_pair.append(PairAgreement(key, counts, cant, same / (m * (m - 1)) if m >= 2 else float("nan")))
        if m >= 2:
            agree_sum += same
            pair_sum += m * (m - 1)
    percent = agree_sum / pair_sum if pair_sum else float("nan")
    return Agreement(pairs=per_pair, percent=percent, alpha=krippendorff_alpha(table), raters=raters)


# ==============================================================================================================
