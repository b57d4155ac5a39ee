"""Pretraining the tiny language model of lesson 06 from scratch. Prints ONE JSON line.

    python benchmarks/lm_pretrain.py --seed 0

Trains ``rlhf_lite.lm.pretrain.pretrain`` at its defaults (``PretrainConfig()``, ``LMConfig()``) on generated
text, one torch thread, then samples completions for 400 generated prompts at temperature 1 and asks the gold
judge how many are sentences of the grammar. Reports ``wall_s`` (pretraining, data generation included),
``val_loss`` (nats per token on held-out texts), ``well_formed`` (share of samples that parse), ``gold_score``
(their mean gold score) and ``tokens_per_s`` (sampling speed with the KV cache). Target: ``wall_s`` <= 60 with
``well_formed`` >= 0.9. ``RLHF_LITE_FAST=1`` shrinks it to a smoke run (30 steps, 50 samples).
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
from _common import emit, setup_torch  # noqa: E402

from rlhf_lite.config import fast_mode  # noqa: E402
from rlhf_lite.lm import pretrain  # noqa: E402
from rlhf_lite.lm.model import LMConfig  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--samples", type=int, default=400, help="prompts sampled for the well-formed share")
    args = p.parse_args()
    startup_s = setup_torch()  # one thread; one-off imports, outside every timer

    config = pretrain.PretrainConfig(steps=30, n_train=500, n_val=100) if fast_mode() else pretrain.PretrainConfig()
    n_samples = 50 if fast_mode() else args.samples
    result = pretrain.pretrain(config, seed=args.seed, progress=False)
    quality = pretrain.sample_quality(
        result.model, result.tokenizer, np.random.default_rng(10_000 + args.seed), n_samples
    )
    emit(
        {
            "benchmark": "lm_pretrain",
            "seed": args.seed,
            "fast": fast_mode(),
            "steps": config.steps,
            "batch_size": config.batch_size,
            "parameters": result.model.num_parameters(),
            "lm_config": LMConfig().replace(vocab_size=len(result.tokenizer)).to_dict(),
            "wall_s": round(result.wall_s, 2),
            "val_loss": round(result.val_loss, 4),
            "final_train_loss": round(float(np.mean(result.history[-20:])), 4),
            "samples": n_samples,
            "well_formed": round(quality["well_formed"], 4),
            "gold_score": round(quality["gold_score"], 4),
            "tokens_per_s": round(quality["tokens_per_s"], 1),
            "startup_s": startup_s,
        }
    )


if __name__ == "__main__":
    main()
