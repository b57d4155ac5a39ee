"""The RL-algorithm box: tabular Q-learning and PPO, each with a validated config dataclass.

Read in this order:

* :mod:`.tabular`: :func:`q_learning` and :func:`value_iteration`, a table of action values ``Q[s, a]``,
  learned from experience or computed from the model. Small worlds only, but every idea of later lessons is
  already here: reward per step, discounting (``gamma``), exploration (``epsilon``, optimistic ``q_init``).
* :mod:`.networks`: the policy network PPO trains, and running normalisation.
* :mod:`.ppo` (settings in :mod:`.ppo_config`): :class:`PPOAgent`, the workhorse of RLHF (CleanRL-style
  PPO over a vector of environments). The RLHF loop swaps the environment's reward for a learned one
  through ``learn(..., reward_fn=...)``; ``PPOConfig.kl_coef`` adds RLHF's KL penalty to a reference policy
  (:mod:`.reference`: :class:`ReferencePolicy`, the exact KL); checkpoints in :mod:`.ppo_checkpoint`.
* :mod:`.evaluation`: :func:`evaluate`, the one greedy evaluation every caller uses.
* :mod:`.controllers`: a scripted Pendulum swing-up and the clip pool built from it (not learners).

Randomness is always passed in (``seed``): networks are initialised and actions sampled from this package's
own ``torch.Generator`` objects, never from global random state, so runs repeat exactly.

Speed: these networks are tiny, so torch's per-call overhead, not arithmetic, is the cost. Scripts and
notebooks should call ``torch.set_num_threads(1)`` (faster here than 2 threads, and far faster when the
machine is busy); this package leaves global torch settings alone.
"""

from .controllers import pendulum_episodes, pendulum_swing_up
from .evaluation import evaluate
from .networks import PolicyNet, RunningMeanStd
from .ppo import PPOAgent, clipped_surrogate, train_ppo
from .ppo_config import PRESETS, PPOConfig
from .progress import Callback
from .reference import ReferencePolicy
from .tabular import QLearningConfig, QLearningResult, greedy_policy, q_learning, value_iteration

__all__ = [
    "Callback",
    "PPOAgent",
    "PPOConfig",
    "PRESETS",
    "PolicyNet",
    "QLearningConfig",
    "QLearningResult",
    "ReferencePolicy",
    "RunningMeanStd",
    "clipped_surrogate",
    "evaluate",
    "greedy_policy",
    "pendulum_episodes",
    "pendulum_swing_up",
    "q_learning",
    "train_ppo",
    "value_iteration",
]
