"""Lesson 05's experiments: a learned reward gets gamed too, and what stops it.

Each function runs :class:`rlhf_lite.loop.RLHFLoop` round by round and records, after every round, what
Gao et al. (2022) plot: the **true return** (greedy episodes, the env's reward: the reader's eyes only), the
**predicted return** (the learned reward summed over the *same* episodes: what the agent is optimising),
and the **KL** of the current policy from a reference policy (nats, exact, averaged over the states those
episodes visit: how far training has moved the policy). The notebook only calls and plots.

The settings, all with the same label budget, steps and seeds:

* ``online``: the budget spread over the whole run (lesson 04's schedule, ``label_rounds=0``);
* ``frozen``: labels only up to some round (``label_rounds=R``, or all before training with
  ``initial_fraction=1.0``); after it the predictor never changes and PPO keeps pushing against it;
* ``frozen_kl``: frozen, and PPO pays ``kl_coef`` times its KL from the policy at freezing time
  (:attr:`rlhf_lite.agents.PPOConfig.kl_coef`);
* ``frozen_pessimistic``: frozen, and PPO sees the ensemble's mean minus ``pessimism`` standard deviations
  of its members (:attr:`rlhf_lite.reward_model.RewardModelConfig.pessimism`, Coste et al. 2024).

Presets: :func:`frozen_config` (every label before training: the predictor is gamed), :func:`partway_config`
(labels up to round 8, then frozen: Gao's shape, small), :func:`online_twin` (the same budget, online).

The reference policy is the policy at freezing time (the initial policy for a run that never freezes); the
brakes (KL penalty, pessimism) act from the freezing round on, so a frozen run and its braked twins are the
same run, number for number, until the predictor freezes, and differ only in what happens after.
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from rlhf_lite import labelers, loop, tasks

SETTINGS = ("frozen", "online", "frozen_kl", "frozen_pessimistic")
"""The four settings of :func:`compare` and ``benchmarks/overoptimisation.py``."""

EVAL_SEED = 10_000
"""Greedy episode ``i`` of every measurement is seeded ``EVAL_SEED + i`` (as the loop's own evaluation)."""


@dataclasses.dataclass
class Run:
    """One run's record: ``history`` has one entry per round (see :func:`run`), ``freeze_round`` is the
    round after which no label came (``None`` for a run that never froze)."""

    setting: str
    seed: int
    config: loop.RLHFConfig
    kl_coef: float
    pessimism: float
    freeze_round: int | None
    history: list[dict]
    wall_s: float
    loop: loop.RLHFLoop | None = dataclasses.field(default=None, repr=False)

    def series(self, key: str) -> np.ndarray:
        """``[rounds + 1]`` values of ``key`` (e.g. ``"true_return"``, ``"predicted_return"``, ``"kl"``,
        ``"env_steps"``) over the rounds, NaN where a round has none."""
        return np.array([np.nan if e.get(key) is None else e[key] for e in self.history], dtype=np.float64)

    def summary(self) -> dict[str, Any]:
        """What the benchmark prints: peak and final true return, final predicted return, final KL, seconds."""
        true = self.series("true_return")
        after = true[self.freeze_round or 0 :]
        return {
            "peak_true_return": round(float(np.nanmax(true)), 1),
            "final_true_return": round(float(true[-1]), 1),
            "final_predicted_return": round(float(self.series("predicted_return")[-1]), 2),
            "final_kl": round(float(self.series("kl")[-1]), 4),
            "true_return_at_freeze": round(float(after[0]), 1),
            "freeze_round": self.freeze_round,
            "labels": self.history[-1]["labels"],
            "env_steps": self.history[-1]["env_steps"],
            "wall_s": round(self.wall_s, 2),
        }


def freeze_round(schedule: Sequence[int], label_rounds: int) -> int | None:
    """The round after which no more labels come, from a loop's ``schedule [rounds + 1]``; ``None`` when
    labels come to the end (``label_rounds=0`` with labels after round 1: online)."""
    later = [k for k, n in enumerate(schedule) if n > 0]
    last = later[-1] if later else 0
    if label_rounds == 0 and last > 0:
        return None
    return last


def measure(run_loop: loop.RLHFLoop, episodes: int, reward_fn: loop.RewardFn | None = None) -> dict[str, float]:
    """One measurement of a loop's current policy on ``episodes`` greedy episodes (seeded ``EVAL_SEED + i``):
    ``true_return`` (the env's reward, or ``reward_fn``, the loop's ``eval_reward``), ``predicted_return``
    (the ensemble's plain mean reward, without pessimism, summed over the same episodes) and ``kl`` (exact
    mean KL of the policy from its reference over the states those episodes visit, nats)."""
    agent, config = run_loop.agent, run_loop.config
    true = loop.evaluate_policy(agent, config, episodes, EVAL_SEED, reward_fn)
    seen: list[np.ndarray] = []
    plain = _plain_reward(run_loop)

    def predicted(obs: np.ndarray, act: np.ndarray) -> np.ndarray:
        seen.append(np.array(obs))
        return plain(obs, act)

    pred = loop.evaluate_policy(agent, config, episodes, EVAL_SEED, predicted)
    return {
        "true_return": float(np.mean(true)),
        "predicted_return": float(np.mean(pred)),
        "kl": agent.kl_from_reference(np.concatenate(seen)),
    }


def _plain_reward(run_loop: loop.RLHFLoop) -> loop.RewardFn:
    """The ensemble's mean reward whatever its pessimism: the predictor's belief, the same measure in every
    setting (a pessimistic reward is what PPO is given, not what the predictor thinks)."""
    ensemble = run_loop.reward
    if ensemble.config.pessimism == 0:
        return ensemble.reward

    def plain(obs: np.ndarray, act: np.ndarray) -> np.ndarray:
        pessimistic = ensemble.config
        ensemble.config = dataclasses.replace(pessimistic, pessimism=0.0)
        try:
            return ensemble.reward(obs, act)
        finally:
            ensemble.config = pessimistic

    return plain


Brake = dict
"""``{"kl_coef": beta, "pessimism": k}`` (either may be left out: 0): what acts on PPO after the freeze."""


def run(
    config: loop.RLHFConfig,
    *,
    seed: int,
    kl_coef: float = 0.0,
    pessimism: float = 0.0,
    labeler: labelers.Labeler | None = None,
    episodes: int | None = None,
    setting: str = "",
    progress: bool = False,
    callback: Callable[[dict], Any] | None = None,
) -> Run:
    """One RLHF run of ``config`` measured after every round; returns a :class:`Run`.

    ``labeler``: who answers (default :func:`rlhf_lite.tasks.lesson_oracle`). ``kl_coef`` (beta) and
    ``pessimism`` (k) are the brakes, switched on when the predictor freezes (from the start in a run that
    never freezes); at 0 they are off. ``episodes``: greedy episodes per measurement (default
    ``config.eval_episodes``, at least 1). Each history entry: ``round``, ``env_steps``, ``labels``,
    ``frozen`` (no label came after this round: the predictor is fixed from here), ``true_return``,
    ``predicted_return``, ``kl`` (from the policy at freezing time; see :func:`measure`),
    ``train_true_return`` / ``train_predicted_return`` (the same two on the round's own training rollouts,
    the stochastic policy, per-step means times the horizon; ``None`` in round 0), ``seconds`` (the round's
    training and labels, without the measurement). ``progress`` shows a bar (tqdm.auto); ``callback(entry)`` after each
    round (a live plot); returning True stops.
    """
    return branches(
        config,
        seed=seed,
        brakes=[{"kl_coef": kl_coef, "pessimism": pessimism}],
        labeler=labeler,
        episodes=episodes,
        settings=[setting],
        progress=progress,
        callback=callback,
    )[0]


def branches(
    config: loop.RLHFConfig,
    *,
    seed: int,
    brakes: Sequence[Brake],
    labeler: labelers.Labeler | None = None,
    episodes: int | None = None,
    settings: Sequence[str] | None = None,
    progress: bool = False,
    callback: Callable[[dict], Any] | None = None,
) -> list[Run]:
    """Runs of ``config`` that share everything up to the freeze and then go on with different brakes:
    one :class:`Run` per entry of ``brakes`` (e.g. ``[{}, {"kl_coef": 0.1}, {"pessimism": 1.0}]``), in order.

    The rounds up to the freezing round run once; the loop is checkpointed there
    (:meth:`rlhf_lite.loop.RLHFLoop.save`) and each branch resumes from it, so every branch is exactly the run
    :func:`run` would make with its brake, at a fraction of the cost (a frontier of several betas costs one
    prefix). Each branch's history holds the shared rounds too. ``settings`` name the branches (for
    :attr:`Run.setting`); ``callback(entry)`` gets each entry with a ``"branch"`` index. Other arguments as in
    :func:`run`.
    """
    brakes = [_check_brake(b, i) for i, b in enumerate(brakes)]
    if not brakes:
        raise ValueError("brakes is empty: expected at least one brake, e.g. [{}] for the plain run")
    settings = list(settings) if settings is not None else [""] * len(brakes)
    if len(settings) != len(brakes):
        raise ValueError(f"settings has {len(settings)} names for {len(brakes)} brakes: give one name per brake")
    episodes = max(1, config.eval_episodes) if episodes is None else int(episodes)
    if episodes < 1:
        raise ValueError(f"episodes={episodes!r} is not allowed: expected a whole number >= 1")
    reward = tasks.reward_config(config)
    for b in brakes:  # checked now (k >= 0 needs an ensemble), not at freezing time
        dataclasses.replace(reward, pessimism=b["pessimism"])
    labeler = labeler if labeler is not None else tasks.lesson_oracle(config, seed)
    base = loop.RLHFLoop(config.replace(eval_episodes=0), labeler, seed=seed, reward=reward)
    frozen_at = freeze_round(base.schedule, config.label_rounds)
    split = 0 if frozen_at is None else frozen_at  # the brakes act from here on
    rounds = base.num_rounds
    bar = _bar(split + 1 + len(brakes) * (rounds - split), progress, ", ".join(s for s in settings if s) or "runs")
    state = {"bar": bar, "episodes": episodes, "frozen_at": frozen_at, "callback": callback, "stop": False}
    start = time.perf_counter()
    shared = _rounds(base, range(split + 1), state, branch=None)
    prefix_s = time.perf_counter() - start
    out: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="rlhf-lite-branch-") as folder:
        if len(brakes) > 1:
            base.save(folder)
        for i, (brake, setting) in enumerate(zip(brakes, settings)):
            t0 = time.perf_counter()
            run_loop = base if i == 0 else loop.RLHFLoop.resume(folder, labeler)
            _apply_brake(run_loop, brake)
            history = shared + ([] if state["stop"] else _rounds(run_loop, range(split + 1, rounds + 1), state, i))
            wall = prefix_s + time.perf_counter() - t0
            out.append(
                Run(
                    setting, int(seed), config, brake["kl_coef"], brake["pessimism"], frozen_at, history, wall, run_loop
                )
            )
    bar.close()
    return out


