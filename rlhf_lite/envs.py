"""The environment box: seeded environments, a fixed-horizon wrapper and frame capture.

Two ideas matter for later lessons:

* **Fixed horizons.** If an episode ends when the agent fails (CartPole's pole falls), the episode length
  alone tells a learner how well it did: any positive per-step reward then "works", so a learned reward
  looks better than it is. :class:`FixedHorizon` keeps every episode the same length; after the inner
  episode ends, the agent sits in an absorbing state (the last observation, repeated) until the horizon.
* **Seeds passed in.** :func:`make_env` seeds the environment and its action space from one integer; nothing
  here touches global random state.

The teaching worlds live in their own modules, registered here by id so that :func:`make_env` and
``gymnasium.make`` find them without importing them first: :mod:`rlhf_lite.gridworld` (``rlhf_lite/GridWorld-v0``)
and :mod:`rlhf_lite.boat_race` (``rlhf_lite/BoatRace-v0``).
"""

from __future__ import annotations

import difflib
import threading
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

TEACHING_ENVS: tuple[str, ...] = (
    "CartPole-v1",
    "Acrobot-v1",
    "rlhf_lite/GridWorld-v0",
    "rlhf_lite/BoatRace-v0",
    "Pendulum-v1",
)
"""The environments the lessons use (named in the error for an unknown id); each lesson sets its own horizon."""

NEVER_END_EARLY = frozenset({"Pendulum-v1"})
"""Tasks whose episodes only end at the time limit (nothing to fail), so an absorbing-state flag would
always read 0."""


def can_end_early(env_id: str) -> bool:
    """Whether an episode of ``env_id`` can end before its time limit (a pole falls, a goal is reached)."""
    return env_id not in NEVER_END_EARLY


