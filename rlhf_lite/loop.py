"""The whole loop: a policy learned from preferences alone (Christiano et al. 2017).

Three boxes and a person, tied together in :meth:`RLHFLoop.step_round`, each step a call into one box::

    improve the policy: PPO on the learned reward   (agents.PPOAgent.learn; round 0: the random policy)
    -> cut clips from its rollouts                  (rollouts.cut_batch)
    -> choose pairs the ensemble disagrees on       (preferences.spread_pairs; round 0: the most different)
    -> ask the labeler                              (labelers.Labeler)
    -> refit the reward ensemble, warm start        (reward_model.RewardEnsemble.fit)
    -> record the round (its true return is for the reader's eyes only, never the learner's)

Settings and schedule: :mod:`rlhf_lite.loop_config`; checkpoints: :mod:`rlhf_lite.loop_files`. With a person
labeling, :meth:`RLHFLoop.start` runs the loop in a background thread: the person labels while it trains.
"""

from __future__ import annotations

import dataclasses
import math
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rlhf_lite import agents, labelers, loop_files, preferences, rollouts, tasks
from rlhf_lite import reward_model as rm
from rlhf_lite.loop_config import RLHFConfig, label_schedule, round_sizes  # noqa: F401 (loop.RLHFConfig, ...)
from rlhf_lite.rollouts import Segment
from rlhf_lite.tasks import RewardFn, evaluate_policy, make_env, round_env  # noqa: F401 (loop.make_env, ...)


