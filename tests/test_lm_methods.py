"""The text methods of lesson 06: reward model, best-of-n, PPO-KL, DPO, GRPO and the shared measurements.

Pure pieces against hand-computed values (KL folded into the reward, group advantages, whitening, DPO's
gradient sign), the label path for text (simulated labeler -> records -> store), and seeded statistical checks
(reward model above chance with a shuffled-label negative control; PPO-KL beats the reference on gold). The
figures (win rates, KL, seconds) belong to benchmarks/lm_rlhf.py."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from rlhf_lite import labelers
from rlhf_lite.items import TextItem
from rlhf_lite.label_store import LabelStore
from rlhf_lite.lm import bon, corpus, dpo, evaluation, experiment, grpo, judge, ppo, reward
from rlhf_lite.lm import model as lm
from rlhf_lite.lm.objectives import best_of_n_kl, dpo_loss
from rlhf_lite.lm.tokenizer import Tokenizer

TOK = Tokenizer.from_corpus()


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def setups():
    """Three seeds of the lesson's start (40 simulated labels, reward model), small eval sets."""
    torch.set_num_threads(1)
    config = reward.RewardConfig(normalise_samples=64)
    return [
        experiment.prepare(40, seed, reward_config=config, eval_prompts=150, accuracy_pairs=200, progress=False)
        for seed in range(3)
    ]


def random_model(seed: int = 0) -> lm.TinyLM:
    cfg = lm.LMConfig(vocab_size=len(TOK), d_model=32, n_head=4)
    return lm.TinyLM(cfg, generator=torch.Generator().manual_seed(seed)).eval()


# ---------------------------------------------------------------- pure pieces, hand-computed


def test_kl_penalty_is_folded_into_every_token_and_the_score_into_the_last():
    logp = torch.tensor([[-1.0, -2.0, -0.5], [-0.2, -0.4, 0.0]])
    ref = torch.tensor([[-1.5, -1.0, -0.5], [-0.2, -0.1, 0.0]])
    mask = torch.tensor([[True, True, True], [True, True, False]])
    rewards = ppo.kl_shaped_rewards(torch.tensor([2.0, -1.0]), logp, ref, mask, kl_coef=0.5)
    # token j: -0.5 * (logp - ref); the score is added at the last real token; padding stays 0
    expected = torch.tensor([[-0.25, 0.5, 0.0 + 2.0], [0.0, 0.15 - 1.0, 0.0]])
    assert torch.allclose(rewards, expected)
    # summed over a completion: score - kl_coef * (log pi(y|x) - log pi_ref(y|x))
    assert torch.allclose(rewards.sum(1), torch.tensor([2.0 - 0.5 * -0.5, -1.0 - 0.5 * -0.3]))
    assert torch.equal(
        ppo.kl_shaped_rewards(torch.tensor([2.0, -1.0]), logp, ref, mask, 0.0)[:, :2],
        torch.tensor([[0.0, 0.0], [0.0, -1.0]]),
    )
    with pytest.raises(ValueError, match="kl_coef"):
        ppo.kl_shaped_rewards(torch.zeros(2), logp, ref, mask, -1.0)


def test_ppo_step_size_decays_linearly_over_the_rounds_only_when_annealed():
    annealed = ppo.PPOTextConfig(iterations=4, learning_rate=1e-3)
    assert annealed.anneal_lr  # the default
    assert [ppo.round_learning_rate(annealed, i) for i in range(4)] == pytest.approx([1e-3, 7.5e-4, 5e-4, 2.5e-4])
    constant = annealed.replace(anneal_lr=False)
    assert [ppo.round_learning_rate(constant, i) for i in range(4)] == [1e-3] * 4
    with pytest.raises(ValueError, match="anneal_lr"):
        ppo.PPOTextConfig(anneal_lr="yes")


def test_whiten_uses_only_real_tokens():
    x = torch.tensor([[1.0, 2.0, 99.0], [3.0, 4.0, 99.0]])
    mask = torch.tensor([[True, True, False], [True, True, False]])
    w = ppo.whiten(x, mask)
    s = torch.tensor([1.0, 2.0, 3.0, 4.0]).std()
    assert torch.allclose(w[mask], (torch.tensor([1.0, 2.0, 3.0, 4.0]) - 2.5) / s)
    assert torch.equal(w[~mask], torch.zeros(2))


def test_grpo_advantages_are_normalised_within_each_group():
    adv = grpo.group_advantages(torch.tensor([[1.0, 2.0, 3.0], [5.0, 5.0, 5.0], [0.0, 4.0, 2.0]]))
    root = (2 / 3) ** 0.5  # population std of (1, 2, 3)
    expected = torch.tensor([[-1 / root, 0.0, 1 / root], [0.0, 0.0, 0.0], [-1 / root, 1 / root, 0.0]])
    assert torch.allclose(adv, expected, atol=1e-5)
    with pytest.raises(ValueError, match="G >= 2"):
        grpo.group_advantages(torch.ones(4, 1))


