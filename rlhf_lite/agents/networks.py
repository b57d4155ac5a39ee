"""Neural policies for PPO: the actor-critic network, running normalisation, observation flattening and the
conversion of network samples to env actions."""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from rlhf_lite import rollouts

LOG_2PI = math.log(2 * math.pi)


def _mlp(sizes: list[int], activation: str, out_gain: float, generator: torch.Generator) -> nn.Sequential:
    """Linear layers with orthogonal init (CleanRL's recipe: gain sqrt(2) inside, ``out_gain`` on the last)."""
    act = {"tanh": nn.Tanh, "relu": nn.ReLU}[activation]
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layer = nn.Linear(sizes[i], sizes[i + 1])
        last = i == len(sizes) - 2
        nn.init.orthogonal_(layer.weight, out_gain if last else math.sqrt(2), generator=generator)
        nn.init.zeros_(layer.bias)
        layers.append(layer)
        if not last:
            layers.append(act())
    return nn.Sequential(*layers)


def _obs_dim(space: gym.Space) -> int:
    if isinstance(space, spaces.Discrete):
        return int(space.n)  # one-hot
    if isinstance(space, spaces.Box):
        return int(np.prod(space.shape))
    raise ValueError(f"observation space {space} is not supported: expected Box or Discrete")


def _check_action_space(space: gym.Space) -> None:
    if not isinstance(space, (spaces.Discrete, spaces.Box)):
        raise ValueError(f"action space {space} is not supported: expected Discrete or Box")


