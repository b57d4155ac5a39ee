"""What the reader sees and touches: the clip-pair labeler and hyperparameter panels.

:class:`WidgetLabeler` is the person's box of the RLHF picture. It shows two clips of behaviour side by side,
playing in a loop, and asks which is better. Every click is written to a :class:`~rlhf_lite.preferences.LabelStore`
at once (flushed and fsynced before the next pair appears), so a crashed kernel loses nothing and a later
session resumes the count.

**Nothing here blocks the notebook.** Displaying the labeler returns at once; answers arrive through button
callbacks, which Jupyter runs on the kernel's main thread between cells. Code that wants answers therefore
either reacts to them (``on_label``) or waits for them *from another thread* (an RLHF loop training PPO in a
background thread calls ``wait_for_labels`` or the blocking ``label``). A blocking wait on the main thread
would deadlock: the clicks it waits for are delivered by the very thread that waits, so ``label()`` refuses
to do that and says why.

API for a loop (any thread may call these)::

    labeler = WidgetLabeler(store, "Pendulum-v1", target=50, predictor=ensemble)
    display(labeler)                       # returns at once
    ids = labeler.submit_pairs(pairs)      # [(left_segment, right_segment), ...] -> pair ids; queued, shown in order
    labeler.discard_pending()              # drop queued pairs not yet shown (e.g. clips of an outdated policy)
    records = labeler.wait_for_labels(5, timeout=30)   # >= 5 new answers (fewer on timeout), in click order
    answer = labeler.label(left, right)    # Labeler protocol; background threads only (blocks until clicked)
    labeler.on_label(fn)                   # fn(record) after every answer, on the thread that answered
    labeler.on_undo(fn)                    # fn(record_taken_back) after every undo
    labeler.set_predictor(ensemble, note="trained on 40 labels")  # belief shown after each answer
    refit_in_background(labeler, fit)      # or: retrain on the person's own labels every few answers
    labeler.n_labels, labeler.n_pending    # live labels in the store; pairs queued or on screen

Undo retracts the last answer given in this session (a retraction record is appended; the file is never
rewritten) and puts that pair back on screen. Records already handed out by ``wait_for_labels`` may thus be
retracted later: refit the reward model from ``store.pairs()``, which honours retractions.

**Headless runs.** With no person at the keyboard (:func:`headless_reason` decides: a script such as
nbclient runs the notebook, plain Python without a Jupyter kernel, ``RLHF_LITE_HEADLESS=1`` or
``headless=True``) the labeler says so in its display and answers every submitted pair at once with a
fallback labeler (an :class:`~rlhf_lite.labelers.OracleLabeler` unless you pass another, e.g. a
``ReplayLabeler``). Its records name that fallback, never a person. Fast mode only shrinks budgets: in
JupyterLab the widgets still wait for the person's clicks. ``RLHF_LITE_HEADLESS=0`` forces the interactive
widget.

**Stable DOM classes** (``widget.add_class``), for browser tests and custom CSS:

==================  ==========================================================
``rlhf-labeler``    the whole labeler (a VBox)
``rlhf-left``       button "left is better"
``rlhf-right``      button "right is better"
``rlhf-equal``      button "equally good"
``rlhf-cant-tell``  button "can't tell"
``rlhf-undo``       button "undo"
``rlhf-clip-left``  the left clip (an ``<img>`` holding an animated GIF)
``rlhf-clip-right`` the right clip
``rlhf-clip-empty`` on both clips while no pair is on screen (they show blank frames, not the last pair)
``rlhf-legend``     what the marks in the clips mean (Pendulum: the torque arrow)
``rlhf-counter``    "7 / 20 labels" text
``rlhf-progress``   progress bar toward the target
``rlhf-timing``     seconds per label
``rlhf-status``     what to do now / waiting / headless notice / errors
``rlhf-belief``     what the predictor believes about the pair just answered
``rlhf-pair``       "pair #12" of the pair on screen (changes with every new pair)
``rlhf-panel``      a :class:`ConfigPanel`: sliders ``rlhf-param-<field>``, typing boxes ``rlhf-value-<field>``
==================  ==========================================================

Keyboard shortcuts are not offered: ipywidgets has no key events, JavaScript outputs run only in trusted
notebooks, and JupyterLab's command-mode shortcuts (``a``, ``b``, ``d d``, arrow keys, ...) take the keys
first, so shortcuts could not be made reliable without another extension.
"""

from __future__ import annotations

import dataclasses
import html
import math
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from rlhf_lite import config as config_lib
from rlhf_lite.rollouts import Segment

HEADLESS_ENV_VAR = "RLHF_LITE_HEADLESS"

# (answer, button text, DOM class, button style, tooltip)
ANSWER_BUTTONS: tuple[tuple[str, str, str, str, str], ...] = (
    ("left", "Left is better", "rlhf-left", "info", "The LEFT clip shows the better behaviour"),
    ("right", "Right is better", "rlhf-right", "info", "The RIGHT clip shows the better behaviour"),
    ("equal", "Equally good", "rlhf-equal", "", "Both clips are about as good as each other"),
    ("cant_tell", "Can't tell", "rlhf-cant-tell", "",
     "Not sure: this pair is not used for training, but it counts as one of your labels"),
)
ANSWER_WORDS = {"left": "left is better", "right": "right is better", "equal": "equally good", "cant_tell": "can't tell"}

_FPS_CACHE: dict[str, float] = {}


def headless_reason(headless: bool | None = None) -> str | None:
    """Why no person can click here (a sentence), or ``None`` when a person can: the ONE decision that every
    labeling widget and every notebook's "nobody is there" cell asks.

    In order: ``headless`` True/False decides outright; ``RLHF_LITE_HEADLESS=1``/``0`` decides; plain Python
    without a Jupyter kernel is headless; in a kernel, a person can click when :func:`front_end_evidence`
    finds a notebook front end connected, and it is headless when it finds none (a script such as nbclient,
    nbconvert or papermill runs the notebook). Fast mode plays no part: it only shrinks training budgets.
    """
    if headless is True:
        return "headless=True was passed"
    if headless is False:
        return None
    flag = os.environ.get(HEADLESS_ENV_VAR, "").strip().lower()
    if flag in ("1", "true", "yes"):
        return f"{HEADLESS_ENV_VAR}={os.environ[HEADLESS_ENV_VAR]} is set"
    if flag in ("0", "false", "no"):
        return None
    kernel = _kernel()
    if kernel is None:
        return "this is plain Python, not a Jupyter kernel, so no buttons can be shown"
    if front_end_evidence(kernel) is None:
        return ("a script runs this notebook (nbclient, nbconvert or papermill, as in the automatic tests), not a "
                f"notebook page, so nobody can click; if you are at a page, set {HEADLESS_ENV_VAR}=0")
    return None


