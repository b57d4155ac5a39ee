"""PPO, the workhorse of RLHF (CleanRL-style, over a vector of environments). The RLHF loop swaps the
environment's reward for a learned one through ``learn(..., reward_fn=...)``. Its settings: :mod:`.ppo_config`."""

from __future__ import annotations

import collections
import math
import time
from collections.abc import Callable

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from rlhf_lite import envs, rollouts

from .evaluation import evaluate
from .networks import (
    PolicyNet,
    RunningMeanStd,
    _check_action_space,
    _env_actions,
    _flatten_obs,
    _obs_dim,
    _single_obs_policy,
)
from .ppo_checkpoint import PPOCheckpoints
from .ppo_config import PPOConfig
from .progress import Callback, _progress_bar
from .reference import ReferencePolicy, exact_kl


def linear_decay(rate: float, step: int, steps: int) -> float:
    """``rate * (1 - step / steps)``: a step size falling linearly from ``rate`` at step 0 towards 0 (one step
    before ``steps``, ``rate / steps``). The one schedule behind ``anneal_lr`` here and in
    :mod:`rlhf_lite.lm.ppo`, and behind :meth:`PPOAgent.set_lr_schedule`. From ``steps`` on it stays at 0: a
    call past the planned schedule learns nothing rather than stepping up the gradient with a negative rate."""
    return rate * max(0.0, 1.0 - step / steps)


def clipped_surrogate(
    logp_new: torch.Tensor, logp_old: torch.Tensor, advantages: torch.Tensor, clip: float
) -> torch.Tensor:
    """PPO's clipped surrogate loss (Schulman et al. 2017, eq. 7), a scalar to minimise.

    ``logp_new``: log-probabilities of the taken actions under the policy being trained (with gradients),
    ``logp_old``: the same under the policy that collected them, ``advantages``: how much better than expected
    each action was; all of one shape (``[B]`` for B steps, or ``[B, T]`` tokens). The loss is
    ``mean(max(-A * ratio, -A * clamp(ratio, 1 - clip, 1 + clip)))`` with ``ratio = exp(logp_new - logp_old)``:
    the clip removes the incentive to move the ratio beyond ``1 +- clip`` in one update, which is what keeps
    PPO's many epochs on one batch from wrecking the policy. Normalising ``advantages`` is the caller's choice.
    """
    if logp_new.shape != logp_old.shape or logp_new.shape != advantages.shape:
        raise ValueError(
            f"clipped_surrogate: logp_new {tuple(logp_new.shape)}, logp_old {tuple(logp_old.shape)} and advantages "
            f"{tuple(advantages.shape)} must have one shape (one entry per action taken)"
        )
    ratio = (logp_new - logp_old).exp()
    return torch.max(-advantages * ratio, -advantages * ratio.clamp(1 - clip, 1 + clip)).mean()


