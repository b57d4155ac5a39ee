"""The whole loop: a policy learned from preferences alone (Christiano et al. 2017).

Three boxes and a person, tied together in :meth:`RLHFLoop.step_round`::

    before training: clips of the random policy -> first labels (pairs that look most different)
                     -> first fit of the reward predictor
    each round:      PPO trains on the learned reward (its rollouts are cut into clips on the way)
                     -> choose pairs of clips (active: where the ensemble disagrees; or random), no clip
                        twice in a row, half of them set against clips asked about before
                     -> the labeler answers -> refit the reward ensemble (warm start) -> record history

The learner never sees the environment's reward. The true return is measured after every round for the
reader's eyes only (and for benchmarks). Labels follow a schedule: a share of the budget before training,
then ``queries_per_round`` after each round until the budget is spent, so more labels come early than late.

A run can be checkpointed after any round and resumed (:meth:`RLHFLoop.save`, :meth:`RLHFLoop.resume`):
weights go through ``torch.save`` / ``torch.load(weights_only=True)``, everything else (history, labels,
random-number states) is JSON, and a resumed run repeats an uninterrupted one with the same seed exactly.

With a person labeling (:class:`rlhf_lite.widgets.WidgetLabeler`), run the loop in a background thread
(:meth:`RLHFLoop.start`): pairs are queued on the widget and answers are picked up between PPO rounds, so
the person labels while the policy trains, and the notebook never freezes.
"""

from __future__ import annotations

import dataclasses
import math
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import gymnasium as gym
import numpy as np

from rlhf_lite import agents, checkpoints, envs, preferences
from rlhf_lite import reward_model as rm
from rlhf_lite.config import Config, param
from rlhf_lite.rollouts import Segment

RewardFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``reward_fn(observations [B, *obs_shape], actions [B, *act_shape]) -> rewards [B]``."""

FORMAT = "rlhf_lite.RLHFLoop/1"


# ============================================================================================================
# Configuration
# ============================================================================================================


@dataclasses.dataclass
class RLHFConfig(Config):
    """Hyperparameters of one RLHF run (one line of help each; ranges feed the notebook's sliders)."""

    env_id: str = param("Pendulum-v1", "task with fixed-length episodes: Pendulum-v1 (swing up and hold) or CartPole-v1 (balance)")
    horizon: int = param(200, "steps in every episode (a fixed length: a variable one would leak the reward)", low=1, high=100_000)
    mark_end: bool = param(True, "add a flag to the observation saying the episode has ended early (the pole fell), so the learned reward can tell the absorbing state apart (tasks that can end early only)", choices=(True, False))
    total_steps: int = param(80_000, "environment steps of the whole run (random-policy clips plus PPO training)", low=1, high=100_000_000)
    label_budget: int = param(25, "labels asked for in the whole run", low=1, high=100_000)
    initial_fraction: float = param(0.4, "share of the budget asked about clips of the random policy, before training", low=0.0, high=1.0)
    queries_per_round: int = param(3, "most labels asked after one round of training (later rounds ask fewer)", low=1, high=10_000)
    segment_length: int = param(25, "steps per clip that a labeler compares (25 steps of Pendulum = 1.25 s)", low=1, high=10_000)
    segments_per_round: int = param(40, "clips cut from each round's rollouts, the pool pairs are drawn from", low=2, high=100_000)
    selection: str = param("active", "which pairs to ask: 'random', or 'active' (those the ensemble disagrees on most)", choices=("random", "active"))
    candidates_per_query: int = param(10, "active selection: random candidate pairs scored for each pair asked", low=1, high=1_000)
    reward_inputs: str = param("observation", "what the learned reward looks at: 'observation' r(o), or 'observation_action' r(o, a) as in the paper (easier for PPO to game with few labels)", choices=("observation", "observation_action"))
    ensemble_size: int = param(3, "reward networks in the ensemble (their disagreement drives active queries)", low=1, high=16)
    noise_prob: float = param(0.1, "chance that an answer is random: what the reward model assumes (and the oracle's error rate)", low=0.0, high=1.0, high_open=True)
    learning_rate: float = param(1e-3, "PPO's Adam step size (decays linearly to 0 over the run when anneal_lr)", low=0.0, high=1.0, low_open=True)
    anneal_lr: bool = param(True, "decay PPO's learning rate linearly over the whole run", choices=(True, False))
    steps_per_round: int = param(4096, "environment steps of PPO training between two refits of the reward model", low=1, high=10_000_000)
    eval_episodes: int = param(5, "greedy episodes measuring the true return after each round (evaluation only, not training steps)", low=0, high=1_000)

    def __post_init__(self) -> None:
        super().__post_init__()
        try:
            envs.check_env_id(self.env_id)
        except ValueError as e:
            raise ValueError(f"RLHFConfig.{e}") from None
        if self.segment_length > self.horizon:
            raise ValueError(
                f"RLHFConfig.segment_length={self.segment_length} is out of range: expected at most horizon={self.horizon} "
                "(a clip is cut from one episode)")


def ppo_config(config: RLHFConfig, **changes: Any) -> agents.PPOConfig:
    """The PPO settings of the loop: the task's preset from :mod:`rlhf_lite.agents`, with the loop's learning
    rate, and with annealing done by the loop over the whole run (``learn`` is called once per round)."""
    base = dict(LOOP_PPO.get(config.env_id, {}), learning_rate=config.learning_rate, anneal_lr=False)
    return agents.PPOConfig.for_env(config.env_id, **{**base, **changes})


LOOP_PPO: dict[str, dict[str, Any]] = {
    "Pendulum-v1": dict(num_envs=16, num_steps=128, num_minibatches=8, norm_obs=True, gamma=0.95),
    "CartPole-v1": dict(norm_reward=True),
}
"""Changes to the agents' presets for the loop: on Pendulum, shorter rollouts than the preset's 256 steps
(more updates per step, and clips of a fresher policy; 16 envs x 128 steps costs half the network calls of
8 x 256 for the same batch), standardised observations, and a longer horizon (gamma 0.95, not the preset's
0.9): an early learned reward does not punish speed as the true one does (in random-policy clips the fast
pendulums are the ones that were up), so PPO first learns to spin; braking to balance pays only a second
or more later, which gamma 0.9 all but ignores, and once balanced a short-sighted policy drifted off again.
On CartPole, returns scaled by their running spread: the learned reward's scale differs from round to round, and unscaled, an early round's reward
often pushed the policy into always pushing one way, from which it never recovered."""


def reward_config(config: RLHFConfig, **changes: Any) -> rm.RewardModelConfig:
    """The reward predictor's settings: ensemble size and noise term from ``config``; every label trains
    (no held-out share: with a few dozen labels each one counts, and new labels are scored before fitting)."""
    base = dict(ensemble_size=config.ensemble_size, noise_prob=config.noise_prob, validation_fraction=0.0)
    return rm.RewardModelConfig(**{**base, **changes})


def label_schedule(config: RLHFConfig, rounds: int) -> list[int]:
    """Labels to ask before training (entry 0) and after each of ``rounds`` rounds: ``[rounds + 1]``, sum = budget.

    At least one label comes before training (so the first reward is not a random network). The rest are
    spread over the rounds at a rate that falls like ``1 / sqrt(round)``, at most ``queries_per_round`` each:
    more early, when the predictor knows least, but some to the end, so that the predictor keeps up with
    what the policy does (a frozen predictor gets gamed: lesson 05). The last round asks nothing, as no
    training would follow to use the answers.
    """
    budget = config.label_budget
    first = min(budget, max(1, round(budget * config.initial_fraction)))
    rest, useful = budget - first, max(0, rounds - 1)
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


# ============================================================================================================
# The loop
# ============================================================================================================


class RLHFLoop:
    """One RLHF run: a PPO agent, a reward ensemble, a labeler, and the history of every round.

    ``labeler``: anything with ``name`` and ``label(left, right) -> answer`` (an oracle or a replay labeler),
    or a :class:`~rlhf_lite.widgets.WidgetLabeler` (pairs are queued on it, answers picked up between rounds).
    ``seed`` fixes everything: networks, environments, clips and pairs. ``store`` (a path or a
    ``LabelStore``) also writes every answer to disk (a widget writes to its own store). ``eval_reward``
    ``(obs [B, ...], actions [B, ...]) -> [B]`` replaces the env's reward in the evaluation (for a behaviour
    no env reward describes); the learner never sees it. ``ppo`` / ``reward`` override the PPO and reward
    model settings (default :func:`ppo_config`, :func:`reward_config`).
    """

    def __init__(
        self,
        config: RLHFConfig,
        labeler: Any,
        *,
        seed: int,
        store: str | os.PathLike | preferences.LabelStore | None = None,
        eval_reward: RewardFn | None = None,
        ppo: agents.PPOConfig | None = None,
        reward: rm.RewardModelConfig | None = None,
        progress: bool = False,
    ):
        if not isinstance(config, RLHFConfig):
            raise ValueError(f"config must be an RLHFConfig, got {type(config).__name__}")
        if not isinstance(getattr(labeler, "name", None), str) or not callable(getattr(labeler, "label", None)):
            raise ValueError(f"labeler must have a 'name' and a label(left, right) method, got {type(labeler).__name__}")
        self.config, self.labeler, self.seed = config, labeler, int(seed)
        self.eval_reward, self.progress = eval_reward, progress
        self.ppo_config = ppo or ppo_config(config)
        self.reward_config = reward or reward_config(config)
        if isinstance(store, (str, os.PathLike)):
            store = preferences.LabelStore(store, env_id=config.env_id)
        self.store = store
        probe = make_env(config)
        self.observation_space, self.action_space = probe.observation_space, probe.action_space
        probe.close()
        self.agent = agents.PPOAgent(self.observation_space, self.action_space, self.ppo_config, seed=self.seed)
        self.reward = rm.RewardEnsemble(self.observation_space, self.action_space, self.reward_config, seed=self.seed + 1)
        self.rng = np.random.default_rng([self.seed, 2])  # clips and pairs
        self.random_steps = self.ppo_config.num_envs * config.horizon  # one episode per env before training
        self.batch_steps = self.ppo_config.num_envs * self.ppo_config.num_steps
        self.round_steps = max(1, math.ceil(config.steps_per_round / self.batch_steps)) * self.batch_steps
        self.num_rounds = max(0, math.ceil((config.total_steps - self.random_steps) / self.round_steps))
        self.schedule = label_schedule(config, self.num_rounds)
        self.records: list[preferences.PreferenceRecord] = []  # every answer received, in order
        self.history: list[dict] = []
        self.round = -1  # -1: not started; 0: random-policy labels done
        self.env_steps = 0
        self.asked = 0  # labels asked for so far (a widget may not have answered them all yet)
        self.shown: list[str] = []  # uids of the clips in the last pairs asked (the next pairs avoid them)
        self.elapsed = 0.0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------------------------------------------
    # one round: the heart of RLHF
    # ---------------------------------------------------------------------------------------------------
    def step_round(self) -> dict:
        """Run the next round (the random-policy round first) and return its history entry."""
        start = time.perf_counter()
        k = self.round + 1
        if k == 0:  # before training: clips of the random policy
            batch = random_rollout(self._vec_env(0), self.config.horizon, restart_every=2 * self.config.segment_length)
            pool = self._cut(batch, 0)
            self.env_steps += self.random_steps
            train_true = predicted = float("nan")
        else:  # PPO on the learned reward; its own rollouts are cut into clips on the way (no extra steps)
            pool, rewards_seen, true_seen = [], [], []
            self._set_learning_rate(k)
            vec = self._vec_env(k)
            self.agent.learn(
                vec, self.round_steps, progress=False,
                reward_fn=lambda obs, act: _keep(rewards_seen, self.reward.reward(obs, self._act_in(act))),
                rollout_hook=lambda batch: (pool.extend(self._cut(batch, k)), true_seen.append(batch["true_rewards"])),
                callback=lambda info: self._stop.is_set(),
            )
            vec.close()
            self.env_steps += sum(r.size for r in true_seen)
            # per-step means times the horizon: the mean return of an episode of fixed length
            train_true = float(np.mean(np.concatenate([t.ravel() for t in true_seen]))) * self.config.horizon
            predicted = float(np.mean(np.concatenate(rewards_seen))) * self.config.horizon
        new = self._ask(self._choose(pool, self._labels_due(k)), k)
        accuracy = self._accuracy_on(new)  # scored before the model has trained on them: honest
        fit = self._fit() if new else {}
        self.round = k
        self.elapsed += time.perf_counter() - start
        entry = {
            "round": k,
            "labels": len(self.live_records()),
            "env_steps": self.env_steps,
            "true_return": self.evaluate(self.config.eval_episodes, seed=10_000) if self.config.eval_episodes else None,
            "train_true_return": _finite_or_none(train_true),
            "predicted_return": _finite_or_none(predicted),
            "new_label_accuracy": accuracy,
            "fit_loss": fit.get("train_loss"),
            "seconds": round(self.elapsed, 3),
        }
        self.history.append(entry)
        return entry

    def run(self, callback: Callable[[dict], Any] | None = None, *, checkpoint: str | os.PathLike | None = None,
            max_rounds: int | None = None) -> list[dict]:
        """Run rounds until the step budget is spent (or ``max_rounds`` more, or :meth:`stop`); returns history.

        ``callback(entry)`` after each round (a dashboard); returning True stops. ``checkpoint``: a folder
        saved after every round (:meth:`save`), so a crash loses at most one round.
        """
        bar = _bar(self.num_rounds + 1, self.round + 1, self.progress)
        done = 0
        while self.round < self.num_rounds and not self._stop.is_set() and (max_rounds is None or done < max_rounds):
            entry = self.step_round()
            done += 1
            bar.update(1)
            bar.set_postfix_str(f"labels {entry['labels']}, true return {entry['true_return'] or float('nan'):.0f}")
            if checkpoint is not None:
                self.save(checkpoint)
            if callback is not None and callback(entry):
                break
        bar.close()
        return self.history

    # ---------------------------------------------------------------------------------------------------
    # the steps of a round
    # ---------------------------------------------------------------------------------------------------
    def _vec_env(self, k: int) -> gym.vector.VectorEnv:
        """Fresh environments for round ``k``, seeded from (seed, k): a resumed run meets the same episodes."""
        seed = int(np.random.SeedSequence([self.seed, k]).generate_state(1)[0] % 2**31)
        return envs.make_vec_env(self.config.env_id, self.ppo_config.num_envs, seed, horizon=self.config.horizon,
                                 mark_end=_marks_end(self.config))

    def _set_learning_rate(self, k: int) -> None:
        frac = 1.0 - (k - 1) / max(1, self.num_rounds) if self.config.anneal_lr else 1.0
        for group in self.agent.optimizer.param_groups:
            group["lr"] = self.config.learning_rate * frac

    def _cut(self, batch: dict, k: int) -> list[Segment]:
        """``segments_per_round`` clips (split evenly over the rollouts of a round) from ``batch`` arrays ``[T, N, ...]``."""
        per_batch = max(1, math.ceil(self.config.segments_per_round / max(1, self.round_steps // self.batch_steps if k else 1)))
        return cut_batch(batch, self.config.segment_length, per_batch, self.rng, uid_prefix=f"r{k}-")

    def _labels_due(self, k: int) -> int:
        """How many pairs to ask for now: this round's share of the schedule (a widget: only what is not queued)."""
        due = sum(self.schedule[: k + 1]) - self.asked
        if _is_widget(self.labeler) and k > 0:  # keep the person's queue short: clips of the latest policy
            due = min(due, max(0, self.config.queries_per_round - self.labeler.n_pending))
        return max(0, due)

    def _choose(self, pool: list[Segment], n: int) -> list[tuple[Segment, Segment]]:
        """Pairs to ask about (:func:`preferences.spread_pairs`): no clip in two pairs of a batch, none of the
        clips just shown, and half the candidates pair a new clip with one asked about before. Before the first
        fit (no predictor yet): the pairs whose clips look most different, which a person can tell apart; then
        the most disputed of ``candidates_per_query * n`` candidates ('active') or random ones ('random')."""
        if n <= 0 or len(pool) < 2:
            return []
        if not self.reward.num_fits:
            score = None  # preferences.observation_distance: clips that differ in what they show
        elif self.config.selection == "random":
            score = lambda a, b: self.rng.random(len(a))  # noqa: E731
        else:
            score = lambda a, b: self.reward.disagreement(self._segs_in(a), self._segs_in(b))  # noqa: E731
        return preferences.spread_pairs(pool, n, self.rng, score, candidates=self.config.candidates_per_query * n,
                                        references=self._asked_clips(), avoid=self.shown)

    def _asked_clips(self) -> list[Segment]:
        """The clips of every live answer so far (each once): what new clips are compared with."""
        seen, out = set(), []
        for r in self.live_records():
            for s in r.segments():
                if s.uid not in seen:
                    seen.add(s.uid)
                    out.append(s)
        return out

    def _ask(self, pairs: list[tuple[Segment, Segment]], k: int) -> list[preferences.PreferenceRecord]:
        """Get answers: at once from an oracle or replay; a widget gets the pairs queued and answers later."""
        asked_before, self.asked = self.asked, self.asked + len(pairs)
        if pairs:
            self.shown = [s.uid for pair in pairs for s in pair]
        meta = {"round": k, "selection": self.config.selection if self.reward.num_fits else "distance"}
        if _is_widget(self.labeler):
            if pairs:
                self.labeler.submit_pairs(pairs, meta=meta)
            # The person answers this round's pairs while PPO trains the next round; the loop waits only
            # when it would get more than one round ahead (and, before training, for the first labels).
            return self._collect_widget_answers(need=self.asked if k == 0 else asked_before)
        new = []
        for left, right in pairs:
            t0 = time.perf_counter()
            answer = preferences.check_answer(self.labeler.label(left, right))
            seconds = time.perf_counter() - t0
            source = dict(getattr(self.labeler, "last_source", None) or {})
            if source and not source.get("same_clips", True):
                # A replayed answer about other clips: train on the clips that were actually judged.
                recorded = next(r for r in self.labeler.records if r.id == source["record"])
                (left, right), answer = recorded.segments(), recorded.answer
            record = preferences.PreferenceRecord.from_segments(
                left, right, answer, self.labeler.name, seconds=seconds, env_id=self.config.env_id, meta={**meta, **source})
            if self.store is not None:
                self.store.add_record(record)
            new.append(record)
        self.records.extend(new)
        return new

    def _collect_widget_answers(self, need: int) -> list[preferences.PreferenceRecord]:
        """Answers the person gave since the last call, waiting until ``need`` answers count in all."""
        new = self.labeler.wait_for_labels(0)
        self.records.extend(new)
        while len(self.live_records()) < need and not self._stop.is_set():
            more = self.labeler.wait_for_labels(1, timeout=0.2)
            self.records.extend(more)
            new += more
        return new

    def live_records(self) -> list[preferences.PreferenceRecord]:
        """Answers that count: all of them, minus those a person took back with undo."""
        if not _is_widget(self.labeler):
            return list(self.records)
        taken_back = self.labeler.store.retracted_ids()
        return [r for r in self.records if r.id not in taken_back]

    def _accuracy_on(self, records: Sequence[preferences.PreferenceRecord]) -> float | None:
        """Share of new clear answers (left/right) the current predictor already agreed with."""
        pairs = [p for p in preferences.to_pairs(records) if p.target != 0.5]
        if not pairs or not self.reward.num_fits:
            return None
        prob = self.reward.preference_probability(self._segs_in([p.left for p in pairs]), self._segs_in([p.right for p in pairs])).mean(0)
        return float(np.mean((prob > 0.5) == (np.array([p.target for p in pairs]) > 0.5)))

    def _fit(self) -> dict:
        """Refit the reward ensemble on every live label (warm start: it continues from last round's weights)."""
        pairs = preferences.to_pairs(self.live_records())
        if not pairs:
            return {}
        metrics = self.reward.fit([(self._seg_in(p.left), self._seg_in(p.right), p.target) for p in pairs], warm_start=True)
        if hasattr(self.labeler, "set_predictor"):  # the widget's "what the predictor believes" line
            self.labeler.set_predictor(self._frozen_reward(), note=f"trained on {len(pairs)} labels")
        return metrics

    def _frozen_reward(self) -> Callable[[Segment, Segment], np.ndarray]:
        """A copy of the ensemble for the widget's belief line (the loop keeps training the original)."""
        copy = rm.RewardEnsemble(self.observation_space, self.action_space, self.reward_config, seed=self.seed + 1)
        copy.load_state_dict(self.reward.state_dict())
        return lambda left, right: copy.preference_probability([self._seg_in(left)], [self._seg_in(right)])[:, 0]

    def _act_in(self, actions: np.ndarray) -> np.ndarray:
        """Actions as the reward model sees them: zeros (a constant input) when it looks at observations only."""
        return np.zeros_like(actions) if self.config.reward_inputs == "observation" else actions

    def _seg_in(self, segment: Segment) -> Segment:
        return dataclasses.replace(segment, actions=self._act_in(np.asarray(segment.actions)))

    def _segs_in(self, segments: Sequence[Segment]) -> list[Segment]:
        return [self._seg_in(s) for s in segments]

    # ---------------------------------------------------------------------------------------------------
    # evaluation (true reward: for the reader's eyes, never for the learner)
    # ---------------------------------------------------------------------------------------------------
    def evaluate(self, episodes: int = 20, seed: int = 10_000) -> float:
        """Mean true return of ``episodes`` greedy episodes (episode ``i`` seeded ``seed + i``); the env's
        reward, or ``eval_reward`` when given."""
        return float(np.mean(evaluate_policy(self.agent, self.config, episodes, seed, self.eval_reward)))

    # ---------------------------------------------------------------------------------------------------
    # running beside a person: a background thread
    # ---------------------------------------------------------------------------------------------------
    def start(self, callback: Callable[[dict], Any] | None = None, **kwargs: Any) -> threading.Thread:
        """Run :meth:`run` in a background thread and return at once (the notebook stays responsive).

        An exception in the thread is kept in ``self.error`` (and passed to ``callback`` as ``{"error": ...}``).
        """
        if self.running:
            raise RuntimeError("this loop is already running: call stop() first")
        self._stop.clear()

        def work() -> None:
            try:
                self.run(callback, **kwargs)
                if callback is not None and hasattr(callback, "close"):
                    callback.close()  # a dashboard throttles its redraws: show the final round for sure
            except BaseException as exc:  # shown by the dashboard; the thread must not die silently
                self.error = exc
                if callback is not None:
                    callback({"error": f"{type(exc).__name__}: {exc}"})

        self._thread = threading.Thread(target=work, name="rlhf-loop", daemon=True)
        self._thread.start()
        return self._thread

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, wait: bool = True) -> None:
        """Ask the loop to stop after the current PPO iteration (and wait for it, if ``wait``)."""
        self._stop.set()
        if wait and self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def join(self, timeout: float | None = None) -> None:
        """Wait for a background run to finish; re-raise its error, if any."""
        if self._thread is not None:
            self._thread.join(timeout)
        if self.error is not None:
            raise self.error

    # ---------------------------------------------------------------------------------------------------
    # checkpoints
    # ---------------------------------------------------------------------------------------------------
    def save(self, folder: str | os.PathLike) -> Path:
        """Write a checkpoint folder: ``agent.pt`` and ``reward.pt`` (weights, ``torch.load(weights_only=True)``)
        and ``loop.json`` (config, round, random-number states, labels, history, and the SHA-256 of both weight
        files). The folder is written aside and swapped in (:func:`rlhf_lite.checkpoints.write_folder`), so a
        crash at any point leaves the previous checkpoint or this one whole."""
        return checkpoints.write_folder(folder, self._write_checkpoint, ("agent.pt", "reward.pt", "loop.json"))

    def _write_checkpoint(self, folder: Path) -> None:
        self.agent.save(folder / "agent.pt")
        self.reward.save(str(folder / "reward.pt"))
        state = {
            "format": FORMAT, "config": self.config.to_dict(), "ppo": self.ppo_config.to_dict(),
            "reward": self.reward_config.to_dict(), "seed": self.seed, "round": self.round,
            "env_steps": self.env_steps, "asked": self.asked, "elapsed": self.elapsed, "shown": self.shown,
            "rng": self.rng.bit_generator.state, "labeler": _labeler_state(self.labeler),
            "history": self.history, "records": [r.to_dict() for r in self.records],
            "files": checkpoints.manifest(folder, ("agent.pt", "reward.pt")),
        }
        _write_json(folder / "loop.json", state)

    @classmethod
    def resume(cls, folder: str | os.PathLike, labeler: Any, **kwargs: Any) -> "RLHFLoop":
        """A loop continuing from a :meth:`save` folder; ``labeler`` answers from here on (an oracle's or replay's
        position is restored from the checkpoint). ``kwargs`` as in the constructor (``store``, ``eval_reward``)."""
        folder = checkpoints.open_folder(folder)  # finishes a save that a crash interrupted
        state = checkpoints.read_json(folder / "loop.json", FORMAT)
        checkpoints.load_torch(folder / "agent.pt", "rlhf_lite.PPOAgent/1")  # readable, an agent, finite
        reward_state = _load_weights(folder / "reward.pt")
        checkpoints.check_manifest(folder, state.get("files", {}), f"{folder / 'loop.json'} (round {state.get('round')})")
        loop = cls(RLHFConfig(**state["config"]), labeler, seed=state["seed"], ppo=agents.PPOConfig(**state["ppo"]),
                   reward=rm.RewardModelConfig(**state["reward"]), **kwargs)
        loop.agent.load(folder / "agent.pt")
        try:
            loop.reward.load_state_dict(reward_state)
        except (ValueError, RuntimeError, KeyError) as e:
            mine = loop.reward.state_dict()
            raise checkpoints.CheckpointError(
                f"{folder / 'reward.pt'} does not fit this loop's reward model: it was saved for observations "
                f"{checkpoints.describe_space(reward_state.get('observation_space'))} and actions "
                f"{checkpoints.describe_space(reward_state.get('action_space'))}, this loop ({loop.config.env_id}) has "
                f"{checkpoints.describe_space(mine['observation_space'])} and "
                f"{checkpoints.describe_space(mine['action_space'])} ({str(e).strip().splitlines()[0][:160]}). "
                "Is it from another task's checkpoint?"
            ) from None
        loop.round, loop.env_steps, loop.asked, loop.elapsed = state["round"], state["env_steps"], state["asked"], state["elapsed"]
        loop.rng.bit_generator.state = state["rng"]
        loop.shown = list(state.get("shown", []))
        _load_labeler_state(labeler, state["labeler"])
        loop.history = state["history"]
        loop.records = [preferences.PreferenceRecord.from_dict(r) for r in state["records"]]
        return loop


def lesson_config(fast: bool = False, **changes: Any) -> RLHFConfig:
    """Notebook 04's main run, the one configuration the lesson and ``benchmarks/rlhf_pendulum.py`` share:
    Pendulum-v1, 80k env steps, 25 labels, an oracle wrong at random 10% of the time (``noise_prob``, which
    the reward model assumes too: :func:`lesson_oracle` reads it from here), 3 evaluation episodes a round.

    PPO's step size stays constant (``anneal_lr=False``): a run first learns to spin (see ``LOOP_PPO``) and
    must leave that behaviour when the labels say so; a step size decayed over the run left late leavers
    stuck where the early, rougher rewards had sent them (as on the quick task).

    ``fast=True`` (CI, a first look) is the quick task at a small budget (:func:`quick_config`, 16 labels,
    about 22k steps, a few seconds): Pendulum cannot learn to swing up in seconds, fixed-horizon CartPole can,
    so the fast lesson still shows learning (``quick_config(fast=True)``, 6 labels in 5k steps, is too small).
    ``changes`` override fields. How robust it is over seeds 0-9: ``python benchmarks/rlhf_pendulum.py``
    (and ``--labels 10 --noise 0``)."""
    if fast:
        return quick_config(**{"total_steps": 1600 + 20 * 1024, "steps_per_round": 1024, "label_budget": 16,
                               "eval_episodes": 3, **changes})
    base = dict(env_id="Pendulum-v1", total_steps=80_000, label_budget=25, noise_prob=0.1, eval_episodes=3, anneal_lr=False)
    return RLHFConfig(**{**base, **changes})


def lesson_oracle(config: RLHFConfig, seed: int) -> "labelers.OracleLabeler":
    """The synthetic labeler of the lesson's runs: prefers the clip with the higher true return, and answers at
    random with ``config.noise_prob``, drawn from a random stream of its own for ``seed`` (independent of the
    loop's streams for the same seed), so every seed of a benchmark meets its own label noise."""
    from rlhf_lite import labelers

    return labelers.OracleLabeler(noise_prob=config.noise_prob, rng=np.random.default_rng([int(seed), ORACLE_STREAM]))


ORACLE_STREAM = 3
"""Spawn key of :func:`lesson_oracle`'s stream: ``default_rng([seed, 3])`` (the loop's clips and pairs use
``[seed, 2]``, networks ``seed`` and ``seed + 1``)."""


def quick_config(fast: bool = False, **changes: Any) -> RLHFConfig:
    """The quick task: fixed-horizon CartPole (200 steps, the fallen pole an absorbing state) taught by 30
    labels in 50k steps (about 15 s on one core). The learning rate is the CartPole preset's, kept constant:
    PPO chases a reward that moves each round, and an annealed step size left it stuck where the early,
    rougher rewards had sent it. Rerun ``benchmarks/rlhf_quick.py --seed S`` over seeds 0-9 for how it does
    (untrained against trained greedy return)."""
    base = dict(env_id="CartPole-v1", total_steps=50_000, label_budget=30, initial_fraction=0.5, queries_per_round=3,
                learning_rate=3e-3, anneal_lr=False)
    if fast:
        base.update(total_steps=1600 + 3 * 1024, steps_per_round=1024, label_budget=6)
    return RLHFConfig(**{**base, **changes})


# ============================================================================================================
# A behaviour that no reward in the environment describes (notebook 04, benchmarks/rlhf_new_behaviour.py)
# ============================================================================================================


def spin_criterion(observations: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """What "spin steadily counter-clockwise" means, per step ``[B]``: the angular velocity (rad/s, positive
    counter-clockwise on screen) of Pendulum observations ``[B, 3]`` = (cos, sin, angular velocity).
    A scripted stand-in for the person uses it to answer, and the dashboard to score; the learner never sees it."""
    return np.asarray(observations, dtype=np.float64)[:, 2]


def spin_config(fast: bool = False, **changes: Any) -> RLHFConfig:
    """The run that teaches Pendulum-v1 to spin: its own reward (upright and still) says nothing about spinning."""
    base = dict(env_id="Pendulum-v1", total_steps=40_000, label_budget=40, initial_fraction=0.3, queries_per_round=4)
    if fast:
        base.update(total_steps=3 * 2048 + 1600, steps_per_round=2048, label_budget=6)
    return RLHFConfig(**{**base, **changes})


# ============================================================================================================
# Small helpers
# ============================================================================================================


def random_rollout(vec: gym.vector.VectorEnv, steps: int, restart_every: int | None = None) -> dict:
    """``steps`` steps of uniformly random actions in every env, restarting the episodes every
    ``restart_every`` steps: a batch like PPO's rollout_hook gets, ``observations [T, N, ...]``,
    ``actions [T, N, ...]``, ``true_rewards [T, N]``, ``dones [T, N]`` (True at the last step of each piece).

    Restarts matter: a random policy soon dangles, but fresh episodes start anywhere (upright too), so
    short pieces of many episodes show the labeler far more different situations than one long episode."""
    restart_every = restart_every or steps
    out: dict[str, list] = {"observations": [], "actions": [], "true_rewards": [], "dones": []}
    for t in range(steps):
        if t % restart_every == 0:
            obs, _ = vec.reset()
        action = vec.action_space.sample()
        out["observations"].append(obs)
        out["actions"].append(action)
        obs, reward, terminated, truncated, _ = vec.step(action)
        out["true_rewards"].append(reward)
        out["dones"].append(terminated | truncated | ((t + 1) % restart_every == 0))
    vec.close()
    return {k: np.asarray(v) for k, v in out.items()}


def cut_batch(batch: dict, length: int, n: int, rng: np.random.Generator, uid_prefix: str = "") -> list[Segment]:
    """Up to ``n`` random clips of ``length`` steps from rollout arrays ``[T, N, ...]`` (distinct windows).

    A window may not run past the end of an episode: with same-step autoreset, ``dones[t]`` marks the last
    step of an episode, so a valid window has no done before its last step. Uids ``<prefix>e<env>t<start>-<k>``.
    """
    dones = np.asarray(batch["dones"], dtype=bool)
    T, N = dones.shape
    if T < length:
        return []
    ended = np.concatenate([np.zeros((1, N), int), np.cumsum(dones[:-1], axis=0)])  # dones before step t
    starts = np.arange(T - length + 1)
    ok = (ended[starts + length - 1] - ended[starts]) == 0  # [S, N]: no episode ends inside the window
    choices = np.argwhere(ok)
    if len(choices) == 0:
        return []
    picked = choices[rng.choice(len(choices), size=min(n, len(choices)), replace=False)]
    batch_id = int(rng.integers(1 << 30))
    return [
        Segment(
            observations=np.asarray(batch["observations"][t:t + length, e]),
            actions=np.asarray(batch["actions"][t:t + length, e]),
            true_rewards=np.asarray(batch["true_rewards"][t:t + length, e], dtype=np.float64),
            uid=f"{uid_prefix}e{e}t{t}-{batch_id:x}", episode=int(e), start=int(t),
        )
        for t, e in picked
    ]


def make_env(config: RLHFConfig, seed: int | None = None, render_mode: str | None = None) -> gym.Env:
    """One environment as the loop's agents see it: ``config``'s task, horizon and absorbing-state flag
    (for a clip of a trained policy: ``make_env(config, seed, render_mode="rgb_array")``)."""
    return envs.make_env(config.env_id, seed=seed, horizon=config.horizon, mark_end=_marks_end(config), render_mode=render_mode)


def _marks_end(config: RLHFConfig) -> bool:
    return config.mark_end and envs.can_end_early(config.env_id)


def evaluate_policy(agent: Any, config: RLHFConfig, episodes: int, seed: int, reward_fn: RewardFn | None = None) -> np.ndarray:
    """Returns ``[episodes]`` of the greedy policy on fixed-horizon episodes seeded ``seed + i``: the env's
    reward summed, or ``reward_fn`` of each step (a criterion the learner never sees)."""
    vec = envs.make_vec_env(config.env_id, episodes, seed, horizon=config.horizon, mark_end=_marks_end(config))
    obs, _ = vec.reset(seed=[seed + i for i in range(episodes)])
    totals = np.zeros(episodes)
    for _ in range(config.horizon):
        action = agent.act(obs, deterministic=True)
        score = None if reward_fn is None else np.asarray(reward_fn(obs, action), dtype=np.float64)
        obs, reward, _, _, _ = vec.step(action)
        totals += reward if score is None else score
    vec.close()
    return totals


def train_true_reward(config: RLHFConfig, *, seed: int, ppo: agents.PPOConfig | None = None,
                      callback: Callable[[dict], Any] | None = None) -> tuple[agents.PPOAgent, list[dict]]:
    """The yardstick: the same PPO, rounds and step budget, trained on the env's true reward (no labels).

    By default PPO scales the true reward by the running spread of its return (``norm_reward``), as the
    learned reward is normalised too: raw Pendulum rewards (down to -16 a step) would handicap the yardstick
    (``python benchmarks/rlhf_pendulum.py --seed S`` reports it as ``true_reward_baseline``)."""
    loop = RLHFLoop(config, _NoLabeler(), seed=seed, ppo=ppo or ppo_config(config, norm_reward=True))
    history = []
    for k in range(0, loop.num_rounds + 1):
        start = time.perf_counter()
        if k == 0:
            loop.env_steps += loop.random_steps  # the same budget as the RLHF run: its random-policy steps too
        else:
            loop._set_learning_rate(k)
            loop.env_steps += loop.round_steps
            vec = loop._vec_env(k)
            loop.agent.learn(vec, loop.round_steps, progress=False)
            vec.close()
        loop.elapsed += time.perf_counter() - start
        entry = {"round": k, "labels": 0, "env_steps": loop.env_steps, "seconds": round(loop.elapsed, 3),
                 "true_return": loop.evaluate(config.eval_episodes, seed=10_000) if config.eval_episodes else None}
        history.append(entry)
        if callback is not None and callback(entry):
            break
    return loop.agent, history


def save_history(history: list[dict], path: str | os.PathLike) -> None:
    """Write a run's history as JSON (one object with a ``history`` list), atomically."""
    _write_json(Path(path), {"format": "rlhf_lite.history/1", "history": history})


def load_history(path: str | os.PathLike) -> list[dict]:
    """Read a history written by :func:`save_history`."""
    data = checkpoints.read_json(Path(path), "rlhf_lite.history/1")
    return data["history"]


def _load_weights(path: Path) -> dict:
    return checkpoints.load_torch(path, "rlhf_lite.RewardEnsemble/1")


class _NoLabeler:
    name = "none"

    def label(self, left: Segment, right: Segment) -> str:
        raise RuntimeError("train_true_reward asks no labels")


def _is_widget(labeler: Any) -> bool:
    return callable(getattr(labeler, "submit_pairs", None)) and callable(getattr(labeler, "wait_for_labels", None))


def _keep(store: list, values: np.ndarray) -> np.ndarray:
    store.append(values)
    return values


def _finite_or_none(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _labeler_state(labeler: Any) -> dict:
    """What a synthetic labeler needs to answer on after a resume exactly as it would have: its random
    stream (oracle noise) or its position in the file (replay)."""
    state: dict[str, Any] = {}
    if isinstance(getattr(labeler, "rng", None), np.random.Generator):
        state["rng"] = labeler.rng.bit_generator.state
    if isinstance(getattr(labeler, "used", None), list):
        state["used"] = list(labeler.used)
    if hasattr(labeler, "random_answers"):
        state["random_answers"] = labeler.random_answers
    return state


def _load_labeler_state(labeler: Any, state: dict) -> None:
    if "rng" in state and isinstance(getattr(labeler, "rng", None), np.random.Generator):
        labeler.rng.bit_generator.state = state["rng"]
    if "used" in state and isinstance(getattr(labeler, "used", None), list):
        if len(state["used"]) != len(labeler.used):
            raise ValueError(f"the replay file has {len(labeler.used)} answers, the checkpoint used one with {len(state['used'])}")
        labeler.used[:] = state["used"]
    if "random_answers" in state and hasattr(labeler, "random_answers"):
        labeler.random_answers = state["random_answers"]


def _write_json(path: Path, obj: Any) -> None:
    checkpoints.write_json(path, obj)


def _bar(total: int, initial: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc="RLHF rounds", disable=not enabled, leave=True)
