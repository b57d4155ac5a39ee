"""Preference records, the crash-safe label store and pair selection."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import threading
import warnings

import numpy as np
import pytest

from rlhf_lite import preferences as prefs
from rlhf_lite.rollouts import Segment


def make_segments(n: int, length: int = 5, obs_dim: int = 3, seed: int = 0, discrete: bool = True) -> list[Segment]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        actions = rng.integers(0, 2, length) if discrete else rng.normal(size=(length, 1)).astype(np.float32)
        out.append(
            Segment(
                observations=rng.normal(size=(length, obs_dim)).astype(np.float32),
                actions=actions,
                true_rewards=rng.normal(size=length),
                uid=f"seg-{i}",
                episode=i,
                start=2 * i,
            )
        )
    return out


def file_lines(path) -> list[str]:
    with open(path, "rb") as f:
        return f.read().decode("utf-8").splitlines()


# ---- records ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("discrete", [True, False])
def test_record_round_trip_keeps_segments_exactly(discrete):
    a, b = make_segments(2, discrete=discrete)
    record = prefs.PreferenceRecord.from_segments(
        a, b, "left", "alice", seconds=1.5, env_id="CartPole-v1", meta={"round": 2}
    )
    back = prefs.PreferenceRecord.from_dict(json.loads(json.dumps(record.to_dict())))
    assert back == record
    for orig, seg in zip((a, b), back.segments()):
        for name in ("observations", "actions", "true_rewards"):
            got, want = getattr(seg, name), np.asarray(getattr(orig, name))
            assert got.dtype == want.dtype and np.array_equal(got, want), name
        assert (seg.uid, seg.episode, seg.start) == (orig.uid, orig.episode, orig.start)
    assert back.target == 1.0 and back.uids == ("seg-0", "seg-1")
    assert back.created.endswith("+00:00")  # ISO time, UTC


def test_record_validation_messages():
    a, b = make_segments(2)
    with pytest.raises(ValueError, match="answer='better'.*'left', 'right', 'equal', 'cant_tell'"):
        prefs.PreferenceRecord.from_segments(a, b, "better", "alice")
    short = make_segments(1, length=4)[0]
    with pytest.raises(ValueError, match="unequal length.*5 steps.*4"):
        prefs.PreferenceRecord.from_segments(a, short, "left", "alice")
    with pytest.raises(ValueError, match="right is a str, not an item.*rlhf_lite.rollouts.Segment"):
        prefs.PreferenceRecord.from_segments(a, "clip.gif", "left", "alice")
    with pytest.raises(ValueError, match="labeler=''"):
        prefs.PreferenceRecord.from_segments(a, b, "left", "")
    with pytest.raises(ValueError, match="seconds=-1"):
        prefs.PreferenceRecord.from_segments(a, b, "left", "alice", seconds=-1)
    bad = make_segments(1)[0]
    bad.observations[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        prefs.PreferenceRecord.from_segments(a, bad, "left", "alice")
    with pytest.raises(ValueError, match="meta is not allowed"):
        prefs.PreferenceRecord.from_segments(a, b, "left", "alice", meta={"when": object()})
    numpy_meta = prefs.PreferenceRecord.from_segments(
        a, b, "left", "alice", meta={"round": np.int64(3), "p": np.array([0.5])}
    )
    assert numpy_meta.meta == {"round": 3, "p": [0.5]}
    other_space = make_segments(1, obs_dim=4)[0]
    with pytest.raises(ValueError, match="observation shape"):
        prefs.PreferenceRecord.from_segments(a, other_space, "left", "alice")


def test_to_pairs_targets_and_stacking():
    segs = make_segments(8)
    records = [
        prefs.PreferenceRecord.from_segments(segs[2 * i], segs[2 * i + 1], ans, "alice")
        for i, ans in enumerate(["left", "right", "equal", "cant_tell"])
    ]
    pairs = prefs.to_pairs(records)
    assert [p.target for p in pairs] == [1.0, 0.0, 0.5]  # cant_tell dropped
    assert [p.left.uid for p in pairs] == ["seg-0", "seg-2", "seg-4"]
    arrays = prefs.stack_pairs(pairs)
    assert arrays["obs_left"].shape == (3, 5, 3) and arrays["act_right"].shape == (3, 5)
    assert np.array_equal(arrays["targets"], [1.0, 0.0, 0.5])
    assert np.array_equal(arrays["obs_right"][1], segs[3].observations)
    with pytest.raises(ValueError, match="empty"):
        prefs.stack_pairs([])


# ---- the store --------------------------------------------------------------------------------------------------


def test_store_writes_header_and_each_add_at_once(tmp_path):
    path = tmp_path / "sub" / "labels.jsonl"
    store = prefs.LabelStore(path, producer="test suite", env_id="Pendulum-v1")
    header = json.loads(file_lines(path)[0])
    assert header["kind"] == "header" and header["format"] == prefs.FORMAT and header["producer"] == "test suite"
    segs = make_segments(4)
    rec = store.add(segs[0], segs[1], "right", "alice", seconds=2.0)
    lines = file_lines(path)  # on disk before add returned, without closing anything
    assert len(lines) == 2 and json.loads(lines[1])["id"] == rec.id
    assert json.loads(lines[1])["env_id"] == "Pendulum-v1"  # taken from the header
    store.add(segs[2], segs[3], "cant_tell", "alice")
    assert len(store) == 2 and store.counts() == {"left": 0, "right": 1, "equal": 0, "cant_tell": 1}
    assert [p.target for p in store.pairs()] == [0.0]
    store.undo()
    text = store.describe()
    assert "1 labels (left 0, right 1, equal 0, cant_tell 0), 1 taken back" in text
    assert "by test suite" in text and "alice (1)" in text


def test_store_resumes_after_reopening(tmp_path):
    path = tmp_path / "labels.jsonl"
    segs = make_segments(6)
    first = prefs.LabelStore(path)
    ids = [first.add(segs[i], segs[i + 1], "left", "alice").id for i in range(3)]
    del first
    again = prefs.LabelStore(path, producer="ignored: the header is written once")
    assert [r.id for r in again.labels()] == ids
    again.add(segs[4], segs[5], "equal", "bob")
    third = prefs.LabelStore(path)
    assert len(third) == 4 and third.labels()[-1].labeler == "bob"
    assert json.loads(file_lines(path)[0])["producer"] != "ignored: the header is written once"
    assert sum(json.loads(line)["kind"] == "header" for line in file_lines(path)) == 1


def test_undo_appends_a_retraction(tmp_path):
    path = tmp_path / "labels.jsonl"
    store = prefs.LabelStore(path)
    assert store.undo() is None  # nothing to undo
    segs = make_segments(6)
    r1 = store.add(segs[0], segs[1], "left", "alice")
    r2 = store.add(segs[2], segs[3], "right", "bob")
    r3 = store.add(segs[4], segs[5], "equal", "alice")
    before = open(path, "rb").read()
    assert store.undo() == r3
    after = open(path, "rb").read()
    assert after.startswith(before)  # never rewritten, only appended
    assert json.loads(after.decode().splitlines()[-1]) | {"created": None, "id": None} == {
        "kind": "retract",
        "retracts": r3.id,
        "labeler": "alice",
        "created": None,
        "id": None,
    }
    assert [r.id for r in store.labels()] == [r1.id, r2.id]
    assert store.undo(labeler="alice") == r1  # the last of alice's, skipping bob's
    assert [r.id for r in store.labels()] == [r2.id]
    assert [r.id for r in prefs.LabelStore(path).labels()] == [r2.id]
    assert len(store.all_records()) == 3 and store.retracted_ids() == {r1.id, r3.id}
    with pytest.raises(ValueError, match="already taken back"):
        store.retract(r1.id)
    with pytest.raises(ValueError, match="no label with id 'nope'"):
        store.retract("nope")


def test_store_sees_records_from_another_writer(tmp_path):
    path = tmp_path / "labels.jsonl"
    segs = make_segments(4)
    a, b = prefs.LabelStore(path), prefs.LabelStore(path)
    ra = a.add(segs[0], segs[1], "left", "alice")
    rb = b.add(segs[2], segs[3], "right", "bob")
    assert [r.id for r in a.labels()] == [ra.id, rb.id] == [r.id for r in b.labels()]
    assert a.undo() == rb  # the last label in the file, whoever wrote it
    assert len(b) == 1


def _write_store_with_bad_lines(path, bad_lines: dict[int, str], n_good: int = 4) -> list[str]:
    """A store of ``n_good`` labels with raw ``bad_lines`` inserted at the given (1-based) file line numbers."""
    segs = make_segments(2 * n_good)
    store = prefs.LabelStore(path)
    ids = [store.add(segs[2 * i], segs[2 * i + 1], "left", "alice").id for i in range(n_good)]
    lines = file_lines(path)
    for lineno in sorted(bad_lines):
        lines.insert(lineno - 1, bad_lines[lineno])
    path.write_text("\n".join(lines) + "\n")
    return ids


def test_malformed_line_names_file_and_line(tmp_path):
    path = tmp_path / "labels.jsonl"
    ids = _write_store_with_bad_lines(path, {3: '{"kind": "label", "id": oops}'})
    with pytest.raises(ValueError, match=rf"{path}, line 3: not valid JSON.*skip_bad=True"):
        prefs.LabelStore(path)
    with pytest.warns(prefs.LabelFileWarning, match=r"skipped 1 bad line\(s\) \(line 3"):
        store = prefs.LabelStore(path, skip_bad=True)
    assert [r.id for r in store.labels()] == ids and store.skipped[0][0] == 3


def test_invalid_records_and_counts_of_skipped_lines(tmp_path):
    path = tmp_path / "labels.jsonl"
    segs = make_segments(2)
    wrong_answer = prefs.PreferenceRecord.from_segments(segs[0], segs[1], "left", "alice").to_dict() | {
        "answer": "maybe"
    }
    ids = _write_store_with_bad_lines(
        path,
        {
            2: json.dumps(wrong_answer),
            4: "[1, 2, 3]",
            5: '{"kind": "retract", "retracts": "unknown"}',
            7: "\x00garbage",
        },
    )
    with pytest.raises(ValueError, match=r"line 2: invalid label record \(answer='maybe'"):
        prefs.LabelStore(path)
    with pytest.warns(prefs.LabelFileWarning, match=r"skipped 4 bad line\(s\)") as caught:
        store = prefs.LabelStore(path, skip_bad=True)
    assert len(caught) == 1
    assert [n for n, _ in store.skipped] == [2, 4, 5, 7]
    assert [r.id for r in store.labels()] == ids


def test_file_without_header_is_refused(tmp_path):
    path = tmp_path / "notes.jsonl"
    path.write_text('{"hello": "world"}\n')
    with pytest.raises(ValueError, match="line 1: expected the header record"):
        prefs.LabelStore(path)
    with pytest.raises(FileNotFoundError):
        prefs.LabelStore(tmp_path / "missing.jsonl", create=False)
    assert not (tmp_path / "missing.jsonl").exists()


def test_truncated_last_line_then_resume(tmp_path):
    path = tmp_path / "labels.jsonl"
    ids = _write_store_with_bad_lines(path, {})
    data = open(path, "rb").read()
    with open(path, "ab") as f:  # a writer that died mid-record: half a line, no newline
        f.write(data.splitlines()[-1][:50])
    with pytest.raises(ValueError, match=rf"{path}, line 6: truncated record"):
        prefs.LabelStore(path)
    with pytest.warns(prefs.LabelFileWarning, match="skipped 1 bad line"):
        store = prefs.LabelStore(path, skip_bad=True)
    assert [r.id for r in store.labels()] == ids
    segs = make_segments(2, seed=5)
    new = store.add(segs[0], segs[1], "right", "alice")  # must not be glued onto the broken line
    with pytest.warns(prefs.LabelFileWarning, match="skipped 1 bad line"):
        reopened = prefs.LabelStore(path, skip_bad=True)
    assert [r.id for r in reopened.labels()] == ids + [new.id]
    assert [n for n, _ in reopened.skipped] == [6]
    lines = file_lines(path)
    assert len(lines) == 7 and json.loads(lines[6])["id"] == new.id


def test_shrunk_file_is_reported(tmp_path):
    path = tmp_path / "labels.jsonl"
    _write_store_with_bad_lines(path, {})
    store = prefs.LabelStore(path)
    lines = file_lines(path)
    path.write_text("\n".join(lines[:2]) + "\n")
    with pytest.raises(ValueError, match="shrank"):
        store.labels()


# ---- crashes and concurrent writers ----------------------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import sys
    import numpy as np
    from rlhf_lite.preferences import LabelStore
    from rlhf_lite.rollouts import Segment

    path, tag, count, obs_dim = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    rng = np.random.default_rng(abs(hash(tag)) % 2**32)
    store = LabelStore(path)
    def seg(i):
        obs = rng.normal(size=(25, obs_dim)).astype(np.float32)
        return Segment(obs, rng.integers(0, 3, 25), rng.normal(size=25), uid=f"{tag}-{i}")
    i = 0
    while count < 0 or i < count:
        rec = store.add(seg(2 * i), seg(2 * i + 1), ("left", "right", "equal", "cant_tell")[i % 4], tag, meta={"i": i})
        print("ack", rec.id, flush=True)
        i += 1
    """
)


