"""Shared bits of the benchmark scripts: one JSON line out, peak memory, thread settings, seed lists."""

from __future__ import annotations

import json
import platform
import resource
import sys
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
