"""One way to measure every text method: gold win rate against the reference, KL from it, proxy reward.

Every method of lesson 06 (best-of-n, PPO-KL, DPO, GRPO) ends with a policy, or a way to pick completions, that
is compared on one fixed :class:`EvalSet` (prompts the methods never trained on, each with one completion
sampled from the frozen reference model):

- **gold win rate**: the share of prompts where the gold judge prefers the method's completion to the
  reference's, ties counting half (0.5 = no better than the reference; the judge is the person, never seen by
  the learner);
- **KL from the reference** in nats per completion: the Monte-Carlo estimate ``mean over samples of
  log pi(y|x) - log pi_ref(y|x)`` on the method's own samples (unbiased; best-of-n uses its exact formula);
- **proxy**: the reward model's mean score of those completions (what the method optimised).

Completions are token ids as :func:`rlhf_lite.lm.model.generate` returns them. One that was cut at the length
limit (no ``<eos>``) is not a finished sentence: the judge gives it :data:`rlhf_lite.lm.judge.MALFORMED_SCORE`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from rlhf_lite.items import TextItem
from rlhf_lite.lm import corpus, judge
from rlhf_lite.lm.model import TinyLM, completion_logprobs, generate
from rlhf_lite.lm.tokenizer import Tokenizer

__all__ = [
    "log_round",
    "sample_prompts",
    "encode_prompts",
    "is_finished",
    "completion_text",
    "gold_scores",
    "win_rate",
    "win_rate_ceiling",
    "gold_reward",
    "to_items",
    "item_ids",
    "sequence_kl_from_reference",
    "EvalSet",
    "make_eval_set",
    "Evaluation",
    "evaluate_completions",
    "evaluate",
    "TrainResult",
    "policy_copy",
    "sample_completions",
]

ScoreFn = Callable[[Sequence[Sequence[int]], Sequence[Sequence[int]]], torch.Tensor]
"""``score(prompt_ids, completion_ids) -> [B]`` proxy rewards (a :class:`rlhf_lite.lm.reward.TextRewardModel`)."""


def sample_prompts(n: int, rng: np.random.Generator) -> list[str]:
    """``n`` prompts of the corpus grammar (reviews and requests), drawn from ``rng``."""
    return [corpus.sample_prompt(rng)[0] for _ in range(n)]


def encode_prompts(tokenizer: Tokenizer, prompts: Sequence[str]) -> list[list[int]]:
    """Token ids of each prompt, starting with ``<bos>`` (what :func:`~rlhf_lite.lm.model.generate` takes)."""
    return [tokenizer.encode(p, bos=True) for p in prompts]


def is_finished(completion: Sequence[int], tokenizer: Tokenizer) -> bool:
    """True when the completion ends with ``<eos>`` (the model said it was done, not cut at the limit)."""
    return len(completion) > 0 and int(completion[-1]) == tokenizer.eos_id


def completion_text(completion: Sequence[int], tokenizer: Tokenizer) -> str:
    """The words of a completion, ``<eos>`` and other specials dropped."""
    return tokenizer.decode(completion)


def gold_scores(tokenizer: Tokenizer, prompts: Sequence[str], completions: Sequence[Sequence[int]]) -> np.ndarray:
    """The gold judge's score of each completion ``[B]`` (unfinished ones score as malformed)."""
    return np.array(
        [
            judge.score(p, completion_text(c, tokenizer)) if is_finished(c, tokenizer) else judge.MALFORMED_SCORE
            for p, c in zip(prompts, completions)
        ],
        dtype=np.float64,
    )


def win_rate(gold: np.ndarray, reference_gold: np.ndarray) -> float:
    """Share of prompts where ``gold [B]`` beats ``reference_gold [B]``, ties counting half."""
    gold, reference_gold = np.asarray(gold, dtype=np.float64), np.asarray(reference_gold, dtype=np.float64)
    if gold.shape != reference_gold.shape or gold.ndim != 1 or len(gold) == 0:
        raise ValueError(
            f"win_rate needs two [B] arrays of one length >= 1, got {gold.shape} and {reference_gold.shape}"
        )
    return float(np.mean((gold > reference_gold) + 0.5 * (gold == reference_gold)))


