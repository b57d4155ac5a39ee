"""The settings of one RLHF run and its schedule: how many environment steps and labels each round gets.

:class:`RLHFConfig` holds every setting of a run (one line of help each; the ranges feed notebook 04's
sliders). :func:`round_sizes` cuts the step budget into rounds; :func:`label_schedule` says how many labels
to ask before training and after each round. :class:`rlhf_lite.loop.RLHFLoop` runs to both; the yardstick
(:func:`rlhf_lite.tasks.train_true_reward`) uses the same rounds.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

import numpy as np

from rlhf_lite import envs
from rlhf_lite.config import Config, param

if TYPE_CHECKING:
    from rlhf_lite.agents import PPOConfig


@dataclasses.dataclass
class RLHFConfig(Config):
    """Hyperparameters of one RLHF run (one line of help each; ranges feed the notebook's sliders)."""

    env_id: str = param(
        "Pendulum-v1", "task with fixed-length episodes: Pendulum-v1 (swing up and hold) or CartPole-v1 (balance)"
    )
    horizon: int = param(
        200, "steps in every episode (a fixed length: a variable one would leak the reward)", low=1, high=100_000
    )
    mark_end: bool = param(
        True,
        "add a flag to the observation saying the episode has ended early (the pole fell), so the learned reward "
        "can tell the absorbing state apart (tasks that can end early only)",
        choices=(True, False),
    )
    total_steps: int = param(
        80_000, "environment steps of the whole run (random-policy clips plus PPO training)", low=1, high=100_000_000
    )
    label_budget: int = param(25, "labels asked for in the whole run", low=1, high=100_000)
    initial_fraction: float = param(
        0.4, "share of the budget asked about clips of the random policy, before training", low=0.0, high=1.0
    )
    min_initial_labels: int = param(
        1,
        "labels asked before training at least (capped by the budget): a first reward fitted on 3-4 answers "
        "cannot tell 'up' from 'fast'",
        low=1,
        high=100_000,
    )
    label_rounds: int = param(
        0,
        "0: labels asked after every round (online); R >= 1: only before training and after rounds 1..R, so the "
        "predictor is frozen from round R+1 on",
        low=0,
        high=100_000,
    )
    queries_per_round: int = param(
        3, "most labels asked after one round of training (later rounds ask fewer)", low=1, high=10_000
    )
    segment_length: int = param(
        25, "steps per clip that a labeler compares (25 steps of Pendulum = 1.25 s)", low=1, high=10_000
    )
    segments_per_round: int = param(
        40, "clips cut from each round's rollouts, the pool pairs are drawn from", low=2, high=100_000
    )
    selection: str = param(
        "active",
        "which pairs to ask: 'random', or 'active' (those the ensemble disagrees on most)",
        choices=("random", "active"),
    )
    candidates_per_query: int = param(
        10, "active selection: random candidate pairs scored for each pair asked", low=1, high=1_000
    )
    reward_inputs: str = param(
        "observation",
        "what the learned reward looks at: 'observation' r(o), or 'observation_action' r(o, a) as in the paper "
        "(easier for PPO to game with few labels)",
        choices=("observation", "observation_action"),
    )
    ensemble_size: int = param(
        3, "reward networks in the ensemble (their disagreement drives active queries)", low=1, high=16
    )
    noise_prob: float = param(
        0.1,
        "chance that an answer is random: what the reward model assumes (and the oracle's error rate)",
        low=0.0,
        high=1.0,
        high_open=True,
    )
    learning_rate: float = param(
        1e-3,
        "PPO's Adam step size (decays linearly to 0 over the run when anneal_lr)",
        low=0.0,
        high=1.0,
        low_open=True,
    )
    anneal_lr: bool = param(True, "decay PPO's learning rate linearly over the whole run", choices=(True, False))
    steps_per_round: int = param(
        4096, "environment steps of PPO training between two refits of the reward model", low=1, high=10_000_000
    )
    eval_episodes: int = param(
        5,
        "greedy episodes measuring the true return after each round (evaluation only, not training steps)",
        low=0,
        high=1_000,
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        try:
            envs.check_env_id(self.env_id)
        except ValueError as e:
            raise ValueError(f"RLHFConfig.{e}") from None
        if self.segment_length > self.horizon:
            raise ValueError(
                f"RLHFConfig.segment_length={self.segment_length} is out of range: "
                f"expected at most horizon={self.horizon} "
                "(a clip is cut from one episode)"
            )


def label_schedule(config: RLHFConfig, rounds: int) -> list[int]:
    """Labels to ask before training (entry 0) and after each of ``rounds`` rounds: ``[rounds + 1]``, sum = budget.

    At least ``min_initial_labels`` labels (one by default) come before training (so the first reward is not
    a random network). The rest are
    spread over the rounds at a rate that falls like ``1 / sqrt(round)``, at most ``queries_per_round`` each:
    more early, when the predictor knows least, but some to the end, so that the predictor keeps up with
    what the policy does (a frozen predictor gets gamed: lesson 05). The last round asks nothing, as no
    training would follow to use the answers. ``label_rounds = R >= 1`` spreads the rest over rounds 1..R
    only (zeros after round R: the predictor is frozen from round R + 1 on).
    """
    budget = config.label_budget
    first = min(budget, max(config.min_initial_labels, round(budget * config.initial_fraction)))
    rest, useful = budget - first, max(0, rounds - 1)
    if config.label_rounds:
        useful = min(useful, config.label_rounds)
    counts = [0] * useful
    if useful:
        cap = max(config.queries_per_round, math.ceil(rest / useful))
        weights = 1.0 / np.sqrt(np.arange(1, useful + 1))
        while rest > 0:  # hand out what is left by weight among rounds below the cap (water-filling)
            open_ = np.array([c < cap for c in counts])
            share = rest * np.where(open_, weights, 0) / weights[open_].sum()
            cumulative = np.round(np.cumsum(share)).astype(int)
            add = np.minimum(np.diff(np.concatenate([[0], cumulative])), cap - np.array(counts))
            if add.sum() == 0:  # rounding gave nothing: one label to the earliest open round
                add[int(np.argmax(open_))] = 1
            counts = [c + int(a) for c, a in zip(counts, add)]
            rest -= int(add.sum())
    else:
        first += rest  # one round or none: everything before training
    return [first] + counts + [0] * (rounds - useful)


def round_sizes(config: RLHFConfig, ppo: PPOConfig) -> tuple[int, int, int]:
    """``(random_steps, round_steps, num_rounds)``: one random-policy episode per env before training, then
    rounds of whole PPO batches of at least ``steps_per_round`` until ``total_steps`` is spent."""
    random_steps, batch_steps = ppo.num_envs * config.horizon, ppo.num_envs * ppo.num_steps
    round_steps = max(1, math.ceil(config.steps_per_round / batch_steps)) * batch_steps
    return random_steps, round_steps, max(0, math.ceil((config.total_steps - random_steps) / round_steps))
