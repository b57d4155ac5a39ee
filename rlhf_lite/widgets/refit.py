"""Retraining the predictor beside the labeler: every few answers, on a background thread, so the buttons stay
responsive, and the belief line shows what the new predictor thinks."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

__all__ = ["refit_in_background", "record_answer"]


def refit_in_background(
    labeler: Any,
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
