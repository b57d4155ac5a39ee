"""One JSON- and ``weights_only``-safe description of a gymnasium space, for every checkpoint that rebuilds a model.

Agents and reward models save their spaces with :func:`to_dict` and rebuild them with :func:`from_dict`.
``low``/``high`` are written as lists of floats; :func:`from_dict` also reads the float64 tensors that reward
model checkpoints wrote before (so old files still load).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces


def to_dict(space: gym.Space) -> dict:
    """A Box or Discrete space as plain values: ``{"type": "Box", "low": [...], "high": [...], "dtype": "float32"}``
    or ``{"type": "Discrete", "n": n, "start": start}``."""
    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, spaces.Box):
        return {"type": "Box", "low": space.low.tolist(), "high": space.high.tolist(), "dtype": str(space.dtype)}
    raise ValueError(f"space {space} is not supported: expected Box or Discrete")


def from_dict(d: Mapping[str, Any]) -> gym.Space:
    """The space :func:`to_dict` described (``low``/``high`` may be lists, arrays or tensors)."""
    kind = d.get("type") if isinstance(d, Mapping) else None
    if kind == "Discrete":
        return spaces.Discrete(int(d["n"]), start=int(d["start"]))
    if kind == "Box":
        dtype = np.dtype(d["dtype"])
        return spaces.Box(_array(d["low"], dtype), _array(d["high"], dtype), dtype=dtype)
    raise ValueError(f"space description {d!r} is not allowed: expected a dict with type 'Box' or 'Discrete'")


def _array(values: Any, dtype: np.dtype) -> np.ndarray:
    if hasattr(values, "numpy"):  # a torch tensor (reward model checkpoints before rlhf_lite.spaces)
        values = values.numpy()
    return np.asarray(values, dtype=np.float64).astype(dtype)
