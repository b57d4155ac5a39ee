"""A small labeling notebook written at test time, so the real ``WidgetLabeler`` can be clicked in a real browser
independently of the lessons (the clip checks and the latency benchmark use it).

The label file it writes names its labeler ``browser-test (Playwright clicks)``: those labels are made by a
script, and the file says so.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

LABELER_NAME = "browser-test (Playwright clicks)"


def labeling_notebook(
    path: Path,
    *,
    n_pairs: int,
    store: str = "runs/browser_labels.jsonl",
    env_id: str = "Pendulum-v1",
    segment_length: int = 25,
    seed: int = 0,
    training: bool = False,
) -> Path:
    """Write a notebook that shows a ``WidgetLabeler`` with ``n_pairs`` pairs of random-policy clips queued.

    With ``training=True`` two more cells follow: cell 3 starts an RLHF loop (oracle-labeled) in a background
    thread (:func:`training_cell_source`), cell 4 stops it and prints what it did as one JSON line. Run them one at a
    time (``Lab.run_cell``), not with Run All.
    """
    setup = f"""\
import os
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
import threading, time
import numpy as np
from IPython.display import display
from rlhf_lite import envs, rollouts, widgets

rng = np.random.default_rng({seed})
env = envs.make_env({env_id!r}, seed={seed})
trajectories = [rollouts.rollout(env, None, seed={seed} + i) for i in range(4)]
segments = rollouts.cut_segments(trajectories, {segment_length}, rng, n={2 * n_pairs})
pairs = [(segments[2 * i], segments[2 * i + 1]) for i in range({n_pairs})]
print(len(pairs), "pairs of", {segment_length}, "steps ready")"""
    show = f"""\
labeler = widgets.WidgetLabeler({store!r}, {env_id!r}, name={LABELER_NAME!r}, target={n_pairs})
assert not labeler.headless, labeler.headless_reason
display(labeler)"""
    submit = "pair_ids = labeler.submit_pairs(pairs)\nprint('queued pairs', pair_ids[0], 'to', pair_ids[-1])"
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(setup), nbformat.v4.new_code_cell(show), nbformat.v4.new_code_cell(submit)]
    if training:
        nb.cells += [
            nbformat.v4.new_code_cell(training_cell_source(env_id, seed)),
            nbformat.v4.new_code_cell(STOP_TRAINING),
        ]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def training_cell_source(env_id: str = "Pendulum-v1", seed: int = 0) -> str:
    """Kernel code that starts an RLHF loop in a background thread, labeled by the oracle (so it never waits
    for the person): PPO rounds on the learned reward, pair selection and reward refits, the CPU load a
    person labels against. It runs until ``bg.stop()``; the cell returns once training is under way."""
    return f"""\
import torch
from rlhf_lite import labelers, loop
torch.set_num_threads(1)  # as the lessons do: one core trains, the other serves the widgets
bg = loop.RLHFLoop(loop.RLHFConfig(env_id={env_id!r}, total_steps=100_000_000, label_budget=2_000,
                                   initial_fraction=0.01, queries_per_round=3),
                   labelers.OracleLabeler(noise_prob=0.1, rng={seed}), seed={seed})
bg.start()
t0 = time.monotonic()
while not bg.history and bg.running and time.monotonic() - t0 < 120:
    time.sleep(0.05)  # the random-policy round is done: PPO on the learned reward is under way
assert bg.running and bg.error is None, bg.error
train_before = {{"rounds": len(bg.history), "env_steps": bg.env_steps, "labels": len(bg.records)}}
print("RLHF loop training in the background:", train_before)"""


STOP_TRAINING = """\
import json
during = {"rounds": len(bg.history) - train_before["rounds"], "env_steps": bg.env_steps - train_before["env_steps"],
          "oracle_labels": len(bg.records) - train_before["labels"]}
running = bg.running
bg.stop()
print(json.dumps({"training_during": during, "still_running": running,
                  "error": None if bg.error is None else repr(bg.error),
                  "labels": labeler.n_labels, "labeler_errors": labeler.errors}))"""
