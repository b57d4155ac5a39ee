"""Choosing which pairs to ask about: uniformly at random, where the reward ensemble disagrees most, or spread out
so that a person sees clips they can tell apart.

Moved out of :mod:`rlhf_lite.preferences` (which keeps the records); ``preferences.random_pairs`` etc. still work.
:func:`random_pairs` and :func:`active_pairs` take items of any kind (:mod:`rlhf_lite.items`: clips, text
completions): every item must be comparable with the first (``items.check_pair``). Active selection asks about the
pairs the reward ensemble disagrees on most, where an answer teaches the predictor the most. :func:`spread_pairs`
(what the RLHF loop uses) adds what a person needs: no clip in two pairs of a batch or in the pairs just shown, new
clips set against earlier ones, and, before any predictor exists, pairs whose clips look most different
(:func:`observation_distance`, clips only), rather than two random-policy clips that look alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from rlhf_lite import items
from rlhf_lite.rollouts import Segment

__all__ = ["random_pairs", "active_pairs", "spread_pairs", "observation_distance", "observation_scale"]


def _check_segments(segments: Sequence[Segment], n: int, rng: Any) -> int:
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy Generator (np.random.default_rng(seed)), got {type(rng).__name__}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n={n!r} is not allowed: expected a whole number >= 0")
    segments = list(segments)
    for i, s in enumerate(segments):
        items.kind_of(s, f"segments[{i}]")
    if segments:
        first = segments[0]
        for s in segments[1:]:
            items.check_pair(first, s)
    total = len(segments) * (len(segments) - 1) // 2
    if n > total:
        raise ValueError(f"n={n} pairs asked from {len(segments)} segments: at most {total} distinct pairs exist")
    return total


def _excluded_index_pairs(segments: list[Segment], exclude: Any) -> set[tuple[int, int]]:
    """Index pairs ``(i < j)`` whose uids appear (in either order) in ``exclude``, an iterable of uid pairs."""
    if exclude is None:
        return set()
    by_uid: dict[str, list[int]] = {}
    for i, s in enumerate(segments):
        if s.uid:
            by_uid.setdefault(s.uid, []).append(i)
    out = set()
    for k, pair in enumerate(exclude):
        if not isinstance(pair, (tuple, list, frozenset, set)) or len(pair) != 2:
            raise ValueError(f"exclude[{k}]={pair!r} is not allowed: expected a pair of segment uids")
        a, b = tuple(pair)
        for i in by_uid.get(a, ()):
            for j in by_uid.get(b, ()):
                if i != j:
                    out.add((min(i, j), max(i, j)))
    return out


def _sample_index_pairs(
    num_segments: int, n: int, rng: np.random.Generator, excluded: set[tuple[int, int]] = frozenset()
) -> np.ndarray:
    """``n`` distinct unordered pairs ``[n, 2]`` of segment indices not in ``excluded``, each shown in a random
    left/right order."""
    total = num_segments * (num_segments - 1) // 2
    if n > total - len(excluded):
        raise ValueError(
            f"n={n} pairs asked from {num_segments} segments: only {total - len(excluded)} distinct pairs are left "
            f"({len(excluded)} excluded as already asked)"
        )
    if n == 0:
        return np.zeros((0, 2), dtype=np.int64)
    if total <= 200_000 or n > (total - len(excluded)) // 2:
        rows, cols = np.triu_indices(num_segments, k=1)
        if excluded:
            gone = np.array([i * num_segments + j for i, j in excluded], dtype=np.int64)
            keep = ~np.isin(rows * num_segments + cols, gone)
            rows, cols = rows[keep], cols[keep]
        pick = rng.choice(len(rows), size=n, replace=False)
        pairs = np.stack([rows[pick], cols[pick]], axis=1)
    else:  # many segments, few pairs: rejection sampling never needs the full list
        seen: set[tuple[int, int]] = set(excluded)
        out = []
        while len(out) < n:
            i, j = (int(v) for v in rng.choice(num_segments, size=2, replace=False))
            key = (min(i, j), max(i, j))
            if key not in seen:
                seen.add(key)
                out.append(key)
        pairs = np.asarray(out, dtype=np.int64)
    swap = rng.random(n) < 0.5  # which segment is shown on the left must not say anything
    pairs[swap] = pairs[swap][:, ::-1]
    return pairs


def random_pairs(
    segments: Sequence[Segment],
    n: int,
    rng: np.random.Generator,
    exclude: Iterable[tuple[str, str]] | None = None,
) -> list[tuple[Segment, Segment]]:
    """``n`` distinct pairs of different segments, chosen uniformly, each in a random left/right order.

    All segments must have the same length and shapes (``ValueError`` otherwise). ``exclude`` lists uid pairs
    not to ask again (either order), e.g. ``store.uid_pairs()``.
    """
    _check_segments(segments, n, rng)
    segments = list(segments)
    excluded = _excluded_index_pairs(segments, exclude)
    return [(segments[i], segments[j]) for i, j in _sample_index_pairs(len(segments), n, rng, excluded)]


def active_pairs(
    segments: Sequence[Segment],
    n: int,
    rng: np.random.Generator,
    disagreement: Callable[[list[Segment], list[Segment]], np.ndarray],
    candidates: int | None = None,
    exclude: Iterable[tuple[str, str]] | None = None,
) -> list[tuple[Segment, Segment]]:
    """The ``n`` pairs the reward ensemble disagrees on most, out of ``candidates`` random pairs.

    ``disagreement(lefts, rights)`` scores ``P`` candidate pairs, returning an array ``[P]`` (the reward
    ensemble's ``disagreement``: the spread of its members' preference probabilities). Where the members
    disagree, an answer settles the most (Christiano et al. 2017, section 2.2.4). ``candidates`` defaults to
    ``10 * n`` (capped at the number of distinct pairs). ``exclude`` as in :func:`random_pairs`. Returned
    most-disputed first.
    """
    total = _check_segments(segments, n, rng)
    if not callable(disagreement):
        raise ValueError(
            f"disagreement must be a callable (lefts, rights) -> scores [P], got {type(disagreement).__name__}"
        )
    if candidates is None:
        candidates = min(total, max(10 * n, n))
    if isinstance(candidates, bool) or not isinstance(candidates, (int, np.integer)) or candidates < n:
        raise ValueError(f"candidates={candidates!r} is not allowed: expected a whole number >= n={n}")
    exclude = None if exclude is None else list(exclude)
    left_over = total - len(_excluded_index_pairs(list(segments), exclude))
    candidates = min(int(candidates), left_over)
    if n == 0:
        return []
    pool = random_pairs(segments, candidates, rng, exclude=exclude)
    scores = np.asarray(disagreement([a for a, _ in pool], [b for _, b in pool]), dtype=np.float64)
    if scores.shape != (len(pool),):
        raise ValueError(
            f"disagreement returned shape {scores.shape}: expected one score per candidate pair, ({len(pool)},)"
        )
    if not np.all(np.isfinite(scores)):
        raise ValueError("disagreement returned NaN or infinity: expected finite scores")
    order = np.argsort(-scores, kind="stable")[:n]  # pool is already in random order, so ties break at random
    return [pool[i] for i in order]


def observation_distance(
    lefts: Sequence[Segment], rights: Sequence[Segment], scale: np.ndarray | None = None
) -> np.ndarray:
    """How different two clips look, per pair ``[P]``: the mean over steps of the distance between the two
    clips' observations at the same step (flattened per step, each dimension divided by ``scale [D]``, e.g.
    its spread over the clips at hand, so that no dimension counts more for its units; default 1).

    It uses no reward at all, only what the clips show, so it can rank pairs before any label exists: two
    random-policy pendulums dangling alike are near 0, a dangling one next to one swinging over the top is far.
    """
    if len(lefts) != len(rights):
        raise ValueError(f"lefts has {len(lefts)} segments but rights has {len(rights)}: expected one pair each")
    if not len(lefts):
        return np.zeros(0)
    a, b = _flat_observations(lefts), _flat_observations(rights)  # [P, L, D]
    if scale is not None:
        scale = np.asarray(scale, dtype=np.float64)
        if scale.shape != (a.shape[-1],) or not np.all(scale > 0):
            raise ValueError(
                f"scale must hold {a.shape[-1]} positive numbers (one per observation dimension), got {scale!r}"
            )
        a, b = a / scale, b / scale
    return np.linalg.norm(a - b, axis=-1).mean(-1)


def observation_scale(segments: Sequence[Segment]) -> np.ndarray:
    """The spread ``[D]`` of each observation dimension over all steps of ``segments`` (at least 1e-6), for
    :func:`observation_distance`."""
    x = _flat_observations(segments)  # [S, L, D]
    return np.maximum(x.reshape(-1, x.shape[-1]).std(0), 1e-6)


def _flat_observations(segments: Sequence[Segment]) -> np.ndarray:
    return np.stack([np.asarray(s.observations, dtype=np.float64).reshape(len(s), -1) for s in segments])


def spread_pairs(
    segments: Sequence[Segment],
    n: int,
    rng: np.random.Generator,
    score: Callable[[list[Segment], list[Segment]], np.ndarray] | None = None,
    *,
    candidates: int | None = None,
    references: Sequence[Segment] = (),
    avoid: Iterable[str] = (),
) -> list[tuple[Segment, Segment]]:
    """``n`` pairs, the best-scored of ``candidates`` random ones, with every clip in at most one pair.

    Each candidate pairs a clip of ``segments`` (the new clips) with another new clip or, half of the time, with
    one of ``references`` (clips asked about before): comparing what the policy does now with what it did
    earlier tells the predictor whether the change is an improvement, which pairs of two nearly identical new
    clips cannot. ``score(lefts, rights) -> [P]`` ranks the candidates (default :func:`observation_distance`:
    pairs a person can tell apart; the loop passes the ensemble's disagreement once it has a predictor). Clips
    whose uid is in ``avoid`` (e.g. the pairs just shown) are not used, and no clip appears in two pairs, unless
    there are too few clips; then the least-used clips fill up. ``candidates`` defaults to ``10 * n``.
    Returned best first, each in a random left/right order.
    """
    segments, references = list(segments), list(references)
    if n and not segments:
        raise ValueError(f"n={n} pairs asked from no segments")
    _check_segments(segments + references, 0, rng)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n={n!r} is not allowed: expected a whole number >= 0")
    if score is None:
        scale = observation_scale(segments + references)
        score = lambda a, b: observation_distance(a, b, scale)  # noqa: E731
    if not callable(score):
        raise ValueError(f"score must be a callable (lefts, rights) -> scores [P], got {type(score).__name__}")
    candidates = 10 * n if candidates is None else candidates
    if isinstance(candidates, bool) or not isinstance(candidates, (int, np.integer)) or candidates < n:
        raise ValueError(f"candidates={candidates!r} is not allowed: expected a whole number >= n={n}")
    if n == 0:
        return []
    avoid = set(avoid)
    new = [s for s in segments if s.uid not in avoid] or segments
    old = [s for s in references if s.uid not in avoid and s.uid not in {t.uid for t in new}]
    everyone = new + old
    if len(everyone) < 2:
        raise ValueError(f"n={n} pairs asked from {len(everyone)} segment: at least 2 are needed")
    # candidate index pairs (i in new, j anywhere), distinct unordered
    seen: set[tuple[int, int]] = set()
    possible = len(new) * (len(new) - 1) // 2 + len(new) * len(old)
    want = min(int(candidates), possible)
    tries = 0
    while len(seen) < want and tries < 50 * want:
        tries += 1
        i = int(rng.integers(len(new)))
        if old and rng.random() < 0.5:
            j = len(new) + int(rng.integers(len(old)))
        else:
            j = int(rng.integers(len(new)))
        if i != j:
            seen.add((min(i, j), max(i, j)))
    pool = sorted(seen)
    order = rng.permutation(len(pool))
    pool = [pool[k] for k in order]
    scores = np.asarray(score([everyone[i] for i, _ in pool], [everyone[j] for _, j in pool]), dtype=np.float64)
    if scores.shape != (len(pool),):
        raise ValueError(f"score returned shape {scores.shape}: expected one score per candidate pair, ({len(pool)},)")
    if not np.all(np.isfinite(scores)):
        raise ValueError("score returned NaN or infinity: expected finite scores")
    ranked = [pool[k] for k in np.argsort(-scores, kind="stable")]  # pool is in random order: ties break at random
    uses = np.zeros(len(everyone), int)
    chosen: list[tuple[int, int]] = []
    for limit in range(1, n + 2):  # first every clip at most once, then twice, ... until n pairs
        for i, j in ranked:
            if len(chosen) == n:
                break
            if (i, j) not in chosen and uses[i] < limit and uses[j] < limit:
                chosen.append((i, j))
                uses[i] += 1
                uses[j] += 1
        if len(chosen) == n:
            break
    swap = rng.random(len(chosen)) < 0.5  # which clip is shown on the left must not say anything
    return [(everyone[j], everyone[i]) if s else (everyone[i], everyone[j]) for (i, j), s in zip(chosen, swap)]