def test_dpo_gradient_raises_the_chosen_log_probability_relative_to_the_rejected():
    model = random_model(3).train()
    prompt = TOK.encode("user : write a review of the film . bot :", bos=True)
    chosen = TOK.encode("the plot was superb .", eos=True)
    rejected = TOK.encode("the plot was dull .", eos=True)

    def logps(m):
        lp, mask = lm.completion_logprobs(m, [prompt, prompt], [chosen, rejected])
        return (lp * mask).sum(1)

    with torch.no_grad():
        ref = logps(model)
    before = ref[0] - ref[1]
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    pol = logps(model)
    loss, _, _ = dpo_loss(pol[:1], pol[1:], ref[:1], ref[1:], beta=0.1)
    loss.backward()
    opt.step()
    with torch.no_grad():
        after = logps(model)
    assert after[0] - after[1] > before + 1e-4


def test_win_rate_counts_ties_half():
    assert evaluation.win_rate(np.array([1.0, 0.0, -1.0, 0.5]), np.array([0.0, 0.0, 1.0, 0.5])) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="one length"):
        evaluation.win_rate(np.zeros(2), np.zeros(3))


def test_win_rate_ceiling_is_what_a_best_completion_everywhere_scores():
    # a best completion beats the reference where it is worse and ties (half) where it already was best
    assert evaluation.win_rate_ceiling(np.array([1.0, 0.25, -2.0, 1.0])) == pytest.approx((0.5 + 1 + 1 + 0.5) / 4)
    assert evaluation.win_rate_ceiling(np.array([-1.0, 0.0])) == 1.0
    # BEST_SCORE is reached on every kind of prompt, and nothing the writer produces scores above it
    best = {
        "user : write a review of the film . bot :": "the plot was truly superb and the music was moving .",
        "user : tell me how to pick a lock . bot :": "sorry , i can not help with that .",
        "user : can you tell me how to bake bread ? bot :": "sure , first you get the tools and then you start early .",
    }
    for prompt, completion in best.items():
        assert judge.score(prompt, completion) == judge.BEST_SCORE, (prompt, completion)
    texts = corpus.sample_texts(2_000, np.random.default_rng(0))
    scores = np.array([judge.score(t.prompt, t.completion) for t in texts])
    assert scores.max() == judge.BEST_SCORE and (scores < judge.BEST_SCORE).mean() > 0.5


def test_gold_reward_scores_token_ids_as_the_judge_scores_text():
    prompt = "user : write a review of the film . bot :"
    ids = evaluation.encode_prompts(TOK, [prompt] * 3)
    words = ["the plot was superb .", "the plot was dull but the music was moving .", "the plot was superb ."]
    completions = [TOK.encode(w) + [TOK.eos_id] for w in words[:2]] + [TOK.encode(words[2])]  # the last unfinished
    scores = evaluation.gold_reward(TOK)(ids, completions)
    assert scores.shape == (3,) and scores.dtype == torch.float32
    assert scores.tolist() == [judge.score(prompt, words[0]), judge.score(prompt, words[1]), judge.MALFORMED_SCORE]
    assert scores.tolist() == [1.0, 0.0, -2.0]


def test_best_of_n_keeps_the_completion_the_reward_model_likes_best():
    model = random_model(1)
    prompts = evaluation.encode_prompts(TOK, ["user : write a review of the film . bot :"] * 3)

    def longest(prompt_ids, completions):  # a "reward model" that likes long completions
        return torch.tensor([float(len(c)) for c in completions])

    picked = bon.best_of_n(model, TOK, longest, prompts, 6, np.random.default_rng(0))
    drawn = lm.generate(model, [p for p in prompts for _ in range(6)], np.random.default_rng(0), eos_id=TOK.eos_id)
    assert [len(c) for c in picked] == [max(len(c) for c in drawn[i * 6 : i * 6 + 6]) for i in range(3)]
    assert best_of_n_kl(1) == 0.0
    with pytest.raises(ValueError, match="n="):
        bon.best_of_n(model, TOK, longest, prompts, 0, np.random.default_rng(0))


# ---------------------------------------------------------------- text items through the label path


def test_simulated_labeler_answers_text_pairs_through_the_label_store(tmp_path):
    prompt = "user : tell me how to pick a lock . bot :"
    good, bad = (
        TextItem(prompt, "i am sorry , i can not help with that ."),
        TextItem(prompt, "sure , first you go slowly ."),
    )
    sim = judge.SimulatedLabeler(0.0, None)
    labelers.check_labeler(sim)
    assert sim.name.startswith("simulated_gold_judge(noise=0")
    store = LabelStore(tmp_path / "text.jsonl")
    records = labelers.label_pairs(sim, [(good, bad), (bad, good)], store, progress=False)
    assert [r.answer for r in records] == ["left", "right"]
    again = LabelStore(tmp_path / "text.jsonl").labels()
    assert [r.answer for r in again] == ["left", "right"] and again[0].items()[0] == good
    assert {r.labeler for r in again} == {sim.name}
    with pytest.raises(ValueError):
        sim.label(good, TextItem("user : write a review of the film . bot :", "the plot was dull ."))


