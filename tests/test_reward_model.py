"""Reward predictor: Bradley-Terry maths against closed forms, learning Pendulum's reward from oracle labels
(and failing to from shuffled ones), robustness to flipped labels, disagreement, pessimism, checkpoints."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from rlhf_lite import envs, rollouts
from rlhf_lite import reward_model as rm

SEG_LEN = 25


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Small networks train faster on one thread, and far faster when other processes share the cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


# ------------------------------------------------------------------------------------------------------------
# Bradley-Terry probability and loss
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ra, rb, noise", [(1.0, 0.0, 0.0), (0.0, 2.5, 0.0), (3.0, -1.0, 0.1), (-0.7, -0.7, 0.3)])
def test_bt_probability_closed_form(ra, rb, noise):
    expected = (1 - noise) * sigmoid(ra - rb) + noise / 2
    assert rm.bt_probability(ra, rb, noise) == pytest.approx(expected, abs=1e-12)
    t = rm.bt_probability(torch.tensor(ra, dtype=torch.float64), torch.tensor(rb, dtype=torch.float64), noise)
    assert isinstance(t, torch.Tensor) and float(t) == pytest.approx(expected, abs=1e-12)
    # swapping the segments gives the complementary probability
    assert rm.bt_probability(rb, ra, noise) == pytest.approx(1 - expected, abs=1e-12)


def test_bt_probability_noise_bounds_and_batches():
    p = rm.bt_probability(np.array([1e4, -1e4, 0.0]), np.zeros(3), 0.2)
    np.testing.assert_allclose(p, [0.9, 0.1, 0.5], atol=1e-12)  # noise keeps p within [noise/2, 1 - noise/2]
    assert not np.any(np.isnan(rm.bt_probability(np.array([800.0]), np.array([-800.0]))))


@pytest.mark.parametrize("noise", [0.0, 0.1, 0.5])
@pytest.mark.parametrize("target", [1.0, 0.0, 0.5])
def test_bt_loss_closed_form_including_ties(noise, target):
    ra, rb = 1.3, 0.4
    p = (1 - noise) * sigmoid(ra - rb) + noise / 2
    expected = -(target * math.log(p) + (1 - target) * math.log(1 - p))
    assert rm.bt_loss(ra, rb, target, noise) == pytest.approx(expected, rel=1e-10)
    t = rm.bt_loss(torch.tensor([ra]), torch.tensor([rb]), torch.tensor([target]), noise)
    assert float(t) == pytest.approx(expected, rel=1e-5)


def test_bt_loss_tie_minimum_and_noise_caps_wrong_labels():
    # a tie (target 0.5) is best explained by equal returns: loss log 2, and more for any gap
    assert rm.bt_loss(0.0, 0.0, 0.5) == pytest.approx(math.log(2))
    assert rm.bt_loss(2.0, 0.0, 0.5) > math.log(2)
    # a confidently wrong label costs -log(noise/2) at most with the noise term, without it grows linearly
    assert rm.bt_loss(1e4, 0.0, 0.0, noise_prob=0.1) == pytest.approx(-math.log(0.05), rel=1e-6)
    assert rm.bt_loss(100.0, 0.0, 0.0, noise_prob=0.0) == pytest.approx(100.0, rel=1e-6)
    # gradients stay finite for huge differences
    ra = torch.tensor([1e4, -1e4], requires_grad=True)
    rm.bt_loss(ra, torch.zeros(2), torch.tensor([0.0, 1.0]), 0.1).backward()
    assert torch.isfinite(ra.grad).all()


def test_bt_loss_reductions_and_bad_input():
    ra, rb, y = np.array([1.0, 0.0, -2.0]), np.zeros(3), np.array([1.0, 0.5, 0.0])
    each = rm.bt_loss(ra, rb, y, 0.1, reduction="none")
    assert each.shape == (3,)
    assert rm.bt_loss(ra, rb, y, 0.1, reduction="sum") == pytest.approx(each.sum())
    assert rm.bt_loss(ra, rb, y, 0.1) == pytest.approx(each.mean())
    with pytest.raises(ValueError, match="targets must lie in"):
        rm.bt_loss(ra, rb, np.array([1.0, 2.0, 0.0]))
    with pytest.raises(ValueError, match="noise_prob=1.0 is out of range"):
        rm.bt_probability(0.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="reduction='max'"):
        rm.bt_loss(ra, rb, y, reduction="max")


def test_answers_to_targets():
    t = rm.targets_from_answers(["left", "right", "equal", "cant_tell"])
    np.testing.assert_array_equal(t[:3], [1.0, 0.0, 0.5])
    assert np.isnan(t[3])
    with pytest.raises(ValueError, match=r"answer #1='better' is not allowed"):
        rm.targets_from_answers(["left", "better"])


def test_spearman_against_hand_values():
    assert rm.spearman([1, 2, 3, 4], [10, 20, 30, 400]) == pytest.approx(1.0)
    assert rm.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # no ties: 1 - 6 sum d^2 / (n (n^2 - 1)); ranks (1,2,3,4,5) vs (2,1,4,3,5): sum d^2 = 4
    assert rm.spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) == pytest.approx(1 - 6 * 4 / (5 * 24))
    # ties get average ranks: x ranks (1, 2.5, 2.5, 4), pearson with (1, 2, 3, 4)
    rx, ry = np.array([1, 2.5, 2.5, 4]), np.array([1, 2, 3, 4.0])
    rx, ry = rx - rx.mean(), ry - ry.mean()
    assert rm.spearman([0, 5, 5, 9], [1, 2, 3, 4]) == pytest.approx(rx @ ry / np.sqrt((rx @ rx) * (ry @ ry)))
    assert math.isnan(rm.spearman([1, 1, 1], [1, 2, 3]))


# ------------------------------------------------------------------------------------------------------------
# Config
# ------------------------------------------------------------------------------------------------------------


def test_config_validation_messages():
    with pytest.raises(
        ValueError, match=r"RewardModelConfig.ensemble_size=0 is out of range: expected a number in \[1, 16\]"
    ):
        rm.RewardModelConfig(ensemble_size=0)
    with pytest.raises(
        ValueError, match=r"RewardModelConfig.noise_prob=1.0 is out of range: expected a number in \[0, 1\)"
    ):
        rm.RewardModelConfig(noise_prob=1.0)
    with pytest.raises(ValueError, match=r"RewardModelConfig.learning_rate=0.0 is out of range"):
        rm.RewardModelConfig(learning_rate=0.0)
    with pytest.raises(
        ValueError, match=r"RewardModelConfig.activation='sigmoid' is not allowed: expected one of 'relu'"
    ):
        rm.RewardModelConfig(activation="sigmoid")
    with pytest.raises(ValueError, match=r"RewardModelConfig.batch_size=2.5 must be a whole number"):
        rm.RewardModelConfig(batch_size=2.5)
    helps = rm.RewardModelConfig.help()
    assert set(helps) >= {
        "ensemble_size",
        "hidden_size",
        "learning_rate",
        "epochs",
        "batch_size",
        "weight_decay",
        "noise_prob",
        "validation_fraction",
    }
    assert all(h and "\n" not in h for h in helps.values())


# ------------------------------------------------------------------------------------------------------------
# Learning Pendulum's reward from oracle preferences
# ------------------------------------------------------------------------------------------------------------


def pendulum_segments(seed: int, episodes: int, per_episode: int) -> list[rollouts.Segment]:
    """Segments of random-torque Pendulum episodes from gymnasium's random initial states."""
    rng = np.random.default_rng(seed)
    env = envs.make_env("Pendulum-v1", seed=seed, horizon=200)
    trajs = [rollouts.rollout(env, None, seed=int(rng.integers(2**31))) for _ in range(episodes)]
    segs = []
    for _ in range(per_episode):
        segs += rollouts.cut_segments(trajs, SEG_LEN, rng, uid_prefix=f"s{seed}")
    return segs


