"""Checkpoints (issue 11, findings 2 and 6): one atomic write, a checkpoint folder that a crash at any point leaves
old or new but whole, and loading that names the file and what it expected.

Each test here failed on the code before rlhf_lite.checkpoints existed (see the issue for what each did)."""

from __future__ import annotations

import json
import os
import shutil

import gymnasium as gym
import numpy as np
import pytest
import torch

from rlhf_lite import agents, checkpoints, labelers, loop, tasks
from rlhf_lite import reward_model as rm

PEND_OBS, PEND_ACT = gym.spaces.Box(-8.0, 8.0, (3,), np.float32), gym.spaces.Box(-2.0, 2.0, (1,), np.float32)
CART_OBS, CART_ACT = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32), gym.spaces.Discrete(2)

TINY = dict(tasks.SMOKE_RUN)


class SimulatedCrash(BaseException):
    """Stands in for the process dying: a BaseException, so no ``except Exception`` cleanup runs."""


class CrashAt:
    """Counts calls of os.rename / os.replace / os.fsync and of file writes, and crashes at call number ``at``
    (before the call), as a kill at that moment would. ``at=None`` only counts."""

    NAMES = ("rename", "replace", "fsync")

    def __init__(self, monkeypatch, at: int | None):
        self.at, self.n, self.steps = at, 0, []
        for name in self.NAMES:
            real = getattr(os, name)
            monkeypatch.setattr(os, name, self._wrap(name, real))

    def _wrap(self, name, real):
        def call(*args, **kwargs):
            self.n += 1
            self.steps.append(name)
            if self.at is not None and self.n == self.at:
                raise SimulatedCrash(f"crash before {name} #{self.n}")
            return real(*args, **kwargs)

        return call


def oracle():
    return labelers.OracleLabeler(noise_prob=0.1, rng=np.random.default_rng(1))


def params(agent) -> list[torch.Tensor]:
    return [p.detach().clone() for p in agent.net.parameters()]


def same(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b))


# ---- the one atomic write ---------------------------------------------------------------------------------------


def test_atomic_write_fsyncs_before_the_rename_and_leaves_nothing_on_failure(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}") if os.path.exists("/proc/self/fd") else fd))
        return real_fsync(fd)

    def replace(a, b):
        events.append(("replace", os.fspath(a)))
        return real_replace(a, b)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    path = tmp_path / "x.json"
    checkpoints.write_json(path, {"a": 1})
    kinds = [k for k, _ in events]
    assert kinds == ["fsync", "replace", "fsync"]  # file flushed, renamed, folder flushed
    assert events[0][1] == events[1][1]  # the file fsynced is the one renamed into place
    assert json.loads(path.read_text()) == {"a": 1}

    def broken(f):
        f.write(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        checkpoints.atomic_write(path, broken)
    assert json.loads(path.read_text()) == {"a": 1} and sorted(p.name for p in tmp_path.iterdir()) == ["x.json"]


@pytest.mark.parametrize(
    "save",
    [
        lambda p: agents.PPOAgent(PEND_OBS, PEND_ACT, agents.PPOConfig(), seed=0).save(p),
        lambda p: rm.RewardEnsemble(PEND_OBS, PEND_ACT, seed=0).save(str(p)),
        lambda p: tasks.save_history([{"round": 0}], p),
    ],
    ids=["agent", "reward", "history"],
)
def test_every_save_goes_through_the_atomic_write(tmp_path, monkeypatch, save):
    calls = []
    real = checkpoints.atomic_write
    monkeypatch.setattr(checkpoints, "atomic_write", lambda path, data: calls.append(path) or real(path, data))
    save(tmp_path / "f")
    assert [os.fspath(c) for c in calls] == [os.fspath(tmp_path / "f")]


# ---- a checkpoint folder: old or new, whole, after a crash at any point ------------------------------------------


def _write_pair(value):
    def write(folder):
        checkpoints.write_json(folder / "a.json", {"v": value})
        checkpoints.write_json(folder / "b.json", {"v": value})

    return write


def test_folder_write_crash_at_every_step_leaves_old_or_new_whole(tmp_path, monkeypatch):
    folder = tmp_path / "ck"
    counter = CrashAt(monkeypatch, None)
    checkpoints.write_folder(folder, _write_pair(1), ["a.json", "b.json"])
    counter.n = 0
    checkpoints.write_folder(folder, _write_pair(2), ["a.json", "b.json"])
    steps = counter.n
    monkeypatch.undo()
    assert steps >= 6
    seen = set()
    for at in range(1, steps + 2):
        shutil.rmtree(tmp_path)
        tmp_path.mkdir()
        checkpoints.write_folder(folder, _write_pair(1), ["a.json", "b.json"])
        crash = CrashAt(monkeypatch, at)
        try:
            checkpoints.write_folder(folder, _write_pair(2), ["a.json", "b.json"])
        except SimulatedCrash:
            pass
        monkeypatch.undo()
        got = checkpoints.open_folder(folder)
        values = {json.loads((got / n).read_text())["v"] for n in ("a.json", "b.json")}
        assert len(values) == 1, (at, crash.steps)  # never one file of each save
        seen |= values
        checkpoints.write_folder(folder, _write_pair(3), ["a.json", "b.json"])  # and the next save works
        assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]  # leftovers cleaned up
    assert seen == {1, 2}


