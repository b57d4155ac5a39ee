"""The reward predictor's settings and its networks: ``M`` small MLPs ``r(o, a)`` evaluated as one.

:class:`RewardModelConfig` holds every hyperparameter of the predictor (one line of help each; the ranges
feed the notebooks' sliders); the ensemble that is fitted to labels and pays PPO is
:class:`rlhf_lite.reward_model.RewardEnsemble`, which builds its networks from here.
"""

from __future__ import annotations

import dataclasses
import math

import torch

from rlhf_lite.config import Config, param

# ------------------------------------------------------------------------------------------------------------
# Configuration
# ------------------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class RewardModelConfig(Config):
    """Hyperparameters of the reward predictor (one line of help each; ranges feed the notebook sliders)."""

    ensemble_size: int = param(
        3, "number of reward networks, each trained on its own bootstrap sample of the labels", low=1, high=16
    )
    hidden_size: int = param(64, "units per hidden layer of each reward network", low=4, high=1024)
    num_layers: int = param(2, "hidden layers of each reward network", low=1, high=4)
    activation: str = param("leaky_relu", "non-linearity between layers", choices=("relu", "leaky_relu", "tanh"))
    learning_rate: float = param(3e-3, "Adam step size", low=0.0, high=1.0, low_open=True)
    weight_decay: float = param(
        1e-3, "decoupled L2 penalty on the weights (AdamW): keeps rewards simple when labels are few", low=0.0, high=1.0
    )
    epochs: float = param(20.0, "passes over the training pairs per fit", low=0.0, high=10_000.0, low_open=True)
    min_updates: int = param(
        60, "at least this many gradient steps per fit, so a handful of labels still trains", low=0, high=1_000_000
    )
    batch_size: int = param(32, "label pairs per gradient step (per member)", low=1, high=100_000)
    noise_prob: float = param(
        0.1,
        "assumed chance the labeler answers at random (Bradley-Terry noise term)",
        low=0.0,
        high=1.0,
        high_open=True,
    )
    validation_fraction: float = param(
        0.2, "share of labels held out of training to measure accuracy on unseen pairs", low=0.0, high=0.5
    )
    bootstrap: bool = param(
        True, "train each member on a resample (with replacement) of the training labels", choices=(True, False)
    )
    inputs: str = param(
        "observation_action",
        "what the reward looks at: observation and action, or the observation only "
        "(actions replaced by zeros, a constant input)",
        choices=("observation_action", "observation"),
    )
    pessimism: float = param(
        0.0,
        "pessimistic reward: mean minus k standard deviations of the members (Coste et al. 2024); 0 = the plain mean",
        low=0.0,
        high=10.0,
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.pessimism > 0 and self.ensemble_size < 2:
            raise ValueError(
                f"RewardModelConfig.pessimism={self.pessimism} needs ensemble_size >= 2 "
                f"(got {self.ensemble_size}): one member has no spread to subtract; expected pessimism=0"
            )


# ------------------------------------------------------------------------------------------------------------
# The networks
# ------------------------------------------------------------------------------------------------------------


class _EnsembleMLP(torch.nn.Module):
    """``M`` independent MLPs evaluated in one batched matmul per layer: ``[M, N, D] -> [M, N]``.

    Stacking the members' weights (``[M, in, out]``) instead of looping over ``M`` modules makes a whole PPO
    batch for the whole ensemble one call per layer, which is what keeps ``reward()`` fast on a laptop.
    """

    def __init__(self, members: int, in_dim: int, hidden: int, layers: int, activation: str):
        super().__init__()
        sizes = [in_dim] + [hidden] * layers + [1]
        self.weights = torch.nn.ParameterList(
            torch.nn.Parameter(torch.empty(members, a, b)) for a, b in zip(sizes[:-1], sizes[1:])
        )
        self.biases = torch.nn.ParameterList(torch.nn.Parameter(torch.empty(members, 1, b)) for b in sizes[1:])
        self.activation = {"relu": torch.relu, "tanh": torch.tanh, "leaky_relu": torch.nn.functional.leaky_relu}[
            activation
        ]

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator) -> None:
        """``nn.Linear``'s default init (uniform in +-1/sqrt(fan_in)), drawn from ``generator`` (no global RNG)."""
        for w, b in zip(self.weights, self.biases):
            bound = 1.0 / math.sqrt(w.shape[1])
            w.copy_((torch.rand(w.shape, generator=generator) * 2 - 1) * bound)
            b.copy_((torch.rand(b.shape, generator=generator) * 2 - 1) * bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:  # the same inputs for every member
            x = x.unsqueeze(0).expand(self.weights[0].shape[0], -1, -1)
        h = x
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = torch.baddbmm(b, h, w)
            if i < last:
                h = self.activation(h)
        return h.squeeze(-1)