_FRONT_END_SEEN: dict[str, str] = {}  # evidence seen earlier in this kernel that a front end renders widgets


def front_end_evidence(kernel: Any = None) -> str | None:
    """What shows that a notebook front end shows this kernel's widgets to a person (a phrase), or ``None``.

    Signals, first match wins (``kernel`` defaults to the running IPython kernel):

    - a front end drew a widget: :func:`watch_views` widgets (every :class:`ConfigPanel`) ask the front end to
      count the views it renders (ipywidgets' ``_view_count``); a count above 0 means a widget front end is
      connected. The front end's report reaches the kernel only between cells (with Run All, after the
      queued cells), so this covers cells run one at a time, in any front end that renders widgets.
    - the running cell came from a notebook page: JupyterLab 3+ and Notebook 7 (the ``@jupyterlab/services``
      client) put the cell's ``cellId`` in every execute request's metadata; nbclient, nbconvert, papermill
      and ``jupyter console`` send no metadata. Checked in JupyterLab 4 + Chromium (tests/browser) and
      nbclient (tests/test_notebooks.py). This covers Run All.
    - the running code answers a widget event (a click or a slider move sent by a front end).
    - VS Code's Jupyter extension defines ``__vsc_ipynb_file__`` in its kernels (not checked here).

    A page whose widgets cannot render (``jupyterlab_widgets`` missing) still counts as a person at the page:
    README's troubleshooting covers that; ``RLHF_LITE_HEADLESS`` overrides every signal.
    """
    if _FRONT_END_SEEN:
        return next(iter(_FRONT_END_SEEN.values()))
    kernel = kernel if kernel is not None else _kernel()
    if kernel is None:
        return None
    try:
        parent = kernel.get_parent() or {}
    except Exception:  # an older or foreign kernel without get_parent(): no evidence either way
        parent = {}
    msg_type = (parent.get("header") or {}).get("msg_type")
    if msg_type == "execute_request" and (parent.get("metadata") or {}).get("cellId"):
        return _seen("a notebook page ran this cell (its execute request names the cell)")
    if msg_type == "comm_msg":
        return _seen("a front end sent a widget event (a click or a slider move)")
    shell = getattr(kernel, "shell", None)
    if "__vsc_ipynb_file__" in (getattr(shell, "user_ns", None) or {}):
        return _seen("VS Code runs this notebook")
    return None


def _seen(evidence: str) -> str:
    _FRONT_END_SEEN.setdefault("front end", evidence)  # a front end stays connected: later calls trust it
    return evidence


def watch_views(widget: Any) -> Any:
    """Ask the front end to report how many views of ``widget`` it renders (ipywidgets' ``_view_count``), so
    that :func:`front_end_evidence` learns that a widget front end is connected once one is drawn."""
    if getattr(widget, "_view_count", 0) is None:
        widget._view_count = 0

        def on_count(change: Any) -> None:
            if (change.get("new") or 0) > 0:
                _seen(f"a front end drew a {type(widget).__name__} widget")

        widget.observe(on_count, names="_view_count")
    return widget


def _kernel() -> Any:
    """The running IPython kernel, or ``None`` (plain Python, or IPython without a kernel)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return None
    shell = ipython.get_ipython()
    return getattr(shell, "kernel", None) if shell is not None else None


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
    "Pendulum": ("The curved arrow around the pivot is the motor: it points the way the motor pushes the pole "
                 "(clockwise or counter-clockwise), and the bigger the arrow, the harder the push. "
                 "No arrow: no push."),
}
"""What the marks in a task's clips mean, in plain words (shown next to the clips)."""


def clip_legend(env_id: str | None) -> str | None:
    """A sentence explaining what the clips of ``env_id`` show beyond the body itself (None: nothing to explain)."""
    name = (env_id or "").split("/")[-1].split("-")[0]
    return CLIP_LEGEND.get(name)


def segment_frames(segment: Segment, env_id: str | None, *, height: int = CLIP_HEIGHT,
                   crop: float | None = None) -> np.ndarray:
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
        frames = frames[:, top:top + ch, left:left + cw]
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


_BLANK_GIFS: dict[tuple[int, int], bytes] = {}


def _blank_gif(width: int, height: int) -> bytes:
    """A plain light-grey GIF of ``width`` x ``height`` pixels: the clips' place while no pair is on screen."""
    key = (int(width), int(height))
    if key not in _BLANK_GIFS:
        from PIL import Image
        import io

        buf = io.BytesIO()
        Image.new("RGB", key, (242, 242, 242)).save(buf, format="GIF")
        _BLANK_GIFS[key] = buf.getvalue()
    return _BLANK_GIFS[key]


@dataclasses.dataclass
class _Pair:
    id: int
    left: Segment
    right: Segment
    meta: dict
    gifs: tuple[bytes, bytes] | None = None
    shown_at: float | None = None
    render_lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)


