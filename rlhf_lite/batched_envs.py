"""Pendulum stepped in numpy: many copies at once, the same numbers as gymnasium, a fraction of the time.

:func:`rlhf_lite.envs.make_vec_env` steps ``N`` gymnasium environments one by one, each through several
wrappers. For a task as small as Pendulum that Python overhead is most of the cost (about a quarter of an
RLHF run on Pendulum goes to it). :class:`PendulumVecEnv` keeps the ``N`` states in arrays and steps them all
with a handful of numpy calls. It is a drop-in replacement for
``make_vec_env("Pendulum-v1", N, seed, horizon=H)``: same spaces, same same-step autoreset and info keys,
same random start states from the same seeds, and the same dynamics, written as gymnasium writes them.
Observations and rewards come out bit for bit equal to gymnasium's wherever numpy's array math rounds as its
scalar math does (it did where this was written and tested); elsewhere they may differ in the last bits.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.envs.classic_control import utils as classic_utils
from gymnasium.utils import seeding
from gymnasium.vector.utils import batch_space

__all__ = ["PendulumVecEnv"]

_DEFAULT_HIGH = np.array([np.pi, 1.0])  # start state: angle in [-pi, pi], angular velocity in [-1, 1]


def _angle_normalize(x: np.ndarray) -> np.ndarray:
    """Angles mapped into ``[-pi, pi)``, exactly as gymnasium's ``angle_normalize``."""
    return ((x + np.pi) % (2 * np.pi)) - np.pi


