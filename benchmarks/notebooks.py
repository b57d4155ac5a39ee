"""Run every lesson top to bottom at its default settings; print ONE JSON line with seconds and memory.

    python benchmarks/notebooks.py              # all notebooks/*.ipynb, default (not fast) settings
    python benchmarks/notebooks.py 00 01        # only notebooks whose name starts with 00 or 01
    python benchmarks/notebooks.py --fast       # the same with RLHF_LITE_FAST=1 (what CI runs)

Per notebook: ``wall_s`` (kernel start to last cell), ``cells_s`` (the cells alone), ``peak_rss_mb`` (the
kernel's peak resident memory, VmHWM from /proc, plus the peak of any child processes it starts),
``kernel_cpu_s`` (CPU seconds the kernel used: on a machine busy with other work, wall time grows but this
stays close to what a quiet machine needs), ``lost_wake_ups_rescued`` (client-side stalls that tests/nbrun.py's
polling cut short, issue 11), ``ok`` and, on failure, the failing cell. Targets (issue 2): each lesson under 180 s,
00 and 01 together under 120 s, on a 2-core laptop. The machine's load average at the start is recorded too:
timings on a busy machine are slow.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import sys
import threading
import time
from pathlib import Path

import nbformat
from nbclient.exceptions import CellExecutionError, CellTimeoutError

ROOT = Path(__file__).resolve().parents[1]


def _load_nbrun():
    """tests/nbrun.py (by path: benchmarks/ is no package): a client whose kernel waits poll in short slices, so the
    lost wake-up stall of issue 11 costs half a second instead of a whole cell timeout."""
    spec = importlib.util.spec_from_file_location("nbrun", ROOT / "tests" / "nbrun.py")
    module = sys.modules["nbrun"] = importlib.util.module_from_spec(spec)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


nbrun = _load_nbrun()
NOTEBOOK_DIR = ROOT / "notebooks"
LESSON_TARGET_S = 180.0
BASICS_TARGET_S = 120.0


def _status_kb(pid: int, key: str) -> int:
    """A ``VmHWM``/``VmRSS`` line of /proc/<pid>/status in KiB (0 if the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds the process has used (from /proc/<pid>/stat; 0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    """All descendants of ``pid`` (via /proc/<pid>/task/*/children)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                kids = [int(k) for k in (task / "children").read_text().split()]
            except (FileNotFoundError, ProcessLookupError):
                continue
            out += kids
            todo += kids
    return out


class ChildPeak(threading.Thread):
    """Polls the summed RSS of the kernel's child processes (if any) every 0.2 s; keeps the peak in KiB."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak_kb, self._stop_event = pid, 0, threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(0.2):
            self.peak_kb = max(self.peak_kb, sum(_status_kb(c, "VmRSS") for c in _children(self.pid)))

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def run_notebook(path: Path, timeout_s: int) -> dict:
    """Execute ``path`` in a fresh kernel started in ``notebooks/``; seconds, peak memory, and any failure."""
    nb = nbformat.read(path, as_version=4)
    client = nbrun.PollingNotebookClient(
        nb,
        timeout=timeout_s,
        kernel_name="python3",
        name=path.name,
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    )
    result: dict = {"ok": True}
    start = time.perf_counter()
    with client.setup_kernel():
        pid = client.km.provisioner.process.pid
        watcher = ChildPeak(pid)
        watcher.start()
        cells_start = time.perf_counter()
        try:
            for index, cell in enumerate(nb.cells):
                client.execute_cell(cell, index)
        except (CellExecutionError, CellTimeoutError) as e:
            result.update(ok=False, failed_cell=index, error=str(e).strip().splitlines()[-1][:300])
        result["cells_s"] = round(time.perf_counter() - cells_start, 2)
        kernel_peak_kb = _status_kb(pid, "VmHWM")
        result["kernel_cpu_s"] = round(_cpu_s(pid), 2)
        watcher.stop()
    result["wall_s"] = round(time.perf_counter() - start, 2)
    result["peak_rss_mb"] = round((kernel_peak_kb + watcher.peak_kb) / 1024, 1)
    result["lost_wake_ups_rescued"] = len(client.lost_wake_ups)  # stalls that polling cut short (one stderr line each)
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("prefixes", nargs="*", help="run only notebooks whose file name starts with one of these")
    p.add_argument("--fast", action="store_true", help="set RLHF_LITE_FAST=1 (tiny budgets) instead of defaults")
    p.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell")
    args = p.parse_args()

    if args.fast:
        os.environ["RLHF_LITE_FAST"] = "1"
    else:
        os.environ.pop("RLHF_LITE_FAST", None)
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.pop("MPLBACKEND", None)
    # No person clicks here: the labeling widgets must fall back (and say so) instead of waiting for answers.
    os.environ["RLHF_LITE_HEADLESS"] = "1"

    paths = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
    if args.prefixes:
        paths = [q for q in paths if any(q.name.startswith(pre) for pre in args.prefixes)]
    if not paths:
        raise SystemExit(f"no notebooks match {args.prefixes} in {NOTEBOOK_DIR}")

    load_start = os.getloadavg()[0]
    results = {q.stem: run_notebook(q, args.timeout) for q in paths}
    basics = [r["wall_s"] for name, r in results.items() if name.startswith(("00", "01"))]
    record = {
        "benchmark": "notebooks",
        "fast_mode": bool(args.fast),
        "notebooks": results,
        "total_wall_s": round(sum(r["wall_s"] for r in results.values()), 2),
        "basics_00_01_wall_s": round(sum(basics), 2) if len(basics) == 2 else None,
        "targets_s": {"each_lesson": LESSON_TARGET_S, "00_plus_01": BASICS_TARGET_S},
        "all_ok": all(r["ok"] for r in results.values()),
        "every_lesson_under_target": all(r["wall_s"] < LESSON_TARGET_S for r in results.values()),
        "basics_under_target": (sum(basics) < BASICS_TARGET_S) if len(basics) == 2 else None,
        "cpu_count": os.cpu_count(),
        "load_avg_1min_at_start": round(load_start, 2),
        "load_avg_1min_at_end": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
    }
    print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
