"""rlhf-lite: the machinery behind a hands-on notebook series on reinforcement learning from human feedback.

One module per box of Christiano et al.'s (2017) picture: ``envs`` (the environment), ``agents`` (the RL
algorithm), ``reward_model`` (the reward predictor), ``preferences`` and ``labelers`` (human feedback),
``loop`` (the three boxes tied together); ``rollouts`` sits between agent and environment, ``plotting``
and ``widgets`` are what the reader sees, ``config`` holds validated hyperparameters and the fast-mode switch.
"""

__version__ = "0.1.0"
