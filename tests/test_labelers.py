"""Synthetic and replay labelers, and labeling pairs into a store."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from rlhf_lite import labelers
from rlhf_lite import preferences as prefs
from rlhf_lite.rollouts import Segment


def seg(total_return: float, uid: str = "", length: int = 4, obs_value: float = 0.0) -> Segment:
    """A segment whose true return is ``total_return`` and whose observations are all ``obs_value``."""
    return Segment(
        observations=np.full((length, 2), obs_value, dtype=np.float32),
        actions=np.zeros(length, dtype=np.int64),
        true_rewards=np.full(length, total_return / length),
        uid=uid,
    )


def binomial_ok(count: int, n: int, p: float, sigmas: float = 4.0) -> bool:
    return abs(count - n * p) <= sigmas * math.sqrt(n * p * (1 - p))


# ---- oracle ----------------------------------------------------------------------------------------------------


def test_oracle_prefers_higher_true_return():
    oracle = labelers.OracleLabeler(noise_prob=0.0)
    assert isinstance(oracle, labelers.Labeler)
    assert oracle.name == "oracle(noise=0, temperature=0)"
    assert oracle.label(seg(3.0), seg(1.0)) == "left"
    assert oracle.label(seg(-5.0), seg(-2.0)) == "right"
    assert oracle.label(seg(1.0), seg(1.0)) == "equal"  # an exact tie
    assert oracle.probability_left(seg(3.0), seg(1.0)) == 1.0


def test_oracle_equal_within_tolerance():
    oracle = labelers.OracleLabeler(noise_prob=0.0, equal_tol=0.5)
    assert oracle.label(seg(1.0), seg(1.3)) == "equal"
    assert oracle.label(seg(1.0), seg(1.7)) == "right"
    assert "equal_tol=0.5" in oracle.name


def test_oracle_with_a_custom_reward():
    def stay_left(observations, actions):  # rewards a low first coordinate, whatever the env pays
        return -observations[:, 0]

    oracle = labelers.OracleLabeler(stay_left, noise_prob=0.0)
    low, high = seg(-10.0, obs_value=-1.0), seg(10.0, obs_value=1.0)
    assert oracle.label(low, high) == "left"  # the true return says the opposite
    assert oracle.segment_return(low) == pytest.approx(4.0)
    assert oracle.name == "oracle(reward=stay_left, noise=0, temperature=0)"
    bad = labelers.OracleLabeler(lambda o, a: np.zeros(3), noise_prob=0.0)
    with pytest.raises(ValueError, match=r"reward_fn returned shape \(3,\).*\(4,\)"):
        bad.label(low, high)


def test_oracle_noise_rate_matches_request():
    n, noise = 4000, 0.2
    oracle = labelers.OracleLabeler(noise_prob=noise, rng=np.random.default_rng(0))
    assert oracle.name == "oracle(noise=0.2, temperature=0)"
    answers = [oracle.label(seg(2.0), seg(1.0)) for _ in range(n)]
    assert binomial_ok(oracle.random_answers, n, noise)
    # A random answer is left or right with equal odds, so half of them are wrong: noise / 2 errors.
    assert binomial_ok(answers.count("right"), n, noise / 2)
    assert set(answers) == {"left", "right"}
    assert oracle.probability_left(seg(2.0), seg(1.0)) == pytest.approx(1 - noise / 2)
    # Seeded: the same generator seed gives the same answers.
    again = labelers.OracleLabeler(noise_prob=noise, rng=0)
    assert [again.label(seg(2.0), seg(1.0)) for _ in range(n)] == answers


def test_oracle_default_noise_is_the_papers_ten_percent():
    oracle = labelers.OracleLabeler(rng=np.random.default_rng(1))
    n = 4000
    wrong = sum(oracle.label(seg(1.0), seg(5.0)) == "left" for _ in range(n))
    assert oracle.noise_prob == 0.1 and binomial_ok(wrong, n, 0.05)


@pytest.mark.parametrize("temperature, diff", [(1.0, 1.0), (2.0, 1.0), (0.5, -0.4)])
def test_oracle_boltzmann_choice_frequency(temperature, diff):
    n = 3000
    oracle = labelers.OracleLabeler(temperature=temperature, noise_prob=0.0, rng=np.random.default_rng(2))
    left, right = seg(diff), seg(0.0)
    p = 1 / (1 + math.exp(-diff / temperature))
    assert oracle.probability_left(left, right) == pytest.approx(p)
    count = sum(oracle.label(left, right) == "left" for _ in range(n))
    assert binomial_ok(count, n, p)


def test_oracle_hotter_is_closer_to_a_coin_flip():
    n = 2000
    left, right = seg(1.0), seg(0.0)
    share = []
    for temperature in (0.0, 0.5, 4.0):
        oracle = labelers.OracleLabeler(temperature=temperature, noise_prob=0.0, rng=np.random.default_rng(3))
        share.append(sum(oracle.label(left, right) == "left" for _ in range(n)) / n)
    assert share[0] == 1.0 and share[0] > share[1] > share[2] > 0.5


def test_oracle_validation():
    with pytest.raises(ValueError, match=r"OracleLabeler.noise_prob=1.5.*\[0, 1\]"):
        labelers.OracleLabeler(noise_prob=1.5, rng=0)
    with pytest.raises(ValueError, match="OracleLabeler.temperature=-1"):
        labelers.OracleLabeler(temperature=-1, rng=0)
    with pytest.raises(ValueError, match="needs rng"):
        labelers.OracleLabeler(noise_prob=0.1)
    with pytest.raises(ValueError, match="rng must be a numpy Generator"):
        labelers.OracleLabeler(rng="seed")
    with pytest.raises(ValueError, match="unequal length"):
        labelers.OracleLabeler(noise_prob=0.0).label(seg(1.0, length=4), seg(1.0, length=5))


# ---- replay ----------------------------------------------------------------------------------------------------


def recorded_file(tmp_path, answers=("left", "right", "equal", "cant_tell")) -> tuple:
    path = tmp_path / "shipped.jsonl"
    store = prefs.LabelStore(path, producer="test: answers written by the test itself")
    segments = [seg(float(i), uid=f"s{i}") for i in range(2 * len(answers))]
    pairs = [(segments[2 * i], segments[2 * i + 1]) for i in range(len(answers))]
    for (a, b), answer in zip(pairs, answers):
        store.add(a, b, answer, "alice")
    return path, pairs


def test_replay_by_uid_in_any_order_and_swapped(tmp_path):
    path, pairs = recorded_file(tmp_path)
    before = path.read_bytes()
    replay = labelers.ReplayLabeler(path)
    assert replay.name == "replay:shipped.jsonl" and replay.remaining == 4
    assert replay.label(*pairs[2]) == "equal"
    assert replay.last_source["original_labeler"] == "alice" and replay.last_source["matched_by"] == "uid"
    assert replay.last_source["same_clips"]
    assert replay.label(pairs[1][1], pairs[1][0]) == "left"  # clips swapped: the answer is flipped
    assert replay.last_source["same_clips"]
    assert replay.label(*pairs[0]) == "left"
    assert replay.label(*pairs[3]) == "cant_tell"
    with pytest.raises(labelers.ReplayExhaustedError, match="run out: all 4 recorded answers are used"):
        replay.label(*pairs[0])
    assert path.read_bytes() == before  # only read


def test_replay_in_order_when_uids_do_not_match(tmp_path):
    path, pairs = recorded_file(tmp_path, answers=("right", "left", "right"))
    fresh = [(seg(0.0, obs_value=7.0), seg(1.0)) for _ in range(3)]  # no uids: answered in file order
    replay = labelers.ReplayLabeler(path)
    assert "Replaying 3 recorded answers from shipped.jsonl" in replay.describe()
    assert "alice (3)" in replay.describe() and "test: answers written by the test itself" in replay.describe()
    assert [replay.label(a, b) for a, b in fresh] == ["right", "left", "right"]
    assert replay.last_source["matched_by"] == "order" and not replay.last_source["same_clips"]
    strict = labelers.ReplayLabeler(path, match="uid")
    with pytest.raises(labelers.ReplayExhaustedError, match="no unused answer about clips 'x' and 'y'"):
        strict.label(seg(0.0, uid="x"), seg(1.0, uid="y"))
    by_order = labelers.ReplayLabeler(path, match="order")
    assert by_order.label(*pairs[2]) == "right" and by_order.last_source["record"] == by_order.records[0].id


def test_replay_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        labelers.ReplayLabeler(tmp_path / "missing.jsonl")
    empty = tmp_path / "empty.jsonl"
    prefs.LabelStore(empty)
    with pytest.raises(ValueError, match="holds no labels"):
        labelers.ReplayLabeler(empty)
    with pytest.raises(ValueError, match="match='fuzzy'"):
        labelers.ReplayLabeler(empty, match="fuzzy")


def test_replay_skips_retracted_answers(tmp_path):
    path, pairs = recorded_file(tmp_path)
    prefs.LabelStore(path).undo()  # take back the cant_tell
    replay = labelers.ReplayLabeler(path)
    assert [r.answer for r in replay.records] == ["left", "right", "equal"]


# ---- label_pairs -----------------------------------------------------------------------------------------------


def test_label_pairs_writes_every_answer(tmp_path):
    store = prefs.LabelStore(tmp_path / "labels.jsonl")
    pairs = [(seg(float(i), uid=f"a{i}"), seg(float(5 - i), uid=f"b{i}")) for i in range(5)]
    oracle = labelers.OracleLabeler(noise_prob=0.0)
    records = labelers.label_pairs(oracle, pairs, store, env_id="Pendulum-v1", meta={"round": 1}, progress=False)
    assert [r.answer for r in records] == ["right", "right", "right", "left", "left"]
    stored = prefs.LabelStore(tmp_path / "labels.jsonl").labels()
    assert [r.id for r in stored] == [r.id for r in records]
    assert all(r.labeler == oracle.name and r.env_id == "Pendulum-v1" and r.meta == {"round": 1} for r in stored)
    assert all(r.seconds is not None and r.seconds >= 0 for r in stored)
    assert labelers.label_pairs(oracle, pairs[:2], None, progress=False)[0].answer == "right"  # memory only
    assert len(store) == 5


def test_label_pairs_replay_records_its_source(tmp_path):
    path, pairs = recorded_file(tmp_path)
    store = prefs.LabelStore(tmp_path / "replayed.jsonl")
    labelers.label_pairs(labelers.ReplayLabeler(path), pairs, store, progress=False)
    lines = [json.loads(line) for line in (tmp_path / "replayed.jsonl").read_text().splitlines()[1:]]
    assert [r["answer"] for r in lines] == ["left", "right", "equal", "cant_tell"]
    assert all(r["labeler"] == "replay:shipped.jsonl" and r["meta"]["original_labeler"] == "alice" for r in lines)


def test_label_pairs_rejects_a_bad_answer_without_writing(tmp_path):
    class Sloppy(labelers.SyncLabeler):
        name = "sloppy"

        def label(self, left, right):
            return "the left one"

    store = prefs.LabelStore(tmp_path / "labels.jsonl")
    with pytest.raises(ValueError, match="answer='the left one'"):
        labelers.label_pairs(Sloppy(), [(seg(1.0), seg(2.0))], store, progress=False)
    assert len(store) == 0
    with pytest.raises(ValueError, match="labeler must be a SyncLabeler"):
        labelers.label_pairs(object(), [], store)
    with pytest.raises(ValueError, match=r"pairs\[0\]"):
        labelers.label_pairs(Sloppy(), [seg(1.0)], store)


# ---- the Labeler protocol ---------------------------------------------------------------------------------------


def test_every_labeler_implements_the_protocol(tmp_path):
    from rlhf_lite import widgets

    path, _ = recorded_file(tmp_path)
    widget = widgets.WidgetLabeler(tmp_path / "mine.jsonl", headless=True)
    for labeler in (labelers.OracleLabeler(noise_prob=0.0), labelers.ReplayLabeler(path), widget):
        labelers.check_labeler(labeler)  # raises if a method is missing
        assert isinstance(labeler, labelers.Labeler)
    with pytest.raises(ValueError, match="without ask, answers"):
        labelers.check_labeler(type("OnlyLabel", (), {"name": "x", "label": lambda self, a, b: "left"})())


def test_sync_labelers_answer_inside_ask_and_hand_each_answer_out_once(tmp_path):
    oracle = labelers.OracleLabeler(noise_prob=0.0)
    pairs = [(seg(1.0, uid="a"), seg(2.0, uid="b")), (seg(3.0, uid="c"), seg(0.0, uid="d"))]
    store = prefs.LabelStore(tmp_path / "labels.jsonl")
    oracle.ask(pairs, {"round": 2}, store=store, env_id="Pendulum-v1")
    got = oracle.answers(at_least=2)
    assert [r.answer for r in got] == ["right", "left"] and all(r.meta == {"round": 2} for r in got)
    assert [r.id for r in store.labels()] == [r.id for r in got], "written to the store as they came"
    assert oracle.answers() == [] and oracle.retracted() == set() and oracle.room(5, 1) == 5


def test_oracle_state_restores_its_noise_stream():
    def noisy():
        return labelers.OracleLabeler(noise_prob=0.5, rng=np.random.default_rng(7))

    pairs = [(seg(float(i)), seg(float(10 - i))) for i in range(20)]
    whole = noisy()
    answers = [whole.label(*p) for p in pairs]
    first = noisy()
    [first.label(*p) for p in pairs[:10]]
    later = labelers.OracleLabeler(noise_prob=0.5, rng=np.random.default_rng(99))  # another stream ...
    later.restore(json.loads(json.dumps(first.state())))  # ... continued from the saved one
    assert [later.label(*p) for p in pairs[10:]] == answers[10:]
    assert later.random_answers == whole.random_answers


def test_replay_state_round_trips_and_refuses_another_file(tmp_path):
    path, pairs = recorded_file(tmp_path)
    replay = labelers.ReplayLabeler(path)
    replay.label(*pairs[0])
    again = labelers.ReplayLabeler(path)
    again.restore(replay.state())
    assert again.remaining == replay.remaining == 3
    (tmp_path / "short").mkdir()
    short, _ = recorded_file(tmp_path / "short", answers=("left",))
    with pytest.raises(ValueError, match="the replay file has 1 answers"):
        labelers.ReplayLabeler(short).restore(replay.state())


def test_label_pairs_trains_a_replayed_answer_on_the_clips_actually_judged(tmp_path):
    path, recorded = recorded_file(tmp_path, answers=("left",))
    other = (seg(5.0, uid="new-a", obs_value=1.0), seg(6.0, uid="new-b", obs_value=1.0))  # matched by order only
    (record,) = labelers.label_pairs(labelers.ReplayLabeler(path), [other], None, progress=False)
    assert record.uids == ("s0", "s1") and record.answer == "left" and not record.meta["same_clips"]


# ---- text items: the same labelers and store, another kind of item ---------------------------------------------

from rlhf_lite.items import TextItem  # noqa: E402


class ShortestWins(labelers.SyncLabeler):
    """A synchronous labeler of text: the shorter completion is better (a stand-in for a gold judge)."""

    name = "shortest-wins"

    def label(self, left: TextItem, right: TextItem) -> str:
        n, m = len(left.completion), len(right.completion)
        return "equal" if n == m else ("left" if n < m else "right")


def texts(uids: bool = True) -> list[TextItem]:
    words = ("ok", "fine indeed", "a long and rambling one", "no", "yes")
    return [TextItem("say something:", w, uid=f"c{i}" if uids else "") for i, w in enumerate(words)]


def test_text_pairs_are_labeled_into_a_store_and_replayed_by_uid_or_content(tmp_path):
    c = texts()
    pairs = [(c[0], c[1]), (c[2], c[1]), (c[3], c[4])]
    store = prefs.LabelStore(tmp_path / "text.jsonl", item="text")
    made = labelers.label_pairs(ShortestWins(), pairs, store, meta={"round": 0}, progress=False)
    assert [r.answer for r in made] == ["left", "right", "left"] and all(r.item_kind == "text" for r in made)
    assert [r.items() for r in prefs.LabelStore(tmp_path / "text.jsonl").labels()] == pairs

    by_uid = labelers.ReplayLabeler(tmp_path / "text.jsonl")
    assert by_uid.label(c[1], c[2]) == "left"  # swapped: flipped
    assert by_uid.last_source["matched_by"] == "uid" and by_uid.last_source["same_clips"]
    by_content = labelers.ReplayLabeler(tmp_path / "text.jsonl", match="uid")
    anonymous = texts(uids=False)  # the same completions without uids: found by what they say
    assert by_content.label(anonymous[3], anonymous[4]) == "left"
    assert by_content.last_source["matched_by"] == "content" and by_content.last_source["same_clips"]
    renamed = TextItem("say something:", "something else", uid="c0")  # a reused uid, other text
    assert by_content.label(renamed, c[1]) == "left"
    assert not by_content.last_source["same_clips"]
    with pytest.raises(labelers.ReplayExhaustedError, match="no unused answer about completions 'c3' and 'c4'"):
        by_content.label(c[3], c[4])

    # a replayed answer about other text comes back with the text that was judged (SyncLabeler.judge)
    replay = labelers.ReplayLabeler(tmp_path / "text.jsonl", match="order")
    (record,) = labelers.label_pairs(replay, [(renamed, c[4])], None, progress=False)
    assert record.items() == pairs[0] and record.answer == "left" and not record.meta["same_clips"]


def test_labelers_check_text_pairs_by_their_kind():
    a = TextItem("p", "x")
    with pytest.raises(ValueError, match=r"pairs\[0\]: the two completions answer different prompts"):
        labelers.label_pairs(ShortestWins(), [(a, TextItem("q", "y"))], None, progress=False)
    with pytest.raises(ValueError, match="OracleLabeler judges clips by their return: got completions"):
        labelers.OracleLabeler(noise_prob=0.0).label(a, TextItem("p", "y"))
    with pytest.raises(ValueError, match=r"pairs\[0\]: left is a completion \(text\) but right is a clip"):
        labelers.label_pairs(ShortestWins(), [(a, seg(1.0))], None, progress=False)
