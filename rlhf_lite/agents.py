"""The RL-algorithm box: tabular Q-learning, REINFORCE and PPO, each with a validated config dataclass.

Read in this order:

* :func:`q_learning` and :func:`value_iteration`: a table of action values ``Q[s, a]``, learned from
  experience or computed from the model. Small worlds only, but every idea of later lessons is already here:
  reward per step, discounting (``gamma``), exploration (``epsilon``, optimistic ``q_init``).
* :func:`reinforce`: a neural policy trained by the plainest policy gradient, ``grad log pi(a|s) * G``.
* :class:`PPOAgent`: the workhorse of RLHF (CleanRL-style PPO over a vector of environments). The RLHF loop
  swaps the environment's reward for a learned one through ``learn(..., reward_fn=...)``.

Randomness is always passed in (``seed``): networks are initialised and actions sampled from this module's
own ``torch.Generator`` objects, never from global random state, so runs repeat exactly.

Speed: these networks are tiny, so torch's per-call overhead, not arithmetic, is the cost. Scripts and
notebooks should call ``torch.set_num_threads(1)`` (faster here than 2 threads, and far faster when the
machine is busy); this module leaves global torch settings alone.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import os
import time
from typing import Any, Callable

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from . import envs, rollouts
from .config import Config, param

Callback = Callable[[dict], "bool | None"]
"""Called after each episode (tabular) or iteration (PPO) with a dict of progress; returning True stops."""

LOG_2PI = math.log(2 * math.pi)


def _progress_bar(total: int, enabled: bool, desc: str):
    """A ``tqdm.auto`` bar (a widget in Jupyter, text in a terminal), or a do-nothing stand-in."""
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=True)


class _NoBar:
    def update(self, n: int = 1) -> None: ...
    def set_postfix_str(self, s: str, refresh: bool = True) -> None: ...
    def close(self) -> None: ...


# ========================================================================================================
# Tabular: Q-learning and value iteration
# ========================================================================================================


@dataclasses.dataclass
class QLearningConfig(Config):
    """Hyperparameters of tabular Q-learning."""

    gamma: float = param(0.95, "discount: how much a reward one step later is worth (0 = myopic, 1 = far-sighted)", low=0.0, high=1.0)
    learning_rate: float = param(0.5, "step size alpha of each update Q <- Q + alpha * (target - Q)", low=0.0, high=1.0, low_open=True)
    epsilon: float = param(0.1, "probability of a random action instead of the greedy one (exploration)", low=0.0, high=1.0)
    episodes: int = param(300, "number of training episodes", low=1, high=1_000_000)
    q_init: float = param(10.0, "starting value of every Q[s, a]; optimistic (high) values make the agent try everything", low=-1e6, high=1e6)
    max_steps: int = param(100, "cap on steps per episode (the env may end episodes earlier)", low=1, high=1_000_000)


@dataclasses.dataclass
class QLearningResult:
    """``q [S, A]``: the learned action values; ``episode_returns [E]`` and ``episode_lengths [E]``: one entry
    per training episode (undiscounted return, steps)."""

    q: np.ndarray
    episode_returns: np.ndarray
    episode_lengths: np.ndarray

    def policy(self) -> rollouts.Policy:
        return greedy_policy(self.q)


def _argmax_random_ties(values: np.ndarray, rng: np.random.Generator) -> int:
    """Index of the largest value, ties broken at random (with optimistic starts, ties are everywhere)."""
    best = np.flatnonzero(values == values.max())
    return int(best[0] if len(best) == 1 else rng.choice(best))


def q_learning(
    env: gym.Env | str,
    config: QLearningConfig | None = None,
    *,
    seed: int,
    callback: Callback | None = None,
    progress: bool = False,
) -> QLearningResult:
    """Tabular Q-learning (Watkins 1989) with epsilon-greedy exploration on a ``Discrete``-observation env.

    After each step: ``Q[s, a] += lr * (r + gamma * max_a' Q[s', a'] - Q[s, a])``, with no bootstrap when the
    episode *terminated* (a reached treasure is worth nothing more), but with one when it was only cut off.
    ``callback({"episode", "return", "length", "q"})`` runs after each episode; returning True stops.
    """
    config = config or QLearningConfig()
    if isinstance(env, str):
        env = envs.make_env(env, seed=seed)
    if not isinstance(env.observation_space, spaces.Discrete) or not isinstance(env.action_space, spaces.Discrete):
        raise ValueError(
            f"q_learning needs Discrete observation and action spaces, got {env.observation_space} and {env.action_space}"
        )
    rng = np.random.default_rng(seed)
    n_states, n_actions = int(env.observation_space.n), int(env.action_space.n)
    q = np.full((n_states, n_actions), float(config.q_init))
    returns, lengths = [], []
    bar = _progress_bar(config.episodes, progress, "Q-learning")
    for episode in range(config.episodes):
        s, _ = env.reset(seed=seed if episode == 0 else None)
        total, steps = 0.0, 0
        for steps in range(1, config.max_steps + 1):
            if rng.random() < config.epsilon:
                a = int(rng.integers(n_actions))
            else:
                a = _argmax_random_ties(q[s], rng)
            s2, r, terminated, truncated, _ = env.step(a)
            target = r if terminated else r + config.gamma * q[s2].max()
            q[s, a] += config.learning_rate * (target - q[s, a])
            total += r
            s = s2
            if terminated or truncated:
                break
        returns.append(total)
        lengths.append(steps)
        bar.update()
        if callback is not None and callback({"episode": episode, "return": total, "length": steps, "q": q}):
            break
    bar.close()
    return QLearningResult(q=q, episode_returns=np.array(returns), episode_lengths=np.array(lengths))


def value_iteration(
    P: np.ndarray,
    R: np.ndarray,
    gamma: float,
    terminal: np.ndarray | None = None,
    tol: float = 1e-10,
    max_iterations: int = 100_000,
) -> tuple[np.ndarray, np.ndarray]:
    """Optimal values of a known MDP: repeat ``Q = R + gamma * P @ V``, ``V = max_a Q`` until it stops moving.

    ``P [S, A, S']`` transition probabilities, ``R [S, A]`` expected reward, ``terminal [S]`` bool (value 0:
    the episode is over there). Returns ``(V [S], Q [S, A])``. With ``gamma == 1`` it converges only if every
    policy reaches a terminal state; ``max_iterations`` stops it otherwise.
    """
    P, R = np.asarray(P, dtype=np.float64), np.asarray(R, dtype=np.float64)
    if P.ndim != 3 or R.shape != P.shape[:2] or P.shape[0] != P.shape[2]:
        raise ValueError(f"expected P [S, A, S] and R [S, A], got P {P.shape} and R {R.shape}")
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma={gamma!r} is out of range: expected a number in [0, 1]")
    alive = np.ones(P.shape[0]) if terminal is None else 1.0 - np.asarray(terminal, dtype=np.float64)
    # Each state leads to only a few next states, so P is mostly zeros: sum over its nonzeros only
    # (the same numbers as P @ V, about 10x faster on the BoatRace of lesson 02).
    S, A = R.shape
    rows, cols = np.nonzero(P.reshape(S * A, S))
    probs = P.reshape(S * A, S)[rows, cols]
    V = np.zeros(S)
    Q = R.copy()
    for _ in range(max_iterations):
        Q = R + gamma * np.bincount(rows, weights=probs * (V * alive)[cols], minlength=S * A).reshape(S, A)
        V_new = Q.max(axis=1) * alive
        if np.max(np.abs(V_new - V)) < tol:
            V = V_new
            break
        V = V_new
    return V, Q


def pendulum_swing_up(rng: np.random.Generator, noise: float = 0.0, random_prob: float = 0.0) -> rollouts.Policy:
    """A hand-written Pendulum-v1 controller: pump energy until the pole can reach the top, then balance it.

    Not a learner: lessons, label files and benchmarks use it as a source of clips that range from hanging
    still to balancing. ``noise`` is the std of Gaussian noise added to the torque; ``random_prob`` is the
    chance that an action is replaced by a uniformly random torque. Returns a one-observation policy.
    """

    def policy(obs: np.ndarray) -> np.ndarray:
        if random_prob > 0 and rng.random() < random_prob:
            return rng.uniform(-2.0, 2.0, size=(1,)).astype(np.float32)
        cos, sin, speed = obs
        energy = 0.5 * speed**2 + 15.0 * (cos - 1.0)  # 0 when the pole rests at the top
        if cos > 0.9:  # near upright: a PD controller holds it
            torque = -10.0 * np.arctan2(sin, cos) - 2.0 * speed
        elif energy < 0:  # push along the swing to add energy
            torque = 2.0 if speed >= 0 else -2.0
        else:  # enough energy: brake gently so it does not fly over
            torque = -0.5 if speed >= 0 else 0.5
        return np.clip([torque + noise * rng.normal()], -2.0, 2.0).astype(np.float32)

    return policy


def greedy_policy(q: np.ndarray) -> rollouts.Policy:
    """The policy that takes ``argmax_a q[s, a]`` (first best on ties) in state ``s``; for ``rollouts.rollout``."""
    q = np.asarray(q)

    def policy(obs: Any) -> int:
        return int(np.argmax(q[int(obs)]))

    return policy


# ========================================================================================================
# Neural policies shared by REINFORCE and PPO
# ========================================================================================================


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

    def sample(self, obs: torch.Tensor, generator: torch.Generator, deterministic: bool = False,
               sde_matrix: torch.Tensor | None = None):
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
        raise ValueError(f"observations have shape {x.shape}: expected [B, {', '.join(map(str, space.shape))}] for "
                         f"observation_space={space} (an env made with other settings than the agent's, e.g. "
                         "without the RLHF loop's mark_end? loop.make_env(config) makes a matching one)")
    return x.reshape(len(x), -1)


def _space_to_dict(space: gym.Space) -> dict:
    """A JSON/weights_only-safe description of a Box or Discrete space, so checkpoints rebuild agents."""
    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, spaces.Box):
        return {"type": "Box", "low": space.low.tolist(), "high": space.high.tolist(), "dtype": str(space.dtype)}
    raise ValueError(f"space {space} is not supported: expected Box or Discrete")


def _space_from_dict(d: dict) -> gym.Space:
    if d["type"] == "Discrete":
        return spaces.Discrete(d["n"], start=d["start"])
    dtype = np.dtype(d["dtype"])
    return spaces.Box(np.array(d["low"], dtype), np.array(d["high"], dtype), dtype=dtype)


# ========================================================================================================
# REINFORCE
# ========================================================================================================


@dataclasses.dataclass
class ReinforceConfig(Config):
    """Hyperparameters of REINFORCE (Williams 1992) with a mean-return baseline."""

    episodes: int = param(300, "number of training episodes", low=1, high=1_000_000)
    episodes_per_update: int = param(8, "episodes collected before each gradient step (more = less noisy)", low=1, high=1000)
    gamma: float = param(0.99, "discount used for the return-to-go G_t that weights each log-probability", low=0.0, high=1.0)
    learning_rate: float = param(1e-2, "Adam step size", low=0.0, high=1.0, low_open=True)
    hidden_size: int = param(32, "units per hidden layer of the policy network", low=1, high=4096)
    num_layers: int = param(1, "hidden layers of the policy network", low=1, high=8)
    normalize_returns: bool = param(True, "standardise returns-to-go per update (a simple baseline that cuts variance)", choices=(True, False))
    max_steps: int = param(500, "cap on steps per episode", low=1, high=1_000_000)


class ReinforceAgent:
    """A stochastic policy network trained by REINFORCE. ``act``/``policy`` match :class:`PPOAgent`'s."""

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, config: ReinforceConfig, *, seed: int):
        self.observation_space, self.action_space, self.config = observation_space, action_space, config
        self.generator = torch.Generator().manual_seed(int(seed))
        self.net = PolicyNet(observation_space, action_space, config.hidden_size, config.num_layers, "tanh", -0.5, self.generator, critic=False)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=config.learning_rate)

    def act(self, obs_batch: np.ndarray, deterministic: bool = False) -> np.ndarray:
        """Actions ``[B, ...]`` for observations ``[B, *obs_shape]`` (no gradient)."""
        with torch.no_grad():
            a, _ = self.net.sample(torch.from_numpy(_flatten_obs(self.observation_space, obs_batch)), self.generator, deterministic)
        return _env_actions(self.action_space, a.numpy())

    def policy(self, deterministic: bool = True) -> rollouts.Policy:
        return _single_obs_policy(self, deterministic)


