"""Every checker accepts the solution, rejects the stub, and rejects typical mistakes with the right words.

A checker that passed everything would teach nothing, so each one is shown the stub that the exercise cell
holds and at least one typical wrong answer, and the test checks that the report names the mistake.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from rlhf_lite import exercises, solutions
from rlhf_lite.exercises import checking

IDS = list(exercises.EXERCISES)


def _stub(exercise_id: str):
    e = exercises.EXERCISES[exercise_id]
    namespace = {"np": np}
    exec(compile(e.stub, f"<stub {exercise_id}>", "exec"), namespace)  # the exercise cell's code, as shipped
    return namespace[e.name]


def _solution(exercise_id: str):
    e = exercises.EXERCISES[exercise_id]
    namespace = {"np": np}
    exec(compile(exercises.solution_source(exercise_id), f"<solution {exercise_id}>", "exec"), namespace)
    return namespace[e.name]


@pytest.mark.parametrize("exercise_id", IDS)
def test_checker_accepts_the_solution(exercise_id):
    e = exercises.EXERCISES[exercise_id]
    check = e.checker(_solution(exercise_id))
    assert check.passed, f"{exercise_id}: the solution was rejected: {check.message}"
    assert check.message.startswith(exercises.PASS) and repr(check) == check.message
    assert e.checker(getattr(solutions, e.name)).passed  # the module's function itself, too


@pytest.mark.parametrize("exercise_id", IDS)
def test_checker_rejects_the_stub(exercise_id):
    e = exercises.EXERCISES[exercise_id]
    assert "your code here" in e.stub
    check = e.checker(_stub(exercise_id))
    assert not check.passed and check.message.startswith(exercises.NOT_YET), check.message
    assert "Traceback" not in check.message


def test_every_lesson_has_two_to_four_exercises():
    for lesson in ("01", "02", "03", "04", "05", "06"):
        n = sum(e.lesson == lesson for e in exercises.EXERCISES.values())
        assert 2 <= n <= 4, f"lesson {lesson} has {n} exercises"


def test_every_exercise_is_public_under_its_checker_name():
    for e in exercises.EXERCISES.values():
        assert e.id == f"{e.lesson}.{e.name}" and e.check_call() == f"exercises.{e.checker.__name__}({e.name})"
        assert getattr(exercises, e.checker.__name__) is e.checker and e.checker.__name__ in exercises.__all__
        assert callable(getattr(solutions, e.name)), f"{e.id}: rlhf_lite.solutions has no {e.name}"


def test_an_exercise_entry_is_checked_when_made_and_registered():
    e = exercises.EXERCISES["01.q_update"]
    with pytest.raises(ValueError, match="expected 'NN.function_name'"):
        checking.exercise("5.q_update", e.checker, e.task, e.stub)
    with pytest.raises(ValueError, match=r"must define q_update\(\.\.\.\)"):
        checking.exercise("01.q_update", e.checker, e.task, "def other():\n    return 0  # your code here\n")
    assert checking.exercise(e.id, e.checker, e.task, "\n\n" + e.stub + "\n\n") == e  # blank lines around: same
    checking.register(e)  # the same entry again changes nothing
    with pytest.raises(ValueError, match="registered twice"):
        checking.register(dataclasses.replace(e, task="another task"))
    assert checking.registered()["01.q_update"] == e


def _rejects(checker, fn, *words):
    check = checker(fn)
    assert not check.passed, f"{checker.__name__} accepted a wrong answer: {check.message}"
    for w in words:
        assert w in check.message, f"{checker.__name__}: expected {w!r} in the report, got:\n{check.message}"
    return check


# -- 01 --------------------------------------------------------------------------------------------------------


def test_discounted_return_mistakes():
    c = exercises.check_discounted_return
    _rejects(c, lambda r, g: float(np.sum(g * np.asarray(r))), "gamma to the power t", "0.0195312")
    _rejects(c, lambda r, g: float(np.sum(g ** (np.arange(len(r)) + 1) * np.asarray(r))), "start at 1")
    _rejects(c, lambda r, g: float(np.sum(g ** np.arange(len(r))[::-1] * np.asarray(r))), "from the end")
    _rejects(c, lambda r, g: float(np.sum(r)), "no discount")
    _rejects(c, lambda r, g: g ** np.arange(len(r)) * np.asarray(r), "shape (10,)", "one number")
    _rejects(c, lambda r, g: 1 / 0, "ZeroDivisionError", "discounted_return([0.0")
    _rejects(c, 3.0, "expected a function")


def _q(fn_target, lr_form="good"):
    def q_update(q, s, a, r, s_next, terminated, gamma, learning_rate):
        target = fn_target(q, s, a, r, s_next, terminated, gamma)
        if lr_form == "none":
            return target
        if lr_form == "sign":
            return q[s, a] - learning_rate * (target - q[s, a])
        return q[s, a] + learning_rate * (target - q[s, a])

    return q_update


def test_q_update_mistakes():
    c = exercises.check_q_update
    good = lambda q, s, a, r, s2, t, g: r if t else r + g * q[s2].max()  # noqa: E731
    assert c(_q(good)).passed
    _rejects(c, _q(good, "none"), "only part of the way")
    _rejects(c, _q(good, "sign"), "sign of the step is flipped")
    _rejects(c, _q(lambda q, s, a, r, s2, t, g: r + g * q[s2].max()), "terminated", "just r")
    _rejects(c, _q(lambda q, s, a, r, s2, t, g: r if t else r + g * q[s2].min()), "BEST next action")
    _rejects(c, _q(lambda q, s, a, r, s2, t, g: r if t else r + g * q[s2, a]), "not Q[s_next, a]")
    _rejects(c, _q(lambda q, s, a, r, s2, t, g: r if t else r + q[s2].max()), "left out gamma")
    _rejects(c, lambda q, s, a, r, s2, t, g, lr: q[s], "shape (2,)")


# -- 02 --------------------------------------------------------------------------------------------------------


def test_boat_patch_mistakes():
    c = exercises.check_boat_patch
    _rejects(c, {}, "never finished", "Circling")
    _rejects(c, {"respawn": False}, "detours for buoys")  # lesson 02's second row: a lap first
    _rejects(c, {"respawn": False, "step_penalty": 0.3}, "sank", "ending early is cheaper")
    _rejects(c, {"finish_points": 5}, "not a valid written reward", "finish_bonus")
    _rejects(c, lambda: [("finish_bonus", 20.0)], "expected a dict")
    assert c(lambda: {"finish_bonus": 20.0}).passed  # a function returning the dict works as well as the dict


def test_robust_patch_rejects_the_knife_edge():
    c = exercises.check_robust_patch
    check = _rejects(c, solutions.boat_patch(), "2 of 3", "gamma 0.9:", "detours")  # works at 0.95 only
    assert "gamma 0.95:" not in check.message
    _rejects(c, {"finish_bonus": 20.0}, "gamma 0.98:", "Circling")


# -- 03 --------------------------------------------------------------------------------------------------------


def _sig(x):
    return 1 / (1 + np.exp(-(np.asarray(x, dtype=float))))


def test_bt_probability_mistakes():
    c = exercises.check_bt_probability

    def d(a, b):
        return np.asarray(a, dtype=float) - np.asarray(b, dtype=float)

    _rejects(c, lambda a, b, e: (1 - e) * _sig(-d(a, b)) + e / 2, "sign is flipped")
    _rejects(c, lambda a, b, e: _sig(d(a, b)), "noise term is missing")
    _rejects(c, lambda a, b, e: (1 - e) * _sig(d(a, b)) + e, "noise_prob / 2, not noise_prob")
    _rejects(c, lambda a, b, e: e * _sig(d(a, b)) + (1 - e) / 2, "weights are swapped")
    _rejects(c, lambda a, b, e: _sig(d(a, b)) + e / 2, "scaled by (1 - noise_prob)")
    _rejects(c, lambda a, b, e: float(np.mean((1 - e) * _sig(d(a, b)) + e / 2)), "shape ()", "(3,)")
    stub = _stub("03.bt_probability")
    assert "Hint" not in c(stub).message  # a constant 0.5 is no particular mistake: no misleading hint


def test_bt_loss_mistakes():
    c = exercises.check_bt_loss

    def p(a, b, e):
        return (1 - e) * _sig(a - b) + e / 2

    def ce(pa, y):
        return -(y * np.log(pa) + (1 - y) * np.log(1 - pa))

    _rejects(c, lambda a, b, y, e: -float(np.mean(ce(p(a, b, e), y))), "sign is flipped")
    _rejects(c, lambda a, b, y, e: float(np.mean(ce(p(a, b, e), 1 - y))), "wrong way round")
    _rejects(c, lambda a, b, y, e: float(np.mean(ce(_sig(a - b), y))), "noise term is missing")
    _rejects(c, lambda a, b, y, e: float(np.sum(ce(p(a, b, e), y))), "mean")
    _rejects(
        c,
        lambda a, b, y, e: float(np.mean(np.where(y > 0.5, -np.log(p(a, b, e)), -np.log(1 - p(a, b, e))))),
        "tie (target 0.5)",
    )
    _rejects(c, lambda a, b, y, e: ce(p(a, b, e), y), "shape (1,)", "one number")


# -- 04 --------------------------------------------------------------------------------------------------------


def test_disagreement_mistakes():
    c = exercises.check_disagreement
    _rejects(c, lambda P: np.std(P, axis=1), "axis 0")
    _rejects(c, lambda P: -np.abs(np.mean(P, axis=0) - 0.5), "UNSURE")
    _rejects(c, lambda P: np.mean(P, axis=0), "average belief")
    _rejects(c, lambda P: np.max(P, axis=0) - np.min(P, axis=0), "rank the pairs differently")
    assert c(lambda P: np.var(P, axis=0)).passed  # any score ranking pairs as the std does is fine


def test_most_disputed_mistakes():
    c = exercises.check_most_disputed
    _rejects(c, lambda s, n: np.argsort(s)[:n], "LEAST disputed")
    _rejects(c, lambda s, n: np.sort(s)[::-1][:n], "those are scores")
    _rejects(c, lambda s, n: np.argsort(-s)[: n + 1], "exactly n = 3")
    _rejects(c, lambda s, n: sorted(np.argsort(-s)[:n]), "wrong order")


def test_show_solution_prints_the_source(capsys):
    exercises.show_solution("01.discounted_return")
    assert "def discounted_return" in capsys.readouterr().out
    with pytest.raises(ValueError, match="no exercise '01.nope'"):
        exercises.solution_source("01.nope")
