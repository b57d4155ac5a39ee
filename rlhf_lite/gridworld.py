"""GridWorld: a tiny tabular world for the RL basics (myopic vs far-sighted agents) and value iteration.

Registered as ``rlhf_lite/GridWorld-v0`` by :mod:`rlhf_lite.envs` (``envs.make_env("rlhf_lite/GridWorld-v0")``).
"""

from __future__ import annotations

from collections.abc import Sequence

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from rlhf_lite import envs  # noqa: F401  (registers the ids, so gymnasium.make finds this world)

# '.' floor, '#' wall, 'S' start; any other letter is a treasure whose reward is in `treasures`.
DEFAULT_GRID: tuple[str, ...] = (
    ".......",
    ".#####.",
    "S....#G",
    "g....#.",
)
DEFAULT_TREASURES: dict[str, float] = {"g": 1.0, "G": 10.0}

# actions 0 up, 1 right, 2 down, 3 left, as (row, col) moves
MOVES = np.array([(-1, 0), (0, 1), (1, 0), (0, -1)])


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
            raise ValueError(
                f"render_mode={render_mode!r} is not allowed: expected one of {self.metadata['render_modes']}"
            )
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

    def draw(
        self, agent: tuple[int, int] | None = None, values: np.ndarray | None = None, cell: int = 32
    ) -> np.ndarray:
        """An RGB picture ``[H, W, 3]`` uint8 of the grid: walls dark, treasures gold (size by reward), the
        agent a blue disc. ``values`` (one number per state) tints floor cells green (high) to red (low)."""
        img = np.full((self.height * cell, self.width * cell, 3), 235, dtype=np.uint8)
        yy, xx = np.mgrid[0:cell, 0:cell]
        centre = (cell - 1) / 2
        disc = (yy - centre) ** 2 + (xx - centre) ** 2
        vmax = max(abs(v) for v in self.treasures.values()) or 1.0
        for r in range(self.height):
            for c in range(self.width):
                block = img[r * cell : (r + 1) * cell, c * cell : (c + 1) * cell]
                ch = self.grid[r][c]
                if ch == "#":
                    block[:] = (60, 60, 70)
                    continue
                if values is not None:
                    v = float(np.clip(values[self.state_index(r, c)] / vmax, -1, 1))
                    block[:] = (
                        (235 - 120 * max(v, 0), 235, 235 - 120 * max(v, 0))
                        if v >= 0
                        else (235, 235 + 120 * v, 235 + 120 * v)
                    )
                if ch in self.treasures:
                    radius = cell * (0.18 + 0.3 * abs(self.treasures[ch]) / vmax)
                    colour = (230, 180, 20) if self.treasures[ch] >= 0 else (200, 40, 40)
                    block[disc <= radius**2] = colour
                if ch == "S":
                    block[:2, :] = block[-2:, :] = block[:, :2] = block[:, -2:] = (120, 120, 120)
                block[0, :] = block[:, 0] = (200, 200, 200)
        if agent is not None:
            block = img[agent[0] * cell : (agent[0] + 1) * cell, agent[1] * cell : (agent[1] + 1) * cell]
            block[disc <= (cell * 0.3) ** 2] = (40, 90, 220)
        return img
