"""How fast does PPO solve CartPole-v1? Prints ONE JSON line.

    python benchmarks/ppo_cartpole.py --seed 0

``env_steps``: env steps until the mean return of the last 20 *training* episodes (stochastic policy) first
reaches 475 (``null`` if never within ``--max-steps``); ``wall_s``: seconds of training until then (training
stops there); ``eval_return``: mean of 20 greedy episodes of the agent at that moment.
Target (issue 2): median over seeds 0-4 of at most 60,000 steps and 10 s on 2 cores.
``RLHF_LITE_FAST=1`` shrinks the budget to a smoke run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


from _common import emit, setup_torch  # noqa: E402

from rlhf_lite import agents, envs  # noqa: E402
from rlhf_lite.config import fast_mode  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-steps", type=int, default=100_000, help="training budget (the lr anneals over it)")
    p.add_argument("--threshold", type=float, default=475.0)
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (1 is fastest for this tiny net)")
    args = p.parse_args()
    startup_s = setup_torch(args.threads)  # one-off imports, outside every timer
    max_steps = 4_096 if fast_mode() else args.max_steps

    config = agents.PPOConfig.cartpole()
    vec = envs.make_vec_env("CartPole-v1", config.num_envs, args.seed)
    agent = agents.PPOAgent(vec.single_observation_space, vec.single_action_space, config, seed=args.seed)
    solved_at: list[int] = []

    def stop_when_solved(info: dict) -> bool:
        if info["mean_return"] >= args.threshold and len(agent.recent_returns) == 20:
            solved_at.append(info["env_steps"])
            return True
        return False

    start, cpu_start = time.perf_counter(), time.process_time()
    history = agent.learn(vec, max_steps, callback=stop_when_solved, progress=False)
    wall_s = time.perf_counter() - start
    cpu_s = time.process_time() - cpu_start  # less sensitive than wall_s to other work on a shared machine
    eval_returns = agent.evaluate("CartPole-v1", episodes=20, seed=10_000 + args.seed)
    emit(
        {
            "benchmark": "ppo_cartpole",
            "env_id": "CartPole-v1",
            "seed": args.seed,
            "fast_mode": fast_mode(),
            "threshold": args.threshold,
            "solved": bool(solved_at),
            "env_steps": solved_at[0] if solved_at else None,
            "steps_run": agent.env_steps,
            "wall_s": round(wall_s, 2),
            "cpu_s": round(cpu_s, 2),
            "final_mean_return": history[-1]["mean_return"] if history else None,
            "eval_return": float(eval_returns.mean()),
            "eval_episodes": len(eval_returns),
            "threads": args.threads,
            "config": config.to_dict(),
            "startup_s": startup_s,
        }
    )


if __name__ == "__main__":
    main()
