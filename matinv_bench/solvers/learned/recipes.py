"""Training recipes of the networks (see :data:`RECIPES`).

- ``paper``: the authors' recipe, as their released notebooks run it. MSE on the raw inverse,
  Adam (lr 5e-5, weight decay 1e-7), CosineAnnealingWarmRestarts(T_0=3, T_mult=2, eta_min=1e-6)
  stepped once per epoch, batch 128. 2x2: 20 epochs over a fixed 1,000,000 matrices (the small
  net with h = 8 on the target (inv(A) - inv(A0)) / eps, as they trained it). 3x3 and 16x16:
  the whole epochs of 100,000 matrices that fit in 200,000 steps (255 epochs, 199,410 steps),
  over a fixed set for 3x3 and a fresh draw every epoch for 16x16.
- ``fast``: standardised inputs and targets (for a box, targets become about
  (inv(A) - inv(A0)) / eps), batch 1024, Adam at 2e-3 with a per-step cosine decay; 30,000 steps.
- ``quick``: ``fast`` on a CPU budget: 6,000 steps, and fewer for big networks (at most about
  1e12 training flops), so that the default tables run in minutes on 2 cores.
- ``demo``: ``quick`` cut to the default run's minute (``matinv-bench run``): 1,500 steps on
  50,000 matrices, at most about 1e11 training flops; a 2-FC or 3-FC on the paper's 2x2 and 3x3
  boxes trains in seconds on a CPU core and lands near the linear approximation (MAE about 1e-4 on
  the 2x2 boxes), not at the paper's 1e-5.
- ``tiny``: 300 steps on 4,096 matrices, for tests.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from matinv_bench.errors import SpecError
from matinv_bench.solvers.learned.trainee import Trainee


@dataclass(frozen=True)
class Recipe:
    """How to train: the optimiser, schedule, batch, budget and target scaling."""

    name: str
    train_size: int  # matrices in the (fixed) training set
    batch: int
    lr: float
    steps: int | None = None  # total optimiser steps (None: ``epochs`` full passes)
    epochs: int | None = None
    weight_decay: float = 0.0
    schedule: str = "cosine"  # "cosine": per step down to lr_min; "restarts": the paper's, per epoch
    lr_min: float = 0.0
    standardize: bool = True
    target: str = "inverse"  # "delta": (inv(A) - inv(A0)) / eps on a box, folded back after training
    fresh_each_epoch: bool = False  # draw a new training set every epoch (from the same train stream)
    max_flops: float | None = None  # cap on training flops (~ 3 x forward flops x samples)
    curve_every: int = 0  # record a training curve every this many steps (0: none; see .curve.Curve)
    curve_matrices: int = 0  # test-split matrices the curve is measured on

    def total_steps(self, flops_per_sample: float) -> int:
        per_epoch = math.ceil(self.train_size / self.batch)
        steps = self.steps if self.steps is not None else self.epochs * per_epoch
        if self.max_flops is not None:
            steps = min(steps, max(100, int(self.max_flops / (3 * flops_per_sample * self.batch))))
        return int(steps)


def _paper(n: int, hidden: int | None = None) -> Recipe:
    common = {"name": "paper", "batch": 128, "lr": 5e-5, "weight_decay": 1e-7, "schedule": "restarts",
              "lr_min": 1e-6, "standardize": False}
    if n == 2:
        return Recipe(train_size=1_000_000, epochs=20, target="delta" if hidden == 8 else "inverse", **common)
    return Recipe(train_size=100_000, epochs=200_000 // math.ceil(100_000 / 128), fresh_each_epoch=n >= 16, **common)


def _fast(n: int, hidden: int | None = None) -> Recipe:
    return Recipe("fast", train_size=1_000_000 if n <= 4 else 200_000, batch=1024, lr=2e-3, steps=30_000)


def _quick(n: int, hidden: int | None = None) -> Recipe:
    return Recipe("quick", train_size=200_000 if n <= 4 else 50_000, batch=512, lr=3e-3, steps=6_000,
                  max_flops=1e12)


def _demo(n: int, hidden: int | None = None) -> Recipe:
    return Recipe("demo", train_size=50_000, batch=512, lr=3e-3, steps=1_500, max_flops=1e11)


def _tiny(n: int, hidden: int | None = None) -> Recipe:
    return Recipe("tiny", train_size=4096, batch=256, lr=1e-2, steps=300)


RECIPES: dict[str, Callable[[int, int | None], Recipe]] = {
    "paper": _paper,
    "fast": _fast,
    "quick": _quick,
    "demo": _demo,
    "tiny": _tiny,
}


def recipe_for(name: str, n: int, hidden: int | None = None) -> Recipe:
    """The recipe ``name`` for a net of width ``hidden`` on n x n matrices; SpecError naming the known
    ones otherwise."""
    if name not in RECIPES:
        raise SpecError(f"unknown recipe {name!r}; known: none, {', '.join(RECIPES)}")
    return RECIPES[name](n, hidden)


def recipe_of(net: Trainee, name: str, n: int) -> Recipe:
    """The recipe ``name`` as ``net`` trains with it on n x n matrices: :func:`recipe_for` its
    width, with the training curve its spec asks for (``curve_every``, ``curve_matrices``) and the
    number of steps it asks for (``steps``: exactly that many, whatever the size; no flop cap)."""
    recipe = recipe_for(name, n, net.hidden)
    if net.curve_every:
        recipe = replace(recipe, curve_every=net.curve_every, curve_matrices=net.curve_matrices)
    if net.steps:
        recipe = replace(recipe, steps=int(net.steps), epochs=None, max_flops=None)
    return recipe
