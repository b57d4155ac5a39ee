"""The label store: an append-only file of preference records that survives crashes, full disks and
concurrent writers.

Moved out of :mod:`rlhf_lite.preferences` (which keeps the records, the answer-to-target table and pair
selection); ``preferences.LabelStore`` still works. The file format: the first line is a header saying what
the file is and what produced it; each answer is one line (a :class:`~rlhf_lite.preferences.PreferenceRecord`)
carrying both segments' observations and actions; undo appends a *retraction*. Every line is written and
flushed to disk (``fsync``) before :meth:`LabelStore.add` returns, so a crashed kernel loses nothing that was
acknowledged.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from rlhf_lite.checkpoints import fsync_folder
from rlhf_lite.preferences import (
    ANSWERS,
    PreferencePair,
    PreferenceRecord,
    Retraction,
    _json_default,
    _now,
    to_pairs,
)
from rlhf_lite.rollouts import Segment

try:  # POSIX: lock the file so that several processes can append safely.
    import fcntl
except ImportError:  # pragma: no cover - Windows: threads in one process are still safe, processes are not.
    fcntl = None

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
        self._unterminated = False  # the bytes read so far end with a complete line that has no newline yet
        self._opened = False  # True once the file was read at opening: later damage is someone else's crash
        self._obs_shape: tuple[tuple[int, ...], int] | None = None  # (per-step shape, line) of the first label
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
            fsync_folder(self.path.parent)  # the new file's name survives a power cut too
        self.refresh()
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
            who = labeler or self._by_id[record_id].labeler
            self._write_and_ingest(fd, Retraction(retracts=record_id, labeler=who))
            return self._by_id[record_id]

    # ---- internals --------------------------------------------------------------------------------------------

    def _append(self, entry: PreferenceRecord | Retraction) -> None:
        with self._lock, self._locked(exclusive=True) as fd:
            self._read_new(fd)  # keep order: records other writers appended come first
            if isinstance(entry, PreferenceRecord):
                if entry.id in self._by_id:
                    raise ValueError(f"{self.path}: a label with id {entry.id!r} is already stored")
                try:  # refuse what a strict reopen would refuse, so the file stays readable
                    self._check_record(entry, self._lineno + 1)
                except _BadLine as e:
                    raise ValueError(f"{self.path}: cannot add this label: {e}") from None
            self._write_and_ingest(fd, entry)

    def _write_and_ingest(self, fd: int, entry: PreferenceRecord | Retraction) -> None:
        # _read_new just consumed the file up to its end while we hold the exclusive lock, so after writing,
        # everything up to the new end is ours and can be ingested without reading it back. If the write
        # fails, _write_line has rolled the file back and raised before anything here changed.
        written = self._write_line(fd, entry.to_dict())
        self._mid_line = self._unterminated = False  # our write began with the newline that ended that line
        self._offset += written
        self._lineno += 1
        if isinstance(entry, PreferenceRecord):
            self._records.append(entry)
            self._by_id[entry.id] = entry
            self._note_shape(entry, self._lineno)
        else:
            self._retracted.add(entry.retracts)

    def _write_line(self, fd: int, obj: dict[str, Any]) -> int:
        """One ``os.write`` of one whole line, then ``fsync``. Caller holds the exclusive lock.

        On any ``OSError`` the file is truncated back to its size before the write (still under the lock, so
        no reader saw the partial line) and :class:`LabelWriteError` is raised."""
        try:
            text = json.dumps(obj, separators=(",", ":"), allow_nan=False, default=_json_default)
        except (TypeError, ValueError) as e:
            raise ValueError(
                f"record cannot be written as JSON ({e}); meta must hold plain numbers, strings, lists, dicts"
            ) from e
        data = text.encode("utf-8") + b"\n"
        size = os.fstat(fd).st_size
        if size > 0 and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data  # a crashed writer left a truncated last line, or a valid one lacks its newline
        view = memoryview(data)
        try:
            while view:  # a regular file takes the whole line in one write; the loop only guards short writes
                n = os.write(fd, view)
                view = view[n:]
            os.fsync(fd)
        except OSError as e:
            raise self._roll_back(fd, size, e) from e
        return len(data)

    def _roll_back(self, fd: int, size: int, error: OSError) -> LabelWriteError:
        """Cut the file back to ``size`` bytes after a failed write; the error to raise, saying what to do."""
        try:
            os.ftruncate(fd, size)
            os.fsync(fd)
            undone = f"it was NOT saved, and the file was cut back to its last complete line ({size} bytes)"
            rolled_back = True
        except OSError as e2:  # pragma: no cover - truncating frees space, so this is very unlikely
            undone = (
                f"it was NOT saved, and cutting the partial line off failed too ({e2.strerror}): the file may "
                "end with a partial line, which the next write ends and reading with skip_bad=True skips"
            )
            rolled_back = False
        if error.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
            todo = "Free some disk space (or open a LabelStore on another disk), then answer again"
        elif error.errno == errno.EFBIG:
            todo = "The file reached a size limit (ulimit -f or the file system's); start a new label file"
        else:
            todo = "Check that the folder is writable and the disk is healthy, then answer again"
        message = (
            f"{self.path}: could not write the label ({error.strerror or error}): {undone}; every label before "
            f"it is intact and this store stays usable. {todo}."
        )
        return LabelWriteError(error.errno, message, self.path, rolled_back)

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
            self.header = obj
        elif kind == "label":
            try:
                record = PreferenceRecord.from_dict(obj)
            except (ValueError, TypeError) as e:
                raise _BadLine(f"invalid label record ({e})") from None
            if record.id in self._by_id:
                raise _BadLine(f"duplicate label id {record.id!r}")
            self._check_record(record, lineno)
            self._records.append(record)
            self._by_id[record.id] = record
            self._note_shape(record, lineno)
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

    def _check_record(self, record: PreferenceRecord, lineno: int) -> None:
        """Raise ``_BadLine`` unless the record's segments will train a reward model: numbers of a known dtype,
        finite, one observation width per step in the record and the file, the header environment's width,
        and the header's ``env_id``. Checked when read, so bad data fails here, naming its line, not later."""
        header_env = (self.header or {}).get("env_id")
        env = header_env or self._asked_env
        if header_env is not None and record.env_id is not None and record.env_id != header_env:
            raise _BadLine(
                f"env_id={record.env_id!r}, but the header says this file holds {header_env!r} labels: "
                "one label file holds one environment's clips"
            )
        shapes = {}
        for side in ("left", "right"):
            payload = getattr(record, side)
            shapes[side] = _checked_array(payload, "observations", "obs_dtype", side).shape[1:]
            _checked_array(payload, "actions", "act_dtype", side)
            _checked_array(payload, "true_rewards", None, side)
        if shapes["left"] != shapes["right"]:
            raise _BadLine(
                f"left observations have shape {shapes['left']} per step, right ones {shapes['right']}: "
                "expected the same (clips of one environment)"
            )
        shape = shapes["left"]
        if self._obs_shape is not None and shape != self._obs_shape[0]:
            raise _BadLine(
                f"observations have shape {shape} per step, but the label on line {self._obs_shape[1]} has "
                f"{self._obs_shape[0]}: one label file holds one observation width"
            )
        allowed = _env_observation_shapes(env) if env else None
        if allowed is not None and shape not in allowed:
            named = "named in the header" if header_env else "the env asked for"
            raise _BadLine(
                f"observations have shape {shape} per step, but {env} ({named}) has "
                f"{' or '.join(map(str, allowed))}: is this file from another task?"
            )

    def _note_shape(self, record: PreferenceRecord, lineno: int) -> None:
        if self._obs_shape is None:
            self._obs_shape = (np.shape(record.left["observations"])[1:], lineno)


