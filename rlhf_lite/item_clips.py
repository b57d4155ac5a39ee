"""The ``"clip"`` item kind (:mod:`rlhf_lite.items`): a :class:`~rlhf_lite.rollouts.Segment` of behaviour, stored as
its observations, actions and true rewards, and drawn on demand (:mod:`rlhf_lite.clip_drawing`).

Every label file written before item kinds existed holds clips whose payloads have no ``"item"`` field: they are
read as clips, unchanged.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Hashable
from typing import Any

import numpy as np

from rlhf_lite.items import ItemKind, PairView, register
from rlhf_lite.rollouts import Segment

__all__ = ["ClipKind", "segment_payload", "segment_from_payload", "NUMBER_DTYPES"]

NUMBER_DTYPES = (
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "float32",
    "float64",
)
"""The dtypes a stored clip's arrays may have."""


def segment_payload(segment: Segment) -> dict[str, Any]:
    """A JSON-ready copy of a segment: its kind, uid, where it came from, observations, actions and true rewards.

    Frames are not stored (they are large); :func:`rlhf_lite.envs.draw_frames` redraws them from the
    observations. dtypes are kept so that :func:`segment_from_payload` gives back identical arrays.
    """
    obs = np.asarray(segment.observations)
    act = np.asarray(segment.actions)
    rew = np.asarray(segment.true_rewards, dtype=np.float64)
    for what, arr in (("observations", obs), ("actions", act), ("true_rewards", rew)):
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"segment {segment.uid!r}: {what} must be numbers, got dtype {arr.dtype}")
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            raise ValueError(f"segment {segment.uid!r}: {what} contain NaN or infinity; expected finite numbers")
    return {
        "item": "clip",
        "uid": str(segment.uid),
        "episode": int(segment.episode),
        "start": int(segment.start),
        "obs_dtype": obs.dtype.name,
        "act_dtype": act.dtype.name,
        "observations": obs.tolist(),
        "actions": act.tolist(),
        "true_rewards": rew.tolist(),
    }


def segment_from_payload(payload: dict[str, Any]) -> Segment:
    """Rebuild a :class:`Segment` (without frames) from :func:`segment_payload`'s dict."""
    return Segment(
        observations=np.asarray(payload["observations"], dtype=payload.get("obs_dtype") or None),
        actions=np.asarray(payload["actions"], dtype=payload.get("act_dtype") or None),
        true_rewards=np.asarray(payload["true_rewards"], dtype=np.float64),
        frames=None,
        uid=str(payload.get("uid", "")),
        episode=int(payload.get("episode", -1)),
        start=int(payload.get("start", 0)),
    )