def _check_brake(brake: Brake, i: int) -> dict[str, float]:
    unknown = set(brake) - {"kl_coef", "pessimism"}
    if unknown:
        raise ValueError(f"brakes[{i}] has {sorted(unknown)}: expected only 'kl_coef' and 'pessimism'")
    out = {"kl_coef": float(brake.get("kl_coef", 0.0)), "pessimism": float(brake.get("pessimism", 0.0))}
    for key, value in out.items():
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"brakes[{i}]['{key}']={value!r} is not allowed: expected a number >= 0 (0 = off)")
    return out


def _apply_brake(run_loop: loop.RLHFLoop, brake: dict[str, float]) -> None:
    """From the freezing round on: the policy now is the reference, PPO pays ``kl_coef`` per nat of KL from
    it, and sees the ensemble's mean minus ``pessimism`` standard deviations."""
    run_loop.agent.set_reference()
    if brake["kl_coef"]:
        run_loop.agent.config = dataclasses.replace(run_loop.agent.config, kl_coef=brake["kl_coef"])
    if brake["pessimism"]:
        run_loop.reward.config = dataclasses.replace(run_loop.reward.config, pessimism=brake["pessimism"])


def _rounds(run_loop: loop.RLHFLoop, ks: range, state: dict, branch: int | None) -> list[dict]:
    """Step ``run_loop`` through rounds ``ks``, measuring after each; the history entries."""
    history: list[dict] = []
    for k in ks:
        if state["stop"]:
            break
        t0 = time.perf_counter()
        entry = run_loop.step_round()
        if k == 0 and state["frozen_at"] is None or k == state["frozen_at"]:
            run_loop.agent.set_reference()  # the policy at freezing time (or the initial one)
        seconds = time.perf_counter() - t0
        record = {
            "round": k,
            "env_steps": entry["env_steps"],
            "labels": entry["labels"],
            "frozen": state["frozen_at"] is not None and k >= state["frozen_at"],
            **measure(run_loop, state["episodes"], run_loop.eval_reward),
            "train_true_return": entry["train_true_return"],
            "train_predicted_return": entry["predicted_return"],
            "seconds": round(seconds, 3),
        }
        history.append(record)
        state["bar"].update(1)
        state["bar"].set_postfix_str(f"true {record['true_return']:.0f}, predicted {record['predicted_return']:.1f}")
        if state["callback"] is not None and state["callback"]({**record, "branch": branch}):
            state["stop"] = True
    return history


