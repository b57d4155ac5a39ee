"""Environments and rollouts: fixed horizons, seeding, frames, segments, returns."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from rlhf_lite import envs, gridworld, rollouts


def test_gridworld_passes_gymnasium_checks():
    check_env(gym.make("rlhf_lite/GridWorld-v0", render_mode="rgb_array").unwrapped, skip_render_check=False)


def test_gridworld_near_and_far_treasures():
    env = gridworld.GridWorld()
    env.reset(seed=0)
    _, reward, terminated, _, _ = env.step(2)  # down from the start: the small treasure
    assert (reward, terminated) == (1.0, True)
    env.reset(seed=0)
    path = [0, 0] + [1] * 6 + [2, 2]  # up, up, right x6, down, down: around the wall to the big one
    rewards = [env.step(a)[1] for a in path]
    assert rewards[:-1] == [0.0] * 9 and rewards[-1] == 10.0


def test_gridworld_tabular_model_matches_step():
    env = gridworld.GridWorld()
    P, R, terminal = env.tabular_model()
    assert np.allclose(P.sum(axis=2), 1.0)
    rng = np.random.default_rng(0)
    for _ in range(50):
        s, _ = env.reset()
        for _ in range(20):
            a = int(rng.integers(4))
            s2, r, term, trunc, _ = env.step(a)
            assert P[s, a, s2] == 1.0 and R[s, a] == r
            if term:
                assert terminal[s2]
                break
            s = s2


def test_gridworld_rejects_bad_maps():
    with pytest.raises(ValueError, match="exactly one start"):
        gridworld.GridWorld(grid=["...", "..."])
    with pytest.raises(ValueError, match="unknown cell 'x'"):
        gridworld.GridWorld(grid=["S.x"])


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_fixed_horizon_episodes_have_constant_length(env_id):
    env = envs.make_env(env_id, seed=0, horizon=37)
    check_env(env, skip_render_check=True)
    for seed in range(3):
        traj = rollouts.rollout(env, None, seed=seed)
        assert len(traj) == 37 and not traj.terminated


def test_fixed_horizon_absorbs_after_failure():
    env = envs.make_env("CartPole-v1", seed=0, horizon=200)
    traj = rollouts.rollout(env, lambda obs: 0, seed=0)  # always push left: the pole falls quickly
    assert len(traj) == 200
    fell = int(np.argmin(traj.rewards))  # first step paid nothing: the absorbing state has begun
    assert 5 < fell < 100
    assert np.all(traj.rewards[fell:] == 0.0) and np.all(traj.rewards[:fell] == 1.0)
    assert np.allclose(traj.observations[fell + 1 :], traj.observations[fell + 1])


def test_mark_end_flags_the_absorbing_state_and_nothing_else():
    plain = envs.make_env("CartPole-v1", seed=0, horizon=60)
    marked = envs.make_env("CartPole-v1", seed=0, horizon=60, mark_end=True)
    check_env(envs.make_env("CartPole-v1", horizon=60, mark_end=True), skip_render_check=True)
    assert marked.observation_space.shape == (5,)
    a = rollouts.rollout(plain, lambda obs: 0, seed=0)
    b = rollouts.rollout(marked, lambda obs: 0, seed=0)
    assert b.observations.shape == (60, 5)
    np.testing.assert_array_equal(b.observations[:, :4], a.observations)  # the same episode, one number more
    np.testing.assert_array_equal(b.rewards, a.rewards)
    fell = int(np.argmin(a.rewards))
    flag = b.observations[:, 4]
    assert np.all(flag[: fell + 1] == 0.0) and np.all(flag[fell + 1 :] == 1.0)  # 1 exactly in the absorbing state
    assert all(marked.observation_space.contains(o) for o in b.observations)
    # frames of a marked episode draw like the plain one (the flag is not part of the picture)
    np.testing.assert_array_equal(
        envs.draw_frames("CartPole-v1", b.observations[:3], size=40),
        envs.draw_frames("CartPole-v1", a.observations[:3], size=40),
    )


def test_mark_end_needs_a_horizon_and_a_flat_box():
    with pytest.raises(ValueError, match="mark_end=True needs a horizon"):
        envs.make_env("CartPole-v1", mark_end=True)
    with pytest.raises(ValueError, match="mark_end=True needs a flat Box"):
        envs.make_env("rlhf_lite/GridWorld-v0", horizon=10, mark_end=True)
    assert envs.can_end_early("CartPole-v1") and not envs.can_end_early("Pendulum-v1")


def test_make_env_is_seeded():
    a = rollouts.rollout(envs.make_env("Pendulum-v1", seed=3), None)
    b = rollouts.rollout(envs.make_env("Pendulum-v1", seed=3), None)
    assert np.array_equal(a.observations, b.observations) and np.array_equal(a.actions, b.actions)


def test_unknown_env_id_names_it_and_suggests():
    with pytest.raises(ValueError) as err:
        envs.make_env("CartPol-v1")
    assert "CartPol-v1" in str(err.value) and "CartPole-v1" in str(err.value)
    with pytest.raises(ValueError, match="horizon=0"):
        envs.make_env("CartPole-v1", horizon=0)


def test_vec_env_same_step_autoreset_keeps_final_obs():
    vec = envs.make_vec_env("CartPole-v1", 2, seed=0, horizon=5)
    for _ in range(5):
        _, _, term, trunc, info = vec.step(np.zeros(2, dtype=int))
    assert trunc.all() and not term.any()
    assert "final_obs" in info and info["final_obs"][0] is not None


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_draw_frames_redraws_what_render_showed(env_id):
    env = envs.make_env(env_id, seed=1, render_mode="rgb_array")
    traj = rollouts.rollout(env, None, seed=1, max_steps=5, render=True)
    redrawn = envs.draw_frames(env_id, traj.observations, traj.actions, size=None)
    assert redrawn.shape == traj.frames.shape
    # Same picture up to float round-off in the observation (a few pixels on an edge at most).
    assert np.mean(redrawn != traj.frames) < 0.01
    small = envs.draw_frames(env_id, traj.observations, size=80)
    assert small.shape[0] == 5 and small.shape[1] == 80 and small.dtype == np.uint8


def test_rollout_frames_need_rgb_array():
    with pytest.raises(ValueError, match="render_mode='rgb_array'"):
        rollouts.rollout(envs.make_env("CartPole-v1"), None, render=True)


def test_returns_by_hand():
    rewards = np.array([1.0, 0.0, 2.0])
    assert rollouts.discounted_return(rewards, 0.5) == pytest.approx(1.0 + 0.0 + 0.25 * 2.0)
    with pytest.raises(ValueError, match="gamma=1.2"):
        rollouts.discounted_return(rewards, 1.2)


def test_cut_segments_stay_inside_one_episode():
    env = envs.make_env("Pendulum-v1", seed=0)
    trajs = [rollouts.rollout(env, None, seed=s, max_steps=30) for s in range(3)]
    segs = rollouts.cut_segments(trajs, 10, np.random.default_rng(0), n=7)
    assert len(segs) == 7 and len({s.uid for s in segs}) >= 5
    for s in segs:
        src = trajs[s.episode]
        assert len(s) == 10
        assert np.array_equal(s.observations, src.observations[s.start : s.start + 10])
        assert s.true_return == pytest.approx(src.rewards[s.start : s.start + 10].sum())
    with pytest.raises(ValueError, match="segment_length=40"):
        rollouts.cut_segments(trajs, 40, np.random.default_rng(0))
