"""Solutions to lesson 03's exercises (see :mod:`rlhf_lite.exercises.lesson03`). Try first!"""

from __future__ import annotations

import numpy as np

__all__ = ["bt_probability", "bt_loss"]


def bt_probability(return_a, return_b, noise_prob):
    """P(a preferred to b) = (1 - noise_prob) * sigmoid(return_a - return_b) + noise_prob / 2."""
    diff = np.asarray(return_a, dtype=np.float64) - np.asarray(return_b, dtype=np.float64)
    return (1 - noise_prob) / (1 + np.exp(-diff)) + noise_prob / 2


def bt_loss(return_a, return_b, targets, noise_prob):
    """Mean cross-entropy of the noisy Bradley-Terry probability against targets (1 a, 0 b, 0.5 equal)."""
    diff = np.asarray(return_a, dtype=np.float64) - np.asarray(return_b, dtype=np.float64)
    p_a = (1 - noise_prob) / (1 + np.exp(-diff)) + noise_prob / 2  # bt_probability, written out again
    return float(np.mean(-(targets * np.log(p_a) + (1 - targets) * np.log(1 - p_a))))
