"""Training recipes for the learned solvers, and the training loop.

:func:`fit` trains a :class:`Trainee` (an ``nn.Sequential`` of Linear/ReLU from
:mod:`.architecture`, with its feature map) to map ``features(A)`` to inv(A), with a named
recipe, on the trainee's device. Recipes (see :data:`RECIPES`):

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
- ``tiny``: 300 steps on 4,096 matrices, for tests.

Standardisation is folded back into the first and last Linear layers after training, so the
trained model always maps features to the inverse itself.

The training set is the dataset's train split (``split_rng(data.seed, "train")``, independent
of the test split), drawn in chunks and kept on the training device; batches are sliced from a
per-epoch permutation (no DataLoader). Targets are float64 LAPACK inverses. Trained weights are
cached (:mod:`.cache`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from matinv_bench.datasets.base import split_rng
from matinv_bench.errors import SpecError
from matinv_bench.solvers.learned import cache
from matinv_bench.solvers.learned.architecture import TORCH_DTYPES, mlp_flops
from matinv_bench.system import pinned_threads

CHUNK = 1 << 16  # matrices drawn per call when building a training set
# Below this many flops per step, one thread trains fastest: intra-op parallelism of tiny
# layers costs more in synchronisation than it saves (and collapses on a busy machine).
SMALL_STEP_FLOPS = 5e7


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

    def total_steps(self, flops_per_sample: float) -> int:
        per_epoch = math.ceil(self.train_size / self.batch)
        steps = self.steps if self.steps is not None else self.epochs * per_epoch
        if self.max_flops is not None:
            steps = min(steps, max(100, int(self.max_flops / (3 * flops_per_sample * self.batch))))
        return int(steps)


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
    features: Callable[[np.ndarray], np.ndarray]
    label: str  # shown on the progress bar

    def architecture(self) -> dict:
        return {"layers": self.layers, "hidden": self.hidden, "dtype": self.dtype}


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


def _tiny(n: int, hidden: int | None = None) -> Recipe:
    return Recipe("tiny", train_size=4096, batch=256, lr=1e-2, steps=300)


RECIPES: dict[str, Callable[[int, int | None], Recipe]] = {"paper": _paper, "fast": _fast, "quick": _quick, "tiny": _tiny}


def recipe_for(name: str, n: int, hidden: int | None = None) -> Recipe:
    """The recipe ``name`` for a net of width ``hidden`` on n x n matrices; ValueError naming the known ones otherwise."""
    if name not in RECIPES:
        raise SpecError(f"unknown recipe {name!r}; known: none, {', '.join(RECIPES)}")
    return RECIPES[name](n, hidden)


# ----------------------------------------------------------------------------- training

def training_set(net: Trainee, data, size: int, device: str, dtype: torch.dtype,
                 rng: np.random.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Features and flattened float64-LAPACK inverses of ``size`` train-split matrices, on the device.

    ``rng`` continues a train stream (for fresh draws); by default the stream starts anew.
    """
    rng = split_rng(data.seed, "train") if rng is None else rng
    n2 = data.n * data.n
    X = torch.empty(size, n2, dtype=dtype, device=device)
    Y = torch.empty(size, n2, dtype=dtype, device=device)
    for start in range(0, size, CHUNK):
        A = data.source.sample_train(rng, min(CHUNK, size - start)).A.astype(np.float64)
        stop = start + len(A)
        X[start:stop] = torch.from_numpy(net.features(A)).to(device, dtype)
        Y[start:stop] = torch.from_numpy(np.linalg.inv(A).reshape(len(A), n2)).to(device, dtype)
    return X, Y


def _linears(model: nn.Sequential) -> list[nn.Linear]:
    return [m for m in model if isinstance(m, nn.Linear)]


@torch.no_grad()
def fold_standardization(model: nn.Sequential, x_mean, x_std, y_mean, y_std) -> None:
    """Make a model trained on (x - x_mean)/x_std -> (y - y_mean)/y_std map x -> y directly."""
    first, last = _linears(model)[0], _linears(model)[-1]
    first.bias -= first.weight @ (x_mean / x_std)
    first.weight /= x_std
    last.weight *= y_std[:, None]
    last.bias.mul_(y_std).add_(y_mean)


@contextmanager
def _progress(description: str, total: int) -> Iterator[Callable[[int, float], None]]:
    """A transient rich progress bar over training steps (silent when not on a terminal)."""
    from rich.console import Console
    from rich.errors import LiveError
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(stderr=True)
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   TextColumn("loss {task.fields[loss]:.3g}"), console=console, transient=True,
                   disable=not console.is_terminal)
    try:
        bar.start()
    except LiveError:  # another live display that cannot nest: train without a bar
        bar.disable = True
    task = bar.add_task(description, total=total, loss=float("nan"))
    try:
        yield lambda step, loss: bar.update(task, completed=step, loss=loss)
    finally:
        bar.stop()


