"""The reference policy of RLHF's KL penalty: a frozen snapshot of a PPO policy, and the exact KL from it.

InstructGPT-style RLHF pays the policy ``r_hat - beta * (log pi(a|s) - log pi_ref(a|s))`` per step, so that it
cannot wander far from a reference (usually the policy it started as) to where the learned reward is wrong.
:class:`ReferencePolicy` is that reference for :class:`rlhf_lite.agents.PPOAgent`; :func:`exact_kl` measures
how far a policy has moved from it (lesson 05 plots the true return against it, after Gao et al. 2022).
"""

from __future__ import annotations

import copy

import gymnasium as gym
import numpy as np
import torch

from .networks import PolicyNet, _flatten_obs


class ReferencePolicy:
    """A frozen copy of a policy network ``net`` and the observation normalisation it acted with (``obs_mean``,
    ``obs_var`` ``[obs_dim]``, used when ``norm_obs``), so it stays one fixed function of the raw observation
    however the agent's own running statistics move on. Training the agent never changes it."""

    def __init__(
        self,
        net: PolicyNet,
        observation_space: gym.Space,
        obs_mean: np.ndarray,
        obs_var: np.ndarray,
        norm_obs: bool,
    ):
        self.net = copy.deepcopy(net).requires_grad_(False)
        self.observation_space = observation_space
        self.obs_mean, self.obs_var = np.array(obs_mean, np.float64), np.array(obs_var, np.float64)
        self.norm_obs = bool(norm_obs)

    def inputs(self, observations: np.ndarray) -> np.ndarray:
        """Raw observations ``[B, *obs_shape]`` -> this policy's network input ``[B, obs_dim]`` float32."""
        x = _flatten_obs(self.observation_space, observations)
        if self.norm_obs:
            x = np.clip((x - self.obs_mean) / np.sqrt(self.obs_var + 1e-8), -10, 10).astype(np.float32)
        return x

    def log_prob(self, observations: np.ndarray, raw_actions: np.ndarray) -> np.ndarray:
        """``log pi_ref(a|s)`` ``[B]`` of network actions ``raw_actions [B, ...]`` (as sampled, before clipping to
        the env's bounds) in raw observations ``[B, *obs_shape]``."""
        with torch.inference_mode():
            logp, _ = self.net.evaluate(torch.from_numpy(self.inputs(observations)), torch.from_numpy(raw_actions))
        return logp.numpy()

    def state_dict(self) -> dict:
        """Tensors only (``torch.load(weights_only=True)`` safe)."""
        return {
            "net": self.net.state_dict(),
            "obs_mean": torch.as_tensor(self.obs_mean),
            "obs_var": torch.as_tensor(self.obs_var),
        }

    def load_state_dict(self, state: dict) -> None:
        self.net.load_state_dict(state["net"])
        self.obs_mean = state["obs_mean"].numpy().astype(np.float64)
        self.obs_var = state["obs_var"].numpy().astype(np.float64)


def exact_kl(p: PolicyNet, x_p: torch.Tensor, q: PolicyNet, x_q: torch.Tensor) -> torch.Tensor:
    """``KL(p(.|s) || q(.|s))`` ``[B]`` in nats for each state, given each network's own input for it
    (``x_p``, ``x_q`` ``[B, obs_dim]``): ``sum_a p log(p / q)`` for categorical actions; for diagonal Gaussians
    the closed form ``sum_i log(sq/sp) + (sp^2 + (mp - mq)^2) / (2 sq^2) - 1/2`` (with gSDE: the
    state-dependent Gaussian each policy samples from)."""
    if p.discrete:
        logp, logq = torch.log_softmax(p.actor(x_p), dim=-1), torch.log_softmax(q.actor(x_q), dim=-1)
        return (logp.exp() * (logp - logq)).sum(-1)
    mean_p, std_p, _ = p._gaussian(x_p)
    mean_q, std_q, _ = q._gaussian(x_q)
    std_p, std_q = std_p.expand_as(mean_p), std_q.expand_as(mean_q)
    return (torch.log(std_q / std_p) + (std_p.pow(2) + (mean_p - mean_q).pow(2)) / (2 * std_q.pow(2)) - 0.5).sum(-1)
