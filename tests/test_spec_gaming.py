"""BoatRace, the specification-gaming environment of notebook 02: gymnasium checks, its tabular model, and what a
boat that maximises each written reward actually does (the claims the lesson makes, seeded)."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from rlhf_lite import agents, boat_race, envs

GAMMA = 0.95  # the discount notebook 02 uses
EVAL_SEEDS = range(5)


def optimal_policy(gamma: float = GAMMA, reward: str = "written", **patch):
    """The greedy policy of value iteration on the env's own tabular model: the best any learner could do."""
    env = boat_race.BoatRace(reward=reward, **patch)
    P, R, terminal = env.tabular_model()
    _, q = agents.value_iteration(P, R, gamma, terminal, tol=1e-9)
    return env, agents.greedy_policy(q)


def races(env, policy, seeds=EVAL_SEEDS) -> list[dict]:
    return [boat_race.race_episode(env, policy, seed=s)[1] for s in seeds]


# -- gymnasium API ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "patch", [dict(), dict(respawn=False, step_penalty=0.3, sink_penalty=10.0), dict(reward="intended")]
)
def test_boatrace_passes_gymnasium_checks(patch):
    env = gym.make("rlhf_lite/BoatRace-v0", render_mode="rgb_array", **patch)
    check_env(env.unwrapped, skip_render_check=False)
    assert env.unwrapped.metadata["render_modes"] == ["rgb_array", "ansi"]


def test_observation_packs_cell_and_standing_buoys():
    env = boat_race.BoatRace()
    obs, _ = env.reset(seed=0)
    assert env.decode(obs) == (env.start, 2 ** len(env.targets) - 1)  # at the start, every buoy standing
    for rc in env.cells:
        for mask in (0, 5):
            assert env.decode(env.encode(rc, mask)) == (rc, mask)
    with pytest.raises(ValueError, match="obs=-1 is out of range"):
        env.decode(-1)


def test_buoy_pays_once_until_it_pops_up_and_finish_ends_the_race():
    env = boat_race.BoatRace(respawn=False)
    env.reset(seed=0)
    _, r_up, *_ = env.step(0)  # up into the lagoon: no buoy there
    _, r_hit, _, _, info = env.step(0)  # up onto the west buoy
    assert (r_up, r_hit, info["targets_hit"]) == (0.0, 1.0, 1)
    env.step(2)
    _, r_again, _, _, info = env.step(0)  # back onto it: it stays down, so no points
    assert (r_again, info["targets_hit"]) == (0.0, 1)
    env.reset(seed=0)
    rewards = [env.step(1)[1] for _ in range(env.race_length - 1)]  # straight down the channel
    _, r_finish, terminated, truncated, info = env.step(1)
    assert rewards == [0.0] * (env.race_length - 1) and r_finish == env.written.finish_bonus
    assert terminated and not truncated and info["finished"] and info["progress"] == 1.0


def test_rocks_sink_the_boat_and_steps_cost_what_the_patch_says():
    env = boat_race.BoatRace(step_penalty=0.5, sink_penalty=4.0)
    env.reset(seed=0)
    _, reward, terminated, _, info = env.step(2)  # down from the start: rocks
    assert terminated and info["sank"] and reward == pytest.approx(-4.5)
    assert env.episode_log[-1]["sank"] and env.episode_log[-1]["steps"] == 1


def test_episodes_are_cut_at_max_steps_and_logged():
    env = boat_race.BoatRace(max_steps=7)
    env.reset(seed=0)
    for _ in range(7):
        _, _, terminated, truncated, _ = env.step(3)  # left into the start's own bank: stays put
    assert truncated and not terminated and len(env.episode_log) == 1
    assert env.episode_log[0] == dict(
        steps=7, written_return=0.0, intended_return=0.0, targets_hit=0, finished=False, sank=False, progress=0.0
    )


