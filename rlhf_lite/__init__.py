"""rlhf-lite: the machinery behind a hands-on notebook series on reinforcement learning from human feedback.

One module (or sub-package) per box of Christiano et al.'s (2017) picture:

- the environment: ``envs`` (plumbing, fixed horizons, frames), ``batched_envs``, ``gridworld``, ``boat_race``;
- the RL algorithm: ``agents`` (tabular methods, PPO, one greedy evaluation); ``rollouts`` sits between agent
  and environment (trajectories, clips, returns, GAE);
- the reward predictor: ``reward_model`` (the ensemble and the wrapper that swaps in the learned reward),
  ``bradley_terry``, ``reward_inputs``;
- human feedback: ``preferences`` (records, pair selection), ``label_store`` (the crash-safe file),
  ``labelers`` (one protocol: oracle, replay; the widget in ``widgets``);
- the loop: ``loop`` (one run, round by round), ``tasks`` (presets and the true-reward yardstick);
- what the reader sees: ``widgets``, ``dashboard``, ``plotting``, ``clip_drawing``, ``notebook`` (each lesson's
  set-up); ``config`` holds validated hyperparameters, ``checkpoints`` the one atomic write;
- the workshop: ``exercises`` (checkers), ``pooling`` (a room's labels); ``lm`` the tiny language model of the
  lesson on text (to come).
"""

__version__ = "0.1.0"
