"""Lesson 05 in a real browser: after Run All, part 6 ("your turn") shows pairs of clips and waits for the reader;
the test labels them by clicking the real buttons, each click must be taken by the kernel (the counter goes up)
and written to the session's label file, and once the loop has trained on them the results cell says the labels
were the reader's, not the scripted contrarian stand-in's.

The server runs kernels with ``RLHF_LITE_FAST=1`` (small budgets) and without ``RLHF_LITE_HEADLESS``: the
widget finds the page and waits for clicks instead of letting the stand-in answer.
"""

from __future__ import annotations

import json
import re
import time

from jlab import assert_clips_play_side_by_side, require_notebook, snapshot

NOTEBOOK = "05_rlhf_pitfalls.ipynb"
ANSWERS = ["right", "left", "right", "equal", "right", "left", "cant-tell", "right"]  # cycled over the pairs asked
STATUS = re.compile(r"round (\d+), (\d+) labels")


def counter_values(text: str) -> tuple[int, int]:
    """(labels, target) from the counter's "N / M labels"."""
    m = re.match(r"\s*(\d+)\s*/\s*(\d+)", text)
    assert m, f"counter text {text!r} is not 'N / M labels'"
    return int(m.group(1)), int(m.group(2))


def last_round(lab) -> int | None:
    """The round the last dashboard on the page reports, or None before its first round."""
    loc = lab.panel.locator(".rlhf-dashboard-status")
    m = STATUS.search(loc.last.inner_text()) if loc.count() else None
    return None if m is None else int(m.group(1))


def test_lesson_05_reader_labels_badly_and_the_loop_trains_on_it(lab):
    require_notebook(NOTEBOOK)
    lab.open_notebook(NOTEBOOK)
    lab.run_all(timeout=420)  # part 6's loop keeps running in the background, waiting for the reader
    assert lab.errors() == [], "a cell raised:\n" + "\n".join(lab.errors())
    out = lab.outputs_text()
    assert "still training" in out, "the results cell must not wait for a running loop"
    assert "scripted contrarian answers" not in out, "nobody but the reader answers while a person is at the page"

    given, target = counter_values(lab.text("rlhf-counter"))
    assert given == 0 and 4 <= target <= 40, (
        f"a fresh session asks the reader for the slider's labels: {given}/{target}"
    )
    waiting = lab.wait_text("rlhf-dashboard-status", lambda t: "waiting for your first" in t)
    assert f"waiting for your first {target} labels (0 given)" in waiting, waiting
    lab.wait_pair(timeout=60)
    assert_clips_play_side_by_side(lab)
    snapshot(lab, "05-your-turn-first-pair", "rlhf-labeler")

    clicked = []
    for i in range(target):
        lab.wait_pair(timeout=60)
        answer = ANSWERS[i % len(ANSWERS)]
        lab.click(f"rlhf-{answer}")
        # the kernel took the answer: the counter shows it (stored and counted) before the next click
        lab.wait_text("rlhf-counter", lambda t, n=i + 1: t.strip().startswith(f"{n} "), timeout=60)
        clicked.append(answer.replace("-", "_"))
    lab.wait_text("rlhf-pair", lambda t: t == "no pair on screen", timeout=60)

    # The reader's labels were the loop's first labels: training starts and runs to its last round.
    deadline = time.monotonic() + 300
    while True:
        out = lab.run_cell_containing("def your_results")
        if "labels used:" in out:
            break
        assert "still training" in out, out
        assert time.monotonic() < deadline, f"the loop never finished; dashboard at round {last_round(lab)}"
        time.sleep(2)
    snapshot(lab, "05-your-turn-dashboard-done", "rlhf-dashboard")
    m = re.search(r"labels used: (\d+) \(answered by ([^)]*)\)", out)
    assert m, out
    assert int(m.group(1)) == target and m.group(2) == "reader", out
    assert "trained on your labels" in out, out

    # On disk: exactly the clicked answers, in order, under the reader's name, in this session's fresh file.
    files = list((lab.server.notebook_dir / "runs" / "05_rlhf_pitfalls").glob("your_labels_*.jsonl"))
    assert len(files) == 1, files
    lines = [json.loads(line) for line in files[0].read_text().splitlines() if line.strip()]
    assert lines[0]["kind"] == "header", lines[0]
    records = [r for r in lines if r["kind"] == "label"]
    assert [r["answer"] for r in records] == clicked
    assert {r["labeler"] for r in records} == {"reader"}
