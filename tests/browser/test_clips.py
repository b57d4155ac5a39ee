"""The labeling widget in a real browser: both clips are on screen side by side and actually play.

Runs on a small labeling notebook written at test time (``harness.py``), so it does not depend on a lesson.
"""

from __future__ import annotations

from harness import labeling_notebook


def test_clips_play_side_by_side(lab):
    labeling_notebook(lab.server.notebook_dir / "browser_clips.ipynb", n_pairs=3, store="runs/clips.jsonl")
    lab.open_notebook("browser_clips.ipynb")
    lab.run_all()
    assert lab.errors() == [], "a cell raised:\n" + "\n".join(lab.errors())
    assert lab.wait_pair().startswith("pair #0")

    left = lab.labeler().locator(".rlhf-clip-left").bounding_box()
    right = lab.labeler().locator(".rlhf-clip-right").bounding_box()
    assert left["width"] > 50 and left["height"] > 50, left
    assert right["width"] > 50 and right["height"] > 50, right
    assert left["x"] + left["width"] <= right["x"], f"left clip {left} is not left of the right clip {right}"
    overlap = min(left["y"] + left["height"], right["y"] + right["height"]) - max(left["y"], right["y"])
    assert overlap > 0.8 * min(left["height"], right["height"]), f"clips not side by side: {left} {right}"
    viewport = lab.page.viewport_size
    assert right["x"] + right["width"] <= viewport["width"], "the right clip runs off the screen"

    for side in ("rlhf-clip-left", "rlhf-clip-right"):
        shots = lab.clip_fingerprints(side, samples=6, interval=0.2)
        assert len(set(shots)) >= 3, f"{side} does not play: {len(set(shots))} distinct frames in 6 screenshots"