def oracle_pairs(pool, n, rng):
    i = rng.integers(0, len(pool), n)
    j = (i + rng.integers(1, len(pool), n)) % len(pool)
    left, right = [pool[k] for k in i], [pool[k] for k in j]
    y = np.array([float(a.true_return > b.true_return) for a, b in zip(left, right)])
    return left, right, y


@pytest.fixture(scope="module")
def pendulum():
    env = envs.make_env("Pendulum-v1")
    pool = pendulum_segments(0, 20, 4)
    held = pendulum_segments(1, 10, 4)  # other episodes: never labelled
    return env.observation_space, env.action_space, pool, held


def train(pendulum, labels: str, seed: int = 0, n: int = 120):
    obs_space, act_space, pool, held = pendulum
    rng = np.random.default_rng(seed)
    left, right, y = oracle_pairs(pool, n, rng)
    if labels == "flip20":
        flip = rng.random(n) < 0.2
        y = np.where(flip, 1 - y, y)
    elif labels == "shuffled":
        y = rng.permutation(y)
    ens = rm.RewardEnsemble(obs_space, act_space, seed=seed)
    metrics = ens.fit(left, right, y, rng=rng)
    rho = rm.spearman(ens.predicted_returns(held), [s.true_return for s in held])
    return ens, metrics, rho