def train(net: Trainee, data, recipe: Recipe) -> dict:
    """Train ``net.model`` in place with ``recipe``; return what happened (steps, samples, loss)."""
    device, dtype, model = net.device, TORCH_DTYPES[net.dtype], net.model
    model.to(device=device, dtype=dtype).train()
    flops_per_sample = mlp_flops(data.n, net.hidden, net.layers)
    steps = recipe.total_steps(flops_per_sample)
    threads = torch.get_num_threads()
    if device == "cpu" and 3 * flops_per_sample * recipe.batch < SMALL_STEP_FLOPS:
        threads = 1
    with pinned_threads(threads):
        info = _train_loop(net, data, recipe, model, steps, device, dtype)
    return {**info, "train_threads": threads}


def _train_loop(net: Trainee, data, recipe: Recipe, model: nn.Sequential, steps: int, device: str,
                dtype: torch.dtype) -> dict:
    rng = split_rng(data.seed, "train")
    X, Y = training_set(net, data, recipe.train_size, device, dtype, rng)
    # input and target scalings, fixed from the first draw and folded into the model after training
    x_mean, x_std = torch.zeros_like(X[0]), torch.ones_like(X[0])
    y_mean, y_std = torch.zeros_like(Y[0]), torch.ones_like(Y[0])
    if recipe.standardize:
        x_mean, x_std = X.mean(0), X.std(0).clamp_min(1e-12)
        y_mean, y_std = Y.mean(0), Y.std(0).clamp_min(1e-12)
    elif recipe.target == "delta" and data.base is not None:
        y_mean, y_std = torch.from_numpy(np.linalg.inv(data.base).reshape(-1)).to(device, dtype), data.eps * y_std
    X, Y = (X - x_mean) / x_std, (Y - y_mean) / y_std
    opt = torch.optim.Adam(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    if recipe.schedule == "restarts":
        sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=3, T_mult=2, eta_min=recipe.lr_min)
    else:
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=recipe.lr_min)
    gen = torch.Generator(device=device).manual_seed(net.seed)
    N, B = len(X), recipe.batch
    step, samples, last_loss = 0, 0, float("nan")
    with _progress(f"{net.label} on {data.spec}", steps) as show:
        while step < steps:
            if recipe.fresh_each_epoch and step > 0:
                X, Y = training_set(net, data, recipe.train_size, device, dtype, rng)
                X, Y = (X - x_mean) / x_std, (Y - y_mean) / y_std
            perm = torch.randperm(N, generator=gen, device=device)
            for start in range(0, N, B):
                idx = perm[start:start + B]
                loss = nn.functional.mse_loss(model(X[idx]), Y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if recipe.schedule == "cosine":
                    sched.step()
                step, samples = step + 1, samples + len(idx)
                if step % 200 == 0 or step == steps:
                    last_loss = loss.detach().item()  # one device sync per 200 steps
                    show(step, last_loss)
                if step == steps:
                    break
            if recipe.schedule == "restarts":
                sched.step()  # once per epoch, as in the authors' code
    model.eval()
    fold_standardization(model, x_mean, x_std, y_mean, y_std)
    return {"train_steps": step, "train_samples": samples, "train_size": N, "train_loss": last_loss}


def fit(net: Trainee, data, recipe_name: str) -> dict:
    """Train ``net`` on ``data``'s train split with the recipe ``recipe_name``, or load it from the
    cache (:mod:`.cache`); return what happened: train_recipe, train_steps, train_samples,
    train_size, train_loss, fit_time_s (seconds the training took, also when loaded from the
    cache), train_cache_hit, train_device and cache_key.
    """
    if not data.source.trainable:
        raise ValueError(f"dataset {data.spec!r} is a fixed collection: there is no training distribution")
    recipe = recipe_for(recipe_name, data.n, net.hidden)
    key, fields = cache.cache_key(net.architecture(), net.seed, data, recipe)
    loaded = cache.load(key, net.model)
    if loaded is not None:
        return {**loaded, "train_cache_hit": True}
    t0 = time.perf_counter()
    info = train(net, data, recipe)
    if net.device.startswith("cuda"):
        torch.cuda.synchronize(net.device)
    info.update(train_recipe=recipe.name, fit_time_s=time.perf_counter() - t0, train_device=net.device,
                cache_key=key)
    cache.save(key, net.model, info, fields, data.spec)
    return {**info, "train_cache_hit": False}
