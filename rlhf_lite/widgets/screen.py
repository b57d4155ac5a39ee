"""What a :class:`~rlhf_lite.widgets.labeling.WidgetLabeler` shows: the layout, the pair on screen (two clips, two
completions of one prompt: whatever the item kind's view shows, :mod:`rlhf_lite.items`), the counters and the
belief line, drawn ahead by a prefetch thread.

:class:`LabelerScreen` is the drawing half of the labeler: a base class that holds no state of its own. The queue,
the lock and the settings it reads are set up by ``WidgetLabeler.__init__``; the answers and the store live in
:mod:`rlhf_lite.widgets.labeling`.
"""

from __future__ import annotations

import dataclasses
import html
import statistics
import threading
import time
from typing import Any

import numpy as np

# (answer, button text, DOM class, button style, tooltip)
ANSWER_BUTTONS: tuple[tuple[str, str, str, str, str], ...] = (
    ("left", "Left is better", "rlhf-left", "info", "The LEFT one is better"),
    ("right", "Right is better", "rlhf-right", "info", "The RIGHT one is better"),
    ("equal", "Equally good", "rlhf-equal", "", "Both are about as good as each other"),
    (
        "cant_tell",
        "Can't tell",
        "rlhf-cant-tell",
        "",
        "Not sure: this pair is not used for training, but it counts as one of your labels",
    ),
)
ANSWER_WORDS = {
    "left": "left is better",
    "right": "right is better",
    "equal": "equally good",
    "cant_tell": "can't tell",
}


@dataclasses.dataclass
class _Pair:
    id: int
    left: Any  # two items of the labeler's kind (rlhf_lite.items)
    right: Any
    meta: dict
    drawn: tuple[Any, Any] | None = None  # what the kind's view shows of each (a clip's GIF), drawn ahead
    shown_at: float | None = None
    render_lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)


class LabelerScreen:
    """The drawing half of :class:`~rlhf_lite.widgets.labeling.WidgetLabeler` (see the module docstring)."""

    def _build(self) -> None:
        import ipywidgets as w

        self.title = w.HTML(f"<b>{html.escape(self.question)}</b>")
        self.view = self.kind.pair_view(height=self.clip_height)  # the kind's widgets: two clips, two texts...
        self.clip_left, self.clip_right = self.view.left, self.view.right
        clips = self.view.widget
        self.legend_label = w.HTML(
            f"<span style='color:#555;font-size:90%'>{html.escape(self.legend)}</span>" if self.legend else "",
            layout=w.Layout(max_width="640px", margin="0 0 6px 0"),
        )
        self.legend_label.add_class("rlhf-legend")
        self.buttons: dict[str, Any] = {}
        for answer, text, css, style, tip in ANSWER_BUTTONS:
            b = w.Button(
                description=text, button_style=style, tooltip=tip, layout=w.Layout(width="auto", margin="0 6px 0 0")
            )
            b.add_class(css)
            b.on_click(lambda _b, a=answer: self._on_click(a))
            self.buttons[answer] = b
        self.undo_button = w.Button(
            description="Undo",
            icon="undo",
            tooltip="Take back your last answer",
            button_style="warning",
            layout=w.Layout(width="auto", margin="0 0 0 18px"),
        )
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
        counts = w.HBox(
            [self.progress, self.counter, self.timing, self.pair_label],
            layout=w.Layout(align_items="center", flex_flow="row wrap"),
        )
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

    # ------------------------------------------------------------------ showing pairs
    def _show_next(self) -> None:
        # caller holds the lock. With a prefetch thread, a pair whose clips are not drawn yet is left for that
        # thread to show when ready, so a click (or submit_pairs) never waits for drawing.
        if self._current is not None or not self._queue:
            return
        pair = self._queue[0]
        if pair.drawn is None and self.prefetch > 0:
            self._start_worker()
            self._changed.notify_all()
            return
        try:
            self._ensure_drawn(pair)
        except Exception as exc:
            self._error(f"could not draw pair #{pair.id}: {type(exc).__name__}: {exc}")
            raise
        self._queue.pop(0)
        self.view.show(pair.left, pair.right, pair.drawn)
        self._current = pair
        pair.shown_at = time.monotonic()
        self._changed.notify_all()  # wakes the prefetch thread and wait_until_shown

    def _blank_clips(self) -> None:
        # caller holds the lock. With no pair on screen, the last pair must not stay: a person would take it for
        # a pair to judge. The kind's view blanks itself (clips: grey frames of the same size, no layout jump).
        if not self.headless:
            self.view.blank()

    def _ensure_drawn(self, pair: _Pair) -> None:
        with pair.render_lock:
            if pair.drawn is None:
                draw = self.kind.render
                pair.drawn = (
                    draw(pair.left, env_id=self.env_id, fps=self.fps, height=self.clip_height),
                    draw(pair.right, env_id=self.env_id, fps=self.fps, height=self.clip_height),
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
                    todo = next((p for p in self._queue[: self.prefetch] if p.drawn is None), None)
                    if todo is None:
                        self._changed.wait(timeout=1.0)
            try:
                self._ensure_drawn(todo)
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
        self.counter.value = f"<b>{n} / {target}</b> labels{unsure}" + (
            " &mdash; target reached" if n >= target else ""
        )
        if self._seconds:
            self.timing.value = (
                f"last {self._seconds[-1]:.1f} s, median {statistics.median(self._seconds):.1f} s per label"
            )
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
                f"in <code>{html.escape(str(self.store.path))}</code>."
            )
        elif self._current is not None:
            self.status.value = (
                f"{html.escape(self.kind.instruction)} Every answer is saved at once to "
                f"<code>{html.escape(str(self.store.path))}</code>. &ldquo;Can&rsquo;t tell&rdquo; "
                "is not used for training, but it counts as one of your labels."
            )
        elif self._queue:
            self.status.value = "Drawing the next pair&hellip;"
        else:
            self.status.value = (
                "Waiting for pairs to label&hellip;"
                if n < target
                else "Done: target reached. More pairs show here if any are submitted."
            )

    def _show_belief(self, pair: _Pair, answer: str) -> None:
        try:
            members = self.belief(pair.left, pair.right)
        except Exception as exc:
            self.belief_label.value = (
                f"The predictor failed on the pair just answered (#{pair.id}): "
                f"{html.escape(type(exc).__name__)}: {html.escape(str(exc))}"
            )
            return
        who = None if not self.headless else f"the stand-in ({self.fallback_name})"
        self.belief_label.value = belief_sentence(
            pair.id, answer, members, self._predictor_note, who=who, noun=self.kind.noun
        )

    def _error(self, message: str) -> None:
        self.errors.append(message)
        self.status.value = f"<span style='color:#b00'><b>Error:</b> {html.escape(message)}</span>"