class PPOAgent(PPOCheckpoints):
    """A PPO actor-critic for one observation/action space, trainable on any number of ``learn`` calls.

    ``act(obs [B, *obs_shape]) -> actions [B, ...]`` is batched and gradient-free: the whole vector of
    environments costs one network call per step, which is what makes PPO fast on a laptop.

    The agent keeps a *reference policy*, a frozen copy of itself taken at construction (and again whenever
    :meth:`set_reference` is called): :meth:`kl_from_reference` measures how far the policy has moved from it,
    and ``config.kl_coef > 0`` makes PPO pay for moving (RLHF's KL penalty).
    """

    def __init__(
        self, observation_space: gym.Space, action_space: gym.Space, config: PPOConfig | None = None, *, seed: int
    ):
        self.config = config or PPOConfig()
        _obs_dim(observation_space)
        _check_action_space(action_space)
        self.observation_space, self.action_space = observation_space, action_space
        self.seed = int(seed)
        self.generator = torch.Generator().manual_seed(self.seed)
        c = self.config
        self.net = PolicyNet(
            observation_space,
            action_space,
            c.hidden_size,
            c.num_layers,
            c.activation,
            c.log_std_init,
            self.generator,
            use_sde=c.use_sde,
        )
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
        self._lr_schedule: tuple[float, int | None] | None = None  # see set_lr_schedule
        self._lr_calls = 0
        self.reference: ReferencePolicy  # see set_reference
        self.set_reference()

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

    def evaluate(
        self,
        env_id: str,
        episodes: int = 20,
        seed: int = 0,
        horizon: int | None = None,
        deterministic: bool = True,
        mark_end: bool = False,
    ) -> np.ndarray:
        """Returns ``[episodes]`` of the greedy policy, episode ``i`` in an env seeded ``seed + i`` (true reward):
        :func:`rlhf_lite.agents.evaluate` with this agent."""
        return evaluate(
            self, env_id, episodes=episodes, seed=seed, horizon=horizon, mark_end=mark_end, deterministic=deterministic
        )

    # -- the reference policy: KL penalty and how far the policy has moved ---------------------------------
    def set_reference(self) -> None:
        """Snapshot the current policy (network and observation normalisation) as :attr:`reference`, a
        :class:`~rlhf_lite.agents.reference.ReferencePolicy`. Done at construction, so by default the reference is
        the initial policy; call it again to measure (and, with ``config.kl_coef > 0``, penalise) movement from
        the policy as it is now, e.g. when the reward predictor is frozen."""
        rms = self.obs_rms
        self.reference = ReferencePolicy(self.net, self.observation_space, rms.mean, rms.var, self.config.norm_obs)

    def kl_from_reference(self, observations: np.ndarray) -> float:
        """Mean exact ``KL(pi || pi_ref)`` in nats over states ``observations [B, *obs_shape]`` (raw, as the env
        gives them; :func:`~rlhf_lite.agents.reference.exact_kl`). 0 when the policy has not moved; measured on the
        policy's own states it says how far training took it from the reference."""
        obs = np.asarray(observations)
        if len(obs) == 0:
            raise ValueError("kl_from_reference: observations is empty: expected [B, *obs_shape] with B >= 1")
        with torch.inference_mode():
            x, x_ref = torch.from_numpy(self._prep(obs)), torch.from_numpy(self.reference.inputs(obs))
            kl = exact_kl(self.net, x, self.reference.net, x_ref)
        return float(kl.double().mean())

    # -- the step size across learn() calls -----------------------------------------------------------
    def set_lr_schedule(self, learning_rate: float, calls: int | None, done: int = 0) -> None:
        """Set the step size at the start of every later :meth:`learn` call (the RLHF loop: one call per round).

        Call ``i`` (0-based, counting ``done`` calls made before, e.g. the rounds run before a resume) starts
        at ``learning_rate * (1 - i / calls)``, a linear decay over ``calls`` calls; ``calls=None`` holds it at
        ``learning_rate``. ``config.anneal_lr``'s decay within one call still applies on top (the loop turns it
        off). Not saved with the agent: whoever plans the calls sets it again after loading.
        """
        if not (isinstance(learning_rate, (int, float)) and 0.0 < learning_rate <= 1.0):
            raise ValueError(f"learning_rate={learning_rate!r} is out of range: expected a number in (0, 1]")
        if calls is not None and (not isinstance(calls, int) or calls < 0):
            raise ValueError(f"calls={calls!r} is not allowed: expected a whole number >= 0 or None (no decay)")
        if not isinstance(done, int) or done < 0:
            raise ValueError(f"done={done!r} is not allowed: expected a whole number >= 0")
        self._lr_schedule = (float(learning_rate), calls)
        self._lr_calls = done

    def _start_call_lr(self) -> None:
        """Apply :meth:`set_lr_schedule`'s step size for this learn() call, and count the call."""
        if self._lr_schedule is None:
            return
        learning_rate, calls = self._lr_schedule
        lr = linear_decay(learning_rate, self._lr_calls, max(1, calls)) if calls is not None else learning_rate
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self._lr_calls += 1

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
        true reward is still reported in ``episode_returns``. With ``config.kl_coef = beta > 0`` PPO learns from
        ``reward - beta * (log pi(a|s) - log pi_ref(a|s))`` per step (the sampled action's estimate of the KL
        from the reference policy, folded into the reward as in InstructGPT; before reward scaling).
        ``rollout_hook`` (or ``self.rollout_hook``) receives each rollout as numpy arrays: ``observations
        [T, N, ...]``, ``actions [T, N, ...]`` (as the env got them), ``true_rewards``, ``dones``, ``terminated``,
        ``truncated`` ``[T, N]``. Note that with same-step autoreset, ``observations[t + 1]`` after a done is the
        next episode's first observation.
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
                f"vec_env has autoreset_mode={mode}: expected AutoresetMode.SAME_STEP "
                "(use rlhf_lite.envs.make_vec_env), "
                "so that every stored transition is real and cut-off episodes can be bootstrapped from final_obs"
            )
        hook = rollout_hook or self.rollout_hook
        self._start_call_lr()
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
                    group["lr"] = linear_decay(c.learning_rate, it, iterations)
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
                hook(
                    {
                        "observations": obs_buf.copy(),
                        "actions": env_act_buf.copy(),
                        "true_rewards": rew_buf.copy(),
                        "dones": dones.copy(),
                        "terminated": term_buf.copy(),
                        "truncated": trunc_buf.copy(),
                    }
                )
            # ---- rewards for learning: the env's, or the learned reward model's (one batched call) ----
            if reward_fn is not None:
                learned = np.asarray(
                    reward_fn(obs_buf.reshape((T * N,) + obs_shape), env_act_buf.reshape((T * N,) + act_shape)),
                    np.float64,
                )
                if learned.shape != (T * N,):
                    raise ValueError(
                        f"reward_fn returned shape {learned.shape}: expected ({T * N},), one reward per step"
                    )
                rewards = learned.reshape(T, N)
            else:
                rewards = rew_buf.copy()
            if c.kl_coef > 0:  # the KL penalty: beta * (log pi - log pi_ref) of each sampled action
                ref_logp = self.reference.log_prob(
                    obs_buf.reshape((T * N,) + obs_shape), raw_act_buf.reshape((T * N,) + raw_act_buf.shape[2:])
                ).reshape(T, N)
                kl_step = logp_buf.astype(np.float64) - ref_logp
                rewards = rewards - c.kl_coef * kl_step
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
            if c.kl_coef > 0:
                info["kl_estimate"] = float(kl_step.mean())  # mean log pi - log pi_ref of the rollout's actions
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
                i = slice(None) if order is None else order[lo : lo + mb]
                logp, entropy = self.net.evaluate(x[i], acts[i])
                a = adv[i]
                if c.norm_adv and mb < B and mb > 1:
                    a = (a - a.mean()) / (a.std() + 1e-8)
                pg_loss = clipped_surrogate(logp, old_logp[i], a, c.clip_coef)
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
                        log_ratio = logp - old_logp[i]
                        ratio = log_ratio.exp()
                        approx_kl = float(((ratio - 1) - log_ratio).mean())
                    if c.target_kl > 0 and approx_kl > c.target_kl:
                        stop = True
                    if last_epoch or stop:
                        stats["approx_kl"].append(approx_kl)
                        stats["policy_loss"].append(float(pg_loss.detach()))
                        stats["value_loss"].append(float(v_loss.detach()))
                        stats["entropy"].append(float(ent.detach()))
                        stats["clipfrac"].append(float(((ratio - 1).abs() > c.clip_coef).float().mean()))
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
