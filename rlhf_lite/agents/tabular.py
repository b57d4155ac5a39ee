"""Tabular methods: a table of action values ``Q[s, a]``, learned from experience (:func:`q_learning`) or
computed from the model (:func:`value_iteration`). Small worlds only, but every idea of later lessons is already
here: reward per step, discounting (``gamma``), exploration (``epsilon``, optimistic ``q_init``)."""

from __future__ import annotations

import dataclasses
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from rlhf_lite import envs, rollouts
from rlhf_lite.config import Config, param

from .progress import Callback, _progress_bar


@dataclasses.dataclass
class QLearningConfig(Config):
    """Hyperparameters of tabular Q-learning."""

    gamma: float = param(
        0.95, "discount: how much a reward one step later is worth (0 = myopic, 1 = far-sighted)", low=0.0, high=1.0
    )
    learning_rate: float = param(
        0.5, "step size alpha of each update Q <- Q + alpha * (target - Q)", low=0.0, high=1.0, low_open=True
    )
    epsilon: float = param(
        0.1, "probability of a random action instead of the greedy one (exploration)", low=0.0, high=1.0
    )
    episodes: int = param(300, "number of training episodes", low=1, high=1_000_000)
    q_init: float = param(
        10.0,
        "starting value of every Q[s, a]; optimistic (high) values make the agent try everything",
        low=-1e6,
        high=1e6,
    )
    max_steps: int = param(100, "cap on steps per episode (the env may end episodes earlier)", low=1, high=1_000_000)


@dataclasses.dataclass
class QLearningResult:
    """``q [S, A]``: the learned action values; ``episode_returns [E]`` and ``episode_lengths [E]``: one entry
    per training episode (undiscounted return, steps)."""

    q: np.ndarray
    episode_returns: np.ndarray
    episode_lengths: np.ndarray

    def policy(self) -> rollouts.Policy:
        return greedy_policy(self.q)


def _argmax_random_ties(values: np.ndarray, rng: np.random.Generator) -> int:
    """Index of the largest value, ties broken at random (with optimistic starts, ties are everywhere)."""
    best = np.flatnonzero(values == values.max())
    return int(best[0] if len(best) == 1 else rng.choice(best))


def q_learning(
    env: gym.Env | str,
    config: QLearningConfig | None = None,
    *,
    seed: int,
    callback: Callback | None = None,
    progress: bool = False,
) -> QLearningResult:
    """Tabular Q-learning (Watkins 1989) with epsilon-greedy exploration on a ``Discrete``-observation env.

    After each step: ``Q[s, a] += lr * (r + gamma * max_a' Q[s', a'] - Q[s, a])``, with no bootstrap when the
    episode *terminated* (a reached treasure is worth nothing more), but with one when it was only cut off.
    ``callback({"episode", "return", "length", "q"})`` runs after each episode; returning True stops.
    """
    config = config or QLearningConfig()
    if isinstance(env, str):
        env = envs.make_env(env, seed=seed)
    if not isinstance(env.observation_space, spaces.Discrete) or not isinstance(env.action_space, spaces.Discrete):
        raise ValueError(
            "q_learning needs Discrete observation and action spaces, "
            f"got {env.observation_space} and {env.action_space}"
        )
    rng = np.random.default_rng(seed)
    n_states, n_actions = int(env.observation_space.n), int(env.action_space.n)
    q = np.full((n_states, n_actions), float(config.q_init))
    returns, lengths = [], []
    bar = _progress_bar(config.episodes, progress, "Q-learning")
    for episode in range(config.episodes):
        s, _ = env.reset(seed=seed if episode == 0 else None)
        total, steps = 0.0, 0
        for steps in range(1, config.max_steps + 1):  # noqa: B007 (the count is kept after the loop)
            if rng.random() < config.epsilon:
                a = int(rng.integers(n_actions))
            else:
                a = _argmax_random_ties(q[s], rng)
            s2, r, terminated, truncated, _ = env.step(a)
            target = r if terminated else r + config.gamma * q[s2].max()
            q[s, a] += config.learning_rate * (target - q[s, a])
            total += r
            s = s2
            if terminated or truncated:
                break
        returns.append(total)
        lengths.append(steps)
        bar.update()
        if callback is not None and callback({"episode": episode, "return": total, "length": steps, "q": q}):
            break
    bar.close()
    return QLearningResult(q=q, episode_returns=np.array(returns), episode_lengths=np.array(lengths))


def value_iteration(
    P: np.ndarray,
    R: np.ndarray,
    gamma: float,
    terminal: np.ndarray | None = None,
    tol: float = 1e-10,
    max_iterations: int = 100_000,
) -> tuple[np.ndarray, np.ndarray]:
    """Optimal values of a known MDP: repeat ``Q = R + gamma * P @ V``, ``V = max_a Q`` until it stops moving.

    ``P [S, A, S']`` transition probabilities, ``R [S, A]`` expected reward, ``terminal [S]`` bool (value 0:
    the episode is over there). Returns ``(V [S], Q [S, A])``. With ``gamma == 1`` it converges only if every
    policy reaches a terminal state; ``max_iterations`` stops it otherwise.
    """
    P, R = np.asarray(P, dtype=np.float64), np.asarray(R, dtype=np.float64)
    if P.ndim != 3 or R.shape != P.shape[:2] or P.shape[0] != P.shape[2]:
        raise ValueError(f"expected P [S, A, S] and R [S, A], got P {P.shape} and R {R.shape}")
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma={gamma!r} is out of range: expected a number in [0, 1]")
    alive = np.ones(P.shape[0]) if terminal is None else 1.0 - np.asarray(terminal, dtype=np.float64)
    # Each state leads to only a few next states, so P is mostly zeros: sum over its nonzeros only
    # (the same numbers as P @ V, about 10x faster on the BoatRace of lesson 02).
    S, A = R.shape
    rows, cols = np.nonzero(P.reshape(S * A, S))
    probs = P.reshape(S * A, S)[rows, cols]
    V = np.zeros(S)
    Q = R.copy()
    for _ in range(max_iterations):
        Q = R + gamma * np.bincount(rows, weights=probs * (V * alive)[cols], minlength=S * A).reshape(S, A)
        V_new = Q.max(axis=1) * alive
        if np.max(np.abs(V_new - V)) < tol:
            V = V_new
            break
        V = V_new
    return V, Q


def greedy_policy(q: np.ndarray) -> rollouts.Policy:
    """The policy that takes ``argmax_a q[s, a]`` (first best on ties) in state ``s``; for ``rollouts.rollout``."""
    q = np.asarray(q)

    def policy(obs: Any) -> int:
        return int(np.argmax(q[int(obs)]))

    return policy
