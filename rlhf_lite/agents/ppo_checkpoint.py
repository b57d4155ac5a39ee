"""Saving and loading a :class:`~rlhf_lite.agents.PPOAgent`: everything needed to continue training, as tensors
and plain values (``torch.load(weights_only=True)`` safe), written atomically. A mixin of the agent's class."""

from __future__ import annotations

import collections
import os
from typing import Any

from rlhf_lite import spaces as space_codec

from .ppo_config import PPOConfig


class PPOCheckpoints:
    """:class:`~rlhf_lite.agents.PPOAgent`'s ``state_dict`` / ``load_state_dict`` / ``save`` / ``load`` /
    ``from_checkpoint`` (the agent's attributes: ``net``, ``optimizer``, ``obs_rms``, ``ret_rms``, ...)."""

    def state_dict(self) -> dict:
        """Everything needed to continue training, as tensors and plain values (``torch.load(weights_only=True)``
        safe): network, optimizer, normalisation statistics, sampling generator, counters, config, spaces."""
        return {
            "format": "rlhf_lite.PPOAgent/1",
            "config": self.config.to_dict(),
            "observation_space": space_codec.to_dict(self.observation_space),
            "action_space": space_codec.to_dict(self.action_space),
            "seed": self.seed,
            "net": self.net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "obs_rms": self.obs_rms.state_dict(),
            "ret_rms": self.ret_rms.state_dict(),
            "generator": self.generator.get_state(),
            "env_steps": self.env_steps,
            "iteration": self.iteration,
            "recent_returns": list(self.recent_returns),
            **({"reference": self.reference.state_dict()} if self.config.kl_coef > 0 else {}),
        }

    def load_state_dict(self, state: dict) -> None:
        """Load :meth:`state_dict` output; a checkpoint for other spaces or network sizes raises ``ValueError``.

        The reference policy comes back as saved when the checkpoint has one (written with ``kl_coef > 0``);
        otherwise the loaded policy becomes the reference (as :meth:`set_reference` after loading)."""
        if state.get("format") != "rlhf_lite.PPOAgent/1":
            raise ValueError(
                f"not a PPOAgent checkpoint: format={state.get('format')!r}, expected 'rlhf_lite.PPOAgent/1'"
            )
        for key, space in (("observation_space", self.observation_space), ("action_space", self.action_space)):
            if state[key] != space_codec.to_dict(space):
                raise ValueError(
                    f"checkpoint {key} {state[key]} does not match this agent's {space_codec.to_dict(space)}"
                )
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
        self.set_reference()  # kl_coef = 0, or a file from before the KL penalty: the loaded policy is the reference
        if "reference" in state:  # saved with kl_coef > 0: the penalty continues against the same reference
            self.reference.load_state_dict(state["reference"])

    def save(self, path: str | os.PathLike) -> None:
        """Write :meth:`state_dict` to ``path`` atomically (:func:`rlhf_lite.checkpoints.save_torch`: written
        aside, fsynced, renamed), so a crash never leaves half a file."""
        from rlhf_lite import checkpoints

        checkpoints.save_torch(path, self.state_dict())

    def load(self, path: str | os.PathLike) -> Any:
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
    def from_checkpoint(cls, path: str | os.PathLike) -> Any:
        """A new agent rebuilt from a file written by :meth:`save` (config and spaces are stored in it)."""
        from rlhf_lite import checkpoints

        state = checkpoints.load_torch(path, "rlhf_lite.PPOAgent/1")
        try:
            agent = cls(
                space_codec.from_dict(state["observation_space"]),
                space_codec.from_dict(state["action_space"]),
                PPOConfig(**state["config"]),
                seed=state["seed"],
            )
        except (ValueError, KeyError, TypeError) as e:
            raise checkpoints.CheckpointError(f"{os.fspath(path)}: cannot rebuild the agent it holds ({e})") from None
        return agent.load(path)
