"""The label store: an append-only file of preference records that survives crashes, full disks and
concurrent writers.

``preferences.LabelStore`` still works. The file format: the first line is a header saying what the file is, what
produced it and which kind of item it holds (``"item"``: ``"clip"``, ``"text"``; absent or null in files where the
first label decides, as in every file written before text items existed); each answer is one line (a
:class:`~rlhf_lite.preferences.PreferenceRecord`) carrying both items' payloads; undo appends a *retraction*.
Every line is written and flushed to disk (``fsync``) before :meth:`LabelStore.add` returns, so a crashed kernel
loses nothing that was acknowledged. One file holds one kind of item; what else a record must satisfy to be
stored (a clip's dtypes, finite numbers, one observation width, the environment's) its kind checks
(:meth:`rlhf_lite.items.ItemKind.check_stored`).
"""

from __future__ import annotations

import json
import os
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rlhf_lite import items as _items
from rlhf_lite.checkpoints import fsync_folder
from rlhf_lite.label_file import LabelWriteError, default_producer, locked, write_line
from rlhf_lite.preferences import (
    ANSWERS,
    PreferencePair,
    PreferenceRecord,
    Retraction,
    _now,
    to_pairs,
)

FORMAT = "rlhf-lite/labels"
FORMAT_VERSION = 1

__all__ = ["LabelStore", "LabelFileWarning", "LabelWriteError", "FORMAT", "FORMAT_VERSION"]


