"""The widget labeler and config panels, driven from the kernel side (``button.click()``).

Browser-level tests (a person's clicks in JupyterLab) live in tests/browser; these prove that each click
writes exactly the expected record, that undo, counters and resuming work, and that headless runs say so.
"""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import dataclasses  # noqa: E402

from rlhf_lite import clip_drawing, envs, labelers, preferences, rollouts, widgets  # noqa: E402
from rlhf_lite.config import Config, param  # noqa: E402
from rlhf_lite.widgets import presence  # noqa: E402


@dataclasses.dataclass
class RewardModelConfig(Config):
    """Stand-in with one field of every kind a panel must handle."""

    ensemble_size: int = param(3, "number of reward networks, each on its own bootstrap sample", low=1, high=16)
    hidden_size: int = param(64, "units per hidden layer", low=4, high=1024)
    learning_rate: float = param(3e-3, "Adam step size", low=0.0, high=1.0, low_open=True)
    noise_prob: float = param(0.1, "assumed chance of a random answer", low=0.0, high=1.0, high_open=True)
    bootstrap: bool = param(True, "resample the labels per member", choices=(True, False))
    activation: str = param("relu", "non-linearity", choices=("relu", "tanh"))


ENV = "Pendulum-v1"


@pytest.fixture(scope="module")
def segments():
    env = envs.make_env(ENV, seed=3, horizon=30)
    trajs = [rollouts.rollout(env, None, seed=10 + i) for i in range(3)]
    return rollouts.cut_segments(trajs, 5, np.random.default_rng(0), n=8)


@pytest.fixture
def pairs(segments):
    return preferences.random_pairs(segments, 8, np.random.default_rng(1))


@pytest.fixture(autouse=True)
def _no_env_overrides(monkeypatch):
    monkeypatch.delenv("RLHF_LITE_FAST", raising=False)
    monkeypatch.delenv(widgets.HEADLESS_ENV_VAR, raising=False)


def make(tmp_path, **kw):
    kw.setdefault("headless", False)
    kw.setdefault("prefetch", 0)  # draw synchronously: the pair is on screen when submit/click returns
    kw.setdefault("clip_height", 48)
    return widgets.WidgetLabeler(tmp_path / "labels.jsonl", ENV, **kw)


def uids(left, right):
    return (left.uid, right.uid)


def test_each_click_stores_exactly_that_answer_in_order(tmp_path, pairs):
    lab = make(tmp_path, name="alice", target=4)
    lab.submit_pairs(pairs[:6])
    shown = []
    for answer in ("left", "right", "equal", "cant_tell"):
        shown.append(lab.current_pair)
        lab.buttons[answer].click()
    assert shown == [0, 1, 2, 3]
    store = preferences.LabelStore(tmp_path / "labels.jsonl")  # a fresh reader sees what is on disk
    recs = store.labels()
    assert [r.answer for r in recs] == ["left", "right", "equal", "cant_tell"]
    assert [r.uids for r in recs] == [uids(*p) for p in pairs[:4]]
    assert {r.labeler for r in recs} == {"alice"}
    assert "clicks of 'alice'" in store.header["producer"] and store.header["env_id"] == ENV
    assert [r.meta["pair_id"] for r in recs] == [0, 1, 2, 3]
    assert all(r.env_id == ENV and r.seconds is not None and r.seconds >= 0 for r in recs)
    assert lab.n_labels == 4 and lab.progress.value == 4
    assert "4 / 4" in lab.counter.value and "target reached" in lab.counter.value


def test_undo_retracts_and_shows_the_pair_again(tmp_path, pairs):
    lab = make(tmp_path, target=10)
    lab.submit_pairs(pairs[:3])
    lab.buttons["left"].click()
    lab.buttons["right"].click()
    assert lab.current_pair == 2 and lab.n_labels == 2
    lab.undo_button.click()
    assert lab.current_pair == 1, "the undone pair is back on screen"
    assert lab.n_labels == 1 and lab.progress.value == 1 and "1 / 10" in lab.counter.value
    assert "Took back" in lab.belief_label.value
    lab.buttons["equal"].click()  # answer pair 1 again
    assert lab.current_pair == 2, "the pair that was on screen before the undo comes next"
    lab.buttons["cant_tell"].click()
    store = preferences.LabelStore(tmp_path / "labels.jsonl")
    assert [(r.meta["pair_id"], r.answer) for r in store.labels()] == [(0, "left"), (1, "equal"), (2, "cant_tell")]
    everything = store.all_records()
    assert [(r.meta["pair_id"], r.answer) for r in everything] == [
        (0, "left"),
        (1, "right"),
        (1, "equal"),
        (2, "cant_tell"),
    ]
    assert store.retracted_ids() == {everything[1].id}
    # Undo all the way back, then once more: nothing left from this session, nothing else changes.
    for _ in range(4):
        lab.undo_button.click()
    assert len(preferences.LabelStore(tmp_path / "labels.jsonl")) == 0
    assert lab.undo_button.disabled and lab.n_labels == 0


