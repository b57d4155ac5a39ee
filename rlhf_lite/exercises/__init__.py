"""Checkers for the lessons' exercises: each says what is wrong in words, or that the answer is right.

Every lesson has a few exercises in the style of Spinning Up's problem sets: an exercise cell holds a stub
that runs (it returns something of the right type, but wrong) with a clear ``# your code here``, and the cell
after it calls a checker from this module::

    def discounted_return(rewards, gamma):
        return 0.0  # your code here

    exercises.check_discounted_return(discounted_return)

A checker tries the learner's function on small worked examples and returns a :class:`Check`, which shows as
a short report: a pass message, or the first example that fails, what was expected and what came back, and,
where the answer matches a typical mistake (a missing power of the discount, the noise term mixed the wrong
way, a flipped sign), what that mistake is. A checker never raises because of the learner's code: an error
inside it is reported as such.

Solutions live apart, in :mod:`rlhf_lite.solutions`, which no lesson imports; :func:`show_solution` prints
one when a reader asks. Skipping an exercise changes nothing else: the lessons go on with the package's own
versions (``rollouts.discounted_return``, ``reward_model.bt_probability``, ``preferences.active_pairs``...).
:data:`EXERCISES` lists them all, by id (``"01.discounted_return"``: lesson, then the function's name).

Layout: :mod:`rlhf_lite.exercises.checking` holds what every checker shares (the report, the registry entry,
calling the learner's code safely); ``lessonNN.py`` holds lesson NN's checkers, stubs and entries, and lists
its checkers in its ``__all__``. A new lesson's exercises are a file ``lessonNN.py`` plus its import line
below (and ``solutions/lessonNN.py`` plus its import line there).
"""

from __future__ import annotations

import inspect

from rlhf_lite.exercises.checking import NOT_YET as NOT_YET  # the reports begin with these (tests read them)
from rlhf_lite.exercises.checking import PASS as PASS
from rlhf_lite.exercises.checking import Check, Exercise, registered
from rlhf_lite.exercises.lesson01 import *  # noqa: F403
from rlhf_lite.exercises.lesson02 import *  # noqa: F403
from rlhf_lite.exercises.lesson03 import *  # noqa: F403
from rlhf_lite.exercises.lesson04 import *  # noqa: F403
from rlhf_lite.exercises.lesson05 import *  # noqa: F403
from rlhf_lite.exercises.lesson06 import *  # noqa: F403

EXERCISES: dict[str, Exercise] = registered()
"""Every exercise by id, in lesson order; ``EXERCISES[id].checker`` checks it."""

__all__ = [
    "Check",
    "Exercise",
    "EXERCISES",
    *(e.checker.__name__ for e in EXERCISES.values()),
    "solution_source",
    "show_solution",
]


def _exercise(exercise_id: str) -> Exercise:
    if exercise_id not in EXERCISES:
        raise ValueError(f"no exercise {exercise_id!r}: expected one of {', '.join(EXERCISES)}")
    return EXERCISES[exercise_id]


def solution_source(exercise_id: str) -> str:
    """The source of the solution to ``exercise_id`` (from :mod:`rlhf_lite.solutions`, imported only now)."""
    from rlhf_lite import solutions  # imported on request only: the lessons never import it

    return inspect.getsource(getattr(solutions, _exercise(exercise_id).name))


def show_solution(exercise_id: str) -> None:
    """Print the solution to ``exercise_id``, e.g. ``show_solution("01.discounted_return")``. Try first!"""
    print(solution_source(exercise_id))
