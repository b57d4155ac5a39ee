"""PendulumVecEnv: the same numbers as make_vec_env's SyncVectorEnv of FixedHorizon Pendulums, and PPO runs on it.

gymnasium 1.4.0 has no checker for vector envs (``gymnasium.utils.env_checker.check_env`` takes one env), so the
checks here compare against the SyncVectorEnv that PendulumVecEnv replaces.
"""

import gymnasium as gym
import numpy as np
import pytest

from rlhf_lite import envs
from rlhf_lite.agents import PPOAgent, PPOConfig
from rlhf_lite.batched_envs import PendulumVecEnv

RTOL = 1e-6


def _assert_info_equal(ours: dict, ref: dict) -> None:
    assert sorted(ours) == sorted(ref)  # the same keys (their order in SyncVectorEnv depends on which env ends)
    for key, value in ref.items():
        if key == "final_obs":
            assert ours[key].dtype == object and ours[key].shape == value.shape
            for a, b in zip(ours[key], value):
                if b is None:
                    assert a is None
                else:
                    assert a.dtype == b.dtype == np.float32
                    np.testing.assert_allclose(a, b, rtol=RTOL, atol=1e-6)
        elif isinstance(value, dict):
            _assert_info_equal(ours[key], value)
        else:
            assert ours[key].dtype == value.dtype
            np.testing.assert_array_equal(ours[key], value)


def _assert_step_equal(ours: tuple, ref: tuple) -> None:
    obs, reward, terminated, truncated, info = ours
    r_obs, r_reward, r_terminated, r_truncated, r_info = ref
    assert obs.dtype == np.float32 and obs.shape == r_obs.shape
    assert reward.dtype == np.float64 and reward.shape == r_reward.shape
    assert terminated.dtype == truncated.dtype == np.bool_
    np.testing.assert_allclose(obs, r_obs, rtol=RTOL, atol=1e-6)
    np.testing.assert_allclose(reward, r_reward, rtol=RTOL, atol=1e-9)
    np.testing.assert_array_equal(terminated, r_terminated)
    np.testing.assert_array_equal(truncated, r_truncated)
    _assert_info_equal(info, r_info)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_steps_like_the_sync_vector_env(dtype):
    n, horizon, seed = 8, 50, 3
    ref = envs.make_vec_env("Pendulum-v1", n, seed, horizon=horizon, batched=False)
    ours = PendulumVecEnv(n, horizon=horizon)
    r_obs, r_info = ref.reset(seed=[seed + i for i in range(n)])
    obs, info = ours.reset(seed=[seed + i for i in range(n)])
    np.testing.assert_array_equal(obs, r_obs)
    _assert_info_equal(info, r_info)

    rng = np.random.default_rng(0)
    ends = 0
    for t in range(130):  # more than two horizons: autoresets draw from each env's own stream
        actions = (3.0 * rng.standard_normal((n, 1))).astype(dtype)  # many outside [-2, 2]: clipped
        ref_out = ref.step(actions)
        out = ours.step(actions[:, 0] if t % 2 else actions)  # [N] and [N, 1] both allowed
        _assert_step_equal(out, ref_out)
        assert ours.observation_space.contains(out[0])
        assert not out[2].any()
        np.testing.assert_array_equal(out[3], np.full(n, (t + 1) % horizon == 0))  # all envs end together
        ends += int(out[3].any())
    assert ends == 2

    # reset without a seed continues each stream; with an int seed, env i gets seed + i
    _assert_info_equal(ours.reset()[1], ref.reset()[1])
    for kwargs in ({}, {"seed": 11}, {"seed": [5, None, 7, None, 9, None, 1, 2]}):
        r_obs, _ = ref.reset(**kwargs)
        obs, _ = ours.reset(**kwargs)
        np.testing.assert_array_equal(obs, r_obs)
        actions = rng.uniform(-2, 2, (n, 1)).astype(dtype)
        _assert_step_equal(ours.step(actions), ref.step(actions))
    ref.close()
    ours.close()


def test_partial_resets_and_reset_options_like_the_sync_vector_env():
    n, horizon = 4, 7
    ref = envs.make_vec_env("Pendulum-v1", n, 0, horizon=horizon, batched=False)
    ours = PendulumVecEnv(n, horizon)
    ours.reset(seed=0)
    rng = np.random.default_rng(1)
    for t in range(20):
        if t == 3:  # a reset_mask staggers the episodes: from now on envs end on different steps
            mask = np.array([True, False, True, False])
            r_obs, r_info = ref.reset(seed=[None, None, 40, None], options={"reset_mask": mask.copy()})
            obs, info = ours.reset(seed=[None, None, 40, None], options={"reset_mask": mask.copy()})
            np.testing.assert_array_equal(obs, r_obs)
            _assert_info_equal(info, r_info)
        actions = rng.uniform(-2.5, 2.5, (n, 1)).astype(np.float32)
        _assert_step_equal(ours.step(actions), ref.step(actions))
    options = {"x_init": 0.1, "y_init": 0.2}  # start angle in [-0.1, 0.1], velocity in [-0.2, 0.2]
    obs, _ = ours.reset(seed=9, options=options)
    np.testing.assert_array_equal(obs, ref.reset(seed=9, options=options)[0])
    assert np.abs(np.arctan2(obs[:, 1], obs[:, 0])).max() <= 0.1 + 1e-6 and np.abs(obs[:, 2]).max() <= 0.2 + 1e-6


