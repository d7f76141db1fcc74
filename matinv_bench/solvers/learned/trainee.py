"""What training needs of a network: :class:`Trainee`, built by a learned solver
(:meth:`~matinv_bench.solvers.base.Trainable.trainee`) and trained by :mod:`.training`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from torch import nn


@dataclass
class Trainee:
    """What training needs of a network, and nothing else: the model (trained in place), its
    shape for the cache key, the seed of its batches, the device, and the feature map from
    matrices to the network's input."""

    model: nn.Sequential
    layers: int
    hidden: int
    dtype: str  # "float64" or "float32"
    seed: int
    device: str
    features: Callable[[np.ndarray], np.ndarray]  # numpy in, numpy out; a torch tensor in, a tensor out
    label: str  # shown on the progress bar
    # "random": the model is torch's initialisation, taken as given in the recipe's scaled
    # coordinates; anything else (a warm start, e.g. "linear") maps raw features to the inverse and
    # is moved into the scaled coordinates before training (:func:`.standardization.unfold_standardization`)
    init: str = "random"
    curve_every: int = 0  # a training curve asked for by the solver's spec (see .recipes.recipe_of)
    curve_matrices: int = 0
    steps: int | None = None  # optimiser steps asked for by the solver's spec, instead of the recipe's budget

    def architecture(self) -> dict:
        return {"layers": self.layers, "hidden": self.hidden, "dtype": self.dtype,
                **({"init": self.init} if self.init != "random" else {})}
