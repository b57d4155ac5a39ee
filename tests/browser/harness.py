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

    With ``training=True`` it has one more cell, not run by Run All until the test runs it: see
    :func:`training_cell_source`.
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

trainer = threading.Thread(target=_train, name="ppo-while-labeling", daemon=True)
trainer.start()
print("training in the background")"""
