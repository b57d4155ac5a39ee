"""02_specification_gaming in a real browser: the patch-it-yourself panel shows one result, the person's own,
and no stale clip of the default reward stays under it.

The kernel is not told that a person is there (no ``RLHF_LITE_HEADLESS``).
"""

from __future__ import annotations

from jlab import require_notebook, snapshot

NOTEBOOK = "02_specification_gaming.ipynb"
TITLE = "the best boat for this reward"


def result_clips(lab) -> int:
    """Clips on the page captioned as a result of the panel (the Output widget nests output areas, so the
    captions are counted, not the text)."""
    return lab.panel.locator("figure.rlhf-clip figcaption", has_text=TITLE).count()


def test_one_result_the_readers_own_after_pressing_train(lab):
    require_notebook(NOTEBOOK)
    lab.open_notebook(NOTEBOOK)
    lab.run_all()
    assert lab.errors() == [], "a cell raised:\n" + "\n".join(lab.errors())
    assert "Nobody can move the sliders" not in lab.outputs_text(), "the headless note showed with a person here"
    assert result_clips(lab) == 1, f"expected one result clip, found {result_clips(lab)}"
    assert "patches: none" in lab.text("rlhf-result")

    box = lab.widget("rlhf-value-finish_bonus").locator("input")
    box.fill("20")
    box.press("Enter")
    lab.click("rlhf-train")
    result = lab.wait_text("rlhf-result", lambda t: "finish_bonus" in t and TITLE in t, timeout=60)
    assert "finished the race" in result, result  # a big finish bonus makes the best boat race
    assert result_clips(lab) == 1, f"a stale clip stayed: {result_clips(lab)} result clips on the page"
    clips = lab.widget("rlhf-result").locator("img")
    assert clips.count() == 1, f"{clips.count()} clips in the result box"
    snapshot(lab, "02-own-result", "rlhf-patch-panel")
