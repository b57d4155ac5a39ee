"""Solutions to lesson 02's exercises (see :mod:`rlhf_lite.exercises.lesson02`). Try first!"""

from __future__ import annotations

__all__ = ["boat_patch", "robust_patch"]


def boat_patch():
    """The WrittenReward fields to change so that the best boat (gamma 0.95) sails the racing line."""
    return {"respawn": False, "step_penalty": 1.0, "sink_penalty": 10.0}  # lesson 02's fifth patch


def robust_patch():
    """A patch that works for every discount: pay only for what we mean (the buoys were never the goal)."""
    return {"target_points": 0.0}