class WidgetLabeler:
    """Two clips side by side and five buttons; every answer goes straight to disk. See the module docstring.

    ``store`` is a ``LabelStore`` or a path (opened, or created, as one). ``env_id`` re-draws clips of segments
    without frames. ``name`` is who labels (written into every record). ``target`` is the number of live labels
    in the store the progress bar counts toward (labels beyond it are kept too). ``predictor`` is anything
    :meth:`set_predictor` takes. ``fallback`` answers in headless mode (default: the oracle with 10% noise,
    seeded by ``seed``). ``question`` tells the person what "better" means for this task. ``prefetch`` is how
    many queued pairs a background thread draws ahead (0: draw each pair when it is shown, on the caller's
    thread); ``clip_height`` is the clips' height in pixels (default :data:`CLIP_HEIGHT`), ``fps`` their frame
    rate (default: real time). ``legend`` explains what the clips show under them (default
    :func:`clip_legend`, e.g. Pendulum's torque arrow; ``""`` for none). ``skip_bad=True`` opens a path's label
    file skipping bad lines with a warning (what the store's error about a damaged line advises).

    "Can't tell" answers are stored and count toward ``target`` (they cost the person a judgement just like a
    clear answer, and a loop's label budget counts every answer), but they are not used for training; the
    counter says how many of the labels they are.
    """

    writes_to_store = True
    """A loop must not store this labeler's answers again: the widget writes each one at the click."""

    def __init__(
        self,
        store: Any,
        env_id: str | None = None,
        *,
        name: str = "reader",
        target: int = 20,
        predictor: Any = None,
        fallback: Any = None,
        headless: bool | None = None,
        question: str = "Which clip shows the better behaviour?",
        clip_height: int = CLIP_HEIGHT,
        fps: float | None = None,
        prefetch: int = 16,
        seed: int = 0,
        legend: str | None = None,
        skip_bad: bool = False,
    ):
        from rlhf_lite import preferences

        if not isinstance(target, (int, np.integer)) or isinstance(target, bool) or target < 1:
            raise ValueError(f"WidgetLabeler.target={target!r} is not allowed: expected a whole number >= 1")
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"WidgetLabeler.name={name!r} is not allowed: expected a non-empty string (who labels)")
        if env_id is not None:
            from rlhf_lite import envs

            envs.check_env_id(env_id)
        self.env_id = env_id
        self.name = name.strip()
        self.headless_reason = headless_reason(headless)
        self.headless = self.headless_reason is not None
        self.fallback = fallback
        if self.headless and self.fallback is None:
            from rlhf_lite import labelers

            self.fallback = labelers.OracleLabeler(noise_prob=0.1, rng=np.random.default_rng(seed))
        if isinstance(store, preferences.LabelStore):
            self.store = store
        else:  # a new file's header says who fills it: the person clicking, or the stand-in of a headless run
            who = (f"{self.fallback_name}, standing in because no person was labeling ({self.headless_reason})"
                   if self.headless else f"clicks of {self.name!r} in the rlhf_lite WidgetLabeler")
            self.store = preferences.LabelStore(
                Path(store), env_id=env_id, producer=f"rlhf_lite WidgetLabeler: {who}", skip_bad=skip_bad
            )
        self.target = int(target)
        self.question = question
        self.clip_height = int(clip_height)
        self.legend = clip_legend(env_id) if legend is None else str(legend)
        self.fps = fps
        self.prefetch = max(0, int(prefetch))

        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._queue: list[_Pair] = []
        self._current: _Pair | None = None
        self._history: list[tuple[_Pair, Any]] = []  # (pair, record) answered in this session, for undo
        self._answers: dict[int, str] = {}  # pair id -> live answer
        self._unclaimed: list[Any] = []  # records not yet returned by wait_for_labels
        self._next_id = 0
        self._count = len(self.store)
        self._cant_tell = self.store.counts().get("cant_tell", 0)  # live "can't tell" answers among them
        self._seconds: list[float] = []
        self._on_label: list[Callable[[Any], Any]] = []
        self._on_undo: list[Callable[[Any], Any]] = []
        self._predictor: Any = None
        self._predictor_note = ""
        self._worker: threading.Thread | None = None
        self._closed = False
        self.errors: list[str] = []
        self._build()
        self.set_predictor(predictor)
        self._refresh()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        import ipywidgets as w

        self.title = w.HTML(f"<b>{html.escape(self.question)}</b>")
        self.clip_left = w.Image(format="gif", layout=w.Layout(width="auto", height=f"{self.clip_height}px"))
        self.clip_right = w.Image(format="gif", layout=w.Layout(width="auto", height=f"{self.clip_height}px"))
        self.clip_left.add_class("rlhf-clip-left")
        self.clip_right.add_class("rlhf-clip-right")
        caption = "<div style='text-align:center;font-weight:bold'>{}</div>"
        def boxed() -> Any:
            return w.Layout(border="1px solid #bbb", padding="4px", margin="0 12px 6px 0", align_items="center")

        clips = w.HBox([w.VBox([w.HTML(caption.format("left")), self.clip_left], layout=boxed()),
                        w.VBox([w.HTML(caption.format("right")), self.clip_right], layout=boxed())])
        self.legend_label = w.HTML(f"<span style='color:#555;font-size:90%'>{html.escape(self.legend)}</span>"
                                   if self.legend else "", layout=w.Layout(max_width="640px", margin="0 0 6px 0"))
        self.legend_label.add_class("rlhf-legend")
        self._blank_shown = False
        self._clip_size: tuple[int, int] | None = None  # (width, height) of the last clips shown
        self.buttons: dict[str, Any] = {}
        for answer, text, css, style, tip in ANSWER_BUTTONS:
            b = w.Button(description=text, button_style=style, tooltip=tip, layout=w.Layout(width="auto", margin="0 6px 0 0"))
            b.add_class(css)
            b.on_click(lambda _b, a=answer: self._on_click(a))
            self.buttons[answer] = b
        self.undo_button = w.Button(description="Undo", icon="undo", tooltip="Take back your last answer",
                                    button_style="warning", layout=w.Layout(width="auto", margin="0 0 0 18px"))
        self.undo_button.add_class("rlhf-undo")
        self.undo_button.on_click(lambda _b: self._on_undo_click())
        self.progress = w.IntProgress(value=0, min=0, max=self.target, layout=w.Layout(width="240px"))
        self.progress.add_class("rlhf-progress")
        self.counter = w.HTML()
        self.counter.add_class("rlhf-counter")
        self.timing = w.HTML()
        self.timing.add_class("rlhf-timing")
        self.pair_label = w.HTML()
        self.pair_label.add_class("rlhf-pair")
        self.status = w.HTML()
        self.status.add_class("rlhf-status")
        self.belief_label = w.HTML()
        self.belief_label.add_class("rlhf-belief")
        row = w.HBox(list(self.buttons.values()) + [self.undo_button])
        for label in (self.counter, self.timing, self.pair_label):
            label.layout.margin = "0 0 0 14px"
            label.layout.flex = "0 0 auto"  # each text on one line; the row wraps instead of squeezing them
        counts = w.HBox([self.progress, self.counter, self.timing, self.pair_label],
                        layout=w.Layout(align_items="center", flex_flow="row wrap"))
        if self.headless:
            children = [self.title, self.status, counts, self.belief_label]
        else:
            children = [self.title, clips, self.legend_label, row, counts, self.status, self.belief_label]
        self.widget = w.VBox(children)
        self.widget.add_class("rlhf-labeler")

    def _repr_mimebundle_(self, **kwargs: Any) -> dict:
        bundle = self.widget._repr_mimebundle_(**kwargs)
        bundle = dict(bundle) if bundle else {}
        bundle["text/plain"] = self.summary()
        return bundle

    def summary(self) -> str:
        """One paragraph in plain words: where labels go, how many, and who answers (shown in headless logs)."""
        who = f"you ({self.name}) click the buttons" if not self.headless else (
            f"NO PERSON IS LABELING: {self.headless_reason}; answers come from {self.fallback_name}")
        return (f"WidgetLabeler: {self.n_labels} / {self.target} labels in {self.store.path}; {who}. "
                f"{self.n_pending} pair(s) waiting.")

    @property
    def fallback_name(self) -> str:
        return str(getattr(self.fallback, "name", type(self.fallback).__name__))

    # ------------------------------------------------------------------ public API
    @property
    def n_labels(self) -> int:
        """Live labels in the store (resumed ones included, undone ones not)."""
        return self._count

    @property
    def n_pending(self) -> int:
        """Pairs submitted but not answered yet (queued or on screen)."""
        with self._lock:
            return len(self._queue) + (self._current is not None)

    @property
    def seconds_per_label(self) -> list[float]:
        """Answer times of this session's live labels, in seconds (clip shown -> click)."""
        with self._lock:
            return list(self._seconds)

    def submit_pairs(self, pairs: Iterable[tuple[Segment, Segment]], meta: dict | None = None) -> list[int]:
        """Queue pairs ``[(left, right), ...]`` to be shown in order; returns their pair ids. Thread-safe.

        Returns at once. In headless mode the fallback answers each pair before this returns.
        ``meta`` (e.g. ``{"round": 3, "selection": "active"}``) is stored with each record.
        """
        from rlhf_lite import preferences

        pairs = list(pairs)
        for i, pair in enumerate(pairs):
            if not (isinstance(pair, (tuple, list)) and len(pair) == 2
                    and all(isinstance(s, Segment) for s in pair)):
                raise ValueError(f"pairs[{i}]={type(pair).__name__} is not allowed: expected a (Segment, Segment) tuple")
            try:
                preferences.check_pair(*pair)  # same length and shapes: clips must be compared fairly
            except ValueError as exc:
                raise ValueError(f"pairs[{i}]: {exc}") from None
        with self._lock:
            if self._closed:
                raise RuntimeError("this WidgetLabeler is closed: make a new one")
            new = []
            for left, right in pairs:
                new.append(_Pair(self._next_id, left, right, dict(meta or {})))
                self._next_id += 1
        if self.headless:
            for p in new:
                self._answer_headless(p)
            return [p.id for p in new]
        with self._lock:
            self._queue.extend(new)
            if self._current is None:
                self._show_next()
            self._refresh()
            self._changed.notify_all()
        self._start_worker()
        return [p.id for p in new]

    ask = submit_pairs

    def discard_pending(self) -> list[int]:
        """Drop the queued pairs not yet on screen (e.g. clips of an outdated policy); returns their ids.

        The pair on screen stays, so a person never has a clip pulled away mid-judgement. Thread-safe.
        """
        with self._lock:
            dropped = [p.id for p in self._queue]
            self._queue.clear()
            self._refresh()
            self._changed.notify_all()
            return dropped

    def wait_for_labels(self, n: int = 1, timeout: float | None = None) -> list[Any]:
        """Block until at least ``n`` answers not yet returned are in, then return all of them (click order).

        ``timeout`` seconds (None: forever) returns whatever is in, possibly fewer or none. ``n=0`` polls.
        Call from a background thread while the person labels: on the kernel's main thread it would wait
        for clicks that this very thread has to deliver, so it refuses (unless headless or ``n`` is 0).
        """
        if n > 0 and not self.headless:
            self._refuse_main_thread("wait_for_labels")
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while len(self._unclaimed) < n and not self._closed:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                if self.headless and not self._queue:
                    break  # headless answers arrive inside submit_pairs: nothing more will come
                self._changed.wait(timeout=left)
            out, self._unclaimed = self._unclaimed, []
            return out

    def answer_of(self, pair_id: int) -> str | None:
        """The live answer to pair ``pair_id`` (None if unanswered or undone)."""
        with self._lock:
            return self._answers.get(pair_id)

    def wait_for_answer(self, pair_id: int, timeout: float | None = None) -> str | None:
        """Block (background threads only) until pair ``pair_id`` has a live answer; None on timeout."""
        if not self.headless:
            self._refuse_main_thread("wait_for_answer")
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while pair_id not in self._answers and not self._closed:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                self._changed.wait(timeout=left)
            return self._answers.get(pair_id)

    def label(self, left: Segment, right: Segment) -> str:
        """The Labeler protocol: show one pair, block until it is answered, return the answer.

        From a background thread only (see the module docstring); in headless mode the fallback answers.
        The answer is already in the store when this returns (``writes_to_store``).
        """
        if not self.headless:
            self._refuse_main_thread("label")
        (pair_id,) = self.submit_pairs([(left, right)])
        answer = self.wait_for_answer(pair_id)
        if answer is None:
            raise RuntimeError("the labeler was closed before the pair was answered")
        return answer

    def on_label(self, callback: Callable[[Any], Any]) -> None:
        """Call ``callback(record)`` after every answer is stored (on the thread that answered)."""
        self._on_label.append(callback)

    def on_undo(self, callback: Callable[[Any], Any]) -> None:
        """Call ``callback(record)`` with the record taken back, after every undo is stored."""
        self._on_undo.append(callback)

    def set_predictor(self, predictor: Any, note: str = "") -> None:
        """What the belief line asks after each answer.

        ``predictor`` is a reward ensemble (anything with ``preference_probability(lefts, rights) -> [M, P]``),
        a function ``(left, right) -> P(left better)`` (a float, or one per ensemble member), or None.
        ``note`` says what it was trained on, e.g. ``"trained on 40 oracle labels"``. Thread-safe.
        """
        if predictor is not None and not (hasattr(predictor, "preference_probability") or callable(predictor)):
            raise ValueError(
                f"predictor={type(predictor).__name__} is not allowed: expected an object with "
                "preference_probability(lefts, rights), a function (left, right) -> probability, or None")
        with self._lock:
            self._predictor = predictor
            self._predictor_note = note

    def belief(self, left: Segment, right: Segment) -> np.ndarray | None:
        """P(left better) per ensemble member ``[M]`` from the attached predictor (None if none)."""
        predictor = self._predictor
        if predictor is None:
            return None
        if hasattr(predictor, "preference_probability"):
            p = predictor.preference_probability([left], [right])
        else:
            p = predictor(left, right)
        p = np.asarray(p, dtype=np.float64).reshape(-1)
        return p

    def close(self) -> None:
        """Stop the prefetch thread, wake every waiter, and close the widgets."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        if self._worker is not None:
            self._worker.join(timeout=5)
        self.widget.close()

    # ------------------------------------------------------------------ answering
    def _on_click(self, answer: str) -> None:
        with self._lock:
            pair = self._current
            if pair is None:
                return
            seconds = time.monotonic() - (pair.shown_at or time.monotonic())
            try:
                record = self._write(pair, answer, seconds, self.name)
            except Exception as exc:  # disk full, permissions: say so, keep the pair on screen
                self._error(f"NOT SAVED ({type(exc).__name__}: {exc}). The pair stays on screen.")
                raise
            self._accept(pair, answer, record, seconds)
            self._current = None
            self._show_next()
            self._refresh()
        self._after_answer(pair, answer, record)

    def _answer_headless(self, pair: _Pair) -> None:
        start = time.monotonic()
        answer = self.fallback.label(pair.left, pair.right)
        seconds = time.monotonic() - start
        source = getattr(self.fallback, "last_source", None)
        if source:  # a replayed answer says which recorded answer (and original labeler) it came from
            pair.meta.update(source)
            if not source.get("same_clips", True):
                # The recorded answer is about other clips: store the clips that were actually judged (as the
                # loop does with a replay labeler), never a recorded answer next to clips nobody saw.
                recorded = next(r for r in self.fallback.records if r.id == source["record"])
                (pair.left, pair.right), answer = recorded.segments(), recorded.answer
        with self._lock:
            record = self._write(pair, answer, seconds, self.fallback_name)
            self._accept(pair, answer, record, seconds)
            self._refresh()
        self._after_answer(pair, answer, record)

    def _accept(self, pair: _Pair, answer: str, record: Any, seconds: float) -> None:
        # caller holds the lock
        self._history.append((pair, record))
        self._answers[pair.id] = answer
        self._unclaimed.append(record)
        self._count += 1
        self._cant_tell += answer == "cant_tell"
        self._seconds.append(seconds)
        self._changed.notify_all()

    def _after_answer(self, pair: _Pair, answer: str, record: Any) -> None:
        self._show_belief(pair, answer)
        for callback in list(self._on_label):
            try:
                callback(record)
            except Exception as exc:
                self._error(f"on_label callback {getattr(callback, '__name__', callback)!r} failed: "
                            f"{type(exc).__name__}: {exc} (the label itself is saved)")

    def _on_undo_click(self) -> None:
        with self._lock:
            if not self._history:
                return
            pair, record = self._history.pop()
            retraction = self._retract(record)
            self._answers.pop(pair.id, None)
            self._unclaimed = [r for r in self._unclaimed if r is not record]
            self._count -= 1
            self._cant_tell -= record_answer(record) == "cant_tell"
            if self._seconds:
                self._seconds.pop()
            if not self.headless:
                # Show the undone pair again; the pair that was on screen waits at the front of the queue.
                if self._current is not None:
                    self._queue.insert(0, self._current)
                self._current = None
                self._queue.insert(0, pair)
                self._show_next()
            self._refresh()
            self.belief_label.value = (f"Took back <i>{ANSWER_WORDS.get(record_answer(record), '?')}</i> "
                                       f"for pair #{pair.id}: answer it again.")
            self._changed.notify_all()
        for callback in list(self._on_undo):
            try:
                callback(retraction)
            except Exception as exc:
                self._error(f"on_undo callback failed: {type(exc).__name__}: {exc} (the undo itself is saved)")

    def _write(self, pair: _Pair, answer: str, seconds: float, labeler: str) -> Any:
        meta = dict(pair.meta, pair_id=pair.id)
        return self.store.add(pair.left, pair.right, answer, labeler=labeler, seconds=round(float(seconds), 3),
                              env_id=self.env_id, meta=meta)

    def _retract(self, record: Any) -> Any:
        # Retract exactly the record this session wrote (another writer may have appended since).
        return self.store.retract(record.id, labeler=record.labeler)

    # ------------------------------------------------------------------ showing pairs
    def _show_next(self) -> None:
        # caller holds the lock. With a prefetch thread, a pair whose clips are not drawn yet is left for that
        # thread to show when ready, so a click (or submit_pairs) never waits for drawing.
        if self._current is not None or not self._queue:
            return
        pair = self._queue[0]
        if pair.gifs is None and self.prefetch > 0:
            self._start_worker()
            self._changed.notify_all()
            return
        try:
            self._ensure_gifs(pair)
        except Exception as exc:
            self._error(f"could not draw pair #{pair.id}: {type(exc).__name__}: {exc}")
            raise
        self._queue.pop(0)
        self._show_clips(pair.gifs)
        self._current = pair
        pair.shown_at = time.monotonic()
        self._changed.notify_all()  # wakes the prefetch thread and wait_until_shown

    def _show_clips(self, gifs: tuple[bytes, bytes]) -> None:
        # caller holds the lock
        self.clip_left.value, self.clip_right.value = gifs
        if self._blank_shown:
            for clip in (self.clip_left, self.clip_right):
                clip.remove_class("rlhf-clip-empty")
            self._blank_shown = False
        try:
            from PIL import Image
            import io

            self._clip_size = Image.open(io.BytesIO(gifs[0])).size
        except Exception:  # only the size of the blank placeholder depends on it
            pass

    def _blank_clips(self) -> None:
        # caller holds the lock. With no pair on screen, the last pair's clips must not stay: a person would
        # take them for a pair to judge. Blank frames of the same size keep the layout from jumping.
        if self._blank_shown or self.headless:
            return
        width, height = self._clip_size or (self.clip_height, self.clip_height)
        blank = _blank_gif(width, height)
        self.clip_left.value = self.clip_right.value = blank
        for clip in (self.clip_left, self.clip_right):
            clip.add_class("rlhf-clip-empty")
        self._blank_shown = True

    def _ensure_gifs(self, pair: _Pair) -> None:
        with pair.render_lock:
            if pair.gifs is None:
                pair.gifs = (
                    segment_gif(pair.left, self.env_id, fps=self.fps, height=self.clip_height),
                    segment_gif(pair.right, self.env_id, fps=self.fps, height=self.clip_height),
                )

    def _start_worker(self) -> None:
        # caller may hold the lock (it is re-entrant)
        if self.prefetch == 0 or self._closed:
            return
        with self._lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._prefetch_loop, name="rlhf-labeler-prefetch", daemon=True)
                self._worker.start()

    def _prefetch_loop(self) -> None:
        # Draws and encodes the next few queued pairs ahead of time (the head of the queue first), and puts
        # the head on screen as soon as it is ready if the screen is empty.
        while True:
            with self._changed:
                todo = None
                while todo is None:
                    if self._closed:
                        return
                    todo = next((p for p in self._queue[: self.prefetch] if p.gifs is None), None)
                    if todo is None:
                        self._changed.wait(timeout=1.0)
            try:
                self._ensure_gifs(todo)
            except Exception as exc:
                with self._lock:
                    self._error(f"could not draw pair #{todo.id}: {type(exc).__name__}: {exc}")
                    if todo in self._queue:
                        self._queue.remove(todo)  # a pair that cannot be drawn cannot be judged: drop it
                    self._show_next()
                    self._refresh(keep_error=True)
                continue
            with self._lock:
                if self._current is None and self._queue and self._queue[0] is todo:
                    self._show_next()
                    self._refresh()

    def wait_until_shown(self, timeout: float | None = 10.0) -> int | None:
        """Block until a pair is on screen (its clips drawn); returns its id, or None on timeout/headless."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while self._current is None and not self._closed and not self.headless:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._changed.wait(timeout=left)
            return None if self._current is None else self._current.id

    @property
    def current_pair(self) -> int | None:
        """Id of the pair on screen (None if none)."""
        return None if self._current is None else self._current.id

    # ------------------------------------------------------------------ text
    def _refresh(self, keep_error: bool = False) -> None:
        # caller holds the lock (or is __init__)
        n, target = self._count, self.target
        self.progress.value = min(n, target)
        self.progress.bar_style = "success" if n >= target else ""
        unsure = f" ({self._cant_tell} &ldquo;can&rsquo;t tell&rdquo;)" if self._cant_tell else ""
        self.counter.value = (f"<b>{n} / {target}</b> labels{unsure}"
                              + (" &mdash; target reached" if n >= target else ""))
        if self._seconds:
            self.timing.value = (f"last {self._seconds[-1]:.1f} s, median {statistics.median(self._seconds):.1f} s "
                                 "per label")
        else:
            self.timing.value = "time per label shows here"
        waiting = len(self._queue)
        if self._current is not None:
            self.pair_label.value = f"pair #{self._current.id}" + (f" ({waiting} more queued)" if waiting else "")
        else:
            self.pair_label.value = "no pair on screen"
            self._blank_clips()
        for b in self.buttons.values():
            b.disabled = self._current is None
        self.undo_button.disabled = not self._history or self.headless
        if keep_error:
            pass
        elif self.headless:
            self.status.value = (
                f"<b>No person is labeling here</b>: {html.escape(self.headless_reason or '')}. "
                f"Answers come from <code>{html.escape(self.fallback_name)}</code> and are stored under that name "
                f"in <code>{html.escape(str(self.store.path))}</code>.")
        elif self._current is not None:
            self.status.value = (f"Watch both clips, then click. Every answer is saved at once to "
                                 f"<code>{html.escape(str(self.store.path))}</code>. &ldquo;Can&rsquo;t tell&rdquo; "
                                 "is not used for training, but it counts as one of your labels.")
        elif self._queue:
            self.status.value = "Drawing the next pair&hellip;"
        else:
            self.status.value = ("Waiting for pairs to label&hellip;" if n < target else
                                 "Done: target reached. More pairs show here if any are submitted.")

    def _show_belief(self, pair: _Pair, answer: str) -> None:
        try:
            members = self.belief(pair.left, pair.right)
        except Exception as exc:
            self.belief_label.value = (f"The predictor failed on the pair just answered (#{pair.id}): "
                                       f"{html.escape(type(exc).__name__)}: {html.escape(str(exc))}")
            return
        who = None if not self.headless else f"the stand-in ({self.fallback_name})"
        self.belief_label.value = belief_sentence(pair.id, answer, members, self._predictor_note, who=who)

    def _error(self, message: str) -> None:
        self.errors.append(message)
        self.status.value = f"<span style='color:#b00'><b>Error:</b> {html.escape(message)}</span>"

    def _refuse_main_thread(self, what: str) -> None:
        if threading.current_thread() is threading.main_thread():
            raise RuntimeError(
                f"WidgetLabeler.{what}() would block the kernel's main thread, which is the thread that delivers "
                "the button clicks it waits for: the notebook would freeze. Call it from a background thread "
                "(threading.Thread), or use submit_pairs() with on_label() on the main thread.")


