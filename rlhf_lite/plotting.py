"""What the reader sees: learning curves, a curve that redraws while training, clips and frame strips.

Clips are animated GIFs made with pillow, so they play inline in JupyterLab (and in a saved notebook) with no
ffmpeg and no JavaScript. Curves are matplotlib figures with axes labelled in words. :func:`say` prints a
paragraph wrapped at word boundaries, and :func:`number` writes a number without a negative zero.
"""

from __future__ import annotations

import base64
import html
import io
import textwrap
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

# --------------------------------------------------------------------------------------------------------
# Text for the reader
# --------------------------------------------------------------------------------------------------------

TEXT_WIDTH = 100
"""Characters per printed line: JupyterLab's output area breaks longer lines anywhere, even mid-word."""


def wrap(*paragraphs: str, width: int = TEXT_WIDTH) -> str:
    """Paragraphs joined by newlines, each wrapped at word boundaries to ``width`` characters (continuation
    lines indented by two spaces; empty paragraphs are left out). Words longer than a line (paths) are kept
    whole, never cut."""
    out = []
    for text in paragraphs:
        if not str(text).strip():  # an empty paragraph (a condition that did not apply) prints nothing
            continue
        out.append(
            textwrap.fill(
                " ".join(str(text).split()),
                width,
                subsequent_indent="  ",
                break_long_words=False,
                break_on_hyphens=False,
            )
        )
    return "\n".join(out)


def say(*paragraphs: str, width: int = TEXT_WIDTH) -> None:
    """Print :func:`wrap` of ``paragraphs``: what a lesson tells the reader in a printed line."""
    print(wrap(*paragraphs, width=width))


def number(value: float, digits: int = 0) -> str:
    """``value`` with ``digits`` decimals and never a negative zero: -0.3 prints as "0", not "-0"."""
    text = f"{float(value):.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


# --------------------------------------------------------------------------------------------------------
# Learning curves
# --------------------------------------------------------------------------------------------------------


def running_mean(values: Sequence[float], window: int) -> np.ndarray:
    """Mean of the last ``window`` values at each position, shape ``[len(values)]``.

    The first points average over what exists so far, so the smoothed line starts where the data starts.
    """
    values = np.asarray(values, dtype=np.float64)
    if window < 1:
        raise ValueError(f"window={window!r} is out of range: expected a whole number >= 1")
    if len(values) == 0:
        return values
    cumsum = np.cumsum(np.insert(values, 0, 0.0))
    idx = np.arange(1, len(values) + 1)
    lo = np.maximum(idx - window, 0)
    return (cumsum[idx] - cumsum[lo]) / (idx - lo)


