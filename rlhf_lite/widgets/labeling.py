"""The person's box of the RLHF picture: the pair labeler.

:class:`WidgetLabeler` is the person's box of the RLHF picture. It shows two items side by side (two clips of
behaviour playing in a loop, or two completions of one prompt: any kind of :mod:`rlhf_lite.items`) and asks which
is better. Every click is written to a :class:`~rlhf_lite.preferences.LabelStore`
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
    ids = labeler.submit_pairs(pairs)      # [(left_item, right_item), ...] -> pair ids; queued, shown in order
    labeler.discard_pending()              # drop queued pairs not yet shown (e.g. clips of an outdated policy)
    records = labeler.wait_for_labels(5, timeout=30)   # >= 5 new answers (fewer on timeout), in click order
    answer = labeler.label(left, right)    # Labeler protocol; background threads only (blocks until clicked)
    labeler.on_label(fn)                   # fn(record) after every answer, on the thread that answered
    labeler.on_undo(fn)                    # fn(record_taken_back) after every undo
    labeler.set_predictor(ensemble, note="trained on 40 labels")  # belief shown after each answer
    refit_in_background(labeler, fit)      # or: retrain on the person's own labels (rlhf_lite.widgets.refit)
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

What it draws is in :mod:`rlhf_lite.widgets.screen`, whether a person is there in
:mod:`rlhf_lite.widgets.presence`; the DOM classes browser tests find are listed in :mod:`rlhf_lite.widgets`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from rlhf_lite import items
from rlhf_lite.clip_drawing import CLIP_HEIGHT
from rlhf_lite.widgets.presence import headless_reason
from rlhf_lite.widgets.refit import record_answer, refit_in_background
from rlhf_lite.widgets.screen import ANSWER_WORDS, LabelerScreen, _Pair

__all__ = ["WidgetLabeler", "record_answer", "refit_in_background"]


class WidgetLabeler(LabelerScreen):
    """Two items side by side and five buttons; every answer goes straight to disk. See the module docstring.

    ``store`` is a ``LabelStore`` or a path (opened, or created, as one). ``env_id`` re-draws clips of segments
    without frames (None for text). ``item`` is the kind of item labeled (``"clip"``, ``"text"``; default: the
    store's kind, else ``"clip"``): text shows the prompt once and the two completions side by side. ``name`` is
    who labels (written into every record). ``target`` is the number of live labels in the store the progress
    bar counts toward (labels beyond it are kept too). ``predictor`` is anything :meth:`set_predictor` takes.
    ``fallback`` answers in headless mode (default: the oracle with 10% noise, seeded by ``seed``; for text pass
    a synchronous labeler that judges text). ``question`` tells the person what "better" means for this task
    (default: the kind's). ``prefetch`` is how many queued pairs a background thread draws ahead (0: draw each
    pair when it is shown, on the caller's thread); ``clip_height`` is the clips' height in pixels (default
    :data:`CLIP_HEIGHT`), ``fps`` their frame rate (default: real time). ``legend`` explains what the clips show
    under them (default: the kind's, :func:`~rlhf_lite.clip_drawing.clip_legend` for clips, e.g. Pendulum's
    torque arrow; ``""`` for none). ``skip_bad=True`` opens a path's label file skipping bad lines with a
    warning (what the store's error about a damaged line advises).

    "Can't tell" answers are stored and count toward ``target`` (they cost the person a judgement just like a
    clear answer, and a loop's label budget counts every answer), but they are not used for training; the
    counter says how many of the labels they are.
    """

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
        question: str | None = None,
        clip_height: int = CLIP_HEIGHT,
        fps: float | None = None,
        prefetch: int = 16,
        seed: int = 0,
        legend: str | None = None,
        skip_bad: bool = False,
        item: str | None = None,
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
        from rlhf_lite import labelers

        if fallback is not None and not isinstance(fallback, labelers.SyncLabeler):
            raise ValueError(
                f"WidgetLabeler.fallback={type(fallback).__name__} is not allowed: expected None or a labeler that "
                "answers at once (an OracleLabeler, a ReplayLabeler, or a labelers.SyncLabeler subclass)"
            )
        self.fallback = fallback
        if self.headless and self.fallback is None:
            self.fallback = labelers.OracleLabeler(noise_prob=0.1, rng=np.random.default_rng(seed))
        if isinstance(store, preferences.LabelStore):
            self.store = store
        else:  # a new file's header says who fills it: the person clicking, or the stand-in of a headless run
            who = (
                f"{self.fallback_name}, standing in because no person was labeling ({self.headless_reason})"
                if self.headless
                else f"clicks of {self.name!r} in the rlhf_lite WidgetLabeler"
            )
            self.store = preferences.LabelStore(
                Path(store), env_id=env_id, producer=f"rlhf_lite WidgetLabeler: {who}", skip_bad=skip_bad, item=item
            )
        held = self.store.item_kind
        if item is not None and held is not None and item != held:
            raise ValueError(f"WidgetLabeler.item={item!r}, but {self.store.path} holds {held} labels")
        self.kind = items.get_kind(item or held or "clip")
        if self.headless and fallback is None and self.kind.name != "clip":
            raise ValueError(
                f"no person can label here ({self.headless_reason}), and the default stand-in (an oracle) judges "
                f"clips: pass fallback=, a synchronous labeler that judges {self.kind.plural}"
            )
        self.target = int(target)
        self.question = self.kind.question if question is None else question
        self.clip_height = int(clip_height)
        self.legend = (self.kind.legend(env_id) or "") if legend is None else str(legend)
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

    def summary(self) -> str:
        """One paragraph in plain words: where labels go, how many, and who answers (shown in headless logs)."""
        who = (
            f"you ({self.name}) click the buttons"
            if not self.headless
            else (f"NO PERSON IS LABELING: {self.headless_reason}; answers come from {self.fallback_name}")
        )
        return (
            f"WidgetLabeler: {self.n_labels} / {self.target} labels in {self.store.path}; {who}. "
            f"{self.n_pending} pair(s) waiting."
        )

    @property
    def fallback_name(self) -> str:
        """Who answers in headless mode (the fallback's name)."""
        return "no stand-in" if self.fallback is None else self.fallback.name

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

    def submit_pairs(self, pairs: Iterable[tuple[Any, Any]], meta: dict | None = None) -> list[int]:
        """Queue pairs ``[(left, right), ...]`` of items of this labeler's kind to be shown in order; returns their
        pair ids. Thread-safe.

        Returns at once. In headless mode the fallback answers each pair before this returns.
        ``meta`` (e.g. ``{"round": 3, "selection": "active"}``) is stored with each record.
        """
        pairs = list(pairs)
        for i, pair in enumerate(pairs):
            if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
                raise ValueError(f"pairs[{i}]={type(pair).__name__} is not allowed: expected a (left, right) tuple")
            try:
                kind = items.check_pair(*pair)  # e.g. clips of the same length and shapes: compared fairly
            except ValueError as exc:
                raise ValueError(f"pairs[{i}]: {exc}") from None
            if kind is not self.kind:
                raise ValueError(
                    f"pairs[{i}] holds {kind.plural}, but this labeler shows {self.kind.plural} "
                    f"(WidgetLabeler(item={kind.name!r}) shows {kind.plural})"
                )
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

    # ------------------------------------------------------------------ the Labeler protocol (rlhf_lite.labelers)
    def ask(
        self,
        pairs: Iterable[tuple[Any, Any]],
        meta: dict | None = None,
        *,
        store: Any = None,
        env_id: str | None = None,
    ) -> None:
        """Queue the pairs for the person (:meth:`submit_pairs`); every answer goes to this labeler's own
        store, so ``store`` and ``env_id`` are not used."""
        self.submit_pairs(pairs, meta=meta)

    def answers(self, at_least: int = 0, timeout: float | None = None) -> list[Any]:
        """The answers given since the last call (:meth:`wait_for_labels`)."""
        return self.wait_for_labels(at_least, timeout=timeout)

    def retracted(self) -> set[str]:
        """Ids of the answers the person took back with undo (in this session or an earlier one)."""
        return self.store.retracted_ids()

    def room(self, due: int, queue_limit: int) -> int:
        """Keep the person's queue short (clips of the latest policy): at most ``queue_limit`` waiting."""
        return max(0, min(due, queue_limit - self.n_pending))

    def state(self) -> dict[str, Any]:
        return {}  # everything is in the store, on disk at every click

    def restore(self, state: dict[str, Any]) -> None:
        pass

    def show_belief(self, predict: Any, note: str = "") -> None:
        """The belief line after each answer (:meth:`set_predictor`)."""
        self.set_predictor(predict, note)

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

    def label(self, left: Any, right: Any) -> str:
        """Show one pair, block until it is answered, return the answer.

        From a background thread only (see the module docstring); in headless mode the fallback answers.
        The answer is already in the store when this returns.
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
                "preference_probability(lefts, rights), a function (left, right) -> probability, or None"
            )
        with self._lock:
            self._predictor = predictor
            self._predictor_note = note

    def belief(self, left: Any, right: Any) -> np.ndarray | None:
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
        # The one way a synchronous labeler answers (labelers.SyncLabeler.judge): a replayed answer about
        # other clips comes back with the clips that were actually judged, and says where it came from.
        pair.left, pair.right, answer, seconds, source = self.fallback.judge(pair.left, pair.right)
        pair.meta.update(source)
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
                self._error(
                    f"on_label callback {getattr(callback, '__name__', callback)!r} failed: "
                    f"{type(exc).__name__}: {exc} (the label itself is saved)"
                )

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
            self.belief_label.value = (
                f"Took back <i>{ANSWER_WORDS.get(record_answer(record), '?')}</i> for pair #{pair.id}: answer it again."
            )
            self._changed.notify_all()
        for callback in list(self._on_undo):
            try:
                callback(retraction)
            except Exception as exc:
                self._error(f"on_undo callback failed: {type(exc).__name__}: {exc} (the undo itself is saved)")

    def _write(self, pair: _Pair, answer: str, seconds: float, labeler: str) -> Any:
        meta = dict(pair.meta, pair_id=pair.id)
        return self.store.add(
            pair.left,
            pair.right,
            answer,
            labeler=labeler,
            seconds=round(float(seconds), 3),
            env_id=self.env_id,
            meta=meta,
        )

    def _retract(self, record: Any) -> Any:
        # Retract exactly the record this session wrote (another writer may have appended since).
        return self.store.retract(record.id, labeler=record.labeler)

    def _refuse_main_thread(self, what: str) -> None:
        if threading.current_thread() is threading.main_thread():
            raise RuntimeError(
                f"WidgetLabeler.{what}() would block the kernel's main thread, which is the thread that delivers "
                "the button clicks it waits for: the notebook would freeze. Call it from a background thread "
                "(threading.Thread), or use submit_pairs() with on_label() on the main thread."
            )
