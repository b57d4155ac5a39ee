"""Best-of-n sampling: draw n completions from the reference, keep the one the reward model likes best.

No training at all, and the yardstick for every method that trains: its KL from the reference is known
exactly, ``log n - (n - 1) / n`` nats (:func:`rlhf_lite.lm.objectives.best_of_n_kl`), so a method that buys less
gold per nat than best-of-n at the same KL is not worth its training. Its cost is n samples per prompt at
answer time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from rlhf_lite.lm import evaluation
from rlhf_lite.lm.model import TinyLM, generate
from rlhf_lite.lm.objectives import best_of_n_kl
from rlhf_lite.lm.tokenizer import Tokenizer

__all__ = ["best_of_n", "evaluate_best_of_n"]


@torch.no_grad()
def best_of_n(
    reference: TinyLM,
    tokenizer: Tokenizer,
    reward_model: Callable,
    prompt_ids: Sequence[Sequence[int]],
    n: int,
    rng: np.random.Generator,
) -> list[list[int]]:
    """For each of the B prompts, the highest-scoring of ``n`` reference samples (ties: the first drawn).

    ``reward_model(prompt_ids, completion_ids) -> [B]``. Returns B completions (token ids)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n={n!r} is not allowed: expected a whole number >= 1")
    repeated = [list(p) for p in prompt_ids for _ in range(n)]
    samples = generate(reference, repeated, rng, eos_id=tokenizer.eos_id)
    scores = reward_model(repeated, samples).view(len(prompt_ids), n)
    best = scores.argmax(1).tolist()
    return [samples[i * n + k] for i, k in enumerate(best)]


def evaluate_best_of_n(
    reference: TinyLM,
    tokenizer: Tokenizer,
    reward_model: Callable,
    eval_set: evaluation.EvalSet,
    n: int,
    rng: np.random.Generator,
    *,
    proxy: Callable | None = None,
) -> evaluation.Evaluation:
    """Best-of-``n`` on the eval prompts, measured the shared way; its KL is the exact ``log n - (n-1)/n``.

    ``proxy`` is the reward model whose mean score is reported (default: ``reward_model``, the one that picked);
    pass the reward model when picking by something else, e.g. the gold judge as a yardstick."""
    completions = best_of_n(reference, tokenizer, reward_model, eval_set.prompt_ids, n, rng)
    kl = best_of_n_kl(n)
    return evaluation.evaluate_completions(completions, eval_set, tokenizer, kl, proxy or reward_model)
