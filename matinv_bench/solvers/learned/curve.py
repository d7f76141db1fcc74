"""Training curves: the test MAE of networks while they train.

A curve is recorded when the recipe asks for one (``curve_every``, set from the solver's spec by
:func:`.recipes.recipe_of`): the MAE of the network being trained on the first ``curve_matrices``
matrices of the dataset's test split (the cell's own test set when it holds that many; targets:
float64 LAPACK inverses), at step 0, every ``curve_every`` steps and at the last step, as
``train_curve`` in the training info (a JSON list of ``[step, mae]``). It only reads the model:
the trained weights are the same with or without it (the cache keys differ).
"""

from __future__ import annotations

import json

import numpy as np
import torch

from matinv_bench.datasets.base import split_rng
from matinv_bench.solvers.learned.recipes import Recipe
from matinv_bench.solvers.learned.stacked import StackedMLP
from matinv_bench.solvers.learned.trainee import Trainee


def curve_set(net: Trainee, data, size: int, device: str, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Features and flattened float64 LAPACK inverses (float64 on the device) of the first ``size``
    matrices of ``data``'s test split: the matrices a training curve is measured on."""
    A = data.source.sample(split_rng(data.seed, "test"), size).A.astype(np.float64)
    X = torch.from_numpy(net.features(A)).to(device, dtype)
    return X, torch.from_numpy(np.linalg.inv(A).reshape(len(A), -1)).to(device)


class Curve:
    """The training curves of S networks trained together: network s's MAE on its own curve set
    (:func:`curve_set`), recorded by :meth:`record` at step 0, every ``recipe.curve_every`` steps
    and at the last (:meth:`due`). ``scalings`` are the networks' (x_mean, x_std, y_mean, y_std):
    the curve set is fed in the scaled coordinates training works in, and the outputs are scaled
    back before they are compared with the inverses."""

    def __init__(self, nets: list[Trainee], datas: list, recipe: Recipe, scalings: list, device: str,
                 dtype: torch.dtype):
        sets = [curve_set(net, data, recipe.curve_matrices, device, dtype) for net, data in zip(nets, datas)]
        self.X = torch.stack([(X - xm) / xs for (X, _), (xm, xs, _, _) in zip(sets, scalings)])
        self.Y = torch.stack([Y for _, Y in sets])
        self.y_mean = torch.stack([s[2] for s in scalings]).unsqueeze(1)
        self.y_std = torch.stack([s[3] for s in scalings]).unsqueeze(1)
        self.every = recipe.curve_every
        self.points: list[list[list[float]]] = [[] for _ in nets]

    def due(self, step: int, steps: int) -> bool:
        return step % self.every == 0 or step == steps

    @torch.no_grad()
    def record(self, step: int, model: StackedMLP) -> None:
        """Add each network's MAE now."""
        pred = model(self.X) * self.y_std + self.y_mean
        for points, mae in zip(self.points, (pred.to(torch.float64) - self.Y).abs().mean(dim=(1, 2)).tolist()):
            points.append([step, mae])

    def info(self, s: int) -> dict:
        """Network s's curve, as the training info records it."""
        return {"train_curve": json.dumps(self.points[s])}
