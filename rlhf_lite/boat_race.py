"""BoatRace: a race whose written reward has a loophole (specification gaming, notebook 02).

Registered as ``rlhf_lite/BoatRace-v0`` by :mod:`rlhf_lite.envs`. :class:`WrittenReward` is the reward a race
designer might write, :data:`REWARD_PATCHES` the patches the lesson tries, :func:`race_episode` sails one race and
:func:`describe_race` says in a sentence what happened.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from rlhf_lite.boat_race_drawing import draw_race
from rlhf_lite.config import Config, param
from rlhf_lite.gridworld import MOVES

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
    respawn: bool = param(
        True, "knocked-down buoys pop back up after a while (as in the original game)", choices=(True, False)
    )
    respawn_steps: float = param(
        4.0, "average number of steps before a knocked-down buoy pops back up", low=1.0, high=100.0
    )
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
        self.written = WrittenReward(
            target_points=target_points,
            respawn=respawn,
            respawn_steps=respawn_steps,
            finish_bonus=finish_bonus,
            step_penalty=step_penalty,
            sink_penalty=sink_penalty,
        )
        if reward not in RACE_REWARDS:
            raise ValueError(f"reward={reward!r} is not allowed: expected one of {', '.join(map(repr, RACE_REWARDS))}")
        if not isinstance(max_steps, (int, np.integer)) or max_steps < 1:
            raise ValueError(f"max_steps={max_steps!r} is not allowed: expected a whole number >= 1")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode={render_mode!r} is not allowed: expected one of {self.metadata['render_modes']}"
            )
        self.track = _check_track(track)
        self.reward_kind = reward
        self.max_steps = int(max_steps)
        self.render_mode = render_mode
        self.height, self.width = len(self.track), len(self.track[0])
        # Every non-land cell gets an index; the observation packs it with the buoys' up/down bits.
        self.cells: list[tuple[int, int]] = [
            (r, c) for r in range(self.height) for c in range(self.width) if self.track[r][c] != "#"
        ]
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
        self._stats: dict[str, Any] = dict(
            steps=0, written_return=0.0, intended_return=0.0, targets_hit=0, finished=False, sank=False, progress=0.0
        )

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
        info = dict(
            written_reward=float(written),
            intended_reward=float(intended),
            progress=float(after),
            finished=finished,
            sank=sank,
            targets_hit=s["targets_hit"],
            steps=self._t,
            hit=hit,
        )
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
                    base = (
                        0.0
                        - w.step_penalty
                        + (w.finish_bonus if ch2 == "F" else 0.0)
                        - (w.sink_penalty if ch2 == "R" else 0.0)
                    )
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
        """Put the boat and buoys where observation ``obs`` says (for :func:`rlhf_lite.envs.draw_frames`); the score
        is unknown."""
        self._pos, self._mask = self.decode(obs)
        self._trail = []
        self._score_known = False

    def _hud(self) -> str:
        s = self._stats
        if not self._score_known:
            return f"race {self.cell_progress(self._pos):.0%}" if self._char(self._pos) != "R" else "sank"
        status = "  FINISHED" if s["finished"] else "  SANK" if s["sank"] else ""
        return (
            f"step {s['steps']:>2}/{self.max_steps}   points {s['written_return']:5.1f}   "
            f"race {s['progress']:4.0%}{status}"
        )

    def draw(self, boat: tuple[int, int] | None = None, up_mask: int | None = None, **style: Any) -> np.ndarray:
        """An RGB picture ``[H, W, 3]`` uint8 of this track, the boat at ``boat`` and the buoys of ``up_mask`` standing
        (``None``: all); ``style`` is ``heading``, ``trail``, ``hud``, ``cell``, as
        :func:`rlhf_lite.boat_race_drawing.draw_race` takes them (what is drawn, and how)."""
        return draw_race(self.track, self.targets, boat, up_mask, **style)


def _check_track(track: Sequence[str]) -> tuple[str, ...]:
    track = tuple(track)
    if not track or len({len(r) for r in track}) != 1:
        raise ValueError(f"track rows must all have the same length, got {[len(r) for r in track]}")
    bad = sorted({ch for row in track for ch in row} - set("#.STFR"))
    if bad:
        raise ValueError(
            f"track has unknown cell {bad[0]!r}: allowed are '#' land, '.' water, 'S' start, "
            "'F' finish, 'T' target, 'R' rocks"
        )
    n_start = sum(row.count("S") for row in track)
    if n_start != 1:
        raise ValueError(f"track must have exactly one start 'S', found {n_start}")
    if not any("F" in row for row in track):
        raise ValueError("track must have a finish line 'F'")
    n_targets = sum(row.count("T") for row in track)
    if n_targets > 8:
        raise ValueError(
            f"track has {n_targets} targets: at most 8 are allowed "
            "(the observation holds 2**targets patterns of standing buoys)"
        )
    return track


def describe_race(stats: dict[str, Any], race_length: int | None = None) -> str:
    """One sentence on what happened in an episode, from :meth:`BoatRace.episode_stats`: did the boat finish,
    sink or never get there, how many buoys it hit, what the written reward paid."""
    pts = f"{stats['written_return']:.1f} points"
    hits = f"{stats['targets_hit']} buoy{'s' if stats['targets_hit'] != 1 else ''}"
    if stats["finished"]:
        line = f" (the racing line takes {race_length})" if race_length is not None else ""
        return f"finished the race in {stats['steps']} steps{line}, hitting {hits} on the way: {pts}"
    if stats["sank"]:
        return (
            f"sank on the rocks after {stats['steps']} step{'s' if stats['steps'] != 1 else ''}, "
            f"{stats['progress']:.0%} of the way to the finish: {pts}"
        )
    return (
        f"never finished: in {stats['steps']} steps it hit {hits} and got {stats['progress']:.0%} of the way "
        f"to the finish: {pts}"
    )


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
