"""The reward-predictor box: a reward learned from comparisons of clips (Christiano et al. 2017).

A person never says how good a clip is, only which of two clips is better. The predictor turns that into a
reward per step with one assumption, the Bradley-Terry model: the chance that clip ``a`` is preferred to clip
``b`` grows with the difference of their summed predicted rewards,

    P(a > b) = (1 - noise_prob) * sigmoid(R(a) - R(b)) + noise_prob / 2,    R(x) = sum_t r(o_t, a_t).

The ``noise_prob`` term mixes in a uniformly random answer (people misclick, about 10% in the original work),
so a single wrong label costs a bounded loss instead of dragging the model around. Training is plain
cross-entropy against the answers: ``left`` -> 1, ``right`` -> 0, ``equal`` -> 0.5; ``cant_tell`` carries no
information about which is better and is dropped.

:class:`RewardEnsemble` holds a few small networks ``r(o, a)``, each trained on its own bootstrap sample of the
labels. Their average is the reward the RL algorithm sees (normalised to zero mean and unit scale; with
``pessimism`` > 0, less where the members disagree); their disagreement says where more labels would help
(active queries). The learned reward reaches PPO one way: :meth:`RewardEnsemble.reward` is a batched
``reward_fn(observations [B, ...], actions [B, ...]) -> [B]``, passed to ``PPOAgent.learn(..., reward_fn=...)``.
The settings and the networks live in :mod:`rlhf_lite.reward_network`.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from rlhf_lite import spaces as space_codec
from rlhf_lite.bradley_terry import _accuracy, bt_loss, bt_probability, spearman, targets_from_answers  # noqa: F401 (rm.spearman...)
from rlhf_lite.reward_inputs import _as_pairs, _Encoder, _segment_arrays
from rlhf_lite.reward_network import RewardModelConfig, _EnsembleMLP

__all__ = ["RewardEnsemble", "RewardModelConfig", "bt_loss", "bt_probability", "spearman", "targets_from_answers"]


class RewardEnsemble:
    """An ensemble of reward networks ``r(o, a)`` trained from preferences between segments.

    ``observation_space`` / ``action_space``: the task's spaces (``Box`` inputs are scaled to about [-1, 1]
    from their bounds, or standardised from the first data seen where the bounds are infinite; ``Discrete``
    ones are one-hot encoded). ``seed`` fixes the initial weights and the default random stream of
    :meth:`fit`; nothing global is touched.

    Shapes: a *segment* is anything with ``observations [L, *obs_shape]`` and ``actions [L, *act_shape]``
    (:class:`rlhf_lite.rollouts.Segment`, or a mapping with those keys as in a label file); ``M`` is the
    number of members, ``S`` of segments, ``P`` of pairs, ``B`` of single steps.

    Typical use::

        ens = RewardEnsemble(env.observation_space, env.action_space, RewardModelConfig(), seed=0)
        ens.fit(store.pairs())                      # or fit(lefts, rights, targets)
        ens.predicted_returns(segments)             # [S]: what the model thinks each clip is worth
        agent.learn(vec_env, 50_000, reward_fn=ens.reward)   # PPO on the learned, normalised reward
    """

    def __init__(
        self,
        observation_space: gym.Space,
        action_space: gym.Space,
        config: RewardModelConfig | None = None,
        *,
        seed: int,
    ):
        self.config = RewardModelConfig() if config is None else config
        if not isinstance(self.config, RewardModelConfig):
            raise ValueError(f"config must be a RewardModelConfig, got {type(self.config).__name__}")
        self.observation_space = observation_space
        self.action_space = action_space
        self.seed = int(seed)
        self._obs_enc = _Encoder(observation_space, "observation_space")
        self._act_enc = _Encoder(action_space, "action_space")
        self.in_dim = self._obs_enc.dim + self._act_enc.dim
        cfg = self.config
        self.net = _EnsembleMLP(cfg.ensemble_size, self.in_dim, cfg.hidden_size, cfg.num_layers, cfg.activation)
        seeds = np.random.SeedSequence(self.seed).generate_state(2)
        self.generator = torch.Generator().manual_seed(int(seeds[0]))
        self.rng = np.random.default_rng(int(seeds[1]))
        self.net.reset_parameters(self.generator)
        # normalisation of the ensemble's reward: each member standardised, then their mean rescaled
        self.member_mean = torch.zeros(cfg.ensemble_size)
        self.member_std = torch.ones(cfg.ensemble_size)
        self.mean_scale = 1.0
        self.history: list[dict] = []

    @property
    def ensemble_size(self) -> int:
        return self.config.ensemble_size

    @property
    def num_fits(self) -> int:
        return len(self.history)

    # -- inputs --------------------------------------------------------------------------------------------
    def features(self, observations: np.ndarray, actions: np.ndarray) -> torch.Tensor:
        """Network inputs ``[B, D]`` float32 from observations ``[B, *obs_shape]`` and actions ``[B, *act_shape]``
        (actions as zeros when ``config.inputs == "observation"``: every input passes through here)."""
        obs = self._obs_enc(observations, "observations")
        act = self._act_enc(self._actions_seen(actions), "actions")
        if obs.shape[0] != act.shape[0]:
            raise ValueError(f"observations ({obs.shape[0]}) and actions ({act.shape[0]}) must have the same length")
        return torch.cat([obs, act], dim=1)

    def _actions_seen(self, actions: Any) -> np.ndarray:
        """Actions as the networks see them: zeros (a constant input) when the reward looks at observations only."""
        actions = np.asarray(actions)
        return np.zeros_like(actions) if self.config.inputs == "observation" else actions

    def _segment_tensors(self, segments: Sequence[Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """Features ``[S, L, D]`` (padded to the longest segment) and a mask ``[S, L]`` of real steps."""
        if len(segments) == 0:
            return torch.zeros(0, 1, self.in_dim), torch.zeros(0, 1)
        obs_list, act_list = zip(*(_segment_arrays(s, i) for i, s in enumerate(segments)))
        lengths = [len(o) for o in obs_list]
        for i, (o, a) in enumerate(zip(obs_list, act_list)):
            if len(o) != len(a) or len(o) == 0:
                raise ValueError(
                    f"segment #{i} has {len(o)} observations and {len(a)} actions: expected the same number >= 1"
                )
        feats = self.features(np.concatenate(obs_list), np.concatenate(act_list))
        L = max(lengths)
        out = torch.zeros(len(segments), L, self.in_dim)
        mask = torch.zeros(len(segments), L)
        start = 0
        for i, n in enumerate(lengths):
            out[i, :n] = feats[start : start + n]
            mask[i, :n] = 1.0
            start += n
        return out, mask

    def _prepare_input_scaling(self, feats_source: Sequence[Any]) -> None:
        """Fix the standardisation of unbounded Box dimensions from the first data seen (then never again,
        so warm-started refits keep meaning the same inputs)."""
        if self._obs_enc.needs_data or self._act_enc.needs_data:
            obs, act = zip(*(_segment_arrays(s, i) for i, s in enumerate(feats_source)))
            self._obs_enc.fit(np.concatenate(obs))
            self._act_enc.fit(self._actions_seen(np.concatenate(act)))

    # -- training --------------------------------------------------------------------------------------------
    def fit(
        self,
        left: Sequence[Any] | Iterable[Any],
        right: Sequence[Any] | None = None,
        targets: Sequence[float] | np.ndarray | None = None,
        *,
        rng: np.random.Generator | None = None,
        warm_start: bool = True,
        progress: bool = False,
    ) -> dict:
        """Train every member on the labelled pairs and return metrics.

        Ways to pass labels: ``fit(left_segments, right_segments, targets)`` with ``targets [P]`` (1 left
        better, 0 right better, 0.5 equal, ``nan`` = can't tell, dropped) or answer strings; ``fit(pairs)``
        with ``(left, right, target_or_answer)`` triples (e.g. ``LabelStore.pairs()``); ``fit(records)`` with
        preference records; or ``fit(store)`` with a ``LabelStore`` (its live labels).

        A ``validation_fraction`` of the pairs is held out (never trained on) for ``val_accuracy``; each
        member trains on its own bootstrap resample of the rest. ``warm_start=False`` re-draws the weights
        first; the default continues from the current weights (the RLHF loop refits each round).
        ``rng`` draws the split, the resamples and the minibatches (default: the ensemble's own stream).
        Returns ``{"labels", "dropped", "n_train", "n_val", "updates", "train_loss", "train_accuracy",
        "val_loss", "val_accuracy", "seconds", "cpu_seconds"}`` (validation entries ``nan`` when nothing is held out).
        """
        t0, cpu0 = time.perf_counter(), time.process_time()
        rng = self.rng if rng is None else rng
        left, right, y = _as_pairs(left, right, targets)
        keep = ~np.isnan(y)
        dropped = int((~keep).sum())
        left = [s for s, k in zip(left, keep) if k]
        right = [s for s, k in zip(right, keep) if k]
        y = y[keep]
        P = len(y)
        if P == 0:
            raise ValueError("fit needs at least one labelled pair that is not 'cant_tell'")
        cfg = self.config
        self._prepare_input_scaling(list(left) + list(right))
        if not warm_start:
            self.net.reset_parameters(self.generator)

        X, mask = self._pair_tensors(left, right)  # [P, 2, L, D], [P, 2, L]
        Y = torch.as_tensor(y, dtype=torch.float32)
        perm = rng.permutation(P)
        n_val = int(round(cfg.validation_fraction * P)) if P >= 5 else 0
        val_idx, train_idx = perm[:n_val], perm[n_val:]
        n_train = len(train_idx)
        M = cfg.ensemble_size
        if cfg.bootstrap and M > 1:
            member_sets = train_idx[rng.integers(0, n_train, size=(M, n_train))]
        else:
            member_sets = np.tile(train_idx, (M, 1))
        batch = min(cfg.batch_size, n_train)
        updates = max(cfg.min_updates, int(math.ceil(cfg.epochs * n_train / batch)))

        opt = torch.optim.AdamW(self.net.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=updates, desc="fitting reward model", leave=False)
        self.net.train()
        rows = np.arange(M)[:, None]
        for step in range(updates):
            pick = member_sets[rows, rng.integers(0, n_train, size=(M, batch))]  # [M, batch] pair indices
            returns = self._pair_returns(X[pick], mask[pick])  # [M, batch, 2]
            loss = bt_loss(returns[..., 0], returns[..., 1], Y[pick], cfg.noise_prob)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if bar is not None:
                bar.update(1)
                if step % 20 == 0:
                    bar.set_postfix(loss=f"{loss.item():.3f}")
        if bar is not None:
            bar.close()
        self.net.eval()

        metrics = {"labels": P, "dropped": dropped, "n_train": n_train, "n_val": n_val, "updates": updates}
        with torch.no_grad():
            metrics.update(self._pair_metrics(X[train_idx], mask[train_idx], Y[train_idx], "train"))
            if n_val:
                metrics.update(self._pair_metrics(X[val_idx], mask[val_idx], Y[val_idx], "val"))
            else:
                metrics.update(val_loss=float("nan"), val_accuracy=float("nan"))
            self._normalise_on(X.reshape(-1, self.in_dim), mask.reshape(-1))
        metrics["seconds"] = time.perf_counter() - t0
        metrics["cpu_seconds"] = time.process_time() - cpu0
        self.history.append(metrics)
        return metrics

    def _pair_tensors(self, left: Sequence[Any], right: Sequence[Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """``[P, 2, L, D]`` features and ``[P, 2, L]`` mask of the pairs (0 = left, 1 = right)."""
        feats, mask = self._segment_tensors(list(left) + list(right))
        P = len(left)
        return torch.stack([feats[:P], feats[P:]], dim=1), torch.stack([mask[:P], mask[P:]], dim=1)

    def _pair_returns(self, X: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Summed member rewards. ``X [M, N, 2, L, D]`` (own pairs per member) or ``[N, 2, L, D]`` (shared),
        ``mask`` to match without ``D``. Returns ``[M, N, 2]``."""
        M = self.config.ensemble_size
        if X.dim() == 4:
            X, mask = X.unsqueeze(0).expand(M, *X.shape), mask.unsqueeze(0).expand(M, *mask.shape)
        r = self.net(X.reshape(M, -1, self.in_dim)).reshape(mask.shape)
        return (r * mask).sum(-1)

    def _pair_metrics(self, X: torch.Tensor, mask: torch.Tensor, Y: torch.Tensor, prefix: str) -> dict:
        returns = self._pair_returns(X, mask)  # [M, N, 2]
        loss = bt_loss(returns[..., 0], returns[..., 1], Y.expand(returns.shape[:2]), self.config.noise_prob)
        prob = torch.sigmoid(returns[..., 0] - returns[..., 1]).mean(0)
        return {f"{prefix}_loss": float(loss), f"{prefix}_accuracy": _accuracy(prob.numpy(), Y.numpy())}

    @torch.no_grad()
    def _normalise_on(self, feats: torch.Tensor, mask: torch.Tensor | None = None) -> None:
        raw = self.net(feats)  # [M, B]
        if mask is not None:
            raw = raw[:, mask > 0]
        if raw.shape[1] < 2:
            return
        self.member_mean = raw.mean(1)
        self.member_std = raw.std(1).clamp_min(1e-8)
        avg = ((raw - self.member_mean[:, None]) / self.member_std[:, None]).mean(0)
        self.mean_scale = float(avg.std().clamp_min(1e-8))

    def normalize(self, observations: np.ndarray, actions: np.ndarray) -> None:
        """Re-centre and re-scale :meth:`reward` on these steps (``[B, *obs_shape]``, ``[B, *act_shape]``),
        e.g. the policy's latest rollout, so the RL algorithm sees zero-mean, unit-std rewards on its own data.
        (:meth:`fit` already normalises on the labelled segments.)"""
        self._normalise_on(self.features(observations, actions))

    # -- predictions ----------------------------------------------------------------------------------------
    @torch.no_grad()
    def member_rewards(self, observations: np.ndarray, actions: np.ndarray, normalized: bool = True) -> np.ndarray:
        """Each member's reward ``[M, B]`` for steps ``[B, *obs_shape]``, ``[B, *act_shape]``.

        ``normalized=True`` standardises each member on the data of the last fit (or :meth:`normalize`);
        ``False`` gives the raw outputs, whose scale is the Bradley-Terry one.
        """
        raw = self.net(self.features(observations, actions))
        if normalized:
            raw = (raw - self.member_mean[:, None]) / self.member_std[:, None]
        return raw.numpy().astype(np.float64)

    @torch.no_grad()
    def reward(self, observations: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """The learned reward ``[B]`` for a batch of steps: members standardised, averaged, rescaled to unit std.
        With ``config.pessimism = k > 0``: ``(mean - k * std) / mean_scale`` over the standardised members
        (sample std, ddof 1), so steps the members disagree on pay less (Coste et al. 2024).

        ``observations [B, *obs_shape]`` is what the agent saw *before* taking ``actions [B, *act_shape]``.
        One torch call for the whole batch and all members: pass it straight to PPO as ``reward_fn``.
        """
        obs = np.asarray(observations)
        single = obs.shape == tuple(self.observation_space.shape or ()) and not isinstance(
            self.observation_space, spaces.Discrete
        )
        if single or (isinstance(self.observation_space, spaces.Discrete) and obs.ndim == 0):
            raise ValueError(
                "reward expects a batch: observations [B, *obs_shape], actions [B, *act_shape]; "
                "wrap one step as obs[None], action[None]"
            )
        raw = self.net(self.features(observations, actions))
        z = (raw - self.member_mean[:, None]) / self.member_std[:, None]
        k = self.config.pessimism
        if k == 0:
            return (z.mean(0) / self.mean_scale).numpy().astype(np.float64)
        return ((z.mean(0) - k * z.std(0)) / self.mean_scale).numpy().astype(np.float64)

    __call__ = reward

    @torch.no_grad()
    def segment_returns(self, segments: Sequence[Any]) -> np.ndarray:
        """Each member's predicted return ``[M, S]`` (raw outputs summed over each segment's steps)."""
        feats, mask = self._segment_tensors(list(segments))
        if len(segments) == 0:
            return np.zeros((self.ensemble_size, 0))
        r = self.net(feats.reshape(-1, self.in_dim)).reshape(-1, *mask.shape)
        return (r * mask).sum(-1).numpy().astype(np.float64)

    def predicted_returns(self, segments: Sequence[Any]) -> np.ndarray:
        """The ensemble's predicted return ``[S]``: mean over members of :meth:`segment_returns`."""
        return self.segment_returns(segments).mean(0)

    def preference_probability(
        self, a_list: Sequence[Any], b_list: Sequence[Any], noise_prob: float = 0.0
    ) -> np.ndarray:
        """Each member's ``P(a_i preferred to b_i)`` ``[M, P]``. ``noise_prob=0`` (default) gives the model's
        belief about which segment is better; pass ``config.noise_prob`` for the chance of a labeler's answer."""
        if len(a_list) != len(b_list):
            raise ValueError(f"a_list ({len(a_list)}) and b_list ({len(b_list)}) must have the same length")
        ret = self.segment_returns(list(a_list) + list(b_list))
        P = len(a_list)
        return bt_probability(ret[:, :P], ret[:, P:], noise_prob)

    def disagreement(self, a_list: Sequence[Any], b_list: Sequence[Any]) -> np.ndarray:
        """How much the members disagree about each pair ``[P]``: std over members of P(a > b).

        Active query selection asks about the pairs with the largest values. With one member it is all zeros.
        """
        return self.preference_probability(a_list, b_list).std(0)

    def evaluate(self, left: Sequence[Any], right: Sequence[Any], targets: Sequence[float] | np.ndarray) -> dict:
        """``{"accuracy", "loss", "pairs"}`` on labelled pairs (targets as in :meth:`fit`; ``nan`` dropped).

        Accuracy counts pairs with a clear winner (target not 0.5) where the ensemble's mean probability
        picks it; the loss is the Bradley-Terry cross-entropy of the mean probability, ties included.
        """
        left, right, y = _as_pairs(left, right, targets)
        keep = ~np.isnan(y)
        left = [s for s, k in zip(left, keep) if k]
        right = [s for s, k in zip(right, keep) if k]
        y = y[keep]
        prob = self.preference_probability(left, right).mean(0)
        p = np.clip((1 - self.config.noise_prob) * prob + self.config.noise_prob / 2, 1e-12, 1 - 1e-12)
        loss = float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p)))) if len(y) else float("nan")
        return {"accuracy": _accuracy(prob, y), "loss": loss, "pairs": int(len(y))}

    def accuracy_on(self, labels: Iterable[Any]) -> float | None:
        """Share of ``labels`` with a clear winner (preference records, or ``(left, right, target)`` triples)
        whose winner the current predictor already picks; ``None`` before the first fit or with no clear answer.
        The RLHF loop scores each round's new answers with it before refitting: an honest, unseen-data check."""
        left, right, y = _as_pairs(labels, None, None)
        clear = np.abs(y - 0.5) > 1e-6  # 'equal' (0.5) and 'cant_tell' (nan) name no winner
        if not clear.any() or not self.num_fits:
            return None
        left, right = [s for s, c in zip(left, clear) if c], [s for s, c in zip(right, clear) if c]
        prob = self.preference_probability(left, right).mean(0)
        return float(np.mean((prob > 0.5) == (y[clear] > 0.5)))

    # -- checkpoints ----------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything needed to rebuild this ensemble: only tensors, numbers, strings, lists and dicts, so
        that ``torch.load(..., weights_only=True)`` reads it back (no pickled code)."""
        return {
            "format": "rlhf_lite.RewardEnsemble/1",
            "config": self.config.to_dict(),
            "seed": self.seed,
            "observation_space": space_codec.to_dict(self.observation_space),
            "action_space": space_codec.to_dict(self.action_space),
            "net": {k: v.detach().clone() for k, v in self.net.state_dict().items()},
            "obs_scaling": self._obs_enc.state(),
            "act_scaling": self._act_enc.state(),
            "member_mean": self.member_mean.clone(),
            "member_std": self.member_std.clone(),
            "mean_scale": float(self.mean_scale),
            "generator": self.generator.get_state(),
            "rng": json.dumps(self.rng.bit_generator.state),
            "history": json.dumps(self.history),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore weights, normalisation, random streams and history saved by :meth:`state_dict`."""
        if state.get("format") != "rlhf_lite.RewardEnsemble/1":
            raise ValueError(f"not a RewardEnsemble checkpoint (format={state.get('format')!r})")
        mine = self.config.to_dict()
        theirs = {"pessimism": 0.0, **state["config"]}  # written before the field: the plain mean
        if "inputs" not in theirs:  # written before the field existed: it says nothing about the inputs
            mine.pop("inputs")
        if theirs != mine:
            raise ValueError(f"checkpoint config {theirs} differs from this ensemble's {mine}")
        self.net.load_state_dict(state["net"])
        self._obs_enc.load(state["obs_scaling"])
        self._act_enc.load(state["act_scaling"])
        self.member_mean = state["member_mean"].clone()
        self.member_std = state["member_std"].clone()
        self.mean_scale = float(state["mean_scale"])
        self.generator.set_state(state["generator"])
        self.rng.bit_generator.state = json.loads(state["rng"])
        self.history = json.loads(state["history"])

    def save(self, path: str) -> None:
        """Write a checkpoint that :meth:`load` reads with ``torch.load(weights_only=True)``, atomically
        (:func:`rlhf_lite.checkpoints.save_torch`: written aside, fsynced, renamed)."""
        from rlhf_lite import checkpoints

        checkpoints.save_torch(path, self.state_dict())

    @classmethod
    def load(cls, path: str) -> RewardEnsemble:
        """A new ensemble from a :meth:`save` checkpoint (config, spaces, weights, normalisation, RNG state).
        An unreadable, foreign or non-finite file raises ``CheckpointError`` (a ``ValueError``) naming it."""
        from rlhf_lite import checkpoints

        state = checkpoints.load_torch(path, "rlhf_lite.RewardEnsemble/1")
        try:
            return cls.from_state_dict(state)
        except (ValueError, RuntimeError, KeyError, TypeError) as e:
            raise checkpoints.CheckpointError(f"{path}: {str(e).strip().splitlines()[0]}") from None

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Any]) -> RewardEnsemble:
        """A new ensemble from :meth:`state_dict` (e.g. inside a larger checkpoint of the RLHF loop)."""
        ens = cls(
            space_codec.from_dict(state["observation_space"]),
            space_codec.from_dict(state["action_space"]),
            RewardModelConfig(**state["config"]),
            seed=state["seed"],
        )
        ens.load_state_dict(state)
        return ens

    def copy(self) -> RewardEnsemble:
        """An independent copy (weights, normalisation, random streams, history): e.g. a frozen predictor for
        the labeling widget while the original keeps training."""
        return type(self).from_state_dict(self.state_dict())

    def frozen_belief(self) -> Callable[[Any, Any], np.ndarray]:
        """``predict(left, right) -> [M]``: each member's P(left better) for one pair, from a copy frozen as the
        ensemble is now (what a labeling widget shows while the original keeps training)."""
        frozen = self.copy()
        return lambda left, right: frozen.preference_probability([left], [right])[:, 0]

    def __repr__(self) -> str:
        c = self.config
        return (
            f"RewardEnsemble({c.ensemble_size} x MLP[{self.in_dim} -> {c.num_layers} x {c.hidden_size} -> 1], "
            f"fits={self.num_fits})"
        )
