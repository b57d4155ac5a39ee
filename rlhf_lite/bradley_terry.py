"""Bradley-Terry with a noise term: the probability that one clip is preferred to another from their summed
predicted rewards, its cross-entropy loss, answers as targets, and the scores a reward model is judged by.

    P(a > b) = (1 - noise_prob) * sigmoid(R(a) - R(b)) + noise_prob / 2
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import torch

from rlhf_lite import preferences


def bt_probability(return_a, return_b, noise_prob: float = 0.0):
    """``P(a preferred to b) = (1 - noise_prob) * sigmoid(return_a - return_b) + noise_prob / 2``.

    Works on torch tensors or numpy arrays / floats of any matching (broadcastable) shape and returns the
    same kind. ``noise_prob`` is the chance that the labeler answers at random.
    """
    _check_noise(noise_prob)
    if isinstance(return_a, torch.Tensor) or isinstance(return_b, torch.Tensor):
        diff = torch.as_tensor(return_a) - torch.as_tensor(return_b)
        return (1.0 - noise_prob) * torch.sigmoid(diff) + noise_prob / 2.0
    diff = np.asarray(return_a, dtype=np.float64) - np.asarray(return_b, dtype=np.float64)
    # sigmoid written so that it neither overflows for large |diff| nor loses precision
    sig = np.where(
        diff >= 0, 1.0 / (1.0 + np.exp(-np.abs(diff))), np.exp(-np.abs(diff)) / (1.0 + np.exp(-np.abs(diff)))
    )
    out = (1.0 - noise_prob) * sig + noise_prob / 2.0
    return out if out.ndim else float(out)


def bt_loss(return_a, return_b, targets, noise_prob: float = 0.0, reduction: str = "mean"):
    """Cross-entropy between the Bradley-Terry probability and ``targets`` (1 a better, 0 b better, 0.5 equal).

    ``-[y log P(a>b) + (1-y) log P(b>a)]``, computed in log space (``logaddexp`` of the sigmoid part and the
    noise part) so that huge return differences give a finite loss. ``reduction``: ``"mean"``, ``"sum"`` or
    ``"none"`` (one loss per pair). Torch in, torch out (differentiable); numpy in, numpy out.
    """
    _check_noise(noise_prob)
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction={reduction!r} is not allowed: expected one of 'mean', 'sum', 'none'")
    is_torch = any(isinstance(x, torch.Tensor) for x in (return_a, return_b, targets))
    ra = torch.as_tensor(return_a, dtype=None if isinstance(return_a, torch.Tensor) else torch.float64)
    rb = torch.as_tensor(return_b, dtype=ra.dtype)
    y = torch.as_tensor(targets, dtype=ra.dtype)
    if bool(((y < 0) | (y > 1)).any()):
        raise ValueError("targets must lie in [0, 1]: 1 = a (left) better, 0 = b (right) better, 0.5 = equal")
    diff = ra - rb
    log_pa = _log_mix(torch.nn.functional.logsigmoid(diff), noise_prob)
    log_pb = _log_mix(torch.nn.functional.logsigmoid(-diff), noise_prob)
    loss = -(y * log_pa + (1.0 - y) * log_pb)
    if reduction == "mean":
        loss = loss.mean()
    elif reduction == "sum":
        loss = loss.sum()
    if is_torch:
        return loss
    out = loss.detach().numpy()
    return float(out) if out.ndim == 0 else out


def _log_mix(log_sig: torch.Tensor, noise_prob: float) -> torch.Tensor:
    """``log((1 - noise) * exp(log_sig) + noise / 2)`` without leaving log space."""
    if noise_prob == 0.0:
        return log_sig
    return torch.logaddexp(log_sig + math.log1p(-noise_prob), torch.full_like(log_sig, math.log(noise_prob / 2.0)))


def _check_noise(noise_prob: float) -> None:
    if not (isinstance(noise_prob, (int, float)) and 0.0 <= noise_prob < 1.0):
        raise ValueError(f"noise_prob={noise_prob!r} is out of range: expected a number in [0, 1)")


def targets_from_answers(answers: Iterable[str]) -> np.ndarray:
    """Answers (``left``/``right``/``equal``/``cant_tell``) -> targets ``[P]`` (``nan`` for ``cant_tell``)."""
    out = []
    for i, a in enumerate(answers):
        if a not in preferences.ANSWERS:
            raise ValueError(f"answer #{i}={a!r} is not allowed: expected one of {preferences.ANSWERS}")
        t = preferences.TARGETS.get(a)  # the one answer -> target table; cant_tell has none
        out.append(np.nan if t is None else t)
    return np.asarray(out, dtype=np.float64)


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation of two 1-D arrays (ties get their average rank); ``nan`` if either is constant."""
    x, y = np.asarray(x, dtype=np.float64).ravel(), np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape or len(x) < 2:
        raise ValueError(f"spearman needs two arrays of the same length >= 2, got {x.shape} and {y.shape}")
    rx, ry = _ranks(x), _ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denom = math.sqrt(float(rx @ rx) * float(ry @ ry))
    return float(rx @ ry / denom) if denom > 0 else float("nan")


def _ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(len(x), dtype=np.float64)
    # average the ranks of tied values
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return sums[inverse] / counts[inverse]


def _accuracy(prob: np.ndarray, y: np.ndarray) -> float:
    """Share of pairs with a clear winner (target != 0.5) where ``prob`` (P(left better)) picks it."""
    clear = np.abs(y - 0.5) > 1e-6
    if not clear.any():
        return float("nan")
    return float(np.mean((prob[clear] > 0.5) == (y[clear] > 0.5)))
