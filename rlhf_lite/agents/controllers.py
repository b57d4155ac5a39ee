"""Scripted (not learned) controllers: sources of clips that range from hanging still to balancing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rlhf_lite import rollouts


def pendulum_swing_up(rng: np.random.Generator, noise: float = 0.0, random_prob: float = 0.0) -> rollouts.Policy:
    """A hand-written Pendulum-v1 controller: pump energy until the pole can reach the top, then balance it.

    Not a learner: lessons, label files and benchmarks use it as a source of clips that range from hanging
    still to balancing. ``noise`` is the std of Gaussian noise added to the torque; ``random_prob`` is the
    chance that an action is replaced by a uniformly random torque. Returns a one-observation policy.
    """

    def policy(obs: np.ndarray) -> np.ndarray:
        if random_prob > 0 and rng.random() < random_prob:
            return rng.uniform(-2.0, 2.0, size=(1,)).astype(np.float32)
        cos, sin, speed = obs
        energy = 0.5 * speed**2 + 15.0 * (cos - 1.0)  # 0 when the pole rests at the top
        if cos > 0.9:  # near upright: a PD controller holds it
            torque = -10.0 * np.arctan2(sin, cos) - 2.0 * speed
        elif energy < 0:  # push along the swing to add energy
            torque = 2.0 if speed >= 0 else -2.0
        else:  # enough energy: brake gently so it does not fly over
            torque = -0.5 if speed >= 0 else 0.5
        return np.clip([torque + noise * rng.normal()], -2.0, 2.0).astype(np.float32)

    return policy


MIXES = {
    "thirds": "episode i: random torques (i % 3 == 0), the swing-up with torque noise std 0.5 (1) or 2.5 (2)",
    "halves": "even episodes: the swing-up with each action random with a per-episode probability U(0, 1); odd: random",
    "random": "random torques only",
}


def pendulum_episodes(
    env: Any,
    n_episodes: int,
    rng: np.random.Generator,
    *,
    mix: str = "thirds",
    seeds: Sequence[int] | None = None,
    progress: bool = False,
) -> list[rollouts.Trajectory]:
    """The clip pool's episodes: Pendulum-v1 played by random torques and by :func:`pendulum_swing_up`, so that
    clips cut from them range from hanging still to balancing (lesson 03, the shipped label file, benchmarks).

    ``mix`` (see ``MIXES``): ``"thirds"`` cycles random torques / a mildly noisy swing-up / a very noisy one;
    ``"halves"`` alternates a swing-up with a random action probability drawn per episode and random
    torques; ``"random"`` is random torques only. Episode ``i`` is reset with ``seeds[i]``, or, without
    ``seeds``, with a seed drawn from ``rng`` (after the episode's policy draws its own settings). The
    controllers draw their noise from ``rng`` too, so one generator makes the whole pool repeat exactly.
    """
    if mix not in MIXES:
        raise ValueError(f"mix={mix!r} is not allowed: expected one of {tuple(MIXES)}")
    if seeds is not None and len(seeds) < n_episodes:
        raise ValueError(f"seeds has {len(seeds)} entries: expected at least n_episodes={n_episodes}")
    steps = range(n_episodes)
    if progress:
        from tqdm.auto import tqdm

        steps = tqdm(steps, desc="episodes", leave=False)
    trajectories = []
    for i in steps:
        if mix == "thirds":
            policy = None if i % 3 == 0 else pendulum_swing_up(rng, noise=(0.0, 0.5, 2.5)[i % 3])
        elif mix == "halves" and i % 2 == 0:
            policy = pendulum_swing_up(rng, random_prob=float(rng.uniform(0.0, 1.0)))
        else:
            policy = None
        seed = int(seeds[i]) if seeds is not None else int(rng.integers(2**31))
        trajectories.append(rollouts.rollout(env, policy, seed=seed))
    return trajectories
