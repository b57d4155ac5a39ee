"""Human feedback as data: preference records, a crash-safe label store on disk, and choosing which pairs to ask.

A *preference* says which of two segments (short clips of behaviour, :class:`rlhf_lite.rollouts.Segment`) a
labeler liked better: one of :data:`ANSWERS`. Christiano et al. (2017) keep every answer in a database of
triples ``(segment_1, segment_2, mu)``; here that database is a :class:`LabelStore`, a file of JSON lines:

- the first line is a header saying what the file is and what produced it;
- each answer is one line (a :class:`PreferenceRecord`) carrying both segments' observations and actions,
  so the reward predictor can be retrained from the file alone, after a restart or on another machine;
- every line is written and flushed to disk (``fsync``) before :meth:`LabelStore.add` returns, so a crashed
  kernel loses nothing that was acknowledged;
- undo appends a *retraction* (``kind="retract"``) instead of rewriting the file, so the file only grows.

:func:`to_pairs` turns records into training data for the reward model (targets 1 / 0 / 0.5 for left / right /
equal; ``cant_tell`` carries no information about which is better and is dropped). :func:`random_pairs` and
:func:`active_pairs` choose which pairs to show: active selection asks about the pairs the reward ensemble
disagrees on most, where an answer teaches the predictor the most.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import os
import threading
import uuid
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, NamedTuple, Sequence

import numpy as np

from rlhf_lite.rollouts import Segment

try:  # POSIX: lock the file so that several processes can append safely.
    import fcntl
except ImportError:  # pragma: no cover - Windows: threads in one process are still safe, processes are not.
    fcntl = None

ANSWERS = ("left", "right", "equal", "cant_tell")
"""What a labeler may answer: the left clip is better, the right one, both equally good, or can't tell."""

TARGETS = {"left": 1.0, "right": 0.0, "equal": 0.5}
"""Training target per answer: the probability that the *left* segment is preferred. ``cant_tell`` has none."""

FORMAT = "rlhf-lite/labels"
FORMAT_VERSION = 1

__all__ = [
    "ANSWERS",
    "TARGETS",
    "FORMAT",
    "FORMAT_VERSION",
    "PreferenceRecord",
    "Retraction",
    "PreferencePair",
    "LabelStore",
    "LabelFileWarning",
    "segment_payload",
    "segment_from_payload",
    "to_pairs",
    "stack_pairs",
    "random_pairs",
    "active_pairs",
    "check_answer",
    "check_pair",
]


class LabelFileWarning(UserWarning):
    """Bad lines were skipped while reading a label file (``skip_bad=True``)."""


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


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
    """Raise ``ValueError`` unless ``left`` and ``right`` are Segments that can be compared.

    Both must have the same number of steps and the same observation/action shapes: the Bradley-Terry model
    compares *summed* rewards, so a longer clip would win just for being longer.
    """
    for side, seg in (("left", left), ("right", right)):
        if not isinstance(seg, Segment):
            raise ValueError(f"{side} must be a rlhf_lite.rollouts.Segment, got {type(seg).__name__}")
        n = len(seg.true_rewards)
        if len(seg.observations) != n or len(seg.actions) != n:
            raise ValueError(
                f"{side} segment {seg.uid!r} is inconsistent: {len(seg.observations)} observations, "
                f"{len(seg.actions)} actions, {n} rewards; expected the same number of each"
            )
        if n == 0:
            raise ValueError(f"{side} segment {seg.uid!r} is empty: expected at least one step")
    if len(left) != len(right):
        raise ValueError(
            f"segments of unequal length: left {left.uid!r} has {len(left)} steps, right {right.uid!r} has "
            f"{len(right)}; expected the same length (summed rewards of different lengths are not comparable)"
        )
    lo, ro = np.shape(left.observations)[1:], np.shape(right.observations)[1:]
    la, ra = np.shape(left.actions)[1:], np.shape(right.actions)[1:]
    if lo != ro or la != ra:
        raise ValueError(
            f"segments from different spaces: left {left.uid!r} has observation shape {lo} and action shape {la}, "
            f"right {right.uid!r} has {ro} and {ra}; expected the same"
        )


# --------------------------------------------------------------------------------------------------------------
# Records


