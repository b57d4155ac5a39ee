"""Pretraining the tiny language model from scratch on generated text (``python benchmarks/lm_pretrain.py``
measures how long it takes and how well-formed the samples are).

Pretraining is plain next-token prediction on whole turns, prompt and completion alike: the model learns the
grammar and the careless writer's habits (it complies with harmful requests, it is rude half the time), not
what the person wants. That gap is what the later RLHF steps close.

To remake the shipped checkpoint ``data/tiny_lm.pt`` + ``data/tiny_lm.json``::

    python -m rlhf_lite.lm.pretrain --seed 0 --out data/tiny_lm
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from rlhf_lite.config import Config, param
from rlhf_lite.lm import corpus, judge
from rlhf_lite.lm.model import LMConfig, TinyLM, generate
from rlhf_lite.lm.tokenizer import Tokenizer

__all__ = ["PretrainConfig", "PretrainResult", "pretrain", "encode_texts", "lm_loss", "sample_quality"]


@dataclasses.dataclass
class PretrainConfig(Config):
    """How the tiny LM is pretrained; ``python benchmarks/lm_pretrain.py`` measures what the defaults reach."""

    steps: int = param(600, "optimizer steps", low=1, high=1_000_000)
    batch_size: int = param(32, "texts per step", low=1, high=4096)
    learning_rate: float = param(
        5e-3, "peak AdamW step size (linear warm-up, then cosine decay to 10%)", low=0.0, high=1.0, low_open=True
    )
    warmup_steps: int = param(50, "steps of linear learning-rate warm-up", low=0, high=100_000)
    weight_decay: float = param(0.01, "AdamW weight decay", low=0.0, high=1.0)
    grad_clip: float = param(1.0, "clip the gradient's global norm to this", low=0.0, high=100.0, low_open=True)
    n_train: int = param(20_000, "generated texts to train on", low=1, high=10_000_000)
    n_val: int = param(1_000, "held-out generated texts for the validation loss", low=1, high=1_000_000)


@dataclasses.dataclass
class PretrainResult:
    """The trained model (eval mode), its tokenizer, the training loss per step and the final validation loss."""

    model: TinyLM
    tokenizer: Tokenizer
    history: list[float]
    val_loss: float
    wall_s: float


def encode_texts(texts: Sequence[corpus.Text], tokenizer: Tokenizer) -> torch.Tensor:
    """``[N, T]`` ids of ``<bos> prompt completion <eos>``, right-padded with ``<pad>`` to the longest text."""
    seqs = [tokenizer.encode(t.text, bos=True, eos=True) for t in texts]
    ids = torch.full((len(seqs), max(len(s) for s in seqs)), tokenizer.pad_id, dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
    return ids


def lm_loss(model: TinyLM, ids: torch.Tensor, pad_id: int = 0) -> torch.Tensor:
    """Mean next-token cross-entropy (nats per token) of ``ids [B, T]``, pads excluded as targets."""
    ids = ids[:, : int((ids != pad_id).sum(1).max())]  # drop all-pad columns
    logits, _, _ = model(ids[:, :-1])
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), ignore_index=pad_id)


def _lr(step: int, cfg: PretrainConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.learning_rate * (step + 1) / cfg.warmup_steps
    t = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))


def pretrain(
    config: PretrainConfig | None = None, lm_config: LMConfig | None = None, *, seed: int = 0, progress: bool = True
) -> PretrainResult:
    """Train a fresh :class:`TinyLM` on ``config.n_train`` generated texts; ``seed`` fixes texts, weights, order.

    A ``tqdm.auto`` bar shows the loss unless ``progress=False``. The validation texts come from a separate
    stream of the same seed, so they are held out (up to the chance that the grammar repeats a short text)."""
    from tqdm.auto import tqdm

    config = config or PretrainConfig()
    tokenizer = Tokenizer.from_corpus()
    lm_config = (lm_config or LMConfig()).replace(vocab_size=len(tokenizer))
    train_rng, val_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    start = time.perf_counter()
    train = encode_texts(corpus.sample_texts(config.n_train, train_rng), tokenizer)
    val = encode_texts(corpus.sample_texts(config.n_val, val_rng), tokenizer)
    if train.shape[1] > lm_config.block_size or val.shape[1] > lm_config.block_size:
        longest = max(train.shape[1], val.shape[1])
        raise ValueError(f"texts of {longest} tokens exceed LMConfig.block_size={lm_config.block_size}")
    g = torch.Generator().manual_seed(seed)  # initial weights, then batch order
    model = TinyLM(lm_config, generator=g)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "emb" not in n]
    other = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "emb" not in n)]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": other, "weight_decay": 0.0}],
        lr=config.learning_rate,
        betas=(0.9, 0.98),
    )
    history: list[float] = []
    model.train()
    bar = tqdm(range(config.steps), desc="pretraining the tiny LM", unit="step", disable=not progress, leave=False)
    for step in bar:
        for group in opt.param_groups:
            group["lr"] = _lr(step, config)
        batch = train[torch.randint(len(train), (config.batch_size,), generator=g)]
        loss = lm_loss(model, batch, tokenizer.pad_id)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        opt.step()
        history.append(loss.item())
        if step % 20 == 0:
            bar.set_postfix(loss=f"{history[-1]:.3f}")
    bar.close()
    model.eval()
    with torch.no_grad():
        val_loss = float(lm_loss(model, val, tokenizer.pad_id))
    return PretrainResult(model, tokenizer, history, val_loss, time.perf_counter() - start)


def sample_quality(
    model: TinyLM, tokenizer: Tokenizer, rng: np.random.Generator, n: int = 200, *, temperature: float = 1.0
) -> dict[str, float]:
    """Sample completions for ``n`` generated prompts; the gold judge's verdict on them.

    Returns ``well_formed`` (share that parse), ``gold_score`` (mean), ``tokens`` (sampled, eos included),
    ``tokens_per_s`` (sampling speed, KV cache on) and ``sample_s``."""
    prompts = [corpus.sample_prompt(rng)[0] for _ in range(n)]
    ids = [tokenizer.encode(p, bos=True) for p in prompts]
    start = time.perf_counter()
    completions = generate(model, ids, rng, temperature=temperature, eos_id=tokenizer.eos_id)
    seconds = time.perf_counter() - start
    texts = [tokenizer.decode(c) for c in completions]
    finished = [bool(c) and c[-1] == tokenizer.eos_id for c in completions]
    parsed = [judge.parse(p, t) if ok else None for p, t, ok in zip(prompts, texts, finished)]
    tokens = sum(len(c) for c in completions)
    return {
        "well_formed": float(np.mean([a is not None for a in parsed])),
        "gold_score": float(np.mean([judge.score_attributes(a) for a in parsed])),
        "tokens": tokens,
        "tokens_per_s": tokens / seconds,
        "sample_s": seconds,
    }


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: pretrain and save a checkpoint that records the command and seed that made it."""
    p = argparse.ArgumentParser(description="Pretrain the tiny LM and save it (weights .pt + config .json).")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="data/tiny_lm", help="path without suffix: writes OUT.pt and OUT.json")
    p.add_argument("--steps", type=int, default=PretrainConfig().steps)
    args = p.parse_args(argv)
    from rlhf_lite.lm import model as lm_model

    torch.set_num_threads(1)
    result = pretrain(PretrainConfig(steps=args.steps), seed=args.seed)
    quality = sample_quality(result.model, result.tokenizer, np.random.default_rng(args.seed + 1000))
    meta = {
        "made_by": "rlhf_lite/lm/pretrain.py (a script; no person, no download)",
        "command": "python -m rlhf_lite.lm.pretrain " + " ".join(argv if argv is not None else sys.argv[1:]),
        "seed": args.seed,
        "pretrain_config": PretrainConfig(steps=args.steps).to_dict(),
        "val_loss": round(result.val_loss, 4),
        "well_formed": quality["well_formed"],
        "torch": torch.__version__,
    }
    path = lm_model.save(result.model, result.tokenizer, args.out, meta)
    print(
        f"saved {path} (val loss {result.val_loss:.3f}, {quality['well_formed']:.0%} well-formed, "
        f"{result.wall_s:.1f} s)"
    )


if __name__ == "__main__":
    main()
