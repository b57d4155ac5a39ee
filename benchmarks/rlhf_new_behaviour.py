"""Teach a behaviour that no reward in the environment describes: the pendulum spinning steadily
counter-clockwise. Prints ONE JSON line.

    python benchmarks/rlhf_new_behaviour.py --seed 0 [--labels 40] [--save data/pendulum_spin_labels.jsonl]

A scripted stand-in for the person answers every query with a criterion that only this script knows (the
learner never sees it): the clip whose pendulum turns further counter-clockwise (summed angular velocity)
is better, with 10% random answers as a person would give. Pendulum-v1's own reward (upright and still) says
nothing about spinning. Prints ``labels`` used and the criterion's score (mean angular velocity in rad/s,
counter-clockwise positive, over 20 greedy episodes) of the untrained and of the trained policy.
Target (issue 4): the score is clearly above the untrained policy's with at most 60 labels.

``--save`` writes the answers to a label file whose header says what produced them (this script, its
criterion and seed: never a person); notebook 04 replays it when nobody labels.
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

from rlhf_lite import labelers, loop, preferences, tasks  # noqa: E402
from rlhf_lite.config import fast_mode  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--labels", type=int, default=None, help="label budget (default: tasks.spin_config()'s)")
    p.add_argument("--noise", type=float, default=0.1, help="stand-in's chance of a random answer")
    p.add_argument("--save", default=None, help="also write the answers to this label file")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    startup_s = setup_torch(args.threads)  # one-off imports, outside every timer

    config = tasks.spin_config(fast=fast_mode())
    if args.labels is not None:
        config = config.replace(label_budget=args.labels)
    config = config.replace(eval_episodes=0)
    person = labelers.OracleLabeler(
        tasks.spin_criterion,
        noise_prob=args.noise,
        rng=np.random.default_rng(args.seed + 1000),
        name=f"scripted stand-in (criterion: counter-clockwise spin, noise={args.noise:g}, seed={args.seed})",
    )
    store = None
    if args.save:
        if os.path.exists(args.save):
            os.remove(args.save)
        store = preferences.LabelStore(
            args.save,
            env_id=config.env_id,
            producer=f"benchmarks/rlhf_new_behaviour.py --seed {args.seed} --noise {args.noise:g}"
            + (" (RLHF_LITE_FAST=1)" if fast_mode() else ""),
            description=(
                f"{config.label_budget} SYNTHETIC preferences between {config.segment_length}-step Pendulum-v1 clips, "
                "answered by a SCRIPT, NOT a person: the clip whose pendulum turns further counter-clockwise "
                f"(summed angular velocity) wins, with {args.noise:g} random answers. Asked by the RLHF loop "
                f"(rlhf_lite.tasks.spin_config(), seed {args.seed}); notebook 04 replays them when nobody labels."
            ),
        )

    run = loop.RLHFLoop(config, person, seed=args.seed, store=store)
    episodes = 3 if fast_mode() else 20
    untrained = (
        float(np.mean(tasks.evaluate_policy(run.agent, config, episodes, 20_000, tasks.spin_criterion)))
        / config.horizon
    )
    start = time.perf_counter()
    run.run()
    wall = time.perf_counter() - start
    trained = (
        float(np.mean(tasks.evaluate_policy(run.agent, config, episodes, 20_000, tasks.spin_criterion)))
        / config.horizon
    )
    env_return = run.evaluate(episodes, seed=20_000)  # Pendulum's own reward, for contrast
    emit(
        {
            "benchmark": "rlhf_new_behaviour",
            "behaviour": "spin counter-clockwise",
            "env_id": config.env_id,
            "seed": args.seed,
            "fast": fast_mode(),
            "labels": len(run.records),
            "env_steps": run.env_steps,
            "wall_s": round(wall, 2),
            "score_untrained": round(untrained, 3),
            "score_trained": round(trained, 3),
            "score_unit": "mean angular velocity, rad/s, counter-clockwise positive (20 greedy episodes)",
            "pendulum_reward_trained": round(env_return, 1),
            "stand_in_random_answers": person.random_answers,
            "saved": args.save,
            "startup_s": startup_s,
        }
    )


if __name__ == "__main__":
    main()
