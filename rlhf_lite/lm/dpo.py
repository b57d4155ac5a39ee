"""DPO (Rafailov et al. 2023): train the policy on the preference pairs directly, with no reward model and no RL.

The KL-regularised optimum of RLHF, ``pi*(y|x) ∝ pi_ref(y|x) exp(r(x, y) / beta)``, gives the reward as
``r = beta * (log pi*(y|x) - log pi_ref(y|x))`` plus a term of the prompt alone, which cancels between two
completions of one prompt. Put that into Bradley-Terry and the labels train the policy itself
(:func:`rlhf_lite.lm.objectives.dpo_loss`): ``-log sigmoid(beta * (h_chosen - h_rejected))`` with
``h = log pi - log pi_ref`` summed over the completion's tokens.

With ``nll_coef > 0`` the loss also subtracts ``nll_coef`` times the chosen completions' mean log-likelihood per
token (the negative log-likelihood term of Pang et al. 2024, "Iterative Reasoning Preference Optimization"). Plain
DPO on 40 pairs widens the gap mostly by pushing probability off both completions, and the text it then writes
stops being sentences (well-formed falls from 0.97 to 0.6-0.9 in ``benchmarks/lm_rlhf.py``); the NLL term keeps
the chosen completions likely, so the policy stays in the language it knows.

``beta`` plays the part of PPO's ``kl_coef``: small lets the policy move far from the reference. The history
logs the implicit rewards ``beta * h`` of chosen and rejected completions: their gap should grow; both falling
together means the policy is pushing the rejected completions down faster than it raises the chosen ones,
taking probability away from both (DPO over-fitting on few pairs).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

import torch

from rlhf_lite.config import Config, param
from rlhf_lite.lm import evaluation
from rlhf_lite.lm.model import TinyLM, completion_logprobs
from rlhf_lite.lm.objectives import dpo_loss
from rlhf_lite.lm.tokenizer import Tokenizer
from rlhf_lite.preferences import PreferencePair, PreferenceRecord, to_pairs

__all__ = ["DPOConfig", "preference_triples", "train_dpo"]


@dataclasses.dataclass
class DPOConfig(Config):
    """DPO on the labelled pairs; ``python benchmarks/lm_rlhf.py --method dpo`` measures what the defaults reach."""

    beta: float = param(
        0.5, "DPO beta: how strongly the policy is held to the reference", low=0.0, high=100.0, low_open=True
    )
    steps: int = param(40, "optimizer steps (few pairs over-fit fast: stop early)", low=1, high=100_000)
    batch_size: int = param(32, "pairs per step (all of them when fewer)", low=1, high=4096)
    learning_rate: float = param(1e-4, "AdamW step size", low=0.0, high=1.0, low_open=True)
    max_grad_norm: float = param(1.0, "clip the gradient's global norm", low=0.0, high=100.0, low_open=True)
    nll_coef: float = param(
        1.0, "weight of the chosen completions' negative log-likelihood (per token) in the loss", low=0.0, high=100.0
    )


def preference_triples(
    labels: Sequence[PreferenceRecord] | Sequence[PreferencePair], tokenizer: Tokenizer
) -> tuple[list[list[int]], list[list[int]], list[list[int]]]:
    """``(prompt_ids, chosen_ids, rejected_ids)``, one entry per pair with a winner (equal and can't-tell
    answers say nothing about which to raise, so DPO drops them)."""
    pairs = [x for x in labels if not isinstance(x, PreferenceRecord)] + to_pairs(
        [x for x in labels if isinstance(x, PreferenceRecord)]
    )
    prompts, chosen, rejected = [], [], []
    for p in pairs:
        if p.target == 0.5:
            continue
        win, lose = (p.left, p.right) if p.target > 0.5 else (p.right, p.left)
        prompt_ids, win_ids = evaluation.item_ids(win, tokenizer)
        prompts.append(prompt_ids)
        chosen.append(win_ids)
        rejected.append(evaluation.item_ids(lose, tokenizer)[1])
    if not prompts:
        raise ValueError("DPO needs at least one pair answered 'left' or 'right'")
    return prompts, chosen, rejected


def _sequence_logp(model: TinyLM, prompts: list[list[int]], completions: list[list[int]]) -> torch.Tensor:
    return _logp_and_length(model, prompts, completions)[0]


def _logp_and_length(
    model: TinyLM, prompts: list[list[int]], completions: list[list[int]]
) -> tuple[torch.Tensor, torch.Tensor]:
    logp, mask = completion_logprobs(model, prompts, completions)
    return (logp * mask).sum(1), mask.sum(1)


def train_dpo(
    reference: TinyLM,
    tokenizer: Tokenizer,
    labels: Sequence[PreferenceRecord] | Sequence[PreferencePair],
    config: DPOConfig | None = None,
    *,
    seed: int = 0,
    progress: bool = True,
) -> evaluation.TrainResult:
    """Fine-tune a copy of ``reference`` with DPO on the labelled text pairs.

    ``history`` has one dict per step: ``loss`` (``dpo_loss + nll_coef * nll``, what is minimised), ``dpo_loss``,
    ``nll`` (the chosen completions' negative log-likelihood, nats per token), ``chosen_reward`` /
    ``rejected_reward`` (mean implicit rewards ``beta * (log pi - log pi_ref)`` of the step's pairs), ``margin``
    and ``accuracy`` (share of pairs whose chosen completion has the larger implicit reward). A ``tqdm.auto``
    bar unless ``progress=False``."""
    from tqdm.auto import tqdm

    c = config or DPOConfig()
    prompts, chosen, rejected = preference_triples(labels, tokenizer)
    g = torch.Generator().manual_seed(seed)
    policy = evaluation.policy_copy(reference)
    with torch.no_grad():
        ref_chosen = _sequence_logp(reference, prompts, chosen)
        ref_rejected = _sequence_logp(reference, prompts, rejected)
    opt = torch.optim.AdamW(policy.parameters(), lr=c.learning_rate, weight_decay=0.0)
    history: list[dict[str, float]] = []
    start = time.perf_counter()
    bar = tqdm(range(c.steps), desc=f"DPO (beta={c.beta:g})", unit="step", disable=not progress, leave=False)
    for step in bar:
        rows = torch.randperm(len(prompts), generator=g)[: c.batch_size].tolist()
        p, w, lo = ([xs[i] for i in rows] for xs in (prompts, chosen, rejected))
        logp_chosen, chosen_len = _logp_and_length(policy, p, w)
        loss, r_chosen, r_rejected = dpo_loss(
            logp_chosen, _sequence_logp(policy, p, lo), ref_chosen[rows], ref_rejected[rows], c.beta
        )
        dpo_part = loss
        nll = -(logp_chosen / chosen_len.clamp(min=1)).mean()  # nats per token of the chosen completions
        if c.nll_coef > 0:
            loss = loss + c.nll_coef * nll
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), c.max_grad_norm)
        opt.step()
        history.append(
            {
                "step": step,
                "loss": loss.item(),
                "dpo_loss": dpo_part.item(),
                "nll": nll.item(),
                "chosen_reward": float(r_chosen.mean()),
                "rejected_reward": float(r_rejected.mean()),
                "margin": float((r_chosen - r_rejected).mean()),
                "accuracy": float((r_chosen > r_rejected).float().mean()),
            }
        )
        bar.set_postfix(loss=f"{history[-1]['loss']:.3f}", margin=f"{history[-1]['margin']:.2f}")
    bar.close()
    policy.eval()
    return evaluation.TrainResult(policy, history, time.perf_counter() - start)
