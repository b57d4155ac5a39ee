"""The person in the loop, and stand-ins for them.

A labeler looks at two items (two clips, or two completions of one prompt: :mod:`rlhf_lite.items`) and answers
one of :data:`rlhf_lite.preferences.ANSWERS`. Every labeler
implements one protocol, :class:`Labeler` (``ask``, ``answers``, ``retracted``, ``room``, ``state`` /
``restore``, ``show_belief``), and the RLHF loop calls nothing else. Three kinds today:

- :class:`OracleLabeler`, the synthetic labeler of Christiano et al. (2017): it prefers the segment with the
  higher return under the true (or any given) reward, optionally Boltzmann-rational (a soft preference that
  makes close calls noisy) and with a rate of uniformly random answers (the paper assumed about 10%);
- :class:`ReplayLabeler`, which answers from a label file recorded earlier (headless runs, groups that skip
  labeling): the file says who really answered;
- the widget labeler, where the reader clicks (``rlhf_lite.widgets.WidgetLabeler``).

The first two answer at once and share :class:`SyncLabeler`, the one place where an answer becomes a
:class:`~rlhf_lite.preferences.PreferenceRecord` (:meth:`SyncLabeler.judge`, used by the widget's headless
stand-in too). :func:`label_pairs` asks one about a list of pairs and writes every answer to a
:class:`~rlhf_lite.preferences.LabelStore` as it comes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
from tqdm.auto import tqdm

from rlhf_lite import items
from rlhf_lite.preferences import LabelStore, PreferenceRecord, check_answer
from rlhf_lite.rollouts import Segment

RewardFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``reward_fn(observations [L, *obs_shape], actions [L, *act_shape]) -> rewards [L]``."""

__all__ = [
    "Labeler",
    "SyncLabeler",
    "NoisyLabeler",
    "check_labeler",
    "OracleLabeler",
    "ReplayLabeler",  # noqa: F822  (lazily from rlhf_lite.replay_labeler, see __getattr__)
    "ReplayExhaustedError",  # noqa: F822
    "label_pairs",
    "flip_answer",
]