def reinforce(
    env_id: str,
    config: ReinforceConfig | None = None,
    *,
    seed: int,
    horizon: int | None = None,
    callback: Callback | None = None,
    progress: bool = True,
) -> tuple[ReinforceAgent, list[dict]]:
    """Train a policy with REINFORCE: ``loss = -mean_t log pi(a_t|s_t) * G_t`` over a batch of episodes.

    ``G_t`` is the discounted return-to-go (:func:`rollouts.returns_to_go`), standardised per batch when
    ``normalize_returns``. ``callback({"episode", "return", "mean_return", "loss"})`` after each update.
    Returns ``(agent, history)`` with one dict per update.
    """
    config = config or ReinforceConfig()
    env = envs.make_env(env_id, seed=seed, horizon=horizon)
    agent = ReinforceAgent(env.observation_space, env.action_space, config, seed=seed)
    history: list[dict] = []
    recent: collections.deque = collections.deque(maxlen=20)
    bar = _progress_bar(config.episodes, progress, "REINFORCE")
    sample_policy = agent.policy(deterministic=False)
    episode = 0
    while episode < config.episodes:
        obs_list, act_list, ret_list, batch_returns = [], [], [], []
        for _ in range(min(config.episodes_per_update, config.episodes - episode)):
            traj = rollouts.rollout(env, sample_policy, max_steps=config.max_steps)
            obs_list.append(_flatten_obs(env.observation_space, traj.observations))
            act_list.append(np.asarray(traj.actions))
            ret_list.append(rollouts.returns_to_go(traj.rewards, config.gamma))
            batch_returns.append(traj.total_return)
            episode += 1
            bar.update()
        g = torch.as_tensor(np.concatenate(ret_list), dtype=torch.float32)
        if config.normalize_returns and len(g) > 1:
            g = (g - g.mean()) / (g.std() + 1e-8)
        actions = torch.as_tensor(np.concatenate(act_list))
        if not agent.net.discrete:
            actions = actions.float().reshape(len(g), -1)
        logp, _ = agent.net.evaluate(torch.from_numpy(np.concatenate(obs_list)), actions)
        loss = -(logp * g).mean()
        agent.optimizer.zero_grad()
        loss.backward()
        agent.optimizer.step()
        recent.extend(batch_returns)
        info = {"episode": episode, "episode_returns": batch_returns, "return": float(np.mean(batch_returns)),
                "mean_return": float(np.mean(recent)), "loss": float(loss.detach())}
        history.append(info)
        bar.set_postfix_str(f"mean return {info['mean_return']:.1f}")
        if callback is not None and callback(info):
            break
    bar.close()
    env.close()
    return agent, history


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