def segment_payload(segment: Segment) -> dict[str, Any]:
    """A JSON-ready copy of a segment: uid, where it came from, observations, actions and true rewards.

    Frames are not stored (they are large); :func:`rlhf_lite.envs.draw_frames` redraws them from the
    observations. dtypes are kept so that :func:`segment_from_payload` gives back identical arrays.
    """
    obs = np.asarray(segment.observations)
    act = np.asarray(segment.actions)
    rew = np.asarray(segment.true_rewards, dtype=np.float64)
    for what, arr in (("observations", obs), ("actions", act), ("true_rewards", rew)):
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"segment {segment.uid!r}: {what} must be numbers, got dtype {arr.dtype}")
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            raise ValueError(f"segment {segment.uid!r}: {what} contain NaN or infinity; expected finite numbers")
    return {
        "uid": str(segment.uid),
        "episode": int(segment.episode),
        "start": int(segment.start),
        "obs_dtype": obs.dtype.name,
        "act_dtype": act.dtype.name,
        "observations": obs.tolist(),
        "actions": act.tolist(),
        "true_rewards": rew.tolist(),
    }


def segment_from_payload(payload: dict[str, Any]) -> Segment:
    """Rebuild a :class:`Segment` (without frames) from :func:`segment_payload`'s dict."""
    return Segment(
        observations=np.asarray(payload["observations"], dtype=payload.get("obs_dtype") or None),
        actions=np.asarray(payload["actions"], dtype=payload.get("act_dtype") or None),
        true_rewards=np.asarray(payload["true_rewards"], dtype=np.float64),
        frames=None,
        uid=str(payload.get("uid", "")),
        episode=int(payload.get("episode", -1)),
        start=int(payload.get("start", 0)),
    )


def _check_payload(side: str, payload: Any) -> int:
    if not isinstance(payload, dict):
        raise ValueError(f"{side} must be a segment payload (a JSON object), got {type(payload).__name__}")
    missing = [k for k in ("observations", "actions", "true_rewards") if k not in payload]
    if missing:
        raise ValueError(f"{side} segment is missing {', '.join(missing)}")
    lengths = {k: payload[k] for k in ("observations", "actions", "true_rewards")}
    for k, v in lengths.items():
        if not isinstance(v, list):
            raise ValueError(f"{side}.{k} must be a list, got {type(v).__name__}")
    n = len(payload["true_rewards"])
    if len(payload["observations"]) != n or len(payload["actions"]) != n or n == 0:
        raise ValueError(
            f"{side} segment is inconsistent: {len(payload['observations'])} observations, "
            f"{len(payload['actions'])} actions, {n} rewards; expected the same number (at least 1) of each"
        )
    return n


