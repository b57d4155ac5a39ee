"""Human feedback as data: preference records, and the answer-to-target table.

A *preference* says which of two items a labeler liked better: one of :data:`ANSWERS`. An item is anything of a
registered kind (:mod:`rlhf_lite.items`): a clip of behaviour (:class:`rlhf_lite.rollouts.Segment`) in the
control lessons, a text completion (:class:`rlhf_lite.items.TextItem`) in the language-model lesson.
Christiano et al. (2017) keep every answer in a database of triples ``(segment_1, segment_2, mu)``; here that
database is a :class:`~rlhf_lite.label_store.LabelStore` (in :mod:`rlhf_lite.label_store`;
``preferences.LabelStore`` still works), a file of JSON lines, one :class:`PreferenceRecord` per answer, carrying
both items' payloads (a clip's observations and actions, a completion's prompt and text), so the reward predictor
can be retrained from the file alone. Undo appends a *retraction* (:class:`Retraction`).

:func:`to_pairs` turns records into training data for the reward model (targets 1 / 0 / 0.5 for left / right /
equal; ``cant_tell`` carries no information about which is better and is dropped). Choosing which pairs to ask
is in :mod:`rlhf_lite.pair_selection` (``preferences.random_pairs``, ``active_pairs``, ``spread_pairs``,
``observation_distance``, ``observation_scale`` still work).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import uuid
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from rlhf_lite import items as _items
from rlhf_lite.item_clips import segment_from_payload, segment_payload
from rlhf_lite.pair_selection import active_pairs, observation_distance, observation_scale, random_pairs, spread_pairs
from rlhf_lite.rollouts import Segment

ANSWERS = ("left", "right", "equal", "cant_tell")
"""What a labeler may answer: the left clip is better, the right one, both equally good, or can't tell."""

TARGETS = {"left": 1.0, "right": 0.0, "equal": 0.5}
"""Training target per answer: the probability that the *left* segment is preferred. ``cant_tell`` has none."""

__all__ = [
    "ANSWERS",
    "TARGETS",
    "PreferenceRecord",
    "Retraction",
    "PreferencePair",
    "segment_payload",
    "segment_from_payload",
    "to_pairs",
    "stack_pairs",
    "random_pairs",
    "active_pairs",
    "spread_pairs",
    "observation_distance",
    "observation_scale",
    "check_answer",
    "check_pair",
]


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")


def _new_id() -> str:
    return uuid.uuid4().hex[:16]


# --------------------------------------------------------------------------------------------------------------
# Validation helpers


def check_answer(answer: Any) -> str:
    """Return ``answer`` if it is one of :data:`ANSWERS`, else raise ``ValueError`` saying what is allowed."""
    if not isinstance(answer, str) or answer not in ANSWERS:
        raise ValueError(f"answer={answer!r} is not allowed: expected one of {', '.join(map(repr, ANSWERS))}")
    return answer


def check_pair(left: Any, right: Any) -> None:
    """Raise ``ValueError`` unless ``left`` and ``right`` are two items of one kind that may be compared
    (:func:`rlhf_lite.items.check_pair`). Clips must have the same number of steps and the same observation/action
    shapes: the Bradley-Terry model compares *summed* rewards, so a longer clip would win just for being longer.
    Text completions must answer the same prompt."""
    _items.check_pair(left, right)


# --------------------------------------------------------------------------------------------------------------
# Records