def test_store_resumes_with_its_count(tmp_path, pairs):
    lab = make(tmp_path, target=5)
    lab.submit_pairs(pairs[:3])
    for answer in ("left", "right", "left"):
        lab.buttons[answer].click()
    lab.close()
    again = make(tmp_path, target=5)
    assert again.n_labels == 3 and again.progress.value == 3 and "3 / 5" in again.counter.value
    assert again.undo_button.disabled, "undo only takes back this session's answers"
    again.submit_pairs(pairs[3:4])
    again.buttons["right"].click()
    assert [r.answer for r in preferences.LabelStore(tmp_path / "labels.jsonl").labels()] == [
        "left",
        "right",
        "left",
        "right",
    ]


def test_clicks_without_a_pair_do_nothing(tmp_path):
    lab = make(tmp_path)
    assert all(b.disabled for b in lab.buttons.values()) and lab.undo_button.disabled
    for b in lab.buttons.values():
        b.click()
    lab.undo_button.click()
    assert lab.n_labels == 0 and len(lab.store) == 0
    assert "Waiting" in lab.status.value


def test_dom_classes_are_stable(tmp_path):
    lab = make(tmp_path)
    found = set()

    def walk(w):
        found.update(getattr(w, "_dom_classes", ()))
        for child in getattr(w, "children", ()):
            walk(child)

    walk(lab.widget)
    expected = {
        "rlhf-labeler",
        "rlhf-left",
        "rlhf-right",
        "rlhf-equal",
        "rlhf-cant-tell",
        "rlhf-undo",
        "rlhf-clip-left",
        "rlhf-clip-right",
        "rlhf-counter",
        "rlhf-progress",
        "rlhf-timing",
        "rlhf-status",
        "rlhf-belief",
        "rlhf-pair",
    }
    assert expected <= found
    for name in expected:
        assert f"``{name}``" in widgets.__doc__, f"{name} is documented in the module docstring"


def test_clips_are_gifs_of_the_pair(tmp_path, pairs):
    lab = make(tmp_path, prefetch=2)
    lab.submit_pairs(pairs[:3])
    assert lab.wait_until_shown(timeout=60) == 0
    left, right = bytes(lab.clip_left.value), bytes(lab.clip_right.value)
    assert left[:4] == b"GIF8" and right[:4] == b"GIF8" and left != right
    import io

    from PIL import Image

    for data in (left, right):
        assert Image.open(io.BytesIO(data)).n_frames == len(pairs[0][0])
    lab.buttons["left"].click()
    assert lab.wait_until_shown(timeout=60) == 1
    assert (bytes(lab.clip_left.value), bytes(lab.clip_right.value)) != (left, right)
    lab.close()


def test_segments_with_frames_are_shown_as_they_are(tmp_path, pairs):
    a, b = pairs[0]
    frames = np.zeros((len(a), 20, 30, 3), np.uint8)
    frames[:, :, :, 0] = np.arange(len(a))[:, None, None] * 40
    a = rollouts.Segment(a.observations, a.actions, a.true_rewards, frames=frames, uid="framed")
    gif = clip_drawing.segment_gif(a, None, fps=10, height=20)
    import io

    from PIL import Image

    im = Image.open(io.BytesIO(gif))
    assert im.size == (30, 20) and im.n_frames == len(a)
    with pytest.raises(ValueError, match="env_id"):
        clip_drawing.segment_gif(b, None)
    cropped = Image.open(io.BytesIO(clip_drawing.segment_gif(a, None, fps=10, height=10, crop=0.5)))
    assert cropped.size == (15, 10), "the centre half of a 20 x 30 frame, scaled to 10 pixels high"
    assert clip_drawing.default_crop(ENV) < 1 and clip_drawing.default_crop("CartPole-v1") == 1.0
    with pytest.raises(ValueError, match="crop"):
        clip_drawing.segment_gif(a, None, crop=0)


