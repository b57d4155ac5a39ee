"""03_reward_predictor in a real browser: the two clips play side by side, large enough to judge (about 240 px)
with the torque arrow explained; label ten pairs by clicking (every answer kind and one undo), find exactly
those answers on disk in order; the belief line says in words what the predictor thought of the pair just
answered; once the target is reached no stale clips stay on screen; then restart the kernel, run all again
and see the store resume.

The server runs kernels with ``RLHF_LITE_FAST=1`` (small budgets) and ``RLHF_LITE_HEADLESS=0`` (the widget
waits for clicks instead of falling back to the stand-in labels).
"""

from __future__ import annotations

import json
import re

from jlab import assert_clips_play_side_by_side, clip_state, require_notebook, snapshot

NOTEBOOK = "03_reward_predictor.ipynb"
STORE = "runs/03_reward_predictor/my_labels.jsonl"  # where the notebook keeps the reader's labels
YOUR_NAME = "reader"  # the notebook's YOUR_NAME

# Twelve clicks: eleven answers, one undo (of the fifth answer, whose pair then comes back). Live answers:
CLICKS = ["left", "right", "equal", "cant-tell", "left", "undo", "right", "equal", "left", "right", "cant-tell", "left"]
LIVE = ["left", "right", "equal", "cant_tell", "right", "equal", "left", "right", "cant_tell", "left"]


def read_store(path):
    """(label records, retraction records) of a label file, raw from disk, in file order."""
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    assert lines[0]["kind"] == "header", lines[0]
    return [r for r in lines if r["kind"] == "label"], [r for r in lines if r["kind"] == "retract"]


def counter_values(text: str) -> tuple[int, int]:
    """(labels, target) from the counter's "N / M labels"."""
    m = re.match(r"\s*(\d+)\s*/\s*(\d+)", text)
    assert m, f"counter text {text!r} is not 'N / M labels'"
    return int(m.group(1)), int(m.group(2))


def counter_value(text: str) -> int:
    return counter_values(text)[0]


def test_label_ten_pairs_by_clicking_then_resume_after_restart(lab):
    require_notebook(NOTEBOOK)
    lab.open_notebook(NOTEBOOK)
    lab.run_all(timeout=300)
    assert lab.errors() == [], "a cell raised:\n" + "\n".join(lab.errors())
    labels, target = counter_values(lab.text("rlhf-counter"))
    assert labels == 0, "a fresh copy of the lesson starts with an empty store"
    assert target >= 10, f"in fast mode the lesson asks for {target} labels; this test labels 10 pairs"
    path = lab.server.notebook_dir / STORE
    snapshot(lab, "03-pair-with-true-returns", "rlhf-side-by-side")
    assert "-0<" not in lab.widget("rlhf-side-by-side").inner_html(), "no negative zero in the titles"
    lab.wait_pair(timeout=60)
    assert_clips_play_side_by_side(lab)
    clips = clip_state(lab)
    assert 230 <= clips["height"] <= 260 and not clips["empty"], f"clips are about 240 px high: {clips['height']}"
    legend = lab.text("rlhf-legend")
    assert "arrow" in legend and "motor" in legend, f"the torque arrow is explained next to the clips: {legend!r}"
    snapshot(lab, "03-labeler-first-pair", "rlhf-labeler")

    shown = []  # (pair id on screen, what was clicked)
    beliefs = []  # the belief line after each answer, with the pair then on screen
    for i, click in enumerate(CLICKS):
        pair = lab.wait_pair(timeout=60)
        shown.append((int(re.match(r"pair #(\d+)", pair).group(1)), click))
        if i < len(CLICKS) - 1:
            lab.click_answer(f"rlhf-{click}")  # returns once the next pair is on screen
            answered = shown[-1][0]  # the belief line follows the click (it may arrive just after the new pair)
            belief = lab.wait_text(  # the predicate is used only inside this call, so the loop variables are current
                "rlhf-belief",
                lambda t: "Took back" in t if click == "undo" else f"#{answered}," in t,  # noqa: B023
            )
            beliefs.append((answered, click, lab.text("rlhf-pair"), belief))
            if i == 6:  # after seven answers a predictor trained on the reader's labels has spoken
                lab.wait_text("rlhf-belief", lambda t: "trained on" in t, timeout=60)
                snapshot(lab, "03-labeler-belief", "rlhf-labeler")
        else:
            last = clip_state(lab)
            lab.click(f"rlhf-{click}")  # the last pair: nothing comes after it
    assert counter_value(lab.wait_text("rlhf-counter", lambda t: t.startswith("10 /"))) == 10
    # "Can't tell" counts toward the target, and the counter says how many of the labels it is.
    assert re.search(r"\(2 .can.t tell.\)", lab.text("rlhf-counter")), lab.text("rlhf-counter")
    # The belief line is about the pair just answered, by its number, in words (no P(left) statistics).
    for answered, click, now_on_screen, belief in beliefs:
        if click == "undo":
            assert "Took back" in belief, belief
            continue
        assert f"just answered (#{answered}" in belief and now_on_screen != f"pair #{answered}", belief
        assert "P(" not in belief, belief
    final = lab.text("rlhf-belief")
    assert re.search(
        r"agreed with you|expected the other clip|could not tell the two apart|about even|"
        r"would have picked|No predictor is trained yet",
        final,
    ), final
    # Target reached: no pair on screen, and the last pair's clips are gone (blank places, same size).
    lab.wait_text("rlhf-pair", lambda t: t == "no pair on screen")
    lab.page.wait_for_function(
        "(root) => root.querySelector('.rlhf-clip-left').classList.contains('rlhf-clip-empty')",
        arg=lab.labeler().element_handle(),
        timeout=30_000,
    )
    after = clip_state(lab)
    assert after["empty"] and after["left"] != last["left"] and after["right"] != last["right"], (last, after)
    snapshot(lab, "03-labeler-target-reached", "rlhf-labeler")

    # On disk: eleven answers and one retraction of the fifth; live answers are exactly the clicked ones.
    labels, retractions = read_store(path)
    assert [r["answer"] for r in labels] == [c.replace("-", "_") for c in CLICKS if c != "undo"]
    assert [r["retracts"] for r in retractions] == [labels[4]["id"]]
    live = [r for r in labels if r["id"] != labels[4]["id"]]
    assert [r["answer"] for r in live] == LIVE
    assert {r["labeler"] for r in labels} == {YOUR_NAME}, "clicks are stored under the reader's name"
    # Each answer belongs to the pair that was on screen when it was clicked (the undone pair came back).
    answered = [pid for pid, c in shown if c != "undo"]
    assert [r["meta"]["pair_id"] for r in labels] == answered
    assert answered[4] == answered[5], "undo puts the same pair back on screen"
    assert len(set(answered)) == 10
    assert all(r["seconds"] is not None and r["seconds"] >= 0 for r in labels)
    before = path.read_bytes()

    # Restart the kernel and run everything again: the store resumes with the same count, asks nothing new.
    lab.restart_kernel(run_all=True, timeout=300)
    assert lab.errors() == [], "a cell raised after the restart:\n" + "\n".join(lab.errors())
    assert counter_value(lab.wait_text("rlhf-counter", lambda t: bool(re.match(r"\s*\d+\s*/", t)))) == 10
    assert path.read_bytes() == before, "resuming must not rewrite or add to the label file"
