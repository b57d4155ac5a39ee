"""RLHF on the tiny language model of lesson 06: one method from simulated labels. Prints ONE JSON line.

    python benchmarks/lm_rlhf.py --method {bon,ppo,dpo,grpo} --labels 40 --seed 0
    python benchmarks/lm_rlhf.py --method ppo --kl-coef 0 --seed 0     # over-optimisation: no KL penalty
    python benchmarks/lm_rlhf.py --method ppo --reward gold --seed 0   # yardstick: PPO on the gold judge itself
    python benchmarks/lm_rlhf.py --method ppo --seeds 0-4 --jobs 2     # the targets' figures: medians over seeds

``rlhf_lite.lm.experiment.prepare`` loads the shipped LM (the frozen reference), labels ``--labels`` pairs of its
completions with the simulated labeler (the gold judge answering at random 10% of the time; no person), trains the
reward model and draws 400 held-out eval prompts. Then the method runs at its config's defaults (``--kl-coef`` /
``--beta`` / ``--n`` override) and is measured the shared way (``rlhf_lite.lm.evaluation``): ``win_rate`` (gold
judge, against the reference's completions, ties half), ``kl`` (nats per completion from the reference; exact for
best-of-n), ``proxy`` (mean reward-model score), ``gold``. ``reward_accuracy`` is the reward model's held-out
accuracy against the gold judge. ``win_rate_ceiling`` is the win rate of a policy that always writes a best
completion against the same reference completions (ties where the reference already did: the top of the scale).
``--reward gold`` (ppo, grpo, bon) optimises the gold judge instead of the reward model: what the method reaches
with a perfect reward model, a yardstick no RLHF run has (labels and reward model are still made, so
``reward_accuracy`` and ``proxy`` are the reward model's as usual). ``--noise`` sets the simulated labeler's rate
of random answers. ``wall_s`` is the whole run (labels, reward model, method, eval); ``method_s`` the method's
training alone. For ppo/grpo, ``curve`` holds proxy, gold and KL of the training samples at a few rounds (proxy
rising while gold falls is over-optimisation). ``--seeds 0-4`` runs one seed after another (``--jobs 2``: two at
a time, in separate processes) and prints one line: ``runs`` (per seed: win rate, KL, proxy, gold, well-formed,
ceiling, reward accuracy, seconds; ppo/grpo's ``curve``) and ``median`` (the median of each over the seeds).

Targets (issue 13, 40 labels, medians of seeds 0-4): reward_accuracy >= 0.75; ppo and dpo each win_rate >= 0.8 at
kl <= 2 in wall_s <= 60; ppo with --kl-coef 0 shows gold falling while proxy rises. ``RLHF_LITE_FAST=1``: a smoke run.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
from _common import emit, parse_seeds, run_seeds, setup_torch  # noqa: E402

from rlhf_lite.config import fast_mode  # noqa: E402
from rlhf_lite.lm import bon, dpo, evaluation, experiment, grpo, ppo, reward  # noqa: E402


def _curve(history: list[dict[str, float]], points: int = 6) -> list[dict[str, float]]:
    idx = sorted({int(round(i)) for i in np.linspace(0, len(history) - 1, points)})
    keys = ("iteration", "proxy", "gold", "kl")
    return [{k: round(float(history[i][k]), 3) for k in keys} for i in idx]


def one_run(args: argparse.Namespace, seed: int) -> dict:
    """One seed of one method: labels, reward model, training, evaluation; the record of the module docstring."""
    startup_s = setup_torch()  # one thread; one-off imports, outside every timer (also in a worker process)
    start = time.perf_counter()
    fast = fast_mode()
    setup = experiment.prepare(
        args.labels,
        seed,
        noise_prob=args.noise,
        reward_config=reward.RewardConfig(steps=15, normalise_samples=64) if fast else None,
        eval_prompts=40 if fast else 400,
        accuracy_pairs=40 if fast else 400,
        progress=False,
    )
    rm = setup.reward_model
    optimised = evaluation.gold_reward(setup.tokenizer) if args.reward == "gold" else rm
    record: dict = {
        "benchmark": "lm_rlhf",
        "method": args.method,
        "labels": args.labels,
        "noise": args.noise,
        "reward": args.reward,
        "seed": seed,
    }
    method_rng = np.random.default_rng(seed + 1)
    history: list[dict[str, float]] = []
    if args.method == "bon":
        method_s = 0.0
        evaluation_ = bon.evaluate_best_of_n(
            setup.reference, setup.tokenizer, optimised, setup.eval_set, args.n, method_rng, proxy=rm
        )
        record["n"] = args.n
    else:
        overrides: dict = {}
        if args.method in ("ppo", "grpo"):
            if args.kl_coef is not None:
                overrides["kl_coef"] = args.kl_coef
            if args.iterations is not None or fast:
                overrides["iterations"] = 2 if fast else args.iterations
            config = (ppo.PPOTextConfig if args.method == "ppo" else grpo.GRPOConfig)().replace(**overrides)
            train = ppo.train_ppo if args.method == "ppo" else grpo.train_grpo
            result = train(setup.reference, setup.tokenizer, optimised, config, seed=seed, progress=False)
            record["kl_coef"] = config.kl_coef
        else:
            if args.beta is not None:
                overrides["beta"] = args.beta
            if fast:
                overrides["steps"] = 2
            config = dpo.DPOConfig().replace(**overrides)
            result = dpo.train_dpo(setup.reference, setup.tokenizer, setup.records, config, seed=seed, progress=False)
            record["beta"] = config.beta
        method_s, history = result.wall_s, result.history
        evaluation_ = evaluation.evaluate(
            result.policy, setup.reference, setup.tokenizer, setup.eval_set, method_rng, rm
        )
    record.update(evaluation_.to_dict())
    record.update(
        win_rate_ceiling=round(evaluation.win_rate_ceiling(setup.eval_set.reference_gold), 4),
        reward_accuracy=round(setup.reward_accuracy, 4),
        labeler=setup.labeler,
        wall_s=round(time.perf_counter() - start, 2),
        method_s=round(method_s, 2),
        fast=fast,
        startup_s=startup_s,
    )
    if args.method in ("ppo", "grpo"):
        record["curve"] = _curve(history)
    if args.method == "dpo":
        last = history[-1]
        record.update(chosen_reward=round(last["chosen_reward"], 3), rejected_reward=round(last["rejected_reward"], 3))
    return record


PER_SEED = (
    "win_rate",
    "kl",
    "proxy",
    "gold",
    "well_formed",
    "win_rate_ceiling",
    "reward_accuracy",
    "wall_s",
    "method_s",
)
"""What ``--seeds`` reports for every seed, and the median of."""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--method", choices=("bon", "ppo", "dpo", "grpo"), required=True)
    p.add_argument("--labels", type=int, default=40, help="simulated labels (pairs of completions)")
    p.add_argument("--seed", type=int, default=None, help="one run (default: seed 0)")
    p.add_argument("--seeds", default=None, help="several runs, e.g. 0-4 or 0,3,5: per-seed figures and medians")
    p.add_argument("--jobs", type=int, default=1, help="--seeds: runs at the same time, in separate processes")
    p.add_argument("--noise", type=float, default=0.1, help="the simulated labeler's rate of random answers")
    p.add_argument("--kl-coef", type=float, default=None, help="ppo/grpo: KL coefficient (default: the config's)")
    p.add_argument("--beta", type=float, default=None, help="dpo: beta (default: the config's)")
    p.add_argument(
        "--reward",
        choices=("learned", "gold"),
        default="learned",
        help="what ppo/grpo/bon optimise: the reward model (RLHF) or the gold judge (a yardstick)",
    )
    p.add_argument("--n", type=int, default=8, help="bon: samples per prompt")
    p.add_argument("--iterations", type=int, default=None, help="ppo/grpo: rounds (default: the config's)")
    args = p.parse_args()
    if args.method == "dpo" and args.reward == "gold":
        p.error("--reward gold: DPO has no reward to swap (it learns from the labels themselves)")
    if args.seed is not None and args.seeds is not None:
        p.error("give --seed (one run) or --seeds (several), not both")
    if args.seeds is None:
        emit(one_run(args, 0 if args.seed is None else args.seed))
        return

    seeds = parse_seeds(args.seeds)
    start = time.perf_counter()
    runs = run_seeds(functools.partial(one_run, args), seeds, args.jobs)
    first = runs[0]
    shared = ("method", "labels", "noise", "reward", "n", "kl_coef", "beta", "labeler")
    same = {k: first[k] for k in shared if k in first}
    emit(
        {
            "benchmark": "lm_rlhf",
            **same,
            "seeds": seeds,
            "runs": [{"seed": r["seed"], **{k: r[k] for k in (*PER_SEED, "curve") if k in r}} for r in runs],
            "median": {k: round(float(np.median([r[k] for r in runs])), 4) for k in PER_SEED},
            "total_wall_s": round(time.perf_counter() - start, 2),
            "jobs": args.jobs,
            "fast": first["fast"],
        }
    )


if __name__ == "__main__":
    main()
