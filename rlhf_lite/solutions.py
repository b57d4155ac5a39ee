"""Solutions to the exercises of :mod:`rlhf_lite.exercises`. No lesson imports this module: try first.

``exercises.show_solution("01.discounted_return")`` prints one. Each function here is what the exercise cell
should hold once solved (the same name and arguments as its stub); the tests check that every checker accepts
it, and the notebook test swaps these sources into the exercise cells and runs the lessons.
"""

from __future__ import annotations

import numpy as np


def discounted_return(rewards, gamma):
    """The discounted return sum_t gamma**t * rewards[t]: a reward t steps away is worth gamma**t now."""
    rewards = np.asarray(rewards, dtype=np.float64)
    return float(np.sum(gamma ** np.arange(len(rewards)) * rewards))


def q_update(q, s, a, r, s_next, terminated, gamma, learning_rate):
    """The new value of q[s, a] after one step (s, a) -> (r, s_next); q itself is left unchanged."""
    target = r if terminated else r + gamma * np.max(q[s_next])  # a finished episode has no future
    return q[s, a] + learning_rate * (target - q[s, a])


def boat_patch():
    """The WrittenReward fields to change so that the best boat (gamma 0.95) sails the racing line."""
    return {"respawn": False, "step_penalty": 1.0, "sink_penalty": 10.0}  # lesson 02's fifth patch


def robust_patch():
    """A patch that works for every discount: pay only for what we mean (the buoys were never the goal)."""
    return {"target_points": 0.0}


def bt_probability(return_a, return_b, noise_prob):
    """P(a preferred to b) = (1 - noise_prob) * sigmoid(return_a - return_b) + noise_prob / 2."""
    diff = np.asarray(return_a, dtype=np.float64) - np.asarray(return_b, dtype=np.float64)
    return (1 - noise_prob) / (1 + np.exp(-diff)) + noise_prob / 2


def bt_loss(return_a, return_b, targets, noise_prob):
    """Mean cross-entropy of the noisy Bradley-Terry probability against targets (1 a, 0 b, 0.5 equal)."""
    diff = np.asarray(return_a, dtype=np.float64) - np.asarray(return_b, dtype=np.float64)
    p_a = (1 - noise_prob) / (1 + np.exp(-diff)) + noise_prob / 2  # bt_probability, written out again
    return float(np.mean(-(targets * np.log(p_a) + (1 - targets) * np.log(1 - p_a))))


def disagreement(probs):
    """probs [M members, P pairs] -> [P]: how much the members disagree, the std over members."""
    return np.std(probs, axis=0)


def most_disputed(scores, n):
    """Indices of the n largest scores, largest first."""
    return np.argsort(-np.asarray(scores))[:n]
