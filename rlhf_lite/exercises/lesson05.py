"""Lesson 05's exercises, RLHF's pitfalls: the KL-penalised reward, the pessimistic ensemble reward, and
spotting over-optimisation in a run's history.

Each checker tries the reader's function on small worked examples and names the typical mistake its answers
reproduce (a flipped sign, the wrong axis, the population standard deviation...). Solutions live in
:mod:`rlhf_lite.solutions.lesson05`; the lesson goes on with the package's own versions either way
(``PPOConfig.kl_coef``, ``RewardModelConfig.pessimism``, :mod:`rlhf_lite.pitfalls`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from rlhf_lite.exercises.checking import Check, call, exercise, fail, fmt, ok, register, verdict

__all__ = ["check_overoptimisation", "check_kl_penalised_reward", "check_pessimistic_reward"]


def _per_step(ex: str, value: Any, steps: int, shown: str, hint: str) -> tuple[np.ndarray | None, Check | None]:
    """``value`` as a finite float array ``[steps]``, or a failed Check saying what it is instead (and ``hint``)."""
    try:
        arr = np.asarray(value.detach().numpy() if hasattr(value, "detach") else value, dtype=np.float64)
    except (TypeError, ValueError):
        return None, fail(ex, f"{shown} returned {type(value).__name__}: expected an array of numbers")
    if arr.shape != (steps,):
        return None, fail(
            ex, f"{shown} returned shape {arr.shape}: expected shape ({steps},), one reward per step.\n  Hint: {hint}"
        )
    if not np.all(np.isfinite(arr)):
        return None, fail(ex, f"{shown} returned {fmt(arr)}: expected finite numbers")
    return arr, None


def check_kl_penalised_reward(fn: Callable[[Any, Any, Any, float], Any]) -> Check:
    """Check ``fn(rewards, logp, logp_ref, beta) -> [T]``: each step's reward less ``beta`` times the log-ratio of
    the policy to the reference on the action taken, ``rewards - beta * (logp - logp_ref)`` (arrays ``[T]``)."""
    ex = "05.kl_penalised_reward"
    cases = [
        (
            [1.0, 0.5, -0.2],
            [-1.0, -2.0, -0.5],
            [-1.0, -2.0, -0.5],
            0.5,
            "a policy that has not moved (logp = logp_ref)",
        ),
        ([1.0, 0.5, -0.2], [-0.2, -3.0, -0.7], [-1.0, -1.0, -1.0], 0.0, "beta = 0 (no penalty)"),
        ([1.0, 0.5, -0.2], [-0.2, -3.0, -0.7], [-1.0, -1.0, -1.0], 0.5, "a policy that moved, beta = 0.5"),
        ([0.0, 2.0], [-0.1, -4.0], [-2.1, -1.0], 2.0, "two steps, beta = 2"),
    ]
    rows = []
    for r, lp, lr, beta, what in cases:
        r_, lp_, lr_ = (np.array(v, dtype=np.float64) for v in (r, lp, lr))
        shown = f"kl_penalised_reward({r}, logp={lp}, logp_ref={lr}, beta={beta})"
        got, bad = call(ex, fn, (r_.copy(), lp_.copy(), lr_.copy(), beta), shown)
        if bad is not None:
            return bad
        got, bad = _per_step(ex, got, len(r_), shown, "one penalised reward per step, the same shape as rewards.")
        if bad is not None:
            return bad
        log_ratio = lp_ - lr_
        want = r_ - beta * log_ratio
        variants = {
            "the sign is flipped: the penalty is SUBTRACTED, and it is log pi - log pi_ref (large where the policy "
            "now likes an action much more than the reference did), so r - beta * (logp - logp_ref).": r_
            + beta * log_ratio,
            "no absolute value: the per-step estimate log pi - log pi_ref can be negative on one step; it is its "
            "average over the policy's own actions that is the KL, and that is never negative.": r_
            - beta * np.abs(log_ratio),
            "the penalty uses the LOG of the probability ratio, logp - logp_ref, not the ratio "
            "exp(logp - logp_ref) itself.": r_ - beta * np.exp(log_ratio),
            "beta is missing: the penalty is beta * (logp - logp_ref); beta sets how much moving costs.": r_
            - log_ratio,
            "the penalty is per step, each step its own log-ratio: you used the mean over the steps.": r_
            - beta * log_ratio.mean(),
            "you returned only the penalty: add it to the reward, r - beta * (logp - logp_ref).": -beta * log_ratio,
        }
        rows.append((got, want, variants, f"on {what}, {shown} should be {fmt(want)}, you returned {fmt(got)}."))
    return verdict(
        ex,
        rows,
        "r - beta * (log pi - log pi_ref): an action the policy now takes far more often than the reference "
        "did costs reward, so drifting far from the reference is only worth it where the learned reward pays "
        "clearly more. PPOConfig.kl_coef is this beta.",
    )


def check_pessimistic_reward(fn: Callable[[Any, float], Any]) -> Check:
    """Check ``fn(member_rewards, k) -> [B]``: ``member_rewards [M members, B steps]``; the mean over members less
    ``k`` sample standard deviations over members (``ddof=1``), as ``RewardModelConfig.pessimism = k`` does."""
    ex = "05.pessimistic_reward"
    cases = [
        ([[1.0, 2.0, 0.0, -1.0], [1.0, 2.0, 0.0, -1.0], [1.0, 2.0, 0.0, -1.0]], 1.0, "members that agree exactly"),
        ([[1.0, 2.0, 0.0, -1.0], [3.0, 2.0, 0.5, -1.0], [2.0, 2.0, -0.5, 2.0]], 0.0, "k = 0 (the plain mean)"),
        ([[1.0, 2.0, 0.0, -1.0], [3.0, 2.0, 0.5, -1.0], [2.0, 2.0, -0.5, 2.0]], 1.0, "3 members, k = 1"),
        ([[0.5, 4.0, 1.0, 0.0], [0.7, -2.0, 1.0, 0.1], [0.6, 1.0, 1.2, 0.2]], 2.0, "3 members, k = 2"),
    ]
    rows = []
    for z, k, what in cases:
        z_ = np.array(z, dtype=np.float64)
        shown = f"pessimistic_reward(member_rewards of shape {z_.shape} (members, steps), k={k})"
        got, bad = call(ex, fn, (z_.copy(), k), shown)
        if bad is not None:
            return bad
        hint = "take the mean and std over the MEMBERS (axis 0); axis 1 gives one number per member."
        got, bad = _per_step(ex, got, z_.shape[1], shown, hint)
        if bad is not None:
            return bad
        mean, sd = z_.mean(0), z_.std(0, ddof=1)
        want = mean - k * sd
        variants = {
            "the spread is SUBTRACTED: pessimism pays less where the members disagree, mean - k * std.": mean + k * sd,
            "use the sample standard deviation, np.std(..., axis=0, ddof=1), as the package does (np.std's default "
            "ddof=0 divides by M instead of M - 1).": mean - k * z_.std(0),
            "k is missing: the penalty is k standard deviations, mean - k * std.": mean - sd,
            "the penalty is in standard deviations, not variances: mean - k * std, std = sqrt(variance).": mean
            - k * z_.var(0, ddof=1),
            "that is the worst member (min over members), another pessimistic reward; this one is the mean less "
            "k standard deviations (it softens as the members agree).": z_.min(0),
            "you returned the plain mean: subtract k standard deviations over the members.": mean,
        }
        rows.append((got, want, variants, f"on {what}, {shown} should be {fmt(want)}, you returned {fmt(got)}."))
    return verdict(
        ex,
        rows,
        "mean - k * std over members: where the labels pinned the reward down the members agree and the "
        "reward is the plain mean; where PPO wanders off to states no label covered they disagree, and the "
        "reward drops, so exploiting the predictor's guesses there stops paying (Coste et al. 2024).",
    )


def _peak_cases() -> list[tuple[list[float], list[float], str]]:
    return [
        (
            [-1200, -900, -600, -500, -700, -1100],
            [0.0, 40, 80, 110, 150, 190],
            "the proxy keeps climbing, the true return peaks then falls",
        ),
        ([-1200, -900, -600, -400, -300, -250], [0.0, 40, 80, 110, 150, 190], "both climb to the end"),
        ([-1000, -1100, -1300, -1500], [0.0, 60, 120, 200], "the true return falls from the start"),
        ([-1200, -500, -500, -800], [0.0, 90, 100, 60], "the true return falls but the proxy falls too"),
        ([-1200, -500, -700, -500, -900], [0.0, 50, 60, 70, 120], "a tie for the best true return"),
        ([-1200, -500, -800, -500], [0.0, 50, 60, 70], "the true return dips and comes back to its peak"),
        ([-500, -400, -900], [50.0, 80, 20], "both fall, the proxy below where it started"),
    ]


def _peak_want(true: np.ndarray, proxy: np.ndarray) -> tuple[int, bool]:
    peak = int(np.argmax(true))
    return peak, bool(proxy[-1] > proxy[peak] and true[-1] < true[peak])


def check_overoptimisation(fn: Callable[[Any, Any], Any]) -> Check:
    """Check ``fn(true_returns, proxy_returns) -> (peak, overoptimised)``: ``peak`` the index of the first
    round with the highest true return; ``overoptimised`` True when after that round the proxy (predicted)
    return rose while the true return fell: ``proxy[-1] > proxy[peak]`` and ``true[-1] < true[peak]``."""
    ex = "05.overoptimisation"
    rows = []  # (true, proxy, what, shown, (peak, flag) given)
    for true, proxy, what in _peak_cases():
        t, p = np.array(true, dtype=np.float64), np.array(proxy, dtype=np.float64)
        shown = f"overoptimisation(true_returns={[int(x) for x in true]}, proxy_returns={[int(x) for x in proxy]})"
        got, bad = call(ex, fn, (t.copy(), p.copy()), shown)
        if bad is not None:
            return bad
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return fail(ex, f"{shown} returned {got!r}: expected a pair (peak index, True/False)")
        peak, flag = got
        if isinstance(peak, (bool, np.bool_)) or not isinstance(peak, (int, np.integer, float, np.floating)):
            return fail(ex, f"{shown} returned peak {peak!r}: expected a whole-number index (np.argmax gives one)")
        if float(peak) in t.tolist() and not 0 <= float(peak) < len(t):
            return fail(ex, f"{shown} returned peak {fmt(peak)}: that is a return. Return its position (np.argmax).")
        if float(peak) != int(peak):
            return fail(ex, f"{shown} returned peak {peak!r}: expected a whole-number index")
        if not isinstance(flag, (bool, np.bool_)):
            return fail(ex, f"{shown} returned {flag!r} as the verdict: expected True or False")
        rows.append((t, p, what, shown, (int(peak), bool(flag))))

    def first_max(t: np.ndarray, p: np.ndarray) -> int:
        return int(np.argmax(t))

    peak_variants = {
        "with a tie, take the FIRST round with the highest true return (np.argmax does).": lambda t, p: (
            len(t) - 1 - int(np.argmax(t[::-1]))
        ),
        "that is where the PROXY (predicted) return is highest; the peak is the TRUE return's.": lambda t, p: int(
            np.argmax(p)
        ),
        "that is the lowest true return: higher returns are better (np.argmax, not np.argmin).": lambda t, p: int(
            np.argmin(t)
        ),
    }
    flag_variants = {
        "compare the proxy at the end with the proxy AT THE TRUE PEAK, not at the start: over-optimisation is the "
        "proxy still rising after the true return has turned.": lambda t, p, k: bool(p[-1] > p[0] and t[-1] < t[k]),
        "the true return must also have fallen since its peak (true[-1] < true[peak]).": lambda t, p, k: bool(
            p[-1] > p[k]
        ),
        "the proxy must also have kept rising after the peak (proxy[-1] > proxy[peak]): a predictor whose score "
        "falls with the true return has not been fooled.": lambda t, p, k: bool(t[-1] < t[k]),
    }
    for part, variants in (("peak", peak_variants), ("verdict", flag_variants)):
        for t, p, what, shown, (peak, flag) in rows:
            want_peak = first_max(t, p)
            want_flag = bool(p[-1] > p[want_peak] and t[-1] < t[want_peak])
            if part == "peak" and peak != want_peak:
                text = f"on {what}, {shown} should give peak {want_peak}, you gave {peak}."
                fits = [h for h, v in variants.items() if all(r[4][0] == v(r[0], r[1]) for r in rows)]
            elif part == "verdict" and flag != want_flag:
                text = f"on {what}, {shown} should say {want_flag}, you said {flag}."
                fits = [
                    h for h, v in variants.items() if all(r[4][1] == v(r[0], r[1], first_max(r[0], r[1])) for r in rows)
                ]
            else:
                continue
            return fail(ex, text + (f"\n  Hint: {fits[0]}" if fits else ""))
    return ok(
        ex,
        "over-optimisation is the two curves parting: after the true return's peak the proxy keeps rising "
        "while the true return falls. pitfalls.overoptimisation reads a run the same way, with margins for 'clearly'.",
    )


_KL_PENALISED_REWARD = '''
def kl_penalised_reward(rewards, logp, logp_ref, beta):
    """Per-step rewards [T] less beta times how much more likely the policy was to take each action than the
    reference policy: logp, logp_ref [T] are log pi(a_t|s_t) and log pi_ref(a_t|s_t)."""
    rewards = np.asarray(rewards, dtype=float)
    return rewards  # your code here
'''

_PESSIMISTIC_REWARD = '''
def pessimistic_reward(member_rewards, k):
    """member_rewards [members, steps]: each member's reward for each step. Return one reward per step [steps]:
    the mean over members less k sample standard deviations over members (np.std(..., ddof=1))."""
    member_rewards = np.asarray(member_rewards, dtype=float)
    return member_rewards[0]  # your code here
'''

_OVEROPTIMISATION = '''
def overoptimisation(true_returns, proxy_returns):
    """true_returns, proxy_returns [rounds]: one run's history. Return (peak, overoptimised): peak the index of
    the first round with the highest true return; overoptimised True when after it the proxy rose while the true
    return fell."""
    peak = 0  # your code here
    overoptimised = False  # your code here
    return peak, overoptimised
'''


register(
    exercise(
        "05.overoptimisation",
        check_overoptimisation,
        "find the true return's peak in a run's history and whether the proxy kept rising after it",
        _OVEROPTIMISATION,
    ),
    exercise(
        "05.kl_penalised_reward",
        check_kl_penalised_reward,
        "subtract the KL penalty beta * (log pi - log pi_ref) from each step's learned reward",
        _KL_PENALISED_REWARD,
    ),
    exercise(
        "05.pessimistic_reward",
        check_pessimistic_reward,
        "the pessimistic ensemble reward: mean minus k standard deviations over the members",
        _PESSIMISTIC_REWARD,
    ),
)
