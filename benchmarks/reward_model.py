"""Benchmark: how well the reward predictor learns Pendulum-v1's reward from oracle preferences.

For 25, 50, 100, 200 and 400 labels, with random and with active (ensemble-disagreement) pair selection,
prints ONE JSON line with held-out preference accuracy, the Spearman correlation of predicted with true
segment returns on held-out segments, and training seconds.

    python benchmarks/reward_model.py --seed 0

Segment source (``--source mixed``, the default): 200-step Pendulum-v1 episodes (gymnasium's random initial
states), half driven by a scripted energy-pumping swing-up + PD balance controller whose actions are replaced by
random torques with a per-episode probability in [0, 1] (so clips range from balancing upright to flailing), half
by random torques (``agents.pendulum_episodes(..., mix="halves")``).
``--source random`` uses random torques only (harder: clips differ less).
Training pairs come from one pool of episodes, evaluation pairs/segments from a disjoint pool (other seeds).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from _common import setup_torch  # noqa: E402

from rlhf_lite import agents, envs, labelers, preferences, rollouts  # noqa: E402
from rlhf_lite import reward_model as rm  # noqa: E402
from rlhf_lite.config import fast_mode  # noqa: E402

ENV_ID = "Pendulum-v1"
HORIZON = 200


SOURCES = {
    "mixed": "Pendulum-v1 200-step episodes from random initial states; half a scripted swing-up+PD controller with "
    "per-episode random-action probability U(0,1), half uniform random torques",
    "random": "Pendulum-v1 200-step episodes from random initial states, uniform random torques only",
}


def make_segments(
    n_episodes: int, segment_length: int, seed: int, per_episode: int, source: str = "mixed"
) -> list[rollouts.Segment]:
    rng = np.random.default_rng(seed)
    env = envs.make_env(ENV_ID, seed=seed, horizon=HORIZON)
    trajs = agents.pendulum_episodes(env, n_episodes, rng, mix="halves" if source == "mixed" else "random")
    segs = []
    for _ in range(per_episode):
        segs += rollouts.cut_segments(trajs, segment_length, rng, uid_prefix=f"s{seed}")
    return segs


def true_targets(left, right) -> np.ndarray:
    """Ground truth for evaluation: 1 if the left segment's true return is higher, 0 if lower, 0.5 if equal."""
    a = np.array([s.true_return for s in left])
    b = np.array([s.true_return for s in right])
    return np.where(a > b, 1.0, np.where(a < b, 0.0, 0.5))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--segment-length", type=int, default=25)
    ap.add_argument("--labels", type=str, default="25,50,100,200,400")
    ap.add_argument("--noise", type=float, default=0.0, help="oracle's chance of a random answer")
    ap.add_argument("--modes", type=str, default="random,active")
    ap.add_argument("--source", choices=sorted(SOURCES), default="mixed", help="where the segments come from")
    args = ap.parse_args()
    startup_s = setup_torch()  # one thread; torch's one-off imports, so the first fit's time is training only
    t_start = time.perf_counter()
    fast = fast_mode()
    checkpoints = [int(x) for x in args.labels.split(",")]
    if fast:
        checkpoints = checkpoints[:2]
    cfg = rm.RewardModelConfig()
    if fast:
        cfg = cfg.replace(epochs=5.0, min_updates=20)

    pool = make_segments(
        40 if not fast else 8, args.segment_length, seed=1000 + args.seed, per_episode=8, source=args.source
    )
    held = make_segments(
        20 if not fast else 6, args.segment_length, seed=2000 + args.seed, per_episode=4, source=args.source
    )
    n_eval = min(1000, len(held) * (len(held) - 1) // 2)
    eval_pairs = preferences.random_pairs(held, n_eval, np.random.default_rng(3000 + args.seed))
    el, er = [a for a, _ in eval_pairs], [b for _, b in eval_pairs]
    ey = true_targets(el, er)
    gap = np.abs(np.array([a.true_return - b.true_return for a, b in eval_pairs]))
    close = np.flatnonzero(gap <= np.median(gap))  # the harder half: pairs whose true returns are close
    true_returns = np.array([s.true_return for s in held])

    obs_space = envs.make_env(ENV_ID).observation_space
    act_space = envs.make_env(ENV_ID).action_space
    results = {}
    for mode in args.modes.split(","):
        rng = np.random.default_rng(args.seed)
        oracle = labelers.OracleLabeler(noise_prob=args.noise, rng=np.random.default_rng(4000 + args.seed))
        ens = rm.RewardEnsemble(obs_space, act_space, cfg, seed=args.seed)
        pairs: list = []
        answers: list[str] = []
        total_fit = total_cpu = 0.0
        rows = []
        for target in checkpoints:
            # grow the label set to `target` in two batches (active: chosen by the ensemble fitted so far)
            while len(pairs) < target:
                need = target - len(pairs)
                step = need if len(pairs) == 0 or need <= 4 else (need + 1) // 2
                asked = {(a.uid, b.uid) for a, b in pairs}
                if mode == "active" and pairs:
                    new = preferences.active_pairs(pool, step, rng, ens.disagreement, exclude=asked)
                else:
                    new = preferences.random_pairs(pool, step, rng, exclude=asked)
                pairs += new
                answers += [oracle.label(a, b) for a, b in new]
                m = ens.fit([a for a, _ in pairs], [b for _, b in pairs], answers, rng=rng, warm_start=True)
                total_fit += m["seconds"]
                total_cpu += m["cpu_seconds"]
            ev = ens.evaluate(el, er, ey)
            ev_close = ens.evaluate([el[i] for i in close], [er[i] for i in close], ey[close])
            rho = rm.spearman(ens.predicted_returns(held), true_returns)
            rows.append(
                {
                    "labels": target,
                    "accuracy": round(ev["accuracy"], 4),
                    "accuracy_close_pairs": round(ev_close["accuracy"], 4),
                    "spearman": round(rho, 4),
                    "fit_s": round(m["seconds"], 3),
                    "total_fit_s": round(total_fit, 3),
                    "fit_cpu_s": round(m["cpu_seconds"], 3),
                    "total_fit_cpu_s": round(total_cpu, 3),
                    "val_accuracy": None if np.isnan(m["val_accuracy"]) else round(m["val_accuracy"], 4),
                }
            )
        results[mode] = rows

    at100 = {mode: next((r for r in rows if r["labels"] == 100), None) for mode, rows in results.items()}
    out = {
        "benchmark": "reward_model",
        "env_id": ENV_ID,
        "seed": args.seed,
        "fast_mode": fast,
        "segment_length": args.segment_length,
        "segment_source": SOURCES[args.source],
        "train_pool_segments": len(pool),
        "heldout_segments": len(held),
        "heldout_pairs": int(len(ey)),
        "labeler": labelers.OracleLabeler(noise_prob=args.noise, rng=0).name,
        "selection": "random: preferences.random_pairs; active: preferences.active_pairs (10x candidates, ensemble "
        "disagreement); labels added in 2 batches per checkpoint, warm-started refit after each",
        "accuracy_on": "held-out pairs of held-out segments, ground truth = higher true return; accuracy_close_pairs = "
        "the half with the smaller true-return gap",
        "config": cfg.to_dict(),
        "results": results,
        "target_at_100": {
            "accuracy": 0.85,
            "spearman": 0.9,
            "met": {m: (r is not None and r["accuracy"] >= 0.85 and r["spearman"] >= 0.9) for m, r in at100.items()},
        },
        "wall_s": round(time.perf_counter() - t_start, 2),
        "torch_threads": torch.get_num_threads(),
        "startup_s": startup_s,
        "load_avg_1min": round(os.getloadavg()[0], 2),
        "timing_note": "fit_s = wall seconds of the fit at that label count (after 2 batches of new labels), "
        "total_fit_s = all fits so far; *_cpu_s = process CPU seconds (less sensitive to other load on the machine)",
        "python": platform.python_version(),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
