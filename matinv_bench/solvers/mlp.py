"""Learned solvers: ReLU MLPs mapping a matrix to its inverse (the paper's 2-FC and 3-FC nets).

Architecture: n^2 inputs -> hidden -> (hidden ->) n^2 outputs, ReLU between layers.
Input: on a box dataset (one with ``base`` and ``eps``) the normalised perturbation
T = (A - A0) / eps, as in the authors' code; on other datasets the matrix A itself. ``prepare``
stores A itself and the timed ``invert`` computes T, in A's precision: the subtraction is part of
the method's cost, as it is for ``linear-approx`` and ``neumann``, which the paper compares.
Output: the inverse, flattened. Default width 8 n^2 (the paper's 32 for 2x2, 72 for 3x3 and
2048 for 16x16); the paper's small net of Section 5.3 is ``mlp-2fc[hidden=8]`` on 2x2.

``recipe="none"`` keeps the initial weights (enough for timing and the scaling study). The
training recipes (``paper``, ``fast``, ``quick``, ``tiny``) live in
:mod:`matinv_bench.solvers.learned.recipes`, the training in :mod:`~matinv_bench.solvers.learned.training`
and the cache of trained weights in :mod:`~matinv_bench.solvers.learned.cache`; ``fit_info_``
records the training. The solvers are :class:`~matinv_bench.solvers.base.Trainable`.

Initial weights (:mod:`matinv_bench.solvers.learned.fixed`):
- ``init=random`` (default): torch's seeded initialisation.
- ``init=linear``: the paper's equation (16), 2 n^2 hidden units that carry the linear
  approximation inv(A0) - inv(A0) (A - A0) inv(A0) exactly (to rounding), on box datasets. With a
  recipe it is a warm start: training starts from the linear approximation.
- ``weights=PATH``: a JSON file of fixed weights (the format of the paper's Appendix D.1 network,
  whose output is (inv(A) - inv(A0)) / eps unless the file says ``"output": "inverse"``); the
  width comes from the file, and the network is not trained.

``recipe`` defaults to ``quick``, and to ``none`` with ``init=linear`` or ``weights``.
``steps=S`` (with a recipe) trains for exactly S optimiser steps of the recipe's batch, whatever the
size, instead of the recipe's budget (``quick`` caps big networks' training flops): networks of
different sizes then train alike (``reproduce where-can-n``).

``curve_every=K`` (with a recipe) records a training curve in ``fit_info_["train_curve"]``: the
MAE on the first ``curve_matrices`` matrices of the dataset's test split (default 10,000) at step
0, every K steps and at the last step (:class:`~matinv_bench.solvers.learned.curve.Curve`).
It does not change training; the model is cached apart from the one trained without a curve.
"""

from __future__ import annotations

import copy
from functools import partial
from typing import ClassVar

import numpy as np
import torch

from matinv_bench.errors import InputError, TooLargeError
from matinv_bench.solvers._torch import TORCH_DTYPES, TorchSolver, torch_dtype
from matinv_bench.solvers.base import Trainable, register
from matinv_bench.solvers.learned import fixed, recipes, training
from matinv_bench.solvers.learned.architecture import (
    build_mlp,
    default_hidden,
    mlp_flops,
    mlp_param_count,
)
from matinv_bench.solvers.learned.trainee import Trainee
from matinv_bench.specs import check_int
from matinv_bench.system import available_memory

INITS = ("random", "linear")


