"""The crash-and-fault table: what each fault a reader can meet does to labels and checkpoints, and what the
reader is told. Prints ONE JSON line.

    python benchmarks/faults.py --trials 10

Faults: a writer SIGKILLed mid-write (a child process appending ~100 kB labels, killed after a random delay);
a full disk mid-write (``os.write`` writes part of the line, then ENOSPC); a real file-size limit from the
kernel (RLIMIT_FSIZE: a short write, then EFBIG); a crash at every step of ``RLHFLoop.save`` (the process
stops before each rename/replace/fsync); each kind of bad label file, bad checkpoint file and bad config value.
Each row of ``rows`` gives ``fault``, ``trials``, ``acknowledged`` (labels whose ``add`` returned, or of the
last save that returned), ``found`` (labels read back afterwards), ``lost`` (acknowledged but not found) and
``message`` (what the user sees, with temporary paths shown as ``<tmp>``; ``null`` when nothing is refused).
``lost_acknowledged`` sums ``lost`` over all rows. ``RLHF_LITE_FAST=1`` runs fewer trials.
"""

from __future__ import annotations

import argparse
import errno
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from _common import emit, setup_torch  # noqa: E402

from rlhf_lite import agents, labelers, loop, preferences, tasks  # noqa: E402
from rlhf_lite import reward_model as rm  # noqa: E402
from rlhf_lite.config import fast_mode  # noqa: E402
from rlhf_lite.label_store import LabelStore  # noqa: E402
from rlhf_lite.rollouts import Segment  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(tasks.SMOKE_RUN)


class Table:
    def __init__(self, tmp: Path):
        self.rows: list[dict] = []
        self.tmp = str(tmp)

    def add(self, fault: str, trials: int, acknowledged: int, found: int, message: str | None, **more) -> None:
        def clean(text):
            return text.replace(self.tmp, "<tmp>").replace(str(ROOT), "<repo>") if isinstance(text, str) else text

        more = {k: clean(v) for k, v in more.items()}
        self.rows.append(
            dict(
                fault=fault,
                trials=trials,
                acknowledged=acknowledged,
                found=found,
                lost=max(0, acknowledged - found),
                message=clean(message),
                **more,
            )
        )


def segs(n: int, rng: np.random.Generator, obs_dim: int = 3, length: int = 25) -> list[Segment]:
    return [
        Segment(
            rng.normal(size=(length, obs_dim)).astype(np.float32),
            rng.normal(size=(length, 1)).astype(np.float32),
            rng.normal(size=length),
            uid=f"u{rng.integers(1 << 62)}",
        )
        for _ in range(n)
    ]