class LabelFileWarning(UserWarning):
    """Bad lines were skipped while reading a label file (``skip_bad=True``)."""


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

    A line that is not a valid record (malformed JSON, a truncated last line after a crash, a missing field,
    NaN or infinity, observations of another width than the file's or the header's environment, an unknown
    dtype, another ``env_id`` than the header's) raises ``ValueError`` naming the file and line number and what
    is allowed; ``skip_bad=True`` skips such lines and warns (:class:`LabelFileWarning`) how many were skipped.
    A valid last line without a final newline is accepted (a writer adds the newline before appending). A line
    cut short by another writer that crashed *while this store was open* is skipped with a warning even
    without ``skip_bad``, so an open store keeps working; opening the file again strictly reports it.

    A write that fails (disk full, a file size limit) is rolled back under the same lock: the file is
    truncated to its size before the write, nothing is added in memory, and :class:`LabelWriteError` (an
    ``OSError``) names the file and says what to do; the store stays usable once the cause is gone.

    ``create=False`` refuses to create a missing file
    (for reading shipped label files). ``producer``/``description`` go into the header of a new file and say
    who or what made it. ``item`` (``"clip"``, ``"text"``, or None: the first label decides) is the kind of item a
    new file holds, written into its header; a label of another kind is refused.
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
        item: str | None = None,
    ) -> None:
        if item is not None:
            _items.get_kind(item)  # ValueError naming the kinds that exist
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
        self._unterminated = False  # the bytes read so far end with a complete line that has no newline yet
        self._opened = False  # True once the file was read at opening: later damage is someone else's crash
        self._item: tuple[str, int] | None = None  # (kind of item, line) the file holds: header (line 1) or 1st label
        self._shared: tuple[Any, int] | None = None  # (what check_stored returned, line) for the first label
        self._asked_env = env_id  # checks widths when the header names no env
        self._lock = threading.RLock()  # flock does not separate threads that share one descriptor
        if self.path.exists() and self.path.is_dir():
            raise ValueError(
                f"{self.path} is a folder: expected a label file path such as {self.path / 'labels.jsonl'}"
            )
        if not self.path.exists() or self.path.stat().st_size == 0:
            if not create:
                raise FileNotFoundError(f"label file {self.path} does not exist (or is empty)")
            self.path.parent.mkdir(parents=True, exist_ok=True)
            header = {
                "kind": "header",
                "format": FORMAT,
                "version": FORMAT_VERSION,
                "created": _now(),
                "producer": producer or default_producer(),
                "description": description
                or "Pairwise preferences between two items (clips of behaviour, or text completions; 'item' says "
                "which): one JSON record per line, kind 'label' (an answer with both items) or 'retract' (undo "
                "of an earlier label).",
                "answers": list(ANSWERS),
                "env_id": env_id,
                "item": item,
            }
            with locked(self.path, exclusive=True) as fd:
                if os.fstat(fd).st_size == 0:  # another writer may have created it meanwhile
                    write_line(fd, header, self.path)
            fsync_folder(self.path.parent)  # the new file's name survives a power cut too
        self.refresh()
        held_item = self._item[0] if self._item else None
        if item is not None and held_item is not None and item != held_item:
            raise ValueError(
                f"{self.path} holds {held_item} labels, but item={item!r} was asked: open a label file of {item} "
                "items, or a new path"
            )
        held = (self.header or {}).get("env_id")
        if env_id is not None and held is not None and env_id != held:
            raise ValueError(
                f"{self.path} holds {held} labels (its header says so), but env_id={env_id!r} was asked: "
                f"open a label file of {env_id}, or a new path"
            )
        self._opened = True

    # ---- reading ----------------------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Read whatever other writers appended since the last read."""
        with self._lock, locked(self.path, exclusive=False) as fd:
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

    @property
    def item_kind(self) -> str | None:
        """The kind of item this file holds (``"clip"``, ``"text"``), or None while it has no label and its header
        names none."""
        with self._lock:
            return self._item[0] if self._item else None

    def add(
        self,
        left: Any,
        right: Any,
        answer: str,
        labeler: str,
        *,
        seconds: float | None = None,
        env_id: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> PreferenceRecord:
        """Append one answer about two items ``(left, right)``; returns the record once it is safely on disk."""
        if env_id is None and self.header is not None:
            env_id = self.header.get("env_id")
        record = PreferenceRecord.from_items(left, right, answer, labeler, seconds=seconds, env_id=env_id, meta=meta)
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
        with self._lock, locked(self.path, exclusive=True) as fd:
            self._read_new(fd)
            for r in reversed(self._records):
                if r.id not in self._retracted and (labeler is None or r.labeler == labeler):
                    self._write_and_ingest(fd, Retraction(retracts=r.id, labeler=labeler or r.labeler))
                    return r
            return None

    def retract(self, record_id: str, labeler: str = "") -> PreferenceRecord:
        """Take back the label with id ``record_id`` (``ValueError`` if unknown or already taken back)."""
        with self._lock, locked(self.path, exclusive=True) as fd:
            self._read_new(fd)
            if record_id not in self._by_id:
                raise ValueError(f"{self.path}: no label with id {record_id!r}")
            if record_id in self._retracted:
                raise ValueError(f"{self.path}: label {record_id!r} was already taken back")
            who = labeler or self._by_id[record_id].labeler
            self._write_and_ingest(fd, Retraction(retracts=record_id, labeler=who))
            return self._by_id[record_id]

    # ---- internals --------------------------------------------------------------------------------------------

    def _append(self, entry: PreferenceRecord | Retraction) -> None:
        with self._lock, locked(self.path, exclusive=True) as fd:
            self._read_new(fd)  # keep order: records other writers appended come first
            if isinstance(entry, PreferenceRecord):
                if entry.id in self._by_id:
                    raise ValueError(f"{self.path}: a label with id {entry.id!r} is already stored")
                try:  # refuse what a strict reopen would refuse, so the file stays readable
                    checked = self._check_record(entry, self._lineno + 1)
                except _BadLine as e:
                    raise ValueError(f"{self.path}: cannot add this label: {e}") from None
                self._write_and_ingest(fd, entry, checked)
            else:
                self._write_and_ingest(fd, entry)

    def _write_and_ingest(self, fd: int, entry: PreferenceRecord | Retraction, checked: Any = None) -> None:
        # _read_new just consumed the file up to its end while we hold the exclusive lock, so after writing,
        # everything up to the new end is ours and can be ingested without reading it back. If the write
        # fails, write_line has rolled the file back and raised before anything here changed.
        written = write_line(fd, entry.to_dict(), self.path)
        self._mid_line = self._unterminated = False  # our write began with the newline that ended that line
        self._offset += written
        self._lineno += 1
        if isinstance(entry, PreferenceRecord):
            self._records.append(entry)
            self._by_id[entry.id] = entry
            self._note(checked, self._lineno)
        else:
            self._retracted.add(entry.retracts)

    def _read_new(self, fd: int) -> None:
        """Parse the lines appended since the last read (caller holds a lock on ``fd``).

        State advances line by line, so after a ``ValueError`` the next read stops at the same bad line again.
        Writers hold the exclusive lock while writing, so a last line without its end seen under a lock is a
        crashed writer's, never one still being written.
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
            if self._unterminated:  # the complete last line read earlier: its newline came with the next write
                self._unterminated = False
                if data[:1] == b"\n":
                    pos = 1
                else:
                    nl = data.find(b"\n")
                    pos = len(data) if nl == -1 else nl + 1
                    self._mid_line = nl == -1
                    self._bad(
                        self._lineno,
                        "the line went on after it was read whole (the file was edited)",
                        new_bad,
                        torn=True,
                    )
                self._offset = base + pos
            elif self._mid_line:  # the rest of a truncated line already reported: skip to its end
                nl = data.find(b"\n")
                pos = len(data) if nl == -1 else nl + 1
                self._mid_line = nl == -1
                self._offset = base + pos
            while pos < len(data):
                nl = data.find(b"\n", pos)
                lineno = self._lineno + 1
                end = len(data) if nl == -1 else nl
                raw, pos = data[pos:end], end + (nl != -1)
                if raw.strip():  # blank lines carry nothing
                    try:
                        obj = json.loads(raw.decode("utf-8"))
                    except (UnicodeDecodeError, json.JSONDecodeError) as e:
                        if nl == -1:  # no end of line at the end of the file: a writer stopped mid-record
                            self._mid_line = True
                            why = (
                                "truncated record (the last line has no end: a writer stopped mid-write, e.g. "
                                "a killed kernel; nothing it acknowledged is lost)"
                            )
                        else:
                            why = (
                                f"not valid JSON ({e}); a line cut short by a writer that stopped mid-write "
                                "looks like this"
                            )
                        self._bad(lineno, why, new_bad, torn=True)
                    else:
                        self._unterminated = nl == -1  # a whole last line: its newline comes later
                        try:
                            self._ingest_obj(obj, lineno)
                        except _BadLine as e:
                            self._bad(lineno, str(e), new_bad)
                elif nl == -1:  # trailing spaces without a newline: let the next write end the line
                    self._unterminated = True
                self._lineno, self._offset = lineno, base + pos
        finally:
            if new_bad:
                shown = "; ".join(f"line {n}: {why}" for n, why in new_bad[:3])
                more = f"; and {len(new_bad) - 3} more" if len(new_bad) > 3 else ""
                warnings.warn(
                    f"{self.path}: skipped {len(new_bad)} bad line(s) ({shown}{more})", LabelFileWarning, stacklevel=4
                )

    def _bad(self, lineno: int, why: str, new_bad: list[tuple[int, str]], torn: bool = False) -> None:
        # A torn line that appears while the store is open is another writer's crash: skip it (with a warning)
        # so that this store keeps working; at opening, strict mode reports it.
        if not self.skip_bad and not (torn and self._opened):
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
            env_id = obj.get("env_id")
            if env_id is not None and not isinstance(env_id, str):
                raise _BadLine(f"env_id={env_id!r} in the header: expected an environment id string or null")
            item = obj.get("item")
            if item is not None and item not in _items.kinds():
                raise _BadLine(f"item={item!r} in the header: expected one of {', '.join(map(repr, _items.kinds()))}")
            self.header = obj
            self._item = None if item is None else (item, lineno)
        elif kind == "label":
            try:
                record = PreferenceRecord.from_dict(obj)
            except (ValueError, TypeError) as e:
                raise _BadLine(f"invalid label record ({e})") from None
            if record.id in self._by_id:
                raise _BadLine(f"duplicate label id {record.id!r}")
            checked = self._check_record(record, lineno)
            self._records.append(record)
            self._by_id[record.id] = record
            self._note(checked, lineno)
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

    def _check_record(self, record: PreferenceRecord, lineno: int) -> tuple[str, Any]:
        """Raise ``_BadLine`` unless the record fits the file: the header's ``env_id``, the file's kind of item, and
        what that kind checks (:meth:`~rlhf_lite.items.ItemKind.check_stored`: for clips numbers of a known dtype,
        finite, one observation width per step in the record and the file, the environment's width). Checked
        when read, so bad data fails here, naming its line, not later. Returns ``(kind, what the file shares)``."""
        header_env = (self.header or {}).get("env_id")
        env = header_env or self._asked_env
        if header_env is not None and record.env_id is not None and record.env_id != header_env:
            raise _BadLine(
                f"env_id={record.env_id!r}, but the header says this file holds {header_env!r} labels: "
                "one label file holds one environment's clips"
            )
        kind = _items.kind_of_payload(record.left)
        if self._item is not None and kind.name != self._item[0]:
            where = "its header says so" if self._item[1] == 1 else f"the label on line {self._item[1]}"
            raise _BadLine(
                f"a label about {kind.name} items, but this file holds {self._item[0]} labels ({where}): one label "
                "file holds one kind of item"
            )
        named = "named in the header" if header_env else "the env asked for"
        try:
            shared = kind.check_stored(record.left, record.right, env, named, self._shared)
        except ValueError as e:
            raise _BadLine(str(e)) from None
        return kind.name, shared

    def _note(self, checked: tuple[str, Any], lineno: int) -> None:
        if self._item is None:
            self._item = (checked[0], lineno)
        if self._shared is None:
            self._shared = (checked[1], lineno)
