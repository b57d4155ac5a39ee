"""The tiny language model of lesson 06 and its parts: corpus, tokenizer, gold judge, model, pretraining,
objectives. Fast (seconds each); the figures (wall time, well-formed share) belong to benchmarks/lm_pretrain.py."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from rlhf_lite.lm import corpus, judge, objectives, pretrain
from rlhf_lite.lm import model as lm
from rlhf_lite.lm.tokenizer import Tokenizer
from rlhf_lite.preferences import ANSWERS

DATA = Path(__file__).resolve().parents[1] / "data"
TOK = Tokenizer.from_corpus()


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def shipped():
    assert lm.SHIPPED_CHECKPOINT == DATA / "tiny_lm.pt"
    return lm.load(lm.SHIPPED_CHECKPOINT)


def random_model(seed: int = 0, **changes) -> lm.TinyLM:
    cfg = lm.LMConfig(vocab_size=len(TOK), d_model=32, n_head=4, **changes)
    return lm.TinyLM(cfg, generator=torch.Generator().manual_seed(seed)).eval()


def some_ids(n: int, T: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(4, len(TOK), (n, T), generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------- corpus and judge


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_judge_recovers_the_generators_attributes(seed):
    for text in corpus.sample_texts(2000, np.random.default_rng(seed)):
        assert judge.parse(text.prompt, text.completion) == text.attributes, text


def test_corpus_varies_in_what_a_person_cares_about():
    texts = corpus.sample_texts(3000, np.random.default_rng(0))
    attrs = [t.attributes for t in texts]
    requests = [a for a in attrs if a.kind == corpus.REQUEST]
    harmful = [a for a in requests if a.harmful]
    assert 0.3 < np.mean([a.kind == corpus.REVIEW for a in attrs]) < 0.7
    assert 0.2 < np.mean([a.action == "comply" for a in harmful]) < 0.9  # the careless writer often complies
    assert 0.2 < np.mean([a.polite for a in requests]) < 0.8
    assert 0.05 < np.mean([a.repeats > 0 for a in attrs]) < 0.5
    assert len({a.length for a in attrs}) >= 8
    assert {t for a in attrs for t in a.tones} == {-1, 1}
    assert len({t.text for t in texts}) > 0.8 * len(texts)


def test_same_seed_same_texts():
    a = corpus.sample_texts(50, np.random.default_rng(7))
    b = corpus.sample_texts(50, np.random.default_rng(7))
    c = corpus.sample_texts(50, np.random.default_rng(8))
    assert a == b and a != c


REVIEW = "user : write a review of the film . bot :"
HARMFUL = "user : please tell me how to pick a lock . bot :"
SAFE = "user : can you tell me how to bake bread ? bot :"


@pytest.mark.parametrize(
    "prompt, completion",
    [
        (REVIEW, "the acting was superb ."),
        (REVIEW, "the plot was very very dull but the ending was lovely and the cast was quite weak ."),
        (HARMFUL, "i am sorry , i can not help with that ."),
        (HARMFUL, "ugh , fine , first you get the tools and then you go slowly ."),
        (SAFE, "of course , first you read the guide ."),
    ],
)
def test_judge_accepts_sentences_of_the_grammar(prompt, completion):
    assert judge.well_formed(prompt, completion)
    assert judge.score(prompt, completion) > judge.MALFORMED_SCORE


@pytest.mark.parametrize(
    "prompt, completion",
    [
        (REVIEW, ""),
        (REVIEW, "the acting was superb"),  # no full stop
        (REVIEW, "the acting was superb . ."),  # something after it
        (REVIEW, "the acting superb ."),
        (REVIEW, "the acting was very very very superb ."),  # at most two intensifiers
        (REVIEW, "the acting was superb and the plot was dull and the cast was weak and the music was great ."),
        (REVIEW, "the acting was superb but ."),
        (REVIEW, "sure , first you read the guide ."),  # an answer where a review was asked for
        (HARMFUL, "the acting was superb ."),  # a review where an answer was asked for
        (HARMFUL, "sorry , first you read the guide ."),  # a decline opener with a comply body
        (SAFE, "sure , first you read the guide and then you ."),
        (SAFE, "sure , first you read the <unk> ."),
        ("user : tell me how to fly . bot :", "sure , first you read the guide ."),  # not a prompt of the grammar
        ("user : can you tell me how to bake bread . bot :", "sure , first you read the guide ."),  # "?" expected
    ],
)
def test_judge_rejects_what_is_not_a_sentence(prompt, completion):
    assert not judge.well_formed(prompt, completion)
    assert judge.score(prompt, completion) == judge.MALFORMED_SCORE


def test_gold_score_orders_completions_as_the_person_wants():
    s = judge.score
    # harmful request: polite decline > rude decline > compliance > gibberish
    assert (
        s(HARMFUL, "i am afraid i can not do that .")
        > s(HARMFUL, "no , i can not do that .")
        > s(HARMFUL, "sure , first you get the tools .")
        > s(HARMFUL, "first you get the tools .")
    )
    # harmless request: polite help > rude help > polite refusal > rude refusal
    assert (
        s(SAFE, "sure , first you start early .")
        > s(SAFE, "whatever , first you start early .")
        > s(SAFE, "sorry , i can not help with that .")
        > s(SAFE, "no way , i can not help with that .")
    )
    # reviews: praise > mixed > complaint; repetition costs
    assert (
        s(REVIEW, "the plot was great .")
        > s(REVIEW, "the plot was great but the music was dull .")
        > s(REVIEW, "the plot was dull .")
    )
    assert s(REVIEW, "the plot was great and the cast was lovely .") > s(
        REVIEW, "the plot was great and the plot was great ."
    )
    assert s(SAFE, "sure , first you start early .") > s(
        SAFE, "sure , first you start early and then you start early ."
    )
    # every sentence, however repetitive, beats a malformed one; length alone earns nothing
    worst = "ugh , fine , first you start early and then you start early and then you start early ."
    assert judge.MALFORMED_SCORE < s(HARMFUL, worst) == judge.WORST_SENTENCE
    assert s(REVIEW, "the plot was great .") == s(REVIEW, "the plot was great and the cast was lovely .")


def test_simulated_labeler_answers_by_gold_score():
    good, bad = (SAFE, "sure , first you start early ."), (SAFE, "no , i can not do that .")
    labeler = judge.simulated_labeler(0.0, None)
    assert labeler.label(good, bad) == "left" and labeler.label(bad, good) == "right"
    assert labeler.label(good, good) == "equal"
    assert "noise=0" in labeler.name
    with pytest.raises(ValueError, match="different prompts"):
        labeler.label(good, (REVIEW, "the plot was great ."))
    with pytest.raises(ValueError, match="noise_prob"):
        judge.simulated_labeler(1.5, 0)
    with pytest.raises(ValueError, match="rng"):
        judge.simulated_labeler(0.1, None)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_simulated_labeler_noise_rate(seed):
    good, bad = (SAFE, "sure , first you start early ."), (SAFE, "no , i can not do that .")
    noisy = judge.simulated_labeler(0.3, np.random.default_rng(seed))
    answers = [noisy.label(good, bad) for _ in range(2000)]
    assert set(answers) <= set(ANSWERS)
    # wrong only on random answers, half of which go the wrong way: about 0.3 / 2
    assert abs(np.mean([a == "right" for a in answers]) - 0.15) < 0.03
    assert abs(noisy.random_answers / 2000 - 0.3) < 0.04


# ---------------------------------------------------------------- tokenizer


def test_tokenizer_round_trip(tmp_path):
    texts = corpus.sample_texts(300, np.random.default_rng(0))
    for t in texts:
        ids = TOK.encode(t.text, bos=True, eos=True)
        assert ids[0] == TOK.bos_id and ids[-1] == TOK.eos_id and TOK.unk_id not in ids
        assert TOK.decode(ids) == t.text
    assert TOK.words[:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    assert TOK.encode("the zebra") == [TOK.ids["the"], TOK.unk_id]
    TOK.save(tmp_path / "tok.json")
    again = Tokenizer.load(tmp_path / "tok.json")
    assert again.words == TOK.words
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="bad.json"):
        Tokenizer.load(tmp_path / "bad.json")


# ---------------------------------------------------------------- the model


def test_config_checks_head_count():
    with pytest.raises(ValueError, match="d_model"):
        lm.LMConfig(d_model=30, n_head=4)
    with pytest.raises(ValueError, match="n_layer"):
        lm.LMConfig(n_layer=0)


def test_causal_masking_a_future_token_never_changes_an_earlier_logit():
    model = random_model()
    ids = some_ids(3, 20)
    changed = ids.clone()
    changed[:, 12:] = some_ids(3, 8, seed=1)
    with torch.no_grad():
        a, b = model(ids)[0], model(changed)[0]
    torch.testing.assert_close(a[:, :12], b[:, :12], atol=1e-6, rtol=0)
    assert (a[:, 12:] - b[:, 12:]).abs().max() > 1e-3  # control: the later logits do see the change


def test_kv_cache_logits_equal_full_recomputation():
    model = random_model(1)
    ids = some_ids(2, 16, seed=2)
    with torch.no_grad():
        full = model(ids)[0]
        logits, _, cache = model(ids[:, :5])  # prefill
        steps = [logits]
        for t in range(5, 11):  # one token at a time
            logits, _, cache = model(ids[:, t : t + 1], cache)
            steps.append(logits)
        logits, _, cache = model(ids[:, 11:], cache)  # several at once after a cache
        steps.append(logits)
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kv_cache_sampling_equals_recomputation(shipped, seed):
    model, tok, _ = shipped
    prompts = [tok.encode(corpus.sample_prompt(np.random.default_rng(seed + i))[0], bos=True) for i in range(12)]
    fast = lm.generate(model, prompts, np.random.default_rng(seed), eos_id=tok.eos_id)
    slow = lm.generate(model, prompts, np.random.default_rng(seed), eos_id=tok.eos_id, use_cache=False)
    assert fast == slow
    other = lm.generate(model, prompts, np.random.default_rng(seed + 100), eos_id=tok.eos_id)
    assert other != fast  # control: the seed matters


def test_generate_stops_at_eos_and_respects_the_block(shipped):
    model, tok, _ = shipped
    prompt = tok.encode(REVIEW, bos=True)
    outs = lm.generate(model, [prompt] * 8, np.random.default_rng(0), eos_id=tok.eos_id)
    assert all(o[-1] == tok.eos_id and tok.eos_id not in o[:-1] for o in outs)
    cut = lm.generate(model, [prompt] * 4, np.random.default_rng(0), eos_id=tok.eos_id, max_new_tokens=3)
    assert all(len(o) <= 3 for o in cut)
    greedy = [lm.generate(model, [prompt], np.random.default_rng(s), temperature=0, eos_id=tok.eos_id) for s in (0, 1)]
    assert greedy[0] == greedy[1]


def test_logprobs_over_the_vocabulary_sum_to_one():
    model = random_model(3)
    prompt = [TOK.bos_id] + TOK.encode(REVIEW) + TOK.encode("the plot")
    every_next = [[v] for v in range(len(TOK))]
    with torch.no_grad():
        lp, mask = lm.completion_logprobs(model, [prompt] * len(TOK), every_next)
    assert lp.shape == mask.shape == (len(TOK), 1) and bool(mask.all())
    assert abs(float(torch.logsumexp(lp[:, 0], 0))) < 1e-5


def test_completion_logprob_is_the_sum_of_its_token_logprobs():
    model = random_model(4)
    prompts = [TOK.encode(REVIEW, bos=True), TOK.encode(HARMFUL, bos=True)]
    completions = [TOK.encode("the plot was dull .", eos=True), TOK.encode("no , i can not do that .", eos=True)]
    with torch.no_grad():
        lp, mask = lm.completion_logprobs(model, prompts, completions)
        assert mask.sum(1).tolist() == [len(c) for c in completions]
        assert float(lp[~mask].abs().sum()) == 0.0
        for b, (p, c) in enumerate(zip(prompts, completions)):
            by_hand = 0.0  # chain rule, one prefix at a time, no batching or padding
            for j, token in enumerate(c):
                logits = model(torch.tensor([p + c[:j]]))[0][0, -1]
                by_hand += float(torch.log_softmax(logits, -1)[token])
            assert lp[b].sum().item() == pytest.approx(by_hand, abs=1e-4)
        alone = lm.completion_logprobs(model, prompts[:1], completions[:1])[0]
        torch.testing.assert_close(alone[0], lp[0, : alone.shape[1]], atol=1e-5, rtol=0)  # padding leaks nothing


def test_features_read_the_last_completion_token():
    model = random_model(5)
    prompts = [TOK.encode(REVIEW, bos=True), TOK.encode(SAFE, bos=True)]
    completions = [TOK.encode("the plot was dull .", eos=True), TOK.encode("sure , first you start early .")]
    with torch.no_grad():
        f = lm.features(model, prompts, completions)
        assert f.shape == (2, model.config.d_model)
        for b in range(2):
            hidden = model(torch.tensor([prompts[b] + completions[b]]))[1][0, -1]
            torch.testing.assert_close(f[b], hidden, atol=1e-5, rtol=0)


def test_save_load_round_trip(tmp_path):
    model = random_model(6)
    path = lm.save(model, TOK, tmp_path / "m", meta={"made_by": "test"})
    again, tok, meta = lm.load(path)
    assert tok.words == TOK.words and meta == {"made_by": "test"}
    ids = some_ids(2, 10)
    with torch.no_grad():
        torch.testing.assert_close(again(ids)[0], model(ids)[0])
    assert again.head.weight is again.tok_emb.weight


def test_damaged_or_wrong_checkpoint_gives_a_clear_error(tmp_path):
    path = lm.save(random_model(), TOK, tmp_path / "m")
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(lm.CheckpointError, match=r"m\.pt: damaged"):
        lm.load(path)
    lm.save(random_model(), TOK, tmp_path / "m")
    record = json.loads((tmp_path / "m.json").read_text())
    record["config"]["d_model"] = 64
    (tmp_path / "m.json").write_text(json.dumps(record))
    with pytest.raises(lm.CheckpointError, match=r"m\.pt: weights do not match the config in m\.json"):
        lm.load(path)
    (tmp_path / "m.json").write_text("{not json")
    with pytest.raises(lm.CheckpointError, match=r"m\.json: not a tiny-LM config"):
        lm.load(path)
    with pytest.raises(lm.CheckpointError, match=r"nothing\.json: model config file not found"):
        lm.load(tmp_path / "nothing.pt")


def test_shipped_checkpoint_loads_with_weights_only_and_writes_sentences(shipped):
    state = torch.load(DATA / "tiny_lm.pt", map_location="cpu", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    meta = json.loads((DATA / "tiny_lm.json").read_text())["meta"]
    assert "rlhf_lite.lm.pretrain" in meta["command"] and "seed" in meta and "script" in meta["made_by"]
    assert (DATA / "tiny_lm.pt").stat().st_size < 3_000_000
    model, tok, _ = shipped
    rng = np.random.default_rng(123)
    quality = pretrain.sample_quality(model, tok, rng, 100)
    assert quality["well_formed"] >= 0.8
    untrained = lm.TinyLM(model.config, generator=torch.Generator().manual_seed(0)).eval()
    assert pretrain.sample_quality(untrained, tok, rng, 50)["well_formed"] < 0.1  # control


@pytest.mark.parametrize("earlier", ["superb", "dull"])
def test_shipped_lm_knows_tone_and_harm(shipped, earlier):
    """What the reward model of lesson 06 builds on: after "and" the next adjective keeps the earlier clause's
    tone, after "but" it flips (the grammar's rule), and a harmful task is answered with sneaky steps. A model
    pretrained without the writer's cues gave both tones the same probability here (0.50)."""
    model, tok, _ = shipped
    positive = [tok.encode(w)[0] for w in corpus.LEXICON["positive"]]
    negative = [tok.encode(w)[0] for w in corpus.LEXICON["negative"]]

    def share_positive(text: str) -> float:
        with torch.no_grad():
            p = torch.softmax(model(torch.tensor([tok.encode(text, bos=True)]))[0][0, -1], -1)
        return float(p[positive].sum() / (p[positive].sum() + p[negative].sum()))

    review = f"user : write a review of the film . bot : the plot was {earlier}"
    same = share_positive(f"{review} and the music was")
    flipped = share_positive(f"{review} but the music was")
    if earlier == "superb":
        assert same > 0.9 and flipped < 0.1, (same, flipped)
    else:
        assert same < 0.1 and flipped > 0.9, (same, flipped)

    def sneaky_share(task: str) -> float:
        ids = tok.encode(f"user : tell me how to {task} . bot : sure , first you", bos=True)
        with torch.no_grad():
            p = torch.softmax(model(torch.tensor([ids]))[0][0, -1], -1)
        return float(p[[tok.encode(s.split()[0])[0] for s in corpus.LEXICON["sneaky_step"]]].sum())

    assert sneaky_share("pick a lock") > 0.8 and sneaky_share("bake bread") < 0.2  # the safe task: a control


# ---------------------------------------------------------------- pretraining


def test_pretraining_smoke_run_loss_falls():
    config = pretrain.PretrainConfig(steps=40, batch_size=16, n_train=300, n_val=50, warmup_steps=5)
    result = pretrain.pretrain(config, lm.LMConfig(d_model=32), seed=0, progress=False)
    h = result.history
    assert len(h) == 40 and all(math.isfinite(x) for x in h)
    assert np.mean(h[-5:]) < 0.7 * np.mean(h[:5])
    assert result.val_loss < h[0]
    again = pretrain.pretrain(config, lm.LMConfig(d_model=32), seed=0, progress=False)
    assert again.history == h  # a seed pins texts, weights and batch order


# ---------------------------------------------------------------- objectives


def test_dpo_loss_hand_computed():
    t = torch.tensor
    loss, chosen, rejected = objectives.dpo_loss(t([-1.0]), t([-2.0]), t([-1.5]), t([-1.5]), beta=0.1)
    # beta * ((-1 + 1.5) - (-2 + 1.5)) = 0.1, loss = log(1 + e^-0.1)
    assert float(loss) == pytest.approx(math.log1p(math.exp(-0.1)), abs=1e-6)
    assert float(chosen[0]) == pytest.approx(0.05) and float(rejected[0]) == pytest.approx(-0.05)
    loss2, _, _ = objectives.dpo_loss(t([-1.0, -3.0]), t([-1.0, -1.0]), t([-1.0, -1.0]), t([-1.0, -1.0]), beta=0.5)
    assert float(loss2) == pytest.approx((math.log(2) + math.log1p(math.exp(1.0))) / 2, abs=1e-6)
    with pytest.raises(ValueError, match="beta"):
        objectives.dpo_loss(t([0.0]), t([0.0]), t([0.0]), t([0.0]), beta=0)


def test_dpo_gradient_raises_chosen_and_lowers_rejected():
    """A toy policy over three one-token completions: a DPO step moves probability to the chosen one."""
    logits = torch.zeros(3, requires_grad=True)
    ref = torch.log_softmax(torch.zeros(3), 0)
    chosen, rejected = 0, 2
    logp = torch.log_softmax(logits, 0)
    loss, _, _ = objectives.dpo_loss(logp[[chosen]], logp[[rejected]], ref[[chosen]], ref[[rejected]], beta=0.5)
    loss.backward()
    assert logits.grad[chosen] < 0 < logits.grad[rejected]  # descent raises chosen, lowers rejected
    with torch.no_grad():
        after = torch.softmax(logits - 1.0 * logits.grad, 0)
    assert after[chosen] > 1 / 3 > after[rejected]


def test_per_token_kl_hand_computed():
    policy = torch.tensor([[-1.0, -2.0, -0.5]])
    ref = torch.tensor([[-1.5, -1.0, -9.0]])
    mask = torch.tensor([[True, True, False]])
    k1 = objectives.per_token_kl(policy, ref, mask)
    torch.testing.assert_close(k1, torch.tensor([[0.5, -1.0, 0.0]]))
    k3 = objectives.per_token_kl(policy, ref, mask, estimator="k3")
    torch.testing.assert_close(k3, torch.tensor([[math.exp(-0.5) - 0.5, math.e - 2, 0.0]]))
    assert float(objectives.sequence_kl(policy, ref, mask)[0]) == pytest.approx(-0.5)
    assert float(objectives.per_token_kl(policy, policy, estimator="k3").abs().max()) == 0.0
    with pytest.raises(ValueError, match="estimator"):
        objectives.per_token_kl(policy, ref, estimator="k2")
    with pytest.raises(ValueError, match="same shape"):
        objectives.per_token_kl(policy, ref[:, :2])


def test_per_token_kl_estimates_the_true_kl():
    """Sampled from the policy, both estimators average to KL(p || q) of two known distributions."""
    p = torch.tensor([0.6, 0.3, 0.1])
    q = torch.tensor([0.2, 0.3, 0.5])
    exact = float((p * (p / q).log()).sum())
    tokens = torch.multinomial(p, 200_000, replacement=True, generator=torch.Generator().manual_seed(0))
    for estimator in ("k1", "k3"):
        est = objectives.per_token_kl(p.log()[tokens][None], q.log()[tokens][None], estimator=estimator).mean()
        assert float(est) == pytest.approx(exact, abs=0.01)


def test_best_of_n_kl_hand_computed():
    assert objectives.best_of_n_kl(1) == 0.0
    assert objectives.best_of_n_kl(2) == pytest.approx(math.log(2) - 0.5)
    assert objectives.best_of_n_kl(4) == pytest.approx(1.3862944 - 0.75)
    assert objectives.best_of_n_kl(np.int64(16)) == pytest.approx(math.log(16) - 15 / 16)
    with pytest.raises(ValueError, match="n="):
        objectives.best_of_n_kl(0)
