"""00_start_here in a real browser: run all cells, click the widget check, see the kernel's answer."""

from __future__ import annotations

import re

from jlab import require_notebook

NOTEBOOK = "00_start_here.ipynb"


def test_run_all_then_click_the_widget_check(lab):
    require_notebook(NOTEBOOK)
    lab.open_notebook(NOTEBOOK)
    assert len(lab.server.kernels()) == 1, "one notebook, one kernel"
    lab.run_all()
    assert lab.errors() == [], "a cell raised:\n" + "\n".join(lab.errors())

    # The notebook's own headless check clicked once from Python; the widget shows that answer.
    before = lab.wait_text("rlhf-check-answer", lambda t: "click 1 " in t, timeout=60)
    assert "Python" in before

    lab.click("rlhf-check-button")
    after = lab.wait_text("rlhf-check-answer", lambda t: "click 2 " in t, timeout=30)
    assert "your browser" in after, after
    assert re.search(r"kernel process \d+", after), after

    # The environment check drew something: a matplotlib figure of the first frame and an inline clip.
    images = lab.panel.locator(".jp-OutputArea-output img")
    assert images.count() >= 2, f"expected the frame plot and the clip, found {images.count()} images"
    sizes = images.evaluate_all("els => els.map(e => [e.naturalWidth, e.naturalHeight])")
    assert all(w > 0 and h > 0 for w, h in sizes), f"an image did not load: {sizes}"