def test_label_blocks_only_off_the_main_thread(tmp_path, pairs):
    lab = make(tmp_path, prefetch=1)
    with pytest.raises(RuntimeError, match="background thread"):
        lab.label(*pairs[0])
    with pytest.raises(RuntimeError, match="background thread"):
        lab.wait_for_labels(1)
    result = {}
    worker = threading.Thread(target=lambda: result.setdefault("answer", lab.label(*pairs[0])))
    worker.start()
    assert lab.wait_until_shown(timeout=60) is not None
    lab.buttons["right"].click()
    worker.join(timeout=30)
    assert result == {"answer": "right"}
    assert [r.answer for r in lab.store.labels()] == ["right"]
    assert isinstance(lab, labelers.Labeler)
    lab.close()


def test_a_loop_thread_submits_and_waits_while_the_person_clicks(tmp_path, pairs):
    lab = make(tmp_path, prefetch=2, target=4)
    got = []

    def loop():
        lab.submit_pairs(pairs[:4], meta={"round": 1})
        got.extend(lab.wait_for_labels(3, timeout=60))

    worker = threading.Thread(target=loop)
    worker.start()
    for answer in ("left", "equal", "right"):
        assert lab.wait_until_shown(timeout=60) is not None
        lab.buttons[answer].click()
    worker.join(timeout=60)
    assert [r.answer for r in got] == ["left", "equal", "right"]
    assert all(r.meta["round"] == 1 for r in got)
    assert lab.n_pending == 1
    assert lab.wait_for_labels(0) == [], "records are handed out once"
    lab.close()


def test_discard_pending_keeps_the_pair_on_screen(tmp_path, pairs):
    lab = make(tmp_path)
    lab.submit_pairs(pairs[:4])
    assert lab.discard_pending() == [1, 2, 3]
    assert lab.current_pair == 0 and lab.n_pending == 1
    lab.buttons["left"].click()
    assert lab.current_pair is None and "Waiting" in lab.status.value
    assert lab.submit_pairs(pairs[4:5]) == [4] and lab.current_pair == 4


def test_wait_for_labels_times_out_with_what_arrived(tmp_path, pairs):
    lab = make(tmp_path)
    lab.submit_pairs(pairs[:2])
    lab.buttons["left"].click()
    out = []
    t = threading.Thread(target=lambda: out.extend(lab.wait_for_labels(2, timeout=0.2)))
    t.start()
    t.join(timeout=10)
    assert [r.answer for r in out] == ["left"]


def test_belief_after_each_answer(tmp_path, pairs):
    lab = make(tmp_path, predictor=lambda left, right: np.array([0.8, 0.6]))
    lab.submit_pairs(pairs[:3])
    lab.buttons["left"].click()
    belief = lab.belief_label.value
    assert "agreed with you" in belief and "#0" in belief and "just answered" in belief, belief
    assert lab.current_pair == 1, "the line is about the previous pair, not the one now on screen"
    lab.buttons["right"].click()
    assert "expected the other clip" in lab.belief_label.value and "#1" in lab.belief_label.value

    class Ensemble:
        def preference_probability(self, a_list, b_list):
            return np.full((3, len(a_list)), 0.25)

    lab.set_predictor(Ensemble(), note="trained on 7 labels")
    lab.buttons["right"].click()
    belief = lab.belief_label.value
    assert "The predictor, trained on 7 labels, <b>agreed with you</b>" in belief, belief
    assert "P(" not in belief and "0.25" not in belief, "plain words, not statistics"
    with pytest.raises(ValueError, match="predictor"):
        lab.set_predictor(42)


@pytest.mark.parametrize(
    "answer, members, expected",
    [
        ("left", [0.9, 0.8], "agreed with you"),
        ("left", [0.2, 0.1], "expected the other clip"),
        ("right", [0.52, 0.49], "could not tell the two apart"),
        ("equal", [0.5, 0.52], "about even"),
        ("equal", [0.9, 0.9], "expected one clip to be better"),
        ("cant_tell", [0.3], "would have picked <b>the right clip</b>"),
    ],
)
def test_belief_sentence_in_plain_words(answer, members, expected):
    text = widgets.belief_sentence(4, answer, np.array(members), "trained on 4 of your labels")
    assert expected in text and "#4" in text and "trained on 4 of your labels" in text, text
    assert "P(" not in text
    assert ("not used for training" in text) == (answer == "cant_tell")
    assert ("networks" in text) == (min(members) < 0.5 < max(members)), "ensemble disagreement is named only when real"


def test_belief_sentence_without_a_predictor_or_person():
    text = widgets.belief_sentence(2, "left", None)
    assert "No predictor is trained yet" in text and "you said" in text
    text = widgets.belief_sentence(2, "left", np.array([0.9]), who="the stand-in (replay:x.jsonl)")
    assert "the stand-in (replay:x.jsonl) said" in text and "agreed with the stand-in" in text
    assert "you" not in text.replace("you just", ""), text


