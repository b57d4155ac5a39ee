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
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "Check",
    "Exercise",
    "EXERCISES",
    "check_discounted_return",
    "check_q_update",
    "check_boat_patch",
    "check_robust_patch",
    "check_bt_probability",
    "check_bt_loss",
    "check_disagreement",
    "check_most_disputed",
    "solution_source",
    "show_solution",
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


def _ok(exercise: str, text: str) -> Check:
    return Check(exercise, True, f"{PASS} {text}")


def _fail(exercise: str, text: str) -> Check:
    return Check(exercise, False, f"{NOT_YET} {text}")


def _call(exercise: str, fn: Callable, args: tuple, shown: str) -> tuple[Any, Check | None]:
    """Call the learner's ``fn(*args)``; an exception becomes a failed Check that names the call."""
    if not callable(fn):
        return None, _fail(
            exercise,
            f"expected a function, got {type(fn).__name__}: pass the function itself, "
            "without calling it (no brackets after its name)",
        )
    try:
        return fn(*args), None
    except Exception as e:  # noqa: BLE001 - any error in learner code is reported, not raised
        return None, _fail(exercise, f"your function raised {type(e).__name__}: {e}\n  when called as {shown}")


def _number(exercise: str, value: Any, shown: str) -> tuple[float | None, Check | None]:
    """``value`` as a float, or a failed Check saying it is not one number."""
    if isinstance(value, (bool, np.bool_)):
        return None, _fail(exercise, f"{shown} returned {value!r}, a True/False: expected a number")
    arr = np.asarray(value) if isinstance(value, (int, float, np.number, np.ndarray, list, tuple)) else None
    if arr is None or arr.dtype.kind not in "iuf":
        return None, _fail(exercise, f"{shown} returned {value!r} ({type(value).__name__}): expected a number")
    if arr.size != 1:
        return None, _fail(
            exercise,
            f"{shown} returned an array of shape {arr.shape}: expected one number "
            "(did you forget to add up over the steps?)",
        )
    out = float(arr.reshape(()))
    if not math.isfinite(out):
        return None, _fail(exercise, f"{shown} returned {out}: expected a finite number")
    return out, None


def _close(a: float, b: float, tol: float = 1e-6) -> bool:
    return abs(a - b) <= tol * max(1.0, abs(b))


# ==============================================================================================================
# Lesson 01: returns and Q-learning
# ==============================================================================================================


def _verdict(ex: str, rows: list[tuple[Any, Any, dict[str, Any], str]], ok_text: str) -> Check:
    """Judge the learner's answers on all worked examples at once.

    ``rows``: one ``(got, want, variants, text)`` per example, ``variants`` mapping a hint (a typical mistake,
    in words) to what that mistake returns there. The report names the first example that fails and the hint
    whose mistake reproduces the learner's answers on *every* example (several mistakes can coincide on one).
    """

    def same(x: Any, y: Any) -> bool:
        return bool(np.allclose(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64), rtol=1e-5, atol=1e-7))

    failing = [text for got, want, _, text in rows if not same(got, want)]
    if not failing:
        return _ok(ex, ok_text)
    hint = ""
    for h in rows[0][2]:
        if all(same(got, variants[h]) for got, _, variants, _ in rows):
            hint = f"\n  Hint: {h}"
            break
    return _fail(ex, failing[0] + hint)


