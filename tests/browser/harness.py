"""A small labeling notebook written at test time, so the real ``WidgetLabeler`` can be clicked in a real browser
independently of the lessons (the clip checks and the latency benchmark use it).

The label file it writes names its labeler ``browser-test (Playwright clicks)``: those labels are made by a
script, and the file says so.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

LABELER_NAME = "browser-test (Playwright clicks)"


def labeling_notebook(path: Path, *, n_pairs: int, store: str = "runs/browser_labels.jsonl",
                      env_id: str = "Pendulum-v1", segment_length: int = 25, seed: int = 0,
                      training: bool = False) -> Path:
    """Write a notebook that shows a ``WidgetLabeler`` with ``n_pairs`` pairs of random-policy clips queued.

    With ``training=True`` two more cells follow: cell 3 starts PPO training in a background thread
    (:func:`training_cell_source`), cell 4 stops it and prints what it did as one JSON line. Run them one at a
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
        nb.cells += [nbformat.v4.new_code_cell(training_cell_source(env_id, seed)),
                     nbformat.v4.new_code_cell(STOP_TRAINING)]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def training_cell_source(env_id: str = "Pendulum-v1", seed: int = 0) -> str:
    """Kernel code that starts PPO training in a background thread (the way an RLHF loop trains while a person
    labels) and keeps going until ``stop_training.set()``; ``train_info`` counts iterations and env steps."""
    return f"""\
from rlhf_lite import agents
stop_training = threading.Event()
train_info = {{"iterations": 0, "env_steps": 0, "error": None}}

def _on_iteration(info):
    train_info["iterations"] = info["iteration"]
    train_info["env_steps"] = info["env_steps"]
    return stop_training.is_set()

def _train():
    try:
        agents.train_ppo({env_id!r}, seed={seed}, total_steps=10_000_000, callback=_on_iteration, progress=False)
    except Exception as exc:
        train_info["error"] = repr(exc)

import torch
torch.set_num_threads(1)  # as the lessons do: one core trains, the other serves the widgets
trainer = threading.Thread(target=_train, name="ppo-while-labeling", daemon=True)
trainer.start()
t0 = time.monotonic()
while train_info["iterations"] < 1 and trainer.is_alive() and time.monotonic() - t0 < 120:
    time.sleep(0.05)  # training is under way before the first timed click
assert train_info["iterations"] >= 1, train_info
train_before = dict(train_info)
print("training in the background:", train_before)"""


STOP_TRAINING = """\
import json
during = {"iterations": train_info["iterations"] - train_before["iterations"],
          "env_steps": train_info["env_steps"] - train_before["env_steps"]}
stop_training.set()
trainer.join(timeout=60)
print(json.dumps({"training_during": during, "error": train_info["error"], "labels": labeler.n_labels,
                  "labeler_errors": labeler.errors}))"""