def _bar(total: int, enabled: bool, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="round", disable=not enabled, leave=True)


# ============================================================================================================
# The lesson's settings, the four-way comparison, and what counts as over-optimisation
# ============================================================================================================

DEFAULT_KL_COEF = 0.1
"""beta of the ``frozen_kl`` setting (per nat of KL from the policy at freezing time, in reward units)."""

DEFAULT_PESSIMISM = 1.0
"""k of the ``frozen_pessimistic`` setting (standard deviations of the ensemble's members)."""


def frozen_config(fast: bool = False, **changes: Any) -> loop.RLHFConfig:
    """The lesson's over-optimisation run: :func:`rlhf_lite.tasks.lesson_config` (Pendulum-v1, 80k steps, 25
    labels from the lesson's oracle, here noise-free: ``noise_prob=0.0``) with every label asked before training
    (``initial_fraction=1.0``: the predictor is frozen from the start, trained on clips of the random policy
    only) and a learned reward that looks at the action too (``reward_inputs="observation_action"``, as in
    Christiano et al. 2017): in random-policy clips, the torques that happened to come with higher clips look
    good, and PPO finds that pushing one way, always, pays: the pendulum spins while the predicted return climbs.

    Why r(o, a): with lesson 04's r(o) (``reward_inputs="observation"``) the same 25 random-policy labels given
    up front are *not* gamed: the height they rank generalises to the top, and the frozen run balances (-82 to
    -84 on seeds 0-4, no worse than online labels); at 15 labels too; at 10, 2 of 5 seeds fail. Why noise-free
    (the lesson's part 5 is where labelers err): with r(o, a) and lesson 04's 10% noise, online labels at this
    budget got stuck spinning too on 3 of 5 seeds; with clean labels they rescue 4 of 5 (the online twin,
    :func:`online_twin`, gets the same clean oracle), the KL brake 3 of 5, pessimism 2 of 5. Per seed:
    ``python benchmarks/overoptimisation.py --seed S`` (``--noise 0.1``, ``--reward-inputs observation``,
    ``--labels N`` for the variants).

    ``fast=True``: the quick task at a smoke budget, with the quick task's noise (CI; shows the mechanics, not
    the effect). ``changes`` override fields, e.g. ``label_rounds=8, initial_fraction=0.4`` to freeze part-way."""
    base: dict[str, Any] = dict(initial_fraction=1.0, reward_inputs="observation_action")
    if fast:
        base.update(total_steps=1600 + 6 * 1024)
    else:
        base.update(noise_prob=0.0)
    return tasks.lesson_config(fast=fast, **{**base, **changes})


