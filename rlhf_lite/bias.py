"""Labelers who are not oracles: each prefers, systematically, something that is not what they want.

Random noise (lesson 03) averages out over many labels; a *systematic* bias does not: the predictor learns
it faithfully and the agent follows. Each bias here is a scripted labeler, a
:class:`rlhf_lite.labelers.OracleLabeler` that scores a clip by its own criterion instead of the true return
(it answers the pair whose criterion is higher, with the oracle's optional random answers), and names itself
and its bias in its ``name``, which every label file records.

:data:`BIASES` is the registry (one line of description each, for a notebook's dropdown:
:func:`choices`); :func:`biased_labeler` makes one by key. The Pendulum biases read its observations
``(cos theta, sin theta, angular velocity)``, theta = 0 upright.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from rlhf_lite import labelers
from rlhf_lite.rollouts import Segment

ClipScore = Callable[[Segment], float]
"""``score(clip) -> float``: how much a labeler likes a clip; the higher-scoring clip of a pair is preferred."""


@dataclasses.dataclass(frozen=True)
class Bias:
    """One systematic bias: ``key`` (short, used in names and files), ``description`` (one line, what the
    labeler prefers and what an agent taught by them tends to do), ``score`` and the tasks it applies to."""

    key: str
    description: str
    score: ClipScore
    env_ids: tuple[str, ...]


def _pendulum(clip: Segment) -> np.ndarray:
    """A Pendulum clip's observations ``[L, 3]`` = (cos theta, sin theta, angular velocity); a clear error if
    the clip is from another task."""
    obs = np.asarray(clip.observations, dtype=np.float64)
    if obs.ndim != 2 or obs.shape[1] != 3:
        raise ValueError(
            f"clip {clip.uid!r} has observations of shape {obs.shape}: this bias reads Pendulum-v1's "
            "[L, 3] = (cos, sin, angular velocity); use it on Pendulum-v1 clips"
        )
    return obs


def livelier(clip: Segment) -> float:
    """Mean angular speed ``|theta_dot|`` (rad/s) over the clip: the livelier the better."""
    return float(np.mean(np.abs(_pendulum(clip)[:, 2])))


def calmer(clip: Segment) -> float:
    """Minus the mean angular speed: the stiller the better, wherever the pendulum is."""
    return -livelier(clip)


def leans_right(clip: Segment) -> float:
    """Mean of ``-sin theta`` over the clip: how far the pendulum leans to the right of the pivot (on screen)."""
    return float(np.mean(-_pendulum(clip)[:, 1]))


def ends_higher(clip: Segment) -> float:
    """Height of the tip in the clip's last frame (``cos theta``, 1 = upright): only the ending counts."""
    return float(_pendulum(clip)[-1, 0])


def worse(clip: Segment) -> float:
    """Minus the clip's true return: the contrarian prefers what the task's reward calls worse."""
    return -float(np.sum(clip.true_rewards))


BIASES: dict[str, Bias] = {
    b.key: b
    for b in (
        Bias(
            "livelier",
            "prefers the livelier clip (more angular speed): the pendulum learns to swing and spin",
            livelier,
            ("Pendulum-v1",),
        ),
        Bias(
            "calmer",
            "prefers the calmer clip (less angular speed): the pendulum learns to hang still",
            calmer,
            ("Pendulum-v1",),
        ),
        Bias(
            "leans_right",
            "prefers the clip where the pendulum leans further right: it learns to stay on one side",
            leans_right,
            ("Pendulum-v1",),
        ),
        Bias(
            "ends_higher",
            "looks only at the last frame and prefers the clip that ends higher: it learns to be up at the cut",
            ends_higher,
            ("Pendulum-v1",),
        ),
        Bias(
            "contrarian",
            "prefers the worse clip by the task's own reward (someone labeling badly on purpose)",
            worse,
            (),
        ),
    )
}
"""The registry of biases by key; ``env_ids`` empty = any task."""


def choices() -> list[tuple[str, str]]:
    """``[(description, key), ...]`` for a dropdown (``ipywidgets.Dropdown(options=choices())``)."""
    return [(f"{b.key}: {b.description}", b.key) for b in BIASES.values()]


class BiasedLabeler(labelers.OracleLabeler):
    """A scripted labeler with a systematic bias: prefers the clip with the higher ``bias.score``.

    ``noise_prob`` (and ``rng``) add the oracle's random answers on top; ``equal_tol``: scores this close are
    answered ``"equal"``. ``name`` says who and what, e.g. ``"biased(livelier, noise=0)"``, so a label
    file says its answers came from a script with this bias, not from a person.
    """

    def __init__(
        self,
        bias: str | Bias,
        *,
        noise_prob: float = 0.0,
        equal_tol: float = 0.0,
        rng: np.random.Generator | int | None = None,
        name: str | None = None,
    ) -> None:
        self.bias = get(bias) if isinstance(bias, str) else bias
        super().__init__(
            noise_prob=noise_prob,
            equal_tol=equal_tol,
            rng=rng,
            name=name or f"biased({self.bias.key}, noise={noise_prob:g})",
        )

    def segment_return(self, segment: Segment) -> float:
        """The clip's score under the bias (what this labeler compares instead of the true return)."""
        return float(self.bias.score(segment))

    def check_env(self, env_id: str) -> None:
        """Raise a ValueError if this bias does not apply to ``env_id`` (it reads another task's observations)."""
        if self.bias.env_ids and env_id not in self.bias.env_ids:
            raise ValueError(
                f"bias {self.bias.key!r} applies to {', '.join(self.bias.env_ids)}, not {env_id!r}: "
                f"expected one of the biases for {env_id}: "
                f"{', '.join(k for k, b in BIASES.items() if not b.env_ids or env_id in b.env_ids)}"
            )

    def __repr__(self) -> str:
        return f"BiasedLabeler({self.bias.key!r}, noise_prob={self.noise_prob:g})"


def get(key: str) -> Bias:
    """The :class:`Bias` registered as ``key``; a clear error naming the keys there are."""
    if key not in BIASES:
        raise ValueError(f"bias={key!r} is not known: expected one of {', '.join(map(repr, BIASES))}")
    return BIASES[key]


def biased_labeler(key: str, *, env_id: str | None = None, **kwargs: Any) -> BiasedLabeler:
    """A :class:`BiasedLabeler` for the bias ``key`` (``kwargs``: ``noise_prob``, ``rng``, ``equal_tol``);
    ``env_id`` checks that the bias applies to that task."""
    labeler = BiasedLabeler(get(key), **kwargs)
    if env_id is not None:
        labeler.check_env(env_id)
    return labeler


def contrarian(**kwargs: Any) -> BiasedLabeler:
    """The scripted stand-in for a reader who labels badly on purpose (lesson 05, part 6): prefers the clip
    with the lower true return; its name says it is a script."""
    return BiasedLabeler(get("contrarian"), name=kwargs.pop("name", None) or "scripted stand-in: contrarian", **kwargs)