def belief_sentence(pair_id: int, answer: str, members: Any, note: str = "", *, who: str | None = None) -> str:
    """The belief line in plain words (HTML): what the predictor expected about the pair just answered.

    ``members`` is P(left better) per ensemble member ``[M]`` (None: no predictor yet); ``note`` says what the
    predictor was trained on (e.g. ``"trained on 4 labels"``); ``who`` answered (None: the person, "you").
    The line is about the *previous* pair (the one on screen is new), so it names that pair and says so.
    """
    you = "you" if who is None else html.escape(who)
    said = (f"About the pair {'you' if who is None else 'that was'} just answered (#{pair_id}, no longer on "
            f"screen): {you} said <b>{ANSWER_WORDS[answer]}</b>"
            + (" (not used for training)." if answer == "cant_tell" else "."))
    if members is None:
        return said + f" No predictor is trained yet: once one is, this line says whether it agreed with {you}."
    members = np.asarray(members, dtype=np.float64).reshape(-1)
    p = float(np.mean(members))
    favourite, sure = ("left" if p > 0.5 else "right"), max(p, 1.0 - p)
    even = sure < 0.55
    how = (f"it leaned slightly towards the {favourite} clip" if sure < 0.65 else
           f"it was {'fairly ' if sure < 0.85 else ''}sure the {favourite} clip was better")
    predictor = f"The predictor, {html.escape(note)}," if note else "The predictor"
    if answer in ("left", "right") and even:
        verdict = (f"{predictor} <b>could not tell the two apart</b> (it rated them about even), so this answer "
                   "teaches it something new.")
    elif answer in ("left", "right") and favourite == answer:
        verdict = f"{predictor} <b>agreed with {you}</b> on that pair ({how})."
    elif answer in ("left", "right"):
        verdict = f"{predictor} <b>expected the other clip</b> ({how}), so this answer teaches it something new."
    elif even:
        verdict = f"{predictor} also rated them <b>about even</b>."
    elif answer == "equal":
        verdict = f"{predictor} <b>expected one clip to be better</b> ({how})."
    else:
        verdict = f"{predictor} would have picked <b>the {favourite} clip</b> ({how})."
    if len(members) > 1 and members.min() < 0.5 < members.max():
        verdict += (f" Its {len(members)} networks (the ensemble's members) did not agree with each other: "
                    "labels on pairs like this one teach it the most.")
    return f"{said} {verdict}"