def partway_config(fast: bool = False, **changes: Any) -> loop.RLHFConfig:
    """Freezing part-way through an online run: lesson 04's run (:func:`rlhf_lite.tasks.lesson_config`, the reward
    r(o), 25 labels, 10 before training) with the rest of the labels asked after rounds 1..8 only
    (``label_rounds=8``), then 120k env steps in all, so PPO trains for 21 more rounds on a predictor that
    stopped learning when the policy had not yet balanced. The policy learns to balance (the true return
    rises far above the untrained policy's), then drifts towards the predictor's own idea of the best state
    (a slight lean) while the predicted return creeps up: Gao et al.'s shape, in miniature (a fall of a few
    dozen at most, as a lean the torque can hold costs little). How often:
    ``python benchmarks/overoptimisation.py --partway --seed S``. ``fast=True``: the smoke-sized quick task."""
    base: dict[str, Any] = dict(label_rounds=8, total_steps=120_000)
    if fast:
        base.update(label_rounds=2, total_steps=1600 + 6 * 1024)
    return tasks.lesson_config(fast=fast, **{**base, **changes})


def pendulum_config(fast: bool = False, **changes: Any) -> loop.RLHFConfig:
    """Lesson 04's Pendulum run (:func:`rlhf_lite.tasks.lesson_config`, a reward r(o)) with ``changes``, for the
    parts whose labelers judge the pendulum itself (the biases read its angle and speed): ``fast=True`` keeps
    Pendulum, at a smoke budget (two rounds of 2048 steps, one evaluation episode), instead of the CartPole of
    ``lesson_config(fast=True)``."""
    config = tasks.lesson_config(**changes)
    if fast:
        config = config.replace(total_steps=1600 + 2 * 2048, steps_per_round=2048, eval_episodes=1)
    return config


