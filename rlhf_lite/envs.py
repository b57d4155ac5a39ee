"""The environment box: seeded environments, a fixed-horizon wrapper, frame capture, and teaching gridworlds.

Two ideas matter for later lessons:

* **Fixed horizons.** If an episode ends when the agent fails (CartPole's pole falls), the episode length
  alone tells a learner how well it did: any positive per-step reward then "works", so a learned reward
  looks better than it is. :class:`FixedHorizon` keeps every episode the same length; after the inner
  episode ends, the agent sits in an absorbing state (the last observation, repeated) until the horizon.
* **Seeds passed in.** :func:`make_env` seeds the environment and its action space from one integer; nothing
  here touches global random state.
"""

from __future__ import annotations

import difflib
from typing import Any, Sequence

import gymnasium as gym
import numpy as np
from gymnasium import spaces

# Environments the lessons use, with the horizon each lesson gives them when a fixed length is asked for.
TEACHING_ENVS: dict[str, int] = {
    "CartPole-v1": 200,
    "Pendulum-v1": 200,
    "MountainCar-v0": 200,
    "Acrobot-v1": 200,
    "rlhf_lite/GridWorld-v0": 30,
}


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
    render_mode: str | None = None,
    **kwargs: Any,
) -> gym.Env:
    """Make a gymnasium environment, optionally with a fixed horizon, seeded from ``seed``.

    ``horizon`` wraps the env in :class:`FixedHorizon` (every episode exactly that many steps).
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
        env = FixedHorizon(env, int(horizon))
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

    ``info["absorbing"]`` is True on steps taken in the absorbing state.
    """

    def __init__(self, env: gym.Env, horizon: int, absorbing_reward: float = 0.0):
        gym.utils.RecordConstructorArgs.__init__(self, horizon=horizon, absorbing_reward=absorbing_reward)
        gym.Wrapper.__init__(self, env)
        if horizon < 1:
            raise ValueError(f"horizon={horizon!r} is not allowed: expected a whole number >= 1")
        self.horizon = int(horizon)
        self.absorbing_reward = float(absorbing_reward)
        self._t = 0
        self._absorbed_obs: Any = None

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        self._t = 0
        self._absorbed_obs = None
        obs, info = self.env.reset(seed=seed, options=options)
        info = dict(info, absorbing=False)
        return obs, info

    def step(self, action):
        self._t += 1
        truncated = self._t >= self.horizon
        if self._absorbed_obs is not None:
            return self._absorbed_obs, self.absorbing_reward, False, truncated, {"absorbing": True}
        obs, reward, terminated, inner_truncated, info = self.env.step(action)
        if terminated or inner_truncated:
            self._absorbed_obs = obs
        return obs, float(reward), False, truncated, dict(info, absorbing=False)


