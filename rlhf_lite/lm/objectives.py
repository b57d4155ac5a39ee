"""Pure functions of log-probabilities that the text methods are written in (no model, no data here).

- :func:`dpo_loss`: Direct Preference Optimization (Rafailov et al. 2023), the preference loss with the
  reward model folded into the policy;
- :func:`per_token_kl`: the KL estimate between the policy and the frozen reference, per completion token
  (InstructGPT folds ``-beta`` times it into the reward; GRPO adds it to the loss);
- :func:`best_of_n_kl`: the exact KL of best-of-n sampling from its base model, a yardstick for the others.

All inputs are log-probabilities of *sampled or given* completions (see
:func:`rlhf_lite.lm.model.completion_logprobs`), in nats.
"""

from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F

__all__ = ["dpo_loss", "per_token_kl", "sequence_kl", "best_of_n_kl"]


def dpo_loss(
    policy_chosen: torch.Tensor,
    policy_rejected: torch.Tensor,
    ref_chosen: torch.Tensor,
    ref_rejected: torch.Tensor,
    beta: float = 0.1,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """DPO loss of a batch of preference pairs: ``-log sigmoid(beta * (h_chosen - h_rejected))``, averaged.

    Each input is ``[B]``: log pi(completion | prompt) summed over the completion's tokens, under the policy
    being trained and under the frozen reference, for the preferred (chosen) and the other (rejected) completion
    of each pair. ``h = log pi - log pi_ref`` is the implicit reward divided by beta: DPO is Bradley-Terry on
    ``beta * h``, so its minimiser is the KL-regularised optimum for the reward those labels imply. A small
    ``beta`` lets the policy move far from the reference; a large one keeps it close.

    Returns ``(loss [], chosen_rewards [B], rejected_rewards [B])``; the rewards ``beta * h`` are detached
    (for logging: the gap should grow, and both falling together is DPO's over-fitting)."""
    if not beta > 0:
        raise ValueError(f"beta={beta!r} is not allowed: expected a number > 0")
    h_chosen = policy_chosen - ref_chosen
    h_rejected = policy_rejected - ref_rejected
    loss = -F.logsigmoid(beta * (h_chosen - h_rejected)).mean()
    return loss, (beta * h_chosen).detach(), (beta * h_rejected).detach()


def per_token_kl(
    policy_logprobs: torch.Tensor,
    ref_logprobs: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    estimator: str = "k1",
) -> torch.Tensor:
    """Per-token estimate of KL(policy || reference) at the sampled tokens: ``[B, L]``, 0 where ``mask`` is False.

    ``policy_logprobs`` and ``ref_logprobs`` are ``[B, L]``: log-probabilities of the same completion tokens,
    sampled from the policy. With ``r = log pi_ref - log pi``:

    - ``"k1"``: ``-r = log pi - log pi_ref``; unbiased, can be negative on one token (InstructGPT's penalty);
    - ``"k3"``: ``exp(r) - 1 - r``; unbiased too and never negative, lower variance (GRPO's term; Schulman,
      "Approximating KL divergence", 2020).

    Summed over a completion's tokens either is an estimate of the KL of whole completions."""
    if policy_logprobs.shape != ref_logprobs.shape:
        raise ValueError(
            f"policy_logprobs {tuple(policy_logprobs.shape)} and ref_logprobs "
            f"{tuple(ref_logprobs.shape)} must have the same shape [B, L]"
        )
    r = ref_logprobs - policy_logprobs
    if estimator == "k1":
        kl = -r
    elif estimator == "k3":
        kl = torch.exp(r) - 1 - r
    else:
        raise ValueError(f"estimator={estimator!r} is not allowed: expected one of 'k1', 'k3'")
    return kl if mask is None else kl * mask


def sequence_kl(
    policy_logprobs: torch.Tensor,
    ref_logprobs: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    estimator: str = "k1",
) -> torch.Tensor:
    """:func:`per_token_kl` summed over each completion: ``[B]`` nats per completion."""
    return per_token_kl(policy_logprobs, ref_logprobs, mask, estimator=estimator).sum(-1)


def best_of_n_kl(n: int) -> float:
    """KL (nats) from the base model of best-of-n sampling: ``log n - (n - 1) / n``.

    Draw n completions, keep the one the reward model likes best. With no ties the kept completion's
    distribution is known exactly, and its KL from the base model is this (Stiennon et al. 2020, appendix; it is
    an upper bound when ties are possible, Beirami et al. 2024). It grows only like log n, so best-of-n is a
    yardstick: how much gold a method buys per nat of KL, compared with simply sampling more."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n={n!r} is not allowed: expected a whole number >= 1")
    return math.log(n) - (int(n) - 1) / int(n)