def learning_curve(
    x: Sequence[float],
    returns: Sequence[float],
    *,
    ax: Any = None,
    label: str | None = None,
    smooth: int = 20,
    xlabel: str = "environment steps",
    ylabel: str = "episode return",
    title: str | None = None,
    target: float | None = None,
):
    """Plot episode returns ``[E]`` against ``x`` ``[E]`` (e.g. the env step at which each episode ended).

    Each episode is a faint dot; the line is the mean of the last ``smooth`` episodes, which is what to read,
    since single episodes are noisy. ``target`` draws a dashed line (e.g. 500, CartPole's best).
    Returns the matplotlib ``Axes`` (a new figure is made when ``ax`` is None).
    """
    import matplotlib.pyplot as plt

    x = np.asarray(x, dtype=np.float64)
    returns = np.asarray(returns, dtype=np.float64)
    if x.shape != returns.shape:
        raise ValueError(f"x has shape {x.shape} but returns has shape {returns.shape}: expected the same shape")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
    dots = ax.plot(x, returns, ".", alpha=0.25, markersize=4)[0]
    line_label = label if smooth <= 1 else f"{label or 'return'} (mean of last {smooth})"
    ax.plot(x, running_mean(returns, smooth), "-", color=dots.get_color(), label=line_label, linewidth=2)
    if target is not None:
        ax.axhline(target, color="grey", linestyle="--", linewidth=1, label=f"target {target:g}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    return ax


class LiveCurve:
    """A training callback that redraws a learning curve in place while the agent learns.

    Pass it as ``callback=`` to :meth:`rlhf_lite.agents.PPOAgent.learn` (or anything that calls
    ``callback(info)`` with ``info[x_key]`` and ``info[returns_key]``: the returns of episodes that finished
    since the last call, or one return; for :func:`rlhf_lite.agents.q_learning` use ``x_key="episode",
    returns_key="return"``). In a notebook the figure appears once and is replaced through a display
    handle. Drawing a PNG costs tens of milliseconds that training would otherwise spend learning, so it
    redraws at most every ``min_interval`` seconds and spends at most about ``1 / (1 + draw_every)`` of the
    time drawing (on a busy machine drawing is slow, so it redraws less often). Call :meth:`close` (or use
    ``with LiveCurve(...) as curve:``) to draw the final picture. Outside IPython it only records.

    ``stop_at``: return True (stop training) once the mean of the last ``smooth`` returns reaches it.
    """

    def __init__(
        self,
        title: str = "learning curve",
        *,
        xlabel: str = "environment steps",
        ylabel: str = "episode return",
        smooth: int = 20,
        target: float | None = None,
        stop_at: float | None = None,
        min_interval: float = 1.0,
        draw_every: float = 5.0,
        x_key: str = "env_steps",
        returns_key: str = "episode_returns",
    ):
        self.title, self.xlabel, self.ylabel = title, xlabel, ylabel
        self.smooth, self.target, self.stop_at = smooth, target, stop_at
        self.min_interval, self.draw_every = min_interval, draw_every
        self.x_key, self.returns_key = x_key, returns_key
        self.x: list[float] = []
        self.returns: list[float] = []
        self.redraws = 0
        self._handle = None
        self._next_draw = -np.inf

    def __call__(self, info: dict) -> bool:
        x = float(info[self.x_key])
        for r in np.atleast_1d(np.asarray(info.get(self.returns_key, []), dtype=np.float64)):
            self.x.append(x)
            self.returns.append(float(r))
        if time.monotonic() >= self._next_draw:
            self.draw()
        return self.stop_at is not None and self.mean_return >= self.stop_at

    @property
    def mean_return(self) -> float:
        """Mean of the last ``smooth`` episode returns (``-inf`` before the first episode ends)."""
        return float(np.mean(self.returns[-self.smooth :])) if self.returns else -np.inf

    def figure(self):
        """A fresh matplotlib figure of the curve so far (not shown; the caller owns it)."""
        from matplotlib.figure import Figure

        fig = Figure(figsize=(6, 3.5), layout="constrained")
        ax = fig.add_subplot()
        learning_curve(
            self.x,
            self.returns,
            ax=ax,
            smooth=self.smooth,
            xlabel=self.xlabel,
            ylabel=self.ylabel,
            title=self._title(),
            target=self.target,
        )
        return fig

    def _title(self) -> str:
        if not self.returns:
            return f"{self.title}: waiting for the first episode to end"
        last = min(self.smooth, len(self.returns))
        return f"{self.title}: {len(self.returns)} episodes, mean of last {last} = {self.mean_return:.1f}"

    def draw(self) -> None:
        """Show the curve, replacing the previous picture (no-op outside a Jupyter kernel)."""
        from rlhf_lite.widgets import presence

        start = time.monotonic()
        if presence.running_kernel() is not None:
            from IPython.display import display

            fig = self.figure()
            if self._handle is None:
                self._handle = display(fig, display_id=True)
            else:
                self._handle.update(fig)
            self.redraws += 1
        now = time.monotonic()
        self._next_draw = now + max(self.min_interval, self.draw_every * (now - start))

    def close(self) -> None:
        """Draw the final curve."""
        self.draw()

    def __enter__(self) -> LiveCurve:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# --------------------------------------------------------------------------------------------------------
# Clips: animated GIFs that play inline without ffmpeg
# --------------------------------------------------------------------------------------------------------


def gif_bytes(
    frames: np.ndarray,
    fps: float = 30,
    *,
    height: int | None = 160,
    max_frames: int = 300,
    total_frames: int | None = None,
) -> bytes:
    """Encode frames ``[T, H, W, 3]`` uint8 as a looping animated GIF.

    ``height`` scales frames (smaller clips load faster); clips longer than ``max_frames`` keep every k-th
    frame and show each k times as long, so the clip still plays in real time. ``total_frames`` (>= T) holds
    the last frame for the missing time, so clips of different lengths loop together.
    """
    from PIL import Image

    frames = _check_frames(frames)
    if fps <= 0:
        raise ValueError(f"fps={fps!r} is out of range: expected a number > 0")
    total = len(frames) if total_frames is None else total_frames
    if total < len(frames):
        raise ValueError(f"total_frames={total_frames!r} is shorter than the clip: expected at least {len(frames)}")
    step = max(1, int(np.ceil(len(frames) / max_frames)))
    kept = frames[::step]
    # GIF delays are whole centiseconds; browsers treat delays under 20 ms as 100 ms, so never go below 20.
    duration = max(20, int(round(100 * step / fps)) * 10)
    durations = [duration] * len(kept)
    if total > len(kept) * step:
        durations[-1] += int(round(100 * (total - len(kept) * step) / fps)) * 10
    # Scale each frame as it is converted, so full-size copies of the whole clip never pile up in memory.
    images = [_scaled(Image.fromarray(f), height) for f in kept]
    # One palette for the whole clip, taken from a few frames spread over it: encoding then skips per-frame
    # colour search (several times faster) and colours do not flicker between frames.
    picks = np.linspace(0, len(images) - 1, min(8, len(images))).round().astype(int)
    montage = Image.fromarray(np.concatenate([np.asarray(images[i]) for i in picks], axis=0))
    palette = montage.quantize(colors=255)
    images = [im.quantize(palette=palette, dither=Image.Dither.NONE) for im in images]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0)
    return buf.getvalue()