class MLPSolver(TorchSolver, Trainable):
    """Base of ``mlp-2fc`` and ``mlp-3fc``; subclasses set ``layers``. A :class:`Trainable`.

    ``fit`` learns ``model_`` (on the device), ``n_``, ``base_`` and ``eps_``; :meth:`trainee`
    builds the network without keeping it (a grid's training trains it). ``prepare`` keeps
    A itself (``_A``), A0 in A's precision (``_A0``) and the network in A's precision
    (``_model``: ``model_`` itself, or a cast copy when their precisions differ, so that a
    float32 batch never changes the learned float64 weights). The timed ``invert`` computes the
    features (A - A0) / eps and runs the network.
    """

    family = "learned"
    layers: ClassVar[int] = 2
    test_spec: ClassVar[str | None] = None

    def __init__(self, hidden: int | None = None, recipe: str | None = None, seed: int = 0,
                 device: str = "auto", dtype: str = "float64", init: str = "random", weights: str | None = None,
                 curve_every: int = 0, curve_matrices: int = 10_000, steps: int | None = None):
        super().__init__(device)
        if hidden is not None:
            check_int("hidden", hidden, 1)
        if dtype not in TORCH_DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(TORCH_DTYPES)}, got {dtype!r}")
        if init not in INITS:
            raise ValueError(f"init must be one of {', '.join(INITS)}, got {init!r}")
        if recipe is None:
            recipe = "none" if init == "linear" or weights is not None else "quick"
        if recipe != "none" and recipe not in recipes.RECIPES:
            raise ValueError(f"unknown recipe {recipe!r}; known: none, {', '.join(recipes.RECIPES)}")
        self.fixed_layers, self.fixed_output = None, None  # the file's weights, when given
        if weights is not None:
            if init != "random" or recipe != "none":
                raise ValueError("weights=PATH gives fixed weights: leave out init and recipe (or set recipe=none)")
            self.fixed_layers, self.fixed_output = fixed.read_weights(str(weights), self.layers)
            width = self.fixed_layers[0][0].shape[0]
            if hidden is not None and hidden != width:
                raise ValueError(f"hidden={hidden}, but the weights in {weights!r} have {width} hidden units")
            hidden = width
        if init == "linear" and hidden is not None:
            raise ValueError("init=linear has 2 n^2 hidden units (the paper's equation (16)): leave out hidden")
        if init == "linear" and self.layers != 2:
            raise ValueError("init=linear builds the paper's 2-layer construction: use mlp-2fc")
        check_int("curve_every", curve_every, 0)
        check_int("curve_matrices", curve_matrices, 1)
        if curve_every and recipe == "none":
            raise ValueError("curve_every records training: give a recipe")
        if steps is not None:
            check_int("steps", steps, 1)
            if recipe == "none":
                raise ValueError("steps sets how long the network trains: give a recipe")
        self.hidden, self.recipe, self.seed, self.dtype = hidden, recipe, int(seed), dtype
        self.init, self.weights = init, weights
        self.curve_every, self.curve_matrices = int(curve_every), int(curve_matrices)
        self.steps = None if steps is None else int(steps)

    def width(self, n: int) -> int:
        if self.init == "linear":
            return 2 * n * n
        return self.hidden if self.hidden is not None else default_hidden(n)

    def architecture(self, n: int) -> dict:
        """What the cache key records of the network for n x n matrices."""
        return {"layers": self.layers, "hidden": self.width(n), "dtype": self.dtype,
                **({"init": self.init} if self.init != "random" else {})}

    def skip(self, data) -> str | None:
        if self.recipe != "none" and not data.source.trainable:
            return f"{data.spec!r} is a fixed collection: no training distribution to learn {self.recipe!r} from"
        if self.fixed_layers is not None:
            n2 = self.fixed_layers[0][0].shape[1]
            if n2 != data.n * data.n:
                return (
                    f"the weights in {self.weights!r} take {n2} inputs; {data.spec!r} has {data.n} x {data.n} matrices"
                )
            if self.fixed_output == "delta" and data.base is None:
                return f"the weights in {self.weights!r} output (inv(A) - inv(A0)) / eps; {data.spec!r} is not a box"
        if self.init == "linear" and data.base is None:
            return f"init=linear builds the linear approximation around A0; {data.spec!r} has no base matrix"
        return None

    def fit(self, data) -> MLPSolver:
        """Build the network for ``data.n`` and train it with ``self.recipe`` ("none": seeded init),
        or load it from the cache; keep it and the box it maps from."""
        net = self.trainee(data)
        self.fit_info_ = {"train_recipe": "none", "train_steps": 0}
        if self.recipe != "none":
            self.fit_info_ = training.fit(net, data, self.recipe)
        self.model_ = net.model.to(self.device).eval()  # weights loaded from the cache arrive on the CPU
        self.n_ = data.n
        self.base_ = _base(data)
        self.eps_ = data.eps
        return self

    def trainee(self, data) -> Trainee:
        """A new network for ``data.n`` (its seeded initialisation, the linear construction or the
        file's weights; untrained) and what training it needs; sets no attribute (see
        :class:`Trainable`): :meth:`fit` trains it, and ``training.fit_many`` trains the networks of
        several solvers together (each then loads its own from the cache in :meth:`fit`)."""
        need = self.param_bytes(data.n)
        if need > available_memory():  # refuse before torch allocates (overcommit could end in the OOM killer)
            raise TooLargeError(
                f"a {self.name} for {data.n} x {data.n} matrices has {need / 2**30:.1f} GiB of weights; "
                f"only {available_memory() / 2**30:.1f} GiB is available"
            )
        torch.manual_seed(self.seed)
        model = build_mlp(data.n, self.width(data.n), self.layers, TORCH_DTYPES[self.dtype])
        given = None
        if self.fixed_layers is not None:
            given = self.fixed_layers
            if self.fixed_output == "delta":
                given = fixed.delta_to_inverse(given, data.base, data.eps)
        elif self.init == "linear":
            given = fixed.linear_layers(data.base, data.eps)
        if given is not None:
            fixed.copy_into(model, given)
        return Trainee(model, self.layers, self.width(data.n), self.dtype, self.seed, self.device,
                       partial(input_features, base=_base(data), eps=data.eps), self.spec, init=self.init,
                       curve_every=self.curve_every, curve_matrices=self.curve_matrices if self.curve_every else 0,
                       steps=self.steps)

    def features(self, A):
        """The fitted network's input for matrices A (:func:`input_features` of its box)."""
        return input_features(A, self.base_, self.eps_)

    def check_batch(self, A: np.ndarray) -> None:
        n = getattr(self, "n_", None)
        if n is None:
            raise InputError(f"{self.name} has no network yet: call fit(data) first")
        if A.shape[-1] != n:
            raise InputError(f"this network was built for {n} x {n} matrices, got {A.shape[-1]} x {A.shape[-1]}")

    def batch_scratch(self, A: np.ndarray) -> dict:
        dtype = torch_dtype(A.dtype)
        model = self.model_
        if next(model.parameters()).dtype != dtype:
            model = copy.deepcopy(model).to(dtype=dtype)
        return {"_model": model, "_A0": None if self.base_ is None else self.place(self.base_, A.dtype)}

    def invert(self):
        with torch.inference_mode():
            A = self._A
            T = A if self._A0 is None else (A - self._A0) / self.eps_
            return self._model(T.reshape(len(A), -1)).reshape(-1, self.n_, self.n_)

    def flops(self, n: int) -> float:
        return mlp_flops(n, self.width(n), self.layers)

    def param_bytes(self, n: int) -> int:
        return mlp_param_count(n, self.width(n), self.layers) * (8 if self.dtype == "float64" else 4)


