"""Lesson 06's exercises, RLHF for language models: the reward a completion's tokens get under PPO with a KL
penalty, the DPO loss from four log-probabilities, and GRPO's group-normalised advantage.

Each checker tries the reader's function on small worked examples and names the typical mistake its answers
reproduce (the score on every token, a flipped sign, normalising over the whole batch, a missing log...).
Solutions live in :mod:`rlhf_lite.solutions.lesson06`; the lesson goes on with the package's own versions
either way (:mod:`rlhf_lite.lm.objectives` and the methods of :mod:`rlhf_lite.lm`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from rlhf_lite.exercises.checking import Check, as_array, call, exercise, fail, fmt, register, verdict

__all__ = ["check_token_rewards", "check_dpo_loss", "check_group_advantages"]


def check_token_rewards(fn: Callable[[float, Any, Any, float], Any]) -> Check:
    """Check ``fn(score, logp, logp_ref, beta) -> [T]``: every token of a completion pays ``-beta * (logp -
    logp_ref)`` (its KL penalty) and the last token also gets the reward model's ``score`` of the whole
    completion (the reward arrives once, at the end)."""
    ex = "06.token_rewards"
    cases = [
        (1.5, [-1.0, -2.0, -0.5], [-1.0, -2.0, -0.5], 0.1, "a policy that has not moved (logp = logp_ref)"),
        (0.8, [-0.2, -3.0, -0.7, -1.1], [-1.0, -1.0, -1.0, -1.2], 0.0, "beta = 0 (no KL penalty)"),
        (0.8, [-0.2, -3.0, -0.7, -1.1], [-1.0, -1.0, -1.0, -1.2], 0.5, "four tokens, beta = 0.5"),
        (-1.0, [-0.1, -4.0], [-2.1, -1.0], 2.0, "two tokens, a negative score, beta = 2"),
    ]
    rows = []
    for score, lp, lr, beta, what in cases:
        lp_, lr_ = np.array(lp, dtype=np.float64), np.array(lr, dtype=np.float64)
        shown = f"token_rewards(score={score}, logp={lp}, logp_ref={lr}, beta={beta})"
        got, bad = call(ex, fn, (score, lp_.copy(), lr_.copy(), beta), shown)
        if bad is not None:
            return bad
        got, bad = as_array(ex, got, lp_.shape, shown)
        if bad is not None:
            return bad
        kl = lp_ - lr_
        last = np.zeros_like(kl)
        last[-1] = 1.0
        first = np.zeros_like(kl)
        first[0] = 1.0
        want = -beta * kl + score * last
        variants = {
            "the reward model scores the WHOLE completion once: add its score to the LAST token only, not to "
            "every token (the other tokens get only their KL penalty).": -beta * kl + score,
            "the score goes on the LAST token (the completion is finished only then), not the first.": -beta * kl
            + score * first,
            "the KL penalty is SUBTRACTED: -beta * (logp - logp_ref) on each token.": beta * kl + score * last,
            "beta is missing: each token pays beta * (logp - logp_ref).": -kl + score * last,
            "you returned only the KL penalties: add the reward model's score on the last token.": -beta * kl,
            "the penalty is per token, each its own log-ratio: you spread the summed KL over every token.": -beta
            * kl.sum()
            / len(kl)
            + score * last,
        }
        rows.append((got, want, variants, f"on {what}, {shown} should be {fmt(want)}, you returned {fmt(got)}."))
    return verdict(
        ex,
        rows,
        "every token pays for moving away from the reference, and only the last one, when the completion is "
        "done, gets the reward model's verdict. PPO's advantages (GAE) carry that final score back to the "
        "tokens that earned it.",
    )


def _rows(x: np.ndarray) -> str:
    """A small 2-D array as nested lists of 4-digit numbers (one list per group)."""
    return str([[float(f"{v:.4g}") for v in row] for row in np.asarray(x, dtype=np.float64)])


def check_group_advantages(fn: Callable[[Any], Any]) -> Check:
    """Check ``fn(rewards) -> [G, K]``: ``rewards [G prompts, K completions each]``; each reward less its group's
    mean, divided by its group's standard deviation (``np.std``, ``ddof=0``) plus ``1e-6``."""
    ex = "06.group_advantages"
    cases = [
        ([[1.0, 0.0, 0.5, 0.5]], "one prompt, four completions"),
        ([[1.0, 0.0, 0.5, 0.5], [2.0, 4.0, 6.0, 8.0]], "two prompts whose rewards have different scales"),
        ([[0.3, 0.3, 0.3], [-1.0, 1.0, 0.0]], "a prompt whose completions all scored the same"),
        ([[5.0, 4.0], [0.0, -1.0], [10.0, 12.0]], "three prompts, two completions each"),
    ]
    rows = []
    for r, what in cases:
        r_ = np.array(r, dtype=np.float64)
        shown = f"group_advantages(rewards={r})"
        got, bad = call(ex, fn, (r_.copy(),), shown)
        if bad is not None:
            return bad
        try:
            arr = np.asarray(got.detach().numpy() if hasattr(got, "detach") else got, dtype=np.float64)
        except (TypeError, ValueError):
            return fail(ex, f"{shown} returned {type(got).__name__}: expected an array of numbers")
        if arr.shape != r_.shape:
            return fail(
                ex,
                f"{shown} returned shape {arr.shape}: expected shape {r_.shape}, one advantage per completion "
                "(keepdims=True keeps the group axis, so the mean and std broadcast back over it)",
            )
        if not np.all(np.isfinite(arr)):
            return fail(
                ex,
                f"on {what}, {shown} returned {_rows(arr)}: expected finite numbers. A group whose completions "
                "all scored the same has a standard deviation of 0: add 1e-6 to it before dividing (its "
                "advantages are then 0: nothing to learn from that prompt).",
            )
        got = arr
        mean, sd = r_.mean(1, keepdims=True), r_.std(1, keepdims=True)
        want = (r_ - mean) / (sd + 1e-6)
        variants = {
            "normalise within each prompt's GROUP (axis 1, keepdims=True), not over the whole batch: a prompt "
            "whose completions all score high says nothing about which of them is better.": (r_ - r_.mean())
            / (r_.std() + 1e-6),
            "the group is a ROW (one prompt's completions, axis 1); axis 0 mixes different prompts.": (
                r_ - r_.mean(0, keepdims=True)
            )
            / (r_.std(0, keepdims=True) + 1e-6),
            "divide by the group's standard deviation too (that version, without it, is Dr. GRPO / RLOO-like; "
            "this exercise asks for GRPO's).": r_ - mean,
            "subtract the group's mean first: the advantage says how much better a completion is than its siblings.": r_
            / (sd + 1e-6),
            "use np.std's default ddof=0 here (the group's own spread), not ddof=1.": (r_ - mean)
            / (r_.std(1, ddof=1, keepdims=True) + 1e-6)
            if r_.shape[1] > 1
            else want,
        }
        rows.append((got, want, variants, f"on {what}, {shown} should be {_rows(want)}, you returned {_rows(got)}."))
    return verdict(
        ex,
        rows,
        "each completion is judged against its siblings, the other answers to the same prompt: the group's "
        "mean is the baseline a critic would otherwise have to learn, so GRPO needs no value network.",
    )