def make_vec_env(
    env_id: str,
    num_envs: int,
    seed: int,
    *,
    horizon: int | None = None,
    **kwargs: Any,
) -> gym.vector.SyncVectorEnv:
    """``num_envs`` copies of :func:`make_env` stepped together; copy ``i`` is seeded with ``seed + i``.

    Uses gymnasium's ``SAME_STEP`` autoreset: when an episode ends at a step, that step already returns the
    first observation of the next episode, and the real last observation is in ``info["final_obs"]``. So
    every transition a rollout stores is real, and nothing needs masking.
    """
    check_env_id(env_id)
    if num_envs < 1:
        raise ValueError(f"num_envs={num_envs!r} is out of range: expected a whole number >= 1")
    fns = [lambda: make_env(env_id, horizon=horizon, **kwargs) for _ in range(num_envs)]
    vec = gym.vector.SyncVectorEnv(fns, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    vec.reset(seed=[int(seed) + i for i in range(num_envs)])
    vec.action_space.seed(int(seed))
    return vec


_FRAME_ENVS: dict[str, gym.Env] = {}


def draw_frames(env_id: str, observations: np.ndarray, actions: np.ndarray | None = None, size: int | None = 160) -> np.ndarray:
    """Pictures ``[L, H, W, 3]`` uint8 of observations ``[L, *obs_shape]``, drawn by the env's own renderer.

    For tasks whose observation is the whole state (CartPole, Pendulum, MountainCar, Acrobot) a clip can be
    drawn again from stored observations, so label files need no images and training needs no rendering.
    ``size`` scales frames to that height (``None`` keeps the renderer's size).
    """
    observations = np.asarray(observations)
    env = _frame_env(env_id)
    base = env.unwrapped
    frames = []
    for t, obs in enumerate(observations):
        _set_state(env_id, base, obs, None if actions is None else actions[t])
        frames.append(_resize(env.render(), size))
    return np.stack(frames) if frames else np.zeros((0, size or 1, size or 1, 3), np.uint8)


def _frame_env(env_id: str) -> gym.Env:
    # One hidden renderer per task, made lazily: a pure cache of drawing machinery, no random state used.
    if env_id not in _FRAME_ENVS:
        check_env_id(env_id)
        env = gym.make(env_id, render_mode="rgb_array")
        env.reset(seed=0)
        _FRAME_ENVS[env_id] = env
    return _FRAME_ENVS[env_id]


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


# --------------------------------------------------------------------------------------------------------
# GridWorld: a tiny tabular world for the RL basics (myopic vs far-sighted agents) and value iteration.
# --------------------------------------------------------------------------------------------------------

# '.' floor, '#' wall, 'S' start; any other letter is a treasure whose reward is in `treasures`.
DEFAULT_GRID: tuple[str, ...] = (
    ".......",
    ".#####.",
    "S....#G",
    "g....#.",
)
DEFAULT_TREASURES: dict[str, float] = {"g": 1.0, "G": 10.0}

# up, right, down, left as (row, col) moves
MOVES = np.array([(-1, 0), (0, 1), (1, 0), (0, -1)])
ACTION_NAMES = ("up", "right", "down", "left")


class GridWorld(gym.Env):
    """A deterministic gridworld: walk to a treasure; reaching one pays its reward and ends the episode.

    The default map puts a small treasure ``g`` (+1) one step from the start and a big one ``G`` (+10)
    ten steps away, around a wall. Since ``10 * gamma**9 > 1`` only when ``gamma > 0.774``, a myopic agent
    prefers the near +1 and a far-sighted one walks to the +10. Each step costs ``step_reward`` (0 by default).

    Observation: the cell index ``row * width + col`` (``Discrete(n_states)``). Actions: 0 up, 1 right,
    2 down, 3 left (``Discrete(4)``); moving into a wall or off the map leaves the agent where it is.
    :meth:`tabular_model` returns the transition and reward tables, for value iteration.
    """

    metadata = {"render_modes": ["rgb_array", "ansi"], "render_fps": 4}

    def __init__(
        self,
        grid: Sequence[str] = DEFAULT_GRID,
        treasures: dict[str, float] | None = None,
        step_reward: float = 0.0,
        max_steps: int = 50,
        render_mode: str | None = None,
    ):
        self.grid = tuple(grid)
        self.treasures = dict(DEFAULT_TREASURES if treasures is None else treasures)
        if len({len(r) for r in self.grid}) != 1:
            raise ValueError(f"grid rows must all have the same length, got {[len(r) for r in self.grid]}")
        allowed_chars = set(".#S") | set(self.treasures)
        bad = sorted({c for row in self.grid for c in row} - allowed_chars)
        if bad:
            raise ValueError(f"grid has unknown cell {bad[0]!r}: allowed are {sorted(allowed_chars)}")
        starts = [(r, c) for r, row in enumerate(self.grid) for c, ch in enumerate(row) if ch == "S"]
        if len(starts) != 1:
            raise ValueError(f"grid must have exactly one start 'S', found {len(starts)}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode={render_mode!r} is not allowed: expected one of {self.metadata['render_modes']}")
        self.height, self.width = len(self.grid), len(self.grid[0])
        self.start = starts[0]
        self.step_reward = float(step_reward)
        self.max_steps = int(max_steps)
        self.render_mode = render_mode
        self.observation_space = spaces.Discrete(self.height * self.width)
        self.action_space = spaces.Discrete(4)
        self._pos = self.start
        self._t = 0

    # -- helpers ------------------------------------------------------------------------------------
    def state_index(self, row: int, col: int) -> int:
        return row * self.width + col

    def cell(self, state: int) -> str:
        return self.grid[state // self.width][state % self.width]

    def _move(self, pos: tuple[int, int], action: int) -> tuple[int, int]:
        r, c = pos[0] + MOVES[action][0], pos[1] + MOVES[action][1]
        if 0 <= r < self.height and 0 <= c < self.width and self.grid[r][c] != "#":
            return int(r), int(c)
        return pos

    def tabular_model(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(P, R, terminal)``: ``P[s, a, s']`` transition probabilities, ``R[s, a]`` expected reward,
        ``terminal[s]`` True for treasure cells (no reward or movement after them)."""
        n = self.observation_space.n
        P = np.zeros((n, 4, n))
        R = np.zeros((n, 4))
        terminal = np.array([self.cell(s) in self.treasures for s in range(n)])
        for s in range(n):
            pos = (s // self.width, s % self.width)
            for a in range(4):
                if terminal[s] or self.cell(s) == "#":
                    P[s, a, s] = 1.0
                    continue
                nxt = self._move(pos, a)
                s2 = self.state_index(*nxt)
                P[s, a, s2] = 1.0
                R[s, a] = self.step_reward + self.treasures.get(self.grid[nxt[0]][nxt[1]], 0.0)
        return P, R, terminal

    # -- gymnasium API ---------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._pos = self.start
        self._t = 0
        return self.state_index(*self._pos), {}

    def step(self, action):
        if not self.action_space.contains(action):
            raise ValueError(f"action={action!r} is not allowed: expected 0 (up), 1 (right), 2 (down) or 3 (left)")
        self._pos = self._move(self._pos, int(action))
        self._t += 1
        ch = self.grid[self._pos[0]][self._pos[1]]
        reward = self.step_reward + self.treasures.get(ch, 0.0)
        terminated = ch in self.treasures
        truncated = self._t >= self.max_steps and not terminated
        return self.state_index(*self._pos), float(reward), terminated, truncated, {}

    def render(self):
        if self.render_mode == "ansi":
            rows = [list(r) for r in self.grid]
            rows[self._pos[0]][self._pos[1]] = "A"
            return "\n".join("".join(r) for r in rows)
        if self.render_mode == "rgb_array":
            return self.draw(agent=self._pos)
        return None

    def draw(self, agent: tuple[int, int] | None = None, values: np.ndarray | None = None, cell: int = 32) -> np.ndarray:
        """An RGB picture ``[H, W, 3]`` uint8 of the grid: walls dark, treasures gold (size by reward), the
        agent a blue disc. ``values`` (one number per state) tints floor cells green (high) to red (low)."""
        img = np.full((self.height * cell, self.width * cell, 3), 235, dtype=np.uint8)
        yy, xx = np.mgrid[0:cell, 0:cell]
        centre = (cell - 1) / 2
        disc = (yy - centre) ** 2 + (xx - centre) ** 2
        vmax = max(abs(v) for v in self.treasures.values()) or 1.0
        for r in range(self.height):
            for c in range(self.width):
                block = img[r * cell:(r + 1) * cell, c * cell:(c + 1) * cell]
                ch = self.grid[r][c]
                if ch == "#":
                    block[:] = (60, 60, 70)
                    continue
                if values is not None:
                    v = float(np.clip(values[self.state_index(r, c)] / vmax, -1, 1))
                    block[:] = (235 - 120 * max(v, 0), 235, 235 - 120 * max(v, 0)) if v >= 0 else (235, 235 + 120 * v, 235 + 120 * v)
                if ch in self.treasures:
                    radius = cell * (0.18 + 0.3 * abs(self.treasures[ch]) / vmax)
                    colour = (230, 180, 20) if self.treasures[ch] >= 0 else (200, 40, 40)
                    block[disc <= radius**2] = colour
                if ch == "S":
                    block[:2, :] = block[-2:, :] = block[:, :2] = block[:, -2:] = (120, 120, 120)
                block[0, :] = block[:, 0] = (200, 200, 200)
        if agent is not None:
            block = img[agent[0] * cell:(agent[0] + 1) * cell, agent[1] * cell:(agent[1] + 1) * cell]
            block[disc <= (cell * 0.3) ** 2] = (40, 90, 220)
        return img


gym.register(id="rlhf_lite/GridWorld-v0", entry_point=GridWorld)