def test_intended_reward_sums_to_race_progress():
    env = boat_race.BoatRace(reward="intended")
    rng = np.random.default_rng(3)
    for seed in range(20):
        env.reset(seed=seed)
        total = 0.0
        while True:
            _, r, terminated, truncated, info = env.step(int(rng.integers(4)))
            total += r
            if terminated or truncated:
                break
        assert total == pytest.approx(info["progress"]) == pytest.approx(env.episode_stats()["intended_return"])


def test_bad_settings_name_the_culprit():
    with pytest.raises(ValueError, match=r"WrittenReward.step_penalty=-1"):
        boat_race.BoatRace(step_penalty=-1)
    with pytest.raises(ValueError, match=r"reward='points' is not allowed"):
        boat_race.BoatRace(reward="points")
    with pytest.raises(ValueError, match="unknown cell 'x'"):
        boat_race.BoatRace(track=["S.x", "..F"])
    with pytest.raises(ValueError, match="no water route"):
        boat_race.BoatRace(track=["S#F"])
    env = boat_race.BoatRace()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action=7 is not allowed"):
        env.step(7)


# -- the tabular model agrees with the simulator ---------------------------------------------------------------


def test_tabular_model_is_exact_without_respawns():
    env = boat_race.BoatRace(respawn=False, step_penalty=0.3, sink_penalty=2.0)
    P, R, terminal = env.tabular_model()
    assert np.allclose(P.sum(axis=2), 1.0)
    rng = np.random.default_rng(0)
    for seed in range(40):
        s, _ = env.reset(seed=seed)
        while True:
            a = int(rng.integers(4))
            s2, r, terminated, truncated, _ = env.step(a)
            assert P[s, a, s2] == 1.0 and R[s, a] == pytest.approx(r)
            assert terminal[s2] == terminated
            if terminated or truncated:
                break
            s = s2


def test_tabular_model_matches_respawn_frequencies():
    # From the start with every buoy down, sail into the lagoon: each buoy pops up with chance 1/4.
    env = boat_race.BoatRace(respawn_steps=4.0)
    P, R, _ = env.tabular_model()
    s = env.encode(env.start, 0)
    counts = np.zeros(env.observation_space.n)
    n = 4000
    env.reset(seed=0)
    for _ in range(n):
        env._pos, env._mask = env.start, 0
        s2, *_ = env.step(0)
        counts[s2] += 1
    expected = P[s, 0] * n
    assert set(np.flatnonzero(counts)) <= set(np.flatnonzero(expected))
    # chi-square with 15 degrees of freedom: 99.9% quantile is about 37.7
    nz = expected > 0
    assert np.sum((counts[nz] - expected[nz]) ** 2 / expected[nz]) < 37.7
    # Sailing from the west buoy's south side onto the fallen buoy pays only if it popped up this very step.
    assert env.targets[1] == (2, 1)  # the west buoy; (3, 1) is the water just south of it
    assert R[env.encode((3, 1), 0), 0] == pytest.approx(0.25 * env.written.target_points)


# -- the lesson's claims: what the reward-maximising boat does ----------------------------------------------


def test_written_reward_is_gamed_by_looping_while_intended_reward_races():
    env, loop = optimal_policy()
    gamed = races(env, loop)
    assert all(not s["finished"] and not s["sank"] for s in gamed)
    assert all(s["targets_hit"] >= 20 and s["progress"] < 0.1 for s in gamed)

    env_i, race = optimal_policy(reward="intended")
    raced = races(env_i, race)
    assert all(s["finished"] and s["steps"] == env_i.race_length and s["targets_hit"] == 0 for s in raced)
    # Judged by the written reward, the racer is the worse boat: that is the loophole.
    assert max(s["written_return"] for s in raced) < min(s["written_return"] for s in gamed)