def _dpo_want(pc: np.ndarray, pr: np.ndarray, rc: np.ndarray, rr: np.ndarray, beta: float) -> float:
    margin = beta * ((pc - rc) - (pr - rr))
    return float(np.mean(np.logaddexp(0.0, -margin)))


def check_dpo_loss(fn: Callable[[Any, Any, Any, Any, float], Any]) -> Check:
    """Check ``fn(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta) -> float``: the mean over pairs
    of ``-log sigmoid(beta * ((policy_chosen - ref_chosen) - (policy_rejected - ref_rejected)))`` (arrays ``[B]``
    of summed log-probabilities of whole completions)."""
    ex = "06.dpo_loss"
    cases = [
        ([-10.0, -12.0], [-11.0, -9.0], [-10.0, -12.0], [-11.0, -9.0], 0.1, "a policy equal to the reference"),
        ([-8.0, -12.0, -5.0], [-11.0, -9.0, -7.5], [-10.0, -11.0, -6.0], [-10.0, -10.0, -7.0], 0.1, "beta = 0.1"),
        ([-8.0, -12.0, -5.0], [-11.0, -9.0, -7.5], [-10.0, -11.0, -6.0], [-10.0, -10.0, -7.0], 1.0, "beta = 1"),
        ([-2.0], [-900.0], [-20.0], [-20.0], 1.0, "a huge margin (the loss must stay finite, near 0)"),
        ([-3000.0], [-2.0], [-20.0], [-20.0], 0.5, "a huge margin the wrong way (large but finite)"),
    ]
    rows = []
    for pc, pr, rc, rr, beta, what in cases:
        pc_, pr_, rc_, rr_ = (np.array(v, dtype=np.float64) for v in (pc, pr, rc, rr))
        shown = f"dpo_loss({pc}, {pr}, {rc}, {rr}, beta={beta})"
        got, bad = call(ex, fn, (pc_.copy(), pr_.copy(), rc_.copy(), rr_.copy(), beta), shown)
        if bad is not None:
            return bad
        got, bad = as_array(ex, got, (), shown)
        if bad is not None:
            return bad
        want = _dpo_want(pc_, pr_, rc_, rr_, beta)
        h = (pc_ - rc_) - (pr_ - rr_)
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            variants = {
                "the sign is flipped: the margin is (chosen - ref_chosen) - (rejected - ref_rejected), and the loss "
                "is -log sigmoid(beta * margin), small when the CHOSEN completion gained more.": _dpo_want(
                    pr_, pc_, rr_, rc_, beta
                ),
                "beta is missing: the loss is -log sigmoid(beta * margin).": _dpo_want(pc_, pr_, rc_, rr_, 1.0),
                "the reference is missing: DPO compares each log-probability with the REFERENCE's for the same "
                "completion, (policy - ref), which is what keeps the policy near it.": float(
                    np.mean(np.logaddexp(0.0, -beta * (pc_ - pr_)))
                ),
                "take the mean over pairs, not the sum.": float(np.sum(np.logaddexp(0.0, -beta * h))),
                "the loss is MINUS THE LOG of the sigmoid, -log sigmoid(beta * margin), not the sigmoid itself.": float(
                    np.mean(1 / (1 + np.exp(-beta * h)))
                ),
                "the loss is -log sigmoid(x) = log(1 + exp(-x)), not log(1 + exp(x)).": float(
                    np.mean(np.logaddexp(0.0, beta * h))
                ),
            }
        rows.append((got, want, variants, f"on {what}, {shown} should be {want:.6g}, you returned {float(got):.6g}."))
    return verdict(
        ex,
        rows,
        "DPO is Bradley-Terry on the implicit reward beta * (log pi - log pi_ref): no reward model, no sampling, "
        "just the labelled pairs. Written as np.logaddexp(0, -x) it stays finite for any margin.",
    )


