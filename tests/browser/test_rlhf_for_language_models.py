"""06_rlhf_for_language_models in a real browser: after Run All the labeler shows two completions of one prompt
side by side (the prompt once above them) and waits; label a few pairs by clicking, with every answer kind and
one undo; the label file holds exactly those answers, as text items of the pairs that were on screen, under the
reader's name; then the cells after the labeler, run again as a reader does, train the reward model on those
answers and say so (no stand-in).

The server runs kernels with ``RLHF_LITE_FAST=1`` (small budgets, eight pairs to label) and without
``RLHF_LITE_HEADLESS``: the widget finds a page connected and waits for clicks.
"""

from __future__ import annotations

import json
import re

from jlab import require_notebook, snapshot

NOTEBOOK = "06_rlhf_for_language_models.ipynb"
STORE = "runs/06_rlhf_for_language_models/my_labels.jsonl"  # where the notebook keeps the reader's labels
YOUR_NAME = "reader"  # the notebook's YOUR_NAME

# Eight clicks: seven answers and one undo (of the fourth answer, whose pair then comes back). Five of the six
# live answers can be trained on (left, right, equal): the notebook's MIN_LABELS, so no stand-in tops them up.
CLICKS = ["left", "right", "equal", "left", "undo", "cant-tell", "right", "left"]
LIVE = ["left", "right", "equal", "cant_tell", "right", "left"]


def read_store(path):
    """(label records, retraction records) of a label file, raw from disk, in file order."""
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    assert lines[0]["kind"] == "header", lines[0]
    return [r for r in lines if r["kind"] == "label"], [r for r in lines if r["kind"] == "retract"]


def counter_value(text: str) -> int:
    m = re.match(r"\s*(\d+)\s*/\s*(\d+)", text)
    assert m, f"counter text {text!r} is not 'N / M labels'"
    return int(m.group(1))


def pair_on_screen(lab) -> dict:
    """The pair on screen once both completions are shown: its number, the prompt and the two texts."""
    pair = lab.wait_text("rlhf-pair", lambda t: t.startswith("pair #"), timeout=60)
    lab.page.wait_for_function(
        """(root) => ['.rlhf-text-left', '.rlhf-text-right'].every(c => {
               const el = root.querySelector(c); return el && !el.classList.contains('rlhf-text-empty'); })""",
        arg=lab.labeler().element_handle(),
        timeout=60_000,
    )
    return {
        "pair": int(re.match(r"pair #(\d+)", pair).group(1)),
        "prompt": lab.text("rlhf-prompt"),
        "left": lab.text("rlhf-text-left"),
        "right": lab.text("rlhf-text-right"),
    }


def test_label_text_pairs_by_clicking_then_train_the_reward_model_on_them(lab):
    require_notebook(NOTEBOOK)
    lab.open_notebook(NOTEBOOK)
    lab.run_all(timeout=400)
    assert lab.errors() == [], "a cell raised:\n" + "\n".join(lab.errors())
    out = lab.outputs_text()
    assert "No person labeled here" not in out, "a person is at the page: the lesson must not say otherwise"
    assert counter_value(lab.text("rlhf-counter")) == 0, "a fresh copy of the lesson starts with an empty store"
    path = lab.server.notebook_dir / STORE

    shown = []  # (what was on screen, what was clicked)
    for click in CLICKS:
        screen = pair_on_screen(lab)
        assert "user :" in screen["prompt"] and "bot :" in screen["prompt"], screen
        assert screen["left"] and screen["right"] and screen["left"] != screen["right"], screen
        if not shown:
            snapshot(lab, "06-labeler-first-pair", "rlhf-labeler")
        shown.append((screen, click))
        before = counter_value(lab.text("rlhf-counter"))
        lab.click(f"rlhf-{click}")
        after = before - 1 if click == "undo" else before + 1
        lab.wait_text("rlhf-counter", lambda t, after=after: t.strip().startswith(f"{after} "), timeout=60)
        if click != "undo":  # the next pair replaces the one answered
            lab.wait_text("rlhf-pair", lambda t, p=screen["pair"]: t != f"pair #{p}", timeout=60)
    assert counter_value(lab.text("rlhf-counter")) == len(LIVE)
    snapshot(lab, "06-labeler-after-clicks", "rlhf-labeler")

    # On disk: seven answers and one retraction of the fourth; each a text item of the pair that was on screen.
    labels, retractions = read_store(path)
    answered = [(screen, click) for screen, click in shown if click != "undo"]
    assert [r["answer"] for r in labels] == [c.replace("-", "_") for _, c in answered]
    assert [r["retracts"] for r in retractions] == [labels[3]["id"]]
    assert {r["labeler"] for r in labels} == {YOUR_NAME}, "clicks are stored under the reader's name"
    for record, (screen, _) in zip(labels, answered):
        left, right = record["left"], record["right"]
        assert left["item"] == right["item"] == "text", (left, right)
        assert left["prompt"] == right["prompt"] and left["prompt"] in screen["prompt"], (left["prompt"], screen)
        assert (left["completion"], right["completion"]) == (screen["left"], screen["right"]), (record, screen)
        assert record["meta"]["pair_id"] == screen["pair"]
    assert answered[3][0]["pair"] == answered[4][0]["pair"], "undo puts the same pair back on screen"
    live = [r for r in labels if r["id"] != labels[3]["id"]]
    assert [r["answer"] for r in live] == LIVE

    # The reader runs the cells after the labeler again: the answers are collected and the reward model is
    # trained on exactly them (no stand-in tops them up: five can be trained on).
    collected = " ".join(lab.run_cell_containing("MIN_LABELS = ").split())  # plotting.say wraps lines
    assert f"{len(LIVE)} answers by {YOUR_NAME}" in collected, collected
    assert "stand-in" not in collected, collected
    trained = " ".join(lab.run_cell_containing("reward.train_reward_model(").split())
    n_trainable = sum(a != "cant_tell" for a in LIVE)
    m = re.search(r"Reward model trained on (\d+) answers by ([^ ]+?)[ .]", trained)
    assert m and int(m.group(1)) == n_trainable and m.group(2) == YOUR_NAME, trained
    assert re.search(r"it prefers the gold judge's choice \d+% of the time", trained), trained
    assert lab.errors() == [], "a cell raised:\n" + "\n".join(lab.errors())
    assert len(read_store(path)[0]) == len(labels), "running the cells again added no labels"