class LabelWriteError(OSError):
    """A label could not be written (disk full, a size limit, ...). ``errno`` is the cause's; the message names
    the file and what to do. ``rolled_back`` says whether the file was cut back to its size before the write
    (it almost always is), so nothing of the failed label is on disk or in memory."""

    def __init__(self, code: int | None, message: str, path: Path, rolled_back: bool) -> None:
        super().__init__(code, message)
        self.path = path
        self.rolled_back = rolled_back

    def __str__(self) -> str:
        return str(self.strerror)


_NUMBER_DTYPES = (
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "float32",
    "float64",
)


def _checked_array(payload: dict[str, Any], key: str, dtype_key: str | None, side: str) -> np.ndarray:
    """``payload[key]`` as an array of its recorded dtype; ``_BadLine`` saying what is wrong and allowed."""
    dtype = payload.get(dtype_key) if dtype_key else "float64"
    if dtype in (None, ""):
        dtype = None
    elif not isinstance(dtype, str) or dtype not in _NUMBER_DTYPES:
        known = ", ".join(_NUMBER_DTYPES)
        raise _BadLine(f"{side}.{dtype_key}={dtype!r} is not a known dtype: expected one of {known}")
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")  # a float32 overflow becomes inf, refused just below
            arr = np.asarray(payload[key], dtype=dtype)
    except (ValueError, TypeError, OverflowError):
        raise _BadLine(
            f"{side}.{key} is not a regular array of numbers (steps of different lengths, or not numbers): "
            "expected the same number of numbers at every step"
        ) from None
    if arr.dtype.kind not in "biuf":
        raise _BadLine(f"{side}.{key} holds {arr.dtype} values: expected numbers")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise _BadLine(f"{side}.{key} contain NaN or infinity: expected finite numbers")
    return arr


@functools.cache
def _env_observation_shapes(env_id: str) -> tuple[tuple[int, ...], ...] | None:
    """Per-step observation shapes a label file of ``env_id`` may hold, from the environment's own observation
    space: its shape, and one more number for a flat Box when episodes can end early (the end flag that
    ``envs.make_env(mark_end=True)`` appends). ``None`` (no check) for unknown envs and non-Box spaces."""
    from gymnasium import spaces

    from rlhf_lite import envs

    try:
        env = envs.make_env(env_id)
    except Exception:  # not registered or missing its extras here: nothing to check against
        return None
    try:
        space = env.observation_space
    finally:
        env.close()
    if not isinstance(space, spaces.Box):
        return None
    shapes = [tuple(space.shape)]
    if len(space.shape) == 1 and envs.can_end_early(env_id):
        shapes.append((space.shape[0] + 1,))
    return tuple(shapes)


def _default_producer() -> str:
    import sys

    from rlhf_lite import __version__

    program = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    return f"rlhf_lite {__version__} LabelStore, opened by {program}"