def test_refit_in_background_attaches_a_new_predictor(tmp_path, pairs):
    lab = make(tmp_path)
    fitted = []
    done = threading.Event()

    def fit(my_pairs):
        fitted.append([p.target for p in my_pairs])
        done.set()
        return lambda left, right: 0.9

    widgets.refit_in_background(lab, fit, every=2, min_pairs=1)
    lab.submit_pairs(pairs[:4])
    lab.buttons["left"].click()
    assert not done.is_set(), "no fit before `every` answers"
    lab.buttons["cant_tell"].click()
    lab.buttons["right"].click()
    lab.buttons["equal"].click()
    assert done.wait(timeout=30)
    for _ in range(300):  # the second fit (after 4 answers) may still be running
        if len(fitted) == 2:
            break
        threading.Event().wait(0.1)
    assert fitted[0][:1] == [1.0] and fitted[-1] == [1.0, 0.0, 0.5], "cant_tell is dropped, order kept"
    lab.undo_button.click()
    lab.buttons["left"].click()
    assert "agreed with you" in lab.belief_label.value and "trained on 3 of your labels" in lab.belief_label.value


def test_callbacks_and_a_failing_callback_keeps_the_label(tmp_path, pairs):
    lab = make(tmp_path)
    seen, undone = [], []
    lab.on_label(lambda r: seen.append(r.answer))
    lab.on_undo(lambda r: undone.append(r.answer))
    lab.submit_pairs(pairs[:3])
    lab.buttons["equal"].click()
    lab.undo_button.click()
    assert seen == ["equal"] and undone == ["equal"]

    def broken(record):
        raise KeyError("boom")

    lab.on_label(broken)
    lab.buttons["left"].click()
    assert "Error" in lab.status.value and "boom" in lab.status.value
    assert [r.answer for r in lab.store.labels()] == ["left"]


def test_bad_pairs_are_refused(tmp_path, pairs, segments):
    lab = make(tmp_path)
    short = rollouts.Segment(segments[0].observations[:3], segments[0].actions[:3], segments[0].true_rewards[:3])
    with pytest.raises(ValueError, match="same length"):
        lab.submit_pairs([(segments[1], short)])
    with pytest.raises(ValueError, match="pairs\\[0\\]"):
        lab.submit_pairs([segments[0]])
    with pytest.raises(ValueError, match="target"):
        make(tmp_path, target=0)
    assert lab.n_pending == 0 and len(lab.store) == 0


def test_headless_says_so_and_uses_the_oracle(tmp_path, pairs, monkeypatch):
    monkeypatch.setenv("RLHF_LITE_FAST", "1")  # fast mode plays no part in the decision
    lab = widgets.WidgetLabeler(tmp_path / "labels.jsonl", ENV, target=3, seed=5)
    assert lab.headless and "plain Python" in lab.headless_reason and "fast" not in lab.headless_reason
    assert "No person is labeling" in lab.status.value
    assert "NO PERSON IS LABELING" in lab._repr_mimebundle_()["text/plain"]
    lab.submit_pairs(pairs[:3])
    recs = lab.store.labels()
    expected = labelers.OracleLabeler(noise_prob=0.1, rng=np.random.default_rng(5))
    assert [r.answer for r in recs] == [expected.label(a, b) for a, b in pairs[:3]]
    assert {r.labeler for r in recs} == {expected.name}, "records name the oracle, never a person"
    assert "no person was labeling" in lab.store.header["producer"], "the file's header says who filled it"
    assert lab.n_labels == 3 and "3 / 3" in lab.counter.value
    assert len(lab.wait_for_labels(3, timeout=1)) == 3
    assert lab.label(*pairs[3]) in preferences.ANSWERS


def test_headless_replays_a_label_file(tmp_path, pairs):
    shipped = preferences.LabelStore(tmp_path / "shipped.jsonl", producer="test: oracle seed 0")
    for (a, b), answer in zip(pairs[:2], ["right", "left"]):
        shipped.add(a, b, answer, "oracle(noise=0, temperature=0)")
    replay = labelers.ReplayLabeler(tmp_path / "shipped.jsonl")
    lab = widgets.WidgetLabeler(tmp_path / "labels.jsonl", ENV, headless=True, fallback=replay)
    assert "headless=True" in lab.headless_reason and "replay:shipped.jsonl" in lab.status.value
    lab.submit_pairs(pairs[:2])
    assert [(r.answer, r.labeler) for r in lab.store.labels()] == [
        ("right", "replay:shipped.jsonl"),
        ("left", "replay:shipped.jsonl"),
    ]


