"""How well does a policy learned from preferences alone do on Pendulum-v1? Prints ONE JSON line.

    python benchmarks/rlhf_pendulum.py --labels 25 --seed 0 [--noise 0.1] [--selection random]

Runs the RLHF loop (``rlhf_lite.loop``) with a synthetic oracle that prefers the clip with the higher true
return (``--noise``: its chance of a random answer, 0 by default) and reports:

* ``labels``, ``env_steps``, ``wall_s`` (the RLHF run: rollouts, labels, reward fits, PPO; not the evaluation);
* ``true_return``: mean true return of 20 greedy evaluation episodes (seeds 10000-10019) of the learned policy;
* ``true_reward_baseline``: the same PPO, same steps and seed, trained on the true reward, scaled as the
  learned reward is (``loop.train_true_reward``), and its ``baseline_wall_s``;
* ``startup_s``: torch's one-off lazy imports, paid before any timer starts.

Targets (issue 4, median over seeds 0-4 on 2 cores): 25 labels -> true_return >= -180 in <= 30 s;
50 labels -> >= -170. ``RLHF_LITE_FAST=1`` shrinks everything to a smoke run.
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
from rlhf_lite import labelers, loop  # noqa: E402
from rlhf_lite.config import fast_mode  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--labels", type=int, default=25, help="label budget")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--noise", type=float, default=0.0, help="oracle's chance of a random answer")
    p.add_argument("--selection", choices=("active", "random"), default="active")
    p.add_argument("--steps", type=int, default=None, help="env steps (default: RLHFConfig's)")
    p.add_argument("--no-baseline", action="store_true", help="skip PPO on the true reward")
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (1 is fastest for these small nets)")
    args = p.parse_args()
    startup_s = setup_torch(args.threads)  # one-off imports, outside every timer

    changes = dict(label_budget=args.labels, selection=args.selection, eval_episodes=0)
    if args.steps is not None:
        changes["total_steps"] = args.steps
    if fast_mode():
        changes.update(total_steps=3 * 2048 + 1600, steps_per_round=2048, label_budget=min(args.labels, 6))
    config = loop.RLHFConfig(**changes)
    oracle = labelers.OracleLabeler(noise_prob=args.noise, rng=np.random.default_rng(args.seed + 1000))

    start = time.perf_counter()
    run = loop.RLHFLoop(config, oracle, seed=args.seed)
    run.run()
    wall = time.perf_counter() - start
    episodes = 3 if fast_mode() else 20
    true_return = run.evaluate(episodes, seed=10_000)

    record = {
        "benchmark": "rlhf_pendulum", "env_id": config.env_id, "seed": args.seed, "fast": fast_mode(),
        "selection": config.selection, "oracle_noise": args.noise, "labels": len(run.records),
        "env_steps": run.env_steps, "wall_s": round(wall, 2), "true_return": round(true_return, 2),
        "eval_episodes": episodes, "startup_s": startup_s,
    }
    if not args.no_baseline:
        start = time.perf_counter()
        agent, history = loop.train_true_reward(config, seed=args.seed)
        record["baseline_wall_s"] = round(time.perf_counter() - start, 2)
        record["baseline_env_steps"] = history[-1]["env_steps"]
        record["true_reward_baseline"] = round(float(np.mean(loop.evaluate_policy(agent, config, episodes, 10_000))), 2)
    record.update(rounds=run.round, schedule=run.schedule[: 1 + max(i for i, n in enumerate(run.schedule) if n)],
                  total_steps=config.total_steps, steps_per_round=run.round_steps, ppo=run.ppo_config.to_dict())
    emit(record)


if __name__ == "__main__":
    main()
