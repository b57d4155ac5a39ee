"""Files that survive a crash, and checkpoints that say what is wrong with them.

One atomic write for every file the package saves (:func:`atomic_write`: write aside, flush and ``fsync``,
rename over the target, ``fsync`` the folder), so a crash leaves the old file or the new one, never half of
one, and what was written is on disk before it replaces anything. :func:`write_folder` does the same for a
checkpoint *folder* of several files (the RLHF loop's ``agent.pt``, ``reward.pt``, ``loop.json``): the new
folder is written beside the old one and swapped in by two renames, so a crash at any point leaves either the
old checkpoint or the new one whole, never the new weights with the old round (:func:`open_folder` finishes a
swap a crash interrupted).

Loading is checked (:func:`load_torch`, :func:`read_json`): ``torch.load(..., weights_only=True)`` (no pickled
code), and an unreadable, truncated or foreign file raises :class:`CheckpointError` (a ``ValueError``) that
names the file, what it expected and what to do, instead of ``PytorchStreamReader failed reading zip
archive``, a bare ``EOFError`` or ``JSONDecodeError``; weights holding NaN or infinity are refused.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

__all__ = [
    "CheckpointError",
    "KNOWN_FORMATS",
    "atomic_write",
    "write_json",
    "save_torch",
    "load_torch",
    "read_json",
    "write_folder",
    "open_folder",
    "fsync_folder",
]

KNOWN_FORMATS = {
    "rlhf_lite.PPOAgent/1": ("a PPOAgent", "an agent"),
    "rlhf_lite.RewardEnsemble/1": ("a RewardEnsemble", "a reward model"),
    "rlhf_lite.RLHFLoop/1": ("an RLHF loop", "an RLHF loop's"),
    "rlhf_lite.history/1": ("a history", "a run history"),
}
"""The ``format`` field of each kind of file the package writes: (its class, what it is in words)."""


class CheckpointError(ValueError):
    """A checkpoint file cannot be used: unreadable, truncated, of another kind or task, or not finite."""


def fsync_folder(folder: str | os.PathLike) -> None:
    """``fsync`` a folder, so that a rename or a new name in it survives a power cut (a no-op where folders
    cannot be opened, e.g. Windows)."""
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


def atomic_write(path: str | os.PathLike, data: bytes | Callable[[Any], None]) -> Path:
    """Replace ``path`` with new contents, all or nothing: ``data`` (bytes, or a function writing to a binary
    file) goes to a temporary file beside it, which is flushed and ``fsync``-ed, renamed over ``path``, and
    the folder is ``fsync``-ed. A crash leaves the old file or the new one; a failed write removes the
    temporary file and leaves the old one. Returns ``path``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "wb") as f:
            if callable(data):
                data(f)
            else:
                f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except Exception:
        tmp.unlink(missing_ok=True)
        raise
    fsync_folder(path.parent)
    return path


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """:func:`atomic_write` of ``obj`` as JSON."""
    return atomic_write(path, json.dumps(obj).encode("utf-8"))


def save_torch(path: str | os.PathLike, state: Any) -> Path:
    """:func:`atomic_write` of ``torch.save(state)``; ``state`` should hold only tensors and plain values, so
    that :func:`load_torch` reads it with ``weights_only=True``."""
    import torch

    return atomic_write(path, lambda f: torch.save(state, f))


def load_torch(path: str | os.PathLike, expect: str, *, finite: bool = True) -> dict:
    """Read a ``torch.save`` checkpoint with ``weights_only=True`` and check it is a dict whose ``format`` is
    ``expect`` (one of :data:`KNOWN_FORMATS`) and, with ``finite``, that no floating-point tensor in it holds
    NaN or infinity. Anything else raises :class:`CheckpointError` naming the file and what was expected."""
    import pickle

    import torch

    path = Path(path)
    what = KNOWN_FORMATS.get(expect, (expect,))[0]
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file (expected {what} checkpoint, format {expect!r})")
    try:
        state = torch.load(path, weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError, ValueError, OSError, KeyError, IndexError) as e:
        text = re.sub(r"\x1b\[[0-9;]*m", "", str(e)).strip()  # torch's messages carry terminal colours
        first = text.splitlines()[0] if text else type(e).__name__
        raise CheckpointError(
            f"{path} cannot be read as {what} checkpoint ({type(e).__name__}: {first[:200]}): the file is "
            "truncated, damaged or not a torch checkpoint written by rlhf_lite. Save it again, or use another one."
        ) from None
    _check_format(path, state, expect)
    if finite:
        bad = _first_not_finite(state)
        if bad is not None:
            raise CheckpointError(
                f"{path}: {bad} holds NaN or infinity, so {what} loaded from it would act on garbage (the run "
                "that saved it had diverged). Refusing to load it; use an earlier checkpoint."
            )
    return state


