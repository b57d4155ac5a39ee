"""01_rl_basics in a real browser: after Run All the play-the-agent game is still the person's to play, and the
Q-learning panel says what a typed value may be instead of silently moving it.

The kernel is not told that a person is there (no ``RLHF_LITE_HEADLESS``): the stand-in cells must find the
page by themselves and press nothing.
"""

from __future__ import annotations

from jlab import require_notebook, snapshot

NOTEBOOK = "01_rl_basics.ipynb"


def test_the_game_is_playable_after_run_all_and_the_panel_refuses_a_bad_value(lab):
    require_notebook(NOTEBOOK)
    lab.open_notebook(NOTEBOOK)
    lab.run_all(timeout=300)
    assert lab.errors() == [], "a cell raised:\n" + "\n".join(lab.errors())
    outputs = lab.outputs_text()
    assert "the game above is yours" in outputs and "the sliders above are yours" in outputs, outputs[-3000:]
    assert "Python pressed" not in outputs and "moved to" not in outputs, "a stand-in cell acted with a person here"

    # The game waits at the start of an episode; each click is one env.step answered by the kernel.
    assert lab.text("rlhf-play-status").startswith("step 0"), lab.text("rlhf-play-status")
    before = lab.widget("rlhf-play-screen").get_attribute("src")
    lab.click("rlhf-play-right")
    one = lab.wait_text("rlhf-play-status", lambda t: t.startswith("step 1 "), timeout=30)
    assert "reward for this step: +1" in one, one
    lab.click("rlhf-play-left")
    lab.wait_text("rlhf-play-status", lambda t: t.startswith("step 2 "), timeout=30)
    assert lab.widget("rlhf-play-screen").get_attribute("src") != before, "the picture did not change"
    snapshot(lab, "01-game-after-run-all", "rlhf-play")

    # The help beside each slider gives the range that slider offers (q_init runs 0-20 here).
    panel = lab.widget("rlhf-panel")
    help_text = " ".join(panel.locator(".rlhf-help").all_inner_texts())
    assert "(0 to 20)" in help_text and "1e+06" not in help_text, help_text

    # Typing 0 as the learning rate is refused with what is allowed; the slider stays where it was.
    box = lab.widget("rlhf-value-learning_rate").locator("input")
    box.fill("0")
    box.press("Enter")
    message = lab.wait_text("rlhf-panel-message", lambda t: "learning_rate" in t, timeout=30)
    assert "out of range" in message and "0.0005 to 1" in message and "stays at 0.5" in message, message
    snapshot(lab, "01-panel-refuses-0", "rlhf-panel")
    box.fill("0.05")
    box.press("Enter")
    lab.wait_text("rlhf-panel-message", lambda t: t == "", timeout=30)