@runtime_checkable
class Labeler(Protocol):
    """What every labeler does for a loop (oracle, replay, the widget, and the ones later lessons add).

    A loop asks about pairs, later collects the answers, and never needs to know who answers: a synchronous
    labeler (:class:`SyncLabeler`) answers inside :meth:`ask`, a person answers while the policy trains.
    """

    name: str
    """Who answers: written into every record."""

    def ask(
        self,
        pairs: Sequence[tuple[Any, Any]],
        meta: dict[str, Any] | None = None,
        *,
        store: LabelStore | None = None,
        env_id: str | None = None,
    ) -> None:
        """Ask about ``pairs`` ``[(left, right), ...]`` of items; ``meta`` goes into each record. ``store``: where a
        labeler that keeps no store of its own writes each answer (a widget writes to its own and ignores it)."""
        ...

    def answers(self, at_least: int = 0, timeout: float | None = None) -> list[PreferenceRecord]:
        """The answers given since the last call (in order), waiting for ``at_least`` of them (``timeout``
        seconds at most; None: as long as it takes)."""
        ...

    def retracted(self) -> set[str]:
        """Ids of the records taken back (undo) so far: they must not count."""
        ...

    def room(self, due: int, queue_limit: int) -> int:
        """How many of ``due`` pairs to ask now, when a person should have at most ``queue_limit`` waiting
        (a synchronous labeler takes all of them: nothing waits)."""
        ...

    def state(self) -> dict[str, Any]:
        """JSON-able state to answer on after a resume exactly as without the break."""
        ...

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from a :meth:`state`."""
        ...

    def show_belief(self, predict: Callable[[Any, Any], Any], note: str = "") -> None:
        """The current predictor, ``predict(left, right) -> P(left better)`` per member, and what it was
        trained on: shown where a person looks (a no-op where nobody does)."""
        ...


def check_labeler(labeler: Any) -> None:
    """Raise a ValueError naming what is missing unless ``labeler`` implements :class:`Labeler`."""
    missing = [
        m
        for m in ("ask", "answers", "retracted", "room", "state", "restore", "show_belief")
        if not callable(getattr(labeler, m, None))
    ]
    if not isinstance(getattr(labeler, "name", None), str) or missing:
        raise ValueError(
            f"labeler must implement rlhf_lite.labelers.Labeler (a 'name' string and ask, answers, retracted, room, "
            f"state, restore, show_belief), got {type(labeler).__name__} without {', '.join(missing) or 'name'}; "
            "a labeler that answers at once can subclass labelers.SyncLabeler and give label(left, right)"
        )


def flip_answer(answer: str) -> str:
    """The same judgement with the two items swapped: left <-> right; equal and cant_tell stay."""
    return {"left": "right", "right": "left"}.get(check_answer(answer), answer)


def _fmt(x: float) -> str:
    return f"{x:g}"


class SyncLabeler:
    """The labelers that answer at once, inside :meth:`ask` (an oracle, a replay, a simulated judge of text):
    subclasses give ``name`` and ``label(left, right) -> answer`` for two items of any kind, and may set
    ``last_source`` (which recorded answer answered) and override :meth:`state` / :meth:`restore`."""

    name: str = "labeler"

    def __init__(self) -> None:
        self.last_source: dict[str, Any] | None = None
        self._unclaimed: list[PreferenceRecord] = []  # answers not yet handed out by answers()

    def label(self, left: Any, right: Any) -> str:
        raise NotImplementedError

    def judge(self, left: Any, right: Any) -> tuple[Any, Any, str, float, dict[str, Any]]:
        """One answer: ``(left, right, answer, seconds, source)``, the items actually judged (a replayed answer
        about other items: those items, never a recorded answer next to items nobody saw), and ``source``
        (which recorded answer replied, for the record's ``meta``; empty for an oracle). The two items are
        checked with their kind's ``check_pair`` first."""
        items.check_pair(left, right)
        self.last_source = None
        t0 = time.perf_counter()
        answer = check_answer(self.label(left, right))
        seconds = time.perf_counter() - t0
        source = dict(self.last_source or {})
        if source and not source.get("same_clips", True):
            recorded = self._recorded(source["record"])
            (left, right), answer = recorded.items(), recorded.answer
        return left, right, answer, seconds, source

    def _recorded(self, record_id: str) -> PreferenceRecord:
        raise LookupError(f"{self.name} replays no recorded answers (asked for {record_id!r})")

    def ask(
        self,
        pairs: Sequence[tuple[Any, Any]],
        meta: dict[str, Any] | None = None,
        *,
        store: LabelStore | None = None,
        env_id: str | None = None,
        progress: bool = False,
    ) -> None:
        """Answer every pair now; each record is written to ``store`` (when given) as it comes (crash-safe)."""
        pairs = _check_pairs(pairs)
        if store is not None and not isinstance(store, LabelStore):
            raise ValueError(f"store must be a LabelStore or None, got {type(store).__name__}")
        for left, right in tqdm(
            pairs, desc=f"labels from {self.name}", unit="label", disable=not progress, leave=False
        ):
            left, right, answer, seconds, source = self.judge(left, right)
            record = PreferenceRecord.from_items(
                left, right, answer, self.name, seconds=seconds, env_id=env_id, meta={**(meta or {}), **source}
            )
            if store is not None:
                store.add_record(record)
            self._unclaimed.append(record)

    def answers(self, at_least: int = 0, timeout: float | None = None) -> list[PreferenceRecord]:
        """Every answer given since the last call (all pairs asked are answered already: no waiting)."""
        out, self._unclaimed = self._unclaimed, []
        return out

    def retracted(self) -> set[str]:
        return set()  # nobody takes an answer back

    def room(self, due: int, queue_limit: int) -> int:
        return due  # nothing waits in a queue

    def state(self) -> dict[str, Any]:
        return {}

    def restore(self, state: dict[str, Any]) -> None:
        pass

    def show_belief(self, predict: Callable[[Any, Any], Any], note: str = "") -> None:
        pass  # nobody looks


def _check_pairs(pairs: Sequence[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    pairs = list(pairs)
    for k, pair in enumerate(pairs):
        if not isinstance(pair, (tuple, list)) or len(pair) < 2:
            raise ValueError(f"pairs[{k}] must be a (left, right) pair of items, got {type(pair).__name__}")
        try:
            items.check_pair(pair[0], pair[1])
        except ValueError as e:
            raise ValueError(f"pairs[{k}]: {e}") from None
    return pairs


def _check_clips(who: str, left: Any, right: Any) -> None:
    if items.check_pair(left, right).name != "clip":
        raise ValueError(
            f"{who} judges clips by their return: got {items.kind_of(left).plural} (for text, use a labeler that "
            "judges text, e.g. rlhf_lite.lm's simulated labeler)"
        )


class NoisyLabeler(SyncLabeler):
    """A synchronous labeler with a seeded random stream ``rng`` (None if it never draws) and a count of its
    ``random_answers``; :meth:`state` / :meth:`restore` keep both, so a resumed run answers as without the break.
    Subclasses (the oracle, a simulated judge of text) call ``super().__init__(rng, needs_rng=..., why=...)``
    (``rng`` a Generator or an int seed; ``why`` says when one is needed) and use :meth:`random_answer`."""

    def __init__(self, rng: np.random.Generator | int | None, *, needs_rng: bool, why: str = "noise_prob > 0") -> None:
        super().__init__()
        who = type(self).__name__
        if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
            rng = np.random.default_rng(int(rng))
        if rng is None and needs_rng:
            raise ValueError(
                f"{who} needs rng=np.random.default_rng(seed) (or an int seed) when {why}, so that its random "
                "answers repeat from run to run"
            )
        if rng is not None and not isinstance(rng, np.random.Generator):
            raise ValueError(f"{who}.rng must be a numpy Generator or an int seed, got {type(rng).__name__}")
        self.rng = rng
        self.random_answers = 0

    def random_answer(self, noise_prob: float) -> str | None:
        """With probability ``noise_prob`` a uniformly random ``"left"`` / ``"right"`` (counted), else None."""
        if noise_prob > 0 and self.rng.random() < noise_prob:
            self.random_answers += 1
            return "left" if self.rng.random() < 0.5 else "right"
        return None

    def state(self) -> dict[str, Any]:
        """Its random stream (the noise) and how many answers were random."""
        state: dict[str, Any] = {"random_answers": self.random_answers}
        if self.rng is not None:
            state["rng"] = self.rng.bit_generator.state
        return state

    def restore(self, state: dict[str, Any]) -> None:
        if "rng" in state and self.rng is not None:
            self.rng.bit_generator.state = state["rng"]
        self.random_answers = state.get("random_answers", self.random_answers)


class OracleLabeler(NoisyLabeler):
    """A synthetic labeler that knows the reward: prefers the segment with the higher return.

    - ``reward_fn(observations [L, ...], actions [L, ...]) -> rewards [L]`` scores a segment; ``None`` uses
      the segment's true rewards. A custom reward lets the oracle ask for behaviour the environment's reward
      does not describe.
    - ``noise_prob``: the chance of a uniformly random answer, left or right with equal odds (a distracted
      person; the reward model's noise term assumes exactly this). Christiano et al. assumed about 0.1.
    - ``temperature``: 0 prefers the higher return outright; above 0 the oracle is Boltzmann-rational and says
      left with probability ``sigmoid((R_left - R_right) / temperature)``, so close calls go either way.
    - ``equal_tol``: returns within this distance are answered ``"equal"`` (unless the answer was random).

    ``rng`` (a ``np.random.Generator`` or an int seed) is needed when ``noise_prob > 0`` or
    ``temperature > 0``, so that runs repeat. ``name`` records the parameters, e.g.
    ``"oracle(noise=0.1, temperature=0)"``. ``random_answers`` counts the answers that were random.
    """

    def __init__(
        self,
        reward_fn: RewardFn | None = None,
        *,
        temperature: float = 0.0,
        noise_prob: float = 0.1,
        equal_tol: float = 0.0,
        rng: np.random.Generator | int | None = None,
        name: str | None = None,
    ) -> None:
        for field, value, ok, allowed in (
            ("temperature", temperature, lambda v: v >= 0, "a number >= 0"),
            ("noise_prob", noise_prob, lambda v: 0 <= v <= 1, "a number in [0, 1]"),
            ("equal_tol", equal_tol, lambda v: v >= 0, "a number >= 0"),
        ):
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not np.isfinite(value)
                or not ok(value)
            ):
                raise ValueError(f"OracleLabeler.{field}={value!r} is not allowed: expected {allowed}")
        if reward_fn is not None and not callable(reward_fn):
            raise ValueError(
                f"OracleLabeler.reward_fn must be None or a callable (obs, actions) -> rewards [L], "
                f"got {type(reward_fn).__name__}"
            )
        super().__init__(rng, needs_rng=noise_prob > 0 or temperature > 0, why="noise_prob > 0 or temperature > 0")
        self.reward_fn = reward_fn
        self.temperature = float(temperature)
        self.noise_prob = float(noise_prob)
        self.equal_tol = float(equal_tol)
        if name is None:
            parts = []
            if reward_fn is not None:
                parts.append(f"reward={getattr(reward_fn, '__name__', type(reward_fn).__name__)}")
            parts += [f"noise={_fmt(self.noise_prob)}", f"temperature={_fmt(self.temperature)}"]
            if self.equal_tol > 0:
                parts.append(f"equal_tol={_fmt(self.equal_tol)}")
            name = f"oracle({', '.join(parts)})"
        self.name = name

    def segment_return(self, segment: Segment) -> float:
        """The segment's return under the oracle's reward (true rewards if no ``reward_fn``)."""
        if self.reward_fn is None:
            return float(np.sum(segment.true_rewards))
        rewards = np.asarray(
            self.reward_fn(np.asarray(segment.observations), np.asarray(segment.actions)), dtype=np.float64
        )
        if rewards.shape != (len(segment),):
            raise ValueError(
                f"reward_fn returned shape {rewards.shape} for segment {segment.uid!r}: "
                f"expected one reward per step, ({len(segment)},)"
            )
        return float(np.sum(rewards))

    def probability_left(self, left: Segment, right: Segment) -> float:
        """Probability that this oracle answers ``"left"`` (random answers included)."""
        _check_clips("OracleLabeler", left, right)
        diff = self.segment_return(left) - self.segment_return(right)
        if abs(diff) <= self.equal_tol:
            p = 0.0  # answered "equal", never "left"
        elif self.temperature == 0:
            p = float(diff > 0)
        else:
            p = float(1.0 / (1.0 + np.exp(-np.clip(diff / self.temperature, -500, 500))))
        return (1 - self.noise_prob) * p + self.noise_prob / 2

    def label(self, left: Segment, right: Segment) -> str:
        """Answer ``"left"``, ``"right"`` or ``"equal"`` (the oracle always can tell)."""
        _check_clips("OracleLabeler", left, right)
        random_answer = self.random_answer(self.noise_prob)
        if random_answer is not None:
            return random_answer
        diff = self.segment_return(left) - self.segment_return(right)
        if abs(diff) <= self.equal_tol:
            return "equal"
        if self.temperature == 0:
            return "left" if diff > 0 else "right"
        p_left = 1.0 / (1.0 + np.exp(-np.clip(diff / self.temperature, -500, 500)))
        return "left" if self.rng.random() < p_left else "right"

    def __repr__(self) -> str:
        return f"OracleLabeler(name={self.name!r})"


def label_pairs(
    labeler: SyncLabeler,
    pairs: Sequence[tuple[Any, Any]],
    store: LabelStore | None,
    *,
    env_id: str | None = None,
    meta: dict[str, Any] | None = None,
    progress: bool = True,
) -> list[PreferenceRecord]:
    """Ask a synchronous ``labeler`` about each pair of items (clips, text) and write every answer to ``store`` at
    once (crash-safe).

    ``store=None`` keeps the records in memory only (quick experiments, benchmarks). Each record notes how
    many seconds the answer took and, for a replay labeler, which recorded answer it replayed. Returns the new
    records in order (:meth:`SyncLabeler.ask`, then :meth:`SyncLabeler.answers`).
    """
    if not isinstance(labeler, SyncLabeler):
        raise ValueError(
            f"labeler must be a SyncLabeler (an OracleLabeler, a ReplayLabeler, or a subclass with a 'name' and "
            f"label(left, right)), got {type(labeler).__name__}"
        )
    if store is not None and env_id is None and store.header is not None:
        env_id = store.header.get("env_id")
    labeler.answers()  # only this call's answers
    labeler.ask(pairs, meta, store=store, env_id=env_id, progress=progress)
    return labeler.answers()


def __getattr__(name: str) -> Any:
    """``labelers.ReplayLabeler`` and ``labelers.ReplayExhaustedError`` live in :mod:`rlhf_lite.replay_labeler`
    (imported lazily: that module builds on :class:`SyncLabeler`, defined here)."""
    if name in ("ReplayLabeler", "ReplayExhaustedError"):
        from rlhf_lite import replay_labeler

        return getattr(replay_labeler, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
