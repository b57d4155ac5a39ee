"""An RLHF run on disk: the checkpoint folder that :meth:`rlhf_lite.loop.RLHFLoop.save` writes and
:meth:`~rlhf_lite.loop.RLHFLoop.resume` reads.

A folder holds ``agent.pt`` and ``reward.pt`` (weights, read back with ``torch.load(weights_only=True)``) and
``loop.json`` (config, round, random-number states, labels, history, the labeler's own state, and the SHA-256
of both weight files). It is written aside and swapped in (:func:`rlhf_lite.checkpoints.write_folder`), so a
crash at any point leaves the previous checkpoint or this one whole, and a resumed run repeats an
uninterrupted one with the same seed exactly.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlhf_lite import agents, checkpoints, labelers, preferences
from rlhf_lite import reward_model as rm
from rlhf_lite.loop_config import RLHFConfig

if TYPE_CHECKING:
    from rlhf_lite.loop import RLHFLoop

FORMAT = "rlhf_lite.RLHFLoop/1"
WEIGHTS = ("agent.pt", "reward.pt")


def save(run: RLHFLoop, folder: str | os.PathLike) -> Path:
    """Write ``run``'s checkpoint folder (see the module docstring) and return its path."""
    return checkpoints.write_folder(folder, lambda tmp: _write(run, tmp), (*WEIGHTS, "loop.json"))


def _write(run: RLHFLoop, folder: Path) -> None:
    run.agent.save(folder / "agent.pt")
    run.reward.save(str(folder / "reward.pt"))
    state = {
        "format": FORMAT,
        "config": run.config.to_dict(),
        "ppo": run.ppo_config.to_dict(),
        "reward": run.reward_config.to_dict(),
        "seed": run.seed,
        "round": run.round,
        "env_steps": run.env_steps,
        "asked": run.asked,
        "elapsed": run.elapsed,
        "shown": run.shown,
        "rng": run.rng.bit_generator.state,
        "labeler": run.labeler.state(),
        "history": run.history,
        "records": [r.to_dict() for r in run.records],
        "files": checkpoints.manifest(folder, WEIGHTS),
    }
    checkpoints.write_json(folder / "loop.json", state)


def resume(cls: type[RLHFLoop], folder: str | os.PathLike, labeler: labelers.Labeler, **kwargs: Any) -> RLHFLoop:
    """A ``cls`` loop continuing from a :func:`save` folder, ``labeler`` answering from here on (its position is
    restored from the checkpoint). ``kwargs`` go to the constructor (``store``, ``eval_reward``, ``progress``).
    A torn, foreign or tampered folder raises :class:`rlhf_lite.checkpoints.CheckpointError` naming the file."""
    folder = checkpoints.open_folder(folder)  # finishes a save that a crash interrupted
    state = checkpoints.read_json(folder / "loop.json", FORMAT)
    checkpoints.load_torch(folder / "agent.pt", "rlhf_lite.PPOAgent/1")  # readable, an agent, finite
    reward_state = checkpoints.load_torch(folder / "reward.pt", "rlhf_lite.RewardEnsemble/1")
    checkpoints.check_manifest(folder, state.get("files", {}), f"{folder / 'loop.json'} (round {state.get('round')})")
    run = cls(
        RLHFConfig(**state["config"]),
        labeler,
        seed=state["seed"],
        ppo=agents.PPOConfig(**state["ppo"]),
        reward=rm.RewardModelConfig(**state["reward"]),
        **kwargs,
    )
    run.agent.load(folder / "agent.pt")
    try:
        run.reward.load_state_dict(reward_state)
    except (ValueError, RuntimeError, KeyError) as e:
        mine = run.reward.state_dict()
        raise checkpoints.CheckpointError(
            f"{folder / 'reward.pt'} does not fit this loop's reward model: it was saved for observations "
            f"{checkpoints.describe_space(reward_state.get('observation_space'))} and actions "
            f"{checkpoints.describe_space(reward_state.get('action_space'))}, this loop ({run.config.env_id}) has "
            f"{checkpoints.describe_space(mine['observation_space'])} and "
            f"{checkpoints.describe_space(mine['action_space'])} ({str(e).strip().splitlines()[0][:160]}). "
            "Is it from another task's checkpoint?"
        ) from None
    run.round, run.env_steps, run.asked, run.elapsed = (
        state["round"],
        state["env_steps"],
        state["asked"],
        state["elapsed"],
    )
    run.rng.bit_generator.state = state["rng"]
    run.agent.set_lr_schedule(  # rounds 1..round each called learn() once
        run.config.learning_rate, run.num_rounds if run.config.anneal_lr else None, done=max(0, run.round)
    )
    run.shown = list(state.get("shown", []))
    labeler.restore(state["labeler"])
    run.history = state["history"]
    run.records = [preferences.PreferenceRecord.from_dict(r) for r in state["records"]]
    return run