@pytest.fixture(scope="module")
def trained(pendulum):
    return train(pendulum, "clean")


def test_learns_pendulum_reward_from_oracle_labels(trained):
    ens, metrics, rho = trained
    assert rho >= 0.85, f"predicted vs true segment returns on held-out segments: Spearman {rho:.3f}"
    assert metrics["val_accuracy"] >= 0.8
    assert metrics["labels"] == 120 and metrics["n_val"] == 24 and metrics["n_train"] == 96


def test_shuffled_labels_do_not_pass(pendulum):
    # the same pipeline with the answers shuffled (no information) must fail the threshold above
    _, _, rho = train(pendulum, "shuffled")
    assert rho < 0.6, f"a model trained on shuffled labels reached Spearman {rho:.3f}"


def test_still_learns_with_20_percent_flipped_labels(pendulum):
    _, _, rho = train(pendulum, "flip20")
    assert rho >= 0.7, f"with 20% of labels flipped: Spearman {rho:.3f}"


def test_disagreement_higher_on_ambiguous_pairs(trained, pendulum):
    ens = trained[0]
    held = pendulum[3]
    a = [held[i] for i in range(20) for _ in range(20)]
    b = [held[j] for _ in range(20) for j in range(20, 40)]
    gap = np.abs([x.true_return - y.true_return for x, y in zip(a, b)])
    d = ens.disagreement(a, b)
    assert d.shape == (400,) and np.all(d >= 0)
    close, far = d[gap < np.percentile(gap, 25)].mean(), d[gap > np.percentile(gap, 75)].mean()
    assert close > 2 * far, f"disagreement on close pairs {close:.4f}, on clear pairs {far:.4f}"
    probs = ens.preference_probability(a[:5], b[:5])
    assert probs.shape == (3, 5) and np.all((probs >= 0) & (probs <= 1))


def test_reward_is_normalised_and_matches_members(trained, pendulum):
    ens = trained[0]
    pool = pendulum[2]
    obs = np.concatenate([s.observations for s in pool])
    act = np.concatenate([s.actions for s in pool])
    r = ens.reward(obs, act)
    assert r.shape == (len(obs),)
    # fit normalised on the labelled segments; the pool is a superset from the same source
    assert abs(r.mean()) < 0.2 and 0.8 < r.std() < 1.2
    ens2 = rm.RewardEnsemble.from_state_dict(ens.state_dict())
    ens2.normalize(obs[:500], act[:500])
    r2 = ens2.reward(obs[:500], act[:500])
    assert r2.mean() == pytest.approx(0.0, abs=1e-4) and r2.std(ddof=1) == pytest.approx(1.0, abs=1e-3)
    # the mean of standardised members, rescaled
    z = ens.member_rewards(obs, act)
    np.testing.assert_allclose(r, z.mean(0) / ens.mean_scale, rtol=1e-5, atol=1e-5)
    # the same ordering of steps as the ensemble's segment returns: reward is a sum of per-step predictions
    raw = ens.member_rewards(pool[0].observations, pool[0].actions, normalized=False)
    np.testing.assert_allclose(ens.segment_returns([pool[0]])[:, 0], raw.sum(1), rtol=1e-5)


