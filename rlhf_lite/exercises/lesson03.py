"""Lesson 03's exercises, Bradley-Terry with a noise term: checkers, stubs and registry entries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from rlhf_lite.exercises.checking import Check, as_array, call, exercise, fmt, register, verdict

__all__ = ["check_bt_probability", "check_bt_loss"]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def check_bt_probability(fn: Callable[[Any, Any, float], Any]) -> Check:
    """Check ``fn(return_a, return_b, noise_prob) -> P(a preferred to b)``, numbers or arrays ``[P]`` in,
    the same shape out: ``(1 - noise_prob) * sigmoid(return_a - return_b) + noise_prob / 2``."""
    ex = "03.bt_probability"
    cases = [
        (0.0, 0.0, 0.1, "two clips with the same return"),
        (2.0, 0.0, 0.0, "clip a better by 2, no noise"),
        (2.0, 0.0, 0.1, "clip a better by 2, 10% random answers"),
        (0.0, 2.0, 0.1, "clip b better by 2, 10% random answers"),
        (30.0, 0.0, 0.2, "clip a far better, 20% random answers"),
        (np.array([1.0, -1.0, 0.0]), np.array([0.0, 0.0, 3.0]), 0.1, "arrays of three pairs"),
    ]
    rows = []
    for ra, rb, eps, what in cases:
        shown = f"bt_probability({fmt(ra)}, {fmt(rb)}, noise_prob={eps})"
        got, bad = call(ex, fn, (ra, rb, eps), shown)
        if bad is not None:
            return bad
        got, bad = as_array(ex, got, np.shape(ra), shown)
        if bad is not None:
            return bad
        d = np.asarray(ra, dtype=np.float64) - np.asarray(rb, dtype=np.float64)
        want = (1 - eps) * _sigmoid(d) + eps / 2
        variants = {
            "the sign is flipped: a clip with the HIGHER return should be the more likely to be preferred, "
            "so use sigmoid(return_a - return_b).": (1 - eps) * _sigmoid(-d) + eps / 2,
            "the noise term is missing: with probability noise_prob the labeler answers at random, so even "
            "a far better clip wins only (1 - noise_prob) * sigmoid(...) + noise_prob / 2 of the time.": _sigmoid(d),
            "a random answer picks each side half the time: add noise_prob / 2, not noise_prob "
            "(otherwise P(a) + P(b) is more than 1).": (1 - eps) * _sigmoid(d) + eps,
            "the mixing weights are swapped: the sigmoid part gets (1 - noise_prob), the random part "
            "noise_prob / 2.": eps * _sigmoid(d) + (1 - eps) / 2,
            "the sigmoid part must be scaled by (1 - noise_prob): only that share of answers follows the returns "
            "(otherwise P can exceed 1).": _sigmoid(d) + eps / 2,
        }
        rows.append((got, want, variants, f"on {what}, {shown} should be {fmt(want)}, you returned {fmt(got)}."))
    return verdict(
        ex,
        rows,
        "P(a > b) = (1 - noise) * sigmoid(R(a) - R(b)) + noise / 2: even a far better clip "
        "wins only 1 - noise / 2 of the time, so one wrong answer cannot cost an unbounded loss.",
    )


def check_bt_loss(fn: Callable[[Any, Any, Any, float], Any]) -> Check:
    """Check ``fn(return_a, return_b, targets, noise_prob) -> mean loss`` (a number): the cross-entropy
    ``-mean(y log P(a>b) + (1 - y) log P(b>a))`` with ``P`` from the noisy Bradley-Terry model and ``y`` 1 when a
    was preferred, 0 when b was, 0.5 for equally good. Inputs are numpy arrays ``[P]``."""
    ex = "03.bt_loss"
    cases = [
        ([2.0], [0.0], [1.0], 0.0, "one pair, a better by 2 and preferred, no noise"),
        ([2.0], [0.0], [0.0], 0.0, "one pair, a better by 2 but b preferred, no noise"),
        ([2.0, -1.0], [0.0, 1.0], [1.0, 0.0], 0.1, "two pairs, 10% noise"),
        ([1.0, 0.5], [0.0, 0.5], [0.5, 1.0], 0.1, "a tie (target 0.5) and a preference, 10% noise"),
        ([20.0], [0.0], [0.0], 0.2, "a far better clip that was NOT preferred, 20% noise"),
    ]
    rows = []
    for ra, rb, y, eps, what in cases:
        a, b, t = (np.array(v, dtype=np.float64) for v in (ra, rb, y))
        shown = f"bt_loss({ra}, {rb}, targets={y}, noise_prob={eps})"
        got, bad = call(ex, fn, (a, b, t, eps), shown)
        if bad is not None:
            return bad
        got, bad = as_array(ex, got, (), shown)
        if bad is not None:
            return bad
        got = float(got)
        pa = (1 - eps) * _sigmoid(a - b) + eps / 2

        def ce(p: np.ndarray, yy: np.ndarray = t) -> np.ndarray:
            return -(yy * np.log(p) + (1 - yy) * np.log(1 - p))

        want = float(np.mean(ce(pa)))
        variants = {
            "the loss is the NEGATIVE log-likelihood: it must be >= 0 and small when the model agrees with the "
            "answers; your sign is flipped.": -want,
            "the targets are used the wrong way round: y = 1 means a was preferred, so y goes with "
            "log P(a > b).": float(np.mean(ce(pa, 1 - t))),
            "the noise term is missing from P: use (1 - noise) * sigmoid(R(a) - R(b)) + noise / 2 "
            "(a far better clip that lost should cost a bounded loss).": float(np.mean(ce(_sigmoid(a - b)))),
            "average over pairs (mean), do not add them up: the loss should not grow with the number of labels.": float(
                np.sum(ce(pa))
            ),
            "a tie (target 0.5) counts half for each side: use y * log P(a>b) + (1 - y) * log P(b>a) for every "
            "target, not only for 0 and 1.": float(np.mean(np.where(t > 0.5, -np.log(pa), -np.log(1 - pa)))),
        }
        rows.append((got, want, variants, f"on {what}, {shown} should be {want:.6g}, you returned {got:.6g}."))
    return verdict(
        ex,
        rows,
        "the Bradley-Terry loss is the cross-entropy of the noisy preference probability "
        "against the answers; with noise 0.2 a far better clip that lost costs only "
        "-log(0.1) = 2.3, not infinity.",
    )


_BT_PROBABILITY = '''
def bt_probability(return_a, return_b, noise_prob):
    """P(clip a preferred to clip b) from their predicted returns (numbers or arrays of the same shape)."""
    diff = np.asarray(return_a, dtype=float) - np.asarray(return_b, dtype=float)
    return np.full_like(diff, 0.5)  # your code here: Bradley-Terry (a sigmoid of diff) with the noise term
'''

_BT_LOSS = '''
def bt_loss(return_a, return_b, targets, noise_prob):
    """Mean cross-entropy of P(a > b) against targets [P] (1: a preferred, 0: b preferred, 0.5: equally good)."""
    loss = 0.0  # your code here: use your bt_probability (or reward_model.bt_probability)
    return loss
'''


register(
    exercise(
        "03.bt_probability",
        check_bt_probability,
        "write the Bradley-Terry preference probability with the noise term",
        _BT_PROBABILITY,
    ),
    exercise(
        "03.bt_loss",
        check_bt_loss,
        "write the Bradley-Terry loss against the answers",
        _BT_LOSS,
    ),
)