def _child(tmp_path, path, tag: str, count: int, obs_dim: int) -> subprocess.Popen:
    script = tmp_path / "child.py"
    if not script.exists():
        script.write_text(CHILD)
    return subprocess.Popen(
        [sys.executable, str(script), str(path), tag, str(count), str(obs_dim)],
        stdout=subprocess.PIPE,
        text=True,
    )


posix_only = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL and flock are POSIX")


@posix_only
def test_sigkill_loses_no_acknowledged_record(tmp_path):
    path = tmp_path / "labels.jsonl"
    prefs.LabelStore(path)  # header first, so the child only appends
    child = _child(tmp_path, path, "killed", -1, 100)  # ~100 kB lines: a kill may land inside a write
    acked = []
    for line in child.stdout:
        acked.append(line.split()[1])
        if len(acked) == 10:
            break
    child.send_signal(signal.SIGKILL)
    rest, _ = child.communicate()
    acked += [line.split()[1] for line in rest.splitlines() if line.startswith("ack ")]
    assert child.returncode == -signal.SIGKILL
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        store = prefs.LabelStore(path, skip_bad=True)
    n_lines = len(open(path, "rb").read().split(b"\n"))
    # At most the one record being written when the kill came can be damaged, and only as the last line.
    assert len(store.skipped) <= 1 and len(caught) == len(store.skipped)
    assert all(lineno == len(file_lines(path)) for lineno, _ in store.skipped), (store.skipped, n_lines)
    stored = [r.id for r in store.labels()]
    assert stored[: len(acked)] == acked  # every acknowledged record, in order
    assert len(stored) - len(acked) <= 1  # plus possibly the one written but not yet acknowledged


