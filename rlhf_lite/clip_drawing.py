"""Clips of behaviour as a person sees them: the pictures of a segment, cropped and scaled, as an animated GIF.

Used by the labeling widget (:mod:`rlhf_lite.widgets`) and by the lessons that show clips beside a plot;
:mod:`rlhf_lite.plotting` encodes the GIFs. A segment that carries no pictures is re-drawn from its observations
(:func:`rlhf_lite.envs.draw_frames`), so label files and rollouts need to store no images.
"""

from __future__ import annotations

import numpy as np

from rlhf_lite.rollouts import Segment

_FPS_CACHE: dict[str, float] = {}


def clip_fps(env_id: str) -> float:
    """Frames per second that play a clip of ``env_id`` in real time (1 / the env's time step), else 20."""
    if env_id not in _FPS_CACHE:
        fps = 20.0
        try:
            import gymnasium as gym

            env = gym.make(env_id)
            base = env.unwrapped
            dt = getattr(base, "dt", None) or getattr(base, "tau", None)
            if isinstance(dt, (int, float)) and dt > 0:
                fps = 1.0 / float(dt)
            elif env.metadata.get("render_fps"):
                fps = float(env.metadata["render_fps"])
            env.close()
        except Exception:  # an unknown id is reported by draw_frames with a clear message
            pass
        _FPS_CACHE[env_id] = fps
    return _FPS_CACHE[env_id]


CLIP_CROP: dict[str, float] = {"Pendulum": 0.6}
"""Share of the frame (around its centre) that clips of a task keep by default: Pendulum's renderer leaves most
of the picture empty, so its clips zoom in on the pole."""


def default_crop(env_id: str | None) -> float:
    """The default ``crop`` of :func:`segment_gif` for ``env_id`` (1.0: the whole frame)."""
    name = (env_id or "").split("/")[-1].split("-")[0]
    return CLIP_CROP.get(name, 1.0)


CLIP_HEIGHT = 240
"""Default height of a clip in pixels: large enough to judge a pendulum's angle and its torque arrow by eye."""

CLIP_LEGEND: dict[str, str] = {
    "Pendulum": (
        "The curved arrow around the pivot is the motor: it points the way the motor pushes the pole "
        "(clockwise or counter-clockwise), and the bigger the arrow, the harder the push. "
        "No arrow: no push."
    ),
}
"""What the marks in a task's clips mean, in plain words (shown next to the clips)."""


def clip_legend(env_id: str | None) -> str | None:
    """A sentence explaining what the clips of ``env_id`` show beyond the body itself (None: nothing to explain)."""
    name = (env_id or "").split("/")[-1].split("-")[0]
    return CLIP_LEGEND.get(name)


def segment_frames(
    segment: Segment, env_id: str | None, *, height: int = CLIP_HEIGHT, crop: float | None = None
) -> np.ndarray:
    """The pictures ``[L, H, W, 3]`` uint8 of a clip: its stored ``frames``, or frames re-drawn from its observations.

    Re-drawing (``envs.draw_frames``) lets label files and rollouts carry no pictures at all. ``crop`` keeps
    that share of each frame around its centre (default :func:`default_crop`); frames are about ``height``
    pixels high (exactly, when re-drawn).
    """
    from rlhf_lite import envs

    crop = default_crop(env_id) if crop is None else float(crop)
    if not 0.0 < crop <= 1.0:
        raise ValueError(f"crop={crop!r} is out of range: expected a number in (0, 1]")
    frames = segment.frames
    if frames is None:
        if env_id is None:
            raise ValueError(f"segment {segment.uid!r} has no frames and env_id=None: pass env_id to re-draw it")
        frames = envs.draw_frames(env_id, segment.observations, segment.actions, size=int(round(height / crop)))
    frames = np.asarray(frames)
    if crop < 1.0:
        h, w = frames.shape[1:3]
        ch, cw = max(1, int(round(h * crop))), max(1, int(round(w * crop)))
        top, left = (h - ch) // 2, (w - cw) // 2
        frames = frames[:, top : top + ch, left : left + cw]
    return frames


def segment_gif(
    segment: Segment,
    env_id: str | None,
    *,
    fps: float | None = None,
    height: int = CLIP_HEIGHT,
    crop: float | None = None,
) -> bytes:
    """An animated GIF of one segment (:func:`segment_frames`), ``height`` pixels high, playing in real time."""
    from rlhf_lite import plotting

    frames = segment_frames(segment, env_id, height=height, crop=crop)
    fps = fps if fps is not None else (clip_fps(env_id) if env_id else 20.0)
    return plotting.gif_bytes(frames, fps, height=height)
