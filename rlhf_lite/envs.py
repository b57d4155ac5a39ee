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

import dataclasses
import difflib
import threading
import operator
from typing import Any, Sequence

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from rlhf_lite.config import Config, param

# Environments the lessons use, with the horizon each lesson gives them when a fixed length is asked for.
TEACHING_ENVS: dict[str, int] = {
    "CartPole-v1": 200,
    "Pendulum-v1": 200,
    "MountainCar-v0": 200,
    "Acrobot-v1": 200,
    "rlhf_lite/GridWorld-v0": 30,
}

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
        gym.utils.RecordConstructorArgs.__init__(self, horizon=horizon, absorbing_reward=absorbing_reward, mark_end=mark_end)
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
            self.observation_space = spaces.Box(np.append(box.low, 0.0).astype(box.dtype),
                                                np.append(box.high, 1.0).astype(box.dtype), dtype=box.dtype)
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
    :class:`~rlhf_lite.batched_envs.PendulumVecEnv` instead: the same numbers, stepped in numpy, several
    times faster (``batched=False`` asks for gymnasium's own).
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


def draw_frames(env_id: str, observations: np.ndarray, actions: np.ndarray | None = None, size: int | None = 160) -> np.ndarray:
    """Pictures ``[L, H, W, 3]`` uint8 of observations ``[L, *obs_shape]``, drawn by the env's own renderer.

    For tasks whose observation is the whole state (CartPole, Pendulum, MountainCar, Acrobot) a clip can be
    drawn again from stored observations, so label files need no images and training needs no rendering.
    ``size`` is the frame height in pixels (``None`` keeps the renderer's own size). Where the renderer
    allows, it draws at that size directly, several times faster than drawing large and shrinking.
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


# --------------------------------------------------------------------------------------------------------
# BoatRace: a race whose written reward has a loophole (specification gaming, notebook 02).
# --------------------------------------------------------------------------------------------------------

# '#' land, '.' water, 'S' start, 'F' finish line (crossing it ends the race), 'T' a target buoy,
# 'R' rocks (the boat sinks: the episode ends). The lagoon top left is a ring of water around an island with a
# buoy in the middle of each side; the race itself runs along the channel from S to F.
BOAT_TRACK: tuple[str, ...] = (
    "################",
    "#.T.############",
    "#T#T############",
    "#.T.############",
    "#S.............F",
    "#R.............F",
    "################",
)


@dataclasses.dataclass
class WrittenReward(Config):
    """The reward a race designer might write down for :class:`BoatRace`, with the patches notebook 02 tries.

    As shipped it pays for what *usually* goes with winning a race: knocking down target buoys, and crossing
    the finish line. Knocked-down buoys pop back up, as in the boat-racing game (CoastRunners) where an agent
    famously circled a lagoon hitting respawning targets instead of finishing. The other fields are patches.
    """

    target_points: float = param(1.0, "points for knocking down a target buoy", low=0.0, high=10.0)
    respawn: bool = param(True, "knocked-down buoys pop back up after a while (as in the original game)",
                          choices=(True, False))
    respawn_steps: float = param(4.0, "average number of steps before a knocked-down buoy pops back up",
                                 low=1.0, high=100.0)
    finish_bonus: float = param(3.0, "points for crossing the finish line, which ends the race", low=0.0, high=100.0)
    step_penalty: float = param(0.0, "points lost on every step, so that dawdling costs", low=0.0, high=5.0)
    sink_penalty: float = param(0.0, "points lost when the boat hits the rocks and sinks", low=0.0, high=100.0)


RACE_REWARDS = ("written", "intended")


class BoatRace(gym.Env):
    """A boat race on a grid, whose written reward (:class:`WrittenReward`) can be gamed.

    What we *want* is to finish the race quickly: sail from the start ``S`` along the channel to the finish
    line ``F`` (the racing line takes :attr:`race_length` steps). What the written reward *pays* is points for
    target buoys ``T`` and a bonus for finishing; since buoys pop back up, circling the lagoon forever pays more
    than finishing. Rocks ``R`` sink the boat and end the episode.

    Observation: ``Discrete``, ``cell * 2**n_targets + up_mask``: which water cell the boat is on (an index
    into :attr:`cells`) and which buoys are standing (bit ``j`` of ``up_mask`` for buoy ``j``); everything the
    reward depends on, so tabular agents can learn it. Actions: 0 up, 1 right, 2 down, 3 left; steering onto
    land leaves the boat where it is. A buoy is knocked down when the boat sails *into* its cell; each step,
    every knocked-down buoy pops back up with probability ``1 / respawn_steps`` (if ``respawn``).

    ``reward="written"`` (default) pays the written reward; ``reward="intended"`` pays race progress instead
    (the fraction of the race gained this step; sums to the race progress at the end). Either way ``info``
    carries both (``written_reward``, ``intended_reward``) and ``progress`` (0 at the start, 1 at the finish),
    ``finished``, ``sank``, ``targets_hit``, ``steps``. Finished episodes are summarised in
    :attr:`episode_log` (one dict per episode, see :meth:`episode_stats`) so a training run can be plotted
    by both measures. :meth:`tabular_model` gives ``P, R, terminal`` for value iteration.
    """

    metadata = {"render_modes": ["rgb_array", "ansi"], "render_fps": 6}

    def __init__(
        self,
        track: Sequence[str] = BOAT_TRACK,
        *,
        target_points: float = 1.0,
        respawn: bool = True,
        respawn_steps: float = 4.0,
        finish_bonus: float = 3.0,
        step_penalty: float = 0.0,
        sink_penalty: float = 0.0,
        reward: str = "written",
        max_steps: int = 60,
        render_mode: str | None = None,
    ):
        self.written = WrittenReward(target_points=target_points, respawn=respawn, respawn_steps=respawn_steps,
                                     finish_bonus=finish_bonus, step_penalty=step_penalty, sink_penalty=sink_penalty)
        if reward not in RACE_REWARDS:
            raise ValueError(f"reward={reward!r} is not allowed: expected one of {', '.join(map(repr, RACE_REWARDS))}")
        if not isinstance(max_steps, (int, np.integer)) or max_steps < 1:
            raise ValueError(f"max_steps={max_steps!r} is not allowed: expected a whole number >= 1")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode={render_mode!r} is not allowed: expected one of {self.metadata['render_modes']}")
        self.track = _check_track(track)
        self.reward_kind = reward
        self.max_steps = int(max_steps)
        self.render_mode = render_mode
        self.height, self.width = len(self.track), len(self.track[0])
        # Every non-land cell gets an index; the observation packs it with the buoys' up/down bits.
        self.cells: list[tuple[int, int]] = [(r, c) for r in range(self.height) for c in range(self.width)
                                             if self.track[r][c] != "#"]
        self._cell_index = {rc: i for i, rc in enumerate(self.cells)}
        self.targets: list[tuple[int, int]] = [rc for rc in self.cells if self._char(rc) == "T"]
        self._target_of = {rc: j for j, rc in enumerate(self.targets)}
        self.n_masks = 2 ** len(self.targets)
        self.start = next(rc for rc in self.cells if self._char(rc) == "S")
        self.distance = self._distances_to_finish()
        self.race_length = int(self.distance[self._cell_index[self.start]])
        self.observation_space = spaces.Discrete(len(self.cells) * self.n_masks)
        self.action_space = spaces.Discrete(4)
        self._respawn_prob = 1.0 / self.written.respawn_steps if self.written.respawn else 0.0
        # Lookup tables so that a step is a few list look-ups (tabular agents take many thousands of steps).
        self._next = [[self._cell_index[self._move(rc, a)] for a in range(4)] for rc in self.cells]
        self._progress = [self.cell_progress(rc) for rc in self.cells]
        self._kinds = [self._char(rc) for rc in self.cells]
        self._target_at = [self._target_of.get(rc, -1) for rc in self.cells]
        self.episode_log: list[dict[str, Any]] = []
        self._new_episode()

    # -- layout helpers ---------------------------------------------------------------------------------
    def _char(self, rc: tuple[int, int]) -> str:
        return self.track[rc[0]][rc[1]]

    def _move(self, rc: tuple[int, int], action: int) -> tuple[int, int]:
        r, c = rc[0] + int(MOVES[action][0]), rc[1] + int(MOVES[action][1])
        if 0 <= r < self.height and 0 <= c < self.width and self.track[r][c] != "#":
            return r, c
        return rc

    def _distances_to_finish(self) -> np.ndarray:
        # Breadth-first search from the finish line over open water (rocks are not a way through).
        dist = np.full(len(self.cells), np.inf)
        frontier = [rc for rc in self.cells if self._char(rc) == "F"]
        for rc in frontier:
            dist[self._cell_index[rc]] = 0
        while frontier:
            nxt = []
            for rc in frontier:
                for a in range(4):
                    n = self._move(rc, a)
                    i = self._cell_index[n]
                    if self._char(n) != "R" and dist[i] == np.inf:
                        dist[i] = dist[self._cell_index[rc]] + 1
                        nxt.append(n)
            frontier = nxt
        if dist[self._cell_index[self.start]] == np.inf:
            raise ValueError("track has no water route from the start 'S' to the finish 'F'")
        return dist

    def cell_progress(self, rc: tuple[int, int]) -> float:
        """Race progress at water cell ``rc``: ``1 - distance_to_finish / race_length``, clipped to [0, 1]
        (the lagoon counts as 0: it is not on the way). Rocks have no progress of their own (``nan``)."""
        d = self.distance[self._cell_index[rc]]
        return float("nan") if d == np.inf else float(np.clip(1.0 - d / self.race_length, 0.0, 1.0))

    def encode(self, rc: tuple[int, int], up_mask: int) -> int:
        """The observation for the boat at cell ``rc`` with buoys ``up_mask`` standing (bit j = buoy j up)."""
        return self._cell_index[tuple(rc)] * self.n_masks + int(up_mask)

    def decode(self, obs: int) -> tuple[tuple[int, int], int]:
        """``(cell (row, col), up_mask)`` of an observation."""
        if not 0 <= int(obs) < self.observation_space.n:
            raise ValueError(f"obs={obs!r} is out of range: expected a whole number in [0, {self.observation_space.n})")
        return self.cells[int(obs) // self.n_masks], int(obs) % self.n_masks

    # -- gymnasium API --------------------------------------------------------------------------------------
    def _new_episode(self) -> None:
        self._pos = self.start
        self._mask = self.n_masks - 1  # every buoy standing
        self._t = 0
        self._heading = 1  # facing right, down the channel
        self._trail: list[tuple[int, int]] = []
        self._score_known = True
        self._stats: dict[str, Any] = dict(steps=0, written_return=0.0, intended_return=0.0, targets_hit=0,
                                                  finished=False, sank=False, progress=0.0)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._new_episode()
        return self.encode(self._pos, self._mask), {"progress": 0.0}

    def step(self, action):
        try:
            a = operator.index(action)
        except TypeError:
            a = -1
        if not 0 <= a < 4:
            raise ValueError(f"action={action!r} is not allowed: expected 0 (up), 1 (right), 2 (down) or 3 (left)")
        w = self.written
        i_old = self._cell_index[self._pos]
        i_new = self._next[i_old][a]
        self._t += 1
        self._heading = a
        self._trail = (self._trail + [self._pos])[-8:]
        if self._respawn_prob > 0:  # fallen buoys may pop back up (drawn every step: a steady random stream)
            for j, popped in enumerate(self.np_random.random(len(self.targets)) < self._respawn_prob):
                if popped:
                    self._mask |= 1 << j
        written = 0.0 - w.step_penalty  # (not -0.0 when there is no penalty)
        j = self._target_at[i_new]
        hit = j >= 0 and i_new != i_old and bool(self._mask >> j & 1)
        if hit:
            self._mask &= ~(1 << j)
            written += w.target_points
        kind = self._kinds[i_new]
        finished, sank = kind == "F", kind == "R"
        if finished:
            written += w.finish_bonus
        if sank:
            written -= w.sink_penalty
        s = self._stats
        before = s["progress"]
        after = before if sank else self._progress[i_new]
        intended = after - before
        self._pos = self.cells[i_new]
        terminated = finished or sank
        truncated = self._t >= self.max_steps and not terminated
        s.update(steps=self._t, progress=after, finished=finished, sank=sank)
        s["written_return"] += written
        s["intended_return"] += intended
        s["targets_hit"] += int(hit)
        if terminated or truncated:
            self.episode_log.append(dict(s))
        info = dict(written_reward=float(written), intended_reward=float(intended), progress=float(after),
                    finished=finished, sank=sank, targets_hit=s["targets_hit"], steps=self._t, hit=hit)
        reward = written if self.reward_kind == "written" else intended
        return i_new * self.n_masks + self._mask, float(reward), terminated, truncated, info

    def episode_stats(self) -> dict[str, Any]:
        """The current (or last) episode so far: ``steps``, ``written_return``, ``intended_return``,
        ``targets_hit``, ``finished``, ``sank``, ``progress`` (race progress, 1.0 = finished)."""
        return dict(self._stats)

    # -- tabular model for value iteration -------------------------------------------------------------------
    def tabular_model(self, reward: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(P, R, terminal)`` with ``P[s, a, s']`` transition probabilities, ``R[s, a]`` the expected reward
        (``reward``: ``"written"`` or ``"intended"``, default this env's), ``terminal[s]`` True on the finish
        line and the rocks. Shapes ``[S, 4, S]``, ``[S, 4]``, ``[S]`` with ``S = observation_space.n``.

        Respawns are random, so ``P`` spreads over the buoy masks; the written reward of sailing into a fallen
        buoy's cell is its points times the chance that it popped up that very step.
        """
        kind = self.reward_kind if reward is None else reward
        if kind not in RACE_REWARDS:
            raise ValueError(f"reward={kind!r} is not allowed: expected one of {', '.join(map(repr, RACE_REWARDS))}")
        w, n_t, M = self.written, len(self.targets), self.n_masks
        S = self.observation_space.n
        P = np.zeros((S, 4, S))
        R = np.zeros((S, 4))
        terminal = np.zeros(S, dtype=bool)
        # respawn[m, m2]: chance that buoy mask m becomes m2 when each fallen buoy pops up with prob p.
        p = self._respawn_prob
        respawn = np.zeros((M, M))
        for m in range(M):
            down = [j for j in range(n_t) if not m >> j & 1]
            for k in range(2 ** len(down)):
                popped = [down[i] for i in range(len(down)) if k >> i & 1]
                m2 = m | sum(1 << j for j in popped)
                respawn[m, m2] += p ** len(popped) * (1 - p) ** (len(down) - len(popped))
        for i, rc in enumerate(self.cells):
            ch = self._char(rc)
            for m in range(M):
                s = i * M + m
                if ch in "FR":
                    terminal[s] = True
                    P[s, :, s] = 1.0
                    continue
                for a in range(4):
                    new = self._move(rc, a)
                    ch2 = self._char(new)
                    base = (0.0 - w.step_penalty + (w.finish_bonus if ch2 == "F" else 0.0)
                            - (w.sink_penalty if ch2 == "R" else 0.0))
                    j = self._target_of.get(new)
                    for m2 in np.flatnonzero(respawn[m]):
                        prob = respawn[m, m2]
                        r = base
                        if j is not None and new != rc and m2 >> j & 1:
                            m2, r = m2 & ~(1 << j), r + w.target_points
                        P[s, a, self.encode(new, m2)] += prob
                        R[s, a] += prob * r
                    if kind == "intended":
                        R[s, a] = 0.0 if ch2 == "R" else self.cell_progress(new) - self.cell_progress(rc)
        return P, R, terminal

    # -- pictures -------------------------------------------------------------------------------------------
    def render(self):
        if self.render_mode == "ansi":
            rows = [list(r) for r in self.track]
            for j, (r, c) in enumerate(self.targets):
                rows[r][c] = "T" if self._mask >> j & 1 else "t"
            rows[self._pos[0]][self._pos[1]] = "B"
            return "\n".join("".join(r) for r in rows)
        if self.render_mode == "rgb_array":
            return self.draw(self._pos, self._mask, heading=self._heading, trail=self._trail, hud=self._hud())
        return None

    def set_state_from_observation(self, obs: int) -> None:
        """Put the boat and buoys where observation ``obs`` says (for :func:`draw_frames`); the score is unknown."""
        self._pos, self._mask = self.decode(obs)
        self._trail = []
        self._score_known = False

    def _hud(self) -> str:
        s = self._stats
        if not self._score_known:
            return f"race {self.cell_progress(self._pos):.0%}" if self._char(self._pos) != "R" else "sank"
        status = "  FINISHED" if s["finished"] else "  SANK" if s["sank"] else ""
        return (f"step {s['steps']:>2}/{self.max_steps}   points {s['written_return']:5.1f}   "
                f"race {s['progress']:4.0%}{status}")

    def draw(
        self,
        boat: tuple[int, int] | None = None,
        up_mask: int | None = None,
        *,
        heading: int = 1,
        trail: Sequence[tuple[int, int]] = (),
        hud: str | None = None,
        cell: int = 32,
    ) -> np.ndarray:
        """An RGB picture ``[H, W, 3]`` uint8: land green, water blue, buoys red (a ripple once knocked down),
        rocks grey, the finish line checkered, the boat white pointing along ``heading`` (an action), its
        recent ``trail`` as a wake; ``hud`` is a line of text in a bar under the track."""
        mask = self.n_masks - 1 if up_mask is None else int(up_mask)
        img = np.zeros((self.height * cell, self.width * cell, 3), dtype=np.uint8)
        yy, xx = np.mgrid[0:cell, 0:cell]
        c0 = (cell - 1) / 2
        r2 = (yy - c0) ** 2 + (xx - c0) ** 2
        for r in range(self.height):
            for c in range(self.width):
                block = img[r * cell:(r + 1) * cell, c * cell:(c + 1) * cell]
                ch = self.track[r][c]
                if ch == "#":
                    block[:] = (96, 150, 86)
                    if (r * r * 5 + c * 3 + r * c) % 7 == 0:  # a few trees, always in the same places
                        block[(yy - c0 + 3) ** 2 + (xx - c0 - 2) ** 2 <= (0.3 * cell) ** 2] = (66, 118, 62)
                    continue
                block[:] = (62, 122, 190)
                block[((yy + 3 * xx // 4) % 12 == 0)] = (80, 140, 205)  # a little texture: ripples
                if ch == "F":
                    check = ((yy // (cell // 4)) + (xx // (cell // 4))) % 2 == 0
                    block[check] = (245, 245, 245)
                    block[~check] = (30, 30, 30)
                elif ch == "S":
                    block[:, -3:] = (245, 245, 245)
                elif ch == "R":
                    for dy, dx, rad in ((-4, -5, 0.26), (5, 4, 0.22), (6, -7, 0.14)):
                        block[(yy - c0 - dy) ** 2 + (xx - c0 - dx) ** 2 <= (rad * cell) ** 2] = (118, 112, 106)
        for k, (r, c) in enumerate(trail):  # the wake: older positions fainter and smaller
            rad = 0.05 + 0.09 * (k + 1) / max(len(trail), 1)
            block = img[r * cell:(r + 1) * cell, c * cell:(c + 1) * cell]
            block[r2 <= (rad * cell) ** 2] = (200, 225, 245)
        for j, (r, c) in enumerate(self.targets):  # standing buoys red and white; fallen ones a faint red ring
            block = img[r * cell:(r + 1) * cell, c * cell:(c + 1) * cell]
            if mask >> j & 1:
                block[r2 <= (0.32 * cell) ** 2] = (220, 40, 40)
                block[r2 <= (0.2 * cell) ** 2] = (250, 250, 250)
                block[r2 <= (0.1 * cell) ** 2] = (220, 40, 40)
            else:
                block[((0.24 * cell) ** 2 <= r2) & (r2 <= (0.32 * cell) ** 2)] = (175, 110, 150)
        if boat is not None:
            r, c = boat
            block = img[r * cell:(r + 1) * cell, c * cell:(c + 1) * cell]
            hull, cabin = _boat_sprite(cell, heading)
            sank = self.track[r][c] == "R"
            block[hull] = (70, 70, 70) if sank else (250, 250, 250)
            block[cabin] = (40, 40, 40) if sank else (240, 140, 30)
        if hud is not None:
            img = np.concatenate([img, _text_bar(hud, img.shape[1], max(16, cell * 7 // 8))], axis=0)
        return img


def _check_track(track: Sequence[str]) -> tuple[str, ...]:
    track = tuple(track)
    if not track or len({len(r) for r in track}) != 1:
        raise ValueError(f"track rows must all have the same length, got {[len(r) for r in track]}")
    bad = sorted({ch for row in track for ch in row} - set("#.STFR"))
    if bad:
        raise ValueError(f"track has unknown cell {bad[0]!r}: allowed are '#' land, '.' water, 'S' start, "
                         "'F' finish, 'T' target, 'R' rocks")
    n_start = sum(row.count("S") for row in track)
    if n_start != 1:
        raise ValueError(f"track must have exactly one start 'S', found {n_start}")
    if not any("F" in row for row in track):
        raise ValueError("track must have a finish line 'F'")
    n_targets = sum(row.count("T") for row in track)
    if n_targets > 8:
        raise ValueError(f"track has {n_targets} targets: at most 8 are allowed "
                         "(the observation holds 2**targets patterns of standing buoys)")
    return track


def _boat_sprite(cell: int, heading: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks ``[cell, cell]`` of a boat's hull and cabin pointing along action ``heading``."""
    yy, xx = np.mgrid[0:cell, 0:cell] / cell
    half_width = np.where(xx < 0.6, 0.2, 0.2 * (0.9 - xx) / 0.3)
    hull = (xx >= 0.12) & (xx <= 0.9) & (np.abs(yy - 0.5) <= half_width)
    cabin = (xx >= 0.3) & (xx <= 0.52) & (np.abs(yy - 0.5) <= 0.1)
    turns = {1: 0, 0: 1, 3: 2, 2: 3}[int(heading)]  # counter-clockwise quarter turns from facing right
    return np.rot90(hull, turns), np.rot90(cabin, turns)


_FONT_CACHE: dict[int, Any] = {}


def _text_bar(text: str, width: int, height: int) -> np.ndarray:
    """A dark bar ``[height, width, 3]`` uint8 with ``text`` in white (pillow's built-in font)."""
    from PIL import Image, ImageDraw, ImageFont

    size = max(8, height * 2 // 3)
    if size not in _FONT_CACHE:
        try:
            _FONT_CACHE[size] = ImageFont.load_default(size=size)
        except (TypeError, OSError):  # an old pillow or one without FreeType: the small bitmap font
            _FONT_CACHE[size] = ImageFont.load_default()
    bar = Image.new("RGB", (width, height), (25, 35, 50))
    ImageDraw.Draw(bar).text((6, (height - size) // 2 - 1), text, fill=(240, 240, 240), font=_FONT_CACHE[size])
    return np.asarray(bar)


def describe_race(stats: dict[str, Any], race_length: int | None = None) -> str:
    """One sentence on what happened in an episode, from :meth:`BoatRace.episode_stats`: did the boat finish,
    sink or never get there, how many buoys it hit, what the written reward paid."""
    pts = f"{stats['written_return']:.1f} points"
    hits = f"{stats['targets_hit']} buoy{'s' if stats['targets_hit'] != 1 else ''}"
    if stats["finished"]:
        line = f" (the racing line takes {race_length})" if race_length is not None else ""
        return f"finished the race in {stats['steps']} steps{line}, hitting {hits} on the way: {pts}"
    if stats["sank"]:
        return (f"sank on the rocks after {stats['steps']} step{'s' if stats['steps'] != 1 else ''}, "
                f"{stats['progress']:.0%} of the way to the finish: {pts}")
    return (f"never finished: in {stats['steps']} steps it hit {hits} and got {stats['progress']:.0%} of the way "
            f"to the finish: {pts}")


# The patches notebook 02 tries in turn, each added to the last to fix what the boat did before: a name, and
# the WrittenReward fields it changes. tests/test_spec_gaming.py checks what the reward-optimal boat does.
REWARD_PATCHES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("as written", {}),
    ("buoys stay down", dict(respawn=False)),
    ("+ 0.3 points lost per step", dict(respawn=False, step_penalty=0.3)),
    ("+ 10 points lost for sinking", dict(respawn=False, step_penalty=0.3, sink_penalty=10.0)),
    ("step penalty raised to 1", dict(respawn=False, step_penalty=1.0, sink_penalty=10.0)),
)


def race_episode(env: gym.Env, policy: Any, *, seed: int | None = None) -> tuple[np.ndarray | None, dict[str, Any]]:
    """Sail one race with ``policy`` (observation -> action) in a :class:`BoatRace` (wrappers allowed).

    Returns ``(frames, stats)``: ``frames [T+1, H, W, 3]`` uint8 when the env renders ``rgb_array`` (else
    ``None``), from the start to the final picture (over the finish line, on the rocks, or out of time), and
    ``stats`` from :meth:`BoatRace.episode_stats`, which :func:`describe_race` turns into a sentence.
    """
    base = env.unwrapped
    if not isinstance(base, BoatRace):
        raise ValueError(f"env is {type(base).__name__}: race_episode needs a BoatRace")
    render = env.render_mode == "rgb_array"
    obs, _ = env.reset(seed=seed)
    frames = [env.render()] if render else []
    while True:
        obs, _, terminated, truncated, _ = env.step(policy(obs))
        if render:
            frames.append(env.render())
        if terminated or truncated:
            break
    return (np.stack(frames) if render else None), base.episode_stats()


gym.register(id="rlhf_lite/BoatRace-v0", entry_point=BoatRace)