@dataclasses.dataclass
class PreferenceRecord:
    """One answer: which of two segments a labeler preferred, who answered, when, and how long it took.

    ``left``/``right`` are segment payloads (:func:`segment_payload`: uid, observations, actions, and the true
    rewards, kept for evaluation only). ``labeler`` names who or what answered (``"alice"``,
    ``"oracle(noise=0.1, temperature=0)"``, ``"replay:labels.jsonl"``); ``created`` is an ISO-8601 UTC time;
    ``seconds`` how long the answer took (``None`` if unknown). Build one with :meth:`from_segments`.
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
            raise ValueError(f"labeler={self.labeler!r} is not allowed: expected a non-empty name (who or what answered)")
        if not isinstance(self.id, str) or not self.id:
            raise ValueError(f"id={self.id!r} is not allowed: expected a non-empty string")
        if self.seconds is not None:
            if isinstance(self.seconds, bool) or not isinstance(self.seconds, (int, float)) or not (
                np.isfinite(self.seconds) and self.seconds >= 0
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
        n_left, n_right = _check_payload("left", self.left), _check_payload("right", self.right)
        if n_left != n_right:
            raise ValueError(
                f"segments of unequal length: left {self.left.get('uid')!r} has {n_left} steps, right "
                f"{self.right.get('uid')!r} has {n_right}; expected the same length"
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
    ) -> "PreferenceRecord":
        """Make a record from two segments (checked with :func:`check_pair`) and an answer."""
        check_answer(answer)
        check_pair(left, right)
        return cls(
            left=segment_payload(left),
            right=segment_payload(right),
            answer=answer,
            labeler=labeler,
            seconds=seconds,
            env_id=env_id,
            meta=dict(meta or {}),
        )

    @property
    def target(self) -> float | None:
        """Probability that left is preferred: 1.0 / 0.0 / 0.5, or ``None`` for ``cant_tell``."""
        return TARGETS.get(self.answer)

    @property
    def uids(self) -> tuple[str, str]:
        """``(left uid, right uid)``."""
        return str(self.left.get("uid", "")), str(self.right.get("uid", ""))

    def segments(self) -> tuple[Segment, Segment]:
        """The two segments rebuilt as :class:`Segment` objects (no frames)."""
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
    def from_dict(cls, d: dict[str, Any]) -> "PreferenceRecord":
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
        return {"kind": self.kind, "id": self.id, "retracts": self.retracts, "labeler": self.labeler, "created": self.created}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Retraction":
        if not isinstance(d.get("retracts"), str) or not d.get("retracts"):
            raise ValueError("retraction is missing 'retracts' (the id of the record it takes back)")
        return cls(retracts=d["retracts"], labeler=str(d.get("labeler", "")), id=str(d.get("id") or _new_id()), created=str(d.get("created", "")))


class PreferencePair(NamedTuple):
    """Training example for the reward model: ``target`` is the probability that ``left`` is preferred."""

    left: Segment
    right: Segment
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
        left, right = r.segments()
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
        check_pair(p.left, p.right)
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
# The store


class _BadLine(Exception):
    pass


class LabelStore:
    """An append-only file of preference records (JSON lines) that survives crashes and concurrent writers.

    ``LabelStore(path)`` opens the file, creating it (and its folder) with a header line if it does not exist,
    and reads what is there: reopening a store resumes it. ``add`` appends one record and returns only once it
    is on disk (``fsync``); ``undo`` appends a retraction of the last live label. Several stores (threads or
    processes) may append to the same file at once: each record is one ``os.write`` of a whole line on an
    ``O_APPEND`` descriptor under an exclusive ``flock``, so records never interleave, and every method reads
    what the others appended first.

    A line that is not a valid record (malformed JSON, a truncated last line after a crash, a missing field)
    raises ``ValueError`` naming the file and line number; ``skip_bad=True`` skips such lines and warns
    (:class:`LabelFileWarning`) how many were skipped. ``create=False`` refuses to create a missing file
    (for reading shipped label files). ``producer``/``description`` go into the header of a new file and say
    who or what made it.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        skip_bad: bool = False,
        create: bool = True,
        producer: str | None = None,
        description: str | None = None,
        env_id: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.skip_bad = bool(skip_bad)
        self.header: dict[str, Any] | None = None
        self.skipped: list[tuple[int, str]] = []  # (line number, reason) of every bad line skipped
        self._records: list[PreferenceRecord] = []
        self._by_id: dict[str, PreferenceRecord] = {}
        self._retracted: set[str] = set()
        self._offset = 0  # bytes of the file already read
        self._lineno = 0  # lines of the file already read
        self._mid_line = False  # the bytes read so far end inside a (truncated) line
        self._lock = threading.RLock()  # flock does not separate threads that share one descriptor
        if self.path.exists() and self.path.is_dir():
            raise ValueError(f"{self.path} is a folder: expected a label file path such as {self.path / 'labels.jsonl'}")
        if not self.path.exists() or self.path.stat().st_size == 0:
            if not create:
                raise FileNotFoundError(f"label file {self.path} does not exist (or is empty)")
            self.path.parent.mkdir(parents=True, exist_ok=True)
            header = {
                "kind": "header",
                "format": FORMAT,
                "version": FORMAT_VERSION,
                "created": _now(),
                "producer": producer or _default_producer(),
                "description": description
                or "Pairwise preferences between behaviour segments: one JSON record per line, kind 'label' "
                "(an answer with both segments) or 'retract' (undo of an earlier label).",
                "answers": list(ANSWERS),
                "env_id": env_id,
            }
            with self._locked(exclusive=True) as fd:
                if os.fstat(fd).st_size == 0:  # another writer may have created it meanwhile
                    self._write_line(fd, header)
            _fsync_folder(self.path.parent)  # the new file's name survives a power cut too
        self.refresh()

    # ---- reading ----------------------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Read whatever other writers appended since the last read."""
        with self._lock, self._locked(exclusive=False) as fd:
            self._read_new(fd)

    def labels(self) -> list[PreferenceRecord]:
        """Live label records (not retracted), in the order they were written."""
        with self._lock:
            self.refresh()
            return [r for r in self._records if r.id not in self._retracted]

    def all_records(self) -> list[PreferenceRecord]:
        """Every label record ever written, retracted ones included, in order."""
        with self._lock:
            self.refresh()
            return list(self._records)

    def retracted_ids(self) -> set[str]:
        """Ids of records taken back by undo."""
        with self._lock:
            self.refresh()
            return set(self._retracted)

    def uid_pairs(self) -> set[tuple[str, str]]:
        """``(left uid, right uid)`` of every live label: pass as ``exclude`` so a pair is not asked twice."""
        return {r.uids for r in self.labels()}

    def pairs(self) -> list[PreferencePair]:
        """Training data for the reward model from the live labels (see :func:`to_pairs`)."""
        return to_pairs(self.labels())

    def counts(self) -> dict[str, int]:
        """Number of live labels per answer (every answer in :data:`ANSWERS` present)."""
        counts = {a: 0 for a in ANSWERS}
        for r in self.labels():
            counts[r.answer] += 1
        return counts

    def __len__(self) -> int:
        return len(self.labels())

    def __iter__(self) -> Iterator[PreferenceRecord]:
        return iter(self.labels())

    def __repr__(self) -> str:
        return f"LabelStore({str(self.path)!r}, labels={len(self)})"

    def describe(self) -> str:
        """A few lines for a notebook: where the file is, what made it, how many answers of each kind and by whom."""
        live = self.labels()
        by_labeler: dict[str, int] = {}
        for r in live:
            by_labeler[r.labeler] = by_labeler.get(r.labeler, 0) + 1
        counts = {a: sum(r.answer == a for r in live) for a in ANSWERS}
        header = self.header or {}
        lines = [
            f"{self.path}: {len(live)} labels ({', '.join(f'{k} {v}' for k, v in counts.items())}), "
            f"{len(self._retracted)} taken back",
            f"file made {header.get('created', '?')} by {header.get('producer', 'unknown (no header)')}",
            "answered by: " + (", ".join(f"{k} ({v})" for k, v in by_labeler.items()) or "nobody yet"),
        ]
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)} bad line(s): lines {', '.join(str(n) for n, _ in self.skipped)}")
        return "\n".join(lines)

    # ---- writing ----------------------------------------------------------------------------------------------

    def add(
        self,
        left: Segment,
        right: Segment,
        answer: str,
        labeler: str,
        *,
        seconds: float | None = None,
        env_id: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> PreferenceRecord:
        """Append one answer about ``(left, right)``; returns the record once it is safely on disk."""
        if env_id is None and self.header is not None:
            env_id = self.header.get("env_id")
        record = PreferenceRecord.from_segments(left, right, answer, labeler, seconds=seconds, env_id=env_id, meta=meta)
        return self.add_record(record)

    def add_record(self, record: PreferenceRecord) -> PreferenceRecord:
        """Append an already-built :class:`PreferenceRecord` (e.g. copied from another store)."""
        if not isinstance(record, PreferenceRecord):
            raise ValueError(f"record must be a PreferenceRecord, got {type(record).__name__}")
        self._append(record)
        return record

    def undo(self, labeler: str | None = None) -> PreferenceRecord | None:
        """Take back the last live label (only ``labeler``'s, if given) by appending a retraction.

        Returns the record taken back, or ``None`` if there was nothing to undo. The file is never rewritten.
        """
        with self._lock, self._locked(exclusive=True) as fd:
            self._read_new(fd)
            for r in reversed(self._records):
                if r.id not in self._retracted and (labeler is None or r.labeler == labeler):
                    self._write_and_ingest(fd, Retraction(retracts=r.id, labeler=labeler or r.labeler))
                    return r
            return None

    def retract(self, record_id: str, labeler: str = "") -> PreferenceRecord:
        """Take back the label with id ``record_id`` (``ValueError`` if unknown or already taken back)."""
        with self._lock, self._locked(exclusive=True) as fd:
            self._read_new(fd)
            if record_id not in self._by_id:
                raise ValueError(f"{self.path}: no label with id {record_id!r}")
            if record_id in self._retracted:
                raise ValueError(f"{self.path}: label {record_id!r} was already taken back")
            self._write_and_ingest(fd, Retraction(retracts=record_id, labeler=labeler or self._by_id[record_id].labeler))
            return self._by_id[record_id]

    # ---- internals --------------------------------------------------------------------------------------------

    def _append(self, entry: PreferenceRecord | Retraction) -> None:
        with self._lock, self._locked(exclusive=True) as fd:
            self._read_new(fd)  # keep order: records other writers appended come first
            if isinstance(entry, PreferenceRecord) and entry.id in self._by_id:
                raise ValueError(f"{self.path}: a label with id {entry.id!r} is already stored")
            self._write_and_ingest(fd, entry)

    def _write_and_ingest(self, fd: int, entry: PreferenceRecord | Retraction) -> None:
        # _read_new just consumed the file up to its end while we hold the exclusive lock, so after writing,
        # everything up to the new end is ours and can be ingested without reading it back.
        written = self._write_line(fd, entry.to_dict())
        if self._mid_line:  # our write began with a newline that ended the truncated line
            self._mid_line = False
        self._offset += written
        self._lineno += 1
        if isinstance(entry, PreferenceRecord):
            self._records.append(entry)
            self._by_id[entry.id] = entry
        else:
            self._retracted.add(entry.retracts)

    def _write_line(self, fd: int, obj: dict[str, Any]) -> int:
        """One ``os.write`` of one whole line, then ``fsync``. Caller holds the exclusive lock."""
        try:
            text = json.dumps(obj, separators=(",", ":"), allow_nan=False, default=_json_default)
        except (TypeError, ValueError) as e:
            raise ValueError(f"record cannot be written as JSON ({e}); meta must hold plain numbers, strings, lists, dicts") from e
        data = text.encode("utf-8") + b"\n"
        size = os.fstat(fd).st_size
        if size > 0 and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data  # a crashed writer left a truncated last line: end it so ours stays whole
        view = memoryview(data)
        while view:  # a regular file takes the whole line in one write; the loop only guards short writes
            n = os.write(fd, view)
            view = view[n:]
        os.fsync(fd)
        return len(data)

    @contextlib.contextmanager
    def _locked(self, exclusive: bool) -> Iterator[int]:
        """A fresh descriptor on the file under ``flock`` (exclusive for writing, shared for reading)."""
        flags = (os.O_RDWR | os.O_APPEND | os.O_CREAT) if exclusive else os.O_RDONLY
        fd = os.open(self.path, flags, 0o644)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield fd
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def _read_new(self, fd: int) -> None:
        """Parse the lines appended since the last read (caller holds a lock on ``fd``).

        State advances line by line, so after a ``ValueError`` the next read stops at the same bad line again.
        """
        size = os.fstat(fd).st_size
        if size < self._offset:
            raise ValueError(
                f"{self.path}: the file shrank from {self._offset} to {size} bytes while open; label stores are "
                "append-only, so something else rewrote it"
            )
        if size == self._offset:
            return
        base = self._offset
        data = os.pread(fd, size - base, base)
        new_bad: list[tuple[int, str]] = []
        pos = 0
        try:
            if self._mid_line:  # the rest of a truncated line already reported: skip to its end
                nl = data.find(b"\n")
                pos = len(data) if nl == -1 else nl + 1
                self._mid_line = nl == -1
                self._offset = base + pos
            while pos < len(data):
                nl = data.find(b"\n", pos)
                lineno = self._lineno + 1
                if nl == -1:  # no end of line at the end of the file: a writer stopped mid-record
                    self._bad(lineno, "truncated record (the line has no end; a writer probably stopped mid-write)", new_bad)
                    self._mid_line = True
                    pos = len(data)
                else:
                    raw, pos = data[pos:nl], nl + 1
                    if raw.strip():  # blank lines carry nothing
                        try:
                            try:
                                obj = json.loads(raw.decode("utf-8"))
                            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                                raise _BadLine(f"not valid JSON ({e})") from None
                            self._ingest_obj(obj, lineno)
                        except _BadLine as e:
                            self._bad(lineno, str(e), new_bad)
                self._lineno, self._offset = lineno, base + pos
        finally:
            if new_bad:
                shown = "; ".join(f"line {n}: {why}" for n, why in new_bad[:3])
                more = f"; and {len(new_bad) - 3} more" if len(new_bad) > 3 else ""
                warnings.warn(
                    f"{self.path}: skipped {len(new_bad)} bad line(s) ({shown}{more})", LabelFileWarning, stacklevel=4
                )

    def _bad(self, lineno: int, why: str, new_bad: list[tuple[int, str]]) -> None:
        if not self.skip_bad:
            raise ValueError(f"{self.path}, line {lineno}: {why}. Pass skip_bad=True to skip bad lines with a warning.")
        self.skipped.append((lineno, why))
        new_bad.append((lineno, why))

    def _ingest_obj(self, obj: Any, lineno: int) -> None:
        if not isinstance(obj, dict):
            raise _BadLine(f"expected a JSON object, got {type(obj).__name__}")
        kind = obj.get("kind")
        if lineno == 1 and kind != "header":
            raise _BadLine(f"expected the header record (kind 'header', format {FORMAT!r}); is this a label file?")
        if kind == "header":
            if lineno != 1 or self.header is not None:
                raise _BadLine("a header record is only allowed on line 1")
            if obj.get("format") != FORMAT:
                raise _BadLine(f"format={obj.get('format')!r}: expected {FORMAT!r}")
            version = obj.get("version")
            if not isinstance(version, int) or version > FORMAT_VERSION:
                raise _BadLine(f"version={version!r}: this rlhf_lite reads versions up to {FORMAT_VERSION}")
            self.header = obj
        elif kind == "label":
            try:
                record = PreferenceRecord.from_dict(obj)
            except (ValueError, TypeError) as e:
                raise _BadLine(f"invalid label record ({e})") from None
            if record.id in self._by_id:
                raise _BadLine(f"duplicate label id {record.id!r}")
            self._records.append(record)
            self._by_id[record.id] = record
        elif kind == "retract":
            try:
                retraction = Retraction.from_dict(obj)
            except ValueError as e:
                raise _BadLine(str(e)) from None
            if retraction.retracts not in self._by_id:
                raise _BadLine(f"retraction of unknown label id {retraction.retracts!r}")
            self._retracted.add(retraction.retracts)
        else:
            raise _BadLine(f"unknown kind {kind!r}: expected 'header', 'label' or 'retract'")


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - folders cannot be opened on some systems
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _json_default(value: Any) -> Any:
    """Let numpy numbers and arrays in ``meta`` be written as plain JSON numbers and lists."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _default_producer() -> str:
    import sys

    from rlhf_lite import __version__

    program = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    return f"rlhf_lite {__version__} LabelStore, opened by {program}"


# --------------------------------------------------------------------------------------------------------------
# Choosing pairs


def _check_segments(segments: Sequence[Segment], n: int, rng: Any) -> int:
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy Generator (np.random.default_rng(seed)), got {type(rng).__name__}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n={n!r} is not allowed: expected a whole number >= 0")
    segments = list(segments)
    for i, s in enumerate(segments):
        if not isinstance(s, Segment):
            raise ValueError(f"segments[{i}] must be a rlhf_lite.rollouts.Segment, got {type(s).__name__}")
    if segments:
        first = segments[0]
        for s in segments[1:]:
            check_pair(first, s)
    total = len(segments) * (len(segments) - 1) // 2
    if n > total:
        raise ValueError(f"n={n} pairs asked from {len(segments)} segments: at most {total} distinct pairs exist")
    return total


def _excluded_index_pairs(segments: list[Segment], exclude: Any) -> set[tuple[int, int]]:
    """Index pairs ``(i < j)`` whose uids appear (in either order) in ``exclude``, an iterable of uid pairs."""
    if exclude is None:
        return set()
    by_uid: dict[str, list[int]] = {}
    for i, s in enumerate(segments):
        if s.uid:
            by_uid.setdefault(s.uid, []).append(i)
    out = set()
    for k, pair in enumerate(exclude):
        if not isinstance(pair, (tuple, list, frozenset, set)) or len(pair) != 2:
            raise ValueError(f"exclude[{k}]={pair!r} is not allowed: expected a pair of segment uids")
        a, b = tuple(pair)
        for i in by_uid.get(a, ()):
            for j in by_uid.get(b, ()):
                if i != j:
                    out.add((min(i, j), max(i, j)))
    return out


def _sample_index_pairs(
    num_segments: int, n: int, rng: np.random.Generator, excluded: set[tuple[int, int]] = frozenset()
) -> np.ndarray:
    """``n`` distinct unordered pairs ``[n, 2]`` of segment indices not in ``excluded``, each shown in a random
    left/right order."""
    total = num_segments * (num_segments - 1) // 2
    if n > total - len(excluded):
        raise ValueError(
            f"n={n} pairs asked from {num_segments} segments: only {total - len(excluded)} distinct pairs are left "
            f"({len(excluded)} excluded as already asked)"
        )
    if n == 0:
        return np.zeros((0, 2), dtype=np.int64)
    if total <= 200_000 or n > (total - len(excluded)) // 2:
        rows, cols = np.triu_indices(num_segments, k=1)
        if excluded:
            gone = np.array([i * num_segments + j for i, j in excluded], dtype=np.int64)
            keep = ~np.isin(rows * num_segments + cols, gone)
            rows, cols = rows[keep], cols[keep]
        pick = rng.choice(len(rows), size=n, replace=False)
        pairs = np.stack([rows[pick], cols[pick]], axis=1)
    else:  # many segments, few pairs: rejection sampling never needs the full list
        seen: set[tuple[int, int]] = set(excluded)
        out = []
        while len(out) < n:
            i, j = (int(v) for v in rng.choice(num_segments, size=2, replace=False))
            key = (min(i, j), max(i, j))
            if key not in seen:
                seen.add(key)
                out.append(key)
        pairs = np.asarray(out, dtype=np.int64)
    swap = rng.random(n) < 0.5  # which segment is shown on the left must not say anything
    pairs[swap] = pairs[swap][:, ::-1]
    return pairs


def random_pairs(
    segments: Sequence[Segment],
    n: int,
    rng: np.random.Generator,
    exclude: Iterable[tuple[str, str]] | None = None,
) -> list[tuple[Segment, Segment]]:
    """``n`` distinct pairs of different segments, chosen uniformly, each in a random left/right order.

    All segments must have the same length and shapes (``ValueError`` otherwise). ``exclude`` lists uid pairs
    not to ask again (either order), e.g. ``store.uid_pairs()``.
    """
    _check_segments(segments, n, rng)
    segments = list(segments)
    excluded = _excluded_index_pairs(segments, exclude)
    return [(segments[i], segments[j]) for i, j in _sample_index_pairs(len(segments), n, rng, excluded)]


def active_pairs(
    segments: Sequence[Segment],
    n: int,
    rng: np.random.Generator,
    disagreement: Callable[[list[Segment], list[Segment]], np.ndarray],
    candidates: int | None = None,
    exclude: Iterable[tuple[str, str]] | None = None,
) -> list[tuple[Segment, Segment]]:
    """The ``n`` pairs the reward ensemble disagrees on most, out of ``candidates`` random pairs.

    ``disagreement(lefts, rights)`` scores ``P`` candidate pairs, returning an array ``[P]`` (the reward
    ensemble's ``disagreement``: the spread of its members' preference probabilities). Where the members
    disagree, an answer settles the most (Christiano et al. 2017, section 2.2.4). ``candidates`` defaults to
    ``10 * n`` (capped at the number of distinct pairs). ``exclude`` as in :func:`random_pairs`. Returned
    most-disputed first.
    """
    total = _check_segments(segments, n, rng)
    if not callable(disagreement):
        raise ValueError(f"disagreement must be a callable (lefts, rights) -> scores [P], got {type(disagreement).__name__}")
    if candidates is None:
        candidates = min(total, max(10 * n, n))
    if isinstance(candidates, bool) or not isinstance(candidates, (int, np.integer)) or candidates < n:
        raise ValueError(f"candidates={candidates!r} is not allowed: expected a whole number >= n={n}")
    exclude = None if exclude is None else list(exclude)
    left_over = total - len(_excluded_index_pairs(list(segments), exclude))
    candidates = min(int(candidates), left_over)
    if n == 0:
        return []
    pool = random_pairs(segments, candidates, rng, exclude=exclude)
    scores = np.asarray(disagreement([a for a, _ in pool], [b for _, b in pool]), dtype=np.float64)
    if scores.shape != (len(pool),):
        raise ValueError(f"disagreement returned shape {scores.shape}: expected one score per candidate pair, ({len(pool)},)")
    if not np.all(np.isfinite(scores)):
        raise ValueError("disagreement returned NaN or infinity: expected finite scores")
    order = np.argsort(-scores, kind="stable")[:n]  # pool is already in random order, so ties break at random
    return [pool[i] for i in order]
