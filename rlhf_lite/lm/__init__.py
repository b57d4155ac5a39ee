"""RLHF for text: a tiny language model trained here, its tokenizer and corpus, and a gold judge.

- :mod:`~rlhf_lite.lm.corpus`: short chat turns made from a small grammar (reviews, requests to comply with or
  decline), each with its ground-truth attributes;
- :mod:`~rlhf_lite.lm.tokenizer`: a word-level tokenizer over the grammar's vocabulary;
- :mod:`~rlhf_lite.lm.judge`: the gold judge (what the person wants, never seen by the learner) and a simulated
  labeler built on it;
- :mod:`~rlhf_lite.lm.model`: a decoder-only transformer with a KV cache, sampling, log-probabilities of given
  completions and features for a reward head;
- :mod:`~rlhf_lite.lm.pretrain`: pretraining from scratch on generated text (timed by
  ``benchmarks/lm_pretrain.py``);
- :mod:`~rlhf_lite.lm.objectives`: pure loss functions (DPO, per-token KL, best-of-n KL).
"""
