"""Solutions to lesson 04's exercises (see :mod:`rlhf_lite.exercises.lesson04`). Try first!"""

from __future__ import annotations

import numpy as np

__all__ = ["disagreement", "most_disputed"]


def disagreement(probs):
    """probs [M members, P pairs] -> [P]: how much the members disagree, the std over members."""
    return np.std(probs, axis=0)


def most_disputed(scores, n):
    """Indices of the n largest scores, largest first."""
    return np.argsort(-np.asarray(scores))[:n]
