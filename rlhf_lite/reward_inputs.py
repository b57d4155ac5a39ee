"""What a reward model reads: segments (anything with ``observations`` and ``actions``) and the calling forms
of ``RewardEnsemble.fit``, turned into arrays, and a space's batches turned into float features."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from rlhf_lite.bradley_terry import targets_from_answers


class _Encoder:
    """Turns a batch from one space into float features ``[B, d]``: Box scaled, Discrete one-hot."""

    def __init__(self, space: gym.Space, name: str):
        self.name = name
        self.space = space
        if isinstance(space, spaces.Discrete):
            self.kind, self.dim = "discrete", int(space.n)
            self.shape: tuple[int, ...] = ()
            self.needs_data = False
        elif isinstance(space, spaces.Box):
            self.kind, self.shape = "box", tuple(space.shape)
            self.dim = int(np.prod(self.shape)) if self.shape else 1
            low = np.asarray(space.low, dtype=np.float64).reshape(-1)
            high = np.asarray(space.high, dtype=np.float64).reshape(-1)
            bounded = np.isfinite(low) & np.isfinite(high) & (high - low < 1e6)
            with np.errstate(invalid="ignore", over="ignore"):
                self.center = np.where(bounded, (low + high) / 2, 0.0)
                self.scale = np.where(bounded, np.maximum((high - low) / 2, 1e-8), 1.0)
            self.unbounded = ~bounded
            self.needs_data = bool(self.unbounded.any())
        else:
            raise ValueError(f"{name}={space} is not supported: expected gymnasium.spaces.Box or Discrete")

    def fit(self, data: np.ndarray) -> None:
        if self.kind == "discrete":
            return
        x = np.asarray(data, dtype=np.float64).reshape(len(data), -1)
        self.center = np.where(self.unbounded, x.mean(0), self.center)
        self.scale = np.where(self.unbounded, np.maximum(x.std(0), 1e-6), self.scale)
        self.needs_data = False

    def __call__(self, data: np.ndarray, what: str) -> torch.Tensor:
        x = np.asarray(data)
        if self.kind == "discrete":
            if x.ndim != 1:
                raise ValueError(f"{what} have shape {x.shape}: expected [B] integers for {self.name}={self.space}")
            idx = x.astype(np.int64) - int(self.space.start)
            if len(idx) and (idx.min() < 0 or idx.max() >= self.dim):
                raise ValueError(f"{what} hold {x.min()}..{x.max()}: expected integers in {self.name}={self.space}")
            return torch.nn.functional.one_hot(torch.from_numpy(idx), self.dim).float()
        if x.shape[1:] != self.shape:
            raise ValueError(
                f"{what} have shape {x.shape}: expected [B, {', '.join(map(str, self.shape))}] "
                f"for {self.name}={self.space}"
            )
        x = x.reshape(len(x), -1).astype(np.float64)
        return torch.from_numpy(((x - self.center) / self.scale).astype(np.float32))

    def state(self) -> dict:
        if self.kind == "discrete":
            return {}
        return {
            "center": torch.from_numpy(self.center.copy()),
            "scale": torch.from_numpy(self.scale.copy()),
            "needs_data": self.needs_data,
        }

    def load(self, state: Mapping[str, Any]) -> None:
        if self.kind == "box":
            self.center = state["center"].numpy().copy()
            self.scale = state["scale"].numpy().copy()
            self.needs_data = bool(state["needs_data"])


def _segment_arrays(seg: Any, i: int) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(seg, Mapping):
        if "observations" not in seg or "actions" not in seg:
            raise ValueError(
                f"segment #{i} is a mapping without 'observations' and 'actions' keys (keys: {sorted(seg)})"
            )
        return np.asarray(seg["observations"]), np.asarray(seg["actions"])
    if not (hasattr(seg, "observations") and hasattr(seg, "actions")):
        raise ValueError(f"segment #{i} ({type(seg).__name__}) has no .observations and .actions")
    return np.asarray(seg.observations), np.asarray(seg.actions)


def _as_pairs(left: Any, right: Any, targets: Any) -> tuple[list, list, np.ndarray]:
    """Normalise the two calling forms of :meth:`RewardEnsemble.fit` to ``(left, right, targets [P])``."""
    if right is None and targets is None:
        if callable(getattr(left, "pairs", None)):  # a LabelStore: its live labels as training pairs
            left = left.pairs()
        triples = [
            (t.segments()[0], t.segments()[1], _record_target(t)) if callable(getattr(t, "segments", None)) else t
            for t in left
        ]
        for i, t in enumerate(triples):
            if not (isinstance(t, (tuple, list)) and len(t) == 3):
                raise ValueError(
                    f"pair #{i} is {type(t).__name__}: expected (left_segment, right_segment, target_or_answer)"
                )
        left = [t[0] for t in triples]
        right = [t[1] for t in triples]
        targets = [t[2] for t in triples]
    elif right is None or targets is None:
        raise ValueError("pass either fit(pairs) with (left, right, target) triples, or fit(left, right, targets)")
    left, right = list(left), list(right)
    targets = list(targets) if not isinstance(targets, np.ndarray) else targets
    if isinstance(targets, list) and any(isinstance(t, str) for t in targets):
        y = np.array(
            [targets_from_answers([t])[0] if isinstance(t, str) else float(t) for t in targets], dtype=np.float64
        )
    else:
        y = np.asarray(targets, dtype=np.float64).reshape(-1)
    if not (len(left) == len(right) == len(y)):
        raise ValueError(f"left ({len(left)}), right ({len(right)}) and targets ({len(y)}) must have the same length")
    bad = ~np.isnan(y) & ((y < 0) | (y > 1))
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(
            f"targets[{i}]={float(y[i])!r} is not allowed: expected 1 (left better), 0 (right better), "
            "0.5 (equal) or nan (can't tell)"
        )
    return left, right, y


def _record_target(record: Any) -> float:
    """A preference record's target (``nan`` for ``cant_tell``)."""
    t = getattr(record, "target", None)
    return float("nan") if t is None else float(t)