def refit_in_background(
    labeler: WidgetLabeler,
    fit: Callable[[list], Any],
    *,
    every: int = 5,
    min_pairs: int = 2,
    note: str = "trained on {n} of your labels",
) -> Callable[[Any], None]:
    """Retrain a predictor on the labeler's store every ``every`` answers, off the main thread, and attach it.

    ``fit(pairs) -> predictor`` gets ``labeler.store.pairs()`` (live labels, ``cant_tell`` dropped) and returns
    anything :meth:`WidgetLabeler.set_predictor` takes; ``note`` (with ``{n}``, the number of pairs) says what it
    was trained on. At most one fit runs at a time (answers that arrive meanwhile trigger one more fit), and
    the buttons stay responsive because training runs on a background thread. Returns the registered callback.
    """
    if not isinstance(every, int) or every < 1:
        raise ValueError(f"every={every!r} is not allowed: expected a whole number >= 1")
    state = {"since": 0, "running": False, "again": False}
    guard = threading.Lock()

    def work() -> None:
        while True:
            pairs = labeler.store.pairs()
            if len(pairs) >= min_pairs:
                try:
                    predictor = fit(pairs)
                except Exception as exc:
                    with labeler._lock:
                        labeler._error(f"retraining the predictor failed: {type(exc).__name__}: {exc}")
                else:
                    labeler.set_predictor(predictor, note.format(n=len(pairs)))
            with guard:
                if not state["again"]:
                    state["running"] = False
                    return
                state["again"] = False

    def on_label(_record: Any) -> None:
        with guard:
            state["since"] += 1
            if state["since"] < every:
                return
            state["since"] = 0
            if state["running"]:
                state["again"] = True
                return
            state["running"] = True
        threading.Thread(target=work, name="rlhf-refit", daemon=True).start()

    labeler.on_label(on_label)
    return on_label