@dataclasses.dataclass
class PreferenceRecord:
    """One answer: which of two items a labeler preferred, who answered, when, and how long it took.

    ``left``/``right`` are item payloads of one kind (:func:`rlhf_lite.items.payload`; for a clip
    :func:`segment_payload`: uid, observations, actions, and the true rewards, kept for evaluation only; for a
    text completion its prompt and completion). ``labeler`` names who or what answered (``"alice"``,
    ``"oracle(noise=0.1, temperature=0)"``, ``"replay:labels.jsonl"``); ``created`` is an ISO-8601 UTC time;
    ``seconds`` how long the answer took (``None`` if unknown). Build one with :meth:`from_items` (or, for clips,
    :meth:`from_segments`); :meth:`items` gives the two items back.
    """

    left: dict[str, Any]
    right: dict[str, Any]
    answer: str
    labeler: str
    id: str = dataclasses.field(default_factory=_new_id)
    created: str = dataclasses.field(default_factory=_now)
    seconds: float | None = None
    env_id: str | None = None
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)
    kind: str = "label"

    def __post_init__(self) -> None:
        check_answer(self.answer)
        if not isinstance(self.labeler, str) or not self.labeler.strip():
            raise ValueError(
                f"labeler={self.labeler!r} is not allowed: expected a non-empty name (who or what answered)"
            )
        if not isinstance(self.id, str) or not self.id:
            raise ValueError(f"id={self.id!r} is not allowed: expected a non-empty string")
        if self.seconds is not None:
            if (
                isinstance(self.seconds, bool)
                or not isinstance(self.seconds, (int, float))
                or not (np.isfinite(self.seconds) and self.seconds >= 0)
            ):
                raise ValueError(f"seconds={self.seconds!r} is not allowed: expected None or a number >= 0")
            self.seconds = float(self.seconds)
        if self.env_id is not None and not isinstance(self.env_id, str):
            raise ValueError(f"env_id={self.env_id!r} is not allowed: expected None or an environment id string")
        if not isinstance(self.meta, dict):
            raise ValueError(f"meta={self.meta!r} is not allowed: expected a dict")
        try:  # plain JSON from the start, so the record in memory equals the one read back from disk
            self.meta = json.loads(json.dumps(self.meta, allow_nan=False, default=_json_default))
        except (TypeError, ValueError) as e:
            raise ValueError(f"meta is not allowed ({e}): expected plain numbers, strings, lists and dicts") from None
        kind, other = _items.check_payload("left", self.left), _items.check_payload("right", self.right)
        if kind is not other:
            raise ValueError(
                f"left is a {kind.name} item but right is a {other.name} item: expected two items of one kind"
            )
        kind.check_payloads(self.left, self.right)

    @classmethod
    def from_items(
        cls,
        left: Any,
        right: Any,
        answer: str,
        labeler: str,
        *,
        seconds: float | None = None,
        env_id: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> PreferenceRecord:
        """Make a record from two items of one kind (checked with :func:`rlhf_lite.items.check_pair`) and an
        answer."""
        check_answer(answer)
        kind = _items.check_pair(left, right)
        return cls(
            left=kind.payload(left),
            right=kind.payload(right),
            answer=answer,
            labeler=labeler,
            seconds=seconds,
            env_id=env_id,
            meta=dict(meta or {}),
        )

    @classmethod
    def from_segments(
        cls,
        left: Segment,
        right: Segment,
        answer: str,
        labeler: str,
        *,
        seconds: float | None = None,
        env_id: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> PreferenceRecord:
        """Make a record from two clips (:meth:`from_items`)."""
        return cls.from_items(left, right, answer, labeler, seconds=seconds, env_id=env_id, meta=meta)

    @property
    def item_kind(self) -> str:
        """The kind of the two items compared (``"clip"``, ``"text"``; a payload without ``"item"`` is a clip)."""
        return _items.kind_of_payload(self.left).name

    @property
    def target(self) -> float | None:
        """Probability that left is preferred: 1.0 / 0.0 / 0.5, or ``None`` for ``cant_tell``."""
        return TARGETS.get(self.answer)

    @property
    def uids(self) -> tuple[str, str]:
        """``(left uid, right uid)``."""
        return str(self.left.get("uid", "")), str(self.right.get("uid", ""))

    def items(self) -> tuple[Any, Any]:
        """The two items rebuilt from their payloads (clips as :class:`Segment` without frames, text as
        :class:`~rlhf_lite.items.TextItem`)."""
        kind = _items.kind_of_payload(self.left)
        return kind.from_payload(self.left), kind.from_payload(self.right)

    def segments(self) -> tuple[Segment, Segment]:
        """The two clips rebuilt as :class:`Segment` objects (no frames); ``ValueError`` for other items."""
        if self.item_kind != "clip":
            raise ValueError(f"record {self.id!r} compares {self.item_kind} items, not clips: use record.items()")
        return segment_from_payload(self.left), segment_from_payload(self.right)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; the small fields first so a line is readable by eye, the segments last."""
        return {
            "kind": self.kind,
            "id": self.id,
            "answer": self.answer,
            "labeler": self.labeler,
            "created": self.created,
            "seconds": self.seconds,
            "env_id": self.env_id,
            "meta": self.meta,
            "left": self.left,
            "right": self.right,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PreferenceRecord:
        """Inverse of :meth:`to_dict`; raises ``ValueError`` naming what is missing or wrong."""
        if d.get("kind") != "label":
            raise ValueError(f"kind={d.get('kind')!r}: expected 'label'")
        missing = [k for k in ("id", "answer", "labeler", "left", "right") if k not in d]
        if missing:
            raise ValueError(f"label record is missing {', '.join(missing)}")
        return cls(
            left=d["left"],
            right=d["right"],
            answer=d["answer"],
            labeler=d["labeler"],
            id=d["id"],
            created=d.get("created", ""),
            seconds=d.get("seconds"),
            env_id=d.get("env_id"),
            meta=d.get("meta") or {},
        )


@dataclasses.dataclass
class Retraction:
    """Undo of an earlier record: ``retracts`` is the id of the :class:`PreferenceRecord` taken back."""

    retracts: str
    labeler: str = ""
    id: str = dataclasses.field(default_factory=_new_id)
    created: str = dataclasses.field(default_factory=_now)
    kind: str = "retract"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.id,
            "retracts": self.retracts,
            "labeler": self.labeler,
            "created": self.created,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Retraction:
        if not isinstance(d.get("retracts"), str) or not d.get("retracts"):
            raise ValueError("retraction is missing 'retracts' (the id of the record it takes back)")
        return cls(
            retracts=d["retracts"],
            labeler=str(d.get("labeler", "")),
            id=str(d.get("id") or _new_id()),
            created=str(d.get("created", "")),
        )


class PreferencePair(NamedTuple):
    """Training example for the reward model: ``target`` is the probability that ``left`` is preferred (two
    items of one kind: clips, or text completions)."""

    left: Any
    right: Any
    target: float


def to_pairs(records: Sequence[PreferenceRecord]) -> list[PreferencePair]:
    """Turn records into reward-model training data: left -> 1.0, right -> 0.0, equal -> 0.5.

    ``cant_tell`` records are dropped: they say the labeler could not judge, not that the clips are equally
    good (Christiano et al. 2017 drop them too).
    """
    pairs = []
    for r in records:
        if r.target is None:
            continue
        left, right = r.items()
        pairs.append(PreferencePair(left, right, r.target))
    return pairs


def stack_pairs(pairs: Sequence[PreferencePair]) -> dict[str, np.ndarray]:
    """Stack pairs into arrays for batched training.

    Returns ``obs_left``/``obs_right`` ``[P, L, *obs_shape]``, ``act_left``/``act_right`` ``[P, L, *act_shape]``,
    ``true_left``/``true_right`` ``[P, L]`` (evaluation only) and ``targets`` ``[P]``.
    """
    if not pairs:
        raise ValueError("pairs is empty: expected at least one labeled pair (cant_tell answers are dropped)")
    for p in pairs:
        if _items.check_pair(p.left, p.right).name != "clip":
            raise ValueError("stack_pairs stacks clips' observations and actions: these pairs hold other items")
    lengths = {len(p.left) for p in pairs}
    if len(lengths) > 1:
        raise ValueError(f"pairs have segments of different lengths {sorted(lengths)}: expected one segment length")
    return {
        "obs_left": np.stack([np.asarray(p.left.observations) for p in pairs]),
        "act_left": np.stack([np.asarray(p.left.actions) for p in pairs]),
        "obs_right": np.stack([np.asarray(p.right.observations) for p in pairs]),
        "act_right": np.stack([np.asarray(p.right.actions) for p in pairs]),
        "true_left": np.stack([np.asarray(p.left.true_rewards, dtype=np.float64) for p in pairs]),
        "true_right": np.stack([np.asarray(p.right.true_rewards, dtype=np.float64) for p in pairs]),
        "targets": np.asarray([p.target for p in pairs], dtype=np.float64),
    }


# --------------------------------------------------------------------------------------------------------------
# The store lives in rlhf_lite.label_store (issue 10: the store apart from pair selection)

_MOVED_TO_LABEL_STORE = ("LabelStore", "LabelFileWarning", "FORMAT", "FORMAT_VERSION")


def __getattr__(name: str) -> Any:
    """``preferences.LabelStore`` etc. still work: the store moved to :mod:`rlhf_lite.label_store`.

    Imported lazily, because the store itself imports the records from this module."""
    if name in _MOVED_TO_LABEL_STORE:
        from rlhf_lite import label_store

        return getattr(label_store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _json_default(value: Any) -> Any:
    """Let numpy numbers and arrays in ``meta`` be written as plain JSON numbers and lists."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