def test_spaces_and_metadata_match():
    ref = envs.make_vec_env("Pendulum-v1", 8, 0, horizon=20, batched=False)
    ours = PendulumVecEnv(8, 20)
    assert ours.num_envs == 8
    assert ours.metadata["autoreset_mode"] == gym.vector.AutoresetMode.SAME_STEP
    assert ours.single_observation_space == ref.single_observation_space
    assert ours.single_action_space == ref.single_action_space
    assert ours.observation_space == ref.observation_space
    assert ours.action_space == ref.action_space
    assert isinstance(ours, gym.vector.VectorEnv)
    assert "num_envs=8" in repr(ours)


def test_seeds_from_fresh_entropy_when_none_given():
    a, b = PendulumVecEnv(3), PendulumVecEnv(3)
    obs_a, _ = a.reset()
    obs_b, _ = b.reset()
    assert not np.array_equal(obs_a, obs_b)
    assert all(isinstance(s, int) for s in a.np_random_seed)
    assert len(a.np_random) == 3


def test_same_gravity_as_gymnasium():
    ours = PendulumVecEnv(2, 30, g=9.81)
    ref = gym.vector.SyncVectorEnv(
        [lambda: envs.FixedHorizon(gym.make("Pendulum-v1", g=9.81), 30)] * 2,
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
    )
    np.testing.assert_array_equal(ours.reset(seed=4)[0], ref.reset(seed=4)[0])
    for _ in range(40):
        actions = np.full((2, 1), 0.5, np.float32)
        _assert_step_equal(ours.step(actions), ref.step(actions))


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"num_envs": 0}, "num_envs"),
        ({"num_envs": -2}, "num_envs"),
        ({"num_envs": 2.0}, "num_envs"),
        ({"num_envs": True}, "num_envs"),
        ({"num_envs": "8"}, "num_envs"),
        ({"num_envs": 2, "horizon": 0}, "horizon"),
        ({"num_envs": 2, "horizon": 1.5}, "horizon"),
        ({"num_envs": 2, "horizon": None}, "horizon"),
        ({"num_envs": 2, "g": float("nan")}, "g"),
        ({"num_envs": 2, "g": float("inf")}, "g"),
        ({"num_envs": 2, "g": "10"}, "g"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=rf"^{name}=.*expected"):
        PendulumVecEnv(**kwargs)


def test_bad_seeds_and_actions_are_refused():
    env = PendulumVecEnv(4, 10)
    with pytest.raises(gym.error.ResetNeeded):
        env.step(np.zeros((4, 1), np.float32))
    with pytest.raises(ValueError, match="seed has 2 entries"):
        env.reset(seed=[1, 2])
    with pytest.raises(ValueError, match="seed=-1"):
        env.reset(seed=[0, 1, -1, 2])
    with pytest.raises(ValueError, match="seed='x'"):
        env.reset(seed="x")
    env.reset(seed=np.int64(3))  # numpy integers are fine
    for bad in (np.zeros((4, 2)), np.zeros((3, 1)), np.zeros(3), np.float32(0.0), np.zeros((1, 4))):
        with pytest.raises(ValueError, match=r"actions has shape .*expected \(4, 1\) or \(4,\)"):
            env.step(bad)
    with pytest.raises(ValueError, match="actions has dtype"):
        env.step(np.array(["a"] * 4))


def test_ppo_learns_on_it():
    vec = PendulumVecEnv(4, horizon=50)
    vec.reset(seed=0)
    vec.action_space.seed(0)
    config = PPOConfig.for_env("Pendulum-v1", num_envs=4, num_steps=64, num_minibatches=2, update_epochs=1)
    agent = PPOAgent(vec.single_observation_space, vec.single_action_space, config, seed=0)
    history = agent.learn(vec, 256, progress=False)
    assert agent.env_steps == 256 and len(history) == 1
    assert len(agent.recent_returns) == 4 * (256 // 4 // 50)  # every env finished its 50-step episodes
    vec.close()


def test_make_vec_env_gives_the_batched_pendulum_with_the_same_random_actions():
    fast = envs.make_vec_env("Pendulum-v1", 4, 11, horizon=30)
    slow = envs.make_vec_env("Pendulum-v1", 4, 11, horizon=30, batched=False)
    assert isinstance(fast, PendulumVecEnv) and not isinstance(slow, PendulumVecEnv)
    for _ in range(70):  # random_rollout's actions come from the vector action space: the same stream
        a, b = fast.action_space.sample(), slow.action_space.sample()
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(fast.step(a)[0], slow.step(b)[0], rtol=1e-6)
    assert not isinstance(envs.make_vec_env("Pendulum-v1", 2, 0), PendulumVecEnv)  # no horizon: gymnasium's