def win_rate_ceiling(reference_gold: np.ndarray) -> float:
    """The win rate of a policy that always writes a best completion (:data:`~rlhf_lite.lm.judge.BEST_SCORE`)
    against reference completions scoring ``reference_gold [B]``: below 1 because it only ties where the
    reference already wrote a best one. No method can beat it on those prompts, so it is the top of the scale."""
    return win_rate(np.full(len(reference_gold), judge.BEST_SCORE), reference_gold)


def gold_reward(tokenizer: Tokenizer) -> ScoreFn:
    """The gold judge as a reward function ``(prompt_ids, completion_ids) -> [B]`` (unfinished = malformed).

    A yardstick, never part of RLHF: an RL method trained on it shows what the optimiser reaches with a perfect
    reward model, so the gap to a learnt reward model's run is what the labels did not teach."""

    def score(prompt_ids: Sequence[Sequence[int]], completions: Sequence[Sequence[int]]) -> torch.Tensor:
        prompts = [tokenizer.decode(p) for p in prompt_ids]
        return torch.tensor(gold_scores(tokenizer, prompts, completions), dtype=torch.float32)

    return score


def to_items(
    tokenizer: Tokenizer, prompts: Sequence[str], completions: Sequence[Sequence[int]], source: str, uid_prefix: str
) -> list[TextItem]:
    """Completions as :class:`~rlhf_lite.items.TextItem` (what a person or a labeler compares).

    ``meta`` records who wrote it (``source``) and whether it was finished; :func:`item_ids` turns it back."""
    return [
        TextItem(
            prompt=p,
            completion=completion_text(c, tokenizer),
            uid=f"{uid_prefix}{i}",
            meta={"source": source, "finished": is_finished(c, tokenizer)},
        )
        for i, (p, c) in enumerate(zip(prompts, completions))
    ]


def item_ids(item: Any, tokenizer: Tokenizer) -> tuple[list[int], list[int]]:
    """``(prompt_ids, completion_ids)`` of a text item; ``<eos>`` is appended unless ``meta["finished"]`` is False
    (a typed-in completion is taken as finished)."""
    finished = bool(getattr(item, "meta", {}).get("finished", True))
    completion = tokenizer.encode(item.completion) + ([tokenizer.eos_id] if finished else [])
    return tokenizer.encode(item.prompt, bos=True), completion


@torch.no_grad()
def sequence_kl_from_reference(
    policy: TinyLM, reference: TinyLM, prompt_ids: Sequence[Sequence[int]], completions: Sequence[Sequence[int]]
) -> np.ndarray:
    """``log pi(y|x) - log pi_ref(y|x)`` per completion ``[B]``; its mean over the policy's own samples is an
    unbiased estimate of KL(pi || pi_ref) in nats per completion."""
    logp, mask = completion_logprobs(policy, prompt_ids, completions)
    ref, _ = completion_logprobs(reference, prompt_ids, completions)
    return ((logp - ref) * mask).sum(1).double().numpy()


@dataclasses.dataclass
class EvalSet:
    """Held-out prompts with one reference completion each: ``prompts`` (strings), ``prompt_ids``,
    ``reference_completions`` (token ids), ``reference_gold [N]`` (their gold scores)."""

    prompts: list[str]
    prompt_ids: list[list[int]]
    reference_completions: list[list[int]]
    reference_gold: np.ndarray

    def __len__(self) -> int:
        return len(self.prompts)


def make_eval_set(
    reference: TinyLM, tokenizer: Tokenizer, n: int, rng: np.random.Generator, *, temperature: float = 1.0
) -> EvalSet:
    """``n`` fresh prompts and the reference's completion of each (drawn from ``rng``; keep the stream apart
    from training so that these prompts are held out)."""
    prompts = sample_prompts(n, rng)
    ids = encode_prompts(tokenizer, prompts)
    completions = generate(reference, ids, rng, temperature=temperature, eos_id=tokenizer.eos_id)
    return EvalSet(prompts, ids, completions, gold_scores(tokenizer, prompts, completions))


@dataclasses.dataclass
class Evaluation:
    """What one policy scores on an :class:`EvalSet`: ``win_rate`` (gold, against the reference, ties half),
    ``kl`` (nats per completion from the reference), ``proxy`` (mean reward-model score, ``nan`` without one),
    ``gold`` (mean gold score) against ``reference_gold`` (the reference's), ``well_formed`` (share of
    completions the judge parses)."""

    win_rate: float
    kl: float
    proxy: float
    gold: float
    reference_gold: float
    well_formed: float

    def to_dict(self) -> dict[str, float]:
        """Rounded plain floats (for JSON lines and tables)."""
        return {k: round(float(v), 4) for k, v in dataclasses.asdict(self).items()}


