"""The tasks the lessons and benchmarks run, and what a run is measured against.

- presets of :class:`~rlhf_lite.loop_config.RLHFConfig`: :func:`lesson_config` (notebook 04's main run),
  :func:`quick_config` (fixed-horizon CartPole, learns in seconds), :func:`spin_config` with
  :func:`spin_criterion` (a behaviour no env reward describes), and :func:`lesson_oracle`, the lesson's
  synthetic labeler;
- the PPO and reward-model settings of the loop (:func:`ppo_config`, :data:`LOOP_PPO`, :func:`reward_config`);
- the environment as a run's agents see it (:func:`make_env`, :func:`round_env`) and the greedy true return
  a run is measured by (:func:`evaluate_policy`);
- the yardstick, PPO on the true reward with the same budget (:func:`train_true_reward`);
- run histories as JSON files (:func:`save_history`, :func:`load_history`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from rlhf_lite import agents, checkpoints, envs, labelers
from rlhf_lite import reward_model as rm
from rlhf_lite.loop_config import RLHFConfig, round_sizes

RewardFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``reward_fn(observations [B, *obs_shape], actions [B, *act_shape]) -> rewards [B]``."""


def ppo_config(config: RLHFConfig, **changes: Any) -> agents.PPOConfig:
    """The PPO settings of the loop: the task's preset from :mod:`rlhf_lite.agents`, with the loop's learning
    rate, and with annealing done by the loop over the whole run (``learn`` is called once per round)."""
    base = dict(LOOP_PPO.get(config.env_id, {}), learning_rate=config.learning_rate, anneal_lr=False)
    return agents.PPOConfig.for_env(config.env_id, **{**base, **changes})


LOOP_PPO: dict[str, dict[str, Any]] = {
    "Pendulum-v1": dict(num_envs=16, num_steps=128, num_minibatches=8, norm_obs=True, gamma=0.95),
    "CartPole-v1": dict(norm_reward=True),
}
"""Changes to the agents' presets for the loop: on Pendulum, shorter rollouts than the preset's 256 steps
(more updates per step, and clips of a fresher policy; 16 envs x 128 steps costs half the network calls of
8 x 256 for the same batch), standardised observations, and a longer horizon (gamma 0.95, not the preset's
0.9): an early learned reward does not punish speed as the true one does (in random-policy clips the fast
pendulums are the ones that were up), so PPO first learns to spin; braking to balance pays only a second
or more later, which gamma 0.9 all but ignores, and once balanced a short-sighted policy drifted off again.
On CartPole, returns scaled by their running spread: the learned reward's scale differs from round to round,
and unscaled, an early round's reward often pushed the policy into always pushing one way, from which it
never recovered."""


def reward_config(config: RLHFConfig, **changes: Any) -> rm.RewardModelConfig:
    """The reward predictor's settings: ensemble size and noise term from ``config``; every label trains
    (no held-out share: with a few dozen labels each one counts, and new labels are scored before fitting)."""
    base = dict(
        ensemble_size=config.ensemble_size,
        noise_prob=config.noise_prob,
        validation_fraction=0.0,
        inputs=config.reward_inputs,
    )
    return rm.RewardModelConfig(**{**base, **changes})


def lesson_config(fast: bool = False, **changes: Any) -> RLHFConfig:
    """Notebook 04's main run, the one configuration the lesson and ``benchmarks/rlhf_pendulum.py`` share:
    Pendulum-v1, 80k env steps, 25 labels, an oracle wrong at random 10% of the time (``noise_prob``, which
    the reward model assumes too: :func:`lesson_oracle` reads it from here), 3 evaluation episodes a round.

    PPO's step size stays constant (``anneal_lr=False``): a run first learns to spin (see ``LOOP_PPO``) and
    must leave that behaviour when the labels say so; a step size decayed over the run left late leavers
    stuck where the early, rougher rewards had sent them (as on the quick task).

    At least 8 labels come before training (``min_initial_labels``; at 25 labels the 40% share, 10, is more
    already): with a budget of 10, the default share gave 4, and a first reward fitted on 4 answers ranked
    height too poorly for PPO to leave the spinning it learns first.

    ``fast=True`` (CI, a first look) is the quick task at a small budget (:func:`quick_config`, 16 labels,
    1600 + 20 * 1024 steps): Pendulum cannot learn to swing up in seconds, fixed-horizon CartPole can,
    so the fast lesson still shows learning (``quick_config(fast=True)``, 6 labels in 5k steps, is too small).
    ``changes`` override fields. How robust it is over seeds 0-9: ``python benchmarks/rlhf_pendulum.py``
    (and ``--labels 10 --noise 0``)."""
    if fast:
        return quick_config(
            **{
                "total_steps": 1600 + 20 * 1024,
                "steps_per_round": 1024,
                "label_budget": 16,
                "eval_episodes": 3,
                **changes,
            }
        )
    base = dict(
        env_id="Pendulum-v1",
        total_steps=80_000,
        label_budget=25,
        noise_prob=0.1,
        eval_episodes=3,
        anneal_lr=False,
        min_initial_labels=8,
    )
    return RLHFConfig(**{**base, **changes})