def check_discounted_return(fn: Callable[[Any, float], float]) -> Check:
    """Check ``fn(rewards, gamma) -> float``: the discounted return ``sum_t gamma**t * rewards[t]``."""
    ex = "01.discounted_return"
    cases = [
        ([0.0] * 9 + [10.0], 0.5, "the walk to the +10: nine steps of 0, then 10"),
        ([1.0], 0.5, "the walk to the +1: one step"),
        ([1.0, 2.0, 3.0], 0.9, "three rewards"),
        ([1.0, 2.0, 3.0], 1.0, "gamma = 1 (no discount)"),
        ([1.0, 2.0, 3.0], 0.0, "gamma = 0 (myopic)"),
        ([], 0.9, "an empty episode"),
    ]
    rows = []
    for rewards, gamma, what in cases:
        shown = f"discounted_return({rewards}, gamma={gamma})"
        got, bad = _call(ex, fn, (np.array(rewards, dtype=np.float64), gamma), shown)
        if bad is not None:
            return bad
        got, bad = _number(ex, got, shown)
        if bad is not None:
            return bad
        r = np.array(rewards, dtype=np.float64)
        t = np.arange(len(r))
        want = float(np.sum(gamma**t * r))
        variants = {
            "a reward t steps away is weighted by gamma to the power t (gamma**t), not by gamma once: "
            "you multiplied every reward by gamma.": float(np.sum(gamma * r)),
            "the first reward counts fully (gamma**0 = 1): your powers start at 1 instead of 0.": float(
                np.sum(gamma ** (t + 1) * r)
            ),
            "you discounted from the end of the episode: it is the LATER rewards that count less, "
            "the first one counts fully.": float(np.sum(gamma ** (len(r) - 1 - t) * r)),
            "no discount at all: that is the plain return, the sum of the rewards.": float(np.sum(r)),
        }
        rows.append((got, want, variants, f"on {what}, {shown} should be {want:.6g}, you returned {got:.6g}."))
    return _verdict(
        ex,
        rows,
        "discounted_return weighs a reward t steps away by gamma**t: on the walk to the +10 "
        "with gamma = 0.5 the far treasure is worth only 10 * 0.5**9 = 0.0195.",
    )


def check_q_update(fn: Callable[..., float]) -> Check:
    """Check ``fn(q, s, a, r, s_next, terminated, gamma, learning_rate) -> float``: the new value of ``q[s, a]``.

    ``q [S, A]`` is the table (not to be changed); the answer is ``q[s, a] + lr * (target - q[s, a])`` with
    ``target = r + gamma * max_a' q[s_next, a']``, or just ``r`` when the episode terminated.
    """
    ex = "01.q_update"
    q = np.array([[0.0, 2.0], [1.0, 5.0], [4.0, -1.0]])
    cases = [
        # (s, a, r, s_next, terminated, gamma, lr, what)
        (0, 0, 1.0, 1, False, 0.9, 0.5, "an ordinary step"),
        (2, 1, 0.0, 0, False, 0.5, 0.1, "a step with reward 0"),
        (1, 0, 10.0, 2, True, 0.9, 0.5, "the step that reaches a treasure (terminated=True)"),
        (0, 1, -1.0, 2, False, 0.9, 1.0, "learning_rate = 1"),
        (2, 0, 2.0, 1, False, 0.8, 0.25, "another step"),
    ]
    rows = []
    for s, a, r, s2, term, gamma, lr, what in cases:
        shown = f"q_update(q, s={s}, a={a}, r={r}, s_next={s2}, terminated={term}, gamma={gamma}, learning_rate={lr})"
        got, bad = _call(ex, fn, (q.copy(), s, a, r, s2, term, gamma, lr), shown)
        if bad is not None:
            return bad
        got, bad = _number(ex, got, shown)
        if bad is not None:
            return bad
        old = q[s, a]
        target = r if term else r + gamma * q[s2].max()
        want = old + lr * (target - old)
        variants = {
            "you returned the target itself: move Q[s, a] only part of the way towards it, "
            "Q + learning_rate * (target - Q).": target,
            "the sign of the step is flipped: Q moves TOWARDS the target, Q + lr * (target - Q), not away from it.": old
            - lr * (target - old),
            "when the episode terminated there is no next state to look ahead to: the target is just r.": old
            + lr * (r + gamma * q[s2].max() - old),
            "the target looks ahead with the BEST next action, max over a' of Q[s_next, a'], not the worst (min).": old
            + lr * ((r if term else r + gamma * q[s2].min()) - old),
            "the look-ahead uses the best next action, max over a' of Q[s_next, a'], not Q[s_next, a] "
            "(the action just taken).": old + lr * ((r if term else r + gamma * q[s2, a]) - old),
            "the look-ahead is discounted: r + gamma * max Q[s_next], you left out gamma.": old
            + lr * ((r if term else r + q[s2].max()) - old),
            "the target needs the next state's value: r + gamma * max Q[s_next], not only r.": old + lr * (r - old),
        }
        rows.append(
            (got, want, variants, f"on {what}, with q =\n{q}\n  {shown} should be {want:.6g}, you returned {got:.6g}.")
        )
    return _verdict(
        ex,
        rows,
        "one Q-learning step moves Q[s, a] a fraction learning_rate of the way towards "
        "r + gamma * max Q[s_next], and towards r alone at the end of an episode.",
    )


