"""Shared bits of the benchmark scripts: one JSON line out, peak memory, thread settings, seed lists."""

from __future__ import annotations

import concurrent.futures
import json
import platform
import resource
import sys
from collections.abc import Callable
from typing import Any


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def setup_torch(threads: int = 1) -> float:
    """Set torch's thread count (1 is fastest for these tiny networks) and pay its one-off lazy imports (the
    first optimizer pulls in ``torch._dynamo``) before any timer starts, so that the first of two timed runs is
    not charged for them; returns the seconds those imports took (``startup_s``)."""
    import time

    import torch

    torch.set_num_threads(threads)
    start = time.perf_counter()
    torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])
    return round(time.perf_counter() - start, 2)


def emit(record: dict[str, Any]) -> None:
    """Print ``record`` as ONE JSON line (with peak memory and the Python version added) and flush."""
    record = dict(record, peak_rss_mb=round(peak_rss_mb(), 1), python=platform.python_version())
    print(json.dumps(record, sort_keys=False), flush=True)
    sys.stdout.flush()


def parse_seeds(text: str) -> list[int]:
    """``"0-9"``, ``"0,3,5"`` or ``"0-4,8"`` -> a list of seeds."""
    seeds: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.strip().partition("-")
        try:
            seeds += list(range(int(lo), int(hi) + 1)) if hi else [int(lo)]
        except ValueError:
            raise SystemExit(f"--seeds {text!r}: expected seeds like 0-9, 0,3,5 or 0-4,8") from None
    return seeds


def run_seeds(one_run: Callable[[int], dict], seeds: list[int], jobs: int) -> list[dict]:
    """``[one_run(seed) for seed in seeds]``, with ``jobs`` > 1 running that many seeds at a time in separate
    processes (``one_run`` must pickle: a module-level function or a ``functools.partial`` of one; each run sets
    its own torch threads). The records come back in the order of ``seeds``."""
    if jobs < 1:
        raise SystemExit(f"--jobs {jobs}: expected a whole number >= 1")
    if jobs == 1:
        return [one_run(seed) for seed in seeds]
    with concurrent.futures.ProcessPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(one_run, seeds))
