"""Greedy evaluation: the one way the package scores a policy (the PPO agent's and the RLHF loop's figures)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from rlhf_lite import envs


def evaluate(
    agent: Any,
    env_id: str,
    *,
    episodes: int,
    seed: int,
    horizon: int | None = None,
    mark_end: bool = False,
    reward_fn: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    deterministic: bool = True,
) -> np.ndarray:
    """Returns ``[episodes]``: episode ``i`` played by ``agent.act`` (greedy by default) in an env seeded ``seed + i``.

    All episodes run side by side in one vector env (one network call per step), each until its first end; with
    a ``horizon`` every episode lasts exactly that many steps. Each step adds the env's reward, or
    ``reward_fn(obs [B, *obs_shape], actions [B, *act_shape]) -> [B]`` (a criterion the learner never sees).
    ``mark_end`` must match the env the agent was trained on (the RLHF loop's flag for the absorbing state).
    """
    vec = envs.make_vec_env(env_id, episodes, seed, horizon=horizon, mark_end=mark_end)
    try:
        obs, _ = vec.reset(seed=[seed + i for i in range(episodes)])
        totals = np.zeros(episodes)
        running = np.ones(episodes, bool)
        while running.any():
            action = agent.act(obs, deterministic=deterministic)
            score = None if reward_fn is None else np.asarray(reward_fn(obs, action), dtype=np.float64)
            obs, reward, terminated, truncated, _ = vec.step(action)
            totals += (reward if score is None else score) * running
            running &= ~(terminated | truncated)
    finally:
        vec.close()
    return totals
