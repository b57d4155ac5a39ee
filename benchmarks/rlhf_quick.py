"""The quick task: fixed-horizon CartPole taught from preferences alone. Prints ONE JSON line.

    python benchmarks/rlhf_quick.py --seed 0

Runs the RLHF loop with ``rlhf_lite.tasks.quick_config()`` (CartPole-v1, 200 steps an episode, the fallen
pole an absorbing state; 30 labels, 50k env steps) and a synthetic oracle that prefers the clip with the
higher true return, wrong at random 10% of the time. Reports ``labels``, ``env_steps``, ``wall_s`` and the
greedy true return (10 episodes, seeds 500-509, at most 200) of the untrained and of the trained policy.
The seeded check in ``tests/test_loop.py`` runs seeds 0-4; ``RLHF_LITE_FAST=1`` shrinks it to a smoke run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import numpy as np  # noqa: E402
from _common import emit, setup_torch  # noqa: E402

from rlhf_lite import labelers, loop, tasks  # noqa: E402
from rlhf_lite.config import fast_mode  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--noise", type=float, default=0.1, help="oracle's chance of a random answer")
    args = p.parse_args()
    startup_s = setup_torch()  # one thread; one-off imports, outside every timer

    config = tasks.quick_config(fast=fast_mode(), eval_episodes=0)
    oracle = labelers.OracleLabeler(noise_prob=args.noise, rng=np.random.default_rng(args.seed))
    run = loop.RLHFLoop(config, oracle, seed=args.seed)
    untrained = run.evaluate(10, seed=500)
    start = time.perf_counter()
    run.run()
    wall = time.perf_counter() - start
    emit(
        {
            "benchmark": "rlhf_quick",
            "env_id": config.env_id,
            "seed": args.seed,
            "fast": fast_mode(),
            "oracle_noise": args.noise,
            "labels": len(run.records),
            "env_steps": run.env_steps,
            "wall_s": round(wall, 2),
            "true_return_untrained": round(untrained, 1),
            "true_return": round(run.evaluate(10, seed=500), 1),
            "horizon": config.horizon,
            "startup_s": startup_s,
        }
    )


if __name__ == "__main__":
    main()
