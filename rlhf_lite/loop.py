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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from rlhf_lite import agents, checkpoints, envs, labelers, preferences, rollouts, tasks
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
    training would follow to use the answers.
    """
    budget = config.label_budget
    first = min(budget, max(config.min_initial_labels, round(budget * config.initial_fraction)))
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


def round_sizes(config: RLHFConfig, ppo: agents.PPOConfig) -> tuple[int, int, int]:
    """``(random_steps, round_steps, num_rounds)``: one random-policy episode per env before training, then
    rounds of whole PPO batches of at least ``steps_per_round`` until ``total_steps`` is spent."""
    random_steps, batch_steps = ppo.num_envs * config.horizon, ppo.num_envs * ppo.num_steps
    round_steps = max(1, math.ceil(config.steps_per_round / batch_steps)) * batch_steps
    return random_steps, round_steps, max(0, math.ceil((config.total_steps - random_steps) / round_steps))


def round_env(config: RLHFConfig, num_envs: int, seed: int, k: int) -> gym.vector.VectorEnv:
    """Fresh environments for round ``k``, seeded from (seed, k): a resumed run meets the same episodes."""
    env_seed = int(np.random.SeedSequence([seed, k]).generate_state(1)[0] % 2**31)
    return envs.make_vec_env(config.env_id, num_envs, env_seed, horizon=config.horizon, mark_end=_marks_end(config))


class RLHFLoop:
    """One RLHF run: a PPO agent, a reward ensemble, a labeler, and the history of every round.

    ``labeler``: any :class:`rlhf_lite.labelers.Labeler` (an oracle or a replay labeler answers at once; a
    :class:`~rlhf_lite.widgets.WidgetLabeler` gets pairs queued and answers between rounds).
    ``seed`` fixes everything: networks, environments, clips and pairs. ``store`` (a path or a
    ``LabelStore``) also writes every answer to disk (a widget writes to its own store). ``eval_reward``
    ``(obs [B, ...], actions [B, ...]) -> [B]`` replaces the env's reward in the evaluation (for a behaviour
    no env reward describes); the learner never sees it. ``ppo`` / ``reward`` override the PPO and reward
    model settings (default :func:`rlhf_lite.tasks.ppo_config`, :func:`rlhf_lite.tasks.reward_config`).
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
        if isinstance(store, (str, os.PathLike)):
            store = preferences.LabelStore(store, env_id=config.env_id)
        self.store = store
        probe = make_env(config)
        self.observation_space, self.action_space = probe.observation_space, probe.action_space
        probe.close()
        self.random_steps, self.round_steps, self.num_rounds = round_sizes(config, self.ppo_config)
        self.agent = agents.PPOAgent(self.observation_space, self.action_space, self.ppo_config, seed=self.seed)
        self.agent.set_lr_schedule(config.learning_rate, self.num_rounds if config.anneal_lr else None)
        self.reward = rm.RewardEnsemble(
            self.observation_space, self.action_space, self.reward_config, seed=self.seed + 1
        )
        self.rng = np.random.default_rng([self.seed, 2])  # clips and pairs
        self.batch_steps = self.ppo_config.num_envs * self.ppo_config.num_steps
        self.schedule = label_schedule(config, self.num_rounds)
        self.records: list[preferences.PreferenceRecord] = []  # every answer received, in order
        self.history: list[dict] = []
        self.round = -1  # -1: not started; 0: random-policy labels done
        self.env_steps = 0
        self.asked = 0  # labels asked for so far (a person may not have answered them all yet)
        self.shown: list[str] = []  # uids of the clips in the last pairs asked (the next pairs avoid them)
        self._unfinished: tuple | None = None  # (round, clips, ...) of a round whose asking failed
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
        if self._unfinished is not None and self._unfinished[0] == k:  # asking failed last time: ask again
            pool, train_true, predicted = self._unfinished[1:]  # without training (and stepping) twice
        else:
            pool, train_true, predicted = self._improve_policy(k)
        self._unfinished = (k, pool, train_true, predicted)
        new = self._ask(self._choose(pool, self._labels_due(k)), k)
        self._unfinished = None
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

    def run(
        self,
        callback: Callable[[dict], Any] | None = None,
        *,
        checkpoint: str | os.PathLike | None = None,
        max_rounds: int | None = None,
    ) -> list[dict]:
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
    # the steps of a round, each a call into one box
    # ---------------------------------------------------------------------------------------------------
    def _improve_policy(self, k: int) -> tuple[list[Segment], float, float]:
        """The RL box: round 0 plays the random policy, later rounds train PPO on the learned reward. Their
        rollouts are cut into clips on the way (no extra steps). Returns (clips, true return, predicted return)
        of the rollouts, the returns as per-step means times the horizon (episodes have a fixed length)."""
        if k == 0:  # before training: clips of the random policy
            vec = round_env(self.config, self.ppo_config.num_envs, self.seed, 0)
            batch = rollouts.random_rollout(vec, self.config.horizon, restart_every=2 * self.config.segment_length)
            self.env_steps += self.random_steps
            return self._cut(batch, 0), float("nan"), float("nan")
        pool, rewards_seen, true_seen = [], [], []

        def learned_reward(obs: np.ndarray, act: np.ndarray) -> np.ndarray:
            rewards_seen.append(self.reward.reward(obs, act))
            return rewards_seen[-1]

        def keep_clips(batch: dict) -> None:
            pool.extend(self._cut(batch, k))
            true_seen.append(batch["true_rewards"])

        vec = round_env(self.config, self.ppo_config.num_envs, self.seed, k)
        self.agent.learn(
            vec,
            self.round_steps,
            progress=False,
            reward_fn=learned_reward,
            rollout_hook=keep_clips,
            callback=lambda info: self._stop.is_set(),
        )
        vec.close()
        self.env_steps += sum(r.size for r in true_seen)
        train_true = float(np.mean(np.concatenate([t.ravel() for t in true_seen]))) * self.config.horizon
        return pool, train_true, float(np.mean(np.concatenate(rewards_seen))) * self.config.horizon

    def _cut(self, batch: dict, k: int) -> list[Segment]:
        """``segments_per_round`` clips (split evenly over a round's rollouts) from ``batch`` arrays ``[T, N, ...]``."""
        rollouts_per_round = max(1, self.round_steps // self.batch_steps if k else 1)
        per_batch = max(1, math.ceil(self.config.segments_per_round / rollouts_per_round))
        return rollouts.cut_batch(batch, self.config.segment_length, per_batch, self.rng, uid_prefix=f"r{k}-")

    def _labels_due(self, k: int) -> int:
        """How many pairs to ask for now: this round's share of the schedule, less what a person still has
        queued (after training starts: keep the queue to clips of the latest policy)."""
        due = max(0, sum(self.schedule[: k + 1]) - self.asked)
        return max(0, self.labeler.room(due, self.config.queries_per_round)) if k > 0 else due

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
            score = self.reward.disagreement
        return preferences.spread_pairs(
            pool,
            n,
            self.rng,
            score,
            candidates=self.config.candidates_per_query * n,
            references=self._asked_clips(),
            avoid=self.shown,
        )

    def _asked_clips(self) -> list[Segment]:
        """The clips of every live answer so far (each once): what new clips are compared with."""
        seen: dict[str, Segment] = {}
        for r in self.live_records():
            for s in r.segments():
                seen.setdefault(s.uid, s)
        return list(seen.values())

    def _ask(self, pairs: list[tuple[Segment, Segment]], k: int) -> list[preferences.PreferenceRecord]:
        """The person's box: ask about ``pairs`` and collect the answers given so far. A person answers this
        round's pairs while PPO trains the next round: the loop waits only when it would get more than one
        round ahead (and, before training, for the first labels)."""
        asked_before = self.asked
        if pairs:
            self.shown = [s.uid for pair in pairs for s in pair]
            meta = {"round": k, "selection": self.config.selection if self.reward.num_fits else "distance"}
            try:
                self.labeler.ask(pairs, meta, store=self.store, env_id=self.config.env_id)
            except BaseException:  # e.g. a full disk: count only the answers that were recorded, then say so
                delivered = self.labeler.answers()
                self.records.extend(delivered)
                self.asked += len(delivered)
                raise  # step_round again asks the rest of this round's labels, without training again
        self.asked += len(pairs)
        need = self.asked if k == 0 else asked_before
        new = self.labeler.answers()
        self.records.extend(new)
        while len(self.live_records()) < need and not self._stop.is_set():
            more = self.labeler.answers(at_least=1, timeout=0.2)
            self.records.extend(more)
            new += more
        return new

    def live_records(self) -> list[preferences.PreferenceRecord]:
        """Answers that count: all of them, minus those taken back (a person's undo)."""
        taken_back = self.labeler.retracted()
        return [r for r in self.records if r.id not in taken_back]

    def _accuracy_on(self, records: Sequence[preferences.PreferenceRecord]) -> float | None:
        """Share of new clear answers (left/right) the current predictor already agreed with."""
        pairs = [p for p in preferences.to_pairs(records) if p.target != 0.5]
        if not pairs or not self.reward.num_fits:
            return None
        prob = self.reward.preference_probability([p.left for p in pairs], [p.right for p in pairs]).mean(0)
        return float(np.mean((prob > 0.5) == (np.array([p.target for p in pairs]) > 0.5)))

    def _fit(self) -> dict:
        """The reward box: refit the ensemble on every live label (warm start: it continues from last round's
        weights), and show the labeler what it now believes."""
        pairs = preferences.to_pairs(self.live_records())
        if not pairs:
            return {}
        metrics = self.reward.fit([(p.left, p.right, p.target) for p in pairs], warm_start=True)
        frozen = self.reward.copy()  # the loop keeps training the original

        def predict(left: Segment, right: Segment) -> np.ndarray:
            return frozen.preference_probability([left], [right])[:, 0]

        self.labeler.show_belief(predict, note=f"trained on {len(pairs)} labels")
        return metrics

    def evaluate(self, episodes: int = 20, seed: int = 10_000) -> float:
        """Mean true return of ``episodes`` greedy episodes (episode ``i`` seeded ``seed + i``); the env's
        reward, or ``eval_reward`` when given. For the reader's eyes, never for the learner."""
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
            "format": FORMAT,
            "config": self.config.to_dict(),
            "ppo": self.ppo_config.to_dict(),
            "reward": self.reward_config.to_dict(),
            "seed": self.seed,
            "round": self.round,
            "env_steps": self.env_steps,
            "asked": self.asked,
            "elapsed": self.elapsed,
            "shown": self.shown,
            "rng": self.rng.bit_generator.state,
            "labeler": self.labeler.state(),
            "history": self.history,
            "records": [r.to_dict() for r in self.records],
            "files": checkpoints.manifest(folder, ("agent.pt", "reward.pt")),
        }
        checkpoints.write_json(folder / "loop.json", state)

    @classmethod
    def resume(cls, folder: str | os.PathLike, labeler: labelers.Labeler, **kwargs: Any) -> RLHFLoop:
        """A loop continuing from a :meth:`save` folder; ``labeler`` answers from here on (an oracle's or replay's
        position is restored from the checkpoint). ``kwargs`` as in the constructor (``store``, ``eval_reward``)."""
        folder = checkpoints.open_folder(folder)  # finishes a save that a crash interrupted
        state = checkpoints.read_json(folder / "loop.json", FORMAT)
        checkpoints.load_torch(folder / "agent.pt", "rlhf_lite.PPOAgent/1")  # readable, an agent, finite
        reward_state = checkpoints.load_torch(folder / "reward.pt", "rlhf_lite.RewardEnsemble/1")
        checkpoints.check_manifest(
            folder, state.get("files", {}), f"{folder / 'loop.json'} (round {state.get('round')})"
        )
        loop = cls(
            RLHFConfig(**state["config"]),
            labeler,
            seed=state["seed"],
            ppo=agents.PPOConfig(**state["ppo"]),
            reward=rm.RewardModelConfig(**state["reward"]),
            **kwargs,
        )
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
        loop.round, loop.env_steps, loop.asked, loop.elapsed = (
            state["round"],
            state["env_steps"],
            state["asked"],
            state["elapsed"],
        )
        loop.rng.bit_generator.state = state["rng"]
        loop.agent.set_lr_schedule(
            loop.config.learning_rate, loop.num_rounds if loop.config.anneal_lr else None, done=max(0, loop.round)
        )  # rounds 1..round each called learn() once
        loop.shown = list(state.get("shown", []))
        labeler.restore(state["labeler"])
        loop.history = state["history"]
        loop.records = [preferences.PreferenceRecord.from_dict(r) for r in state["records"]]
        return loop