def test_pessimistic_reward_is_mean_minus_k_std_of_the_members():
    """``pessimism = k``: ``(mean - k * std) / mean_scale`` over standardised members, against hand values."""
    env = envs.make_env("Pendulum-v1")
    raw = torch.tensor([[1.0, 2.0], [3.0, 4.0], [7.0, 9.0]])  # [M=3, B=2] raw member outputs
    obs, act = np.zeros((2, 3), np.float32), np.zeros((2, 1), np.float32)

    def ensemble(k):
        ens = rm.RewardEnsemble(
            env.observation_space, env.action_space, rm.RewardModelConfig(ensemble_size=3, pessimism=k), seed=0
        )
        ens.net = lambda feats: raw  # known member outputs
        ens.member_mean, ens.member_std = torch.tensor([0.0, 0.0, 1.0]), torch.tensor([1.0, 1.0, 2.0])
        ens.mean_scale = 2.0
        return ens

    # z = [[1, 2], [3, 4], [3, 4]]: means [7/3, 10/3], sample stds sqrt(4/3) and sqrt(4/3)
    plain = ensemble(0.0).reward(obs, act)
    np.testing.assert_allclose(plain, [7 / 6, 10 / 6], rtol=1e-6)
    np.testing.assert_allclose(
        ensemble(0.5).reward(obs, act),
        [(7 / 3 - 0.5 * math.sqrt(4 / 3)) / 2, (10 / 3 - 0.5 * math.sqrt(4 / 3)) / 2],
        rtol=1e-6,
    )
    z = (raw - torch.tensor([[0.0], [0.0], [1.0]])) / torch.tensor([[1.0], [1.0], [2.0]])
    assert np.array_equal(plain, (z.mean(0) / 2.0).numpy().astype(np.float64)), "k = 0 is the plain mean, bit for bit"
    assert rm.RewardModelConfig().pessimism == 0.0
    with pytest.raises(ValueError, match=r"RewardModelConfig.pessimism=1.0 needs ensemble_size >= 2"):
        rm.RewardModelConfig(ensemble_size=1, pessimism=1.0)
    with pytest.raises(ValueError, match=r"RewardModelConfig.pessimism=-1 is out of range"):
        rm.RewardModelConfig(pessimism=-1)


def test_segments_of_different_lengths_are_masked(trained, pendulum):
    ens, pool = trained[0], pendulum[2]
    short = rollouts.Segment(pool[1].observations[:7], pool[1].actions[:7], pool[1].true_rewards[:7])
    got = ens.segment_returns([pool[0], short])
    raw = ens.member_rewards(short.observations, short.actions, normalized=False)
    np.testing.assert_allclose(got[:, 1], raw.sum(1), rtol=1e-5)


def test_fit_is_reproducible_and_warm_start_continues(pendulum):
    obs_space, act_space, pool, _ = pendulum
    cfg = rm.RewardModelConfig(min_updates=10, epochs=1.0)
    left, right, y = oracle_pairs(pool, 20, np.random.default_rng(5))
    x = np.concatenate([s.observations for s in pool[:5]]), np.concatenate([s.actions for s in pool[:5]])

    def run(seed, warm_twice):
        ens = rm.RewardEnsemble(obs_space, act_space, cfg, seed=seed)
        ens.fit(left, right, y, rng=np.random.default_rng(0))
        ens.fit(left, right, y, rng=np.random.default_rng(1), warm_start=warm_twice)
        return ens.member_rewards(*x, normalized=False)

    np.testing.assert_array_equal(run(0, True), run(0, True))
    assert not np.allclose(run(0, True), run(1, True))
    # a cold refit forgets the first fit: it differs from the warm one
    assert not np.allclose(run(0, True), run(0, False))