def _base(data) -> np.ndarray | None:
    return None if data.base is None else np.asarray(data.base, dtype=np.float64)


def input_features(A, base: np.ndarray | None, eps: float | None):
    """The network's input for matrices A (numpy array or torch tensor): T = (A - A0) / eps on a
    box (``base`` A0), else A; flattened.

    Training uses this form (a tensor where it draws on the device); ``invert`` computes the
    same map in torch, timed."""
    if base is not None and isinstance(A, torch.Tensor):
        base = torch.as_tensor(base, dtype=A.dtype, device=A.device)
    X = A if base is None else (A - base) / eps
    return X.reshape(len(A), -1)


@register("mlp-2fc")
class MLP2(MLPSolver):
    """Two dense layers: n^2 -> hidden -> n^2 (ReLU), the paper's 2-FC; ``init=linear`` builds its
    equation (16) (the linear approximation, 2 n^2 hidden units), ``weights=PATH`` reads fixed weights
    (e.g. its Appendix D.1 net); ``recipe`` defaults to quick, or none for these two."""

    layers = 2
    test_spec = "mlp-2fc[hidden=16,recipe=tiny]"
    flops_formula = "2 (n^2 h + h n^2)"
    flops_source = "dense layers n^2 -> h -> n^2 (h = hidden, default 8 n^2), 2 flops per weight"


@register("mlp-3fc")
class MLP3(MLPSolver):
    """Three dense layers: n^2 -> hidden -> hidden -> n^2 (ReLU), the paper's 3-FC; ``weights=PATH``
    reads fixed weights; ``recipe`` defaults to quick, or none with weights."""

    layers = 3
    test_spec = "mlp-3fc[hidden=16,recipe=tiny]"
    flops_formula = "2 (n^2 h + h^2 + h n^2)"
    flops_source = "dense layers n^2 -> h -> h -> n^2 (h = hidden, default 8 n^2), 2 flops per weight"