def belief_sentence(
    pair_id: int, answer: str, members: Any, note: str = "", *, who: str | None = None, noun: str = "clip"
) -> str:
    """The belief line in plain words (HTML): what the predictor expected about the pair just answered.

    ``members`` is P(left better) per ensemble member ``[M]`` (None: no predictor yet); ``note`` says what the
    predictor was trained on (e.g. ``"trained on 4 labels"``); ``who`` answered (None: the person, "you");
    ``noun`` names one item ("clip", "completion").
    The line is about the *previous* pair (the one on screen is new), so it names that pair and says so.
    """
    you = "you" if who is None else html.escape(who)
    said = (
        f"About the pair {'you' if who is None else 'that was'} just answered (#{pair_id}, no longer on "
        f"screen): {you} said <b>{ANSWER_WORDS[answer]}</b>"
        + (" (not used for training)." if answer == "cant_tell" else ".")
    )
    if members is None:
        return said + f" No predictor is trained yet: once one is, this line says whether it agreed with {you}."
    members = np.asarray(members, dtype=np.float64).reshape(-1)
    p = float(np.mean(members))
    favourite, sure = ("left" if p > 0.5 else "right"), max(p, 1.0 - p)
    even = sure < 0.55
    how = (
        f"it leaned slightly towards the {favourite} {noun}"
        if sure < 0.65
        else f"it was {'fairly ' if sure < 0.85 else ''}sure the {favourite} {noun} was better"
    )
    predictor = f"The predictor, {html.escape(note)}," if note else "The predictor"
    if answer in ("left", "right") and even:
        verdict = (
            f"{predictor} <b>could not tell the two apart</b> (it rated them about even), so this answer "
            "teaches it something new."
        )
    elif answer in ("left", "right") and favourite == answer:
        verdict = f"{predictor} <b>agreed with {you}</b> on that pair ({how})."
    elif answer in ("left", "right"):
        verdict = f"{predictor} <b>expected the other {noun}</b> ({how}), so this answer teaches it something new."
    elif even:
        verdict = f"{predictor} also rated them <b>about even</b>."
    elif answer == "equal":
        verdict = f"{predictor} <b>expected one {noun} to be better</b> ({how})."
    else:
        verdict = f"{predictor} would have picked <b>the {favourite} {noun}</b> ({how})."
    if len(members) > 1 and members.min() < 0.5 < members.max():
        verdict += (
            f" Its {len(members)} networks (the ensemble's members) did not agree with each other: "
            "labels on pairs like this one teach it the most."
        )
    return f"{said} {verdict}"