def lesson_oracle(config: RLHFConfig, seed: int) -> labelers.OracleLabeler:
    """The synthetic labeler of the lesson's runs: prefers the clip with the higher true return, and answers at
    random with ``config.noise_prob``, drawn from a random stream of its own for ``seed`` (independent of the
    loop's streams for the same seed), so every seed of a benchmark meets its own label noise."""
    return labelers.OracleLabeler(noise_prob=config.noise_prob, rng=np.random.default_rng([int(seed), ORACLE_STREAM]))


SMOKE_RUN: dict[str, Any] = dict(
    env_id="CartPole-v1",
    horizon=50,
    total_steps=400 + 3 * 512,
    label_budget=8,
    initial_fraction=0.5,
    queries_per_round=2,
    segment_length=10,
    segments_per_round=12,
    steps_per_round=512,
    eval_episodes=1,
)
"""The smallest run that takes every step of the loop (the random-policy round and 3 of PPO, 8 labels, a
second or two): ``loop.RLHFConfig(**tasks.SMOKE_RUN)`` for tests and ``benchmarks/faults.py``. Teaches nothing."""


ORACLE_STREAM = 3
"""Spawn key of :func:`lesson_oracle`'s stream: ``default_rng([seed, 3])`` (the loop's clips and pairs use
``[seed, 2]``, networks ``seed`` and ``seed + 1``)."""


def quick_config(fast: bool = False, **changes: Any) -> RLHFConfig:
    """The quick task: fixed-horizon CartPole (200 steps, the fallen pole an absorbing state) taught by 30
    labels in 50k steps. The learning rate is the CartPole preset's, kept constant: PPO chases a reward that
    moves each round, and an annealed step size left it stuck where the early, rougher rewards had sent it.
    ``python benchmarks/rlhf_quick.py --seed S`` (seeds 0-9) measures it: untrained against trained greedy
    return, and the wall time."""
    base = dict(
        env_id="CartPole-v1",
        total_steps=50_000,
        label_budget=30,
        initial_fraction=0.5,
        queries_per_round=3,
        learning_rate=3e-3,
        anneal_lr=False,
    )
    if fast:
        base.update(total_steps=1600 + 3 * 1024, steps_per_round=1024, label_budget=6)
    return RLHFConfig(**{**base, **changes})


# ============================================================================================================
# A behaviour that no reward in the environment describes (notebook 04, benchmarks/rlhf_new_behaviour.py)
# ============================================================================================================