def read_json(path: str | os.PathLike, expect: str | None = None) -> Any:
    """Read a JSON file; an unreadable or truncated one, or (with ``expect``) one of another ``format``, raises
    :class:`CheckpointError` naming the file and what was expected."""
    path = Path(path)
    what = KNOWN_FORMATS.get(expect, (expect,))[0] + " file" if expect else "a JSON file"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file (expected {what})")
    try:
        obj = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(
            f"{path} is not valid JSON ({e}): expected {what}; the file is truncated or damaged"
        ) from None
    if expect is not None:
        _check_format(path, obj, expect)
    return obj


def describe_space(d: Any) -> str:
    """A saved space description (``{"type": "Box", "low": ...}``) in a few words: ``Box(3,)``, ``Discrete(2)``."""
    if not isinstance(d, dict):
        return repr(d)
    if d.get("type") == "Discrete":
        return f"Discrete({d.get('n')})"
    from rlhf_lite import spaces as space_codec

    try:
        return f"{d.get('type')}{space_codec.from_dict(d).shape}"
    except (ValueError, KeyError, TypeError):
        return f"{d.get('type')}?"


def _check_format(path: Path, state: Any, expect: str) -> None:
    what = KNOWN_FORMATS.get(expect, (expect, expect))
    found = state.get("format") if isinstance(state, dict) else None
    if found == expect:
        return
    if found in KNOWN_FORMATS and found != expect:
        cls, words = KNOWN_FORMATS[found]
        raise CheckpointError(
            f"{path}: this is {words} checkpoint ({cls}, format {found!r}), not {what[1]} ({what[0]}, format "
            f"{expect!r}). Pass the file that holds {what[1]}."
        )
    raise CheckpointError(
        f"{path} is not {what[0]} checkpoint: format={found!r}, expected {expect!r} (is it a file rlhf_lite wrote?)"
    )


def _first_not_finite(obj: Any, where: str = "") -> str | None:
    """The key path of the first floating-point tensor holding NaN or infinity (spaces skipped), or ``None``."""
    import torch

    if isinstance(obj, torch.Tensor):
        if obj.is_floating_point() and not bool(torch.isfinite(obj).all()):
            return where or "the tensor"
        return None
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, (list, tuple)) else ()
    for k, v in items:
        if isinstance(k, str) and k.endswith("_space"):  # space bounds may be infinite: they are no weights
            continue
        bad = _first_not_finite(v, f"{where}.{k}" if where else str(k))
        if bad is not None:
            return bad
    return None


# ---- checkpoint folders -----------------------------------------------------------------------------------------