def make_env(config: RLHFConfig, seed: int | None = None, render_mode: str | None = None) -> gym.Env:
    """One environment as the loop's agents see it: ``config``'s task, horizon and absorbing-state flag
    (for a clip of a trained policy: ``make_env(config, seed, render_mode="rgb_array")``)."""
    return envs.make_env(
        config.env_id, seed=seed, horizon=config.horizon, mark_end=_marks_end(config), render_mode=render_mode
    )


def _marks_end(config: RLHFConfig) -> bool:
    return config.mark_end and envs.can_end_early(config.env_id)


def evaluate_policy(
    agent: Any, config: RLHFConfig, episodes: int, seed: int, reward_fn: RewardFn | None = None
) -> np.ndarray:
    """Returns ``[episodes]`` of the greedy policy on ``config``'s fixed-horizon episodes seeded ``seed + i``:
    the env's reward summed, or ``reward_fn`` of each step (:func:`rlhf_lite.agents.evaluate`)."""
    return agents.evaluate(
        agent,
        config.env_id,
        episodes=episodes,
        seed=seed,
        horizon=config.horizon,
        mark_end=_marks_end(config),
        reward_fn=reward_fn,
    )


def _finite_or_none(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _bar(total: int, initial: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc="RLHF rounds", disable=not enabled, leave=True)
