"""The person in the loop, and stand-ins for them.

A labeler looks at two segments and answers one of :data:`rlhf_lite.preferences.ANSWERS`. Every labeler
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
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from tqdm.auto import tqdm

from rlhf_lite.preferences import LabelStore, PreferenceRecord, check_answer, check_pair
from rlhf_lite.rollouts import Segment

RewardFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``reward_fn(observations [L, *obs_shape], actions [L, *act_shape]) -> rewards [L]``."""

__all__ = [
    "Labeler",
    "SyncLabeler",
    "check_labeler",
    "OracleLabeler",
    "ReplayLabeler",
    "ReplayExhaustedError",
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
        pairs: Sequence[tuple[Segment, Segment]],
        meta: dict[str, Any] | None = None,
        *,
        store: LabelStore | None = None,
        env_id: str | None = None,
    ) -> None:
        """Ask about ``pairs`` ``[(left, right), ...]``; ``meta`` goes into each record. ``store``: where a
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

    def show_belief(self, predict: Callable[[Segment, Segment], Any], note: str = "") -> None:
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
    """The same judgement with the clips swapped: left <-> right; equal and cant_tell stay."""
    return {"left": "right", "right": "left"}.get(check_answer(answer), answer)


def _fmt(x: float) -> str:
    return f"{x:g}"


class SyncLabeler:
    """The labelers that answer at once, inside :meth:`ask` (an oracle, a replay): subclasses give
    ``name`` and ``label(left, right) -> answer``, and may set ``last_source`` (which recorded answer
    answered) and override :meth:`state` / :meth:`restore`."""

    name: str = "labeler"

    def __init__(self) -> None:
        self.last_source: dict[str, Any] | None = None
        self._unclaimed: list[PreferenceRecord] = []  # answers not yet handed out by answers()

    def label(self, left: Segment, right: Segment) -> str:
        raise NotImplementedError

    def judge(self, left: Segment, right: Segment) -> tuple[Segment, Segment, str, float, dict[str, Any]]:
        """One answer: ``(left, right, answer, seconds, source)``, the clips actually judged (a replayed answer
        about other clips: those clips, never a recorded answer next to clips nobody saw), and ``source``
        (which recorded answer replied, for the record's ``meta``; empty for an oracle)."""
        self.last_source = None
        t0 = time.perf_counter()
        answer = check_answer(self.label(left, right))
        seconds = time.perf_counter() - t0
        source = dict(self.last_source or {})
        if source and not source.get("same_clips", True):
            recorded = self._recorded(source["record"])
            (left, right), answer = recorded.segments(), recorded.answer
        return left, right, answer, seconds, source

    def _recorded(self, record_id: str) -> PreferenceRecord:
        raise LookupError(f"{self.name} replays no recorded answers (asked for {record_id!r})")

    def ask(
        self,
        pairs: Sequence[tuple[Segment, Segment]],
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
            record = PreferenceRecord.from_segments(
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

    def show_belief(self, predict: Callable[[Segment, Segment], Any], note: str = "") -> None:
        pass  # nobody looks


def _check_pairs(pairs: Sequence[tuple[Segment, Segment]]) -> list[tuple[Segment, Segment]]:
    pairs = list(pairs)
    for k, pair in enumerate(pairs):
        if not isinstance(pair, (tuple, list)) or len(pair) < 2:
            raise ValueError(f"pairs[{k}] must be a (left, right) pair of Segments, got {type(pair).__name__}")
        check_pair(pair[0], pair[1])
    return pairs


class OracleLabeler(SyncLabeler):
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
        if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
            rng = np.random.default_rng(int(rng))
        if rng is None and (noise_prob > 0 or temperature > 0):
            raise ValueError(
                "OracleLabeler needs rng=np.random.default_rng(seed) (or an int seed) when noise_prob > 0 or "
                "temperature > 0, so that its random answers repeat from run to run"
            )
        if rng is not None and not isinstance(rng, np.random.Generator):
            raise ValueError(f"OracleLabeler.rng must be a numpy Generator or an int seed, got {type(rng).__name__}")
        super().__init__()
        self.reward_fn = reward_fn
        self.temperature = float(temperature)
        self.noise_prob = float(noise_prob)
        self.equal_tol = float(equal_tol)
        self.rng = rng
        self.random_answers = 0
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
        check_pair(left, right)
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
        check_pair(left, right)
        if self.noise_prob > 0 and self.rng.random() < self.noise_prob:
            self.random_answers += 1
            return "left" if self.rng.random() < 0.5 else "right"
        diff = self.segment_return(left) - self.segment_return(right)
        if abs(diff) <= self.equal_tol:
            return "equal"
        if self.temperature == 0:
            return "left" if diff > 0 else "right"
        p_left = 1.0 / (1.0 + np.exp(-np.clip(diff / self.temperature, -500, 500)))
        return "left" if self.rng.random() < p_left else "right"

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

    def __repr__(self) -> str:
        return f"OracleLabeler(name={self.name!r})"


class ReplayExhaustedError(LookupError):
    """A :class:`ReplayLabeler` was asked for more answers than its file holds."""


class ReplayLabeler(SyncLabeler):
    """Answers from a label file recorded earlier (a :class:`~rlhf_lite.preferences.LabelStore` file).

    For each question it looks for an unused record about the same two segments (by uid, in either order; the
    answer is flipped if the clips are swapped); when none matches (``match="auto"``) it takes the next unused
    record in file order. ``match="uid"`` only matches by uid, ``match="order"`` only goes in order. Each
    record answers once; running out raises :class:`ReplayExhaustedError`. The file is only read, never written.

    ``name`` is ``"replay:<file name>"``; after each answer ``last_source`` says which record answered, who
    originally gave that answer and how it was matched (``label_pairs`` stores it in the record's ``meta``).
    """

    def __init__(self, path: str | Path, *, match: str = "auto", skip_bad: bool = False) -> None:
        if match not in ("auto", "uid", "order"):
            raise ValueError(f"ReplayLabeler.match={match!r} is not allowed: expected one of 'auto', 'uid', 'order'")
        self.path = Path(path)
        store = LabelStore(self.path, create=False, skip_bad=skip_bad)
        self.header = dict(store.header or {})
        self.records: list[PreferenceRecord] = store.labels()
        if not self.records:
            raise ValueError(f"replay file {self.path} holds no labels: expected at least one recorded answer")
        self.match = match
        self.name = f"replay:{self.path.name}"
        self.used = [False] * len(self.records)
        super().__init__()
        self._by_uids: dict[tuple[str, str], list[int]] = {}
        for i, r in enumerate(self.records):
            if all(r.uids):
                self._by_uids.setdefault(r.uids, []).append(i)
        self._next = 0

    @property
    def remaining(self) -> int:
        """How many recorded answers are still unused."""
        return self.used.count(False)

    def _take_by_uid(self, key: tuple[str, str]) -> int | None:
        for i in self._by_uids.get(key, []):
            if not self.used[i]:
                return i
        return None

    def label(self, left: Segment, right: Segment) -> str:
        """The recorded answer about ``(left, right)``."""
        check_pair(left, right)
        index, how, flipped = None, "", False
        if self.match in ("auto", "uid") and left.uid and right.uid:
            index = self._take_by_uid((left.uid, right.uid))
            how = "uid"
            if index is None:
                index = self._take_by_uid((right.uid, left.uid))
                flipped = index is not None
        if index is None and self.match in ("auto", "order"):
            while self._next < len(self.records) and self.used[self._next]:
                self._next += 1
            if self._next < len(self.records):
                index, how, flipped = self._next, "order", False
        if index is None:
            if self.match == "uid" and self.remaining:
                raise ReplayExhaustedError(
                    f"replay file {self.path} has no unused answer about segments {left.uid!r} and {right.uid!r} "
                    f"({self.remaining} unused answers are about other segments); "
                    "use match='auto' to fall back to file order"
                )
            raise ReplayExhaustedError(
                f"replay file {self.path} has run out: all {len(self.records)} recorded answers are used; "
                "ask for fewer labels or record more"
            )
        self.used[index] = True
        record = self.records[index]
        recorded_left, recorded_right = (record.right, record.left) if flipped else (record.left, record.right)
        self.last_source = {
            "replayed_from": self.path.name,
            "record": record.id,
            "original_labeler": record.labeler,
            "matched_by": how,
            # False when the recorded answer was about other clips (uids reused, or matched by order only)
            "same_clips": _same_clip(left, recorded_left) and _same_clip(right, recorded_right),
        }
        return flip_answer(record.answer) if flipped else record.answer

    def _recorded(self, record_id: str) -> PreferenceRecord:
        return next(r for r in self.records if r.id == record_id)

    def state(self) -> dict[str, Any]:
        """Which recorded answers are used."""
        return {"used": list(self.used)}

    def restore(self, state: dict[str, Any]) -> None:
        if "used" in state:
            if len(state["used"]) != len(self.used):
                raise ValueError(
                    f"the replay file has {len(self.used)} answers, the checkpoint used one with {len(state['used'])}"
                )
            self.used[:] = state["used"]

    def __repr__(self) -> str:
        return f"ReplayLabeler({str(self.path)!r}, {self.remaining}/{len(self.records)} answers left)"

    def describe(self) -> str:
        """One line for a notebook: what is replayed, who originally answered, what made the file."""
        by: dict[str, int] = {}
        for r in self.records:
            by[r.labeler] = by.get(r.labeler, 0) + 1
        who = ", ".join(f"{k} ({v})" for k, v in by.items())
        producer = self.header.get("producer", "unknown")
        return (
            f"Replaying {len(self.records)} recorded answers from {self.path.name} ({self.remaining} left), "
            f"answered by {who}; file made by {producer}."
        )


def _same_clip(segment: Segment, payload: dict[str, Any]) -> bool:
    obs = np.asarray(payload["observations"], dtype=np.float64)
    act = np.asarray(payload["actions"], dtype=np.float64)
    seg_obs = np.asarray(segment.observations, dtype=np.float64)
    seg_act = np.asarray(segment.actions, dtype=np.float64)
    return (
        obs.shape == seg_obs.shape
        and act.shape == seg_act.shape
        and bool(np.allclose(obs, seg_obs, rtol=1e-5, atol=1e-6))
        and bool(np.allclose(act, seg_act, rtol=1e-5, atol=1e-6))
    )


def label_pairs(
    labeler: SyncLabeler,
    pairs: Sequence[tuple[Segment, Segment]],
    store: LabelStore | None,
    *,
    env_id: str | None = None,
    meta: dict[str, Any] | None = None,
    progress: bool = True,
) -> list[PreferenceRecord]:
    """Ask a synchronous ``labeler`` about each pair and write every answer to ``store`` at once (crash-safe).

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
