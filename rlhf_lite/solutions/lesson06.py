"""Solutions to lesson 06's exercises (see :mod:`rlhf_lite.exercises.lesson06`). Try first!"""

from __future__ import annotations

import numpy as np

__all__ = ["token_rewards", "dpo_loss", "group_advantages"]


def token_rewards(score, logp, logp_ref, beta):
    """-beta * (log pi - log pi_ref) on every token [T], plus the reward model's score on the last one."""
    rewards = -beta * (np.asarray(logp, dtype=float) - np.asarray(logp_ref, dtype=float))
    rewards[-1] += score
    return rewards


def group_advantages(rewards):
    """(r - mean of its group) / (std of its group + 1e-6), each row [K] of rewards [G, K] one group."""
    rewards = np.asarray(rewards, dtype=float)
    mean = rewards.mean(axis=1, keepdims=True)
    std = rewards.std(axis=1, keepdims=True)
    return (rewards - mean) / (std + 1e-6)


def dpo_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta):
    """mean of -log sigmoid(beta * ((pi_c - ref_c) - (pi_r - ref_r))), as log(1 + exp(-x)) without overflow."""
    policy_chosen, policy_rejected = np.asarray(policy_chosen, dtype=float), np.asarray(policy_rejected, dtype=float)
    ref_chosen, ref_rejected = np.asarray(ref_chosen, dtype=float), np.asarray(ref_rejected, dtype=float)
    margin = beta * ((policy_chosen - ref_chosen) - (policy_rejected - ref_rejected))
    return float(np.mean(np.logaddexp(0.0, -margin)))
