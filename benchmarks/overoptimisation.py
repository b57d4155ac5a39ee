"""Does a frozen learned reward get gamed, and do online labels, a KL penalty or a pessimistic ensemble stop
it? Prints ONE JSON line.

    python benchmarks/overoptimisation.py --seed 0

The run is lesson 05's (``rlhf_lite.pitfalls.frozen_config()``: Pendulum-v1 as in lesson 04, its 25 labels all
asked before training, about clips of the random policy, so the predictor is frozen from the start; a learned
reward r(o, a) that sees the torque too) with the lesson's oracle (``tasks.lesson_oracle``, noise-free here:
``--noise 0.1`` for lesson 04's), in four settings
with the same label budget, env steps and seed (``rlhf_lite.pitfalls.compare``):

* ``frozen``: PPO trains on the frozen predictor;
* ``online``: the same budget spread over training (lesson 04's schedule, ``pitfalls.online_twin``);
* ``frozen_kl``: frozen, PPO pays ``--kl-coef`` per nat of KL from the initial policy;
* ``frozen_pessimistic``: frozen, PPO sees the ensemble mean minus ``--pessimism`` member standard deviations.

For each: ``peak_true_return`` and ``final_true_return`` (greedy, mean of ``--episodes`` episodes seeded
10000 + i, after each round), ``final_predicted_return`` (the predictor's plain mean reward summed over the
same episodes), ``final_kl`` (exact KL of the final policy from the reference, the policy at freezing time,
over those episodes' states, nats), ``wall_s`` (the braked runs share the frozen run's rounds up to the
freeze; each is charged them), ``predicted_rose`` (final predicted return above round 0's), the ``gao_shape``
verdict of ``pitfalls.overoptimisation`` and the two numbers it judges (``true_fall_after_peak``,
``proxy_change_after_peak``: read them with other thresholds); once, ``untrained_true_return`` (round 0,
before any training), ``frozen_below_online`` (online's final true return minus frozen's) and ``cpu_s`` (the
whole line; less sensitive than ``total_wall_s`` to a busy machine).

``--reward-inputs observation`` (lesson 04's r(o)), ``--labels N``, ``--noise P`` and ``--initial-fraction F``
change the preset; with r(o) the frozen predictor is not gamed at 15-25 labels, with 10% noise online labels
rescue only 2 of 5 seeds (see ``pitfalls.frozen_config``).

``--partway`` runs ``pitfalls.partway_config()`` instead (r(o), labels up to round 8, 120k steps), the setting
where the shape of Gao et al. (2022) shows: true return up, then a small fall while the proxy creeps up.

Targets (issue 12, median of seeds 0-4, this 2-core machine): the frozen run's predicted return rises while its
final true return ends at least 200 below the online run's in at least 4 of 5 seeds; online and frozen+KL end
within 10% of their own peak; at most 90 s per seed. ``RLHF_LITE_FAST=1``: the smoke-sized run
(``frozen_config(fast=True)``, CartPole).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

from _common import emit, setup_torch  # noqa: E402

from rlhf_lite import pitfalls  # noqa: E402
from rlhf_lite.config import fast_mode  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--labels", type=int, default=None, help="label budget (default: frozen_config's)")
    p.add_argument("--steps", type=int, default=None, help="env steps per run (default: frozen_config's)")
    p.add_argument(
        "--label-rounds", type=int, default=None, help="freeze part-way: labels up to this round (0: all up front)"
    )
    p.add_argument(
        "--partway", action="store_true", help="freeze part-way through an online run (pitfalls.partway_config)"
    )
    p.add_argument(
        "--reward-inputs",
        choices=("observation", "observation_action"),
        default=None,
        help="what the learned reward looks at (default: the preset's)",
    )
    p.add_argument("--noise", type=float, default=None, help="the oracle's noise_prob (default: the preset's, 0)")
    p.add_argument(
        "--initial-fraction", type=float, default=None, help="share of the labels before training (frozen run)"
    )
    p.add_argument("--kl-coef", type=float, default=pitfalls.DEFAULT_KL_COEF, help="beta of frozen_kl")
    p.add_argument("--pessimism", type=float, default=pitfalls.DEFAULT_PESSIMISM, help="k of frozen_pessimistic")
    p.add_argument("--episodes", type=int, default=None, help="greedy episodes per measurement")
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (1 is fastest for these small nets)")
    args = p.parse_args()
    startup_s = setup_torch(args.threads)  # one-off imports, outside every timer
    changes = {}
    if args.labels is not None:
        changes["label_budget"] = args.labels
    if args.steps is not None:
        changes["total_steps"] = args.steps
    if args.label_rounds:
        changes.update(label_rounds=args.label_rounds, initial_fraction=0.4)
    if args.reward_inputs is not None:
        changes["reward_inputs"] = args.reward_inputs
    if args.initial_fraction is not None:
        changes["initial_fraction"] = args.initial_fraction
    if args.noise is not None:
        changes["noise_prob"] = args.noise
    make = pitfalls.partway_config if args.partway else pitfalls.frozen_config
    config = make(fast=fast_mode(), **changes)

    start, cpu_start = time.perf_counter(), time.process_time()
    runs = pitfalls.compare(
        config, seed=args.seed, kl_coef=args.kl_coef, pessimism=args.pessimism, episodes=args.episodes
    )
    total, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    record = {
        "benchmark": "overoptimisation",
        "seed": args.seed,
        "config": f"pitfalls.{make.__name__}(fast={fast_mode()})",
        "fast": fast_mode(),
        "env_id": config.env_id,
        "label_budget": config.label_budget,
        "total_steps": config.total_steps,
        "reward_inputs": config.reward_inputs,
        "noise_prob": config.noise_prob,
        "label_rounds": config.label_rounds,
        "kl_coef": args.kl_coef,
        "pessimism": args.pessimism,
        "episodes": args.episodes or max(1, config.eval_episodes),
        "untrained_true_return": round(runs["frozen"].history[0]["true_return"], 1),
    }
    for setting, result in runs.items():
        shape = pitfalls.overoptimisation(result)
        s = result.summary()
        record[setting] = {
            "peak_true_return": s["peak_true_return"],
            "final_true_return": s["final_true_return"],
            "final_predicted_return": s["final_predicted_return"],
            "predicted_rose": bool(result.series("predicted_return")[-1] > result.series("predicted_return")[0]),
            "final_kl": s["final_kl"],
            "true_fall_after_peak": round(shape["peak_true_return"] - shape["final_true_return"], 1),
            "proxy_change_after_peak": round(shape["final_predicted_return"] - shape["predicted_at_peak"], 2),
            "gao_shape": shape["gao_shape"],
            "labels": s["labels"],
            "env_steps": s["env_steps"],
            "wall_s": s["wall_s"],
        }
    record["frozen_below_online"] = round(
        runs["online"].history[-1]["true_return"] - runs["frozen"].history[-1]["true_return"], 1
    )
    record.update(total_wall_s=round(total, 2), cpu_s=round(cpu, 2), startup_s=startup_s)
    emit(record)


if __name__ == "__main__":
    main()
