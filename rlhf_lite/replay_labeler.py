"""Answers recorded earlier, replayed: :class:`ReplayLabeler` (headless runs, groups that skip labeling).

Split off :mod:`rlhf_lite.labelers` (``labelers.ReplayLabeler`` is the same class): it is a
:class:`~rlhf_lite.labelers.SyncLabeler` answering from a label file, for any kind of item (:mod:`rlhf_lite.items`):
clips match by uid, text completions by uid or by what they say.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rlhf_lite import items
from rlhf_lite.labelers import SyncLabeler, flip_answer
from rlhf_lite.preferences import LabelStore, PreferenceRecord

__all__ = ["ReplayLabeler", "ReplayExhaustedError"]


class ReplayExhaustedError(LookupError):
    """A :class:`ReplayLabeler` was asked for more answers than its file holds."""


class ReplayLabeler(SyncLabeler):
    """Answers from a label file recorded earlier (a :class:`~rlhf_lite.preferences.LabelStore` file).

    For each question it looks for an unused record about the same two items (by uid, in either order; the
    answer is flipped if the two are swapped; text completions also by their content, so completions without a
    uid match too); when none matches (``match="auto"``) it takes the next unused record in file order.
    ``match="uid"`` only matches by uid (or content), ``match="order"`` only goes in order. Each
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
        self._by_keys: dict[tuple[str, str], list[int]] = {}  # (left key, right key) -> record indices
        for i, r in enumerate(self.records):
            kind, (left, right) = items.kind_of_payload(r.left), r.items()
            for key in zip(kind.match_keys(left), kind.match_keys(right)):
                if all(key):
                    self._by_keys.setdefault(key, []).append(i)
        self._next = 0

    @property
    def remaining(self) -> int:
        """How many recorded answers are still unused."""
        return self.used.count(False)

    def _take_by_key(self, key: tuple[str, str]) -> int | None:
        for i in self._by_keys.get(key, []):
            if not self.used[i]:
                return i
        return None

    def label(self, left: Any, right: Any) -> str:
        """The recorded answer about ``(left, right)``."""
        kind = items.check_pair(left, right)
        index, how, flipped = None, "", False
        if self.match in ("auto", "uid"):
            for by, a, b in zip(kind.match_kinds(), kind.match_keys(left), kind.match_keys(right)):
                if not (a and b):
                    continue
                index = self._take_by_key((a, b))
                if index is None:
                    index = self._take_by_key((b, a))
                    flipped = index is not None
                if index is not None:
                    how = by
                    break
        if index is None and self.match in ("auto", "order"):
            while self._next < len(self.records) and self.used[self._next]:
                self._next += 1
            if self._next < len(self.records):
                index, how, flipped = self._next, "order", False
        if index is None:
            if self.match == "uid" and self.remaining:
                raise ReplayExhaustedError(
                    f"replay file {self.path} has no unused answer about {kind.plural} {kind.uid(left)!r} and "
                    f"{kind.uid(right)!r} "
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
            "same_clips": kind.same(left, recorded_left) and kind.same(right, recorded_right),
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
