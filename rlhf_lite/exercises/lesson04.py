"""Lesson 04's exercises, asking about the most disputed pairs: checkers, stubs and registry entries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from rlhf_lite.exercises.checking import Check, as_array, call, exercise, fail, fmt, ok, register

__all__ = ["check_disagreement", "check_most_disputed"]


def check_disagreement(fn: Callable[[np.ndarray], np.ndarray]) -> Check:
    """Check ``fn(probs) -> scores``: ``probs [M, P]`` holds each of ``M`` ensemble members' probability that the
    left clip of each of ``P`` pairs is better; ``scores [P]`` must say how much the members disagree (the
    package uses the standard deviation over members; any score that ranks pairs the same way passes)."""
    ex = "04.disagreement"
    agree_unsure = np.array([[0.5, 0.9, 0.5], [0.5, 0.9, 0.1], [0.5, 0.9, 0.9], [0.5, 0.9, 0.5]])  # pair 0: all 0.5
    shown = "disagreement(probs) with probs of shape (4 members, 3 pairs)"
    got, bad = call(ex, fn, (agree_unsure.copy(),), shown)
    if bad is not None:
        return bad
    got, bad = as_array(ex, got, (3,), shown)
    if bad is not None:
        return Check(
            ex,
            False,
            bad.message + "\n  Hint: take the spread over the members (axis 0), one score per "
            "pair; axis 1 would give one score per member.",
        )
    want = agree_unsure.std(axis=0)
    members_agree = (abs(got[0] - got[1]) < 1e-9) and got[2] > got[0]
    if not members_agree:
        mean = agree_unsure.mean(axis=0)
        hint = ""
        if (
            np.allclose(got, -np.abs(mean - 0.5))
            or np.allclose(got, 0.5 - np.abs(mean - 0.5))
            or (got[0] > got[1] and got[0] >= got[2])
        ):
            hint = (
                "\n  Hint: you scored how UNSURE the ensemble's average is (close to 0.5). Pair 0 is a coin flip "
                "on which every member agrees: another answer teaches the members nothing they disagree about. "
                "Score the spread between members instead (np.std over axis 0)."
            )
        elif np.allclose(got, mean):
            hint = "\n  Hint: that is the members' average belief; disagreement is their spread (std over axis 0)."
        return fail(
            ex,
            f"on probs =\n{agree_unsure}\n  (columns are pairs) pairs 0 and 1 have no disagreement at all "
            f"(every member says the same) and pair 2 has a lot; your scores {fmt(got)} should be "
            f"equal for pairs 0 and 1 and larger for pair 2 (the std: {fmt(want)})." + hint,
        )
    rng = np.random.default_rng(0)
    probs = rng.uniform(0.02, 0.98, size=(5, 8))
    shown = "disagreement(probs) with probs of shape (5 members, 8 pairs)"
    got, bad = call(ex, fn, (probs.copy(),), shown)
    if bad is not None:
        return bad
    got, bad = as_array(ex, got, (8,), shown)
    if bad is not None:
        return bad
    want = probs.std(axis=0)
    if not np.array_equal(np.argsort(-got, kind="stable"), np.argsort(-want, kind="stable")):
        return fail(
            ex,
            f"on 5 members x 8 random pairs your scores rank the pairs differently from the spread "
            f"between members (std over axis 0): you {fmt(got)}, std {fmt(want)}.",
        )
    return ok(
        ex,
        "disagreement is the spread of the members' beliefs about a pair: where they agree, even on a "
        "coin flip, an answer settles little; where they split, it settles the most.",
    )


def check_most_disputed(fn: Callable[[np.ndarray, int], Any]) -> Check:
    """Check ``fn(scores, n) -> indices``: the indices of the ``n`` largest of ``scores [P]``, largest first."""
    ex = "04.most_disputed"
    scores = np.array([0.05, 0.30, 0.01, 0.22, 0.40, 0.10])
    for n in (3, 1, 0):
        shown = f"most_disputed({fmt(scores)}, n={n})"
        got, bad = call(ex, fn, (scores.copy(), n), shown)
        if bad is not None:
            return bad
        try:
            arr = np.asarray(got)
        except (TypeError, ValueError):
            return fail(ex, f"{shown} returned {type(got).__name__}: expected a list or array of indices")
        want = np.argsort(-scores, kind="stable")[:n]
        if arr.shape != (n,):
            return fail(
                ex,
                f"{shown} returned {arr.shape[0] if arr.ndim == 1 else arr.shape} value(s): expected "
                f"exactly n = {n} indices",
            )
        if n and arr.dtype.kind == "f" and np.all(np.isin(arr, scores)) and not np.all(arr == arr.astype(int)):
            return fail(
                ex,
                f"{shown} returned {fmt(arr)}: those are scores. Return the pairs' positions "
                f"(indices), e.g. {[int(i) for i in want]}; np.argsort gives positions.",
            )
        if arr.dtype.kind not in "iu" and not (arr.size == 0 or np.all(arr == np.round(arr))):
            return fail(ex, f"{shown} returned {fmt(arr)}: expected whole-number indices")
        arr = arr.astype(int)
        mine, right = [int(i) for i in arr], [int(i) for i in want]
        if np.array_equal(arr, want):
            continue
        if set(arr.tolist()) == set(want.tolist()):
            return fail(
                ex, f"{shown} returned {mine}: the right pairs, in the wrong order. Most disputed first: {right}."
            )
        least = np.argsort(scores, kind="stable")[:n]
        if np.array_equal(arr, least):
            return fail(
                ex,
                f"{shown} returned {mine}: the LEAST disputed pairs. np.argsort sorts from small "
                f"to large; the most disputed are at the other end ({right}).",
            )
        return fail(
            ex,
            f"{shown} should return {right} (the positions of the {n} largest scores, largest "
            f"first), you returned {mine}.",
        )
    return ok(
        ex,
        "asking about the pairs with the largest disagreement first is active selection; "
        "preferences.active_pairs does exactly this over random candidate pairs.",
    )


_DISAGREEMENT = '''
def disagreement(probs):
    """probs [members, pairs]: each member's P(left clip better). Return one score per pair [pairs]:
    how much the members disagree about it."""
    probs = np.asarray(probs, dtype=float)
    return np.zeros(probs.shape[1])  # your code here
'''

_MOST_DISPUTED = '''
def most_disputed(scores, n):
    """Indices of the n pairs with the largest disagreement scores [pairs], most disputed first."""
    return list(range(n))  # your code here
'''


register(
    exercise(
        "04.disagreement",
        check_disagreement,
        "score how much the ensemble's members disagree about each pair",
        _DISAGREEMENT,
    ),
    exercise(
        "04.most_disputed",
        check_most_disputed,
        "choose the n most disputed pairs, most disputed first",
        _MOST_DISPUTED,
    ),
)