def record_answer(record: Any) -> str:
    """The answer of a stored record (``PreferenceRecord.answer``)."""
    return getattr(record, "answer", None) or (record.get("answer") if isinstance(record, dict) else "")


# ---------------------------------------------------------------------------------------------- panels
class ConfigPanel:
    """Sliders for some fields of a :class:`~rlhf_lite.config.Config`, each with its help text beside it.

    Ranges come from the fields' ``param(low=..., high=...)`` metadata, so a slider can never offer a value
    the config would refuse; ``ranges={"field": (min, max[, step])}`` narrows one (it must stay inside what is
    allowed). ``config`` (a property) returns a new, validated config with the slider values; fields without a
    slider keep the values of the config (or class defaults) the panel was made from.
    """

    def __init__(
        self,
        config: config_lib.Config | type[config_lib.Config],
        fields: Sequence[str] | None = None,
        *,
        ranges: dict[str, tuple[float, ...]] | None = None,
        title: str | None = None,
    ):
        import ipywidgets as w

        self.cls = config if isinstance(config, type) else type(config)
        if not (isinstance(self.cls, type) and issubclass(self.cls, config_lib.Config)):
            raise ValueError(f"config={config!r} is not allowed: expected a Config subclass or instance")
        self.base = config if not isinstance(config, type) else self.cls()
        names = [f.name for f in dataclasses.fields(self.cls)]
        fields = None if fields is None else list(fields)
        if fields is None:  # every field a control can show; lists, None defaults and free text are left out
            fields = [f.name for f in dataclasses.fields(self.cls) if _has_control(f)]
        for name in fields:
            if name not in names:
                raise ValueError(f"{self.cls.__name__} has no field {name!r}; fields are {names}")
            if not _has_control(self.cls.field(name)):
                raise ValueError(f"{self.cls.__name__}.{name} has no slider (its default is "
                                 f"{self.cls.field(name).default!r}): expected a number, a bool or a field with choices")
        ranges = dict(ranges or {})
        for name in ranges:
            if name not in fields:
                raise ValueError(f"ranges names {name!r}, which is not one of the panel's fields {fields}")
        self.controls: dict[str, Any] = {}
        rows = []
        if title:
            rows.append(w.HTML(f"<b>{html.escape(title)}</b>"))
        self.message = w.HTML()
        self.message.add_class("rlhf-panel-message")
        self.boxes: dict[str, Any] = {}  # field -> the box beside a slider where a value can be typed
        label_width = f"{0.62 * max([len(n) for n in fields] + [6]) + 1:.1f}em"  # the sliders line up
        for name in fields:
            f = self.cls.field(name)
            control = _control_for(self.cls, f, getattr(self.base, name), ranges.get(name))
            if not isinstance(f.default, bool):
                control.style.description_width = label_width
            control.add_class(f"rlhf-param-{name}")
            control.observe(lambda _change: self._validate(), names="value")
            self.controls[name] = control
            items = [control]
            span = _slider_span(control)
            if span is not None:  # a slider: its own readout would clamp a typed value silently, so a box does
                control.readout = False
                box = w.Text(value=_show_number(control.value), continuous_update=False,
                             layout=w.Layout(width="80px"), tooltip=f"type a number from {span[0]:g} to {span[1]:g}")
                box.add_class(f"rlhf-value-{name}")
                control.observe(lambda change, box=box: setattr(box, "value", _show_number(change["new"])),
                                names="value")
                box.observe(lambda change, name=name: self._typed(name, change["new"]), names="value")
                self.boxes[name] = box
                items.append(box)
            help_text = html.escape(f.metadata.get("help", ""))
            allowed = (f"{span[0]:g} to {span[1]:g}" if span is not None  # what this slider offers
                       else "" if isinstance(f.default, bool) else config_lib.allowed(f))  # a tick box says it
            allowed = f" <span style='color:#888'>({html.escape(allowed)})</span>" if allowed else ""
            note = w.HTML(f"<span style='color:#444'>{help_text}{allowed}</span>", layout=w.Layout(margin="0 0 0 12px"))
            note.add_class("rlhf-help")
            rows.append(w.HBox(items + [note], layout=w.Layout(align_items="center")))
        rows.append(self.message)
        self.widget = watch_views(w.VBox(rows))
        self.widget.add_class("rlhf-panel")
        self._validate()

    def _typed(self, name: str, text: str) -> None:
        """A value typed into the box of slider ``name``: set the slider, or say what is allowed (never clamp)."""
        control, f = self.controls[name], self.cls.field(name)
        lo, hi = _slider_span(control)
        if _show_number(control.value) == text.strip():
            return  # the box was just updated from the slider
        where = f"{self.cls.__name__}.{name}"
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            self._say(f"{where}: {text!r} is not a number. Type a number from {lo:g} to {hi:g}.")
            return
        is_int = isinstance(f.default, int) and not isinstance(f.default, bool)
        try:
            config_lib.check_field(self.cls.__name__, f, int(value) if is_int and value.is_integer() else value)
        except ValueError as exc:
            self._say(f"{exc}. Type a number from {lo:g} to {hi:g}; the slider stays at {_show_number(control.value)}.")
            return
        if not lo - 1e-12 * max(1.0, abs(hi)) <= value <= hi + 1e-12 * max(1.0, abs(hi)):
            self._say(f"{where}={text.strip()} is outside this slider's range: type a number from {lo:g} to {hi:g} "
                      f"(the slider stays at {_show_number(control.value)}).")
            return
        control.value = int(round(value)) if is_int else value

    def _say(self, text: str) -> None:
        self.message.value = f"<span style='color:#b00'>{html.escape(text, quote=False)}</span>"

    @property
    def values(self) -> dict[str, Any]:
        """The slider values by field name (whole numbers as int)."""
        out = {}
        for name, control in self.controls.items():
            value = control.value
            default = self.cls.field(name).default
            if isinstance(default, int) and not isinstance(default, bool) and isinstance(value, float):
                value = int(round(value))
            out[name] = value
        return out

    @property
    def config(self) -> config_lib.Config:
        """A validated config with the current slider values (``ValueError`` names the culprit)."""
        return self.base.replace(**self.values)

    def observe(self, callback: Callable[[config_lib.Config], Any]) -> None:
        """Call ``callback(config)`` with the new validated config whenever a slider moves."""
        def handler(_change: Any) -> None:
            try:
                cfg = self.config
            except ValueError:
                return
            callback(cfg)

        for control in self.controls.values():
            control.observe(handler, names="value")

    def _validate(self) -> None:
        try:
            self.config
        except ValueError as exc:
            self.message.value = f"<span style='color:#b00'>{html.escape(str(exc))}</span>"
        else:
            self.message.value = ""

    def _repr_mimebundle_(self, **kwargs: Any) -> dict:
        bundle = dict(self.widget._repr_mimebundle_(**kwargs) or {})
        bundle["text/plain"] = f"{self.cls.__name__} panel: " + ", ".join(f"{k}={v!r}" for k, v in self.values.items())
        return bundle