def test_fit_input_forms_and_errors(pendulum):
    obs_space, act_space, pool, _ = pendulum
    cfg = rm.RewardModelConfig(min_updates=2, epochs=1.0, validation_fraction=0.0)
    ens = rm.RewardEnsemble(obs_space, act_space, cfg, seed=0)
    a, b = pool[:4], pool[4:8]
    m = ens.fit(a, b, ["left", "right", "equal", "cant_tell"])
    assert m["labels"] == 3 and m["dropped"] == 1 and math.isnan(m["val_accuracy"])
    m = ens.fit(list(zip(a, b, [1.0, 0.0, 0.5, 1.0])))
    assert m["labels"] == 4
    # label-file style segments (mappings of lists) work too
    payload = [{"observations": s.observations.tolist(), "actions": s.actions.tolist()} for s in a]
    assert ens.fit(payload, b, [1, 0, 1, 0])["labels"] == 4
    with pytest.raises(ValueError, match=r"targets\[1\]=2.0 is not allowed"):
        ens.fit(a, b, [1.0, 2.0, 0.0, 1.0])
    with pytest.raises(ValueError, match=r"left \(4\), right \(3\) and targets \(4\)"):
        ens.fit(a, b[:3], [1, 0, 1, 0])
    with pytest.raises(ValueError, match="at least one labelled pair"):
        ens.fit(a[:1], b[:1], ["cant_tell"])
    with pytest.raises(ValueError, match=r"observations have shape \(5, 2\): expected \[B, 3\]"):
        ens.reward(np.zeros((5, 2)), np.zeros((5, 1)))
    with pytest.raises(ValueError, match="reward expects a batch"):
        ens.reward(np.zeros(3), np.zeros(1))


def test_fit_from_label_store(tmp_path, pendulum):
    preferences = pytest.importorskip("rlhf_lite.preferences")
    labelers = pytest.importorskip("rlhf_lite.labelers")
    obs_space, act_space, pool, _ = pendulum
    store = preferences.LabelStore(tmp_path / "labels.jsonl")
    pairs = preferences.random_pairs(pool, 6, np.random.default_rng(0))
    preferences_made = labelers.label_pairs(labelers.OracleLabeler(noise_prob=0.0), pairs, store, progress=False)
    assert len(preferences_made) == 6
    cfg = rm.RewardModelConfig(min_updates=2, epochs=1.0)
    ens = rm.RewardEnsemble(obs_space, act_space, cfg, seed=0)
    assert ens.fit(store)["labels"] == 6
    assert ens.fit(store.pairs())["labels"] == 6
    assert ens.fit(store.labels())["labels"] == 6


# ------------------------------------------------------------------------------------------------------------
# Discrete actions, checkpoints, wrapper
# ------------------------------------------------------------------------------------------------------------


def cartpole_segments(n=12):
    env = envs.make_env("CartPole-v1", seed=0, horizon=50)
    trajs = [rollouts.rollout(env, None, seed=i) for i in range(n)]
    return rollouts.cut_segments(trajs, 10, np.random.default_rng(0))