def test_folder_with_other_files_is_not_replaced(tmp_path):
    folder = tmp_path / "ck"
    folder.mkdir()
    (folder / "labels.jsonl").write_text("mine\n")
    with pytest.raises(ValueError, match=r"holds other files than a checkpoint's \(labels.jsonl\)"):
        checkpoints.write_folder(folder, _write_pair(1), ["a.json", "b.json"])
    assert (folder / "labels.jsonl").read_text() == "mine\n"


@pytest.fixture(scope="module")
def two_rounds(tmp_path_factory):
    """A tiny loop after round 0 and after round 1, with the agent weights of each."""
    run = loop.RLHFLoop(loop.RLHFConfig(**TINY), oracle(), seed=0, progress=False)
    run.step_round()
    first = params(run.agent)
    return run, first


def test_crash_anywhere_in_loop_save_resumes_one_whole_round(tmp_path, monkeypatch, two_rounds):
    run, first = two_rounds
    folder = tmp_path / "ck"
    run.save(folder)  # round 0 on disk
    round0 = run.round
    state = {"net": {k: v.clone() for k, v in run.agent.net.state_dict().items()}}  # a copy, not views
    run.agent.net.load_state_dict({k: v + 0.5 for k, v in state["net"].items()})  # the "next round's" weights
    run.round += 1
    later = params(run.agent)
    counter = CrashAt(monkeypatch, None)
    run.save(tmp_path / "probe")
    steps = counter.n
    monkeypatch.undo()
    outcomes = []
    try:
        for at in range(1, steps + 1):
            shutil.rmtree(folder, ignore_errors=True)
            for p in tmp_path.glob(".ck.*"):
                shutil.rmtree(p)
            run.round -= 1
            run.agent.net.load_state_dict(state["net"])
            run.save(folder)
            run.round += 1
            run.agent.net.load_state_dict({k: v + 0.5 for k, v in state["net"].items()})
            CrashAt(monkeypatch, at)
            try:
                run.save(folder)
            except SimulatedCrash:
                pass
            monkeypatch.undo()
            back = loop.RLHFLoop.resume(folder, oracle(), progress=False)
            expected = first if back.round == round0 else later
            assert back.round in (round0, round0 + 1) and same(params(back.agent), expected), at
            outcomes.append(back.round)
    finally:
        run.round -= 1
        run.agent.net.load_state_dict(state["net"])
    assert set(outcomes) == {round0, round0 + 1}  # some crash points keep the old round, later ones the new


def test_files_of_two_saves_mixed_by_hand_are_refused(tmp_path, two_rounds):
    run, _ = two_rounds
    run.save(tmp_path / "a")
    other = agents.PPOAgent(run.agent.observation_space, run.agent.action_space, run.agent.config, seed=5)
    other.save(tmp_path / "a" / "agent.pt")
    with pytest.raises(
        checkpoints.CheckpointError,
        match=r"agent.pt (is not the agent.pt this checkpoint saved|has \d+ bytes, but).*round 0",
    ):
        loop.RLHFLoop.resume(tmp_path / "a", oracle(), progress=False)


# ---- loading names the file and what it expected ----------------------------------------------------------------


@pytest.fixture
def files(tmp_path):
    agent = agents.PPOAgent(PEND_OBS, PEND_ACT, agents.PPOConfig(), seed=0)
    agent.save(tmp_path / "agent.pt")
    rm.RewardEnsemble(PEND_OBS, PEND_ACT, seed=0).save(str(tmp_path / "reward.pt"))
    return tmp_path


