"""The low-level file work of a :class:`~rlhf_lite.label_store.LabelStore`: one whole line per ``os.write`` under
an ``flock``, ``fsync`` before returning, and rolling a failed write back, so that a label file never holds half a
line that anyone acknowledged."""

from __future__ import annotations

import contextlib
import errno
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rlhf_lite.preferences import _json_default

try:  # POSIX: lock the file so that several processes can append safely.
    import fcntl
except ImportError:  # pragma: no cover - Windows: threads in one process are still safe, processes are not.
    fcntl = None

__all__ = ["LabelWriteError", "locked", "write_line", "default_producer"]


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


@contextlib.contextmanager
def locked(path: Path, exclusive: bool) -> Iterator[int]:
    """A fresh descriptor on the file under ``flock`` (exclusive for writing, shared for reading)."""
    flags = (os.O_RDWR | os.O_APPEND | os.O_CREAT) if exclusive else os.O_RDONLY
    fd = os.open(path, flags, 0o644)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield fd
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def write_line(fd: int, obj: dict[str, Any], path: Path) -> int:
    """One ``os.write`` of one whole line, then ``fsync``. Caller holds the exclusive lock.

    On any ``OSError`` the file is truncated back to its size before the write (still under the lock, so
    no reader saw the partial line) and ``path``'s :class:`LabelWriteError` is raised."""
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
        raise _roll_back(fd, size, e, path) from e
    return len(data)


def _roll_back(fd: int, size: int, error: OSError, path: Path) -> LabelWriteError:
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
        f"{path}: could not write the label ({error.strerror or error}): {undone}; every label before "
        f"it is intact and this store stays usable. {todo}."
    )
    return LabelWriteError(error.errno, message, path, rolled_back)


def default_producer() -> str:
    """Who opened a new label file, for its header: this package's version and the program."""
    import sys

    from rlhf_lite import __version__

    program = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    return f"rlhf_lite {__version__} LabelStore, opened by {program}"