class PolicyNet(nn.Module):
    """Observation -> action distribution: Categorical logits for ``Discrete`` actions, a diagonal Gaussian
    for ``Box`` actions; and, when ``critic=True``, a separate value network.

    The Gaussian's spread is either one learned ``log_std`` per action dimension, or, with ``use_sde``,
    *state-dependent exploration* (gSDE, Raffin et al. 2022): the noise is ``features(s) @ W`` with a random
    matrix ``W`` that is redrawn only every few steps, so exploration is smooth in time (good for torque
    control), and its variance ``(features(s)**2) @ exp(2 * log_std)`` depends on the state.
    All methods take flat observations ``[B, obs_dim]`` (float32, already one-hot/normalised).
    """

    def __init__(
        self,
        observation_space: gym.Space,
        action_space: gym.Space,
        hidden_size: int,
        num_layers: int,
        activation: str,
        log_std_init: float,
        generator: torch.Generator,
        critic: bool = True,
        use_sde: bool = False,
    ):
        super().__init__()
        _check_action_space(action_space)
        self.discrete = isinstance(action_space, spaces.Discrete)
        self.use_sde = use_sde and not self.discrete
        self.act_dim = int(action_space.n) if self.discrete else int(np.prod(action_space.shape))
        sizes = [_obs_dim(observation_space)] + [hidden_size] * num_layers
        self.actor = _mlp(sizes + [self.act_dim], activation, 0.01, generator)
        self.critic = _mlp(sizes + [1], activation, 1.0, generator) if critic else None
        if not self.discrete:
            shape = (hidden_size, self.act_dim) if self.use_sde else (self.act_dim,)
            self.log_std = nn.Parameter(torch.full(shape, float(log_std_init)))

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        """``[B]`` state values."""
        return self.critic(obs).squeeze(-1)

    def sample_sde_matrix(self, batch: int, generator: torch.Generator) -> torch.Tensor:
        """gSDE exploration matrices ``[batch, hidden, act_dim]``, entries ~ N(0, exp(log_std))."""
        std = self.log_std.detach().exp()
        return std * torch.randn((batch,) + tuple(std.shape), generator=generator)

    def sample(
        self,
        obs: torch.Tensor,
        generator: torch.Generator,
        deterministic: bool = False,
        sde_matrix: torch.Tensor | None = None,
    ):
        """``(actions, log_probs [B])``: actions ``[B]`` (int64) or ``[B, act_dim]`` (float32, unclipped).

        ``sde_matrix [B, hidden, act_dim]`` (gSDE only) is the current exploration noise; a fresh one if None.
        """
        if self.discrete:
            out = self.actor(obs)
            logp_all = torch.log_softmax(out, dim=-1)
            if deterministic:
                action = out.argmax(-1)
            else:  # Gumbel-max trick: one cheap sample per row from our own generator
                u = torch.rand(out.shape, generator=generator).clamp_(1e-20, 1.0)
                action = (logp_all - torch.log(-torch.log(u))).argmax(-1)
            return action, logp_all.gather(-1, action[:, None]).squeeze(-1)
        mean, std, features = self._gaussian(obs)
        if deterministic:
            action = mean
        elif self.use_sde:
            if sde_matrix is None:
                sde_matrix = self.sample_sde_matrix(len(obs), generator)
            action = mean + torch.bmm(features[:, None, :], sde_matrix).squeeze(1)
        else:
            action = mean + std * torch.randn(mean.shape, generator=generator)
        return action, self._gauss_logp(mean, std, action)

    def evaluate(self, obs: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(log_probs [B], entropy [B])`` of given actions under the current policy (for the update)."""
        if self.discrete:
            logp_all = torch.log_softmax(self.actor(obs), dim=-1)
            entropy = -(logp_all.exp() * logp_all).sum(-1)
            return logp_all.gather(-1, actions.long()[:, None]).squeeze(-1), entropy
        mean, std, _ = self._gaussian(obs)
        entropy = (0.5 + 0.5 * LOG_2PI + torch.log(std)).sum(-1).expand(mean.shape[0])
        return self._gauss_logp(mean, std, actions), entropy

    def _gaussian(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``(mean [B, A], std [B, A] or [A], features [B, H] or None)`` of the action distribution."""
        if not self.use_sde:
            return self.actor(obs), self.log_std.exp(), None
        features = self.actor[:-1](obs)
        mean = self.actor[-1](features)
        # the noise scale learns through log_std only, not by moving the features (gSDE's learn_features=False)
        variance = features.detach().pow(2) @ (2 * self.log_std).exp()
        return mean, torch.sqrt(variance + 1e-6), features.detach()

    @staticmethod
    def _gauss_logp(mean: torch.Tensor, std: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        z = (action - mean) / std
        return (-0.5 * z.pow(2) - torch.log(std) - 0.5 * LOG_2PI).sum(-1)


class RunningMeanStd:
    """Running mean and variance of a stream of arrays ``[B, *shape]`` (Chan et al.'s parallel update)."""

    def __init__(self, shape: tuple[int, ...] = ()):
        self.mean = np.zeros(shape, np.float64)
        self.var = np.ones(shape, np.float64)
        self.count = 1e-4

    def update(self, x: np.ndarray) -> None:
        x = np.asarray(x, np.float64)
        b_mean, b_var, b_count = x.mean(0), x.var(0), x.shape[0]
        delta = b_mean - self.mean
        total = self.count + b_count
        self.mean = self.mean + delta * b_count / total
        self.var = (self.var * self.count + b_var * b_count + delta**2 * self.count * b_count / total) / total
        self.count = total

    def state_dict(self) -> dict:
        return {"mean": torch.as_tensor(self.mean), "var": torch.as_tensor(self.var), "count": float(self.count)}

    def load_state_dict(self, state: dict) -> None:
        self.mean, self.var = state["mean"].numpy().astype(np.float64), state["var"].numpy().astype(np.float64)
        self.count = float(state["count"])


def _flatten_obs(space: gym.Space, obs: np.ndarray) -> np.ndarray:
    """Observations ``[B, *obs_shape]`` -> float32 ``[B, obs_dim]`` (one-hot for ``Discrete``)."""
    if isinstance(space, spaces.Discrete):
        out = np.zeros((len(obs), int(space.n)), np.float32)
        out[np.arange(len(obs)), np.asarray(obs, np.int64).reshape(-1) - int(space.start)] = 1.0
        return out
    x = np.asarray(obs, np.float32)
    if x.shape[1:] != tuple(space.shape):
        raise ValueError(
            f"observations have shape {x.shape}: expected [B, {', '.join(map(str, space.shape))}] for "
            f"observation_space={space} (an env made with other settings than the agent's, e.g. "
            "without the RLHF loop's mark_end? loop.make_env(config) makes a matching one)"
        )
    return x.reshape(len(x), -1)


def _env_actions(action_space: gym.Space, actions: np.ndarray) -> np.ndarray:
    """Network samples -> what the env accepts: int64 for Discrete; clipped to bounds and shaped for Box."""
    if isinstance(action_space, spaces.Discrete):
        return actions.astype(np.int64) + int(action_space.start)
    a = actions.reshape((len(actions),) + action_space.shape)
    return np.clip(a, action_space.low, action_space.high).astype(action_space.dtype)


def _single_obs_policy(agent: Any, deterministic: bool) -> rollouts.Policy:
    discrete = isinstance(agent.action_space, spaces.Discrete)

    def policy(obs: Any) -> Any:
        a = agent.act(np.asarray(obs)[None], deterministic=deterministic)[0]
        return int(a) if discrete else a

    return policy