def message_of(fn) -> str | None:
    """What calling ``fn`` tells the user: the error's text, the warnings' text, or ``None``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - the message is what is measured
            return f"{type(e).__name__}: {e}"
    return "; ".join(f"{w.category.__name__}: {w.message}" for w in caught) or None


def found_labels(path: Path) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return len(LabelStore(path, skip_bad=True, create=False))


# ---- label writes -----------------------------------------------------------------------------------------------

KILL_CHILD = textwrap.dedent(
    """
    import sys
    import numpy as np
    from rlhf_lite.label_store import LabelStore
    from rlhf_lite.rollouts import Segment
    store, rng = LabelStore(sys.argv[1]), np.random.default_rng(int(sys.argv[2]))
    def seg(i):
        return Segment(rng.normal(size=(25, 100)).astype(np.float32), rng.normal(size=(25, 1)).astype(np.float32),
                       rng.normal(size=25), uid=f"k{i}")
    print("ready", flush=True)
    if len(sys.argv) > 3:  # die by SIGKILL inside the n-th write, after part of the line reached the file
        import os, signal
        real, left = os.write, int(sys.argv[3])
        def write(fd, data):
            global left
            left -= 1
            if left == 0:
                real(fd, bytes(data[: len(data) // 3]))
                os.kill(os.getpid(), signal.SIGKILL)
            return real(fd, data)
        os.write = write
    i = 0
    while True:
        rec = store.add(seg(2 * i), seg(2 * i + 1), "left", "killed")
        print("ack", rec.id, flush=True)
        i += 1
    """
)


def child_env() -> dict:
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))


def acknowledged(out: str) -> list[str]:
    """Label ids the child acknowledged: each whole ``ack ID`` line of its stdout. A SIGKILL can land while the
    child prints, leaving a last line without its newline (``"ack"`` alone, or half an id): not an acknowledgement."""
    whole = out.split("\n")[:-1]  # the text after the last newline never finished
    return [line.split()[1] for line in whole if line.startswith("ack ") and len(line.split()) == 2]


def sigkill_mid_write(table: Table, tmp: Path, trials: int, rng: np.random.Generator) -> None:
    script = tmp / "kill_child.py"
    script.write_text(KILL_CHILD)
    acked = found = torn = 0
    messages = set()
    for t in range(trials):
        path = tmp / f"killed{t}.jsonl"
        LabelStore(path)
        child = subprocess.Popen(
            [sys.executable, str(script), str(path), str(t)], stdout=subprocess.PIPE, text=True, env=child_env()
        )
        assert child.stdout.readline().startswith("ready")
        time.sleep(float(rng.uniform(0.05, 0.6)))
        child.send_signal(signal.SIGKILL)
        out, _ = child.communicate()
        ids = acknowledged(out)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            stored = [r.id for r in LabelStore(path, skip_bad=True).labels()]
        acked += len(ids)
        found += len(set(ids) & set(stored))
        torn += not path.read_bytes().endswith(b"\n")
        msg = message_of(lambda: LabelStore(path))  # noqa: B023 (called here) -- a strict reopen: what the next reader is told
        messages.add(
            re.sub(r"killed\d+\.jsonl, line \d+", "killed.jsonl, line N", msg)
            if msg
            else "none (killed between two writes)"
        )
    table.add(
        "SIGKILL at a random moment while writing labels (then a strict reopen)",
        trials,
        acked,
        found,
        " | ".join(sorted(messages)),
        trials_with_torn_line=torn,
    )

    acked = found = torn = resumed = 0
    for t in range(trials):  # the kill lands inside os.write: a third of the line is in the file
        path = tmp / f"halfkilled{t}.jsonl"
        LabelStore(path)
        n = int(rng.integers(1, 6))
        child = subprocess.run(
            [sys.executable, str(script), str(path), str(t), str(n)],
            capture_output=True,
            text=True,
            env=child_env(),
            timeout=120,
        )
        ids = acknowledged(child.stdout)
        torn += not path.read_bytes().endswith(b"\n")
        strict = message_of(lambda: LabelStore(path))  # noqa: B023 (called here)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            store = LabelStore(path, skip_bad=True)
            store.add(*segs(2, rng, obs_dim=100), "left", "next writer")  # appends after the torn line
            stored = [r.id for r in LabelStore(path, skip_bad=True).labels()]
        resumed += len(stored) == len(ids) + 1
        acked += len(ids)
        found += len(set(ids) & set(stored))
    table.add(
        "SIGKILL inside os.write (a third of the line written; then a strict reopen)",
        trials,
        acked,
        found,
        re.sub(r"halfkilled\d+\.jsonl, line \d+", "halfkilled.jsonl, line N", strict or ""),
        trials_with_torn_line=torn,
        next_writer_appended=resumed,
    )


def disk_full_mid_write(table: Table, tmp: Path, trials: int, rng: np.random.Generator) -> None:
    real_write = os.write
    acked = found = 0
    message = None
    usable = 0
    for t in range(trials):
        path = tmp / f"full{t}.jsonl"
        store = LabelStore(path)
        s = segs(2 * 4, rng)
        ids = [store.add(s[2 * i], s[2 * i + 1], "left", "alice").id for i in range(3)]
        cut = float(rng.uniform(0.0, 1.0))

        def full(fd, data, cut=cut):
            real_write(fd, bytes(data[: int(len(data) * cut)]))
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        os.write = full
        try:
            store.add(s[6], s[7], "right", "alice")
            ids.append("?")  # not reached: the failed add is not acknowledged
        except OSError as e:
            message = f"{type(e).__name__}: {e}"
        finally:
            os.write = real_write
        ids.append(store.add(s[6], s[7], "right", "alice").id)  # space freed: the store goes on
        usable += len(store) == 4
        acked += len(ids)
        found += len(set(ids) & {r.id for r in LabelStore(path).labels()})  # a strict reopen
    table.add(
        "disk full mid-write (ENOSPC after part of the line), then space freed",
        trials,
        acked,
        found,
        message,
        store_usable_after=usable,
    )


REAL_LIMIT_CHILD = textwrap.dedent(
    """
    import os, resource, signal, sys
    import numpy as np
    from rlhf_lite.label_store import LabelStore
    from rlhf_lite.rollouts import Segment
    path = sys.argv[1]
    store, rng = LabelStore(path), np.random.default_rng(0)
    def seg(i, n=25):
        return Segment(rng.normal(size=(n, 3)).astype(np.float32), rng.normal(size=(n, 1)).astype(np.float32),
                       rng.normal(size=n), uid=f"u{i}")
    print("ack", store.add(seg(0), seg(1), "left", "alice").id, flush=True)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (os.path.getsize(path) + 3000, resource.RLIM_INFINITY))
    try:
        store.add(seg(2, 200), seg(3, 200), "left", "alice")
    except OSError as e:
        print("msg", type(e).__name__ + ": " + str(e), flush=True)
    """
)


def real_size_limit(table: Table, tmp: Path, trials: int) -> None:
    if sys.platform != "linux":
        return
    script = tmp / "limit_child.py"
    script.write_text(REAL_LIMIT_CHILD)
    acked = found = 0
    message = None
    for t in range(trials):
        path = tmp / f"limit{t}.jsonl"
        out = subprocess.run(
            [sys.executable, str(script), str(path)], capture_output=True, text=True, env=child_env(), timeout=120
        ).stdout.splitlines()
        acked += sum(line.startswith("ack ") for line in out)
        message = next((line[4:] for line in out if line.startswith("msg ")), message)
        found += len(LabelStore(path).labels())
    table.add("file size limit mid-write (real kernel short write + EFBIG)", trials, acked, found, message)


# ---- bad label files ---------------------------------------------------------------------------------------------


def bad_label_files(table: Table, tmp: Path, rng: np.random.Generator) -> None:
    def change_obs(rec, f):
        for side in ("left", "right"):
            rec[side]["observations"] = f(rec[side]["observations"])

    kinds = {
        "observation rows of different lengths": lambda r: r["left"]["observations"].__setitem__(2, [0.0]),
        "NaN in observations": lambda r: r["left"]["observations"][0].__setitem__(0, math.nan),
        "Infinity in true rewards": lambda r: r["right"]["true_rewards"].__setitem__(0, math.inf),
        "unknown obs_dtype": lambda r: r["left"].__setitem__("obs_dtype", "float80"),
        "record env_id differs from the header's": lambda r: r.__setitem__("env_id", "CartPole-v1"),
        "another observation width than the file's": lambda r: change_obs(r, lambda o: [x + [0.0] for x in o]),
    }
    for kind, change in kinds.items():
        path = tmp / f"bad_{len(table.rows)}.jsonl"
        store = LabelStore(path, env_id="Pendulum-v1")
        s = segs(6, rng)
        for i in range(2):
            store.add(s[2 * i], s[2 * i + 1], "left", "alice")
        rec = preferences.PreferenceRecord.from_segments(s[4], s[5], "left", "alice", env_id="Pendulum-v1").to_dict()
        change(rec)
        with open(path, "a") as f:
            f.write(json.dumps(rec) + "\n")
        table.add(f"label file: {kind}", 1, 2, found_labels(path), message_of(lambda: LabelStore(path)))  # noqa: B023 (called here)

    path = tmp / "pendulum.jsonl"
    store = LabelStore(path, env_id="Pendulum-v1")
    s = segs(2, rng)
    store.add(s[0], s[1], "left", "alice")
    table.add(
        "label file: a Pendulum file opened for CartPole",
        1,
        1,
        1,
        message_of(lambda: LabelStore(path, env_id="CartPole-v1")),
    )

    path = tmp / "no_newline.jsonl"
    store = LabelStore(path)
    s = segs(4, rng)
    for i in range(2):
        store.add(s[2 * i], s[2 * i + 1], "left", "alice")
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    table.add(
        "label file: valid last line without a final newline",
        1,
        2,
        len(LabelStore(path)),
        message_of(lambda: LabelStore(path)),
    )

    path = tmp / "torn.jsonl"
    store = LabelStore(path)
    s = segs(6, rng)
    for i in range(2):
        store.add(s[2 * i], s[2 * i + 1], "left", "alice")
    with open(path, "a") as f:
        f.write('{"kind":"label","id":"to')  # another writer's torn line, while this store is open
    message = message_of(lambda: store.add(s[4], s[5], "left", "alice"))
    table.add(
        "label file: torn line by another writer, this store open (then adds)",
        1,
        3,
        found_labels(path),
        message,
        later_strict_open=message_of(lambda: LabelStore(path)),
    )


# ---- checkpoints ---------------------------------------------------------------------------------------------------


class _Crash(BaseException):
    pass


def crash_mid_checkpoint(table: Table, tmp: Path) -> None:
    run = loop.RLHFLoop(
        loop.RLHFConfig(**TINY), labelers.OracleLabeler(noise_prob=0.1, rng=np.random.default_rng(1)), seed=0
    )
    run.step_round()
    old_net = {k: v.clone() for k, v in run.agent.net.state_dict().items()}
    old_labels = len(run.records)
    folder = tmp / "ck"
    names = ("rename", "replace", "fsync")
    real = {n: getattr(os, n) for n in names}
    count = {"n": 0, "at": None}

    def hooked(name):
        def call(*a, **k):
            count["n"] += 1
            if count["n"] == count["at"]:
                raise _Crash()
            return real[name](*a, **k)

        return call

    def save_new(at):
        run.agent.net.load_state_dict({k: v + 0.5 for k, v in old_net.items()})
        run.round += 1
        run.records.append(run.records[-1])  # the new round has one label more
        count.update(n=0, at=at)
        for n in names:
            setattr(os, n, hooked(n))
        try:
            run.save(folder)
        except _Crash:
            pass
        finally:
            for n in names:
                setattr(os, n, real[n])
            run.round -= 1
            run.records.pop()
            run.agent.net.load_state_dict(old_net)
        return count["n"]

    run.save(folder)
    steps = save_new(None)
    old = new = mixed = 0
    acked = found = 0
    for at in range(1, steps + 1):
        shutil.rmtree(folder, ignore_errors=True)
        for p in tmp.glob(".ck.*"):
            shutil.rmtree(p)
        run.save(folder)
        save_new(at)
        back = loop.RLHFLoop.resume(folder, labelers.OracleLabeler(noise_prob=0.1, rng=np.random.default_rng(1)))
        net = back.agent.net.state_dict()
        is_old = back.round == run.round and all(torch.equal(net[k], old_net[k]) for k in old_net)
        is_new = back.round == run.round + 1 and all(torch.equal(net[k], old_net[k] + 0.5) for k in old_net)
        old, new, mixed = old + is_old, new + is_new, mixed + (not (is_old or is_new))
        acked += old_labels  # the last save that returned
        found += len(back.records) if (is_old or is_new) else 0
    table.add(
        f"crash mid-checkpoint, at each of the {steps} steps of RLHFLoop.save",
        steps,
        acked,
        found,
        None,
        resumed_old=old,
        resumed_new=new,
        resumed_mixed=mixed,
    )
    crash_folder_files(table, tmp, run)


def crash_folder_files(table: Table, tmp: Path, run: loop.RLHFLoop) -> None:
    base = run.save(tmp / "base")

    def damaged(name: str, damage) -> str | None:
        folder = tmp / f"dmg{len(table.rows)}"
        shutil.copytree(base, folder)
        damage(folder / name)
        return message_of(lambda: loop.RLHFLoop.resume(folder, labelers.OracleLabeler(rng=np.random.default_rng(0))))

    def direct(name: str, damage) -> str | None:  # the file loaded on its own (no manifest to check it)
        path = tmp / f"direct{len(table.rows)}_{name}"
        shutil.copy(base / name, path)
        damage(path)
        if name == "agent.pt":
            return message_of(lambda: agents.PPOAgent.from_checkpoint(path))
        return message_of(lambda: rm.RewardEnsemble.load(str(path)))

    def cut(p):
        p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])

    def nan(p):
        state = torch.load(p, weights_only=True)
        next(iter(state["net"].values())).view(-1)[0] = math.nan
        torch.save(state, p)

    for name in ("agent.pt", "reward.pt"):
        table.add(f"checkpoint: truncated {name}", 1, 0, 0, damaged(name, cut), loaded_alone=direct(name, cut))
        table.add(f"checkpoint: NaN weights in {name}", 1, 0, 0, damaged(name, nan), loaded_alone=direct(name, nan))
    table.add("checkpoint: truncated loop.json", 1, 0, 0, damaged("loop.json", cut))
    empty = lambda p: p.write_bytes(b"")  # noqa: E731
    table.add("checkpoint: empty agent.pt", 1, 0, 0, damaged("agent.pt", empty), loaded_alone=direct("agent.pt", empty))
    other = agents.PPOAgent(run.agent.observation_space, run.agent.action_space, run.agent.config, seed=5)
    table.add("checkpoint: agent.pt of another save mixed in", 1, 0, 0, damaged("agent.pt", lambda p: other.save(p)))

    def no_manifest_other_task(p):
        state = json.loads(p.read_text())
        state.pop("files", None)
        p.write_text(json.dumps(state))
        pend = rm.RewardEnsemble(*_pendulum_spaces(), run.reward_config, seed=0)
        pend.save(str(p.parent / "reward.pt"))

    table.add(
        "checkpoint: reward.pt from another task (no manifest)", 1, 0, 0, damaged("loop.json", no_manifest_other_task)
    )
    table.add(
        "file: PPOAgent.from_checkpoint(reward.pt)",
        1,
        0,
        0,
        message_of(lambda: agents.PPOAgent.from_checkpoint(base / "reward.pt")),
    )
    torch.save({"format": "rlhf_lite.PPOAgent/1", "x": run.agent.action_space}, tmp / "pickled.pt")
    table.add(
        "file: agent.pt holding pickled objects",
        1,
        0,
        0,
        message_of(lambda: agents.PPOAgent.from_checkpoint(tmp / "pickled.pt")),
    )


def _pendulum_spaces():
    import gymnasium as gym

    return gym.spaces.Box(-8.0, 8.0, (3,), np.float32), gym.spaces.Box(-2.0, 2.0, (1,), np.float32)


# ---- config values -------------------------------------------------------------------------------------------------


def bad_configs(table: Table) -> None:
    def assign():
        cfg = loop.RLHFConfig()
        cfg.label_budget = -1

    cases = {
        "label_budget=inf": lambda: loop.RLHFConfig(label_budget=math.inf),
        "horizon=-inf": lambda: loop.RLHFConfig(horizon=-math.inf),
        "env_id=123": lambda: loop.RLHFConfig(env_id=123),
        "env_id=None": lambda: loop.RLHFConfig(env_id=None),
        "label_budget=np.int64(20) (allowed)": lambda: loop.RLHFConfig(label_budget=np.int64(20)),
        "noise_prob=np.float32(0.5) (allowed)": lambda: loop.RLHFConfig(noise_prob=np.float32(0.5)),
        "label_budget=True": lambda: loop.RLHFConfig(label_budget=True),
        "anneal_lr=1": lambda: loop.RLHFConfig(anneal_lr=1),
        "mark_end=0.0": lambda: loop.RLHFConfig(mark_end=0.0),
        "label_budget=2.5": lambda: loop.RLHFConfig(label_budget=2.5),
        "cfg.label_budget = -1 after construction": assign,
    }
    for what, fn in cases.items():
        table.add(f"config: {what}", 1, 0, 0, message_of(fn))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", type=int, default=None, help="trials per write fault (default 10, fast mode 3)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    startup_s = setup_torch()
    trials = args.trials or (3 if fast_mode() else 10)
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rlhf_faults_") as d:
        tmp = Path(d)
        table = Table(tmp)
        sigkill_mid_write(table, tmp, trials, rng)
        disk_full_mid_write(table, tmp, 2 * trials, rng)
        real_size_limit(table, tmp, 1)
        crash_mid_checkpoint(table, tmp)
        bad_label_files(table, tmp, rng)
        bad_configs(table)
    emit(
        {
            "benchmark": "faults",
            "fast": fast_mode(),
            "seed": args.seed,
            "trials": trials,
            "lost_acknowledged": sum(r["lost"] for r in table.rows),
            "rows": table.rows,
            "wall_s": round(time.perf_counter() - start, 2),
            "startup_s": startup_s,
        }
    )


if __name__ == "__main__":
    main()