_TOKEN_REWARDS = '''
def token_rewards(score, logp, logp_ref, beta):
    """The reward of each token of one completion [T] under PPO with a KL penalty. score: the reward model's
    score of the whole completion (one number); logp, logp_ref [T]: log pi(token) and log pi_ref(token)."""
    logp = np.asarray(logp, dtype=float)
    return np.zeros_like(logp)  # your code here
'''

_GROUP_ADVANTAGES = '''
def group_advantages(rewards):
    """rewards [G, K]: the reward of each of K completions of each of G prompts. Return GRPO's advantages [G, K]:
    each reward less its group's mean, divided by its group's std (np.std, ddof=0) plus 1e-6."""
    rewards = np.asarray(rewards, dtype=float)
    return rewards  # your code here
'''

_DPO_LOSS = '''
def dpo_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta):
    """The DPO loss of a batch of labelled pairs (one number). Each argument [B]: log pi(completion | prompt),
    summed over its tokens, under the policy and under the frozen reference, for the chosen (preferred) and
    the rejected completion of each pair."""
    policy_chosen = np.asarray(policy_chosen, dtype=float)
    return 0.0  # your code here
'''


register(
    exercise(
        "06.token_rewards",
        check_token_rewards,
        "the per-token reward of PPO-KL: a KL penalty on every token, the reward model's score on the last",
        _TOKEN_REWARDS,
    ),
    exercise(
        "06.dpo_loss",
        check_dpo_loss,
        "the DPO loss from the four log-probabilities of a labelled pair",
        _DPO_LOSS,
    ),
    exercise(
        "06.group_advantages",
        check_group_advantages,
        "GRPO's advantage: each completion's reward normalised within the group of completions of its prompt",
        _GROUP_ADVANTAGES,
    ),
)
