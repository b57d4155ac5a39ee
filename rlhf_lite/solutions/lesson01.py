"""Solutions to lesson 01's exercises (see :mod:`rlhf_lite.exercises.lesson01`). Try first!"""

from __future__ import annotations

import numpy as np

__all__ = ["discounted_return", "q_update"]


def discounted_return(rewards, gamma):
    """The discounted return sum_t gamma**t * rewards[t]: a reward t steps away is worth gamma**t now."""
    rewards = np.asarray(rewards, dtype=np.float64)
    return float(np.sum(gamma ** np.arange(len(rewards)) * rewards))


def q_update(q, s, a, r, s_next, terminated, gamma, learning_rate):
    """The new value of q[s, a] after one step (s, a) -> (r, s_next); q itself is left unchanged."""
    target = r if terminated else r + gamma * np.max(q[s_next])  # a finished episode has no future
    return q[s, a] + learning_rate * (target - q[s, a])
