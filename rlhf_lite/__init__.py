"""rlhf-lite: the machinery behind a hands-on notebook series on reinforcement learning from human feedback.

One module (or sub-package) per box of Christiano et al.'s (2017) picture:

- the environment: ``envs`` (plumbing, fixed horizons, frames), ``batched_envs``, ``gridworld``, ``boat_race``
  (its drawing in ``boat_race_drawing``);
- the RL algorithm: ``agents`` (tabular methods, PPO with an optional KL penalty to a reference policy, one
  greedy evaluation); ``rollouts`` sits between agent and environment (trajectories, clips, returns, GAE);
- the reward predictor: ``reward_model`` (the ensemble: fitting, and the reward PPO is paid as ``reward_fn``),
  ``reward_network`` (its settings and networks), ``bradley_terry``, ``reward_inputs``;
- human feedback: ``items`` (what is compared: clips, in ``item_clips``, and text completions), ``preferences``
  (records), ``pair_selection`` (which pairs to ask), ``label_store`` and ``label_file`` (the crash-safe file),
  ``labelers`` (one protocol: oracle, replay in ``replay_labeler``, biased ones in ``bias``; the widget in
  ``widgets``);
- the loop: ``loop`` (one run, round by round), ``loop_config`` (its settings and label schedule), ``loop_files``
  (checkpoints), ``tasks`` (presets, the env as a run sees it, greedy evaluation, the true-reward yardstick),
  ``pitfalls`` (lesson 05's experiments: frozen and online predictors, brakes);
- what the reader sees: ``widgets``, ``dashboard``, ``plotting``, ``clip_drawing``, ``notebook`` (each lesson's
  set-up); ``config`` holds validated hyperparameters, ``checkpoints`` the one atomic write;
- the workshop: ``exercises`` and ``solutions`` (one module per lesson), ``pooling`` (a room's labels) and
  ``agreement`` (how much the room agrees);
- ``lm``: the same boxes on a tiny language model (lesson 06).
"""

__version__ = "0.1.0"