def test_headless_switch(monkeypatch):
    monkeypatch.setattr(presence, "_FRONT_END_SEEN", {})
    assert "not a Jupyter kernel" in widgets.headless_reason()  # pytest has no kernel
    monkeypatch.setenv(widgets.HEADLESS_ENV_VAR, "0")
    assert widgets.headless_reason() is None, "RLHF_LITE_HEADLESS=0 says a person is there"
    monkeypatch.setenv(widgets.HEADLESS_ENV_VAR, "1")
    assert "RLHF_LITE_HEADLESS" in widgets.headless_reason()
    monkeypatch.delenv(widgets.HEADLESS_ENV_VAR)
    assert widgets.headless_reason(False) is None and "headless=True" in widgets.headless_reason(True)


class FakeKernel:
    """What headless_reason reads of an ipykernel: the parent message of the running request."""

    def __init__(self, parent: dict, user_ns: dict | None = None):
        self.parent = parent
        self.shell = type("Shell", (), {"user_ns": user_ns or {}})()

    def get_parent(self):
        return self.parent


# Parent messages as JupyterLab 4 and nbclient 0.11 send them (recorded with a probe cell, see widgets/presence.py).
JUPYTERLAB_CELL = {
    "header": {"msg_type": "execute_request", "username": "", "version": "5.2"},
    "metadata": {"trusted": True, "deletedCells": [], "recordTiming": False, "cellId": "f54384cd"},
}
NBCLIENT_CELL = {"header": {"msg_type": "execute_request", "username": "username", "version": "5.4"}, "metadata": {}}


@pytest.mark.parametrize("fast", ["", "1"])
def test_a_notebook_page_is_detected_and_fast_mode_does_not_matter(monkeypatch, fast):
    monkeypatch.setenv("RLHF_LITE_FAST", fast)
    monkeypatch.setattr(presence, "_FRONT_END_SEEN", {})
    monkeypatch.setattr(presence, "running_kernel", lambda: FakeKernel(NBCLIENT_CELL))
    reason = widgets.headless_reason()
    assert reason is not None and "nbclient" in reason, "a script's cell has no cellId: nobody can click"
    trusted_but_no_id = {"header": {"msg_type": "execute_request"}, "metadata": {"trusted": True}}
    monkeypatch.setattr(presence, "running_kernel", lambda: FakeKernel(trusted_but_no_id))
    assert widgets.headless_reason() is not None, "only the cellId counts, not any metadata"
    monkeypatch.setattr(presence, "running_kernel", lambda: FakeKernel(JUPYTERLAB_CELL))
    assert widgets.headless_reason() is None, "JupyterLab's cell names its cellId: a person can click"
    monkeypatch.setenv(widgets.HEADLESS_ENV_VAR, "1")
    assert "RLHF_LITE_HEADLESS" in widgets.headless_reason(), "the switch overrides the detection"
    monkeypatch.delenv(widgets.HEADLESS_ENV_VAR)
    # Once a page was seen, a later call from a widget event or a thread without a cell still finds it.
    monkeypatch.setattr(presence, "running_kernel", lambda: FakeKernel({}))
    assert widgets.headless_reason() is None and "notebook page" in widgets.front_end_evidence()


def test_widget_events_and_rendered_views_count_as_a_front_end(monkeypatch):
    import ipywidgets

    monkeypatch.setattr(presence, "_FRONT_END_SEEN", {})
    monkeypatch.setattr(presence, "running_kernel", lambda: FakeKernel(NBCLIENT_CELL))
    button = widgets.watch_views(ipywidgets.Button())
    assert button._view_count == 0, "the front end is asked to count the views it draws"
    assert widgets.headless_reason() is not None
    button._view_count = 1  # what a front end reports after drawing the button
    assert widgets.headless_reason() is None and "drew a Button" in widgets.front_end_evidence()
    monkeypatch.setattr(presence, "_FRONT_END_SEEN", {})
    click = {"header": {"msg_type": "comm_msg"}, "metadata": {}}
    monkeypatch.setattr(presence, "running_kernel", lambda: FakeKernel(click))
    assert widgets.headless_reason() is None, "a click sent by a front end"