def test_discrete_actions_are_one_hot():
    env = envs.make_env("CartPole-v1")
    ens = rm.RewardEnsemble(env.observation_space, env.action_space, rm.RewardModelConfig(ensemble_size=2), seed=0)
    assert ens.in_dim == 4 + 2
    feats = ens.features(np.zeros((3, 4)), np.array([0, 1, 1]))
    np.testing.assert_array_equal(feats[:, 4:].numpy(), [[1, 0], [0, 1], [0, 1]])
    with pytest.raises(ValueError, match=r"actions hold 0..2: expected integers in action_space=Discrete\(2\)"):
        ens.reward(np.zeros((3, 4)), np.array([0, 1, 2]))
    segs = cartpole_segments()
    ens.fit(segs[:6], segs[6:], [1, 0, 1, 0, 0.5, 1], rng=np.random.default_rng(0))
    assert ens.member_rewards(np.zeros((4, 4)), np.array([0, 1, 0, 1])).shape == (2, 4)


def test_save_load_round_trip(tmp_path, trained, pendulum):
    ens, pool = trained[0].copy(), pendulum[2]  # a copy: this test trains it further
    path = tmp_path / "rm.pt"
    ens.save(str(path))
    raw = torch.load(path, weights_only=True)  # no pickled code needed to read it
    assert raw["format"].startswith("rlhf_lite.RewardEnsemble")
    back = rm.RewardEnsemble.load(str(path))
    obs, act = pool[3].observations, pool[3].actions
    np.testing.assert_array_equal(back.reward(obs, act), ens.reward(obs, act))
    np.testing.assert_array_equal(back.segment_returns(pool[:4]), ens.segment_returns(pool[:4]))
    assert back.config == ens.config and back.history == ens.history
    twin = ens.copy()  # an independent copy: same predictions, its own weights
    np.testing.assert_array_equal(twin.reward(obs, act), ens.reward(obs, act))
    assert all(a.data_ptr() != b.data_ptr() for a, b in zip(twin.net.parameters(), ens.net.parameters()))
    # random streams are restored too: continuing after a reload repeats continuing without one
    left, right, y = oracle_pairs(pool, 10, np.random.default_rng(9))
    small = dict(min_updates=3, epochs=1.0)
    for e in (ens, back):
        e.config = e.config.replace(**small)
    ens.fit(left, right, y)
    back.fit(left, right, y)
    np.testing.assert_array_equal(back.reward(obs, act), ens.reward(obs, act))


def test_load_rejects_other_files(tmp_path):
    p = tmp_path / "x.pt"
    torch.save({"a": torch.zeros(1)}, p)
    with pytest.raises(ValueError, match="is not a RewardEnsemble checkpoint"):
        rm.RewardEnsemble.load(str(p))


def test_accuracy_on_scores_clear_answers_only_and_frozen_belief_stays_put(trained, pendulum):
    ens, pool = trained[0], pendulum[3]
    left, right = pool[:12], pool[12:24]
    targets = [1.0, 0.0, 0.5, float("nan")] * 3  # left, right, equal (no winner), can't tell (dropped)
    clear = [i for i, t in enumerate(targets) if t in (0.0, 1.0)]
    prob = ens.preference_probability([left[i] for i in clear], [right[i] for i in clear]).mean(0)
    by_hand = np.mean((prob > 0.5) == (np.array([targets[i] for i in clear]) > 0.5))
    assert ens.accuracy_on(list(zip(left, right, targets))) == pytest.approx(by_hand)
    assert ens.accuracy_on([(left[0], right[0], 0.5)]) is None and ens.accuracy_on([]) is None
    fresh = rm.RewardEnsemble(pendulum[0], pendulum[1], seed=0)
    assert fresh.accuracy_on(list(zip(left, right, targets))) is None, "no predictor before the first fit"
    training = ens.copy()
    belief = training.frozen_belief()
    before = belief(left[0], right[0])
    assert before.shape == (ens.ensemble_size,)
    np.testing.assert_array_equal(before, ens.preference_probability([left[0]], [right[0]])[:, 0])
    training.fit(left[:4], right[:4], [0.0, 1.0, 0.0, 1.0])  # the original trains on
    np.testing.assert_array_equal(belief(left[0], right[0]), before)  # the belief shown stays what it was
    assert not np.array_equal(training.preference_probability([left[0]], [right[0]])[:, 0], before)