def config_panel(config: Any, fields: Sequence[str] | None = None, **kwargs: Any) -> ConfigPanel:
    """Shorthand for :class:`ConfigPanel`."""
    return ConfigPanel(config, fields, **kwargs)


def _has_control(f: dataclasses.Field) -> bool:
    """Whether :func:`_control_for` can show this field: numbers, bools and fields with ``choices``."""
    if f.metadata.get("choices") is not None:
        return True
    return isinstance(f.default, (bool, int, float)) and f.default is not dataclasses.MISSING


def _control_for(cls: type, f: dataclasses.Field, value: Any, override: tuple[float, ...] | None) -> Any:
    """The widget for one field: a checkbox, a dropdown of choices, an int slider, or a (log) float slider."""
    import ipywidgets as w

    m = f.metadata
    owner = cls.__name__
    common = dict(description=f.name, style={"description_width": "initial"}, continuous_update=False,
                  layout=w.Layout(width="380px"))
    if isinstance(f.default, bool):
        common.pop("continuous_update")
        return w.Checkbox(value=bool(value), **common)
    if m.get("choices") is not None:
        common.pop("continuous_update")
        return w.Dropdown(options=list(m["choices"]), value=value, **common)
    is_int = isinstance(f.default, int)
    low, high = m.get("low"), m.get("high")
    value = float(value)
    if override is not None:
        if len(override) not in (2, 3):
            raise ValueError(f"ranges[{f.name!r}]={override!r} is not allowed: expected (min, max) or (min, max, step)")
        for end in override[:2]:
            config_lib.check_field(owner, f, int(end) if is_int else float(end))
        lo, hi = float(override[0]), float(override[1])
        if lo >= hi:
            raise ValueError(f"ranges[{f.name!r}]={override!r} is empty: expected min < max")
        step = override[2] if len(override) == 3 else None
        if is_int:
            return w.IntSlider(value=int(min(max(value, lo), hi)), min=int(lo), max=int(hi), step=int(step or 1), **common)
        step = float(step) if step else _nice_step((hi - lo) / 100)
        return _float_slider(w, value, lo, hi, step, common)

    # No override: the allowed range, open ends nudged inwards, unbounded ends and huge ranges cut to a
    # window around the current value (validation still allows the whole range; pass ranges= to change it).
    scale = max(abs(value), 1.0)
    lo = float(low) if low is not None else min(value, 0.0) - (0 if value >= 0 else scale)
    hi = float(high) if high is not None else max(value * 4, lo + 10 * (1 if is_int else 0.1 * scale))
    if is_int:
        lo_i = int(math.ceil(lo)) + (1 if m.get("low_open") and low is not None and float(low).is_integer() else 0)
        hi_i = int(math.floor(hi)) - (1 if m.get("high_open") and high is not None and float(high).is_integer() else 0)
        if hi_i - lo_i > 50 * scale:
            lo_i, hi_i = max(lo_i, int(value - 10 * scale)), min(hi_i, int(value + 10 * scale))
        return w.IntSlider(value=int(min(max(value, lo_i), hi_i)), min=lo_i, max=hi_i, step=1, **common)
    if value > 0 and (lo > 0 or (lo == 0 and m.get("low_open"))) and hi / max(lo, value / 1000) >= 100:
        # Learning rates and the like: a log slider gives each decade the same room (an open bound at 0
        # starts three decades below the value; at most three decades above it are shown).
        lo_l = math.log10(max(lo, value / 1000))
        hi_l = min(math.log10(hi), math.log10(value) + 3)
        if m.get("low_open") and lo > 0:
            lo_l += (hi_l - lo_l) / 100
        if m.get("high_open") and hi_l == math.log10(hi):
            hi_l -= (hi_l - lo_l) / 100
        v = min(max(value, 10 ** lo_l), 10 ** hi_l)
        return w.FloatLogSlider(value=v, base=10, min=lo_l, max=hi_l, step=(hi_l - lo_l) / 100,
                                readout_format=".2g", **common)
    if hi - lo > 50 * scale:
        lo, hi = max(lo, value - 10 * scale), min(hi, value + 10 * scale)
    step = _nice_step(min((hi - lo) / 100, abs(value) / 5 if value else math.inf))
    if m.get("low_open") and low is not None and lo == float(low):
        lo += step
    if m.get("high_open") and high is not None and hi == float(high):
        hi -= step
    return _float_slider(w, value, lo, hi, step, common)


def _slider_span(control: Any) -> tuple[float, float] | None:
    """``(lowest, highest)`` value a slider offers (a log slider's ends are powers of its base); else None."""
    if not hasattr(control, "min") or not hasattr(control, "max"):
        return None
    if hasattr(control, "base"):
        return float(control.base) ** control.min, float(control.base) ** control.max
    return float(control.min), float(control.max)


def _show_number(value: Any) -> str:
    """A slider value as the box beside it shows it: whole numbers plain, others to 4 significant digits."""
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return f"{float(value):.4g}"


def _float_slider(w: Any, value: float, lo: float, hi: float, step: float, common: dict) -> Any:
    decimals = max(0, -int(math.floor(math.log10(step)))) if step < 1 else 0
    return w.FloatSlider(value=min(max(value, lo), hi), min=lo, max=hi, step=step, readout_format=f".{decimals}f", **common)


def _nice_step(raw: float) -> float:
    """Round a step to 1, 2 or 5 times a power of ten, so slider readouts stay short."""
    if raw <= 0:
        return 1.0
    exp = math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * 10**exp:
            return m * 10**exp
    return 10 ** (exp + 1)
