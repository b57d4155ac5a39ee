"""GRPO (Shao et al. 2024, DeepSeekMath): PPO's clipped update with a group baseline instead of a critic.

Sample a *group* of ``group_size`` completions of each prompt and score them with the reward model; each
completion's advantage is its score standardised within its group (:func:`group_advantages`),
``A_i = (r_i - mean(r_group)) / (std(r_group) + eps)``, the same for every token of it. Better-than-its-siblings
completions are pushed up, worse ones down; no value network is trained. The KL to the reference is not folded
into the reward as in PPO-KL but added to the loss, per token, with the low-variance "k3" estimator
(:func:`rlhf_lite.lm.objectives.per_token_kl`), weighted by ``kl_coef`` (0: GRPO without its KL term).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import numpy as np
import torch

from rlhf_lite.agents.ppo import clipped_surrogate
from rlhf_lite.config import Config, param
from rlhf_lite.lm import evaluation
from rlhf_lite.lm.model import TinyLM, completion_logprobs, generate
from rlhf_lite.lm.objectives import per_token_kl
from rlhf_lite.lm.tokenizer import Tokenizer

__all__ = ["GRPOConfig", "group_advantages", "train_grpo"]


@dataclasses.dataclass
class GRPOConfig(Config):
    """GRPO on text; ``python benchmarks/lm_rlhf.py --method grpo`` measures what the defaults reach."""

    iterations: int = param(30, "rounds of sample-then-update", low=1, high=100_000)
    prompts_per_round: int = param(8, "fresh prompts per round", low=1, high=4096)
    group_size: int = param(8, "completions sampled per prompt (the group its baseline comes from)", low=2, high=256)
    epochs: int = param(2, "passes over each round's completions", low=1, high=100)
    minibatch_size: int = param(32, "completions per gradient step", low=1, high=4096)
    learning_rate: float = param(1e-4, "AdamW step size", low=0.0, high=1.0, low_open=True)
    clip_coef: float = param(0.2, "PPO clip range of the probability ratio", low=0.0, high=1.0, low_open=True)
    kl_coef: float = param(
        0.5, "weight of the per-token k3 KL to the reference in the loss (0 = off)", low=0.0, high=10.0
    )
    max_grad_norm: float = param(1.0, "clip the gradient's global norm", low=0.0, high=100.0, low_open=True)


def group_advantages(rewards: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """``rewards [P, G]`` (G completions of each of P prompts) -> advantages ``[P, G]``: each row minus its mean,
    divided by its standard deviation (population, ``ddof=0``) plus ``eps``. A group whose completions all
    score the same gives zeros: nothing to learn from it."""
    if rewards.ndim != 2 or rewards.shape[1] < 2:
        raise ValueError(f"rewards must be [P, G] with G >= 2 completions per prompt, got {tuple(rewards.shape)}")
    mean = rewards.mean(1, keepdim=True)
    std = rewards.std(1, unbiased=False, keepdim=True)
    return (rewards - mean) / (std + eps)


def train_grpo(
    reference: TinyLM,
    tokenizer: Tokenizer,
    reward_model: Callable,
    config: GRPOConfig | None = None,
    *,
    seed: int = 0,
    progress: bool = True,
) -> evaluation.TrainResult:
    """Fine-tune a copy of ``reference`` with GRPO on ``reward_model(prompt_ids, completion_ids) -> [B]``.

    ``history``: one dict per round, on that round's samples: ``proxy``, ``gold`` (logged, never learnt from),
    ``kl`` (nats per completion, ``log pi - log pi_ref``), ``length``. A ``tqdm.auto`` bar unless
    ``progress=False``."""
    from tqdm.auto import tqdm

    c = config or GRPOConfig()
    rng = np.random.default_rng(seed)
    g = torch.Generator().manual_seed(seed)
    policy = evaluation.policy_copy(reference)
    opt = torch.optim.AdamW(policy.parameters(), lr=c.learning_rate, weight_decay=0.0)
    history: list[dict[str, float]] = []
    start = time.perf_counter()
    bar = tqdm(
        range(c.iterations), desc=f"GRPO (kl_coef={c.kl_coef:g})", unit="round", disable=not progress, leave=False
    )
    for it in bar:
        prompts = [p for p in evaluation.sample_prompts(c.prompts_per_round, rng) for _ in range(c.group_size)]
        ids = evaluation.encode_prompts(tokenizer, prompts)
        completions = generate(policy, ids, rng, eos_id=tokenizer.eos_id)
        with torch.no_grad():
            old_logp, mask = completion_logprobs(policy, ids, completions)
            ref_logp, _ = completion_logprobs(reference, ids, completions)
            scores = reward_model(ids, completions)
        advantages = group_advantages(scores.view(c.prompts_per_round, c.group_size)).reshape(-1)
        for _ in range(c.epochs):
            for mb in torch.randperm(len(ids), generator=g).split(c.minibatch_size):
                rows = mb.tolist()
                logp, m = completion_logprobs(policy, [ids[i] for i in rows], [completions[i] for i in rows])
                L = m.shape[1]
                token_adv = advantages[mb][:, None].expand(-1, L)
                loss = clipped_surrogate(logp[m], old_logp[mb, :L][m], token_adv[m], c.clip_coef)
                if c.kl_coef > 0:
                    loss = loss + c.kl_coef * per_token_kl(logp, ref_logp[mb, :L], m, estimator="k3")[m].mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(policy.parameters(), c.max_grad_norm)
                opt.step()
        evaluation.log_round(history, bar, it, tokenizer, prompts, completions, scores, old_logp, ref_logp, mask)
    bar.close()
    policy.eval()
    return evaluation.TrainResult(policy, history, time.perf_counter() - start)