# ==============================================================================================================
# Lesson 02: reward patches for the boat race
# ==============================================================================================================


def _patch_of(ex: str, patch: Any) -> tuple[dict | None, Check | None]:
    from rlhf_lite import boat_race

    if callable(patch):
        patch, bad = _call(ex, patch, (), "your function()")
        if bad is not None:
            return None, bad
    if not isinstance(patch, dict):
        return None, _fail(
            ex, f"expected a dict of WrittenReward fields such as {{'finish_bonus': 5.0}}, got {type(patch).__name__}"
        )
    try:
        boat_race.WrittenReward(**patch)
    except (TypeError, ValueError) as e:
        fields = ", ".join(f.name for f in dataclasses.fields(boat_race.WrittenReward))
        return None, _fail(ex, f"this patch is not a valid written reward: {e}\n  The fields are: {fields}.")
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
        return _fail(ex, f"with patch {patch or '{} (no change)'} and gamma {gamma}, {verdict}")
    return _ok(
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
        return _fail(
            ex,
            f"with patch {patch or '{} (no change)'} the best boat races for {good} of {len(gammas)} "
            "discounts. Where it does not:\n  " + "\n  ".join(failing),
        )
    return _ok(ex, f"with patch {patch}, boats with every discount in {gammas} sail the racing line.")


# ==============================================================================================================
# Lesson 03: Bradley-Terry with a noise term
# ==============================================================================================================


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _array(ex: str, value: Any, shape: tuple, shown: str) -> tuple[np.ndarray | None, Check | None]:
    try:
        arr = np.asarray(value.detach().numpy() if hasattr(value, "detach") else value, dtype=np.float64)
    except (TypeError, ValueError):
        return None, _fail(ex, f"{shown} returned {type(value).__name__}: expected numbers")
    if arr.shape != shape:
        want = "one number" if shape == () else f"an array of shape {shape}, one value per pair"
        return None, _fail(ex, f"{shown} returned shape {arr.shape}: expected {want}")
    if not np.all(np.isfinite(arr)):
        return None, _fail(
            ex,
            f"{shown} returned {arr}: expected finite numbers (for huge return differences, "
            "use a form of the sigmoid that does not overflow)",
        )
    return arr, None


def check_bt_probability(fn: Callable[[Any, Any, float], Any]) -> Check:
    """Check ``fn(return_a, return_b, noise_prob) -> P(a preferred to b)``, numbers or arrays ``[P]`` in,
    the same shape out: ``(1 - noise_prob) * sigmoid(return_a - return_b) + noise_prob / 2``."""
    ex = "03.bt_probability"
    cases = [
        (0.0, 0.0, 0.1, "two clips with the same return"),
        (2.0, 0.0, 0.0, "clip a better by 2, no noise"),
        (2.0, 0.0, 0.1, "clip a better by 2, 10% random answers"),
        (0.0, 2.0, 0.1, "clip b better by 2, 10% random answers"),
        (30.0, 0.0, 0.2, "clip a far better, 20% random answers"),
        (np.array([1.0, -1.0, 0.0]), np.array([0.0, 0.0, 3.0]), 0.1, "arrays of three pairs"),
    ]
    rows = []
    for ra, rb, eps, what in cases:
        shown = f"bt_probability({_fmt(ra)}, {_fmt(rb)}, noise_prob={eps})"
        got, bad = _call(ex, fn, (ra, rb, eps), shown)
        if bad is not None:
            return bad
        got, bad = _array(ex, got, np.shape(ra), shown)
        if bad is not None:
            return bad
        d = np.asarray(ra, dtype=np.float64) - np.asarray(rb, dtype=np.float64)
        want = (1 - eps) * _sigmoid(d) + eps / 2
        variants = {
            "the sign is flipped: a clip with the HIGHER return should be the more likely to be preferred, "
            "so use sigmoid(return_a - return_b).": (1 - eps) * _sigmoid(-d) + eps / 2,
            "the noise term is missing: with probability noise_prob the labeler answers at random, so even "
            "a far better clip wins only (1 - noise_prob) * sigmoid(...) + noise_prob / 2 of the time.": _sigmoid(d),
            "a random answer picks each side half the time: add noise_prob / 2, not noise_prob "
            "(otherwise P(a) + P(b) is more than 1).": (1 - eps) * _sigmoid(d) + eps,
            "the mixing weights are swapped: the sigmoid part gets (1 - noise_prob), the random part "
            "noise_prob / 2.": eps * _sigmoid(d) + (1 - eps) / 2,
            "the sigmoid part must be scaled by (1 - noise_prob): only that share of answers follows the returns "
            "(otherwise P can exceed 1).": _sigmoid(d) + eps / 2,
        }
        rows.append((got, want, variants, f"on {what}, {shown} should be {_fmt(want)}, you returned {_fmt(got)}."))
    return _verdict(
        ex,
        rows,
        "P(a > b) = (1 - noise) * sigmoid(R(a) - R(b)) + noise / 2: even a far better clip "
        "wins only 1 - noise / 2 of the time, so one wrong answer cannot cost an unbounded loss.",
    )


def check_bt_loss(fn: Callable[[Any, Any, Any, float], Any]) -> Check:
    """Check ``fn(return_a, return_b, targets, noise_prob) -> mean loss`` (a number): the cross-entropy
    ``-mean(y log P(a>b) + (1 - y) log P(b>a))`` with ``P`` from the noisy Bradley-Terry model and ``y`` 1 when a
    was preferred, 0 when b was, 0.5 for equally good. Inputs are numpy arrays ``[P]``."""
    ex = "03.bt_loss"
    cases = [
        ([2.0], [0.0], [1.0], 0.0, "one pair, a better by 2 and preferred, no noise"),
        ([2.0], [0.0], [0.0], 0.0, "one pair, a better by 2 but b preferred, no noise"),
        ([2.0, -1.0], [0.0, 1.0], [1.0, 0.0], 0.1, "two pairs, 10% noise"),
        ([1.0, 0.5], [0.0, 0.5], [0.5, 1.0], 0.1, "a tie (target 0.5) and a preference, 10% noise"),
        ([20.0], [0.0], [0.0], 0.2, "a far better clip that was NOT preferred, 20% noise"),
    ]
    rows = []
    for ra, rb, y, eps, what in cases:
        a, b, t = (np.array(v, dtype=np.float64) for v in (ra, rb, y))
        shown = f"bt_loss({ra}, {rb}, targets={y}, noise_prob={eps})"
        got, bad = _call(ex, fn, (a, b, t, eps), shown)
        if bad is not None:
            return bad
        got, bad = _array(ex, got, (), shown)
        if bad is not None:
            return bad
        got = float(got)
        pa = (1 - eps) * _sigmoid(a - b) + eps / 2

        def ce(p: np.ndarray, yy: np.ndarray = t) -> np.ndarray:
            return -(yy * np.log(p) + (1 - yy) * np.log(1 - p))

        want = float(np.mean(ce(pa)))
        variants = {
            "the loss is the NEGATIVE log-likelihood: it must be >= 0 and small when the model agrees with the "
            "answers; your sign is flipped.": -want,
            "the targets are used the wrong way round: y = 1 means a was preferred, so y goes with "
            "log P(a > b).": float(np.mean(ce(pa, 1 - t))),
            "the noise term is missing from P: use (1 - noise) * sigmoid(R(a) - R(b)) + noise / 2 "
            "(a far better clip that lost should cost a bounded loss).": float(np.mean(ce(_sigmoid(a - b)))),
            "average over pairs (mean), do not add them up: the loss should not grow with the number of labels.": float(
                np.sum(ce(pa))
            ),
            "a tie (target 0.5) counts half for each side: use y * log P(a>b) + (1 - y) * log P(b>a) for every "
            "target, not only for 0 and 1.": float(np.mean(np.where(t > 0.5, -np.log(pa), -np.log(1 - pa)))),
        }
        rows.append((got, want, variants, f"on {what}, {shown} should be {want:.6g}, you returned {got:.6g}."))
    return _verdict(
        ex,
        rows,
        "the Bradley-Terry loss is the cross-entropy of the noisy preference probability "
        "against the answers; with noise 0.2 a far better clip that lost costs only "
        "-log(0.1) = 2.3, not infinity.",
    )


# ==============================================================================================================
# Lesson 04: asking about the most disputed pairs
# ==============================================================================================================


def check_disagreement(fn: Callable[[np.ndarray], np.ndarray]) -> Check:
    """Check ``fn(probs) -> scores``: ``probs [M, P]`` holds each of ``M`` ensemble members' probability that the
    left clip of each of ``P`` pairs is better; ``scores [P]`` must say how much the members disagree (the
    package uses the standard deviation over members; any score that ranks pairs the same way passes)."""
    ex = "04.disagreement"
    agree_unsure = np.array([[0.5, 0.9, 0.5], [0.5, 0.9, 0.1], [0.5, 0.9, 0.9], [0.5, 0.9, 0.5]])  # pair 0: all 0.5
    shown = "disagreement(probs) with probs of shape (4 members, 3 pairs)"
    got, bad = _call(ex, fn, (agree_unsure.copy(),), shown)
    if bad is not None:
        return bad
    got, bad = _array(ex, got, (3,), shown)
    if bad is not None:
        return Check(
            ex,
            False,
            bad.message + "\n  Hint: take the spread over the members (axis 0), one score per "
            "pair; axis 1 would give one score per member.",
        )
    want = agree_unsure.std(axis=0)
    members_agree = (abs(got[0] - got[1]) < 1e-9) and got[2] > got[0]
    if not members_agree:
        mean = agree_unsure.mean(axis=0)
        hint = ""
        if (
            np.allclose(got, -np.abs(mean - 0.5))
            or np.allclose(got, 0.5 - np.abs(mean - 0.5))
            or (got[0] > got[1] and got[0] >= got[2])
        ):
            hint = (
                "\n  Hint: you scored how UNSURE the ensemble's average is (close to 0.5). Pair 0 is a coin flip "
                "on which every member agrees: another answer teaches the members nothing they disagree about. "
                "Score the spread between members instead (np.std over axis 0)."
            )
        elif np.allclose(got, mean):
            hint = "\n  Hint: that is the members' average belief; disagreement is their spread (std over axis 0)."
        return _fail(
            ex,
            f"on probs =\n{agree_unsure}\n  (columns are pairs) pairs 0 and 1 have no disagreement at all "
            f"(every member says the same) and pair 2 has a lot; your scores {_fmt(got)} should be "
            f"equal for pairs 0 and 1 and larger for pair 2 (the std: {_fmt(want)})." + hint,
        )
    rng = np.random.default_rng(0)
    probs = rng.uniform(0.02, 0.98, size=(5, 8))
    shown = "disagreement(probs) with probs of shape (5 members, 8 pairs)"
    got, bad = _call(ex, fn, (probs.copy(),), shown)
    if bad is not None:
        return bad
    got, bad = _array(ex, got, (8,), shown)
    if bad is not None:
        return bad
    want = probs.std(axis=0)
    if not np.array_equal(np.argsort(-got, kind="stable"), np.argsort(-want, kind="stable")):
        return _fail(
            ex,
            f"on 5 members x 8 random pairs your scores rank the pairs differently from the spread "
            f"between members (std over axis 0): you {_fmt(got)}, std {_fmt(want)}.",
        )
    return _ok(
        ex,
        "disagreement is the spread of the members' beliefs about a pair: where they agree, even on a "
        "coin flip, an answer settles little; where they split, it settles the most.",
    )


def check_most_disputed(fn: Callable[[np.ndarray, int], Any]) -> Check:
    """Check ``fn(scores, n) -> indices``: the indices of the ``n`` largest of ``scores [P]``, largest first."""
    ex = "04.most_disputed"
    scores = np.array([0.05, 0.30, 0.01, 0.22, 0.40, 0.10])
    for n in (3, 1, 0):
        shown = f"most_disputed({_fmt(scores)}, n={n})"
        got, bad = _call(ex, fn, (scores.copy(), n), shown)
        if bad is not None:
            return bad
        try:
            arr = np.asarray(got)
        except (TypeError, ValueError):
            return _fail(ex, f"{shown} returned {type(got).__name__}: expected a list or array of indices")
        want = np.argsort(-scores, kind="stable")[:n]
        if arr.shape != (n,):
            return _fail(
                ex,
                f"{shown} returned {arr.shape[0] if arr.ndim == 1 else arr.shape} value(s): expected "
                f"exactly n = {n} indices",
            )
        if n and arr.dtype.kind == "f" and np.all(np.isin(arr, scores)) and not np.all(arr == arr.astype(int)):
            return _fail(
                ex,
                f"{shown} returned {_fmt(arr)}: those are scores. Return the pairs' positions "
                f"(indices), e.g. {[int(i) for i in want]}; np.argsort gives positions.",
            )
        if arr.dtype.kind not in "iu" and not (arr.size == 0 or np.all(arr == np.round(arr))):
            return _fail(ex, f"{shown} returned {_fmt(arr)}: expected whole-number indices")
        arr = arr.astype(int)
        mine, right = [int(i) for i in arr], [int(i) for i in want]
        if np.array_equal(arr, want):
            continue
        if set(arr.tolist()) == set(want.tolist()):
            return _fail(
                ex, f"{shown} returned {mine}: the right pairs, in the wrong order. Most disputed first: {right}."
            )
        least = np.argsort(scores, kind="stable")[:n]
        if np.array_equal(arr, least):
            return _fail(
                ex,
                f"{shown} returned {mine}: the LEAST disputed pairs. np.argsort sorts from small "
                f"to large; the most disputed are at the other end ({right}).",
            )
        return _fail(
            ex,
            f"{shown} should return {right} (the positions of the {n} largest scores, largest "
            f"first), you returned {mine}.",
        )
    return _ok(
        ex,
        "asking about the pairs with the largest disagreement first is active selection; "
        "preferences.active_pairs does exactly this over random candidate pairs.",
    )


def _fmt(x: Any) -> str:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 0:
        return f"{float(arr):.6g}"
    return "[" + ", ".join(f"{v:.4g}" for v in arr.ravel()) + "]"


# ==============================================================================================================
# The registry, and solutions on request
# ==============================================================================================================


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


_STUBS = {
    "discounted_return": '''
def discounted_return(rewards, gamma):
    """The discounted return of one episode: sum over t of gamma**t * rewards[t] (t counts from 0)."""
    rewards = np.asarray(rewards, dtype=float)
    total = 0.0
    # your code here: add up every reward, weighted by gamma to the power of its step t
    return total
''',
    "q_update": '''
def q_update(q, s, a, r, s_next, terminated, gamma, learning_rate):
    """The new value of q[s, a] after taking action a in state s, getting reward r and landing in s_next.

    q is the table [states, actions]; do not change it, return the new number. When terminated is True the
    episode is over: there is nothing after s_next to look ahead to.
    """
    target = 0.0  # your code here: what this step suggests q[s, a] should be
    return q[s, a]  # your code here: move q[s, a] a fraction learning_rate of the way towards the target
''',
    "boat_patch": '''
def boat_patch():
    """The WrittenReward fields to change, as a dict, e.g. {"finish_bonus": 5.0}: all the others keep their
    defaults (see print(boat_race.WrittenReward().describe()))."""
    return {}  # your code here
''',
    "robust_patch": '''
def robust_patch():
    """A patch (a dict of WrittenReward fields) under which impatient (gamma 0.9) and patient (0.98) boats race."""
    return {}  # your code here
''',
    "bt_probability": '''
def bt_probability(return_a, return_b, noise_prob):
    """P(clip a preferred to clip b) from their predicted returns (numbers or arrays of the same shape)."""
    diff = np.asarray(return_a, dtype=float) - np.asarray(return_b, dtype=float)
    return np.full_like(diff, 0.5)  # your code here: Bradley-Terry (a sigmoid of diff) with the noise term
''',
    "bt_loss": '''
def bt_loss(return_a, return_b, targets, noise_prob):
    """Mean cross-entropy of P(a > b) against targets [P] (1: a preferred, 0: b preferred, 0.5: equally good)."""
    loss = 0.0  # your code here: use your bt_probability (or reward_model.bt_probability)
    return loss
''',
    "disagreement": '''
def disagreement(probs):
    """probs [members, pairs]: each member's P(left clip better). Return one score per pair [pairs]:
    how much the members disagree about it."""
    probs = np.asarray(probs, dtype=float)
    return np.zeros(probs.shape[1])  # your code here
''',
    "most_disputed": '''
def most_disputed(scores, n):
    """Indices of the n pairs with the largest disagreement scores [pairs], most disputed first."""
    return list(range(n))  # your code here
''',
}


EXERCISES: dict[str, Exercise] = {
    e.id: e
    for e in (
        Exercise(
            "01.discounted_return",
            "01",
            "discounted_return",
            check_discounted_return,
            "write the discounted return sum_t gamma**t * r_t",
        ),
        Exercise("01.q_update", "01", "q_update", check_q_update, "write one Q-learning update of Q[s, a]"),
        Exercise(
            "02.boat_patch",
            "02",
            "boat_patch",
            check_boat_patch,
            "patch the written reward so that the best boat races instead of looping",
        ),
        Exercise(
            "02.robust_patch",
            "02",
            "robust_patch",
            check_robust_patch,
            "find a patch that works for impatient and patient boats alike",
        ),
        Exercise(
            "03.bt_probability",
            "03",
            "bt_probability",
            check_bt_probability,
            "write the Bradley-Terry preference probability with the noise term",
        ),
        Exercise("03.bt_loss", "03", "bt_loss", check_bt_loss, "write the Bradley-Terry loss against the answers"),
        Exercise(
            "04.disagreement",
            "04",
            "disagreement",
            check_disagreement,
            "score how much the ensemble's members disagree about each pair",
        ),
        Exercise(
            "04.most_disputed",
            "04",
            "most_disputed",
            check_most_disputed,
            "choose the n most disputed pairs, most disputed first",
        ),
    )
}
EXERCISES = {k: dataclasses.replace(e, stub=_STUBS[e.name].strip() + "\n") for k, e in EXERCISES.items()}
"""Every exercise by id; ``EXERCISES[id].checker`` checks it."""


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
