"""Between agent and environment: trajectories, fixed-length segments, returns and discounting.

A *trajectory* is what one episode leaves behind: the observation the agent saw at each step, the action it
took, and the reward the environment paid for it (kept for evaluation: in RLHF the learner never sees it).
A *segment* is a short window of a trajectory (1-2 seconds of behaviour): the unit a person compares.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

Policy = Callable[[Any], Any]
"""Maps one observation to one action. ``None`` where a function takes a policy means uniformly random."""


@dataclasses.dataclass
class Trajectory:
    """One episode.

    ``observations[t]`` is what the agent saw before action ``actions[t]``; ``rewards[t]`` is what that action
    earned. Shapes: observations ``[T, *obs_shape]``, actions ``[T, *act_shape]``, rewards ``[T]``,
    frames ``[T, H, W, 3]`` uint8 (the picture the agent's observation came from) or ``None``.
    """

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    frames: np.ndarray | None = None
    final_observation: Any = None
    terminated: bool = False

    def __len__(self) -> int:
        return len(self.rewards)

    @property
    def total_return(self) -> float:
        """Sum of rewards: the undiscounted return of the whole episode."""
        return float(np.sum(self.rewards))


@dataclasses.dataclass
class Segment:
    """A fixed-length window of a trajectory: the clip a person judges.

    ``observations [L, *obs_shape]``, ``actions [L, *act_shape]``, ``true_rewards [L]`` (evaluation only: an
    oracle labeler may read it, the reward model never does), ``frames [L, H, W, 3]`` or ``None``.
    ``uid`` names the segment in label files; ``episode`` and ``start`` say where it was cut from.
    """

    observations: np.ndarray
    actions: np.ndarray
    true_rewards: np.ndarray
    frames: np.ndarray | None = None
    uid: str = ""
    episode: int = -1
    start: int = 0

    def __len__(self) -> int:
        return len(self.true_rewards)

    @property
    def true_return(self) -> float:
        return float(np.sum(self.true_rewards))


def rollout(
    env: gym.Env,
    policy: Policy | None = None,
    *,
    seed: int | None = None,
    max_steps: int = 10_000,
    render: bool = False,
) -> Trajectory:
    """Run one episode of ``policy`` in ``env`` (random actions if ``policy`` is None).

    ``render=True`` stores ``env.render()`` before each action (the env needs ``render_mode="rgb_array"``),
    so frame ``t`` shows the state the agent acted on at step ``t``.
    """
    if render and env.render_mode != "rgb_array":
        raise ValueError(
            f"render=True needs an env made with render_mode='rgb_array', this one has {env.render_mode!r}"
        )
    obs, _ = env.reset(seed=seed)
    observations, actions, rewards, frames = [], [], [], []
    terminated = False
    for _ in range(max_steps):
        if render:
            frames.append(env.render())
        action = env.action_space.sample() if policy is None else policy(obs)
        observations.append(obs)
        actions.append(action)
        obs, reward, terminated, truncated, _ = env.step(action)
        rewards.append(reward)
        if terminated or truncated:
            break
    return Trajectory(
        observations=np.asarray(observations),
        actions=np.asarray(actions),
        rewards=np.asarray(rewards, dtype=np.float64),
        frames=np.asarray(frames, dtype=np.uint8) if render else None,
        final_observation=obs,
        terminated=bool(terminated),
    )


def discounted_return(rewards: np.ndarray, gamma: float) -> float:
    """``sum_t gamma**t * rewards[t]``: what the episode is worth seen from its first step."""
    _check_gamma(gamma)
    rewards = np.asarray(rewards, dtype=np.float64)
    return float(np.sum(rewards * gamma ** np.arange(len(rewards))))


def gae(
    rewards: np.ndarray,
    values: np.ndarray,
    dones: np.ndarray,
    last_value: np.ndarray,
    gamma: float,
    gae_lambda: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Generalised advantage estimation (Schulman et al. 2016) over a batch of parallel environments.

    Shapes ``[T, N]`` for ``rewards``, ``values`` (V of the observation at step t) and ``dones`` (1 where the
    episode ended *at* step t, so step t+1 starts a new one and nothing is bootstrapped across); ``[N]`` for
    ``last_value``, V of the observation after the last step. Returns ``(advantages, returns)``, both
    ``[T, N]``, with ``returns = advantages + values`` the critic's regression target.
    """
    _check_gamma(gamma)
    if not 0.0 <= gae_lambda <= 1.0:
        raise ValueError(f"gae_lambda={gae_lambda!r} is out of range: expected a number in [0, 1]")
    rewards = np.asarray(rewards, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    notdone = 1.0 - np.asarray(dones, dtype=np.float64)
    advantages = np.zeros_like(rewards)
    next_value = np.asarray(last_value, dtype=np.float64)
    running = np.zeros_like(next_value)
    for t in range(len(rewards) - 1, -1, -1):
        delta = rewards[t] + gamma * next_value * notdone[t] - values[t]
        running = delta + gamma * gae_lambda * notdone[t] * running
        advantages[t] = running
        next_value = values[t]
    return advantages, advantages + values


def cut_segments(
    trajectories: list[Trajectory],
    segment_length: int,
    rng: np.random.Generator,
    n: int | None = None,
    uid_prefix: str = "seg",
) -> list[Segment]:
    """Cut ``n`` random windows of ``segment_length`` steps from ``trajectories`` (one per trajectory,
    cycling, if ``n`` is None). Trajectories shorter than ``segment_length`` are skipped.

    Windows never cross episode boundaries, so a segment shows one continuous piece of behaviour.
    """
    if segment_length < 1:
        raise ValueError(f"segment_length={segment_length!r} is out of range: expected a whole number >= 1")
    usable = [i for i, tr in enumerate(trajectories) if len(tr) >= segment_length]
    if not usable:
        longest = max((len(tr) for tr in trajectories), default=0)
        raise ValueError(
            f"segment_length={segment_length} is longer than every trajectory (longest {longest} steps): "
            f"expected at most {longest}"
        )
    n = len(usable) if n is None else n
    segments = []
    for k in range(n):
        i = usable[k % len(usable)] if n <= len(usable) else usable[int(rng.integers(len(usable)))]
        tr = trajectories[i]
        start = int(rng.integers(0, len(tr) - segment_length + 1))
        uid = f"{uid_prefix}-{i}-{start}"
        segments.append(_window(tr.observations, tr.actions, tr.rewards, tr.frames, i, start, segment_length, uid))
    return segments


def random_rollout(vec: gym.vector.VectorEnv, steps: int, restart_every: int | None = None) -> dict:
    """``steps`` steps of uniformly random actions in every env, restarting the episodes every
    ``restart_every`` steps: a batch like PPO's rollout_hook gets, ``observations [T, N, ...]``,
    ``actions [T, N, ...]``, ``true_rewards [T, N]``, ``dones [T, N]`` (True at the last step of each piece).

    Restarts matter: a random policy soon dangles, but fresh episodes start anywhere (upright too), so
    short pieces of many episodes show the labeler far more different situations than one long episode."""
    restart_every = restart_every or steps
    out: dict[str, list] = {"observations": [], "actions": [], "true_rewards": [], "dones": []}
    for t in range(steps):
        if t % restart_every == 0:
            obs, _ = vec.reset()
        action = vec.action_space.sample()
        out["observations"].append(obs)
        out["actions"].append(action)
        obs, reward, terminated, truncated, _ = vec.step(action)
        out["true_rewards"].append(reward)
        out["dones"].append(terminated | truncated | ((t + 1) % restart_every == 0))
    vec.close()
    return {k: np.asarray(v) for k, v in out.items()}


def cut_batch(batch: dict, length: int, n: int, rng: np.random.Generator, uid_prefix: str = "") -> list[Segment]:
    """Up to ``n`` random clips of ``length`` steps from rollout arrays ``[T, N, ...]`` (distinct windows).

    A window may not run past the end of an episode: with same-step autoreset, ``dones[t]`` marks the last
    step of an episode, so a valid window has no done before its last step. Uids ``<prefix>e<env>t<start>-<k>``.
    """
    dones = np.asarray(batch["dones"], dtype=bool)
    T, N = dones.shape
    if T < length:
        return []
    ended = np.concatenate([np.zeros((1, N), int), np.cumsum(dones[:-1], axis=0)])  # dones before step t
    starts = np.arange(T - length + 1)
    ok = (ended[starts + length - 1] - ended[starts]) == 0  # [S, N]: no episode ends inside the window
    choices = np.argwhere(ok)
    if len(choices) == 0:
        return []
    picked = choices[rng.choice(len(choices), size=min(n, len(choices)), replace=False)]
    batch_id = int(rng.integers(1 << 30))
    obs, act, rew = (np.asarray(batch[k]) for k in ("observations", "actions", "true_rewards"))
    return [
        _window(obs[:, e], act[:, e], rew[:, e], None, int(e), int(t), length, f"{uid_prefix}e{e}t{t}-{batch_id:x}")
        for t, e in picked
    ]


def _window(
    observations: np.ndarray,
    actions: np.ndarray,
    rewards: np.ndarray,
    frames: np.ndarray | None,
    episode: int,
    start: int,
    length: int,
    uid: str,
) -> Segment:
    """The clip of steps ``start .. start + length - 1`` of one episode's arrays (``[T, ...]`` each; rewards ``[T]``,
    kept as float64): what both cutters make once they have drawn where to cut (views, no copies)."""
    window = slice(start, start + length)
    return Segment(
        observations=np.asarray(observations[window]),
        actions=np.asarray(actions[window]),
        true_rewards=np.asarray(rewards[window], dtype=np.float64),
        frames=None if frames is None else np.asarray(frames[window]),
        uid=uid,
        episode=episode,
        start=start,
    )


def _check_gamma(gamma: float) -> None:
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma={gamma!r} is out of range: expected a number in [0, 1]")