class RLHFLoop:
    """One RLHF run: a PPO agent, a reward ensemble, a labeler, and the history of every round.

    ``labeler``: any :class:`rlhf_lite.labelers.Labeler` (an oracle answers at once; a person between rounds).
    ``seed`` fixes everything: networks, environments, clips and pairs. ``store`` (a path or a ``LabelStore``)
    also writes every answer to disk. ``eval_reward(obs [B, ...], actions [B, ...]) -> [B]`` replaces the env's
    reward in the evaluation (a behaviour no env reward describes); the learner never sees it. ``ppo`` /
    ``reward`` override :func:`rlhf_lite.tasks.ppo_config` / :func:`rlhf_lite.tasks.reward_config`.
    """

    def __init__(
        self,
        config: RLHFConfig,
        labeler: labelers.Labeler,
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
        labelers.check_labeler(labeler)
        self.config, self.labeler, self.seed = config, labeler, int(seed)
        self.eval_reward, self.progress = eval_reward, progress
        self.ppo_config = ppo or tasks.ppo_config(config)
        # which inputs the reward looks at is the loop's setting (a given reward config too)
        self.reward_config = dataclasses.replace(reward or tasks.reward_config(config), inputs=config.reward_inputs)
        as_path = isinstance(store, (str, os.PathLike))
        self.store = preferences.LabelStore(store, env_id=config.env_id) if as_path else store
        obs_space, act_space = self.observation_space, self.action_space = tasks.task_spaces(config)
        self.random_steps, self.round_steps, self.num_rounds = round_sizes(config, self.ppo_config)
        self.agent = agents.PPOAgent(obs_space, act_space, self.ppo_config, seed=self.seed)
        self.agent.set_lr_schedule(config.learning_rate, self.num_rounds if config.anneal_lr else None)
        self.reward = rm.RewardEnsemble(obs_space, act_space, self.reward_config, seed=self.seed + 1)
        self.rng = np.random.default_rng([self.seed, 2])  # clips and pairs
        self.schedule = label_schedule(config, self.num_rounds)
        self.records: list[preferences.PreferenceRecord] = []  # every answer received, in order
        self.history: list[dict] = []
        self.round, self.env_steps, self.elapsed = -1, 0, 0.0  # round -1: not started; 0: random-policy labels done
        self.asked = 0  # labels asked for so far (a person may not have answered them all yet)
        self.shown: list[str] = []  # uids of the clips in the last pairs asked (the next pairs avoid them)
        self._unfinished: tuple | None = None  # (round, clips, returns) of a round whose asking failed
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- one round: the heart of RLHF, each step a call into one box ----------------------------------------
    def step_round(self) -> dict:
        """Run the next round (the random-policy round first) and return its history entry."""
        start, k = time.perf_counter(), self.round + 1
        if self._unfinished is not None and self._unfinished[0] == k:  # asking failed last time: ask again
            _, clips, returns = self._unfinished  # without training (and stepping) twice
        else:
            rollouts_seen, returns = self._improve_policy(k)
            clips = self._cut_clips(rollouts_seen, k)
        self._unfinished = (k, clips, returns)
        pairs = self._choose_pairs(clips, self._labels_due(k))
        new = self._ask(pairs, k)
        self._unfinished = None
        accuracy = self.reward.accuracy_on(new)  # scored before the model has trained on them: honest
        fit = self._refit_reward() if new else {}
        self.round = k
        self.elapsed += time.perf_counter() - start
        return self._record(k, returns, accuracy, fit)

    def _improve_policy(self, k: int) -> tuple[list[dict], tuple[float, float]]:
        """The RL box: round 0 plays the random policy, later rounds train PPO on the learned reward. Returns the
        rollouts (``[T, N, ...]``) and their (true, predicted) return, per-step means x horizon (nan in round 0)."""
        vec = tasks.round_env(self.config, self.ppo_config.num_envs, self.seed, k)
        if k == 0:
            batch = rollouts.random_rollout(vec, self.config.horizon, restart_every=2 * self.config.segment_length)
            vec.close()
            self.env_steps += batch["true_rewards"].size
            return [batch], (math.nan, math.nan)
        batches, paid = [], []

        def learned_reward(obs: np.ndarray, act: np.ndarray) -> np.ndarray:  # what PPO is paid, kept for the record
            paid.append(self.reward.reward(obs, act))
            return paid[-1]

        learn = dict(progress=False, reward_fn=learned_reward, rollout_hook=batches.append)  # rollouts: for clips
        self.agent.learn(vec, self.round_steps, callback=lambda info: self._stop.is_set(), **learn)
        vec.close()
        true, h = np.concatenate([b["true_rewards"].ravel() for b in batches]), self.config.horizon
        self.env_steps += true.size
        return batches, (float(np.mean(true)) * h, float(np.mean(np.concatenate(paid))) * h)

    def _cut_clips(self, batches: list[dict], k: int) -> list[Segment]:
        """The rollouts box: ``segments_per_round`` clips, split evenly over the round's rollouts."""
        rollouts_per_round = self.round_steps // (self.ppo_config.num_envs * self.ppo_config.num_steps) if k else 1
        per_batch = max(1, math.ceil(self.config.segments_per_round / rollouts_per_round))
        length = self.config.segment_length
        return [s for b in batches for s in rollouts.cut_batch(b, length, per_batch, self.rng, uid_prefix=f"r{k}-")]

    def _labels_due(self, k: int) -> int:
        """How many pairs to ask for now: this round's share of the schedule, less what a person still has
        queued (keep the queue to clips of the latest policy); none after round ``label_rounds``."""
        due = max(0, sum(self.schedule[: k + 1]) - self.asked)
        if self.config.label_rounds and k > self.config.label_rounds:
            return 0  # the predictor is frozen
        return due if k == 0 else max(0, self.labeler.room(due, self.config.queries_per_round))

    def _choose_pairs(self, pool: list[Segment], n: int) -> list[tuple[Segment, Segment]]:
        """The pair-selection box (:func:`preferences.spread_pairs`): no clip twice in a batch or just shown, half
        the candidates set against clips asked before. Before the first fit: the clips that look most different
        (a person can tell them apart); then the most disputed of ``candidates_per_query * n`` or random ones."""
        if n <= 0 or len(pool) < 2:
            return []
        if not self.reward.num_fits:
            score = None  # preferences.observation_distance: clips that differ in what they show
        elif self.config.selection == "random":
            score = lambda a, b: self.rng.random(len(a))  # noqa: E731
        else:
            score = self.reward.disagreement
        asked: dict[str, Segment] = {}  # the clips of every live answer so far, each once
        for r in self.live_records():
            for s in r.segments():
                asked.setdefault(s.uid, s)
        candidates = self.config.candidates_per_query * n
        refs = list(asked.values())
        return preferences.spread_pairs(
            pool, n, self.rng, score, candidates=candidates, references=refs, avoid=self.shown
        )

    def _ask(self, pairs: list[tuple[Segment, Segment]], k: int) -> list[preferences.PreferenceRecord]:
        """The person's box: ask about ``pairs``, collect the answers given so far. A person answers while PPO
        trains the next round; the loop waits only to stay within a round of them (and for the first labels)."""
        asked_before = self.asked
        if pairs:
            self.shown = [s.uid for pair in pairs for s in pair]
            meta = {"round": k, "selection": self.config.selection if self.reward.num_fits else "distance"}
            try:
                self.labeler.ask(pairs, meta, store=self.store, env_id=self.config.env_id)
            except BaseException:  # e.g. a full disk: count only the answers that were recorded, then say so
                self.asked += len(self._collect())
                raise  # step_round again asks the rest of this round's labels, without training again
        self.asked += len(pairs)
        need = self.asked if k == 0 else asked_before
        new = self._collect()
        while len(self.live_records()) < need and not self._stop.is_set():
            new += self._collect(at_least=1, timeout=0.2)
        return new

    def _collect(self, at_least: int = 0, timeout: float | None = None) -> list[preferences.PreferenceRecord]:
        """The person's box: the answers given since the last call (kept in ``records``)."""
        new = self.labeler.answers(at_least=at_least, timeout=timeout)
        self.records.extend(new)
        return new

    def _refit_reward(self) -> dict:
        """The reward box: refit on every live label (warm start), and show the labeler what it now believes."""
        pairs = preferences.to_pairs(self.live_records())
        if not pairs:
            return {}
        metrics = self.reward.fit([(p.left, p.right, p.target) for p in pairs], warm_start=True)
        self.labeler.show_belief(self.reward.frozen_belief(), note=f"trained on {len(pairs)} labels")
        return metrics

    def _record(self, k: int, returns: tuple[float, float], accuracy: float | None, fit: dict) -> dict:
        """The round's history entry (the true returns are for the reader's eyes, never the learner's)."""
        entry = {
            "round": k,
            "labels": len(self.live_records()),
            "env_steps": self.env_steps,
            "true_return": self.evaluate(self.config.eval_episodes, seed=10_000) if self.config.eval_episodes else None,
            "train_true_return": _finite_or_none(returns[0]),
            "predicted_return": _finite_or_none(returns[1]),
            "new_label_accuracy": accuracy,
            "fit_loss": fit.get("train_loss"),
            "seconds": round(self.elapsed, 3),
        }
        self.history.append(entry)
        return entry

    def live_records(self) -> list[preferences.PreferenceRecord]:
        """Answers that count: all of them, minus those taken back (a person's undo)."""
        taken_back = self.labeler.retracted()
        return [r for r in self.records if r.id not in taken_back]

    def evaluate(self, episodes: int = 20, seed: int = 10_000) -> float:
        """Mean true return of ``episodes`` greedy episodes (episode ``i`` seeded ``seed + i``); the env's
        reward, or ``eval_reward`` when given. For the reader's eyes, never for the learner."""
        return float(np.mean(tasks.evaluate_policy(self.agent, self.config, episodes, seed, self.eval_reward)))

    # -- running: rounds until the budget is spent, here or beside a person in a background thread ----------
    def run(
        self,
        callback: Callable[[dict], Any] | None = None,
        *,
        checkpoint: str | os.PathLike | None = None,
        max_rounds: int | None = None,
    ) -> list[dict]:
        """Run rounds until the step budget is spent (or ``max_rounds`` more, or :meth:`stop`); returns history.
        ``callback(entry)`` after each round (a dashboard); returning True stops. ``checkpoint``: a folder saved
        after every round (:meth:`save`), so a crash loses at most one round."""
        from tqdm.auto import tqdm

        bar = tqdm(total=self.num_rounds + 1, initial=self.round + 1, desc="RLHF rounds", disable=not self.progress)
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

    def start(self, callback: Callable[[dict], Any] | None = None, **kwargs: Any) -> threading.Thread:
        """Run :meth:`run` in a background thread and return at once (the notebook stays responsive). An error
        in the thread is kept in ``self.error`` (and passed to ``callback`` as ``{"error": ...}``)."""
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

    def save(self, folder: str | os.PathLike) -> Path:
        """Write a checkpoint folder (weights-only ``agent.pt`` / ``reward.pt`` and ``loop.json``), atomically."""
        return loop_files.save(self, folder)  # the files: rlhf_lite.loop_files

    @classmethod
    def resume(cls, folder: str | os.PathLike, labeler: labelers.Labeler, **kwargs: Any) -> RLHFLoop:
        """A loop continuing from a :meth:`save` folder, ``labeler`` answering from where it was; ``kwargs`` as in
        the constructor (``store``, ``eval_reward``). A resumed run repeats an uninterrupted one exactly."""
        return loop_files.resume(cls, folder, labeler, **kwargs)


def _finite_or_none(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None