def test_no_stale_clips_once_the_last_pair_is_answered(tmp_path, pairs):
    lab = make(tmp_path, target=2)
    lab.submit_pairs(pairs[:2])
    assert "rlhf-clip-empty" not in lab.clip_left._dom_classes
    lab.buttons["left"].click()
    last = (bytes(lab.clip_left.value), bytes(lab.clip_right.value))
    lab.buttons["right"].click()
    assert lab.pair_label.value == "no pair on screen" and "target reached" in lab.counter.value
    shown = (bytes(lab.clip_left.value), bytes(lab.clip_right.value))
    assert shown[0] != last[0] and shown[1] != last[1], "the last pair's clips must not stay on screen"
    assert shown[0] == shown[1] and shown[0][:4] == b"GIF8", "both places show the same blank frame"
    import io

    from PIL import Image

    assert Image.open(io.BytesIO(shown[0])).size == Image.open(io.BytesIO(last[0])).size, "the layout keeps its size"
    assert {"rlhf-clip-empty"} <= set(lab.clip_left._dom_classes) & set(lab.clip_right._dom_classes)
    lab.submit_pairs(pairs[2:3])  # a new pair replaces the blanks
    assert lab.current_pair == 2 and "rlhf-clip-empty" not in lab.clip_left._dom_classes
    assert bytes(lab.clip_left.value) != shown[0]


def test_cant_tell_counts_toward_the_target_and_the_counter_says_so(tmp_path, pairs):
    lab = make(tmp_path, target=3)
    assert "counts as one of your labels" in lab.buttons["cant_tell"].tooltip
    lab.submit_pairs(pairs[:3])
    assert "counts as one of your labels" in lab.status.value
    lab.buttons["cant_tell"].click()
    lab.buttons["left"].click()
    assert lab.counter.value.startswith("<b>2 / 3</b> labels (1 &ldquo;can&rsquo;t tell&rdquo;)"), lab.counter.value
    lab.undo_button.click()
    lab.undo_button.click()
    assert lab.counter.value == "<b>0 / 3</b> labels"
    lab.buttons["cant_tell"].click()
    again = make(tmp_path, target=3)  # resumed from the file: the count of "can't tell" comes back too
    assert "(1 &ldquo;can" in again.counter.value


def test_pendulum_clips_explain_the_torque_arrow(tmp_path):
    lab = make(tmp_path)
    assert "arrow" in lab.legend_label.value and "rlhf-legend" in lab.legend_label._dom_classes
    assert lab.legend_label in lab.widget.children
    assert clip_drawing.clip_legend("CartPole-v1") is None
    assert make(tmp_path, legend="").legend_label.value == ""
    big = widgets.WidgetLabeler(tmp_path / "big.jsonl", ENV, headless=False)
    assert big.clip_height == clip_drawing.CLIP_HEIGHT >= 240


def test_headless_counter_shows_the_labels_a_loop_used(tmp_path, pairs):
    """A loop driving a headless widget (lesson 04's replayed run): the counter shows every label used."""
    from rlhf_lite import loop

    shipped = preferences.LabelStore(tmp_path / "shipped.jsonl", producer="test: oracle seed 0")
    for a, b in pairs[:6]:
        shipped.add(a, b, "left", "oracle(noise=0, temperature=0)")
    replay = labelers.ReplayLabeler(tmp_path / "shipped.jsonl")
    lab = widgets.WidgetLabeler(tmp_path / "labels.jsonl", ENV, headless=True, fallback=replay, target=3)
    cfg = loop.RLHFConfig(env_id=ENV, total_steps=300, label_budget=3, segment_length=5, eval_episodes=0)
    run = loop.RLHFLoop(cfg, lab, seed=0)
    run.run(max_rounds=1)
    used = len(run.live_records())
    assert used > 0 and lab.n_labels == used and f"{used} / 3" in lab.counter.value
    # The loop's clips are not the recorded ones: the stored records carry the clips that were judged.
    recorded = {r.uids for r in replay.records}
    assert all(r.uids in recorded and r.labeler == "replay:shipped.jsonl" for r in lab.store.labels())


