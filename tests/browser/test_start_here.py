"""00_start_here in a real browser: run all cells, click the widget check, see the kernel's answer.

The kernel is not told that a person is there (no ``RLHF_LITE_HEADLESS``): the notebook's stand-in cell must
find the page by itself and leave the button alone, so the person's first click is answered as click 1.
"""

from __future__ import annotations

import re

from jlab import require_notebook, snapshot

NOTEBOOK = "00_start_here.ipynb"


def test_run_all_then_the_first_click_is_click_1(lab):
    require_notebook(NOTEBOOK)
    lab.open_notebook(NOTEBOOK)
    assert len(lab.server.kernels()) == 1, "one notebook, one kernel"
    lab.run_all()
    assert lab.errors() == [], "a cell raised:\n" + "\n".join(lab.errors())

    # Nobody clicked yet: the stand-in cell saw the page and pressed nothing.
    assert lab.text("rlhf-check-answer") == "not clicked yet"
    outputs = lab.outputs_text()
    assert "You are here, so this cell presses nothing" in outputs, outputs[-2000:]
    assert "Python pressed the button" not in outputs

    lab.click("rlhf-check-button")
    first = lab.wait_text("rlhf-check-answer", lambda t: "answered" in t, timeout=30)
    assert "click 1 from your browser" in first, first
    assert re.search(r"kernel process \d+", first), first
    snapshot(lab, "00-first-click", "rlhf-check-answer")
    lab.click("rlhf-check-button")
    second = lab.wait_text("rlhf-check-answer", lambda t: "click 2 " in t, timeout=30)
    assert "your browser" in second, second

    # The environment check drew something: a matplotlib figure of the first frame and an inline clip.
    images = lab.panel.locator(".jp-OutputArea-output img")
    assert images.count() >= 2, f"expected the frame plot and the clip, found {images.count()} images"
    sizes = images.evaluate_all("els => els.map(e => [e.naturalWidth, e.naturalHeight])")
    assert all(w > 0 and h > 0 for w, h in sizes), f"an image did not load: {sizes}"
