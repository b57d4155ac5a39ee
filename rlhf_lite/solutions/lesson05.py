"""Solutions to lesson 05's exercises (see :mod:`rlhf_lite.exercises.lesson05`). Try first!"""

from __future__ import annotations

import numpy as np

__all__ = ["overoptimisation", "kl_penalised_reward", "pessimistic_reward"]


def kl_penalised_reward(rewards, logp, logp_ref, beta):
    """r_t - beta * (log pi(a_t|s_t) - log pi_ref(a_t|s_t)): the sampled-action KL estimate, step by step."""
    return np.asarray(rewards, dtype=float) - beta * (np.asarray(logp, dtype=float) - np.asarray(logp_ref, dtype=float))


def pessimistic_reward(member_rewards, k):
    """Mean over members less k sample standard deviations over members: [members, steps] -> [steps]."""
    member_rewards = np.asarray(member_rewards, dtype=float)
    return member_rewards.mean(axis=0) - k * member_rewards.std(axis=0, ddof=1)


def overoptimisation(true_returns, proxy_returns):
    """(first round of the highest true return, whether afterwards the proxy rose while the true return fell)."""
    true_returns, proxy_returns = np.asarray(true_returns, dtype=float), np.asarray(proxy_returns, dtype=float)
    peak = int(np.argmax(true_returns))
    return peak, bool(proxy_returns[-1] > proxy_returns[peak] and true_returns[-1] < true_returns[peak])
