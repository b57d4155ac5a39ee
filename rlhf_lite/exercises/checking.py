"""What every lesson's checkers share: the report (:class:`Check`), the registry entry (:class:`Exercise`), and
the safe ways to call the learner's function and read what it returned.

A lesson's module (``lesson01.py``...) writes its checkers with these helpers and hands its exercises to
:func:`register`; ``rlhf_lite.exercises`` collects them into ``EXERCISES`` in lesson order.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "NOT_YET",
    "PASS",
    "Check",
    "Exercise",
    "as_array",
    "as_number",
    "call",
    "exercise",
    "fail",
    "fmt",
    "ok",
    "register",
    "registered",
    "verdict",
]

PASS = "Correct!"
NOT_YET = "Not yet:"


@dataclasses.dataclass(frozen=True)
class Check:
    """What a checker found. ``passed``: whether the answer is right; ``message``: the report, in words.

    Shown in a notebook (as the last line of a cell) it prints just the message.
    """

    exercise: str
    passed: bool
    message: str

    def __repr__(self) -> str:
        return self.message


def ok(exercise: str, text: str) -> Check:
    """A passed Check: ``"Correct! " + text`` (say what the right answer shows)."""
    return Check(exercise, True, f"{PASS} {text}")


def fail(exercise: str, text: str) -> Check:
    """A failed Check: ``"Not yet: " + text`` (name the example, what was expected and what came back)."""
    return Check(exercise, False, f"{NOT_YET} {text}")


def call(exercise: str, fn: Callable, args: tuple, shown: str) -> tuple[Any, Check | None]:
    """Call the learner's ``fn(*args)``; an exception becomes a failed Check that names the call."""
    if not callable(fn):
        return None, fail(
            exercise,
            f"expected a function, got {type(fn).__name__}: pass the function itself, "
            "without calling it (no brackets after its name)",
        )
    try:
        return fn(*args), None
    except Exception as e:  # noqa: BLE001 - any error in learner code is reported, not raised
        return None, fail(exercise, f"your function raised {type(e).__name__}: {e}\n  when called as {shown}")


def as_number(exercise: str, value: Any, shown: str) -> tuple[float | None, Check | None]:
    """``value`` as a float, or a failed Check saying it is not one number."""
    if isinstance(value, (bool, np.bool_)):
        return None, fail(exercise, f"{shown} returned {value!r}, a True/False: expected a number")
    arr = np.asarray(value) if isinstance(value, (int, float, np.number, np.ndarray, list, tuple)) else None
    if arr is None or arr.dtype.kind not in "iuf":
        return None, fail(exercise, f"{shown} returned {value!r} ({type(value).__name__}): expected a number")
    if arr.size != 1:
        return None, fail(
            exercise,
            f"{shown} returned an array of shape {arr.shape}: expected one number "
            "(did you forget to add up over the steps?)",
        )
    out = float(arr.reshape(()))
    if not math.isfinite(out):
        return None, fail(exercise, f"{shown} returned {out}: expected a finite number")
    return out, None


def verdict(ex: str, rows: list[tuple[Any, Any, dict[str, Any], str]], ok_text: str) -> Check:
    """Judge the learner's answers on all worked examples at once.

    ``rows``: one ``(got, want, variants, text)`` per example, ``variants`` mapping a hint (a typical mistake,
    in words) to what that mistake returns there. The report names the first example that fails and the hint
    whose mistake reproduces the learner's answers on *every* example (several mistakes can coincide on one).
    """

    def same(x: Any, y: Any) -> bool:
        return bool(np.allclose(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64), rtol=1e-5, atol=1e-7))

    failing = [text for got, want, _, text in rows if not same(got, want)]
    if not failing:
        return ok(ex, ok_text)
    hint = ""
    for h in rows[0][2]:
        if all(same(got, variants[h]) for got, _, variants, _ in rows):
            hint = f"\n  Hint: {h}"
            break
    return fail(ex, failing[0] + hint)


def as_array(ex: str, value: Any, shape: tuple, shown: str) -> tuple[np.ndarray | None, Check | None]:
    """``value`` (numbers, an array or a torch tensor) as a float64 array of exactly ``shape`` (``()``: one number),
    all finite; or a failed Check saying what came back instead."""
    try:
        arr = np.asarray(value.detach().numpy() if hasattr(value, "detach") else value, dtype=np.float64)
    except (TypeError, ValueError):
        return None, fail(ex, f"{shown} returned {type(value).__name__}: expected numbers")
    if arr.shape != shape:
        want = "one number" if shape == () else f"an array of shape {shape}, one value per pair"
        return None, fail(ex, f"{shown} returned shape {arr.shape}: expected {want}")
    if not np.all(np.isfinite(arr)):
        return None, fail(
            ex,
            f"{shown} returned {arr}: expected finite numbers (for huge return differences, "
            "use a form of the sigmoid that does not overflow)",
        )
    return arr, None


def fmt(x: Any) -> str:
    """A number or an array, short enough for a report: ``0.123457`` or ``[0.1235, 2]``."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 0:
        return f"{float(arr):.6g}"
    return "[" + ", ".join(f"{v:.4g}" for v in arr.ravel()) + "]"


@dataclasses.dataclass(frozen=True)
class Exercise:
    """One exercise: ``id`` (``"lesson.name"``), the function the reader writes, its checker, a one-line task."""

    id: str
    lesson: str
    name: str
    checker: Callable[..., Check]
    task: str
    stub: str = ""

    def check_call(self) -> str:
        """The checker call that follows the exercise cell, e.g. ``exercises.check_q_update(q_update)``."""
        return f"exercises.{self.checker.__name__}({self.name})"


def exercise(exercise_id: str, checker: Callable[..., Check], task: str, stub: str) -> Exercise:
    """An :class:`Exercise` from its id (``"05.kl_penalty"``: the lesson, a dot, the function's name), its checker,
    the one-line task and the stub the exercise cell holds (surrounding blank lines dropped, one newline kept)."""
    lesson, sep, name = exercise_id.partition(".")
    if not sep or not (lesson.isdigit() and len(lesson) == 2) or not name.isidentifier():
        raise ValueError(f"exercise id {exercise_id!r}: expected 'NN.function_name', e.g. '05.kl_penalty'")
    if f"def {name}(" not in stub:
        raise ValueError(f"exercise {exercise_id!r}: its stub must define {name}(...), the function the reader writes")
    return Exercise(exercise_id, lesson, name, checker, task, stub.strip() + "\n")


_REGISTRY: dict[str, Exercise] = {}


def register(*exercises: Exercise) -> None:
    """Add a lesson's exercises to the registry, in the order the lesson asks them (done once, when the lesson's
    module is imported by ``rlhf_lite.exercises``). An id may be registered only once."""
    for e in exercises:
        if e.id in _REGISTRY and _REGISTRY[e.id] != e:
            raise ValueError(
                f"exercise {e.id!r} is registered twice (by {_REGISTRY[e.id].checker.__module__} "
                f"and {e.checker.__module__}): ids must be unique"
            )
        _REGISTRY[e.id] = e


def registered() -> dict[str, Exercise]:
    """Every registered exercise by id, in lesson order (a copy: changing it changes no registry)."""
    return dict(sorted(_REGISTRY.items(), key=lambda kv: kv[1].lesson))
