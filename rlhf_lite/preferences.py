"""Human feedback as data: preference records, a crash-safe label store on disk, and choosing which pairs to ask.

A *preference* says which of two segments (short clips of behaviour, :class:`rlhf_lite.rollouts.Segment`) a
labeler liked better: one of :data:`ANSWERS`. Christiano et al. (2017) keep every answer in a database of
triples ``(segment_1, segment_2, mu)``; here that database is a :class:`~rlhf_lite.label_store.LabelStore`
(in :mod:`rlhf_lite.label_store`; ``preferences.LabelStore`` still works), a file of JSON lines:

- the first line is a header saying what the file is and what produced it;
- each answer is one line (a :class:`PreferenceRecord`) carrying both segments' observations and actions,
  so the reward predictor can be retrained from the file alone, after a restart or on another machine;
- every line is written and flushed to disk (``fsync``) before :meth:`LabelStore.add` returns, so a crashed
  kernel loses nothing that was acknowledged;
- undo appends a *retraction* (``kind="retract"``) instead of rewriting the file, so the file only grows.

:func:`to_pairs` turns records into training data for the reward model (targets 1 / 0 / 0.5 for left / right /
equal; ``cant_tell`` carries no information about which is better and is dropped). :func:`random_pairs` and
:func:`active_pairs` choose which pairs to show: active selection asks about the pairs the reward ensemble
disagrees on most, where an answer teaches the predictor the most. :func:`spread_pairs` (what the RLHF loop
uses) adds what a person needs: no clip in two pairs of a batch or in the pairs just shown, new clips set
against earlier ones, and, before any predictor exists, pairs whose clips look most different
(:func:`observation_distance`), rather than two random-policy clips that look alike.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np

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
    ) -> PreferenceRecord:
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
        raise ValueError(
            f"disagreement must be a callable (lefts, rights) -> scores [P], got {type(disagreement).__name__}"
        )
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
        raise ValueError(
            f"disagreement returned shape {scores.shape}: expected one score per candidate pair, ({len(pool)},)"
        )
    if not np.all(np.isfinite(scores)):
        raise ValueError("disagreement returned NaN or infinity: expected finite scores")
    order = np.argsort(-scores, kind="stable")[:n]  # pool is already in random order, so ties break at random
    return [pool[i] for i in order]


def observation_distance(
    lefts: Sequence[Segment], rights: Sequence[Segment], scale: np.ndarray | None = None
) -> np.ndarray:
    """How different two clips look, per pair ``[P]``: the mean over steps of the distance between the two
    clips' observations at the same step (flattened per step, each dimension divided by ``scale [D]``, e.g.
    its spread over the clips at hand, so that no dimension counts more for its units; default 1).

    It uses no reward at all, only what the clips show, so it can rank pairs before any label exists: two
    random-policy pendulums dangling alike are near 0, a dangling one next to one swinging over the top is far.
    """
    if len(lefts) != len(rights):
        raise ValueError(f"lefts has {len(lefts)} segments but rights has {len(rights)}: expected one pair each")
    if not len(lefts):
        return np.zeros(0)
    a, b = _flat_observations(lefts), _flat_observations(rights)  # [P, L, D]
    if scale is not None:
        scale = np.asarray(scale, dtype=np.float64)
        if scale.shape != (a.shape[-1],) or not np.all(scale > 0):
            raise ValueError(
                f"scale must hold {a.shape[-1]} positive numbers (one per observation dimension), got {scale!r}"
            )
        a, b = a / scale, b / scale
    return np.linalg.norm(a - b, axis=-1).mean(-1)


def observation_scale(segments: Sequence[Segment]) -> np.ndarray:
    """The spread ``[D]`` of each observation dimension over all steps of ``segments`` (at least 1e-6), for
    :func:`observation_distance`."""
    x = _flat_observations(segments)  # [S, L, D]
    return np.maximum(x.reshape(-1, x.shape[-1]).std(0), 1e-6)


def _flat_observations(segments: Sequence[Segment]) -> np.ndarray:
    return np.stack([np.asarray(s.observations, dtype=np.float64).reshape(len(s), -1) for s in segments])


def spread_pairs(
    segments: Sequence[Segment],
    n: int,
    rng: np.random.Generator,
    score: Callable[[list[Segment], list[Segment]], np.ndarray] | None = None,
    *,
    candidates: int | None = None,
    references: Sequence[Segment] = (),
    avoid: Iterable[str] = (),
) -> list[tuple[Segment, Segment]]:
    """``n`` pairs, the best-scored of ``candidates`` random ones, with every clip in at most one pair.

    Each candidate pairs a clip of ``segments`` (the new clips) with another new clip or, half of the time, with
    one of ``references`` (clips asked about before): comparing what the policy does now with what it did
    earlier tells the predictor whether the change is an improvement, which pairs of two nearly identical new
    clips cannot. ``score(lefts, rights) -> [P]`` ranks the candidates (default :func:`observation_distance`:
    pairs a person can tell apart; the loop passes the ensemble's disagreement once it has a predictor). Clips
    whose uid is in ``avoid`` (e.g. the pairs just shown) are not used, and no clip appears in two pairs, unless
    there are too few clips; then the least-used clips fill up. ``candidates`` defaults to ``10 * n``.
    Returned best first, each in a random left/right order.
    """
    segments, references = list(segments), list(references)
    if n and not segments:
        raise ValueError(f"n={n} pairs asked from no segments")
    _check_segments(segments + references, 0, rng)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n={n!r} is not allowed: expected a whole number >= 0")
    if score is None:
        scale = observation_scale(segments + references)
        score = lambda a, b: observation_distance(a, b, scale)  # noqa: E731
    if not callable(score):
        raise ValueError(f"score must be a callable (lefts, rights) -> scores [P], got {type(score).__name__}")
    candidates = 10 * n if candidates is None else candidates
    if isinstance(candidates, bool) or not isinstance(candidates, (int, np.integer)) or candidates < n:
        raise ValueError(f"candidates={candidates!r} is not allowed: expected a whole number >= n={n}")
    if n == 0:
        return []
    avoid = set(avoid)
    new = [s for s in segments if s.uid not in avoid] or segments
    old = [s for s in references if s.uid not in avoid and s.uid not in {t.uid for t in new}]
    everyone = new + old
    if len(everyone) < 2:
        raise ValueError(f"n={n} pairs asked from {len(everyone)} segment: at least 2 are needed")
    # candidate index pairs (i in new, j anywhere), distinct unordered
    seen: set[tuple[int, int]] = set()
    possible = len(new) * (len(new) - 1) // 2 + len(new) * len(old)
    want = min(int(candidates), possible)
    tries = 0
    while len(seen) < want and tries < 50 * want:
        tries += 1
        i = int(rng.integers(len(new)))
        if old and rng.random() < 0.5:
            j = len(new) + int(rng.integers(len(old)))
        else:
            j = int(rng.integers(len(new)))
        if i != j:
            seen.add((min(i, j), max(i, j)))
    pool = sorted(seen)
    order = rng.permutation(len(pool))
    pool = [pool[k] for k in order]
    scores = np.asarray(score([everyone[i] for i, _ in pool], [everyone[j] for _, j in pool]), dtype=np.float64)
    if scores.shape != (len(pool),):
        raise ValueError(f"score returned shape {scores.shape}: expected one score per candidate pair, ({len(pool)},)")
    if not np.all(np.isfinite(scores)):
        raise ValueError("score returned NaN or infinity: expected finite scores")
    ranked = [pool[k] for k in np.argsort(-scores, kind="stable")]  # pool is in random order: ties break at random
    uses = np.zeros(len(everyone), int)
    chosen: list[tuple[int, int]] = []
    for limit in range(1, n + 2):  # first every clip at most once, then twice, ... until n pairs
        for i, j in ranked:
            if len(chosen) == n:
                break
            if (i, j) not in chosen and uses[i] < limit and uses[j] < limit:
                chosen.append((i, j))
                uses[i] += 1
                uses[j] += 1
        if len(chosen) == n:
            break
    swap = rng.random(len(chosen)) < 0.5  # which clip is shown on the left must not say anything
    return [(everyone[j], everyone[i]) if s else (everyone[i], everyone[j]) for (i, j), s in zip(chosen, swap)]