class ClipKind(ItemKind):
    """Clips of behaviour (:class:`~rlhf_lite.rollouts.Segment`): two clips of the same length and spaces."""

    name = "clip"
    types = (Segment,)
    noun = "clip"
    plural = "clips"
    question = "Which clip shows the better behaviour?"
    instruction = "Watch both clips, then click."

    def payload(self, item: Segment) -> dict[str, Any]:
        return segment_payload(item)

    def from_payload(self, payload: dict[str, Any]) -> Segment:
        return segment_from_payload(payload)

    def check_payload(self, side: str, payload: dict[str, Any]) -> None:
        missing = [k for k in ("observations", "actions", "true_rewards") if k not in payload]
        if missing:
            raise ValueError(f"{side} segment is missing {', '.join(missing)}")
        for k in ("observations", "actions", "true_rewards"):
            if not isinstance(payload[k], list):
                raise ValueError(f"{side}.{k} must be a list, got {type(payload[k]).__name__}")
        n = len(payload["true_rewards"])
        if len(payload["observations"]) != n or len(payload["actions"]) != n or n == 0:
            raise ValueError(
                f"{side} segment is inconsistent: {len(payload['observations'])} observations, "
                f"{len(payload['actions'])} actions, {n} rewards; expected the same number (at least 1) of each"
            )

    def check_payloads(self, left: dict[str, Any], right: dict[str, Any]) -> None:
        n_left, n_right = len(left["true_rewards"]), len(right["true_rewards"])
        if n_left != n_right:
            raise ValueError(
                f"segments of unequal length: left {left.get('uid')!r} has {n_left} steps, right "
                f"{right.get('uid')!r} has {n_right}; expected the same length"
            )

    def check_pair(self, left: Segment, right: Segment) -> None:
        """Both must have the same number of steps and the same observation/action shapes: the Bradley-Terry
        model compares *summed* rewards, so a longer clip would win just for being longer."""
        for side, seg in (("left", left), ("right", right)):
            n = len(seg.true_rewards)
            if len(seg.observations) != n or len(seg.actions) != n:
                raise ValueError(
                    f"{side} segment {seg.uid!r} is inconsistent: {len(seg.observations)} observations, "
                    f"{len(seg.actions)} actions, {n} rewards; expected the same number of each"
                )
            if n == 0:
                raise ValueError(f"{side} segment {seg.uid!r} is empty: expected at least one step")
        if len(left) != len(right):
            raise ValueError(
                f"segments of unequal length: left {left.uid!r} has {len(left)} steps, right {right.uid!r} has "
                f"{len(right)}; expected the same length (summed rewards of different lengths are not comparable)"
            )
        lo, ro = np.shape(left.observations)[1:], np.shape(right.observations)[1:]
        la, ra = np.shape(left.actions)[1:], np.shape(right.actions)[1:]
        if lo != ro or la != ra:
            raise ValueError(
                f"segments from different spaces: left {left.uid!r} has observation shape {lo} and action shape "
                f"{la}, right {right.uid!r} has {ro} and {ra}; expected the same"
            )

    def check_stored(
        self, left: dict[str, Any], right: dict[str, Any], env_id: str | None, env_note: str, earlier: Any
    ) -> Hashable:
        """Numbers of a known dtype, finite, one observation width per step in the record and the file, and the
        width of the file's environment. Returns the observation shape per step."""
        shapes = {}
        for side, payload in (("left", left), ("right", right)):
            shapes[side] = _checked_array(payload, "observations", "obs_dtype", side).shape[1:]
            _checked_array(payload, "actions", "act_dtype", side)
            _checked_array(payload, "true_rewards", None, side)
        if shapes["left"] != shapes["right"]:
            raise ValueError(
                f"left observations have shape {shapes['left']} per step, right ones {shapes['right']}: "
                "expected the same (clips of one environment)"
            )
        shape = shapes["left"]
        if earlier is not None and shape != earlier[0]:
            raise ValueError(
                f"observations have shape {shape} per step, but the label on line {earlier[1]} has "
                f"{earlier[0]}: one label file holds one observation width"
            )
        allowed = _env_observation_shapes(env_id) if env_id else None
        if allowed is not None and shape not in allowed:
            raise ValueError(
                f"observations have shape {shape} per step, but {env_id} ({env_note}) has "
                f"{' or '.join(map(str, allowed))}: is this file from another task?"
            )
        return shape

    def same(self, item: Segment, payload: dict[str, Any]) -> bool:
        obs = np.asarray(payload["observations"], dtype=np.float64)
        act = np.asarray(payload["actions"], dtype=np.float64)
        seg_obs = np.asarray(item.observations, dtype=np.float64)
        seg_act = np.asarray(item.actions, dtype=np.float64)
        return (
            obs.shape == seg_obs.shape
            and act.shape == seg_act.shape
            and bool(np.allclose(obs, seg_obs, rtol=1e-5, atol=1e-6))
            and bool(np.allclose(act, seg_act, rtol=1e-5, atol=1e-6))
        )

    def describe(self, item: Segment) -> str:
        return f"true return {item.true_return:.1f}"

    def render(self, item: Segment, *, env_id: str | None = None, height: int = 240, fps: float | None = None) -> bytes:
        from rlhf_lite.clip_drawing import segment_gif

        return segment_gif(item, env_id, fps=fps, height=height)

    def pair_view(self, *, height: int = 240) -> PairView:
        return _ClipPairView(height)

    def single_view(self, item: Segment, drawn: bytes, *, height: int = 240) -> Any:
        import ipywidgets as w

        return w.Image(value=drawn, format="gif", layout=w.Layout(width="auto", height=f"{height}px"))

    def legend(self, env_id: str | None) -> str | None:
        from rlhf_lite.clip_drawing import clip_legend

        return clip_legend(env_id)


_BLANK_GIFS: dict[tuple[int, int], bytes] = {}