# ---------------------------------------------------------------------------------------------- panels
def test_panel_sliders_follow_the_field_metadata():
    panel = widgets.ConfigPanel(
        RewardModelConfig, ["ensemble_size", "noise_prob", "learning_rate", "bootstrap", "activation"]
    )
    c = panel.controls
    meta = RewardModelConfig.field("ensemble_size").metadata
    assert (c["ensemble_size"].min, c["ensemble_size"].max) == (meta["low"], meta["high"])
    assert type(c["learning_rate"]).__name__ == "FloatLogSlider"
    assert c["noise_prob"].max < 1.0, "noise_prob < 1 (open bound) is respected"
    assert type(c["bootstrap"]).__name__ == "Checkbox" and type(c["activation"]).__name__ == "Dropdown"
    assert "rlhf-param-ensemble_size" in c["ensemble_size"]._dom_classes
    text = " ".join(
        ch.value
        for row in panel.widget.children
        for ch in getattr(row, "children", ())
        if isinstance(getattr(ch, "value", None), str) and "rlhf-help" in ch._dom_classes
    )
    for name in ("ensemble_size", "noise_prob"):
        assert RewardModelConfig.help()[name].split(",")[0] in text, "help text sits beside the slider"
    c["ensemble_size"].value = 5
    c["noise_prob"].value = 0.2
    cfg = panel.config
    assert isinstance(cfg, RewardModelConfig) and cfg.ensemble_size == 5 and abs(cfg.noise_prob - 0.2) < 1e-9
    assert cfg.hidden_size == RewardModelConfig().hidden_size, "fields without a slider keep their values"
    seen = []
    panel.observe(lambda cfg: seen.append(cfg.ensemble_size))
    c["ensemble_size"].value = 2
    assert seen == [2]


def test_panel_starts_from_an_instance_and_checks_ranges():
    base = RewardModelConfig(ensemble_size=4, hidden_size=32)
    panel = widgets.config_panel(base, ["ensemble_size"], ranges={"ensemble_size": (1, 8)})
    assert panel.controls["ensemble_size"].value == 4 and panel.controls["ensemble_size"].max == 8
    assert panel.config.hidden_size == 32
    with pytest.raises(ValueError, match="RewardModelConfig.ensemble_size"):
        widgets.ConfigPanel(RewardModelConfig, ["ensemble_size"], ranges={"ensemble_size": (1, 99)})
    with pytest.raises(ValueError, match="no field"):
        widgets.ConfigPanel(RewardModelConfig, ["ensembles"])
    with pytest.raises(ValueError, match="Config"):
        widgets.ConfigPanel(dict)


@dataclasses.dataclass
class WideConfig(Config):
    steps: int = param(128, "steps per rollout", low=1, high=1_000_000)
    tags: list = param([], "free-form tags (no slider)")
    ent_coef: float = param(0.01, "entropy bonus", low=0.0, high=10.0)


def _panel_help(panel) -> str:
    return " ".join(
        ch.value
        for row in panel.widget.children
        for ch in getattr(row, "children", ())
        if isinstance(getattr(ch, "value", None), str) and "rlhf-help" in ch._dom_classes
    )


def test_panel_help_gives_the_slider_range_and_typed_values_are_checked_not_clamped():
    panel = widgets.ConfigPanel(
        RewardModelConfig, ["ensemble_size", "learning_rate", "bootstrap"], ranges={"ensemble_size": (1, 8)}
    )
    lr = panel.controls["learning_rate"]
    lo, hi = lr.base**lr.min, lr.base**lr.max
    text = _panel_help(panel)
    assert "(1 to 8)" in text and "[1, 16]" not in text, "the help reads the slider's range, not the config's"
    assert f"({lo:g} to {hi:g})" in text
    assert set(panel.boxes) == {"ensemble_size", "learning_rate"}, "a checkbox has no box to type into"
    before = lr.value
    panel.boxes["learning_rate"].value = "0"
    msg = panel.message.value
    assert "learning_rate=0" in msg and "out of range" in msg and f"{lo:g} to {hi:g}" in msg, msg
    assert lr.value == before, "a refused value leaves the slider alone (no silent clamp to the lowest end)"
    panel.boxes["learning_rate"].value = "fast"
    assert "not a number" in panel.message.value
    size = panel.boxes["ensemble_size"]
    size.value = "12"  # the config allows it, this slider does not
    assert "outside this slider's range" in panel.message.value and panel.controls["ensemble_size"].value == 3
    size.value = "2.5"
    assert "whole number" in panel.message.value
    size.value = "5"
    assert panel.message.value == "" and panel.config.ensemble_size == 5
    panel.controls["ensemble_size"].value = 2
    assert size.value == "2", "the box follows the slider"


def test_panel_skips_fields_without_a_control_and_windows_huge_ranges():
    panel = widgets.ConfigPanel(WideConfig)
    assert set(panel.controls) == {"steps", "ent_coef"}, "a list field gets no slider"
    steps = panel.controls["steps"]
    assert steps.min <= 128 <= steps.max < 10_000, "a window around the value, not a slider over a million"
    assert panel.controls["ent_coef"].value == 0.01, "the step is fine enough to show the default exactly"
    assert panel.config == WideConfig()
    with pytest.raises(ValueError, match="WideConfig.tags has no slider"):
        widgets.ConfigPanel(WideConfig, ["tags"])