def spin_criterion(observations: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """What "spin steadily counter-clockwise" means, per step ``[B]``: the angular velocity (rad/s, positive
    counter-clockwise on screen) of Pendulum observations ``[B, 3]`` = (cos, sin, angular velocity).
    A scripted stand-in for the person uses it to answer, and the dashboard to score; the learner never sees it."""
    return np.asarray(observations, dtype=np.float64)[:, 2]


def spin_config(fast: bool = False, **changes: Any) -> RLHFConfig:
    """The run that teaches Pendulum-v1 to spin: its own reward (upright and still) says nothing about spinning."""
    base = dict(env_id="Pendulum-v1", total_steps=40_000, label_budget=40, initial_fraction=0.3, queries_per_round=4)
    if fast:
        base.update(total_steps=3 * 2048 + 1600, steps_per_round=2048, label_budget=6)
    return RLHFConfig(**{**base, **changes})


# ============================================================================================================
# The environment as a run's agents see it, and the true return a run is measured by
# ============================================================================================================


def make_env(config: RLHFConfig, seed: int | None = None, render_mode: str | None = None) -> gym.Env:
    """One environment as the loop's agents see it: ``config``'s task, horizon and absorbing-state flag
    (for a clip of a trained policy: ``make_env(config, seed, render_mode="rgb_array")``)."""
    return envs.make_env(
        config.env_id, seed=seed, horizon=config.horizon, mark_end=marks_end(config), render_mode=render_mode
    )


def task_spaces(config: RLHFConfig) -> tuple[gym.Space, gym.Space]:
    """``(observation_space, action_space)`` of ``config``'s task as a run's agents see it (:func:`make_env`)."""
    env = make_env(config)
    try:
        return env.observation_space, env.action_space
    finally:
        env.close()


def round_env(config: RLHFConfig, num_envs: int, seed: int, k: int) -> gym.vector.VectorEnv:
    """Fresh environments for round ``k``, seeded from (seed, k): a resumed run meets the same episodes."""
    env_seed = int(np.random.SeedSequence([seed, k]).generate_state(1)[0] % 2**31)
    return envs.make_vec_env(config.env_id, num_envs, env_seed, horizon=config.horizon, mark_end=marks_end(config))


def marks_end(config: RLHFConfig) -> bool:
    """Whether observations carry the episode-ended flag: ``config.mark_end`` on a task that can end early."""
    return config.mark_end and envs.can_end_early(config.env_id)


def evaluate_policy(
    agent: Any, config: RLHFConfig, episodes: int, seed: int, reward_fn: RewardFn | None = None
) -> np.ndarray:
    """Returns ``[episodes]`` of the greedy policy on ``config``'s fixed-horizon episodes seeded ``seed + i``:
    the env's reward summed, or ``reward_fn`` of each step (:func:`rlhf_lite.agents.evaluate`)."""
    return agents.evaluate(
        agent,
        config.env_id,
        episodes=episodes,
        seed=seed,
        horizon=config.horizon,
        mark_end=marks_end(config),
        reward_fn=reward_fn,
    )


# ============================================================================================================
# The yardstick and run histories
# ============================================================================================================


def untrained_agent(config: RLHFConfig, seed: int) -> agents.PPOAgent:
    """The policy a run of ``config`` with ``seed`` starts from: the same weights as ``RLHFLoop(config, ...,
    seed=seed).agent`` before its first round. The "untrained" yardstick, without building a loop (and a
    labeler nobody asks) to reach it."""
    return agents.PPOAgent(*task_spaces(config), ppo_config(config), seed=seed)


def train_true_reward(
    config: RLHFConfig,
    *,
    seed: int,
    ppo: agents.PPOConfig | None = None,
    callback: Callable[[dict], Any] | None = None,
) -> tuple[agents.PPOAgent, list[dict]]:
    """The yardstick: the same PPO, rounds and step budget as :class:`~rlhf_lite.loop.RLHFLoop`, trained on
    the env's true reward (no labels); returns the agent and a history like the loop's.

    By default PPO scales the true reward by the running spread of its return (``norm_reward``), as the
    learned reward is normalised too: raw Pendulum rewards (down to -16 a step) would handicap the yardstick
    (``python benchmarks/rlhf_pendulum.py --seed S`` reports it as ``true_reward_baseline``)."""
    ppo = ppo or ppo_config(config, norm_reward=True)
    agent = agents.PPOAgent(*task_spaces(config), ppo, seed=int(seed))
    random_steps, round_steps, num_rounds = round_sizes(config, ppo)
    agent.set_lr_schedule(config.learning_rate, num_rounds if config.anneal_lr else None)  # round k: call k - 1
    history, env_steps, elapsed = [], 0, 0.0
    for k in range(0, num_rounds + 1):
        start = time.perf_counter()
        if k == 0:
            env_steps += random_steps  # the same budget as the RLHF run: its random-policy steps too
        else:
            env_steps += round_steps
            vec = round_env(config, ppo.num_envs, int(seed), k)
            agent.learn(vec, round_steps, progress=False)
            vec.close()
        elapsed += time.perf_counter() - start
        true_return = None
        if config.eval_episodes:
            true_return = float(np.mean(evaluate_policy(agent, config, config.eval_episodes, 10_000)))
        entry = {
            "round": k,
            "labels": 0,
            "env_steps": env_steps,
            "seconds": round(elapsed, 3),
            "true_return": true_return,
        }
        history.append(entry)
        if callback is not None and callback(entry):
            break
    return agent, history


def save_history(history: list[dict], path: str | os.PathLike) -> None:
    """Write a run's history as JSON (one object with a ``history`` list), atomically."""
    checkpoints.write_json(Path(path), {"format": "rlhf_lite.history/1", "history": history})


def load_history(path: str | os.PathLike) -> list[dict]:
    """Read a history written by :func:`save_history`."""
    data = checkpoints.read_json(Path(path), "rlhf_lite.history/1")
    return data["history"]