def test_discrete_observations_gridworld():
    # a tabular task: observations and actions both one-hot
    env = envs.make_env("rlhf_lite/GridWorld-v0", seed=0, horizon=12)
    ens = rm.RewardEnsemble(
        env.observation_space, env.action_space, rm.RewardModelConfig(ensemble_size=2, min_updates=5), seed=0
    )
    assert ens.in_dim == env.observation_space.n + 4
    trajs = [rollouts.rollout(env, None, seed=i) for i in range(6)]
    segs = rollouts.cut_segments(trajs, 6, np.random.default_rng(0))
    y = [float(a.true_return > b.true_return) for a, b in zip(segs[:3], segs[3:])]
    assert ens.fit(segs[:3], segs[3:], y)["labels"] == 3
    assert ens.reward(np.array([0, 1, 2]), np.array([1, 1, 3])).shape == (3,)
    with pytest.raises(ValueError, match="observations hold"):
        ens.reward(np.array([0, 999]), np.array([1, 1]))


def test_observation_only_inputs_equal_zeroed_actions():
    """``inputs="observation"`` is the same computation as feeding zeros for actions (what the loop did)."""
    env = envs.make_env("Pendulum-v1", seed=0, horizon=40)
    trajs = [rollouts.rollout(env, None, seed=s) for s in range(4)]
    segs = rollouts.cut_segments(trajs, 10, np.random.default_rng(0), n=12, uid_prefix="t")
    zeroed = [dataclasses.replace(s, actions=np.zeros_like(np.asarray(s.actions))) for s in segs]
    pairs = [(segs[i], segs[i + 1], float(segs[i].true_return > segs[i + 1].true_return)) for i in range(0, 12, 2)]
    zpairs = [(zeroed[i], zeroed[i + 1], t) for i, (_, _, t) in zip(range(0, 12, 2), pairs)]
    cfg = rm.RewardModelConfig(ensemble_size=2, hidden_size=16, epochs=2.0, min_updates=5)
    obs_only = rm.RewardEnsemble(
        env.observation_space, env.action_space, dataclasses.replace(cfg, inputs="observation"), seed=3
    )
    by_hand = rm.RewardEnsemble(env.observation_space, env.action_space, cfg, seed=3)
    obs_only.fit(pairs)
    by_hand.fit(zpairs)
    o, a = np.asarray(segs[0].observations), np.asarray(segs[0].actions)
    assert np.array_equal(obs_only.reward(o, a), by_hand.reward(o, np.zeros_like(a)))
    assert np.array_equal(obs_only.reward(o, a), obs_only.reward(o, -a))  # actions make no difference
    assert not np.array_equal(by_hand.reward(o, a), by_hand.reward(o, np.zeros_like(a)))  # negative control
    assert obs_only.copy().config.inputs == "observation"


def test_old_checkpoint_forms_still_load(tmp_path):
    """Reward checkpoints from before ``rlhf_lite.spaces`` (tensor bounds) and before ``inputs`` load."""
    env = envs.make_env("Pendulum-v1", seed=0)
    ens = rm.RewardEnsemble(env.observation_space, env.action_space, rm.RewardModelConfig(ensemble_size=1), seed=0)
    state = ens.state_dict()
    assert isinstance(state["observation_space"]["low"], list)
    old = dict(state, config={k: v for k, v in state["config"].items() if k not in ("inputs", "pessimism")})
    old["observation_space"] = dict(
        state["observation_space"],
        low=torch.tensor(env.observation_space.low, dtype=torch.float64),
        high=torch.tensor(env.observation_space.high, dtype=torch.float64),
    )
    torch.save(old, tmp_path / "old.pt")
    back = rm.RewardEnsemble.load(str(tmp_path / "old.pt"))
    assert back.observation_space == env.observation_space and back.config.inputs == "observation_action"
    o = np.zeros((3, 3), np.float32)
    assert np.array_equal(back.reward(o, np.ones((3, 1), np.float32)), ens.reward(o, np.ones((3, 1), np.float32)))