def check_env_id(env_id: str) -> None:
    """Raise ``ValueError`` naming ``env_id`` and what is allowed, if gymnasium does not know it."""
    if env_id in gym.registry:
        return
    known = sorted(gym.registry)
    close = difflib.get_close_matches(env_id, known, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise ValueError(
        f"env_id={env_id!r} is not a registered gymnasium environment.{hint} "
        f"The lessons use {', '.join(repr(k) for k in TEACHING_ENVS)}; any id in gymnasium.registry is allowed."
    )


def make_env(
    env_id: str,
    seed: int | None = None,
    *,
    horizon: int | None = None,
    mark_end: bool = False,
    render_mode: str | None = None,
    **kwargs: Any,
) -> gym.Env:
    """Make a gymnasium environment, optionally with a fixed horizon, seeded from ``seed``.

    ``horizon`` wraps the env in :class:`FixedHorizon` (every episode exactly that many steps);
    ``mark_end`` adds its flag for the absorbing state to the observation (see there).
    ``render_mode="rgb_array"`` lets :func:`rlhf_lite.rollouts.rollout` capture frames for clips.
    The first ``reset()`` after this call uses ``seed``; later resets continue the same random stream.
    """
    check_env_id(env_id)
    if horizon is not None and (not isinstance(horizon, (int, np.integer)) or horizon < 1):
        raise ValueError(f"horizon={horizon!r} is not allowed: expected a whole number >= 1 or None")
    # Gymnasium's TimeLimit would cut a fixed-horizon episode short, so the horizon replaces it.
    if horizon is not None:
        kwargs.setdefault("max_episode_steps", 10**9)
    env = gym.make(env_id, render_mode=render_mode, **kwargs)
    if horizon is not None:
        env = FixedHorizon(env, int(horizon), mark_end=mark_end)
    elif mark_end:
        raise ValueError("mark_end=True needs a horizon: it marks the absorbing state of a fixed-horizon episode")
    if seed is not None:
        env.reset(seed=int(seed))
        env.action_space.seed(int(seed))
        env.observation_space.seed(int(seed))
    return env


class FixedHorizon(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Make every episode exactly ``horizon`` steps long.

    When the inner episode terminates early, the wrapper enters an *absorbing state*: it repeats the last
    observation, gives reward ``absorbing_reward`` (0 by default: no more points for a fallen pole) and
    ignores actions, until ``horizon`` steps have passed; then it reports ``truncated=True``. It never
    reports ``terminated``, so episode length carries no information about behaviour.

    ``mark_end=True`` appends one number to a Box observation: 0.0 while the inner episode runs, 1.0 in the
    absorbing state. A learned reward then sees the absorbing state as the one state it is, and can give it
    its own value; without the flag it looks like the last moment before the end, which a reward learned
    from a few labels cannot tell apart (the "absorbing state indicator" of Kostrikov et al. 2019).

    ``info["absorbing"]`` is True on steps taken in the absorbing state.
    """

    def __init__(self, env: gym.Env, horizon: int, absorbing_reward: float = 0.0, mark_end: bool = False):
        gym.utils.RecordConstructorArgs.__init__(
            self, horizon=horizon, absorbing_reward=absorbing_reward, mark_end=mark_end
        )
        gym.Wrapper.__init__(self, env)
        if horizon < 1:
            raise ValueError(f"horizon={horizon!r} is not allowed: expected a whole number >= 1")
        self.horizon = int(horizon)
        self.absorbing_reward = float(absorbing_reward)
        self.mark_end = bool(mark_end)
        if self.mark_end:
            box = env.observation_space
            if not isinstance(box, spaces.Box) or len(box.shape) != 1:
                raise ValueError(f"mark_end=True needs a flat Box observation space, got {box}")
            self.observation_space = spaces.Box(
                np.append(box.low, 0.0).astype(box.dtype), np.append(box.high, 1.0).astype(box.dtype), dtype=box.dtype
            )
        self._t = 0
        self._absorbed_obs: Any = None

    def _mark(self, obs: Any, ended: bool) -> Any:
        return np.append(obs, np.float32(ended)).astype(obs.dtype) if self.mark_end else obs

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        self._t = 0
        self._absorbed_obs = None
        obs, info = self.env.reset(seed=seed, options=options)
        info = dict(info, absorbing=False)
        return self._mark(obs, False), info

    def step(self, action):
        self._t += 1
        truncated = self._t >= self.horizon
        if self._absorbed_obs is not None:
            return self._absorbed_obs, self.absorbing_reward, False, truncated, {"absorbing": True}
        obs, reward, terminated, inner_truncated, info = self.env.step(action)
        if terminated or inner_truncated:
            self._absorbed_obs = self._mark(obs, True)
        return self._mark(obs, False), float(reward), False, truncated, dict(info, absorbing=False)


def make_vec_env(
    env_id: str,
    num_envs: int,
    seed: int,
    *,
    horizon: int | None = None,
    mark_end: bool = False,
    batched: bool = True,
    **kwargs: Any,
) -> gym.vector.VectorEnv:
    """``num_envs`` copies of :func:`make_env` stepped together; copy ``i`` is seeded with ``seed + i``.

    Uses gymnasium's ``SAME_STEP`` autoreset: when an episode ends at a step, that step already returns the
    first observation of the next episode, and the real last observation is in ``info["final_obs"]``. So
    every transition a rollout stores is real, and nothing needs masking.

    Fixed-horizon Pendulum (the RLHF loop's main task) comes as a
    :class:`~rlhf_lite.batched_envs.PendulumVecEnv` instead: the same numbers, all envs stepped at once in
    numpy rather than one Python call per env (``batched=False`` asks for gymnasium's own).
    """
    check_env_id(env_id)
    if num_envs < 1:
        raise ValueError(f"num_envs={num_envs!r} is out of range: expected a whole number >= 1")
    if batched and env_id == "Pendulum-v1" and horizon is not None and not mark_end and not kwargs:
        from rlhf_lite.batched_envs import PendulumVecEnv

        vec = PendulumVecEnv(num_envs, horizon)
        vec.reset(seed=[int(seed) + i for i in range(num_envs)])
        vec.action_space.seed(int(seed))
        return vec
    fns = [lambda: make_env(env_id, horizon=horizon, mark_end=mark_end, **kwargs) for _ in range(num_envs)]
    vec = gym.vector.SyncVectorEnv(fns, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    vec.reset(seed=[int(seed) + i for i in range(num_envs)])
    vec.action_space.seed(int(seed))
    return vec


_FRAME_ENVS: dict[tuple[str, int | None], gym.Env] = {}
# One renderer per (task, size) is shared by every caller: a clip drawn ahead in a background thread and one
# drawn at a click must not move the same renderer at once.
_FRAME_LOCK = threading.Lock()


def draw_frames(
    env_id: str, observations: np.ndarray, actions: np.ndarray | None = None, size: int | None = 160
) -> np.ndarray:
    """Pictures ``[L, H, W, 3]`` uint8 of observations ``[L, *obs_shape]``, drawn by the env's own renderer.

    For tasks whose observation is the whole state (CartPole, Pendulum, MountainCar, Acrobot) a clip can be
    drawn again from stored observations, so label files need no images and training needs no rendering.
    ``size`` is the frame height in pixels (``None`` keeps the renderer's own size). Where the renderer
    allows, it draws at that size directly rather than drawing large and shrinking (less work per frame).
    Thread-safe.
    """
    observations = np.asarray(observations)
    with _FRAME_LOCK:
        env = _frame_env(env_id, size)
        base = env.unwrapped
        frames = []
        for t, obs in enumerate(observations):
            _set_state(env_id, base, obs, None if actions is None else actions[t])
            frames.append(_resize(env.render(), size))
    return np.stack(frames) if frames else np.zeros((0, size or 1, size or 1, 3), np.uint8)


def _frame_env(env_id: str, size: int | None) -> gym.Env:
    # A hidden renderer per task and size, made lazily: a cache of drawing machinery, no random state used.
    key = (env_id, size)
    if key not in _FRAME_ENVS:
        check_env_id(env_id)
        env = gym.make(env_id, render_mode="rgb_array")
        env.reset(seed=0)
        base = env.unwrapped
        if size is not None and hasattr(base, "screen_dim"):  # Pendulum: a square canvas
            base.screen_dim = int(size)
        elif size is not None and hasattr(base, "screen_width") and hasattr(base, "screen_height"):
            base.screen_width = max(1, round(base.screen_width * size / base.screen_height))
            base.screen_height = int(size)
        _FRAME_ENVS[key] = env
    return _FRAME_ENVS[key]


def _set_state(env_id: str, base: Any, obs: np.ndarray, action: Any) -> None:
    name = env_id.split("/")[-1].split("-")[0]
    if name == "Pendulum":
        base.state = np.array([np.arctan2(obs[1], obs[0]), obs[2]])
        base.last_u = None if action is None else float(np.asarray(action).reshape(-1)[0])
    elif name == "CartPole":
        base.state = np.array(obs[:4], dtype=np.float64)
    elif name == "MountainCar":
        base.state = np.array(obs[:2], dtype=np.float64)
    elif name == "Acrobot":
        base.state = np.array([np.arctan2(obs[1], obs[0]), np.arctan2(obs[3], obs[2]), obs[4], obs[5]])
    elif hasattr(base, "set_state_from_observation"):
        base.set_state_from_observation(obs)
    else:
        raise ValueError(
            f"env_id={env_id!r} cannot be drawn from observations: allowed are Pendulum, CartPole, MountainCar, "
            "Acrobot, or an env with set_state_from_observation(obs)"
        )


def _resize(frame: np.ndarray, height: int | None) -> np.ndarray:
    if height is None or frame.shape[0] == height:
        return frame
    from PIL import Image

    width = max(1, round(frame.shape[1] * height / frame.shape[0]))
    return np.asarray(Image.fromarray(frame).resize((width, height), Image.BILINEAR))


gym.register(id="rlhf_lite/GridWorld-v0", entry_point="rlhf_lite.gridworld:GridWorld")
gym.register(id="rlhf_lite/BoatRace-v0", entry_point="rlhf_lite.boat_race:BoatRace")
