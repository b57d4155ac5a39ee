"""Make ``data/pendulum_oracle_labels.jsonl``: the stand-in labels lesson 03 uses when nobody labels.

When notebook 03 runs headless (CI, ``RLHF_LITE_FAST=1``) or the reader skips labeling, it trains "your"
reward model on this file instead. The answers come from a script, not a person: the synthetic oracle of
Christiano et al. (2017), which prefers the clip with the higher true Pendulum-v1 return and answers at random
10% of the time (the error rate the paper assumed for people). The file's header says exactly that.

    python data/make_pendulum_labels.py            # rewrites the file, with the same clips and answers every time

The clips are 25-step (1.25 s) windows of fixed-horizon Pendulum-v1 episodes played by a random policy and
by a swing-up heuristic with more or less action noise, so that they range from hanging still to balancing.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

from rlhf_lite import agents, envs, labelers, preferences, rollouts  # noqa: E402

ENV_ID = "Pendulum-v1"
HORIZON = 200
SEGMENT_LENGTH = 25
EPISODES = 24
LABELS = 60
SEGMENT_SEED = 100
ORACLE_SEED = 7
NOISE = 0.1
OUT = Path(__file__).resolve().parent / "pendulum_oracle_labels.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    rng = np.random.default_rng(SEGMENT_SEED)
    env = envs.make_env(ENV_ID, seed=SEGMENT_SEED, horizon=HORIZON)
    seeds = [SEGMENT_SEED * 1000 + i for i in range(EPISODES)]  # random, clean swing-up, noisy swing-up, ...
    trajectories = agents.pendulum_episodes(env, EPISODES, rng, mix="thirds", seeds=seeds)
    segments = rollouts.cut_segments(trajectories, SEGMENT_LENGTH, rng, n=4 * LABELS, uid_prefix="shipped")
    pairs = preferences.random_pairs(segments, LABELS, rng)
    oracle = labelers.OracleLabeler(noise_prob=NOISE, rng=np.random.default_rng(ORACLE_SEED))
    if args.out.exists():
        args.out.unlink()
    store = preferences.LabelStore(
        args.out,
        env_id=ENV_ID,
        producer=f"data/make_pendulum_labels.py with {oracle.name}, oracle seed {ORACLE_SEED}, "
        f"segment seed {SEGMENT_SEED}",
        description=(
            f"{LABELS} SYNTHETIC preferences between {SEGMENT_LENGTH}-step Pendulum-v1 segments, answered by a "
            f"script (the oracle: higher true return wins, {NOISE:.0%} random answers), NOT by a person. "
            "Notebook 03 trains on these when nobody labels (headless or fast runs)."
        ),
    )
    labelers.label_pairs(
        oracle, pairs, store, env_id=ENV_ID, meta={"made_by": "data/make_pendulum_labels.py"}, progress=False
    )
    print(
        f"wrote {len(store)} labels to {args.out} ({args.out.stat().st_size / 1e3:.0f} kB); "
        f"{oracle.random_answers} were random answers"
    )


if __name__ == "__main__":
    main()
