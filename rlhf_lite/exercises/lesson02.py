"""Lesson 02's exercises, reward patches for the boat race: checkers, stubs and registry entries."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from rlhf_lite.exercises.checking import Check, call, exercise, fail, ok, register

__all__ = ["check_boat_patch", "check_robust_patch"]


def _patch_of(ex: str, patch: Any) -> tuple[dict | None, Check | None]:
    from rlhf_lite import boat_race

    if callable(patch):
        patch, bad = call(ex, patch, (), "your function()")
        if bad is not None:
            return None, bad
    if not isinstance(patch, dict):
        return None, fail(
            ex, f"expected a dict of WrittenReward fields such as {{'finish_bonus': 5.0}}, got {type(patch).__name__}"
        )
    try:
        boat_race.WrittenReward(**patch)
    except (TypeError, ValueError) as e:
        fields = ", ".join(f.name for f in dataclasses.fields(boat_race.WrittenReward))
        return None, fail(ex, f"this patch is not a valid written reward: {e}\n  The fields are: {fields}.")
    return patch, None


def _best_race(patch: dict, gamma: float) -> tuple[dict, int]:
    """Stats of one race of the reward-optimal boat (value iteration) under ``patch``, and the race length."""
    from rlhf_lite import agents, boat_race

    env = boat_race.BoatRace(**patch)
    P, R, terminal = env.tabular_model()
    _, q = agents.value_iteration(P, R, gamma, terminal, tol=1e-8)
    _, stats = boat_race.race_episode(env, agents.greedy_policy(q), seed=0)
    return stats, env.race_length


def _race_verdict(stats: dict, race_length: int) -> str | None:
    """``None`` if the boat sailed the racing line, else what it did instead and why, in words."""
    from rlhf_lite import boat_race

    said = boat_race.describe_race(stats, race_length)
    if stats["finished"] and stats["steps"] <= race_length:
        return None
    if stats["finished"]:
        return (
            f"the best boat {said}. It finishes, but detours for buoys first: each buoy it collects "
            "is still worth more than the steps the detour costs."
        )
    if stats["sank"]:
        return (
            f"the best boat {said}. Sinking ends the episode, and with it every penalty still to come: "
            "under your reward, ending early is cheaper than racing."
        )
    return (
        f"the best boat {said}. Circling for buoys still pays more than finishing: a lap of the lagoon "
        "pays again and again, the finish only once."
    )


def check_boat_patch(patch: dict | Callable[[], dict], gamma: float = 0.95) -> Check:
    """Check a reward patch (a dict of :class:`rlhf_lite.boat_race.WrittenReward` fields, or a function returning
    one) under which the reward-optimal boat sails the racing line: finishes in ``race_length`` steps."""
    ex = "02.boat_patch"
    patch, bad = _patch_of(ex, patch)
    if bad is not None:
        return bad
    stats, race_length = _best_race(patch, gamma)
    verdict = _race_verdict(stats, race_length)
    if verdict:
        return fail(ex, f"with patch {patch or '{} (no change)'} and gamma {gamma}, {verdict}")
    return ok(
        ex,
        f"with patch {patch}, the best boat (gamma {gamma}) races: it finishes in {stats['steps']} "
        f"steps, the racing line. (Exercise 02.2 asks for a patch that works for other discounts too.)",
    )


def check_robust_patch(patch: dict | Callable[[], dict], gammas: tuple[float, ...] = (0.9, 0.95, 0.98)) -> Check:
    """Check a patch under which the best boat races for every discount in ``gammas`` (impatient to patient)."""
    ex = "02.robust_patch"
    patch, bad = _patch_of(ex, patch)
    if bad is not None:
        return bad
    failing = []
    for gamma in gammas:
        stats, race_length = _best_race(patch, gamma)
        verdict = _race_verdict(stats, race_length)
        if verdict:
            failing.append(f"gamma {gamma}: {verdict}")
    if failing:
        good = len(gammas) - len(failing)
        return fail(
            ex,
            f"with patch {patch or '{} (no change)'} the best boat races for {good} of {len(gammas)} "
            "discounts. Where it does not:\n  " + "\n  ".join(failing),
        )
    return ok(ex, f"with patch {patch}, boats with every discount in {gammas} sail the racing line.")


_BOAT_PATCH = '''
def boat_patch():
    """The WrittenReward fields to change, as a dict, e.g. {"finish_bonus": 5.0}: all the others keep their
    defaults (see print(boat_race.WrittenReward().describe()))."""
    return {}  # your code here
'''

_ROBUST_PATCH = '''
def robust_patch():
    """A patch (a dict of WrittenReward fields) under which impatient (gamma 0.9) and patient (0.98) boats race."""
    return {}  # your code here
'''


register(
    exercise(
        "02.boat_patch",
        check_boat_patch,
        "patch the written reward so that the best boat races instead of looping",
        _BOAT_PATCH,
    ),
    exercise(
        "02.robust_patch",
        check_robust_patch,
        "find a patch that works for impatient and patient boats alike",
        _ROBUST_PATCH,
    ),
)