def test_concurrent_threads_never_interleave(tmp_path):
    path = tmp_path / "labels.jsonl"
    shared = prefs.LabelStore(path)
    segs = make_segments(10, length=20, obs_dim=16)
    errors = []

    def work(store, tag, n=25):
        try:
            for i in range(n):
                store.add(segs[i % 10], segs[(i + 1) % 10], "left", tag, meta={"i": i})
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(shared, f"shared-{k}")) for k in range(2)]
    threads += [threading.Thread(target=work, args=(prefs.LabelStore(path), f"own-{k}")) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    records = [json.loads(line) for line in file_lines(path)]  # every line parses
    assert records[0]["kind"] == "header" and len(records) == 1 + 100
    labels = prefs.LabelStore(path).labels()
    assert len({r.id for r in labels}) == 100
    for tag in ("shared-0", "shared-1", "own-0", "own-1"):
        assert [r.meta["i"] for r in labels if r.labeler == tag] == list(range(25))
    assert len(shared) == 100  # the shared store read the others' records too


@posix_only
def test_concurrent_processes_never_interleave(tmp_path):
    path = tmp_path / "labels.jsonl"
    children = [_child(tmp_path, path, f"proc-{k}", 20, 40) for k in range(3)]
    acks = {}
    for k, child in enumerate(children):
        out, _ = child.communicate(timeout=300)
        assert child.returncode == 0
        acks[f"proc-{k}"] = [line.split()[1] for line in out.splitlines()]
    records = [json.loads(line) for line in file_lines(path)]  # every line parses
    assert sum(r["kind"] == "header" for r in records) == 1 and records[0]["kind"] == "header"
    labels = prefs.LabelStore(path).labels()
    assert len(labels) == 60
    for tag, ids in acks.items():
        mine = [r for r in labels if r.labeler == tag]
        assert [r.id for r in mine] == ids and [r.meta["i"] for r in mine] == list(range(20))


# ---- choosing pairs --------------------------------------------------------------------------------------------


def test_random_pairs_distinct_reproducible_and_unbiased():
    segs = make_segments(12)
    pairs = prefs.random_pairs(segs, 60, np.random.default_rng(3))
    keys = [frozenset((a.uid, b.uid)) for a, b in pairs]
    assert len(pairs) == 60 and len(set(keys)) == 60 and all(len(k) == 2 for k in keys)
    again = prefs.random_pairs(segs, 60, np.random.default_rng(3))
    assert [(a.uid, b.uid) for a, b in pairs] == [(a.uid, b.uid) for a, b in again]
    # Which clip is on the left is random: the lower-numbered one is on the left about half the time.
    lower_left = sum(int(a.uid[4:]) < int(b.uid[4:]) for a, b in prefs.random_pairs(segs, 66, np.random.default_rng(0)))
    assert 15 < lower_left < 51
    assert len(prefs.random_pairs(segs, 66, np.random.default_rng(0))) == 66  # every pair
    with pytest.raises(ValueError, match="at most 66 distinct pairs"):
        prefs.random_pairs(segs, 67, np.random.default_rng(0))
    with pytest.raises(ValueError, match="unequal length"):
        prefs.random_pairs(segs + make_segments(1, length=7), 3, np.random.default_rng(0))
    with pytest.raises(ValueError, match="rng must be a numpy Generator"):
        prefs.random_pairs(segs, 3, 0)


def test_random_pairs_many_segments_uses_sampling():
    segs = make_segments(1000, length=2, obs_dim=1)
    pairs = prefs.random_pairs(segs, 50, np.random.default_rng(1))
    assert len({frozenset((a.uid, b.uid)) for a, b in pairs}) == 50


def test_active_pairs_keeps_the_most_disputed():
    segs = make_segments(20)

    def disagreement(lefts, rights):  # pretend the ensemble is unsure where the true returns are close
        return -np.abs(np.array([a.true_return - b.true_return for a, b in zip(lefts, rights)]))

    chosen = prefs.active_pairs(segs, 5, np.random.default_rng(7), disagreement, candidates=80)
    pool = prefs.random_pairs(segs, 80, np.random.default_rng(7))  # the same candidates, same seed
    gaps = sorted(abs(a.true_return - b.true_return) for a, b in pool)
    assert [abs(a.true_return - b.true_return) for a, b in chosen] == pytest.approx(gaps[:5])
    random_gap = np.mean([abs(a.true_return - b.true_return) for a, b in pool])
    assert np.mean([abs(a.true_return - b.true_return) for a, b in chosen]) < random_gap
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        prefs.active_pairs(segs, 5, np.random.default_rng(0), lambda a, b: np.zeros(3), candidates=40)
    with pytest.raises(ValueError, match="candidates=2"):
        prefs.active_pairs(segs, 5, np.random.default_rng(0), disagreement, candidates=2)
    with pytest.raises(ValueError, match="NaN"):
        prefs.active_pairs(segs, 2, np.random.default_rng(0), lambda a, b: np.full(len(a), np.nan))
    assert len(prefs.active_pairs(segs, 4, np.random.default_rng(0), disagreement)) == 4


def test_pairs_already_asked_are_not_asked_again(tmp_path):
    segs = make_segments(4)
    store = prefs.LabelStore(tmp_path / "labels.jsonl")
    store.add(segs[0], segs[1], "left", "alice")
    store.add(segs[3], segs[2], "cant_tell", "alice")  # asked, even if unanswerable
    store.add(segs[0], segs[2], "right", "alice")
    store.undo()  # taken back: may be asked again
    asked = store.uid_pairs()
    assert asked == {("seg-0", "seg-1"), ("seg-3", "seg-2")}
    rest = prefs.random_pairs(segs, 4, np.random.default_rng(0), exclude=asked)
    assert {frozenset((a.uid, b.uid)) for a, b in rest} == {
        frozenset(p) for p in [("seg-0", "seg-2"), ("seg-0", "seg-3"), ("seg-1", "seg-2"), ("seg-1", "seg-3")]
    }
    with pytest.raises(ValueError, match="only 4 distinct pairs are left"):
        prefs.random_pairs(segs, 5, np.random.default_rng(0), exclude=asked)
    chosen = prefs.active_pairs(segs, 2, np.random.default_rng(0), lambda a, b: np.ones(len(a)), exclude=asked)
    assert not {frozenset((a.uid, b.uid)) for a, b in chosen} & {frozenset(p) for p in asked}
    many = make_segments(1000, length=2, obs_dim=1)
    exclude = [(f"seg-{i}", f"seg-{j}") for i in range(3) for j in range(1000) if i != j]
    picked = prefs.random_pairs(many, 300, np.random.default_rng(2), exclude=exclude)
    assert all(int(a.uid[4:]) >= 3 and int(b.uid[4:]) >= 3 for a, b in picked)


# --------------------------------------------------------------------------------------------------------------
# Pairs a person can tell apart, and no clip shown twice in a row


def still_segment(level: float, uid: str, length: int = 5) -> Segment:
    """A clip whose observations sit at ``level`` in every dimension (a pendulum hanging still, say)."""
    return Segment(
        observations=np.full((length, 3), level, np.float32),
        actions=np.zeros((length, 1), np.float32),
        true_rewards=np.zeros(length),
        uid=uid,
    )


def test_observation_distance_is_zero_for_alike_clips_and_grows_with_the_difference():
    a, b, c = still_segment(0.0, "a"), still_segment(0.0, "b"), still_segment(2.0, "c")
    d = prefs.observation_distance([a, a, b], [b, c, c])
    assert d[0] == 0.0 and d[1] == pytest.approx(2 * np.sqrt(3)) and d[2] == d[1]
    scaled = prefs.observation_distance([a], [c], scale=np.array([2.0, 2.0, 2.0]))
    assert scaled[0] == pytest.approx(np.sqrt(3))
    with pytest.raises(ValueError, match="scale must hold 3 positive numbers"):
        prefs.observation_distance([a], [c], scale=np.array([1.0, 0.0, 1.0]))
    with pytest.raises(ValueError, match="lefts has 1 segments but rights has 2"):
        prefs.observation_distance([a], [b, c])


def test_spread_pairs_prefers_clips_that_look_different():
    """Before any label, pairs are ranked by how different the clips look: half the clips sit at 0 (alike),
    half far apart; every chosen pair has one clip from each half, never two alike ones."""
    segs = [still_segment(0.0, f"same-{i}") for i in range(6)] + [still_segment(5.0 + i, f"far-{i}") for i in range(6)]
    for seed in range(5):
        pairs = prefs.spread_pairs(segs, 4, np.random.default_rng(seed), candidates=60)
        assert len(pairs) == 4
        assert all({a.uid[:4], b.uid[:4]} != {"same"} for a, b in pairs), [(a.uid, b.uid) for a, b in pairs]
    # the negative control: uniformly random pairs of the same clips do pair two alike clips
    alike = sum(
        a.uid.startswith("same") and b.uid.startswith("same")
        for seed in range(5)
        for a, b in prefs.random_pairs(segs, 4, np.random.default_rng(seed))
    )
    assert alike > 0


def test_spread_pairs_shows_every_clip_once_per_batch_and_avoids_the_last_pairs():
    segs = make_segments(10, seed=4)
    for seed in range(10):
        pairs = prefs.spread_pairs(segs, 5, np.random.default_rng(seed))
        uids = [s.uid for pair in pairs for s in pair]
        assert len(uids) == len(set(uids)) == 10  # 5 pairs of 10 clips: each exactly once
        shown = {pairs[-1][0].uid, pairs[-1][1].uid}
        after = prefs.spread_pairs(segs, 3, np.random.default_rng(seed + 100), avoid=shown)
        assert not shown & {
            s.uid for pair in after for s in pair
        }  # the next batch does not repeat the last pair's clips
    # more pairs than clips allow once each: clips repeat, as evenly as possible, and pairs stay distinct
    few = prefs.spread_pairs(segs[:4], 6, np.random.default_rng(0), candidates=6)
    assert len({frozenset((a.uid, b.uid)) for a, b in few}) == 6


def test_spread_pairs_compares_new_clips_with_references_and_checks_its_inputs():
    new, old = make_segments(4, seed=1), make_segments(8, seed=2)
    old = [Segment(s.observations, s.actions, s.true_rewards, uid=f"old-{i}") for i, s in enumerate(old)]
    pairs = prefs.spread_pairs(new, 2, np.random.default_rng(0), candidates=20, references=old)
    assert all(any(s.uid.startswith("seg-") for s in pair) for pair in pairs)  # a new clip in every pair
    assert any(s.uid.startswith("old-") for pair in pairs for s in pair)  # and some compared with references
    scored = prefs.spread_pairs(new, 2, np.random.default_rng(0), lambda a, b: np.array([float(x.uid[-1]) for x in a]))
    assert len(scored) == 2
    with pytest.raises(ValueError, match="score returned shape"):
        prefs.spread_pairs(new, 2, np.random.default_rng(0), lambda a, b: np.zeros(1))
    with pytest.raises(ValueError, match="candidates=1 is not allowed"):
        prefs.spread_pairs(new, 2, np.random.default_rng(0), candidates=1)
    with pytest.raises(ValueError, match="rng must be a numpy Generator"):
        prefs.spread_pairs(new, 2, 0)


# ---- item kinds: clips and text through one interface (rlhf_lite.items) ---------------------------------------

from pathlib import Path  # noqa: E402

from rlhf_lite import items  # noqa: E402
from rlhf_lite.label_store import LabelStore  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "data"


def completions(prompt: str = "review: the acting was", n: int = 4, uids: bool = True) -> list[items.TextItem]:
    words = ("great but the ending dragged", "dull", "fine", "great great great", "warm and funny", "")
    return [items.TextItem(prompt, words[i], uid=f"t{i}" if uids else "", meta={"policy": i}) for i in range(n)]


def test_text_items_round_trip_through_a_record_and_a_store(tmp_path):
    a, b, c, _ = completions()
    record = prefs.PreferenceRecord.from_items(a, b, "left", "alice", meta={"round": 1})
    assert record.item_kind == "text" and record.left["item"] == "text" and record.uids == ("t0", "t1")
    assert prefs.PreferenceRecord.from_dict(json.loads(json.dumps(record.to_dict()))).items() == (a, b)
    with pytest.raises(ValueError, match="compares text items, not clips"):
        record.segments()
    store = LabelStore(tmp_path / "text.jsonl", item="text")
    store.add(a, b, "left", "alice")
    store.add(c, a, "equal", "alice")
    store.add_record(record)
    store.undo()
    back = LabelStore(tmp_path / "text.jsonl")  # a fresh reader: what is on disk
    assert back.header["item"] == "text" and back.item_kind == "text"
    assert [r.items() for r in back.labels()] == [(a, b), (c, a)]
    assert [(p.left, p.right, p.target) for p in back.pairs()] == [(a, b, 1.0), (c, a, 0.5)]
    assert back.uid_pairs() == {("t0", "t1"), ("t2", "t0")}


def test_a_label_file_holds_one_kind_of_item(tmp_path):
    (a, b), (s, t) = completions(n=2), make_segments(2)
    clips = LabelStore(tmp_path / "clips.jsonl")  # no kind in the header: the first label decides
    clips.add(s, t, "left", "alice")
    with pytest.raises(ValueError, match="cannot add this label: a label about text items, but this file holds clip"):
        clips.add(a, b, "left", "alice")
    texts = LabelStore(tmp_path / "texts.jsonl", item="text")
    with pytest.raises(ValueError, match="a label about clip items.*its header says so"):
        texts.add(s, t, "left", "alice")
    with pytest.raises(ValueError, match="holds clip labels, but item='text' was asked"):
        LabelStore(tmp_path / "clips.jsonl", item="text")
    with pytest.raises(ValueError, match="item='audio' is not a known kind of item: expected one of 'clip', 'text'"):
        LabelStore(tmp_path / "new.jsonl", item="audio")


def test_two_items_must_be_comparable():
    a, b = completions(n=2)
    other = items.TextItem("review: the music was", "loud")
    with pytest.raises(ValueError, match="different prompts"):
        prefs.PreferenceRecord.from_items(a, other, "left", "alice")
    with pytest.raises(ValueError, match="left is a completion \\(text\\) but right is a clip \\(clip\\)"):
        prefs.check_pair(a, make_segments(1)[0])
    with pytest.raises(ValueError, match="TextItem.completion=3 is not allowed: expected a string"):
        items.TextItem("p", 3)
    with pytest.raises(ValueError, match="right is a tuple, not an item a person can compare.*TextItem"):
        prefs.check_pair(a, ("p", "c"))
    assert items.kind_of(a).name == "text" and items.kind_of(make_segments(1)[0]).name == "clip"
    assert items.kinds() == ("clip", "text")


@pytest.mark.parametrize(
    "change, message",
    [
        ({"completion": None}, r"left\.completion=None is not allowed: expected a string"),
        ({"prompt": ["a"]}, r"left\.prompt=\['a'\] is not allowed: expected a string"),
        ({"meta": 3}, r"left\.meta=3 is not allowed: expected a JSON object"),
        ({"item": "audio"}, r"left\.item='audio' is not a known kind of item: expected one of 'clip', 'text'"),
    ],
)
def test_a_bad_text_payload_names_the_field(tmp_path, change, message):
    a, b = completions(n=2)
    line = prefs.PreferenceRecord.from_items(a, b, "left", "alice").to_dict()
    line["left"] = {**line["left"], **change}
    with pytest.raises(ValueError, match=message):
        prefs.PreferenceRecord.from_dict(line)
    del line["left"]["prompt"]
    with pytest.raises(ValueError, match="left text item is missing 'prompt'|left.item="):
        prefs.PreferenceRecord.from_dict(line)
    path = tmp_path / "bad.jsonl"
    LabelStore(path, item="text").add(a, b, "right", "bob")
    with open(path, "a") as f:
        f.write(json.dumps({**line, "id": "x1", "left": {**a.__dict__, "item": "text", **change}}) + "\n")
    with pytest.raises(ValueError, match=rf"{path}, line 3: invalid label record \(" + message):
        LabelStore(path)
    with pytest.warns(prefs.LabelFileWarning, match="line 3"):
        assert len(LabelStore(path, skip_bad=True)) == 1


def test_the_shipped_label_files_load_unchanged_as_clips():
    for name in ("pendulum_oracle_labels.jsonl", "pendulum_spin_labels.jsonl"):
        store = LabelStore(DATA / name, create=False)
        labels = store.labels()
        assert labels and store.item_kind == "clip" and "item" not in store.header
        assert all("item" not in r.left and r.item_kind == "clip" for r in labels)  # written before item kinds
        left, right = labels[0].segments()
        assert labels[0].items()[0].uid == left.uid and len(left) == len(right) == 25
        assert np.asarray(left.observations).shape == (25, 3) and left.observations.dtype == np.float32


def test_an_old_format_file_written_by_hand_loads(tmp_path):
    """A label file as rlhf_lite wrote it before item kinds: no "item" in the header or the payloads."""
    obs, act = [[1.0, 0.0, 0.5], [0.9, 0.1, 0.4]], [[0.5], [-0.5]]
    clip = {"uid": "a", "episode": 0, "start": 0, "obs_dtype": "float32", "act_dtype": "float32"}
    lines = [
        {
            "kind": "header",
            "format": "rlhf-lite/labels",
            "version": 1,
            "created": "2026-01-01T00:00:00.000+00:00",
            "producer": "by hand",
            "answers": list(prefs.ANSWERS),
            "env_id": "Pendulum-v1",
        },
        {
            "kind": "label",
            "id": "r1",
            "answer": "left",
            "labeler": "alice",
            "created": "",
            "seconds": 2.0,
            "env_id": "Pendulum-v1",
            "meta": {},
            "left": {**clip, "observations": obs, "actions": act, "true_rewards": [-1.0, -2.0]},
            "right": {**clip, "uid": "b", "observations": obs[::-1], "actions": act, "true_rewards": [-3.0, -4.0]},
        },
        {
            "kind": "label",
            "id": "r2",
            "answer": "right",
            "labeler": "alice",
            "created": "",
            "seconds": None,
            "env_id": "Pendulum-v1",
            "meta": {},
            "left": {"observations": obs, "actions": act, "true_rewards": [0, 1]},
            "right": {"observations": obs, "actions": act, "true_rewards": [1, 1]},
        },
        {"kind": "retract", "id": "x", "retracts": "r2", "labeler": "alice", "created": ""},
    ]
    path = tmp_path / "old.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    store = LabelStore(path, create=False)
    (record,) = store.labels()
    left, right = record.segments()
    assert record.item_kind == "clip" and record.uids == ("a", "b") and left.observations.dtype == np.float32
    assert np.array_equal(right.observations, np.asarray(obs[::-1], dtype=np.float32))
    (pair,) = store.pairs()
    assert pair.target == 1.0 and pair.left.uid == "a"
    store.add(*make_segments(2, length=2), "equal", "bob")  # the old file takes new labels of its kind
    assert [r.item_kind for r in LabelStore(path).labels()] == ["clip", "clip"]


def test_pair_selection_takes_text_items():
    pool = completions(n=5)
    pairs = prefs.random_pairs(pool, 6, np.random.default_rng(0))
    assert len({frozenset((a.uid, b.uid)) for a, b in pairs}) == 6
    assert all(isinstance(a, items.TextItem) and a.prompt == b.prompt for a, b in pairs)
