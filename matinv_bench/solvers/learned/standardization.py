"""The scaled coordinates networks train in, and how they are folded into the network after.

A network trains on (x - x_mean) / x_std -> (y - y_mean) / y_std, with the scalings of its first
training set (:func:`scalings`); after training they are folded into its first and last Linear
layers (:func:`fold_standardization`), so the trained model always maps features to the inverse
itself. A warm start (a model that already maps features to the inverse) is unfolded into the
scaled coordinates before the first step (:func:`unfold_standardization`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from matinv_bench.solvers.learned.recipes import Recipe
from matinv_bench.solvers.learned.stacked import linear_layers


def scalings(X: torch.Tensor, Y: torch.Tensor, recipe: Recipe, data) -> tuple[torch.Tensor, ...]:
    """Input and target scalings (x_mean, x_std, y_mean, y_std) of a first draw (features ``X``
    and flattened inverses ``Y``): fixed for the whole training. ``standardize``: the draw's mean
    and standard deviation per entry; else the identity, or for ``target="delta"`` on a box
    y_mean = inv(A0) and y_std = eps (the target (inv(A) - inv(A0)) / eps)."""
    x_mean, x_std = torch.zeros_like(X[0]), torch.ones_like(X[0])
    y_mean, y_std = torch.zeros_like(Y[0]), torch.ones_like(Y[0])
    if recipe.standardize:
        x_mean, x_std = X.mean(0), X.std(0).clamp_min(1e-12)
        y_mean, y_std = Y.mean(0), Y.std(0).clamp_min(1e-12)
    elif recipe.target == "delta" and data.base is not None:
        y_mean = torch.from_numpy(np.linalg.inv(data.base).reshape(-1)).to(Y.device, Y.dtype)
        y_std = data.eps * y_std
    return x_mean, x_std, y_mean, y_std


@torch.no_grad()
def fold_standardization(model: nn.Sequential, x_mean, x_std, y_mean, y_std) -> None:
    """Make a model trained on (x - x_mean)/x_std -> (y - y_mean)/y_std map x -> y directly."""
    layers = linear_layers(model)
    first, last = layers[0], layers[-1]
    first.bias -= first.weight @ (x_mean / x_std)
    first.weight /= x_std
    last.weight *= y_std[:, None]
    last.bias.mul_(y_std).add_(y_mean)


@torch.no_grad()
def unfold_standardization(model: nn.Sequential, x_mean, x_std, y_mean, y_std) -> None:
    """The inverse of :func:`fold_standardization`: make a model that maps x -> y map
    (x - x_mean)/x_std -> (y - y_mean)/y_std, the coordinates training works in."""
    layers = linear_layers(model)
    first, last = layers[0], layers[-1]
    first.bias += first.weight @ x_mean
    first.weight *= x_std
    last.bias.sub_(y_mean).div_(y_std)
    last.weight /= y_std[:, None]
