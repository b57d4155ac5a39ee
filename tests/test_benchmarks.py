"""Every benchmark script runs in fast mode and prints exactly one JSON line with the fields its docstring
promises (the numbers themselves are the benchmarks' business, not the tests')."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"

EXPECTED = {
    "faults.py": {"rows", "lost_acknowledged", "trials"},
    "lm_pretrain.py": {"wall_s", "val_loss", "well_formed", "tokens_per_s"},
    "lm_rlhf.py --method bon": {"win_rate", "kl", "reward_accuracy", "wall_s", "n"},
    "lm_rlhf.py --method bon --reward gold": {"win_rate", "win_rate_ceiling", "proxy", "reward_accuracy", "n"},
    "lm_rlhf.py --method bon --seeds 0-1 --jobs 2": {"seeds", "runs", "median", "total_wall_s", "n"},
    "lm_rlhf.py --method dpo": {"win_rate", "kl", "reward_accuracy", "wall_s", "chosen_reward", "rejected_reward"},
    "lm_rlhf.py --method grpo": {"win_rate", "kl", "reward_accuracy", "wall_s", "curve"},
    "lm_rlhf.py --method ppo": {
        "win_rate",
        "win_rate_ceiling",
        "kl",
        "proxy",
        "gold",
        "reward_accuracy",
        "wall_s",
        "method_s",
        "curve",
    },
    "overoptimisation.py": {
        "untrained_true_return",
        "frozen",
        "online",
        "frozen_kl",
        "frozen_pessimistic",
        "total_wall_s",
    },
    "overoptimisation.py --partway": {"untrained_true_return", "frozen", "frozen_kl", "total_wall_s"},
    "ppo_cartpole.py": {"env_steps", "wall_s", "eval_return"},
    "reward_model.py": {"env_id", "seed"},
    "rlhf_pendulum.py": {
        "labels",
        "env_steps",
        "wall_s",
        "true_returns",
        "median",
        "swing_ups",
        "runs",
        "oracle_noise",
    },
    "rlhf_pendulum.py --seed 0": {"labels", "env_steps", "wall_s", "true_return", "true_reward_baseline"},
    "rlhf_new_behaviour.py": {"labels", "score_untrained", "score_trained"},
    "rlhf_quick.py": {"labels", "env_steps", "wall_s", "true_return_untrained", "true_return"},
}
"""Scripts (with arguments, if any) and the keys their JSON line must hold. ``widget_latency.py`` (a browser) and
``notebooks.py`` (every lesson) are exercised by the browser and notebook tests instead."""


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_benchmark_prints_one_json_line(script, tmp_path):
    env = dict(os.environ, RLHF_LITE_FAST="1", SDL_VIDEODRIVER="dummy")
    name, *args = script.split()
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / name), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, done.stdout[-2000:]
    record = json.loads(lines[0])
    assert EXPECTED[script] <= set(record), sorted(record)
    assert record.get("fast", record.get("fast_mode")) is True
    assert list(tmp_path.iterdir()) == []  # a fast run writes nothing into the folder it runs from


def test_a_child_killed_while_printing_acknowledges_only_its_whole_lines():
    """faults.py SIGKILLs a child that prints "ack ID" after each label; a line cut by the kill is not an ack."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from faults import acknowledged
    finally:
        sys.path.remove(str(BENCHMARKS))
    assert acknowledged("ready\nack a1\nack a2\n") == ["a1", "a2"]
    assert acknowledged("ready\nack a1\nack") == ["a1"]  # killed after "ack": no id, no newline
    assert acknowledged("ready\nack a1\nack a") == ["a1"]  # half an id, no newline
    assert acknowledged("") == []
