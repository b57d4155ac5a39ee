"""Plotting: curves have words on their axes, clips are real animated GIFs, LiveCurve records and stops."""

import base64
import io
import re

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from PIL import Image

from rlhf_lite import envs, gridworld, plotting


def _frames(t=12, h=40, w=60):
    """A moving white square on black: every frame differs, so a GIF must keep them all."""
    frames = np.zeros((t, h, w, 3), np.uint8)
    for i in range(t):
        frames[i, 10:20, 2 + 4 * i : 12 + 4 * i] = 255
    return frames


def test_running_mean_matches_naive_loop():
    values = np.array([1.0, 3.0, 5.0, 7.0, 9.0])
    expected = [np.mean(values[max(0, i - 2) : i + 1]) for i in range(len(values))]
    np.testing.assert_allclose(plotting.running_mean(values, 3), expected)
    with pytest.raises(ValueError, match="window"):
        plotting.running_mean(values, 0)


def test_learning_curve_labels_axes_in_words():
    ax = plotting.learning_curve([10, 20, 30], [1.0, 2.0, 3.0], label="PPO", target=3.0, smooth=2)
    assert ax.get_xlabel() == "environment steps"
    assert ax.get_ylabel() == "episode return"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "PPO (mean of last 2)" in labels and "target 3" in labels
    with pytest.raises(ValueError, match="shape"):
        plotting.learning_curve([1, 2], [1.0])
    matplotlib.pyplot.close("all")


def test_gif_bytes_is_a_looping_animation_of_every_frame():
    frames = _frames()
    data = plotting.gif_bytes(frames, fps=25, height=None)
    im = Image.open(io.BytesIO(data))
    assert im.format == "GIF" and im.info["loop"] == 0
    assert im.n_frames == len(frames)
    assert im.info["duration"] == 40
    # Pixels survive the palette: the square is where it was drawn in a late frame.
    im.seek(10)
    rgb = np.asarray(im.convert("RGB"))
    np.testing.assert_array_equal(rgb[15, 45], [255, 255, 255])
    np.testing.assert_array_equal(rgb[15, 5], [0, 0, 0])


def test_gif_bytes_scales_and_subsamples_long_clips():
    frames = np.repeat(_frames(t=10), 3, axis=0)  # 30 frames
    im = Image.open(io.BytesIO(plotting.gif_bytes(frames, fps=30, height=20, max_frames=10)))
    assert im.size == (30, 20)
    assert im.n_frames == 10
    assert im.info["duration"] == 100  # every 3rd frame kept, so each shows 3/30 s


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros((0, 4, 4, 3), np.uint8), "shape"),
        (np.zeros((2, 4, 4), np.uint8), "shape"),
        (np.zeros((2, 4, 4, 3)), "dtype"),
    ],
)
def test_bad_frames_are_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        plotting.gif_bytes(bad)


def _gif_ms(data: bytes) -> list[int]:
    im = Image.open(io.BytesIO(data))
    out = []
    for k in range(im.n_frames):
        im.seek(k)
        out.append(im.info["duration"])
    return out


def test_total_frames_holds_the_last_frame():
    durations = _gif_ms(plotting.gif_bytes(_frames(t=4), fps=10, height=None, total_frames=9))
    assert durations == [100, 100, 100, 600]
    with pytest.raises(ValueError, match="total_frames"):
        plotting.gif_bytes(_frames(t=4), total_frames=3)


def test_side_by_side_clips_loop_together_with_captions():
    html = plotting.side_by_side(_frames(t=4), _frames(t=9), titles=("random", "trained <PPO>"), fps=10).data
    gifs = [base64.b64decode(m) for m in re.findall(r"base64,([^\"]+)", html)]
    assert len(gifs) == 2
    assert sum(_gif_ms(gifs[0])) == sum(_gif_ms(gifs[1])) == 900
    assert "random" in html and "trained &lt;PPO&gt;" in html
    assert "display:flex" in html


def test_clip_widget_is_a_gif_image_widget():
    w = plotting.clip_widget(_frames(), fps=10)
    assert w.format == "gif" and bytes(w.value[:6]) == b"GIF89a"


def test_show_frames_picks_evenly_spaced_steps():
    fig = plotting.show_frames(_frames(t=11), n=3)
    assert [ax.get_title() for ax in fig.axes] == ["step 0", "step 5", "step 10"]
    matplotlib.pyplot.close(fig)


def test_live_curve_records_episodes_and_stops_at_target():
    curve = plotting.LiveCurve("PPO", smooth=2, stop_at=100, min_interval=0)
    assert curve({"env_steps": 10, "episode_returns": []}) is False
    assert curve({"env_steps": 20, "episode_returns": np.array([50.0, 60.0])}) is False
    assert curve({"env_steps": 30, "episode_returns": [140.0]}) is True  # mean of last 2 = 100
    assert curve.x == [20.0, 20.0, 30.0] and curve.returns == [50.0, 60.0, 140.0]
    ax = curve.figure().axes[0]
    assert ax.get_xlabel() == "environment steps" and "3 episodes" in ax.get_title()


def test_grid_values_draws_values_and_arrows():
    g = gridworld.GridWorld()
    values = np.arange(g.observation_space.n, dtype=float)
    policy = np.ones(g.observation_space.n, dtype=int)
    ax = plotting.grid_values(g, values, policy, title="V")
    texts = [t.get_text() for t in ax.texts]
    assert "+10" in texts and "+1" in texts and "0.00" in texts
    floor = sum(ch not in "#gG" for row in g.grid for ch in row)
    assert sum(1 for t in ax.texts if getattr(t, "arrow_patch", None) is not None) == floor
    matplotlib.pyplot.close("all")