def evaluate_completions(
    completions: Sequence[Sequence[int]],
    eval_set: EvalSet,
    tokenizer: Tokenizer,
    kl: float,
    reward_model: ScoreFn | None = None,
) -> Evaluation:
    """Score given completions (one per eval prompt) whose KL from the reference is known (``kl``, nats)."""
    if len(completions) != len(eval_set):
        raise ValueError(f"{len(completions)} completions for {len(eval_set)} eval prompts: expected one each")
    gold = gold_scores(tokenizer, eval_set.prompts, completions)
    proxy = float("nan")
    if reward_model is not None:
        with torch.no_grad():
            proxy = float(reward_model(eval_set.prompt_ids, completions).mean())
    return Evaluation(
        win_rate=win_rate(gold, eval_set.reference_gold),
        kl=float(kl),
        proxy=proxy,
        gold=float(gold.mean()),
        reference_gold=float(eval_set.reference_gold.mean()),
        well_formed=float(np.mean(gold > judge.MALFORMED_SCORE)),
    )


def evaluate(
    policy: TinyLM,
    reference: TinyLM,
    tokenizer: Tokenizer,
    eval_set: EvalSet,
    rng: np.random.Generator,
    reward_model: ScoreFn | None = None,
) -> Evaluation:
    """Sample one completion per eval prompt from ``policy`` (temperature 1, the distribution the KL is of) and
    measure it (win rate, KL, proxy, gold)."""
    completions = generate(policy, eval_set.prompt_ids, rng, eos_id=tokenizer.eos_id)
    kl = float(sequence_kl_from_reference(policy, reference, eval_set.prompt_ids, completions).mean())
    return evaluate_completions(completions, eval_set, tokenizer, kl, reward_model)


def log_round(
    history: list[dict],
    bar: Any,
    iteration: int,
    tokenizer: Tokenizer,
    prompts: Sequence[str],
    completions: Sequence[Sequence[int]],
    scores: torch.Tensor,
    old_logp: torch.Tensor,
    ref_logp: torch.Tensor,
    mask: torch.Tensor,
) -> None:
    """One round of an RL method on text (PPO, GRPO), recorded on the round's own samples: mean proxy ``scores
    [B]``, mean gold score, KL from the reference (``old_logp``, ``ref_logp``, ``mask`` ``[B, L]``: summed over
    each completion's tokens, then averaged) and mean length; shown on the progress ``bar``. These are the
    over-optimisation curve's points: proxy against gold as KL grows."""
    gold = gold_scores(tokenizer, prompts, completions)
    history.append(
        {
            "iteration": iteration,
            "proxy": float(scores.mean()),
            "gold": float(gold.mean()),
            "kl": float(((old_logp - ref_logp) * mask).sum(1).mean()),
            "length": float(mask.sum(1).float().mean()),
        }
    )
    last = history[-1]
    bar.set_postfix(proxy=f"{last['proxy']:.2f}", gold=f"{last['gold']:.2f}", kl=f"{last['kl']:.2f}")


@dataclasses.dataclass
class TrainResult:
    """What a text method's training returns: the trained ``policy`` (eval mode), its ``history`` (one dict per
    iteration or step: the method's own numbers, e.g. ``proxy``, ``gold``, ``kl`` on its training samples), and
    ``wall_s`` (seconds of training)."""

    policy: TinyLM
    history: list[dict[str, float]]
    wall_s: float


def policy_copy(reference: TinyLM) -> TinyLM:
    """A trainable copy of the reference: every method starts from the pretrained model, which stays frozen."""
    import copy

    return copy.deepcopy(reference).train().requires_grad_(True)


def sample_completions(
    policy: TinyLM, tokenizer: Tokenizer, prompts: Sequence[str], rng: np.random.Generator
) -> list[tuple[str, str, float]]:
    """``(prompt, completion text, gold score)`` for one sample of each prompt (to show what a policy writes; an
    unfinished completion ends with ``" ..."``)."""
    completions = generate(policy, encode_prompts(tokenizer, prompts), rng, eos_id=tokenizer.eos_id)
    gold = gold_scores(tokenizer, prompts, completions)
    return [
        (p, completion_text(c, tokenizer) + ("" if is_finished(c, tokenizer) else " ..."), float(g))
        for p, c, g in zip(prompts, completions, gold)
    ]