# ---- text items: two completions of one prompt, the same buttons and store -------------------------------------

from rlhf_lite.items import TextItem  # noqa: E402


def text_pairs(n: int = 4) -> list[tuple[TextItem, TextItem]]:
    prompt = "Write a review: the acting was"
    return [
        (TextItem(prompt, f"great <b>{i}</b>", uid=f"a{i}"), TextItem(prompt, f"dull {i}\nsecond line", uid=f"b{i}"))
        for i in range(n)
    ]


def test_text_pairs_are_shown_clicked_undone_and_resumed(tmp_path):
    path = tmp_path / "text.jsonl"
    lab = widgets.WidgetLabeler(path, name="alice", target=4, item="text", headless=False, prefetch=0)
    assert lab.kind.name == "text" and lab.question == "Which completion is better?" and lab.legend == ""
    pairs = text_pairs()
    lab.submit_pairs(pairs)
    assert "rlhf-text-left" in lab.clip_left._dom_classes and "rlhf-text-right" in lab.clip_right._dom_classes
    assert "the acting was" in lab.view.prompt.value and "rlhf-prompt" in lab.view.prompt._dom_classes
    assert "great &lt;b&gt;0&lt;/b&gt;" in lab.clip_left.value and "dull 0" in lab.clip_right.value  # escaped
    assert "the acting was" not in lab.clip_left.value  # the prompt once, above both
    assert "Read both completions" in lab.status.value
    for answer in ("left", "right"):
        lab.buttons[answer].click()
        on_disk = preferences.LabelStore(path).labels()  # on disk at the click
        assert on_disk[-1].answer == answer and on_disk[-1].item_kind == "text"
    lab.undo_button.click()
    assert lab.current_pair == 1 and len(preferences.LabelStore(path)) == 1
    lab.buttons["equal"].click()
    lab.buttons["cant_tell"].click()
    assert "completion" in lab.belief_label.value or "No predictor" in lab.belief_label.value
    store = preferences.LabelStore(path)
    assert store.header["item"] == "text"
    assert [(r.answer, r.items()) for r in store.labels()] == [
        ("left", pairs[0]),
        ("equal", pairs[1]),
        ("cant_tell", pairs[2]),
    ]
    lab.close()

    again = widgets.WidgetLabeler(path, target=4, headless=False, prefetch=0)  # a restart: kind from the file
    assert again.kind.name == "text" and again.n_labels == 3 and "3 / 4" in again.counter.value
    again.submit_pairs(pairs[3:])
    again.buttons["right"].click()
    assert len(preferences.LabelStore(path)) == 4
    assert {"rlhf-text-empty"} <= set(again.clip_left._dom_classes)  # nothing left on screen: blank
    with pytest.raises(ValueError, match=r"pairs\[0\] holds clips, but this labeler shows completions"):
        again.submit_pairs([(rollouts.Segment(np.zeros((2, 1)), np.zeros(2), np.zeros(2)),) * 2])
    with pytest.raises(ValueError, match="different prompts"):
        again.submit_pairs([(pairs[0][0], TextItem("another prompt", "x"))])
    with pytest.raises(ValueError, match="holds text labels, but item='clip' was asked"):
        widgets.WidgetLabeler(path, item="clip", headless=False)
    with pytest.raises(ValueError, match="WidgetLabeler.item='clip', but .* holds text labels"):
        widgets.WidgetLabeler(preferences.LabelStore(path), item="clip", headless=False)


def test_text_pairs_headless_need_a_text_stand_in(tmp_path):
    with pytest.raises(ValueError, match="pass fallback=, a synchronous labeler that judges completions"):
        widgets.WidgetLabeler(tmp_path / "t.jsonl", item="text", headless=True)

    class FirstWins(labelers.SyncLabeler):
        name = "first-wins"

        def label(self, left, right):
            return "left"

    lab = widgets.WidgetLabeler(tmp_path / "t2.jsonl", item="text", headless=True, fallback=FirstWins())
    lab.submit_pairs(text_pairs(3))
    records = lab.wait_for_labels(3, timeout=5)
    assert [r.labeler for r in records] == ["first-wins"] * 3 and all(r.item_kind == "text" for r in records)
    assert "No person is labeling" in lab.status.value


def test_one_item_on_its_own(segments):
    from rlhf_lite import items

    text = items.view(TextItem("Say hi:", "hello <there>"), height=90)
    assert "hello &lt;there&gt;" in text.value and "Say hi:" in text.value
    clip = items.view(segments[0], env_id=ENV, height=48)
    assert bytes(clip.value)[:3] == b"GIF"