# ========================================================================================================
# PPO
# ========================================================================================================


@dataclasses.dataclass
class PPOConfig(Config):
    """Hyperparameters of PPO (Schulman et al. 2017) in the style of CleanRL's ``ppo.py``.

    The defaults are CleanRL's generic ones; :meth:`cartpole` and :meth:`pendulum` (or :meth:`for_env`)
    give settings tuned for the lessons' tasks.
    """

    num_envs: int = param(4, "environments stepped in parallel (one batched network call per step for all)", low=1, high=256)
    num_steps: int = param(128, "steps per environment per rollout; batch size = num_envs * num_steps", low=1, high=100_000)
    learning_rate: float = param(2.5e-4, "Adam step size", low=0.0, high=1.0, low_open=True)
    anneal_lr: bool = param(True, "decay the learning rate linearly to 0 over each learn() call's total_steps", choices=(True, False))
    gamma: float = param(0.99, "discount: how much a reward one step later is worth", low=0.0, high=1.0)
    gae_lambda: float = param(0.95, "GAE lambda: 0 = one-step TD advantages (low variance), 1 = Monte Carlo", low=0.0, high=1.0)
    update_epochs: int = param(4, "passes over each rollout batch", low=1, high=1000)
    num_minibatches: int = param(4, "minibatches per pass (minibatch size = batch size / num_minibatches)", low=1, high=100_000)
    clip_coef: float = param(0.2, "PPO clip: how far the probability ratio may move from 1 per update", low=0.0, high=10.0, low_open=True)
    clip_vloss: bool = param(False, "clip the value update around the old values too", choices=(True, False))
    norm_adv: bool = param(True, "standardise advantages per minibatch", choices=(True, False))
    ent_coef: float = param(0.01, "entropy bonus weight: keeps the policy exploring", low=0.0, high=10.0)
    vf_coef: float = param(0.5, "value loss weight", low=0.0, high=100.0)
    max_grad_norm: float = param(0.5, "clip the gradient's global norm to this", low=0.0, high=1000.0, low_open=True)
    target_kl: float = param(0.0, "stop an update early when approximate KL exceeds this (0 = never)", low=0.0, high=10.0)
    hidden_size: int = param(64, "units per hidden layer (policy and value networks are separate)", low=1, high=4096)
    num_layers: int = param(2, "hidden layers per network", low=1, high=8)
    activation: str = param("tanh", "hidden-layer nonlinearity", choices=("tanh", "relu"))
    log_std_init: float = param(0.0, "continuous actions: starting log standard deviation of the Gaussian", low=-10.0, high=5.0)
    use_sde: bool = param(False, "continuous actions: state-dependent exploration (gSDE), noise redrawn every sde_sample_freq steps",
                          choices=(True, False))
    sde_sample_freq: int = param(4, "gSDE: steps between redraws of the exploration noise (0 = once per rollout)", low=0, high=100_000)
    norm_obs: bool = param(False, "standardise observations with running mean/std (saved with the agent)", choices=(True, False))
    norm_reward: bool = param(False, "scale rewards by the running std of the discounted return", choices=(True, False))

    @classmethod
    def cartpole(cls, **changes: Any) -> "PPOConfig":
        """Tuned for CartPole-v1 (RL-zoo-like: 8 envs, short rollouts, lambda 0.8, gamma 0.98, no entropy bonus,
        a high annealed learning rate). ``benchmarks/ppo_cartpole.py``: mean training return >= 475 after a
        median of ~39k env steps over seeds 0-4."""
        return cls(**{**PRESETS["CartPole-v1"], **changes})

    @classmethod
    def pendulum(cls, **changes: Any) -> "PPOConfig":
        """Tuned for Pendulum-v1 (fixed 200-step episodes, continuous torque): RL-zoo's settings (gamma 0.9,
        lambda 0.95, gSDE exploration, 10 epochs, lr 1e-3) with 16 envs and minibatches of 256 for speed.
        Greedy return about -180 after 100k env steps (seeds 0-3: -177, -180, -178, -188)."""
        return cls(**{**PRESETS["Pendulum-v1"], **changes})

    @classmethod
    def for_env(cls, env_id: str, **changes: Any) -> "PPOConfig":
        """The preset for ``env_id`` if there is one (see ``PRESETS``), else the generic defaults."""
        return cls(**{**PRESETS.get(env_id, {}), **changes})