def write_folder(folder: str | os.PathLike, write: Callable[[Path], None], files: Iterable[str]) -> Path:
    """Write the checkpoint ``folder`` so that a crash at any point leaves the old one or the new one whole.

    ``write(tmp)`` writes the files named in ``files`` into a new folder beside ``folder`` (use
    :func:`atomic_write` or :func:`save_torch`, which ``fsync``). Then the old folder is renamed aside, the new
    one renamed into place, and the old one deleted; :func:`open_folder` finishes this swap if a crash stopped
    it between the two renames. A folder holding other files than ``files`` is refused (it is replaced whole).
    """
    folder = Path(folder)
    files = set(files)
    folder.parent.mkdir(parents=True, exist_ok=True)
    open_folder(folder, must_exist=False)  # finish an interrupted swap first
    if folder.exists():
        if not folder.is_dir():
            raise ValueError(f"{folder} is a file: expected a checkpoint folder path")
        others = sorted(p.name for p in folder.iterdir() if p.name not in files)
        if others:
            raise ValueError(
                f"{folder} holds other files than a checkpoint's ({', '.join(others[:5])}): a checkpoint folder is "
                f"replaced whole at every save, so give a new or empty folder (it will hold {', '.join(sorted(files))})"
            )
    for stale in folder.parent.glob(f".{folder.name}.new-*"):  # a crash before its swap: never used
        shutil.rmtree(stale, ignore_errors=True)
    token = secrets.token_hex(4)
    new, old = _sibling(folder, "new", token), _sibling(folder, "old", token)
    new.mkdir()
    try:
        write(new)
        missing = sorted(f for f in files if not (new / f).is_file())
        if missing:
            raise RuntimeError(f"checkpoint writer did not write {', '.join(missing)}")
        fsync_folder(new)
    except Exception:
        shutil.rmtree(new, ignore_errors=True)
        raise
    if folder.exists():
        os.rename(folder, old)  # a crash after this: old and new are both whole, open_folder picks new
        os.rename(new, folder)
        fsync_folder(folder.parent)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(new, folder)
        fsync_folder(folder.parent)
    return folder


def open_folder(folder: str | os.PathLike, *, must_exist: bool = True) -> Path:
    """The checkpoint folder to read, after finishing a swap that a crash interrupted in :func:`write_folder`.

    Only a new folder that was completely written is ever renamed aside its old one (same token), so when the
    folder is missing but such a pair is there, the new one is the checkpoint. Leftover old folders are
    removed. Raises ``FileNotFoundError`` (with ``must_exist``) when there is no checkpoint at all."""
    folder = Path(folder)
    for old in sorted(folder.parent.glob(f".{folder.name}.old-*")):
        token = old.name.rsplit("-", 1)[-1]
        new = _sibling(folder, "new", token)
        if not folder.exists():
            source = new if new.is_dir() else old  # without its new one, the old one goes back
            try:
                os.rename(source, folder)
                fsync_folder(folder.parent)
            except OSError:  # read-only media: read it where it is
                return source
        if old.exists():
            shutil.rmtree(old, ignore_errors=True)
    if must_exist and not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no checkpoint folder here (expected one written by RLHFLoop.save)")
    return folder


def _sibling(folder: Path, kind: str, token: str) -> Path:
    return folder.parent / f".{folder.name}.{kind}-{token}"


def digest(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes (hex), recorded in a checkpoint's manifest so that resuming can check that its
    files belong together."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def manifest(folder: str | os.PathLike, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``{name: {"bytes": size, "sha256": digest}}`` of files in ``folder``, for :func:`check_manifest`."""
    folder = Path(folder)
    return {name: {"bytes": (folder / name).stat().st_size, "sha256": digest(folder / name)} for name in names}


def check_manifest(folder: str | os.PathLike, files: dict[str, Any], owner: str) -> None:
    """Raise :class:`CheckpointError` unless every file named in ``files`` (from :func:`manifest`) is in
    ``folder`` with those bytes: a truncated file, one changed after the save, or one of another save mixed in
    is refused by name."""
    folder = Path(folder)
    for name, want in files.items():
        path = folder / name
        want = want if isinstance(want, dict) else {"sha256": want}
        if not path.is_file():
            raise CheckpointError(f"{path} is missing: {owner} names it as part of this checkpoint")
        size = path.stat().st_size
        if "bytes" in want and size != want["bytes"]:
            raise CheckpointError(
                f"{path} has {size} bytes, but {owner} recorded {want['bytes']}: it was cut short, changed or "
                "replaced after the save. Use another checkpoint, or a folder written whole by one save."
            )
        if digest(path) != want["sha256"]:
            raise CheckpointError(
                f"{path} is not the {name} this checkpoint saved: {owner} recorded other bytes, so it was changed "
                "or replaced after the save (e.g. copied by hand from another save). Use a folder written whole "
                "by one save."
            )
