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
- :mod:`~rlhf_lite.lm.objectives`: pure loss functions (DPO, per-token KL, best-of-n KL);
- :mod:`~rlhf_lite.lm.reward`: the reward model on pairs of completions (Bradley-Terry, a head on the LM);
- :mod:`~rlhf_lite.lm.evaluation`: the one way every method is measured (gold win rate against the reference,
  KL from it, proxy reward);
- :mod:`~rlhf_lite.lm.bon`, :mod:`~rlhf_lite.lm.ppo`, :mod:`~rlhf_lite.lm.dpo`, :mod:`~rlhf_lite.lm.grpo`: the
  methods (best-of-n, PPO with a per-token KL penalty, DPO, GRPO);
- :mod:`~rlhf_lite.lm.experiment`: the shared start (reference, labels, reward model, eval set), headless;
  ``python benchmarks/lm_rlhf.py`` runs it.
"""
