"""The RLHF loop asking a person in a real browser: a loop runs in a background thread of the kernel, queues
pairs on the labeling widget, and the test answers by clicking. The loop's history must advance (labels
counted, reward model refit, policy steps) while the buttons keep answering.

Runs on a small notebook written at test time (``harness.loop_notebook``: a tiny Pendulum-v1 run, 2 labels
before training and 2 after each of 3 PPO rounds).
"""

from __future__ import annotations

import json
import re
import time

from harness import LABELER_NAME, LOOP_CONFIG, loop_notebook
from jlab import assert_clips_play_side_by_side

ANSWERS = ["left", "right", "equal", "left", "right", "cant-tell", "right", "left"]
STATUS = re.compile(r"round (\d+), (\d+) labels, ([\d,]+) env steps")


def dashboard_state(lab) -> tuple[int, int, int] | None:
    """(round, labels, env steps) the dashboard shows, or None before the first round ends."""
    loc = lab.panel.locator(".rlhf-dashboard-status")
    if not loc.count():
        return None
    m = STATUS.search(loc.last.inner_text())
    return None if m is None else (int(m.group(1)), int(m.group(2)), int(m.group(3).replace(",", "")))


def counter(lab) -> int:
    return int(re.match(r"\s*(\d+)", lab.text("rlhf-counter")).group(1))


def pair_on_screen(lab) -> bool:
    return lab.text("rlhf-pair").startswith("pair #") and lab.labeler().locator(".rlhf-left").is_enabled()


def test_loop_asks_the_browser_and_keeps_training(lab):
    loop_notebook(lab.server.notebook_dir / "browser_loop.ipynb")
    lab.open_notebook("browser_loop.ipynb")
    lab.run_cell(0)
    lab.run_cell(1)  # returns at once: the loop runs in a background thread
    assert lab.errors() == [], "a cell raised:\n" + "\n".join(lab.errors())
    last_round = (LOOP_CONFIG["total_steps"] - 1600) // LOOP_CONFIG["steps_per_round"]

    clicks = []  # (dashboard state when clicked, counter after, belief text after)
    deadline = time.monotonic() + 480  # a safety net against a hung loop, not a speed requirement
    while True:
        state = dashboard_state(lab)
        if state is not None and state[0] >= last_round:
            break
        assert time.monotonic() < deadline, f"the loop never reached round {last_round}; dashboard: {state}"
        if not pair_on_screen(lab):
            time.sleep(0.2)
            continue
        if not clicks:
            assert_clips_play_side_by_side(lab)  # the first pair, while the loop waits for its first labels
        before = counter(lab)
        lab.click(f"rlhf-{ANSWERS[len(clicks) % len(ANSWERS)]}")
        # Responsive: the kernel takes the answer (stored, counted) while the loop's thread keeps running.
        lab.wait_text("rlhf-counter", lambda t: t.strip().startswith(f"{before + 1} "), timeout=60)
        clicks.append((state, before + 1, lab.text("rlhf-belief")))

    # Labels were answered while PPO rounds ran: after round 1 finished, before the last one did.
    during = [c for c in clicks if c[0] is not None and 1 <= c[0][0] < last_round]
    assert during, f"no click was answered while the loop trained; dashboard states at clicks: {[c[0] for c in clicks]}"
    # After the first fit, every answer is shown against the refit reward model's belief.
    assert any("trained on" in belief for state, _, belief in clicks if state is not None), \
        [belief for _, _, belief in clicks]

    out = lab.run_cell(2)
    report = json.loads(out.strip().splitlines()[-1])
    lab.run_cell(3)  # stop the loop
    assert report["error"] is None and report["labeler_errors"] == [], report
    history = report["history"]
    assert [h["round"] for h in history] == list(range(len(history))) and len(history) >= last_round + 1
    steps = [h["env_steps"] for h in history]
    assert all(b - a == LOOP_CONFIG["steps_per_round"] for a, b in zip(steps, steps[1:])), steps
    labels = [h["labels"] for h in history]
    assert labels[0] == 2 and labels == sorted(labels) and labels[-1] >= 4, labels
    assert labels[-1] <= len(clicks), (labels, len(clicks))
    # The reward model was refit whenever new labels came in.
    for prev, h in zip(history, history[1:]):
        if h["labels"] > prev["labels"]:
            assert h["fit_loss"] is not None, h

    stored = lab.server.notebook_dir / "runs" / "loop_labels.jsonl"
    records = [json.loads(line) for line in stored.read_text().splitlines()[1:]]
    assert len(records) == len(clicks) and {r["labeler"] for r in records} == {LABELER_NAME}
    assert [r["answer"] for r in records] == [a.replace("-", "_") for a in ANSWERS[: len(clicks)]]
    assert {r["meta"]["round"] for r in records} >= {0, 1}