def _is_whole(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


class PendulumVecEnv(gym.vector.VectorEnv):
    """``num_envs`` copies of ``Pendulum-v1`` with a fixed ``horizon``, stepped together in numpy.

    Behaves like ``rlhf_lite.envs.make_vec_env("Pendulum-v1", num_envs, seed, horizon=horizon)`` (a
    ``SyncVectorEnv`` over :class:`rlhf_lite.envs.FixedHorizon` Pendulums, same-step autoreset) and gives the
    same numbers, only faster, since there is no Python loop over environments per step:

    * ``reset(seed=[s0, s1, ...])`` (or an int ``s``, meaning ``s + i`` for env ``i``) seeds each env's own
      generator as gymnasium does; later resets draw from the same streams. Observations ``[N, 3]`` float32
      ``(cos th, sin th, thdot)``.
    * ``step(actions)`` takes torques ``[N, 1]`` or ``[N]`` (clipped to ``[-2, 2]``) and returns observations
      ``[N, 3]`` float32, rewards ``[N]`` float64, terminated and truncated ``[N]`` bool, and an info dict.
    * Episodes never terminate; each is truncated on its ``horizon``-th step, and that step already returns
      the next episode's first observation, with the real last one in ``info["final_obs"][i]``.

    ``g`` is gravity, as in gymnasium's ``PendulumEnv(g=...)``. Rendering is not offered: draw stored
    observations with :func:`rlhf_lite.envs.draw_frames`.
    """

    metadata: dict[str, Any] = {"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP, "render_modes": []}

    # gymnasium's PendulumEnv constants
    max_speed = 8
    max_torque = 2.0
    dt = 0.05
    m = 1.0
    l = 1.0  # noqa: E741 (gymnasium's name for the rod length)

    def __init__(self, num_envs: int, horizon: int = 200, *, g: float = 10.0) -> None:
        if not _is_whole(num_envs) or num_envs < 1:
            raise ValueError(f"num_envs={num_envs!r} is out of range: expected a whole number >= 1")
        if not _is_whole(horizon) or horizon < 1:
            raise ValueError(f"horizon={horizon!r} is out of range: expected a whole number >= 1")
        if (not isinstance(g, numbers.Real) or isinstance(g, (bool, np.bool_))) or not math.isfinite(g):
            raise ValueError(f"g={g!r} is not allowed: expected a finite number (gravity; gymnasium's default is 10.0)")
        self.num_envs = int(num_envs)
        self.horizon = int(horizon)
        self.g = float(g)
        self.metadata = dict(type(self).metadata)
        self.autoreset_mode = gym.vector.AutoresetMode.SAME_STEP
        self.render_mode = None

        high = np.array([1.0, 1.0, self.max_speed], dtype=np.float32)
        self.single_observation_space = spaces.Box(low=-high, high=high, dtype=np.float32)
        self.single_action_space = spaces.Box(low=-self.max_torque, high=self.max_torque, shape=(1,), dtype=np.float32)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)

        n = self.num_envs
        self._th = np.zeros(n)  # angle, float64 as in gymnasium
        self._thdot = np.zeros(n)  # angular velocity
        self._t = np.zeros(n, np.int64)  # steps taken in the current episode
        self._ready = np.zeros(n, bool)  # reset at least once
        self._rngs: list[np.random.Generator | None] = [None] * n
        self._seeds: list[int | None] = [None] * n
        self._twos: dict[np.dtype, np.ndarray] = {}  # exponent arrays for _square, one per dtype

    # -- random streams, one per env, like each gymnasium env's np_random --------------------------------------
    def _rng(self, i: int) -> np.random.Generator:
        if self._rngs[i] is None:
            self._rngs[i], self._seeds[i] = seeding.np_random()
        return self._rngs[i]

    @property
    def np_random(self) -> tuple[np.random.Generator, ...]:
        """Each env's generator (made from fresh entropy if it has none yet), like ``SyncVectorEnv.np_random``."""
        return tuple(self._rng(i) for i in range(self.num_envs))

    @property
    def np_random_seed(self) -> tuple[int, ...]:
        """Each env's seed, like ``SyncVectorEnv.np_random_seed``."""
        _ = self.np_random
        return tuple(self._seeds)

    # -- gymnasium API -------------------------------------------------------------------------------------------
    def reset(
        self,
        *,
        seed: int | Sequence[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start new episodes; returns observations ``[N, 3]`` float32 and info ``{"absorbing", "_absorbing"}``.

        ``seed``: None (continue each env's stream), an int ``s`` (env ``i`` gets ``s + i``) or one seed or None
        per env. ``options`` as gymnasium's: ``x_init``/``y_init`` bound the start angle/velocity, and
        ``reset_mask`` (bool ``[N]``) resets only those envs.
        """
        n = self.num_envs
        seeds = self._seed_list(seed)
        options = dict(options or {})
        mask = np.ones(n, bool)
        if "reset_mask" in options:
            mask = options.pop("reset_mask")
            if not isinstance(mask, np.ndarray):
                raise TypeError(f"options['reset_mask'] must be a numpy array, got {type(mask).__name__}")
            if mask.shape != (n,):
                raise ValueError(f"options['reset_mask'] has shape {mask.shape}: expected ({n},)")
            if mask.dtype != np.bool_:
                raise TypeError(f"options['reset_mask'] must have dtype bool, got {mask.dtype}")
            if not mask.any():
                raise ValueError("options['reset_mask'] is all False: expected at least one env to reset")
        high = np.array(
            [
                classic_utils.verify_number_and_cast(options.get("x_init", _DEFAULT_HIGH[0])),
                classic_utils.verify_number_and_cast(options.get("y_init", _DEFAULT_HIGH[1])),
            ]
        )
        idx = np.flatnonzero(mask)
        for i in idx:
            if seeds[i] is not None:
                self._rngs[i], self._seeds[i] = seeding.np_random(seeds[i])
        self._start(idx, high)
        self._ready[idx] = True
        return self._obs(), {"absorbing": np.zeros(n, bool), "_absorbing": mask.copy()}

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """One step of every env with torques ``actions`` ``[N, 1]`` or ``[N]``.

        Returns ``(obs [N, 3] float32, rewards [N] float64, terminated [N] bool (never True),
        truncated [N] bool, info)``. Where an episode ended, ``obs[i]`` already starts the next one, and info
        holds ``final_obs`` (object array ``[N]``, the real last observation or None), ``final_info`` and their
        ``_`` masks, as ``SyncVectorEnv`` in same-step mode.
        """
        n = self.num_envs
        if not self._ready.all():
            raise gym.error.ResetNeeded("PendulumVecEnv.step() was called before reset(): call reset() first")
        a = np.asarray(actions)
        if a.shape == (n,):
            a = a[:, None]
        if a.shape != (n, 1):
            raise ValueError(f"actions has shape {a.shape}: expected ({n}, 1) or ({n},), one torque per environment")
        if a.dtype.kind not in "iuf":
            raise ValueError(f"actions has dtype {a.dtype}: expected numbers (torques in [-2, 2])")

        # gymnasium's PendulumEnv.step, term for term, on arrays (the action keeps its dtype, as there)
        th, thdot = self._th, self._thdot
        g, m, l, dt = self.g, self.m, self.l, self.dt  # noqa: E741 (gymnasium's names)
        # np.clip spelled as minimum(maximum(...)): the same values (NaN included), about twice as fast on small arrays
        u = np.minimum(np.maximum(a[:, 0], -self.max_torque), self.max_torque)
        sq = self._square
        costs = sq(_angle_normalize(th)) + 0.1 * sq(thdot) + 0.001 * sq(u)
        newthdot = thdot + (3 * g / (2 * l) * np.sin(th) + 3.0 / (m * l**2) * u) * dt
        newthdot = np.minimum(np.maximum(newthdot, -self.max_speed), self.max_speed)
        newth = th + newthdot * dt
        # float64 already (as gymnasium's state), unless the actions had a wider dtype
        self._th, self._thdot = np.asarray(newth, np.float64), np.asarray(newthdot, np.float64)

        rewards = np.asarray(-costs, np.float64)
        self._t += 1
        truncated = self._t >= self.horizon
        terminated = np.zeros(n, bool)
        obs = self._obs()
        info: dict[str, Any] = {}
        if truncated.any():
            ended = np.flatnonzero(truncated)
            final_obs = np.full(n, None, dtype=object)
            for i in ended:
                final_obs[i] = obs[i].copy()
            self._start(ended, _DEFAULT_HIGH)
            obs[ended] = self._obs(ended)
            info["final_obs"], info["_final_obs"] = final_obs, truncated.copy()
            info["final_info"] = {"absorbing": np.zeros(n, bool), "_absorbing": truncated.copy()}
            info["_final_info"] = truncated.copy()
        info["absorbing"], info["_absorbing"] = np.zeros(n, bool), np.ones(n, bool)
        return obs, rewards, terminated, truncated, info

    def __repr__(self) -> str:
        return f"{type(self).__name__}(num_envs={self.num_envs}, horizon={self.horizon}, g={self.g})"

    # -- helpers -------------------------------------------------------------------------------------------------
    def _seed_list(self, seed: Any) -> list[int | None]:
        n = self.num_envs
        if seed is None:
            return [None] * n
        if _is_whole(seed):
            seeds: list[Any] = [int(seed) + i for i in range(n)]
        elif isinstance(seed, (str, bytes)) or not isinstance(seed, (Sequence, np.ndarray)):
            raise ValueError(
                f"seed={seed!r} is not allowed: expected None, a whole number >= 0, or a list of {n} of them"
            )
        else:
            seeds = list(seed)
        if len(seeds) != n:
            raise ValueError(f"seed has {len(seeds)} entries: expected num_envs={n}, one seed (or None) per env")
        for s in seeds:
            if s is not None and (not _is_whole(s) or s < 0):
                raise ValueError(f"seed={s!r} is not allowed: expected None or a whole number >= 0")
        return [None if s is None else int(s) for s in seeds]

    def _square(self, x: np.ndarray) -> np.ndarray:
        """``x ** 2`` rounded as gymnasium's scalar ``x ** 2`` is.

        On a numpy scalar, ``** 2`` calls the C library's ``pow``/``powf``, which is sometimes one unit in the
        last place away from ``x * x``; on an array, ``** 2`` is ``x * x``. ``np.power`` with an array exponent
        runs the ``pow`` loop, so rewards come out bit for bit as gymnasium's (where numpy's loop uses libm).
        """
        twos = self._twos.get(x.dtype)
        if twos is None:
            twos = self._twos[x.dtype] = np.full(self.num_envs, 2, dtype=x.dtype)
        return np.power(x, twos)

    def _start(self, idx: np.ndarray, high: np.ndarray) -> None:
        """New episodes for envs ``idx``: a start state from each env's own generator, as PendulumEnv.reset."""
        for i in idx:
            self._th[i], self._thdot[i] = self._rng(i).uniform(low=-high, high=high)
        self._t[idx] = 0

    def _obs(self, idx: np.ndarray | slice = slice(None)) -> np.ndarray:
        th, thdot = self._th[idx], self._thdot[idx]
        obs = np.empty((len(th), 3), np.float32)
        obs[:, 0], obs[:, 1], obs[:, 2] = np.cos(th), np.sin(th), thdot
        return obs
