"""Lesson 01's exercises, returns and Q-learning: checkers, stubs and registry entries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from rlhf_lite.exercises.checking import Check, as_number, call, exercise, register, verdict

__all__ = ["check_discounted_return", "check_q_update"]


def check_discounted_return(fn: Callable[[Any, float], float]) -> Check:
    """Check ``fn(rewards, gamma) -> float``: the discounted return ``sum_t gamma**t * rewards[t]``."""
    ex = "01.discounted_return"
    cases = [
        ([0.0] * 9 + [10.0], 0.5, "the walk to the +10: nine steps of 0, then 10"),
        ([1.0], 0.5, "the walk to the +1: one step"),
        ([1.0, 2.0, 3.0], 0.9, "three rewards"),
        ([1.0, 2.0, 3.0], 1.0, "gamma = 1 (no discount)"),
        ([1.0, 2.0, 3.0], 0.0, "gamma = 0 (myopic)"),
        ([], 0.9, "an empty episode"),
    ]
    rows = []
    for rewards, gamma, what in cases:
        shown = f"discounted_return({rewards}, gamma={gamma})"
        got, bad = call(ex, fn, (np.array(rewards, dtype=np.float64), gamma), shown)
        if bad is not None:
            return bad
        got, bad = as_number(ex, got, shown)
        if bad is not None:
            return bad
        r = np.array(rewards, dtype=np.float64)
        t = np.arange(len(r))
        want = float(np.sum(gamma**t * r))
        variants = {
            "a reward t steps away is weighted by gamma to the power t (gamma**t), not by gamma once: "
            "you multiplied every reward by gamma.": float(np.sum(gamma * r)),
            "the first reward counts fully (gamma**0 = 1): your powers start at 1 instead of 0.": float(
                np.sum(gamma ** (t + 1) * r)
            ),
            "you discounted from the end of the episode: it is the LATER rewards that count less, "
            "the first one counts fully.": float(np.sum(gamma ** (len(r) - 1 - t) * r)),
            "no discount at all: that is the plain return, the sum of the rewards.": float(np.sum(r)),
        }
        rows.append((got, want, variants, f"on {what}, {shown} should be {want:.6g}, you returned {got:.6g}."))
    return verdict(
        ex,
        rows,
        "discounted_return weighs a reward t steps away by gamma**t: on the walk to the +10 "
        "with gamma = 0.5 the far treasure is worth only 10 * 0.5**9 = 0.0195.",
    )


def check_q_update(fn: Callable[..., float]) -> Check:
    """Check ``fn(q, s, a, r, s_next, terminated, gamma, learning_rate) -> float``: the new value of ``q[s, a]``.

    ``q [S, A]`` is the table (not to be changed); the answer is ``q[s, a] + lr * (target - q[s, a])`` with
    ``target = r + gamma * max_a' q[s_next, a']``, or just ``r`` when the episode terminated.
    """
    ex = "01.q_update"
    q = np.array([[0.0, 2.0], [1.0, 5.0], [4.0, -1.0]])
    cases = [
        # (s, a, r, s_next, terminated, gamma, lr, what)
        (0, 0, 1.0, 1, False, 0.9, 0.5, "an ordinary step"),
        (2, 1, 0.0, 0, False, 0.5, 0.1, "a step with reward 0"),
        (1, 0, 10.0, 2, True, 0.9, 0.5, "the step that reaches a treasure (terminated=True)"),
        (0, 1, -1.0, 2, False, 0.9, 1.0, "learning_rate = 1"),
        (2, 0, 2.0, 1, False, 0.8, 0.25, "another step"),
    ]
    rows = []
    for s, a, r, s2, term, gamma, lr, what in cases:
        shown = f"q_update(q, s={s}, a={a}, r={r}, s_next={s2}, terminated={term}, gamma={gamma}, learning_rate={lr})"
        got, bad = call(ex, fn, (q.copy(), s, a, r, s2, term, gamma, lr), shown)
        if bad is not None:
            return bad
        got, bad = as_number(ex, got, shown)
        if bad is not None:
            return bad
        old = q[s, a]
        target = r if term else r + gamma * q[s2].max()
        want = old + lr * (target - old)
        variants = {
            "you returned the target itself: move Q[s, a] only part of the way towards it, "
            "Q + learning_rate * (target - Q).": target,
            "the sign of the step is flipped: Q moves TOWARDS the target, Q + lr * (target - Q), not away from it.": old
            - lr * (target - old),
            "when the episode terminated there is no next state to look ahead to: the target is just r.": old
            + lr * (r + gamma * q[s2].max() - old),
            "the target looks ahead with the BEST next action, max over a' of Q[s_next, a'], not the worst (min).": old
            + lr * ((r if term else r + gamma * q[s2].min()) - old),
            "the look-ahead uses the best next action, max over a' of Q[s_next, a'], not Q[s_next, a] "
            "(the action just taken).": old + lr * ((r if term else r + gamma * q[s2, a]) - old),
            "the look-ahead is discounted: r + gamma * max Q[s_next], you left out gamma.": old
            + lr * ((r if term else r + q[s2].max()) - old),
            "the target needs the next state's value: r + gamma * max Q[s_next], not only r.": old + lr * (r - old),
        }
        rows.append(
            (got, want, variants, f"on {what}, with q =\n{q}\n  {shown} should be {want:.6g}, you returned {got:.6g}.")
        )
    return verdict(
        ex,
        rows,
        "one Q-learning step moves Q[s, a] a fraction learning_rate of the way towards "
        "r + gamma * max Q[s_next], and towards r alone at the end of an episode.",
    )


_DISCOUNTED_RETURN = '''
def discounted_return(rewards, gamma):
    """The discounted return of one episode: sum over t of gamma**t * rewards[t] (t counts from 0)."""
    rewards = np.asarray(rewards, dtype=float)
    total = 0.0
    # your code here: add up every reward, weighted by gamma to the power of its step t
    return total
'''

_Q_UPDATE = '''
def q_update(q, s, a, r, s_next, terminated, gamma, learning_rate):
    """The new value of q[s, a] after taking action a in state s, getting reward r and landing in s_next.

    q is the table [states, actions]; do not change it, return the new number. When terminated is True the
    episode is over: there is nothing after s_next to look ahead to.
    """
    target = 0.0  # your code here: what this step suggests q[s, a] should be
    return q[s, a]  # your code here: move q[s, a] a fraction learning_rate of the way towards the target
'''


register(
    exercise(
        "01.discounted_return",
        check_discounted_return,
        "write the discounted return sum_t gamma**t * r_t",
        _DISCOUNTED_RETURN,
    ),
    exercise(
        "01.q_update",
        check_q_update,
        "write one Q-learning update of Q[s, a]",
        _Q_UPDATE,
    ),
)