PRESETS: dict[str, dict[str, Any]] = {
    "CartPole-v1": dict(
        num_envs=8, num_steps=32, learning_rate=3e-3, gamma=0.98, gae_lambda=0.8, update_epochs=10,
        num_minibatches=1, ent_coef=0.0,
    ),
    "Pendulum-v1": dict(
        num_envs=16, num_steps=256, learning_rate=1e-3, anneal_lr=False, gamma=0.9, gae_lambda=0.95,
        update_epochs=10, num_minibatches=16, ent_coef=0.0, use_sde=True, sde_sample_freq=4, log_std_init=0.0,
    ),
}
"""Per-task PPO settings, for :meth:`PPOConfig.for_env`."""


class PPOAgent:
    """A PPO actor-critic for one observation/action space, trainable on any number of ``learn`` calls.

    ``act(obs [B, *obs_shape]) -> actions [B, ...]`` is batched and gradient-free: the whole vector of
    environments costs one network call per step, which is what makes PPO fast on a laptop.
    """

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, config: PPOConfig | None = None, *, seed: int):
        self.config = config or PPOConfig()
        _obs_dim(observation_space)
        _check_action_space(action_space)
        self.observation_space, self.action_space = observation_space, action_space
        self.seed = int(seed)
        self.generator = torch.Generator().manual_seed(self.seed)
        c = self.config
        self.net = PolicyNet(observation_space, action_space, c.hidden_size, c.num_layers, c.activation, c.log_std_init,
                             self.generator, use_sde=c.use_sde)
        # fused Adam: one kernel for all parameters instead of a dozen small ops each (most of an update's cost)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=c.learning_rate, eps=1e-5, fused=True)
        self._params = list(self.net.parameters())
        self.obs_rms = RunningMeanStd((_obs_dim(observation_space),))
        self.ret_rms = RunningMeanStd(())
        self.env_steps = 0
        self.iteration = 0
        self.recent_returns: collections.deque = collections.deque(maxlen=20)
        self.rollout_hook: Callable[[dict], None] | None = None
        self._env: gym.vector.VectorEnv | None = None  # the vector env whose running state is below
        self._obs: np.ndarray | None = None
        self._ep_return: np.ndarray | None = None
        self._ep_length: np.ndarray | None = None
        self._ret_acc: np.ndarray | None = None

    # -- acting ---------------------------------------------------------------------------------------
    def _prep(self, obs: np.ndarray) -> np.ndarray:
        """Raw observations ``[B, *obs_shape]`` -> network input ``[B, obs_dim]`` float32."""
        x = _flatten_obs(self.observation_space, obs)
        if self.config.norm_obs:
            x = np.clip((x - self.obs_rms.mean) / np.sqrt(self.obs_rms.var + 1e-8), -10, 10).astype(np.float32)
        return x

    def act(self, obs_batch: np.ndarray, deterministic: bool = False) -> np.ndarray:
        """Env-ready actions ``[B, ...]`` (Box actions clipped to bounds) for observations ``[B, *obs_shape]``."""
        with torch.inference_mode():
            a, _ = self.net.sample(torch.from_numpy(self._prep(np.asarray(obs_batch))), self.generator, deterministic)
        return _env_actions(self.action_space, a.numpy())

    def policy(self, deterministic: bool = True) -> rollouts.Policy:
        """A one-observation policy for :func:`rollouts.rollout` (greedy by default)."""
        return _single_obs_policy(self, deterministic)

    def evaluate(self, env_id: str, episodes: int = 20, seed: int = 0, horizon: int | None = None,
                 deterministic: bool = True) -> np.ndarray:
        """Returns ``[episodes]`` of the greedy policy, episode ``i`` in an env seeded ``seed + i`` (true reward).

        All episodes run side by side in one vector env, so evaluation costs one network call per step.
        """
        vec = envs.make_vec_env(env_id, episodes, seed, horizon=horizon)
        obs, _ = vec.reset(seed=[seed + i for i in range(episodes)])
        totals = np.zeros(episodes)
        running = np.ones(episodes, bool)
        while running.any():
            obs, reward, terminated, truncated, _ = vec.step(self.act(obs, deterministic=deterministic))
            totals += reward * running
            running &= ~(terminated | truncated)
        vec.close()
        return totals

    # -- learning -------------------------------------------------------------------------------------
    def learn(
        self,
        vec_env: gym.vector.VectorEnv,
        total_steps: int,
        *,
        reward_fn: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
        callback: Callback | None = None,
        rollout_hook: Callable[[dict], None] | None = None,
        progress: bool = True,
    ) -> list[dict]:
        """Train for about ``total_steps`` env steps (whole rollouts of ``num_envs * num_steps``); returns history.

        Call again to continue: the agent keeps its running episodes on ``vec_env`` (a different vector env is
        reset first). ``reward_fn(obs [B, *obs_shape], actions [B, *act_shape]) -> rewards [B]`` replaces the
        env reward for learning, called once per rollout on all ``B = num_steps * num_envs`` steps; the
        true reward is still reported in ``episode_returns``. ``rollout_hook`` (or ``self.rollout_hook``)
        receives each rollout as numpy arrays: ``observations [T, N, ...]``, ``actions [T, N, ...]`` (as the
        env got them), ``true_rewards``, ``dones``, ``terminated``, ``truncated`` ``[T, N]``. Note that with
        same-step autoreset, ``observations[t + 1]`` after a done is the next episode's first observation.
        ``callback(info)`` runs after every iteration (see :meth:`_info`); returning True stops.
        """
        c = self.config
        N, T = vec_env.num_envs, c.num_steps
        if N != c.num_envs:
            raise ValueError(f"vec_env has {N} environments but PPOConfig.num_envs={c.num_envs}: make them match")
        if total_steps < 0:
            raise ValueError(f"total_steps={total_steps!r} is out of range: expected a whole number >= 0")
        mode = vec_env.metadata.get("autoreset_mode")
        if mode is not None and mode != gym.vector.AutoresetMode.SAME_STEP:
            raise ValueError(
                f"vec_env has autoreset_mode={mode}: expected AutoresetMode.SAME_STEP (use rlhf_lite.envs.make_vec_env), "
                "so that every stored transition is real and cut-off episodes can be bootstrapped from final_obs"
            )
        hook = rollout_hook or self.rollout_hook
        if self._env is not vec_env:
            self._env = vec_env
            self._obs, _ = vec_env.reset()
            self._ep_return, self._ep_length, self._ret_acc = np.zeros(N), np.zeros(N, np.int64), np.zeros(N)
        single_obs = vec_env.single_observation_space
        obs_shape = () if isinstance(single_obs, spaces.Discrete) else single_obs.shape
        act_shape = () if self.net.discrete else self.action_space.shape
        obs_buf = np.zeros((T, N) + obs_shape, np.asarray(self._obs).dtype)
        x_buf = np.zeros((T, N, _obs_dim(self.observation_space)), np.float32)
        raw_act_buf = np.zeros((T, N) + ((self.net.act_dim,) if not self.net.discrete else ()), np.float32)
        env_act_buf = np.zeros((T, N) + act_shape, np.int64 if self.net.discrete else np.float32)
        logp_buf, value_buf = np.zeros((T, N), np.float32), np.zeros((T, N), np.float32)
        rew_buf = np.zeros((T, N))
        term_buf, trunc_buf = np.zeros((T, N), bool), np.zeros((T, N), bool)

        iterations = max(1, -(-int(total_steps) // (N * T))) if total_steps > 0 else 0
        history: list[dict] = []
        bar = _progress_bar(iterations * N * T, progress, "PPO")
        start = time.perf_counter()
        for it in range(iterations):
            if c.anneal_lr:
                for group in self.optimizer.param_groups:
                    group["lr"] = c.learning_rate * (1.0 - it / iterations)
            finished: list[float] = []
            finished_len: list[int] = []
            bootstrap = np.zeros((T, N), np.float32)  # gamma * V(real last obs) where an episode was cut off
            # ---- rollout: one batched network call per step for all N envs ----
            sde_matrix = None
            for t in range(T):
                if self.net.use_sde and (t == 0 or (c.sde_sample_freq > 0 and t % c.sde_sample_freq == 0)):
                    sde_matrix = self.net.sample_sde_matrix(N, self.generator)
                obs_buf[t] = self._obs
                if c.norm_obs:
                    self.obs_rms.update(_flatten_obs(self.observation_space, self._obs))
                x = self._prep(self._obs)
                x_buf[t] = x
                with torch.inference_mode():
                    xt = torch.from_numpy(x)
                    action, logp = self.net.sample(xt, self.generator, sde_matrix=sde_matrix)
                    value_buf[t] = self.net.value(xt).numpy()
                raw = action.numpy()
                raw_act_buf[t] = raw
                logp_buf[t] = logp.numpy()
                env_action = _env_actions(self.action_space, raw)
                env_act_buf[t] = env_action
                self._obs, reward, terminated, truncated, info = vec_env.step(env_action)
                rew_buf[t], term_buf[t], trunc_buf[t] = reward, terminated, truncated
                self._ep_return += reward
                self._ep_length += 1
                done = terminated | truncated
                if done.any():
                    cut = np.flatnonzero(truncated & ~terminated)
                    if len(cut):
                        final = np.stack([info["final_obs"][i] for i in cut])
                        with torch.no_grad():
                            v = self.net.value(torch.from_numpy(self._prep(final))).numpy()
                        bootstrap[t, cut] = c.gamma * v
                    for i in np.flatnonzero(done):
                        finished.append(float(self._ep_return[i]))
                        finished_len.append(int(self._ep_length[i]))
                    self._ep_return[done] = 0.0
                    self._ep_length[done] = 0
            self.env_steps += N * T
            self.iteration += 1
            self.recent_returns.extend(finished)
            dones = term_buf | trunc_buf
            if hook is not None:
                hook({"observations": obs_buf.copy(), "actions": env_act_buf.copy(), "true_rewards": rew_buf.copy(),
                      "dones": dones.copy(), "terminated": term_buf.copy(), "truncated": trunc_buf.copy()})
            # ---- rewards for learning: the env's, or the learned reward model's (one batched call) ----
            if reward_fn is not None:
                learned = np.asarray(reward_fn(obs_buf.reshape((T * N,) + obs_shape), env_act_buf.reshape((T * N,) + act_shape)), np.float64)
                if learned.shape != (T * N,):
                    raise ValueError(f"reward_fn returned shape {learned.shape}: expected ({T * N},), one reward per step")
                rewards = learned.reshape(T, N)
            else:
                rewards = rew_buf.copy()
            if c.norm_reward:
                rewards = self._scale_rewards(rewards, dones)
            with torch.no_grad():
                last_value = self.net.value(torch.from_numpy(self._prep(self._obs))).numpy()
            advantages, returns = rollouts.gae(rewards + bootstrap, value_buf, dones, last_value, c.gamma, c.gae_lambda)
            # ---- update: several epochs of clipped policy-gradient steps on minibatches ----
            losses = self._update(x_buf, raw_act_buf, logp_buf, value_buf, advantages, returns)
            bar.update(N * T)
            info = self._info(finished, finished_len, losses, start)
            if reward_fn is not None:
                info["mean_learned_reward"] = float(learned.mean())
            history.append(info)
            if not math.isnan(info["mean_return"]):
                bar.set_postfix_str(f"mean return {info['mean_return']:.1f}")
            if callback is not None and callback(info):
                break
        bar.close()
        return history

    def _scale_rewards(self, rewards: np.ndarray, dones: np.ndarray) -> np.ndarray:
        """Divide rewards by the running std of the discounted return (SB3's VecNormalize recipe)."""
        acc = self._ret_acc
        seen = np.zeros_like(rewards)
        for t in range(len(rewards)):
            acc = acc * self.config.gamma + rewards[t]
            seen[t] = acc
            acc = acc * (1.0 - dones[t])
        self._ret_acc = acc
        self.ret_rms.update(seen.reshape(-1))
        return np.clip(rewards / np.sqrt(self.ret_rms.var + 1e-8), -10, 10)

    def _update(self, x_buf, act_buf, logp_buf, value_buf, advantages, returns) -> dict[str, float]:
        c = self.config
        B = x_buf.shape[0] * x_buf.shape[1]
        x = torch.from_numpy(x_buf.reshape(B, -1))
        acts = torch.from_numpy(act_buf.reshape((B,) + act_buf.shape[2:]))
        old_logp = torch.from_numpy(logp_buf.reshape(B))
        old_v = torch.from_numpy(value_buf.reshape(B))
        adv = torch.as_tensor(advantages.reshape(B), dtype=torch.float32)
        ret = torch.as_tensor(returns.reshape(B), dtype=torch.float32)
        mb = max(1, B // c.num_minibatches)
        if c.norm_adv and mb == B and B > 1:  # one minibatch: standardise once, not every epoch
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        stats = collections.defaultdict(list)
        for epoch in range(c.update_epochs):
            # a full batch needs no shuffling or gathering (the common CartPole case, and the cheapest)
            order = None if mb == B else torch.randperm(B, generator=self.generator)
            last_epoch = epoch == c.update_epochs - 1
            stop = False
            for lo in range(0, B - mb + 1, mb):
                i = slice(None) if order is None else order[lo:lo + mb]
                logp, entropy = self.net.evaluate(x[i], acts[i])
                log_ratio = logp - old_logp[i]
                ratio = log_ratio.exp()
                a = adv[i]
                if c.norm_adv and mb < B and mb > 1:
                    a = (a - a.mean()) / (a.std() + 1e-8)
                pg_loss = torch.max(-a * ratio, -a * ratio.clamp(1 - c.clip_coef, 1 + c.clip_coef)).mean()
                v = self.net.value(x[i])
                if c.clip_vloss:
                    v_clipped = old_v[i] + (v - old_v[i]).clamp(-c.clip_coef, c.clip_coef)
                    v_loss = 0.5 * torch.max((v - ret[i]) ** 2, (v_clipped - ret[i]) ** 2).mean()
                else:
                    v_loss = 0.5 * ((v - ret[i]) ** 2).mean()
                ent = entropy.mean()
                loss = pg_loss + c.vf_coef * v_loss
                if c.ent_coef > 0:  # skipping a zero term saves its backward pass
                    loss = loss - c.ent_coef * ent
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(self._params, c.max_grad_norm, foreach=True)
                self.optimizer.step()
                # diagnostics cost time: gather them on the last epoch only (approx KL every step if target_kl)
                if last_epoch or c.target_kl > 0:
                    with torch.no_grad():
                        approx_kl = float(((ratio - 1) - log_ratio).mean())
                    if c.target_kl > 0 and approx_kl > c.target_kl:
                        stop = True
                    if last_epoch or stop:
                        stats["approx_kl"].append(approx_kl)
                        stats["policy_loss"].append(float(pg_loss.detach()))
                        stats["value_loss"].append(float(v_loss.detach()))
                        stats["entropy"].append(float(ent.detach()))
                        stats["clipfrac"].append(float(((ratio.detach() - 1).abs() > c.clip_coef).float().mean()))
                    if stop:
                        break
            if stop:
                break
        out = {k: float(np.mean(v)) for k, v in stats.items()}
        var_ret = float(ret.var())
        out["explained_variance"] = float("nan") if var_ret == 0 else 1.0 - float((ret - old_v).var()) / var_ret
        return out

    def _info(self, finished: list[float], finished_len: list[int], losses: dict, start: float) -> dict:
        """What ``callback`` receives and ``learn`` records, once per iteration."""
        return {
            "iteration": self.iteration,
            "env_steps": self.env_steps,
            "episode_returns": finished,
            "episode_lengths": finished_len,
            "mean_return": float(np.mean(self.recent_returns)) if self.recent_returns else float("nan"),
            "losses": losses,
            "learning_rate": float(self.optimizer.param_groups[0]["lr"]),
            "wall_s": time.perf_counter() - start,
        }

    # -- saving ---------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything needed to continue training, as tensors and plain values (``torch.load(weights_only=True)``
        safe): network, optimizer, normalisation statistics, sampling generator, counters, config, spaces."""
        return {
            "format": "rlhf_lite.PPOAgent/1",
            "config": self.config.to_dict(),
            "observation_space": _space_to_dict(self.observation_space),
            "action_space": _space_to_dict(self.action_space),
            "seed": self.seed,
            "net": self.net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "obs_rms": self.obs_rms.state_dict(),
            "ret_rms": self.ret_rms.state_dict(),
            "generator": self.generator.get_state(),
            "env_steps": self.env_steps,
            "iteration": self.iteration,
            "recent_returns": list(self.recent_returns),
        }

    def load_state_dict(self, state: dict) -> None:
        """Load :meth:`state_dict` output; a checkpoint for other spaces or network sizes raises ``ValueError``."""
        if state.get("format") != "rlhf_lite.PPOAgent/1":
            raise ValueError(f"not a PPOAgent checkpoint: format={state.get('format')!r}, expected 'rlhf_lite.PPOAgent/1'")
        for key, space in (("observation_space", self.observation_space), ("action_space", self.action_space)):
            if state[key] != _space_to_dict(space):
                raise ValueError(f"checkpoint {key} {state[key]} does not match this agent's {_space_to_dict(space)}")
        try:
            self.net.load_state_dict(state["net"])
        except RuntimeError as e:
            raise ValueError(f"checkpoint network does not fit this agent's config: {e}") from None
        self.optimizer.load_state_dict(state["optimizer"])
        self.obs_rms.load_state_dict(state["obs_rms"])
        self.ret_rms.load_state_dict(state["ret_rms"])
        self.generator.set_state(state["generator"])
        self.env_steps, self.iteration = int(state["env_steps"]), int(state["iteration"])
        self.recent_returns = collections.deque(state["recent_returns"], maxlen=20)

    def save(self, path: str | os.PathLike) -> None:
        """Write :meth:`state_dict` to ``path`` atomically (:func:`rlhf_lite.checkpoints.save_torch`: written
        aside, fsynced, renamed), so a crash never leaves half a file."""
        from rlhf_lite import checkpoints

        checkpoints.save_torch(path, self.state_dict())

    def load(self, path: str | os.PathLike) -> "PPOAgent":
        """Load weights and training state saved by :meth:`save` into this agent; returns ``self``. An
        unreadable, foreign or non-finite file, or one for other spaces, raises ``CheckpointError`` naming it."""
        from rlhf_lite import checkpoints

        state = checkpoints.load_torch(path, "rlhf_lite.PPOAgent/1")
        try:
            self.load_state_dict(state)
        except (ValueError, RuntimeError, KeyError, TypeError) as e:
            raise checkpoints.CheckpointError(f"{os.fspath(path)}: {str(e).strip().splitlines()[0]}") from None
        return self

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike) -> "PPOAgent":
        """A new agent rebuilt from a file written by :meth:`save` (config and spaces are stored in it)."""
        from rlhf_lite import checkpoints

        state = checkpoints.load_torch(path, "rlhf_lite.PPOAgent/1")
        try:
            agent = cls(_space_from_dict(state["observation_space"]), _space_from_dict(state["action_space"]),
                        PPOConfig(**state["config"]), seed=state["seed"])
        except (ValueError, KeyError, TypeError) as e:
            raise checkpoints.CheckpointError(f"{os.fspath(path)}: cannot rebuild the agent it holds ({e})") from None
        return agent.load(path)


def train_ppo(
    env_id: str,
    config: PPOConfig | None = None,
    *,
    seed: int,
    total_steps: int,
    horizon: int | None = None,
    callback: Callback | None = None,
    reward_fn: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    progress: bool = True,
) -> tuple[PPOAgent, list[dict]]:
    """Make ``config.num_envs`` seeded copies of ``env_id`` and train a fresh :class:`PPOAgent` on them.

    ``config=None`` uses :meth:`PPOConfig.for_env` (the tuned preset for the task, if any).
    Returns ``(agent, history)``; ``history`` has one dict per iteration (what ``callback`` got).
    """
    envs.check_env_id(env_id)
    config = config or PPOConfig.for_env(env_id)
    vec = envs.make_vec_env(env_id, config.num_envs, seed, horizon=horizon)
    agent = PPOAgent(vec.single_observation_space, vec.single_action_space, config, seed=seed)
    try:
        history = agent.learn(vec, total_steps, reward_fn=reward_fn, callback=callback, progress=progress)
    finally:
        vec.close()
    return agent, history
