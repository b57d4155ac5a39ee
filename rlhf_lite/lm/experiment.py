"""The shared start of every text method: the reference model, labelled pairs, a reward model, an eval set.

:func:`prepare` does what lesson 06 does before any method runs, headless: load the shipped LM (the reference,
frozen from here on), sample ``labels`` pairs of its completions, have them answered (a
:class:`~rlhf_lite.lm.judge.SimulatedLabeler` from the gold judge with a noise rate, unless a labeler is given:
the reader's answers in a store replay the same way), train the reward model on the records, and draw the
held-out eval prompts. Each part has its own random stream spawned from ``seed``.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from rlhf_lite import labelers
from rlhf_lite.label_store import LabelStore
from rlhf_lite.lm import evaluation, judge, reward
from rlhf_lite.lm.model import SHIPPED_CHECKPOINT, TinyLM, load
from rlhf_lite.lm.tokenizer import Tokenizer
from rlhf_lite.preferences import PreferenceRecord

__all__ = ["TextSetup", "prepare"]


@dataclasses.dataclass
class TextSetup:
    """Everything the methods share: ``reference`` (frozen LM) and ``tokenizer``; ``records`` (the answers);
    ``reward_model`` trained on them and its ``reward_accuracy`` on fresh pairs against the gold judge;
    ``eval_set`` (held-out prompts with a reference completion each); ``labeler`` (its name says who answered);
    ``seconds`` per stage."""

    reference: TinyLM
    tokenizer: Tokenizer
    records: list[PreferenceRecord]
    reward_model: reward.TextRewardModel
    reward_accuracy: float
    eval_set: evaluation.EvalSet
    labeler: str
    seconds: dict[str, float]


def prepare(
    labels: int = 40,
    seed: int = 0,
    *,
    noise_prob: float = 0.1,
    labeler: labelers.SyncLabeler | None = None,
    store: LabelStore | None = None,
    reward_config: reward.RewardConfig | None = None,
    eval_prompts: int = 400,
    accuracy_pairs: int = 400,
    checkpoint: str | Path = SHIPPED_CHECKPOINT,
    progress: bool = True,
) -> TextSetup:
    """Reference, ``labels`` answered pairs, reward model, eval set (see the module docstring).

    ``labeler`` defaults to ``SimulatedLabeler(noise_prob, rng)``; ``store`` (a text
    :class:`~rlhf_lite.label_store.LabelStore`) receives every answer as it comes."""
    if isinstance(labels, bool) or not isinstance(labels, int) or labels < 1:
        raise ValueError(f"labels={labels!r} is not allowed: expected a whole number >= 1")
    pair_rng, label_rng, acc_rng, eval_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4))
    seconds: dict[str, float] = {}
    t = time.perf_counter()
    reference, tokenizer, _ = load(checkpoint)
    for p in reference.parameters():
        p.requires_grad_(False)
    labeler = labeler or judge.SimulatedLabeler(noise_prob, label_rng)
    pairs = reward.sample_label_pairs(reference, tokenizer, labels, pair_rng)
    records = labelers.label_pairs(labeler, pairs, store, progress=progress)
    seconds["labels"] = time.perf_counter() - t
    t = time.perf_counter()
    reward_model = reward.train_reward_model(records, reference, tokenizer, reward_config, seed=seed, progress=progress)
    seconds["reward_model"] = time.perf_counter() - t
    t = time.perf_counter()
    accuracy = reward.held_out_accuracy(reward_model, reference, tokenizer, acc_rng, accuracy_pairs)
    eval_set = evaluation.make_eval_set(reference, tokenizer, eval_prompts, eval_rng)
    seconds["measure"] = time.perf_counter() - t
    return TextSetup(reference, tokenizer, records, reward_model, accuracy, eval_set, labeler.name, seconds)
