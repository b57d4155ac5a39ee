"""The RLHF loop's live dashboard: true return, predicted return and labels used, redrawn after every round.

:class:`Dashboard` is a callback for :meth:`rlhf_lite.loop.RLHFLoop.run` (or ``start`` in a background
thread). In a notebook it shows an ``ipywidgets.Image`` that is replaced in place, which works from any
thread, so a loop training beside a person labeling can keep the picture current. :func:`plot_history` draws
the same three panels from saved histories, for a static figure (and for headless runs).
"""

from __future__ import annotations

import html
import io
import math
import textwrap
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from rlhf_lite.widgets import presence

if TYPE_CHECKING:
    from rlhf_lite import widgets


def _values(history: Sequence[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    """``(env_steps, values)`` of the entries where ``key`` was measured."""
    rows = [(e["env_steps"], e[key]) for e in history if e.get(key) is not None and math.isfinite(e[key])]
    if not rows:
        return np.zeros(0), np.zeros(0)
    x, y = zip(*rows)
    return np.asarray(x, dtype=float), np.asarray(y, dtype=float)


def plot_history(
    runs: dict[str, Sequence[dict]],
    *,
    fig: Any = None,
    true_label: str = "true return (greedy policy)",
    title: str | None = None,
):
    """Three panels for one or more runs ``{name: history}``: the true return (evaluation only), the
    predicted return (what PPO maximised, in the reward model's normalised units) and the labels used,
    each against environment steps. Returns a matplotlib ``Figure`` (not shown; the caller owns it)."""
    from matplotlib.figure import Figure

    fig = fig or Figure(figsize=(12, 3.4), layout="constrained")
    axes = fig.subplots(1, 3)
    for name, history in runs.items():
        x, y = _values(history, "true_return")
        if not len(x):
            x, y = _values(history, "train_true_return")
        axes[0].plot(x, y, marker="o", markersize=3, label=name)
        x, y = _values(history, "predicted_return")
        if len(x):
            axes[1].plot(x, y, marker="o", markersize=3, label=name)
        x, y = _values(history, "labels")
        if len(x) and y.max() > 0:
            axes[2].step(x, y, where="post", label=name)
    for ax, ylabel, what in zip(
        axes,
        (true_label, "predicted return (normalised units)", "labels used so far"),
        ("What we want (the learner never sees it)", "What the policy was trained on", "Human feedback spent"),
    ):
        ax.set_xlabel("environment steps")
        ax.set_ylabel(axis_label(ylabel))
        ax.set_title(what, fontsize=10)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    _whole_numbers(axes[2].yaxis)
    axes[2].set_ylim(bottom=0)
    if title:
        fig.suptitle(title)
    return fig


def axis_label(text: str, width: int = 32) -> str:
    """``text`` wrapped onto lines of at most ``width`` characters, so a long axis label is never cut off."""
    return "\n".join(textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False)) or text


def _whole_numbers(axis: Any) -> None:
    """Ticks at whole numbers only (labels are counted, never 1.925 of them)."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def plot_label_efficiency(
    results: dict[str, Sequence[tuple[int, float]]],
    *,
    ylabel: str = "true return after training",
    baseline: float | None = None,
    baseline_label: str = "PPO on the true reward",
):
    """Final true return against labels used, one line per query strategy: ``{"random": [(labels, return), ...]}``."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.6), layout="constrained")
    ax = fig.add_subplot()
    for name, points in results.items():
        labels, returns = zip(*sorted(points))
        ax.plot(labels, returns, marker="o", label=f"{name} queries")
    if baseline is not None:
        ax.axhline(baseline, color="gray", linestyle="--", label=baseline_label)
    ax.set_xlabel("labels used")
    ax.set_ylabel(axis_label(ylabel))
    _whole_numbers(ax.xaxis)
    ax.set_title("Label efficiency")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


class Dashboard:
    """A live view of a running loop: call it with each history entry (it is the loop's ``callback``).

    ``compare`` adds finished runs to the picture (e.g. ``{"PPO on the true reward": history}``). Redraws at
    most every ``min_interval`` seconds (a PNG costs tens of milliseconds the loop would rather train with);
    :meth:`close` draws the final picture. Outside a notebook it only records.

    ``labeler`` (a :class:`~rlhf_lite.widgets.WidgetLabeler`) and ``first_labels`` (the loop's
    ``schedule[0]``) say what the loop waits for before its first round: until then the status line reads
    "waiting for your first 12 labels (3 given)" and follows every click, instead of a bare "waiting".
    """

    def __init__(
        self,
        name: str = "RLHF",
        *,
        compare: dict[str, Sequence[dict]] | None = None,
        true_label: str = "true return (greedy policy)",
        min_interval: float = 1.0,
        labeler: widgets.WidgetLabeler | None = None,
        first_labels: int | None = None,
    ):
        if first_labels is not None and (not isinstance(first_labels, int) or first_labels < 0):
            raise ValueError(
                f"first_labels={first_labels!r} is not allowed: expected a whole number >= 0 "
                "(the labels the loop asks before its first round: loop.schedule[0])"
            )
        self.name, self.compare, self.true_label, self.min_interval = (
            name,
            dict(compare or {}),
            true_label,
            min_interval,
        )
        self.labeler, self.first_labels = labeler, first_labels
        self.history: list[dict] = []
        self.error: str | None = None
        self.redraws = 0
        self._last = -math.inf
        self._lock = threading.Lock()
        self.widget = None
        if presence.running_kernel() is not None:
            import ipywidgets as w

            self._status = w.HTML("waiting for the first round&hellip;")
            self._status.add_class("rlhf-dashboard-status")
            # hidden until the first picture is drawn: an empty image shows as a broken-image icon
            self._image = w.Image(format="png", layout=w.Layout(width="100%", display="none"))
            self.widget = w.VBox([self._status, self._image])
            self.widget.add_class("rlhf-dashboard")
            self._show_status()
        if labeler is not None:  # keep the waiting line current with every click (and undo)
            labeler.on_label(lambda _record: self._show_status())
            labeler.on_undo(lambda _record: self._show_status())

    def __call__(self, entry: dict) -> bool:
        with self._lock:
            if "error" in entry:
                self.error = entry["error"]
            else:
                self.history.append(entry)
        if self.error or time.monotonic() - self._last >= self.min_interval:
            self.draw()
        else:
            self._show_status()  # the one-line status is cheap: always current, only the picture waits
        return False

    def status(self) -> str:
        """One line: round, labels, steps, returns (or the error that stopped the loop)."""
        if self.error:
            return f"The loop stopped with an error: {self.error}"
        if not self.history:
            return self._waiting()
        e = self.history[-1]
        parts = [f"round {e['round']}", f"{e['labels']} labels", f"{e['env_steps']:,} env steps"]
        if e.get("true_return") is not None:  # named as the left panel is ("spin criterion", not "true return")
            what = self.true_label.split(" (")[0] if self.true_label != "true return (greedy policy)" else "true return"
            parts.append(f"{what} {e['true_return']:.1f}")
        if e.get("new_label_accuracy") is not None:
            parts.append(
                f"predictor agreed with {100 * e['new_label_accuracy']:.0f}% of the new labels before training on them"
            )
        parts.append(f"{e['seconds']:.0f} s")
        line = ", ".join(parts)
        pending = self._person_pending()
        if pending:
            line += f"; {pending} pair(s) above wait for your answer"
        return line

    def _person_pending(self) -> int:
        """Pairs a person has on screen or queued (0 without a labeler, or when a stand-in answers)."""
        if self.labeler is None or self.labeler.headless:
            return 0
        return self.labeler.n_pending

    def _waiting(self) -> str:
        """What the loop waits for before its first round, in words."""
        if self.labeler is None or self.first_labels is None:
            return "waiting for the first round..."
        n, given = self.first_labels, self.labeler.n_labels
        if self.labeler.headless:
            who = self.labeler.fallback_name
            return f"waiting for the first {n} labels from the stand-in ({who}): {min(given, n)} given"
        if given < n:
            return (
                f"waiting for your first {n} labels ({given} given): label the pairs above; the first round "
                "of training starts after them"
            )
        return f"your first {n} labels are in: fitting the reward predictor and scoring the first policy..."

    def figure(self):
        with self._lock:
            runs = {self.name: list(self.history), **self.compare}
        return plot_history(runs, true_label=self.true_label)

    def draw(self) -> None:
        self._last = time.monotonic()
        if self.widget is None:
            return
        fig = self.figure()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80)
        self._show_status()
        self._image.value = buf.getvalue()
        self._image.layout.display = None
        self.redraws += 1

    def _show_status(self) -> None:
        if self.widget is not None:
            color = "#b00" if self.error else "#333"
            self._status.value = f"<span style='color:{color}'>{html.escape(self.status())}</span>"

    def close(self) -> None:
        """Draw the final picture."""
        self.draw()

    def _repr_mimebundle_(self, **kwargs: Any) -> dict:
        if self.widget is None:
            return {"text/plain": f"Dashboard({self.status()})"}
        bundle = dict(self.widget._repr_mimebundle_(**kwargs) or {})
        bundle["text/plain"] = f"Dashboard: {self.status()}"
        return bundle