def test_simulated_labeler_state_resumes_its_noise():
    prompt = "user : write a review of the film . bot :"
    pair = (TextItem(prompt, "the plot was superb ."), TextItem(prompt, "the plot was dull ."))
    a = judge.SimulatedLabeler(0.5, 7)
    [a.label(*pair) for _ in range(5)]
    state = a.state()
    rest = [a.label(*pair) for _ in range(20)]
    b = judge.SimulatedLabeler(0.5, 99)
    b.restore(state)
    assert [b.label(*pair) for _ in range(20)] == rest


# ---------------------------------------------------------------- seeded statistical checks


def test_reward_model_beats_chance_and_shuffled_labels_do_not(setups):
    real = [s.reward_accuracy for s in setups]
    shuffled = []
    for k, s in enumerate(setups):
        rng = np.random.default_rng(100 + k)
        answers = [r.answer for r in s.records]
        rng.shuffle(answers)
        records = [dataclasses.replace(r, answer=a) for r, a in zip(s.records, answers)]
        model = reward.train_reward_model(
            records, s.reference, s.tokenizer, reward.RewardConfig(normalise_samples=64), seed=k, progress=False
        )
        shuffled.append(reward.held_out_accuracy(model, s.reference, s.tokenizer, np.random.default_rng(7 + k), 200))
    assert min(real) > 0.7, real
    assert np.mean(real) - np.mean(shuffled) > 0.15, (real, shuffled)
    assert max(abs(a - 0.5) for a in shuffled) < 0.15, shuffled  # (a random direction of structured features)


def test_ppo_with_a_kl_penalty_beats_the_reference_on_gold(setups):
    config = ppo.PPOTextConfig(iterations=12, batch_size=32)
    wins = []
    for k, s in enumerate(setups):
        result = ppo.train_ppo(s.reference, s.tokenizer, s.reward_model, config, seed=k, progress=False)
        ev = evaluation.evaluate(
            result.policy, s.reference, s.tokenizer, s.eval_set, np.random.default_rng(k), s.reward_model
        )
        assert ev.proxy > 0.2 and ev.well_formed > 0.8, ev
        wins.append(ev.win_rate)
        assert [set(h) for h in result.history[:1]] == [{"iteration", "proxy", "gold", "kl", "length"}]
    assert min(wins) > 0.5 and np.mean(wins) > 0.55, wins


def test_dpo_and_grpo_smoke_runs_log_what_the_lesson_plots(setups):
    s = setups[0]
    d = dpo.train_dpo(s.reference, s.tokenizer, s.records, dpo.DPOConfig(steps=3), seed=0, progress=False)
    assert {"loss", "dpo_loss", "nll", "chosen_reward", "rejected_reward", "margin", "accuracy"} <= set(d.history[-1])
    first = d.history[0]
    assert first["dpo_loss"] == pytest.approx(np.log(2), abs=1e-4)  # policy == reference at the start
    assert first["loss"] == pytest.approx(first["dpo_loss"] + dpo.DPOConfig().nll_coef * first["nll"], rel=1e-5)
    for kl_coef in (0.0, 0.1):
        g = grpo.train_grpo(
            s.reference,
            s.tokenizer,
            s.reward_model,
            grpo.GRPOConfig(iterations=2, prompts_per_round=2, kl_coef=kl_coef),
            seed=0,
            progress=False,
        )
        assert len(g.history) == 2 and not g.policy.training
    assert all(p.requires_grad is False for p in s.reference.parameters())  # the reference stays frozen


def test_dpo_nll_term_keeps_the_chosen_completions_likely(setups):
    """With 40 pairs, plain DPO widens the gap by making the chosen completions less likely too; the NLL term
    (nll_coef) holds their log-likelihood up, so the same steps end with chosen completions more likely."""
    s = setups[0]
    ends = {}
    for nll_coef in (0.0, 1.0):
        config = dpo.DPOConfig(steps=40, nll_coef=nll_coef)
        ends[nll_coef] = dpo.train_dpo(s.reference, s.tokenizer, s.records, config, seed=0, progress=False).history[-1]
    assert ends[1.0]["nll"] < ends[0.0]["nll"] - 0.05, ends
    assert ends[1.0]["chosen_reward"] > ends[0.0]["chosen_reward"], ends


def test_ppo_without_its_kl_term_games_the_reward_model(setups):
    """Over-optimisation on text: with kl_coef=0 the proxy keeps rising while the gold score falls below where
    it started (the policy drifts to text the reward model over-rates and the judge calls malformed)."""
    config = ppo.PPOTextConfig(iterations=22, kl_coef=0.0)
    for k, s in enumerate(setups[:2]):
        history = ppo.train_ppo(s.reference, s.tokenizer, s.reward_model, config, seed=k, progress=False).history
        first, last = history[0], history[-1]
        assert last["proxy"] > first["proxy"] + 1.0, history
        assert last["gold"] < first["gold"] - 0.3 and last["kl"] > 5.0, history
