"""The RLHF loop asking a person in a real browser: a loop runs in a background thread of the kernel, queues
pairs on the labeling widget, and the test answers by clicking. The loop's history must advance (labels
counted, reward model refit, policy steps) while the buttons keep answering.

Lesson 04's "teach a new behaviour" section: in fast mode its loop asks a couple of labels before training and
more after the first PPO round; the reader (this test) answers them while the later rounds train. Before the
first round the dashboard names what it waits for (the reader's first labels, counted as they come); the
clips are about 240 px high; the belief line speaks of the pair just answered; once the last pair is
answered no stale clips stay on screen; and nothing talks of replaying while a person labels.
"""

from __future__ import annotations

import json
import re
import time

import pytest
from jlab import NOTEBOOKS, assert_clips_play_side_by_side, clip_state, snapshot

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


def answer_until_round(
    lab, last_round: int, answers: list[str], limit: float = 480, seen: list | None = None
) -> list[tuple]:
    """Answer every pair the loop shows, cycling through ``answers``, until the dashboard reports round
    ``last_round``. Each click must be taken by the kernel (the counter goes up) while the loop runs.
    Returns ``(dashboard state when clicked, counter after, belief text after)`` per click; the first pair
    is also checked to play side by side. ``seen`` collects every dashboard state observed, in order."""
    clicks = []
    seen = [] if seen is None else seen
    deadline = time.monotonic() + limit  # a safety net against a hung loop, not a speed requirement
    while True:
        state = dashboard_state(lab)
        if state is not None and (not seen or seen[-1] != state):
            seen.append(state)
        if state is not None and state[0] >= last_round:
            return clicks
        assert time.monotonic() < deadline, f"the loop never reached round {last_round}; dashboard: {state}"
        if not pair_on_screen(lab):
            time.sleep(0.2)
            continue
        if not clicks:
            assert_clips_play_side_by_side(lab)  # the first pair, while the loop waits for its first labels
            snapshot(lab, "04-spin-first-pair", "rlhf-labeler")
            snapshot(lab, "04-spin-dashboard-waiting", "rlhf-dashboard")
        before = counter(lab)
        lab.click(f"rlhf-{answers[len(clicks) % len(answers)]}")
        # Responsive: the kernel takes the answer (stored, counted) while the loop's thread keeps running.
        lab.wait_text("rlhf-counter", lambda t, before=before: t.strip().startswith(f"{before + 1} "), timeout=60)
        clicks.append((state, before + 1, lab.text("rlhf-belief")))


LESSON = "04_rlhf_loop.ipynb"


@pytest.mark.skipif(not (NOTEBOOKS / LESSON).exists(), reason=f"notebooks/{LESSON} does not exist yet")
def test_lesson_04_reader_teaches_a_new_behaviour_while_the_loop_trains(lab):
    from rlhf_lite import loop, tasks

    spin_cfg = tasks.spin_config(fast=True)  # the lesson's run in fast mode, as the server's kernels use
    last_round = loop.round_sizes(spin_cfg, tasks.ppo_config(spin_cfg))[2]
    lab.open_notebook(LESSON)
    lab.run_all(timeout=420)  # the loop of the last section keeps running in the background
    assert lab.errors() == [], "a cell raised:\n" + "\n".join(lab.errors())
    out = lab.outputs_text()
    assert "still training" in out, "the results cell must not wait for a running loop"
    assert "Replaying" not in out and "replays the shipped file" not in out, (
        "no talk of replaying while a person labels"
    )

    # Before the first round the dashboard names what it waits for: the reader's first labels, counted.
    first = loop.label_schedule(spin_cfg, last_round)[0]
    waiting = lab.wait_text("rlhf-dashboard-status", lambda t: "waiting for your first" in t)
    assert f"waiting for your first {first} labels (0 given)" in waiting, waiting
    snapshot(lab, "04-spin-dashboard-0-given", "rlhf-dashboard")
    snapshot(lab, "04-clips-in-a-row", "rlhf-side-by-side")
    captions = lab.panel.locator("figure.rlhf-clip figcaption").all_inner_texts()
    assert sum(c.startswith("RLHF") for c in captions) == 1, f"the RLHF clip is shown once: {captions}"
    assert 230 <= clip_state(lab)["height"] <= 260, f"clips are about 240 px high: {clip_state(lab)}"
    lab.wait_pair(timeout=60)
    before = counter(lab)
    lab.click("rlhf-left")
    lab.wait_text("rlhf-counter", lambda t, before=before: t.strip().startswith(f"{before + 1} "), timeout=60)
    if first > 1:
        # The counter and the status line are two widgets, updated one after the other: wait for the status to move
        # on from "(0 given)" (its own words say "the first round", so "round" alone would match the stale line).
        status = lab.wait_text("rlhf-dashboard-status", lambda t: "(0 given)" not in t)
        assert f"waiting for your first {first} labels (1 given)" in status, status
    answers = ANSWERS[1:] + ANSWERS[:1]  # the first answer ("left") is given: carry on with the rest in order

    seen = []
    clicks = answer_until_round(lab, last_round, answers, seen=seen)
    clicks = [(None, before + 1, "")] + clicks
    during = [c for c in clicks if c[0] is not None and 1 <= c[0][0] < last_round]
    assert during, f"no click was answered while the loop trained; dashboard states at clicks: {[c[0] for c in clicks]}"
    assert any("trained on" in belief for state, _, belief in clicks if state is not None), [
        belief for _, _, belief in clicks
    ]
    # The belief line speaks of the pair just answered, in words.
    for _, _, belief in clicks[1:]:
        assert "just answered (#" in belief and "P(" not in belief, belief
    assert any(
        re.search(r"agreed with you|expected the other clip|could not tell the two apart", b) for _, _, b in clicks
    ), [b for _, _, b in clicks]
    snapshot(lab, "04-spin-dashboard-done", "rlhf-dashboard")
    # Every pair answered, the last round reported: no pair on screen and no stale clips beside that text.
    lab.wait_text("rlhf-pair", lambda t: t == "no pair on screen", timeout=60)
    assert clip_state(lab)["empty"], clip_state(lab)
    snapshot(lab, "04-spin-labeler-done", "rlhf-labeler")
    # The dashboard's history advanced: every round, more env steps; labels counted as they came in.
    assert [s[0] for s in seen] == sorted(s[0] for s in seen) and seen[-1][0] == last_round, seen
    steps = [s[2] for s in seen]
    assert steps == sorted(steps) and len(set(steps)) == len(steps), seen
    labels = [s[1] for s in seen]
    assert labels == sorted(labels) and labels[-1] > labels[0], f"labels given during training never counted: {seen}"

    # The results cell, re-run by the reader once the loop is done.
    out = lab.run_cell_containing("def spin_results")
    m = re.search(r"labels used: (\d+) \(answered by ([^)]*)\)", out)
    assert m, out
    assert int(m.group(1)) == labels[-1] and m.group(2) == "reader", out
    files = list((lab.server.notebook_dir / "runs" / "04_rlhf_loop").glob("spin_labels_*.jsonl"))
    assert len(files) == 1, files
    records = [json.loads(line) for line in files[0].read_text().splitlines()[1:]]
    assert [r["answer"] for r in records] == [a.replace("-", "_") for a in ANSWERS[: len(clicks)]]
    assert {r["labeler"] for r in records} == {"reader"}
