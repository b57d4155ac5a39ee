"""The room: a shared pair pack, pooling a folder of label files, agreement, and the room's predictor.

Raters are simulated: oracles (rlhf_lite.labelers.OracleLabeler) with different noise rates and a biased one that
judges by the pole's angle alone, ignoring its speed. Each writes its own label file, as a participant would.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from rlhf_lite import agents, envs, labelers, pooling, preferences, rollouts
from rlhf_lite import reward_model as rm

ENV_ID = "Pendulum-v1"
FAST_RM = rm.RewardModelConfig(ensemble_size=1, hidden_size=32, validation_fraction=0.0, epochs=20.0, min_updates=60)


def _clips(seed: int, n_episodes: int, n: int, prefix: str) -> list[rollouts.Segment]:
    env = envs.make_env(ENV_ID, seed=seed, horizon=100)
    rng = np.random.default_rng(seed)
    # random, clean and noisy swing-ups, as lesson 03 collects them
    trajs = agents.pendulum_episodes(env, n_episodes, rng, seeds=[seed * 1000 + i for i in range(n_episodes)])
    segments = rollouts.cut_segments(trajs, 20, np.random.default_rng(seed + 1), n=n, uid_prefix=prefix)
    return list({s.uid: s for s in segments}.values())


@pytest.fixture(scope="module")
def clips():
    torch.set_num_threads(1)
    return _clips(1, 12, 60, "room"), _clips(2, 9, 50, "test")


def angle_only(observations, actions):
    """A biased rater's reward: the pole's height (cos of the angle), blind to speed and effort."""
    return np.asarray(observations)[:, 0]


def _room(folder: Path, pack, raters, seed: int) -> None:
    """Each rater answers the pack into their own label file under ``folder``."""
    for k, (name, noise, reward_fn) in enumerate(raters):
        labeler = labelers.OracleLabeler(reward_fn, noise_prob=noise, rng=np.random.default_rng([seed, k]), name=name)
        store = preferences.LabelStore(
            folder / f"{name}.jsonl", env_id=ENV_ID, producer=f"tests/test_pooling.py, simulated rater {name}"
        )
        labelers.label_pairs(labeler, pack, store, env_id=ENV_ID, progress=False)


def _snapshot(folder: Path) -> dict[str, tuple[str, float]]:
    return {
        str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# -- the pack ---------------------------------------------------------------------------------------------------


def test_pair_pack_is_the_same_for_everyone_and_depends_on_the_name(clips):
    train, _ = clips
    a = pooling.pair_pack("tuesday-room", train, 20)
    b = pooling.pair_pack("tuesday-room", list(reversed(train)), 20)  # another machine lists the clips in another order
    uids = lambda pack: [(x.uid, y.uid) for x, y in pack]  # noqa: E731
    assert uids(a) == uids(b)
    assert uids(pooling.pair_pack("tuesday-room", train + train[:5], 20)) == uids(a)  # repeats of a clip: kept once
    assert uids(pooling.pair_pack("wednesday-room", train, 20)) != uids(a)
    assert uids(pooling.pair_pack(7, train, 20)) == uids(pooling.pair_pack(7, train, 20))
    assert pooling.pack_seed("room") == pooling.pack_seed(" room ")
    assert len({frozenset(p) for p in uids(a)}) == 20  # distinct pairs


def test_pair_pack_refuses_clips_it_cannot_name(clips):
    train, _ = clips
    nameless = [rollouts.Segment(s.observations, s.actions, s.true_rewards, uid="") for s in train[:3]]
    with pytest.raises(ValueError, match="no uid"):
        pooling.pair_pack("x", nameless, 1)
    other = train[1]
    clash = [train[0], rollouts.Segment(other.observations, other.actions, other.true_rewards, uid=train[0].uid)]
    with pytest.raises(ValueError, match="two different clips"):
        pooling.pair_pack("x", clash, 1)
    with pytest.raises(ValueError, match="expected a name"):
        pooling.pack_seed(1.5)


# -- Krippendorff's alpha against the published worked example ----------------------------------------------------


def test_krippendorff_alpha_matches_the_published_example():
    # Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", the nominal example: 4 observers,
    # 12 units, values 1-5, missing ratings; published alpha = 0.743. (The same "C" data is in R's irr::kripp.alpha.)
    n = None
    by_observer = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, n, n, n],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, n, 3],
        [n, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, n],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, n],
    ]
    alpha = pooling.krippendorff_alpha(np.array(by_observer, dtype=object).T)
    assert round(alpha, 3) == 0.743
    assert pooling.krippendorff_alpha(np.array([["a", "a"], ["b", "b"]], dtype=object)) == 1.0
    assert pooling.krippendorff_alpha(np.array([["a", "b"], ["b", "a"]], dtype=object)) < 0
    assert np.isnan(pooling.krippendorff_alpha(np.array([["a", None]], dtype=object)))


# -- pooling a folder ---------------------------------------------------------------------------------------------


def test_pooling_names_and_skips_bad_files_and_changes_nothing(clips, tmp_path):
    train, _ = clips
    pack = pooling.pair_pack("room", train, 15)
    _room(tmp_path, pack, [("alice", 0.1, None), ("bob", 0.2, None)], seed=0)
    alone = pooling.read_folder(tmp_path)
    # what a room's folder really collects: a foreign file, a corrupt line, an empty file, a copy, a non-label file
    (tmp_path / "notes.jsonl").write_text('{"hello": "world"}\n')
    lines = (tmp_path / "bob.jsonl").read_text().splitlines()
    (tmp_path / "sub").mkdir()
    broken = lines[:4] + ['{"kind": "label", "id": "x"'] + lines[4:]  # line 5: a record cut off mid-write
    (tmp_path / "sub" / "carol.jsonl").write_text("\n".join(broken) + "\n")
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "sub" / "alice-copy.jsonl").write_bytes((tmp_path / "alice.jsonl").read_bytes())
    (tmp_path / "README.txt").write_text("not a label file, and not *.jsonl")
    before = _snapshot(tmp_path)

    pool = pooling.read_folder(tmp_path)
    assert _snapshot(tmp_path) == before, "reading the folder changed a file"
    skipped = {f.name: f.error for f in pool.skipped}
    assert set(skipped) == {"notes.jsonl", os.path.join("sub", "carol.jsonl"), "empty.jsonl"}
    assert "line 1" in skipped["notes.jsonl"] and "header" in skipped["notes.jsonl"]
    carol = skipped[os.path.join("sub", "carol.jsonl")]
    assert "line 5" in carol and "carol.jsonl" in carol
    assert "empty" in skipped["empty.jsonl"]
    # the bad files changed nothing about the rest; the copy of alice's file counts once
    assert [(r.rater, r.key, r.category) for r in pool.ratings] == [(r.rater, r.key, r.category) for r in alone.ratings]
    assert pool.duplicates == 15 and pool.conflicts == 0
    text = pooling.report(pool)
    assert "SKIPPED notes.jsonl" in text and "the file was not changed" in text and "15 duplicate(s)" in text
    # the store's own lenient reading keeps carol's good lines when asked
    lenient = pooling.read_folder(tmp_path, skip_bad_lines=True)
    carol = next(f for f in lenient.files if f.name.endswith("carol.jsonl"))
    assert carol.error is None and carol.skipped_lines and carol.skipped_lines[0][0] == 5
    assert _snapshot(tmp_path) == before


def test_retractions_and_cant_tell_are_counted_not_rated(clips, tmp_path):
    train, _ = clips
    pack = pooling.pair_pack("room", train, 6)
    store = preferences.LabelStore(tmp_path / "dana.jsonl", env_id=ENV_ID)
    for (a, b), answer in zip(pack, ["left", "right", "cant_tell", "equal", "left", "left"]):
        store.add(a, b, answer, "dana")
    store.undo()
    pool = pooling.read_folder(tmp_path)
    assert pool.files[0].retracted == 1 and pool.files[0].labels == 5
    agree = pooling.agreement(pool)
    assert sum(p.cant_tell for p in agree.pairs) == 1 and sum(p.n for p in agree.pairs) == 4
    # the same judgement shown with the sides swapped is the same rating
    a, b = pack[0]
    other = preferences.LabelStore(tmp_path / "erin.jsonl", env_id=ENV_ID)
    other.add(b, a, "right", "erin")
    same = next(p for p in pooling.agreement(pooling.read_folder(tmp_path)).pairs if set(p.key) == {a.uid, b.uid})
    assert same.n == 2 and same.agreement == 1.0


def test_the_same_default_name_in_two_files_is_two_raters(clips, tmp_path):
    train, _ = clips
    pack = pooling.pair_pack("room", train, 4)
    for folder in ("laptop1", "laptop2"):
        _room(tmp_path / folder, pack, [("reader", 0.0, None)], seed=0)
    pool = pooling.read_folder(tmp_path)
    assert len(pool.raters) == 2 and all(r.startswith("reader (") for r in pool.raters)


def test_agreement_falls_as_noise_rises(clips, tmp_path):
    train, _ = clips
    pack = pooling.pair_pack("room", train, 30)
    noises = (0.0, 0.2, 0.4, 0.8)
    table = np.zeros((3, len(noises), 2))  # seed, noise, (percent, alpha)
    for seed in range(3):
        for j, noise in enumerate(noises):
            folder = tmp_path / f"s{seed}-n{noise}"
            _room(folder, pack, [(f"r{k}", noise, None) for k in range(4)], seed=seed)
            agree = pooling.agreement(pooling.read_folder(folder))
            table[seed, j] = agree.percent, agree.alpha
    print(
        "\nnoise: agreement, alpha (mean of 3 seeds)\n"
        + "\n".join(f"{n:.1f}: {p:.2f}, {a:.2f}" for n, (p, a) in zip(noises, table.mean(0)))
    )
    percent, alpha = table[..., 0], table[..., 1]
    assert np.allclose(alpha[:, 0], 1.0) and np.allclose(percent[:, 0], 1.0)  # noiseless oracles always agree
    for seed in range(3):  # each seed: clearly falling from 0 to 0.2 to 0.4, and 0.2 above 0.8
        assert alpha[seed, 0] > alpha[seed, 1] > alpha[seed, 2] and alpha[seed, 1] > alpha[seed, 3], alpha[seed]
        assert percent[seed, 0] > percent[seed, 1] > percent[seed, 2], percent[seed]
    assert np.all(np.diff(alpha.mean(0)) < 0) and np.all(np.diff(percent.mean(0)) < 0), table.mean(0)
    assert abs(alpha[:, -1].mean()) < 0.25  # 80% random answers: close to chance


def test_pooled_predictor_beats_the_median_individual(clips, tmp_path):
    train, test = clips
    env = envs.make_env(ENV_ID)
    # Raters noisy enough that one person's 20 labels leave room to improve on. (With raters who answer at random
    # only 10% of the time, 20-30 labels each already train a predictor about as good as the pool's: the pool then
    # matches the median person rather than beating it.)
    raters = [
        ("r20", 0.2, None),
        ("r30", 0.3, None),
        ("r35", 0.35, None),
        ("r40", 0.4, None),
        ("angle_only", 0.2, angle_only),
    ]
    gains, rows = [], []
    for seed in range(4):
        pack = pooling.pair_pack(f"room-{seed}", train, 20)
        folder = tmp_path / f"room{seed}"
        _room(folder, pack, raters, seed=seed)
        pool = pooling.read_folder(folder)
        result = pooling.compare_predictors(
            pool, env.observation_space, env.action_space, FAST_RM, seed=seed, test_segments=test
        )
        gains.append(result["pooled"] - result["median_rater"])
        agree = pooling.agreement(pool)
        rows.append((seed, agree.percent, agree.alpha, result["pooled"], result["median_rater"]))
        assert result["pooled"] > result["median_rater"], f"seed {seed}: {result}"
        assert result["test_pairs"] > 200
    assert np.mean(gains) > 0.02, f"pooling gained {gains}"
    print(
        "\nseed agreement alpha pooled median_individual\n"
        + "\n".join(f"{s} {p:.2f} {a:.2f} {acc:.3f} {med:.3f}" for s, p, a, acc, med in rows)
    )
    # negative control: a room of raters who answer at random pools into a predictor no better than chance
    folder = tmp_path / "random-room"
    _room(folder, pooling.pair_pack("room-0", train, 20), [(f"coin{k}", 1.0, None) for k in range(5)], seed=9)
    control = pooling.compare_predictors(
        pooling.read_folder(folder), env.observation_space, env.action_space, FAST_RM, seed=0, test_segments=test
    )
    assert control["pooled"] < 0.7, control


def test_the_command_prints_a_report(clips, tmp_path, capsys):
    train, _ = clips
    _room(tmp_path, pooling.pair_pack("room", train, 12), [("alice", 0.1, None), ("bob", 0.3, None)], seed=0)
    (tmp_path / "broken.jsonl").write_bytes(b"\xff\xfe not json\n")
    assert pooling.main([str(tmp_path), "--predictors", "--top", "3"]) == 0
    out = capsys.readouterr().out
    for words in (
        "SKIPPED broken.jsonl",
        "line 1",
        "2 rater(s): alice, bob",
        "Krippendorff's alpha",
        "disagreed on most",
        "trained on the pool",
    ):
        assert words in out, f"{words!r} missing from:\n{out}"
    assert pooling.main([str(tmp_path / "nope")]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_text_labels_pool_and_agree_by_content(tmp_path):
    """Two raters' text label files: pairs match by what the completions say (no uids), whichever side they were on."""
    from rlhf_lite.items import TextItem

    prompt = "Reply politely:"
    c = [TextItem(prompt, w) for w in ("thanks, gladly", "no.", "sure thing", "whatever")]
    pairs = [(c[0], c[1]), (c[2], c[3]), (c[0], c[2])]
    for name, answers, swap in (("ann", ("left", "left", "equal"), False), ("bo", ("left", "right", "equal"), True)):
        store = preferences.LabelStore(tmp_path / f"{name}.jsonl", item="text")
        for (a, b), answer in zip(pairs, answers):
            if swap:  # shown the other way round: the same judgement is the flipped answer
                a, b, answer = b, a, labelers.flip_answer(answer)
            store.add(a, b, answer, name)
    pool = pooling.read_folder(tmp_path)
    agree = pooling.agreement(pool)
    assert pool.raters == ["ann", "bo"] and len(agree.pairs) == 3
    assert sorted(p.agreement for p in agree.pairs) == [0.0, 1.0, 1.0]
    assert agree.percent == pytest.approx(2 / 3)
    (disputed,) = agree.most_disputed(1)
    assert {x.completion for x in pool.items(disputed.key)} == {"sure thing", "whatever"}
    assert "'sure thing' vs 'whatever'" in pooling.report(pool) or "'whatever' vs 'sure thing'" in pooling.report(pool)
    with pytest.raises(ValueError, match="true return stored with clips; this pool holds text labels"):
        pooling.compare_predictors(pool, None, None)