def _scaled(image, height: int | None):
    if height is None or image.height == height:
        return image
    from PIL import Image

    return image.resize((max(1, round(image.width * height / image.height)), height), Image.BOX)


def png_bytes(frame: np.ndarray) -> bytes:
    """One frame ``[H, W, 3]`` uint8 as PNG bytes, e.g. for an ``ipywidgets.Image`` that shows the current state."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(_check_frames(np.asarray(frame)[None])[0]).save(buf, format="PNG")
    return buf.getvalue()


def clip_widget(frames: np.ndarray, fps: float = 30, *, height: int | None = 160):
    """An ``ipywidgets.Image`` playing ``frames`` ``[T, H, W, 3]`` in a loop (for widget layouts)."""
    import ipywidgets as widgets

    return widgets.Image(value=gif_bytes(frames, fps, height=height), format="gif")


def clip_html(frames: np.ndarray, fps: float = 30, *, title: str | None = None, height: int | None = 160):
    """An inline clip of ``frames`` ``[T, H, W, 3]`` with an optional caption, as ``IPython.display.HTML``.

    The GIF is embedded as a data URI, so it survives saving the notebook and needs no widget manager.
    """
    from IPython.display import HTML

    return HTML(_figure_html(frames, fps, title, height))


def side_by_side(
    frames_a: np.ndarray,
    frames_b: np.ndarray,
    titles: Sequence[str] = ("left", "right"),
    *,
    fps: float = 30,
    height: int | None = 160,
    note: str | None = None,
):
    """Two clips next to each other, same length, for comparing behaviour, as ``IPython.display.HTML``.

    The shorter clip holds its last frame for the missing time (an episode that ended early stays still),
    so both loop together. ``note`` is a line under the clips (e.g. ``clip_drawing.clip_legend(env_id)``).
    """
    if len(titles) != 2:
        raise ValueError(f"titles={titles!r} must name the two clips: expected two strings")
    return clips_in_a_row([frames_a, frames_b], titles, fps=fps, height=height, note=note)


def clips_in_a_row(
    clips: Sequence[np.ndarray],
    titles: Sequence[str],
    *,
    fps: float = 30,
    height: int | None = 160,
    note: str | None = None,
):
    """Clips ``[T, H, W, 3]`` in one row, each with its title, looping together, as ``IPython.display.HTML``.

    Shorter clips hold their last frame for the missing time; ``note`` is a line of explanation under them.
    """
    from IPython.display import HTML

    frames = [_check_frames(f) for f in clips]
    if len(titles) != len(frames) or not frames:
        raise ValueError(f"titles={titles!r} must name each of the {len(frames)} clips: expected one string per clip")
    n = max(len(f) for f in frames)
    figures = "".join(_figure_html(f, fps, t, height, total_frames=n) for f, t in zip(frames, titles))
    row = f'<div class="rlhf-side-by-side" style="display:flex;gap:16px;align-items:flex-start">{figures}</div>'
    if note:
        row += f'<div class="rlhf-clip-note" style="color:#555;max-width:760px">{html.escape(note)}</div>'
    return HTML(row)


def episode_frames(env: Any, policy: Any = None, *, seed: int | None = None, max_steps: int = 1000):
    """Run one episode with frames: ``(frames [T + 1, H, W, 3], trajectory)``.

    :func:`rlhf_lite.rollouts.rollout` stores the picture each action was taken in; a clip also wants the
    picture *after* the last step (the agent on the treasure, the pole on the floor), so it is appended.
    ``env`` needs ``render_mode="rgb_array"``; ``policy=None`` acts at random.
    """
    from . import rollouts

    trajectory = rollouts.rollout(env, policy, seed=seed, max_steps=max_steps, render=True)
    frames = np.concatenate([trajectory.frames, np.asarray(env.render(), np.uint8)[None]])
    trajectory.frames = frames[:-1]  # a view: one copy of the pictures in memory, not two
    return frames, trajectory


def _figure_html(
    frames: np.ndarray, fps: float, title: str | None, height: int | None, total_frames: int | None = None
) -> str:
    data = base64.b64encode(gif_bytes(frames, fps, height=height, total_frames=total_frames)).decode("ascii")
    caption = f'<figcaption style="text-align:center">{html.escape(title)}</figcaption>' if title else ""
    return f'<figure class="rlhf-clip" style="margin:0"><img src="data:image/gif;base64,{data}"/>{caption}</figure>'


def _check_frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise ValueError(f"frames has shape {frames.shape}: expected [T, H, W, 3] with T >= 1")
    if frames.dtype != np.uint8:
        raise ValueError(f"frames has dtype {frames.dtype}: expected uint8 pixels (0-255)")
    return frames


def show_frames(frames: np.ndarray, n: int = 6, *, title: str | None = None, fps: float | None = None):
    """A strip of ``n`` evenly spaced frames from ``[T, H, W, 3]``, each labelled with its time step
    (or seconds, when ``fps`` is given): a clip you can read on paper. Returns the matplotlib ``Figure``."""
    import matplotlib.pyplot as plt

    frames = _check_frames(frames)
    idx = np.unique(np.linspace(0, len(frames) - 1, min(n, len(frames))).round().astype(int))
    fig, axes = plt.subplots(
        1,
        len(idx),
        figsize=(2.2 * len(idx), 2.2 * frames.shape[1] / frames.shape[2] + 0.6),
        squeeze=False,
        layout="constrained",
    )
    for ax, t in zip(axes[0], idx):
        ax.imshow(frames[t])
        ax.set_title(f"step {t}" if fps is None else f"t = {t / fps:.2f} s", fontsize="small")
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    return fig


# --------------------------------------------------------------------------------------------------------
# Gridworld pictures
# --------------------------------------------------------------------------------------------------------

_ARROWS = {0: (0, -1), 1: (1, 0), 2: (0, 1), 3: (-1, 0)}  # up, right, down, left as (dx, dy) in image space


def grid_values(
    env: Any,
    values: np.ndarray | None = None,
    policy: np.ndarray | None = None,
    *,
    ax: Any = None,
    title: str | None = None,
    cell: int = 48,
    show_numbers: bool = True,
):
    """Picture a gridworld: ``values`` ``[S]`` tint the floor (green high, red low) and are written in each
    cell; ``policy`` ``[S]`` (an action per state: 0 up, 1 right, 2 down, 3 left) is drawn as arrows.

    ``env`` is an :class:`rlhf_lite.gridworld.GridWorld` (anything with ``draw``, ``height``, ``width``, ``grid``).
    Returns the matplotlib ``Axes``.
    """
    import matplotlib.pyplot as plt

    base = getattr(env, "unwrapped", env)
    if ax is None:
        _, ax = plt.subplots(figsize=(base.width * 0.8 + 0.4, base.height * 0.8 + 0.6), layout="constrained")
    ax.imshow(base.draw(values=values, cell=cell))
    for s in range(base.height * base.width):
        r, c = divmod(s, base.width)
        ch = base.grid[r][c]
        if ch == "#":
            continue
        cx, cy = (c + 0.5) * cell - 0.5, (r + 0.5) * cell - 0.5
        if ch in base.treasures:
            ax.text(cx, cy, f"{base.treasures[ch]:+g}", ha="center", va="center", fontsize=9, weight="bold")
            continue
        if values is not None and show_numbers:
            ax.text(cx, cy + 0.32 * cell, f"{values[s]:.2f}", ha="center", va="center", fontsize=7)
        if policy is not None:
            dx, dy = _ARROWS[int(policy[s])]
            ax.annotate(
                "",
                xy=(cx + dx * 0.3 * cell, cy + dy * 0.3 * cell - 0.08 * cell),
                xytext=(cx - dx * 0.3 * cell, cy - dy * 0.3 * cell - 0.08 * cell),
                arrowprops=dict(arrowstyle="->", lw=1.5, color="black"),
            )
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    return ax