def test_truncated_or_empty_weights_name_the_file(files):
    data = (files / "agent.pt").read_bytes()
    (files / "cut.pt").write_bytes(data[: len(data) // 2])
    (files / "empty.pt").write_bytes(b"")
    (files / "text.pt").write_text("hello")
    for name in ("cut.pt", "empty.pt", "text.pt"):
        with pytest.raises(
            checkpoints.CheckpointError, match=rf"{files / name} cannot be read as a PPOAgent .*truncated"
        ):
            agents.PPOAgent.from_checkpoint(files / name)
        with pytest.raises(checkpoints.CheckpointError, match=rf"{files / name} cannot be read as a RewardEnsemble"):
            rm.RewardEnsemble.load(str(files / name))


def test_pickled_objects_are_refused_by_name(files):
    torch.save({"format": "rlhf_lite.PPOAgent/1", "thing": gym.spaces.Discrete(2)}, files / "pickled.pt")
    with pytest.raises(checkpoints.CheckpointError, match=r"pickled.pt cannot be read as a PPOAgent checkpoint") as e:
        agents.PPOAgent.from_checkpoint(files / "pickled.pt")
    assert "\x1b" not in str(e.value)  # no terminal colour codes in the message


def test_reward_file_given_as_an_agent_says_what_it_is(files):
    Error = checkpoints.CheckpointError
    with pytest.raises(Error, match=r"reward.pt: this is a reward model checkpoint .*not an agent"):
        agents.PPOAgent.from_checkpoint(files / "reward.pt")
    with pytest.raises(Error, match=r"agent.pt: this is an agent checkpoint .*not a reward model"):
        rm.RewardEnsemble.load(str(files / "agent.pt"))
    cart = agents.PPOAgent(CART_OBS, CART_ACT, agents.PPOConfig(), seed=0)
    with pytest.raises(checkpoints.CheckpointError, match=rf"{files / 'agent.pt'}: checkpoint observation_space"):
        cart.load(files / "agent.pt")


def test_nan_weights_are_refused(files):
    state = torch.load(files / "agent.pt", weights_only=True)
    key = next(iter(state["net"]))
    state["net"][key][0] = float("nan")
    torch.save(state, files / "nan_agent.pt")
    with pytest.raises(checkpoints.CheckpointError, match=rf"nan_agent.pt: net.{key} holds NaN or infinity"):
        agents.PPOAgent.from_checkpoint(files / "nan_agent.pt")
    state = torch.load(files / "reward.pt", weights_only=True)
    key = next(iter(state["net"]))
    state["net"][key].view(-1)[0] = float("inf")
    torch.save(state, files / "inf_reward.pt")
    with pytest.raises(checkpoints.CheckpointError, match=r"inf_reward.pt: net\..* holds NaN or infinity"):
        rm.RewardEnsemble.load(str(files / "inf_reward.pt"))


def test_loop_checkpoint_damage_names_the_file(tmp_path, two_rounds):
    run, _ = two_rounds
    folder = run.save(tmp_path / "ck")
    text = (folder / "loop.json").read_text()
    (folder / "loop.json").write_text(text[: len(text) // 2])
    with pytest.raises(checkpoints.CheckpointError, match=rf"{folder / 'loop.json'} is not valid JSON .*truncated"):
        loop.RLHFLoop.resume(folder, oracle(), progress=False)
    text = (folder / "agent.pt").read_bytes()
    folder = run.save(tmp_path / "ck2")
    (folder / "agent.pt").write_bytes(text[:100])
    with pytest.raises(checkpoints.CheckpointError, match=r"ck2/agent.pt cannot be read as a PPOAgent .*truncated"):
        loop.RLHFLoop.resume(folder, oracle(), progress=False)
    with pytest.raises(FileNotFoundError, match="no checkpoint folder here"):
        loop.RLHFLoop.resume(tmp_path / "nowhere", oracle(), progress=False)
    (tmp_path / "h.json").write_text("{")
    with pytest.raises(checkpoints.CheckpointError, match="h.json is not valid JSON"):
        tasks.load_history(tmp_path / "h.json")


def test_reward_file_from_another_task_is_named(tmp_path, two_rounds):
    run, _ = two_rounds  # a CartPole loop
    folder = run.save(tmp_path / "ck")
    state = json.loads((folder / "loop.json").read_text())
    state.pop("files", None)  # as an older rlhf_lite wrote it: no manifest to catch the swap
    (folder / "loop.json").write_text(json.dumps(state))
    rm.RewardEnsemble(PEND_OBS, PEND_ACT, run.reward_config, seed=0).save(str(folder / "reward.pt"))
    with pytest.raises(
        checkpoints.CheckpointError, match=r"reward.pt does not fit this loop's reward model.*Box\(3,\).*another task"
    ):
        loop.RLHFLoop.resume(folder, oracle(), progress=False)
