"""How quickly does the labeling widget show the next pair after a click? Prints ONE JSON line.

    python benchmarks/widget_latency.py [--labels 30] [--seed 0]

Starts JupyterLab (isolated, as the browser tests do) and headless Chromium, opens a small labeling notebook
(``tests/browser/harness.py``: a ``WidgetLabeler`` on Pendulum-v1 clips) and clicks through ``--labels``
answers. Each pair is looked at for ``--dwell`` seconds (default: one play of the clip, the least a person
needs), then timed from the click event to the first painted frame with the next pair on screen (its
"pair #N" text changed and both clip GIFs replaced and decoded), by the page's own clock. Then it starts an
RLHF loop (PPO on the learned reward, pair selection, reward refits; labeled by the oracle so that it never
waits) in a background thread of the same kernel, and clicks through ``--labels`` more. Reports the median,
95th percentile and max in milliseconds for both phases, the medians of when the pair text changed and when
both clips were replaced, and how far the loop trained meanwhile.
Target (issue 5): p95 under 150 ms idle and under 300 ms while training.

``RLHF_LITE_FAST=1`` clicks 8 labels per phase instead of 30. The labels are made by this script, and the
label file says so (labeler "browser-test (Playwright clicks)"); the file is thrown away with the temp folder.
Needs Debian's Chromium (``bash tests/install_browser.sh``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "browser"))

import numpy as np  # noqa: E402
from _common import emit  # noqa: E402
from harness import LABELER_NAME, labeling_notebook  # noqa: E402
from jlab import CHROMIUM, Lab, LabServer, chromium_available, launch_chromium  # noqa: E402

from rlhf_lite.config import fast_mode  # noqa: E402

ANSWERS = ("rlhf-left", "rlhf-right", "rlhf-equal", "rlhf-cant-tell")
TARGET_P95_MS = {"idle": 150.0, "training": 300.0}


def summary(timings: list[dict]) -> dict:
    """Median, p95 and max of click -> next pair painted, plus the medians of the partial times."""
    a = np.asarray([t["total_ms"] for t in timings], dtype=np.float64)
    return {
        "n": int(a.size),
        "median_ms": round(float(np.median(a)), 1),
        "p95_ms": round(float(np.percentile(a, 95)), 1),
        "max_ms": round(float(a.max()), 1),
        "median_text_changed_ms": round(float(np.median([t["text_ms"] for t in timings])), 1),
        "median_clips_replaced_ms": round(float(np.median([t["clips_ms"] for t in timings])), 1),
    }


def click_through(lab: Lab, n: int, rng: np.random.Generator, dwell: float) -> list[dict]:
    """Answer ``n`` pairs with random answer kinds (undo is left out: it shows an old pair again), looking at
    each pair for ``dwell`` seconds first."""
    out = []
    for _ in range(n):
        lab.wait_pair(timeout=60)
        time.sleep(dwell)
        out.append(lab.click_answer_timed(ANSWERS[int(rng.integers(len(ANSWERS)))]))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--labels", type=int, default=None, help="timed clicks per phase (default 30; 8 in fast mode)")
    p.add_argument("--seed", type=int, default=0, help="seeds the clips, the answers clicked and PPO")
    p.add_argument("--env-id", default="Pendulum-v1")
    p.add_argument("--segment-length", type=int, default=25, help="steps per clip (25 = 1.25 s of Pendulum)")
    p.add_argument(
        "--dwell",
        type=float,
        default=None,
        help="seconds spent looking at each pair before clicking (default: one play of the clip, "
        "the least a person needs to judge it; 0 = click as soon as the clips show)",
    )
    p.add_argument("--keep", action="store_true", help="keep the temp folder (server log, notebook, labels)")
    args = p.parse_args()
    labels = args.labels or (8 if fast_mode() else 30)
    if args.dwell is None:
        from rlhf_lite import clip_drawing

        args.dwell = round(args.segment_length / clip_drawing.clip_fps(args.env_id), 3)
    if not chromium_available():
        print(
            json.dumps(
                {
                    "benchmark": "widget_latency",
                    "error": f"no Chromium at {CHROMIUM}: run bash tests/install_browser.sh",
                }
            )
        )
        sys.exit(2)
    from playwright.sync_api import sync_playwright

    start = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="rlhf_widget_latency_"))
    nb = labeling_notebook(
        root / "served" / "latency.ipynb",
        n_pairs=2 * labels + 2,
        env_id=args.env_id,
        seed=args.seed,
        store="runs/latency_labels.jsonl",
        training=True,
        segment_length=args.segment_length,
    )
    server = LabServer(root / "lab", notebooks=nb.parent, env={"RLHF_LITE_HEADLESS": "0"})
    rng = np.random.default_rng(args.seed)
    try:
        server.start()
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            lab = Lab(page, server)
            lab.open_notebook("latency.ipynb")
            for i in range(3):  # set up, show the labeler, queue the pairs
                lab.run_cell(i)
            if lab.errors():
                raise RuntimeError("a cell raised:\n" + "\n".join(lab.errors()))
            lab.click_answer(ANSWERS[0])  # warm-up: the first click pays one-off costs; not timed
            idle = click_through(lab, labels, rng, args.dwell)
            lab.run_cell(3)  # an RLHF loop starts training in a background thread of the kernel
            training = click_through(lab, labels, rng, args.dwell)
            report = json.loads(lab.run_cell(4).strip().splitlines()[-1])
            if report["error"] or report["labeler_errors"] or not report["still_running"]:
                raise RuntimeError(f"training or labeler failed: {report}")
            stored = lab.server.notebook_dir / "runs" / "latency_labels.jsonl"
            n_stored = sum(1 for line in stored.read_text().splitlines() if '"kind":"label"' in line)
            chromium_version = browser.version
            browser.close()
    finally:
        server.stop()
        if not args.keep:
            subprocess.run(["rm", "-rf", str(root)], check=False)
    emit(
        {
            "benchmark": "widget_latency",
            "what": "click -> next pair of clips painted, JupyterLab + headless Chromium, WidgetLabeler",
            "env_id": args.env_id,
            "seed": args.seed,
            "segment_length": args.segment_length,
            "dwell_s": args.dwell,
            "labels_per_phase": labels,
            "labels_stored": n_stored,
            "labeler": LABELER_NAME,
            "idle": summary(idle),
            "training": summary(training),
            "training_during_clicks": report["training_during"],
            "training_what": (
                f"loop.RLHFLoop({args.env_id!r}, oracle labels) in a kernel background thread, torch 1 thread"
            ),
            "target_p95_ms": TARGET_P95_MS,
            "meets_target": {
                k: summary(v)["p95_ms"] < TARGET_P95_MS[k] for k, v in (("idle", idle), ("training", training))
            },
            "fast_mode": fast_mode(),
            "chromium": chromium_version,
            "cpu_count": os.cpu_count(),
            "wall_s": round(time.monotonic() - start, 1),
        }
    )


if __name__ == "__main__":
    main()
