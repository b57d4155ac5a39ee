"""PPO's hyperparameters: :class:`PPOConfig` (validated, one line of help per field) and per-task ``PRESETS``."""

from __future__ import annotations

import dataclasses
from typing import Any

from rlhf_lite.config import Config, param


@dataclasses.dataclass
class PPOConfig(Config):
    """Hyperparameters of PPO (Schulman et al. 2017) in the style of CleanRL's ``ppo.py``.

    The defaults are CleanRL's generic ones; :meth:`cartpole` and :meth:`pendulum` (or :meth:`for_env`)
    give settings tuned for the lessons' tasks.
    """

    num_envs: int = param(
        4, "environments stepped in parallel (one batched network call per step for all)", low=1, high=256
    )
    num_steps: int = param(
        128, "steps per environment per rollout; batch size = num_envs * num_steps", low=1, high=100_000
    )
    learning_rate: float = param(2.5e-4, "Adam step size", low=0.0, high=1.0, low_open=True)
    anneal_lr: bool = param(
        True, "decay the learning rate linearly to 0 over each learn() call's total_steps", choices=(True, False)
    )
    gamma: float = param(0.99, "discount: how much a reward one step later is worth", low=0.0, high=1.0)
    gae_lambda: float = param(
        0.95,
        "how far ahead PPO looks when it judges an action (GAE's lambda): 0 = only the next step's reward "
        "and value estimate (steady, but biased), 1 = every reward to the end of the episode (unbiased, but noisy)",
        low=0.0,
        high=1.0,
    )
    update_epochs: int = param(4, "passes over each rollout batch", low=1, high=1000)
    num_minibatches: int = param(
        4, "minibatches per pass (minibatch size = batch size / num_minibatches)", low=1, high=100_000
    )
    clip_coef: float = param(
        0.2, "PPO clip: how far the probability ratio may move from 1 per update", low=0.0, high=10.0, low_open=True
    )
    clip_vloss: bool = param(False, "clip the value update around the old values too", choices=(True, False))
    norm_adv: bool = param(
        True,
        "rescale how much better than expected each action was to mean 0 and spread 1 in every minibatch",
        choices=(True, False),
    )
    ent_coef: float = param(0.01, "entropy bonus weight: keeps the policy exploring", low=0.0, high=10.0)
    vf_coef: float = param(0.5, "value loss weight", low=0.0, high=100.0)
    max_grad_norm: float = param(0.5, "clip the gradient's global norm to this", low=0.0, high=1000.0, low_open=True)
    target_kl: float = param(
        0.0, "stop an update early when approximate KL exceeds this (0 = never)", low=0.0, high=10.0
    )
    kl_coef: float = param(
        0.0,
        "how strongly to keep the policy close to a reference policy (by default the one it started as): each "
        "step's reward loses kl_coef times how much more likely the new policy was to take that action than the "
        "reference (log pi - log pi_ref), so drifting far from it costs reward (0 = no penalty)",
        low=0.0,
        high=100.0,
    )
    hidden_size: int = param(64, "units per hidden layer (policy and value networks are separate)", low=1, high=4096)
    num_layers: int = param(2, "hidden layers per network", low=1, high=8)
    activation: str = param("tanh", "hidden-layer nonlinearity", choices=("tanh", "relu"))
    log_std_init: float = param(
        0.0, "continuous actions: starting log standard deviation of the Gaussian", low=-10.0, high=5.0
    )
    use_sde: bool = param(
        False,
        "continuous actions: state-dependent exploration (gSDE), noise redrawn every sde_sample_freq steps",
        choices=(True, False),
    )
    sde_sample_freq: int = param(
        4, "gSDE: steps between redraws of the exploration noise (0 = once per rollout)", low=0, high=100_000
    )
    norm_obs: bool = param(
        False, "standardise observations with running mean/std (saved with the agent)", choices=(True, False)
    )
    norm_reward: bool = param(False, "scale rewards by the running std of the discounted return", choices=(True, False))

    @classmethod
    def cartpole(cls, **changes: Any) -> PPOConfig:
        """Tuned for CartPole-v1 (RL-zoo-like: 8 envs, short rollouts, lambda 0.8, gamma 0.98, no entropy bonus,
        a high annealed learning rate). ``benchmarks/ppo_cartpole.py`` measures how fast it solves the task."""
        return cls(**{**PRESETS["CartPole-v1"], **changes})

    @classmethod
    def pendulum(cls, **changes: Any) -> PPOConfig:
        """Tuned for Pendulum-v1 (fixed 200-step episodes, continuous torque): RL-zoo's settings (gamma 0.9,
        lambda 0.95, gSDE exploration, 10 epochs, lr 1e-3) with 16 envs and minibatches of 256 for speed."""
        return cls(**{**PRESETS["Pendulum-v1"], **changes})

    @classmethod
    def for_env(cls, env_id: str, **changes: Any) -> PPOConfig:
        """The preset for ``env_id`` if there is one (see ``PRESETS``), else the generic defaults."""
        return cls(**{**PRESETS.get(env_id, {}), **changes})


PRESETS: dict[str, dict[str, Any]] = {
    "CartPole-v1": dict(
        num_envs=8,
        num_steps=32,
        learning_rate=3e-3,
        gamma=0.98,
        gae_lambda=0.8,
        update_epochs=10,
        num_minibatches=1,
        ent_coef=0.0,
    ),
    "Pendulum-v1": dict(
        num_envs=16,
        num_steps=256,
        learning_rate=1e-3,
        anneal_lr=False,
        gamma=0.9,
        gae_lambda=0.95,
        update_epochs=10,
        num_minibatches=16,
        ent_coef=0.0,
        use_sde=True,
        sde_sample_freq=4,
        log_std_init=0.0,
    ),
}
"""Per-task PPO settings, for :meth:`PPOConfig.for_env`."""