def test_live_curve_reads_q_learning_callbacks():
    curve = plotting.LiveCurve("Q", x_key="episode", returns_key="return", xlabel="episode", min_interval=0)
    for episode, ret in enumerate([1.0, 10.0]):
        curve({"episode": episode, "return": ret, "length": 3})
    assert curve.x == [0.0, 1.0] and curve.returns == [1.0, 10.0]


def test_episode_frames_end_with_the_final_state():
    env = envs.make_env("rlhf_lite/GridWorld-v0", seed=0, render_mode="rgb_array")
    frames, trajectory = plotting.episode_frames(env, lambda obs: 2, seed=0)  # down: onto the +1 at once
    assert len(trajectory) == 1 and trajectory.total_return == 1.0
    assert frames.shape[0] == 2
    np.testing.assert_array_equal(frames[-1], env.unwrapped.draw(agent=(3, 0)))


def test_clips_in_a_row_show_each_clip_once_with_a_note():
    html = plotting.clips_in_a_row(
        [_frames(t=4), _frames(t=6), _frames(t=9)],
        ["untrained", "RLHF", "true reward"],
        fps=10,
        note="the arrow <is> the motor",
    ).data
    gifs = [base64.b64decode(m) for m in re.findall(r"base64,([^\"]+)", html)]
    assert len(gifs) == 3 and {sum(_gif_ms(g)) for g in gifs} == {900}
    assert html.count("RLHF") == 1 and "the arrow &lt;is&gt; the motor" in html
    with pytest.raises(ValueError, match="each of the 3 clips"):
        plotting.clips_in_a_row([_frames()] * 3, ["a", "b"])
    assert "rlhf-clip-note" not in plotting.side_by_side(_frames(), _frames()).data


@pytest.mark.parametrize(
    "value, digits, text",
    [(-0.3, 0, "0"), (-0.0, 0, "0"), (-0.6, 0, "-1"), (12.34, 1, "12.3"), (-0.04, 1, "0.0"), (-1552.2, 0, "-1552")],
)
def test_number_never_prints_a_negative_zero(value, digits, text):
    assert plotting.number(value, digits) == text


def test_wrap_breaks_lines_between_words_only():
    words = ["reward"] * 40 + ["runs/03_reward_predictor/a_very_long_path_that_is_one_word.jsonl"]
    text = plotting.wrap(" ".join(words), "second paragraph", width=40)
    lines = text.splitlines()
    assert lines[-1] == "second paragraph"
    assert all(len(line) <= 40 or " " not in line.strip() for line in lines), lines
    assert " ".join(line.strip() for line in lines[:-1]).split() == words, "every word kept whole, in order"


def _history(labels):
    return [
        {
            "round": i,
            "labels": n,
            "env_steps": 1000 * (i + 1),
            "true_return": -100.0 + i,
            "predicted_return": 0.1 * i,
            "seconds": float(i),
        }
        for i, n in enumerate(labels)
    ]


def test_dashboard_axes_count_whole_labels_and_wrap_long_labels():
    from rlhf_lite import dashboard

    long = "spin criterion (angular velocity summed over the episode)"
    fig = dashboard.plot_history({"run": _history([2, 2, 2])}, true_label=long)
    true_ax, _, labels_ax = fig.axes[:3]
    assert true_ax.get_ylabel().replace("\n", " ") == long and "\n" in true_ax.get_ylabel()
    assert max(len(line) for line in true_ax.get_ylabel().splitlines()) <= 32
    fig.canvas.draw()
    ticks = [t for t in labels_ax.get_yticks() if labels_ax.get_ylim()[0] <= t <= labels_ax.get_ylim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks), ticks
    assert labels_ax.get_ylim()[0] == 0
    fig = dashboard.plot_label_efficiency({"active": [(2, -300.0), (3, -200.0)]})
    fig.canvas.draw()
    assert all(float(t).is_integer() for t in fig.axes[0].get_xticks())


class _Labeler:
    """What the dashboard reads of a WidgetLabeler: counts and the two callbacks."""

    headless, fallback_name, n_pending = False, "replay:x.jsonl", 1

    def __init__(self):
        self.n_labels, self.callbacks = 0, []

    def on_label(self, fn):
        self.callbacks.append(fn)

    def on_undo(self, fn):
        self.callbacks.append(fn)


def test_dashboard_names_what_it_waits_for():
    from rlhf_lite import dashboard

    assert dashboard.Dashboard().status() == "waiting for the first round..."
    person = _Labeler()
    dash = dashboard.Dashboard(labeler=person, first_labels=12)
    assert len(person.callbacks) == 2, "it follows every click and undo"
    assert dash.status().startswith("waiting for your first 12 labels (0 given)")
    person.n_labels = 12
    assert "your first 12 labels are in" in dash.status()
    dash(_history([12])[0])
    assert dash.status().startswith("round 0, 12 labels") and "1 pair(s) above wait for your answer" in dash.status()
    stand_in = _Labeler()
    stand_in.headless = True
    waiting = dashboard.Dashboard(labeler=stand_in, first_labels=2).status()
    assert "from the stand-in (replay:x.jsonl): 0 given" in waiting, waiting
    with pytest.raises(ValueError, match="first_labels"):
        dashboard.Dashboard(labeler=person, first_labels=-1)
    spin = dashboard.Dashboard(true_label="spin criterion (angular velocity summed over an episode)")
    spin(_history([1])[0])
    assert "spin criterion -100.0" in spin.status() and "true return" not in spin.status()
    plain = dashboard.Dashboard()
    plain(_history([1])[0])
    assert "true return -100.0" in plain.status()