def online_twin(config: loop.RLHFConfig) -> loop.RLHFConfig:
    """The same run with the same label budget spread over the whole of training (lesson 04's schedule):
    ``label_rounds=0`` and, for a run that asked everything before training, the default share up front."""
    share = loop.RLHFConfig().initial_fraction
    return config.replace(label_rounds=0, initial_fraction=min(config.initial_fraction, share))


def compare(
    config: loop.RLHFConfig,
    *,
    seed: int,
    kl_coef: float = DEFAULT_KL_COEF,
    pessimism: float = DEFAULT_PESSIMISM,
    labeler_factory: Callable[[loop.RLHFConfig, int], labelers.Labeler] | None = None,
    episodes: int | None = None,
    progress: bool = False,
    callback: Callable[[dict], Any] | None = None,
) -> dict[str, Run]:
    """The four settings of the lesson for one seed, with the same labels budget, steps and seed:
    ``{"frozen", "online", "frozen_kl", "frozen_pessimistic": Run}``. ``config`` is the frozen run
    (e.g. :func:`frozen_config`); ``online`` is :func:`online_twin` of it; the two braked runs share the
    frozen run's rounds up to the freeze (:func:`branches`). ``labeler_factory(config, seed)`` makes a fresh
    labeler per run (default :func:`rlhf_lite.tasks.lesson_oracle`). ``callback(entry)`` gets each entry with
    a ``"setting"`` key."""
    make = labeler_factory or tasks.lesson_oracle

    def tagged(setting: str) -> Callable[[dict], Any] | None:
        return None if callback is None else (lambda entry: callback({**entry, "setting": setting}))

    frozen_settings = ["frozen", "frozen_kl", "frozen_pessimistic"]
    runs = branches(
        config,
        seed=seed,
        brakes=[{}, {"kl_coef": kl_coef}, {"pessimism": pessimism}],
        labeler=make(config, seed),
        episodes=episodes,
        settings=frozen_settings,
        progress=progress,
        callback=None
        if callback is None
        else (lambda e: callback({**e, "setting": frozen_settings[e["branch"] or 0]})),
    )
    online = online_twin(config)
    out = dict(zip(frozen_settings, runs))
    out["online"] = run(
        online,
        seed=seed,
        labeler=make(online, seed),
        episodes=episodes,
        setting="online",
        progress=progress,
        callback=tagged("online"),
    )
    return {s: out[s] for s in SETTINGS}


def overoptimisation(result: Run, *, rise: float = 200.0, fall: float = 100.0) -> dict[str, Any]:
    """Does ``result`` show the shape of Gao et al. (2022)? After the freeze, the true return peaks at least
    ``rise`` above the untrained policy's (round 0), ends at least ``fall`` below that peak, while the
    predicted return at the end is above its value at the true return's peak (the proxy kept climbing).

    Returns ``untrained``, ``peak_round``, ``peak_true_return``, ``final_true_return``,
    ``predicted_at_peak``, ``final_predicted_return``, ``kl_at_peak``, ``final_kl``, and the verdicts
    ``proxy_rose`` (final predicted > predicted at the peak), ``true_fell`` (final <= peak - ``fall``),
    ``rose_first`` (peak >= untrained + ``rise``) and ``gao_shape`` (all three)."""
    true, predicted, kl = result.series("true_return"), result.series("predicted_return"), result.series("kl")
    start = result.freeze_round or 0
    peak = start + int(np.nanargmax(true[start:]))
    out = {
        "untrained": float(true[0]),
        "peak_round": peak,
        "peak_true_return": float(true[peak]),
        "final_true_return": float(true[-1]),
        "predicted_at_peak": float(predicted[peak]),
        "final_predicted_return": float(predicted[-1]),
        "kl_at_peak": float(kl[peak]),
        "final_kl": float(kl[-1]),
    }
    out["proxy_rose"] = bool(out["final_predicted_return"] > out["predicted_at_peak"])
    out["true_fell"] = bool(out["final_true_return"] <= out["peak_true_return"] - fall)
    out["rose_first"] = bool(out["peak_true_return"] >= out["untrained"] + rise)
    out["gao_shape"] = out["proxy_rose"] and out["true_fell"] and out["rose_first"]
    return out