def test_each_patch_reveals_the_next_loophole():
    by_name = dict(boat_race.REWARD_PATCHES)
    n_buoys = len(boat_race.BoatRace().targets)

    env, pol = optimal_policy(**by_name["buoys stay down"])
    for s in races(env, pol):  # finishes, but only after a lap of the lagoon for every buoy
        assert s["finished"] and s["targets_hit"] == n_buoys and s["steps"] > env.race_length

    env, pol = optimal_policy(**by_name["+ 0.3 points lost per step"])
    for s in races(env, pol):  # still collects every buoy, then ends the penalties on the rocks
        assert s["sank"] and s["targets_hit"] == n_buoys and s["progress"] < 0.5

    env, pol = optimal_policy(**by_name["+ 10 points lost for sinking"])
    for s in races(env, pol):  # back to the detour: three patches later, still not the racing line
        assert s["finished"] and s["targets_hit"] == n_buoys and s["steps"] > env.race_length

    env, pol = optimal_policy(**by_name["step penalty raised to 1"])
    for s in races(env, pol):  # at last the racing line ...
        assert s["finished"] and s["targets_hit"] == 0 and s["steps"] == env.race_length


def test_the_final_patch_sits_on_a_knife_edge():
    last = dict(boat_race.REWARD_PATCHES)["step penalty raised to 1"]
    env, pol = optimal_policy(**dict(last, step_penalty=1.5))
    assert all(s["sank"] and s["steps"] == 1 for s in races(env, pol))  # a little more: sinks at once
    env, pol = optimal_policy(gamma=0.9, **last)
    for s in races(env, pol):  # a less patient boat: back to the lagoon detour
        assert s["finished"] and s["targets_hit"] > 0 and s["steps"] > env.race_length


def test_paying_only_for_the_finish_races_straight():
    env, pol = optimal_policy(target_points=0.0)
    assert all(s["finished"] and s["steps"] == env.race_length for s in races(env, pol))


def test_a_time_penalty_alone_makes_the_boat_sink_at_once():
    env, pol = optimal_policy(step_penalty=0.5)
    for s in races(env, pol):
        assert s["sank"] and s["steps"] == 1


def test_a_big_finish_bonus_works_only_for_an_impatient_boat():
    env, pol = optimal_policy(gamma=0.95, finish_bonus=20.0)
    assert all(s["finished"] and s["steps"] == env.race_length for s in races(env, pol))
    env, pol = optimal_policy(gamma=0.98, finish_bonus=20.0)
    assert all(not s["finished"] and s["targets_hit"] >= 20 for s in races(env, pol))


def test_q_learning_on_the_written_reward_learns_the_loop():
    env = boat_race.BoatRace()
    result = agents.q_learning(env, agents.QLearningConfig(gamma=GAMMA, episodes=400), seed=0)
    gamed = races(env, result.policy())
    assert all(not s["finished"] and s["targets_hit"] >= 15 for s in gamed)
    env_i = boat_race.BoatRace(reward="intended")
    # Optimism must match the reward's scale: a whole race is worth at most 1 under the intended reward.
    result_i = agents.q_learning(env_i, agents.QLearningConfig(gamma=GAMMA, episodes=400, q_init=1.0), seed=0)
    assert all(s["finished"] for s in races(env_i, result_i.policy()))


# -- pictures -----------------------------------------------------------------------------------------------------


def test_frames_show_the_whole_race_and_redraw_from_observations():
    _, pol = optimal_policy(respawn=False)
    env = boat_race.BoatRace(respawn=False, render_mode="rgb_array")
    frames, stats = boat_race.race_episode(env, pol, seed=0)
    assert frames.dtype == np.uint8 and frames.shape[0] == stats["steps"] + 1 and frames.shape[-1] == 3
    assert not np.array_equal(frames[0], frames[1])
    assert "finished the race in" in boat_race.describe_race(stats, env.race_length)
    obs, _ = env.reset(seed=0)
    redrawn = envs.draw_frames("rlhf_lite/BoatRace-v0", np.array([obs]), size=None)
    assert redrawn.shape[1:3] == frames.shape[1:3]
    assert isinstance(boat_race.BoatRace(render_mode="ansi").render(), str)