def _blank_gif(width: int, height: int) -> bytes:
    """A plain light-grey GIF of ``width`` x ``height`` pixels: the clips' place while no pair is on screen."""
    key = (int(width), int(height))
    if key not in _BLANK_GIFS:
        import io

        from PIL import Image

        buf = io.BytesIO()
        Image.new("RGB", key, (242, 242, 242)).save(buf, format="GIF")
        _BLANK_GIFS[key] = buf.getvalue()
    return _BLANK_GIFS[key]


class _ClipPairView(PairView):
    """Two clips side by side (``<img>`` elements holding animated GIFs, DOM classes ``rlhf-clip-left/right``);
    blank frames of the last clips' size (class ``rlhf-clip-empty``) while no pair is on screen."""

    def __init__(self, height: int) -> None:
        import ipywidgets as w

        self.height = int(height)
        self.left = w.Image(format="gif", layout=w.Layout(width="auto", height=f"{self.height}px"))
        self.right = w.Image(format="gif", layout=w.Layout(width="auto", height=f"{self.height}px"))
        self.left.add_class("rlhf-clip-left")
        self.right.add_class("rlhf-clip-right")
        caption = "<div style='text-align:center;font-weight:bold'>{}</div>"

        def boxed() -> Any:
            return w.Layout(border="1px solid #bbb", padding="4px", margin="0 12px 6px 0", align_items="center")

        self.widget = w.HBox(
            [
                w.VBox([w.HTML(caption.format("left")), self.left], layout=boxed()),
                w.VBox([w.HTML(caption.format("right")), self.right], layout=boxed()),
            ]
        )
        self._blank_shown = False
        self._size: tuple[int, int] | None = None  # (width, height) of the last clips shown

    def show(self, left: Segment, right: Segment, drawn: tuple[bytes, bytes]) -> None:
        self.left.value, self.right.value = drawn
        if self._blank_shown:
            for clip in (self.left, self.right):
                clip.remove_class("rlhf-clip-empty")
            self._blank_shown = False
        try:
            import io

            from PIL import Image

            self._size = Image.open(io.BytesIO(drawn[0])).size
        except Exception:  # only the size of the blank placeholder depends on it
            pass

    def blank(self) -> None:
        if self._blank_shown:
            return
        width, height = self._size or (self.height, self.height)
        self.left.value = self.right.value = _blank_gif(width, height)
        for clip in (self.left, self.right):
            clip.add_class("rlhf-clip-empty")
        self._blank_shown = True


def _checked_array(payload: dict[str, Any], key: str, dtype_key: str | None, side: str) -> np.ndarray:
    """``payload[key]`` as an array of its recorded dtype; ``ValueError`` saying what is wrong and allowed."""
    dtype = payload.get(dtype_key) if dtype_key else "float64"
    if dtype in (None, ""):
        dtype = None
    elif not isinstance(dtype, str) or dtype not in NUMBER_DTYPES:
        raise ValueError(
            f"{side}.{dtype_key}={dtype!r} is not a known dtype: expected one of {', '.join(NUMBER_DTYPES)}"
        )
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")  # a float32 overflow becomes inf, refused just below
            arr = np.asarray(payload[key], dtype=dtype)
    except (ValueError, TypeError, OverflowError):
        raise ValueError(
            f"{side}.{key} is not a regular array of numbers (steps of different lengths, or not numbers): "
            "expected the same number of numbers at every step"
        ) from None
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{side}.{key} holds {arr.dtype} values: expected numbers")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise ValueError(f"{side}.{key} contain NaN or infinity: expected finite numbers")
    return arr


@functools.cache
def _env_observation_shapes(env_id: str) -> tuple[tuple[int, ...], ...] | None:
    """Per-step observation shapes a label file of ``env_id`` may hold, from the environment's own observation
    space: its shape, and one more number for a flat Box when episodes can end early (the end flag that
    ``envs.make_env(mark_end=True)`` appends). ``None`` (no check) for unknown envs and non-Box spaces."""
    from gymnasium import spaces

    from rlhf_lite import envs

    try:
        env = envs.make_env(env_id)
    except Exception:  # not registered or missing its extras here: nothing to check against
        return None
    try:
        space = env.observation_space
    finally:
        env.close()
    if not isinstance(space, spaces.Box):
        return None
    shapes = [tuple(space.shape)]
    if len(space.shape) == 1 and envs.can_end_early(env_id):
        shapes.append((space.shape[0] + 1,))
    return tuple(shapes)


register(ClipKind())
