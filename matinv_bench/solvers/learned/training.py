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

A training curve (:class:`Curve`) is recorded when the recipe asks for one (``curve_every``,
set from the solver's spec by :func:`recipe_of`): the MAE of the network being trained on the first
``curve_matrices`` matrices of the dataset's test split (the cell's own test set when it holds that
many; targets: float64 LAPACK inverses), at step 0, every ``curve_every`` steps and at the last
step, as ``train_curve`` in the returned info (a JSON list of ``[step, mae]``). It only reads the
model: the trained weights are the same with or without it (the cache keys differ).

Standardisation is folded back into the first and last Linear layers after training, so the
trained model always maps features to the inverse itself. A warm start (a trainee whose ``init``
is not ``random``, such as the linear construction of ``mlp-2fc[init=linear]``) already maps
features to the inverse: it is unfolded into the scaled coordinates before the first step.

The training set is the dataset's train split (``split_rng(data.seed, "train")``, independent
of the test split), drawn in chunks and kept on the training device; batches are sliced from a
per-epoch permutation (no DataLoader). Targets are float64 LAPACK inverses. Trained weights are
cached (:mod:`.cache`).

:func:`fit_many` trains several networks of the same widths and recipe (the seeds of one
dataset and network) as one stacked model (:mod:`.stacked`): each keeps its own initialisation,
train stream, batch order, scalings, Adam state and schedule, and ends with the weights
:func:`fit` would give it, to rounding, stored under the key :func:`fit` looks up.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from matinv_bench.datasets.base import split_rng
from matinv_bench.errors import SpecError
from matinv_bench.solvers.learned import cache
from matinv_bench.solvers.learned.architecture import TORCH_DTYPES, mlp_flops
from matinv_bench.solvers.learned.stacked import StackedMLP, StepOptions, make_step, optimizer_scalars
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
    curve_every: int = 0  # record a training curve every this many steps (0: none; see Curve)
    curve_matrices: int = 0  # test-split matrices the curve is measured on

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
    # "random": the model is torch's initialisation, taken as given in the recipe's scaled
    # coordinates; anything else (a warm start, e.g. "linear") maps raw features to the inverse and
    # is moved into the scaled coordinates before training (:func:`unfold_standardization`)
    init: str = "random"
    curve_every: int = 0  # a training curve asked for by the solver's spec (see recipe_of)
    curve_matrices: int = 0

    def architecture(self) -> dict:
        return {"layers": self.layers, "hidden": self.hidden, "dtype": self.dtype,
                **({"init": self.init} if self.init != "random" else {})}


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


def recipe_of(net: Trainee, name: str, n: int) -> Recipe:
    """The recipe ``name`` as ``net`` trains with it on n x n matrices: :func:`recipe_for` its
    width, with the training curve its spec asks for (``curve_every``, ``curve_matrices``)."""
    recipe = recipe_for(name, n, net.hidden)
    if net.curve_every:
        recipe = replace(recipe, curve_every=net.curve_every, curve_matrices=net.curve_matrices)
    return recipe


# ----------------------------------------------------------------------------- training

# devices whose training sets of a box are drawn on the device itself (torch's generator) rather than
# by numpy on the host; the CPU draws with numpy, so CPU training is what it always was
DEVICE_DRAWS = ("cuda",)


def draws_on_device(data, device: str) -> bool:
    """Whether :func:`training_set` draws ``data``'s training matrices on ``device`` (a box on a
    device type in :data:`DEVICE_DRAWS`) instead of with numpy on the host."""
    return torch.device(device).type in DEVICE_DRAWS and hasattr(data.source, "train_box")


def draws_label(data, device: str) -> str:
    """``train_draws``: where :func:`training_set` draws ``data``'s matrices, ``device`` or ``host``."""
    return "device" if draws_on_device(data, device) else "host"


def model_key(net: Trainee, data, recipe: Recipe) -> tuple[str, dict]:
    """The cache key (and its fields) of ``net`` trained on ``data`` with ``recipe`` on its device."""
    return cache.cache_key(net.architecture(), net.seed, data, recipe, draws_on_device(data, net.device))


def training_set(net: Trainee, data, size: int, device: str, dtype: torch.dtype,
                 rng: np.random.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Features and flattened float64 inverses of ``size`` train-split matrices, on the device.

    ``rng`` continues a train stream (for fresh draws); by default the stream starts anew. On the
    host (numpy), the matrices come from the dataset's ``sample_train`` and the inverses from
    LAPACK. Where :func:`draws_on_device`, the box ``A0 + eps [-1, 1]^{n x n}`` is drawn on the
    device by torch's generator, seeded by one number from ``rng`` (so the stream still fixes
    every set), and inverted there in float64: no host work and no copy per fresh epoch. The two
    draws follow the same distribution, not the same numbers.
    """
    rng = split_rng(data.seed, "train") if rng is None else rng
    n2 = data.n * data.n
    X = torch.empty(size, n2, dtype=dtype, device=device)
    Y = torch.empty(size, n2, dtype=dtype, device=device)
    if draws_on_device(data, device):
        base, eps = data.source.train_box()
        A0 = torch.as_tensor(base, dtype=torch.float64, device=device)
        gen = torch.Generator(device=device).manual_seed(int(rng.integers(2**63 - 1)))
        for start in range(0, size, CHUNK):
            k = min(CHUNK, size - start)
            T = torch.rand((k, data.n, data.n), generator=gen, dtype=torch.float64, device=device) * 2.0 - 1.0
            A = A0 + eps * T
            X[start:start + k] = net.features(A).to(dtype)
            Y[start:start + k] = torch.linalg.inv(A).reshape(k, n2).to(dtype)
        return X, Y
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


@torch.no_grad()
def unfold_standardization(model: nn.Sequential, x_mean, x_std, y_mean, y_std) -> None:
    """The inverse of :func:`fold_standardization`: make a model that maps x -> y map
    (x - x_mean)/x_std -> (y - y_mean)/y_std, the coordinates training works in."""
    first, last = _linears(model)[0], _linears(model)[-1]
    first.bias += first.weight @ x_mean
    first.weight *= x_std
    last.bias.sub_(y_mean).div_(y_std)
    last.weight /= y_std[:, None]


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


def _scalings(X: torch.Tensor, Y: torch.Tensor, recipe: Recipe, data) -> tuple[torch.Tensor, ...]:
    """Input and target scalings (x_mean, x_std, y_mean, y_std) of a first draw: fixed for the
    whole training and folded into the model after it (:func:`fold_standardization`)."""
    x_mean, x_std = torch.zeros_like(X[0]), torch.ones_like(X[0])
    y_mean, y_std = torch.zeros_like(Y[0]), torch.ones_like(Y[0])
    if recipe.standardize:
        x_mean, x_std = X.mean(0), X.std(0).clamp_min(1e-12)
        y_mean, y_std = Y.mean(0), Y.std(0).clamp_min(1e-12)
    elif recipe.target == "delta" and data.base is not None:
        y_mean = torch.from_numpy(np.linalg.inv(data.base).reshape(-1)).to(Y.device, Y.dtype)
        y_std = data.eps * y_std
    return x_mean, x_std, y_mean, y_std


def _optimizer(params, recipe: Recipe, steps: int, lr: float | torch.Tensor | None = None):
    """Adam and the recipe's learning-rate schedule (``lr``: the starting rate, a tensor for a
    compiled step, by default ``recipe.lr``)."""
    opt = torch.optim.Adam(params, lr=recipe.lr if lr is None else lr, weight_decay=recipe.weight_decay)
    if recipe.schedule == "restarts":
        sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=3, T_mult=2, eta_min=recipe.lr_min)
    else:
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=recipe.lr_min)
    return opt, sched


def curve_set(net: Trainee, data, size: int, device: str, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Features and flattened float64 LAPACK inverses (float64 on the device) of the first ``size``
    matrices of ``data``'s test split: the matrices a training curve is measured on."""
    A = data.source.sample(split_rng(data.seed, "test"), size).A.astype(np.float64)
    X = torch.from_numpy(net.features(A)).to(device, dtype)
    return X, torch.from_numpy(np.linalg.inv(A).reshape(len(A), -1)).to(device)


class Curve:
    """The training curves of S networks trained together (S = 1 for :func:`train`): network s's
    MAE on its own curve set (:func:`curve_set`), recorded by :meth:`record` at step 0, every
    ``recipe.curve_every`` steps and at the last (:meth:`due`). ``scalings`` are the networks'
    (x_mean, x_std, y_mean, y_std): the curve set is fed in the scaled coordinates training works
    in, and the outputs are scaled back before they are compared with the inverses."""

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
    def record(self, step: int, forward: Callable[[torch.Tensor], torch.Tensor]) -> None:
        """Add each network's MAE now; ``forward`` maps the (S, M, n^2) scaled inputs to outputs."""
        pred = forward(self.X) * self.y_std + self.y_mean
        for points, mae in zip(self.points, (pred.to(torch.float64) - self.Y).abs().mean(dim=(1, 2)).tolist()):
            points.append([step, mae])

    def info(self, s: int) -> dict:
        """Network s's curve, as the training info records it."""
        return {"train_curve": json.dumps(self.points[s])}


def _train_loop(net: Trainee, data, recipe: Recipe, model: nn.Sequential, steps: int, device: str,
                dtype: torch.dtype) -> dict:
    rng = split_rng(data.seed, "train")
    X, Y = training_set(net, data, recipe.train_size, device, dtype, rng)
    x_mean, x_std, y_mean, y_std = _scalings(X, Y, recipe, data)
    X, Y = (X - x_mean) / x_std, (Y - y_mean) / y_std
    if net.init != "random":
        unfold_standardization(model, x_mean, x_std, y_mean, y_std)
    opt, sched = _optimizer(model.parameters(), recipe, steps)
    gen = torch.Generator(device=device).manual_seed(net.seed)
    N, B = len(X), recipe.batch
    step, samples, last_loss = 0, 0, float("nan")
    curve = Curve([net], [data], recipe, [(x_mean, x_std, y_mean, y_std)], device, dtype) if recipe.curve_every else None
    forward = lambda X1: model(X1[0]).unsqueeze(0)  # noqa: E731  (the curve's stack of one)
    if curve is not None:
        curve.record(0, forward)
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
                if curve is not None and curve.due(step, steps):
                    curve.record(step, forward)
                if step == steps:
                    break
            if recipe.schedule == "restarts":
                sched.step()  # once per epoch, as in the authors' code
    model.eval()
    fold_standardization(model, x_mean, x_std, y_mean, y_std)
    return {"train_steps": step, "train_samples": samples, "train_size": N, "train_loss": last_loss,
            **(curve.info(0) if curve is not None else {})}


def fit(net: Trainee, data, recipe_name: str) -> dict:
    """Train ``net`` on ``data``'s train split with the recipe ``recipe_name``, or load it from the
    cache (:mod:`.cache`); return what happened: train_recipe, train_steps, train_samples,
    train_size, train_loss, fit_time_s (seconds the training took, also when loaded from the
    cache), train_cache_hit, train_device and cache_key; and train_curve when the recipe records
    one (:class:`Curve`).
    """
    if not data.source.trainable:
        raise ValueError(f"dataset {data.spec!r} is a fixed collection: there is no training distribution")
    recipe = recipe_of(net, recipe_name, data.n)
    key, fields = model_key(net, data, recipe)
    loaded = cache.load(key, net.model)
    if loaded is not None:
        return {**loaded, "train_cache_hit": True}
    t0 = time.perf_counter()
    info = train(net, data, recipe)
    if net.device.startswith("cuda"):
        torch.cuda.synchronize(net.device)
    info.update(train_recipe=recipe.name, fit_time_s=time.perf_counter() - t0, train_device=net.device,
                train_draws=draws_label(data, net.device), cache_key=key)
    cache.save(key, net.model, info, fields, data.spec)
    return {**info, "train_cache_hit": False}


# ----------------------------------------------------------------------------- several seeds at once

def fit_many(nets: list[Trainee], datas: list, recipe_name: str, options: StepOptions | None = None) -> list[dict]:
    """:func:`fit` for several networks at once: ``nets[i]`` on ``datas[i]``, typically the seeds
    of one (dataset, network) pair (seed s: initialised by its own seed, trained on train split s).

    Each network is first looked up in the cache under exactly the key :func:`fit` would use;
    those not found train together as one :class:`.stacked.StackedMLP` (:func:`train_many`) and
    are stored under that key, so that a later :func:`fit` of any of them is a cache hit. Each
    keeps its own initialisation (its model as given), training stream, batch order (a generator
    seeded with ``net.seed``), scalings, Adam state and schedule, so that it ends with the weights
    :func:`fit` would give it, to rounding. Returns :func:`fit`'s dict per network, in order, with
    ``train_stacked``: how many trained together (``fit_time_s`` is then their shared wall time).

    The networks that train together must share widths, dtype, device and recipe (the same n,
    hidden and layers); ValueError otherwise, or for two with the same cache key.
    """
    if len(nets) != len(datas):
        raise ValueError(f"{len(nets)} networks but {len(datas)} datasets")
    for data in datas:
        if not data.source.trainable:
            raise ValueError(f"dataset {data.spec!r} is a fixed collection: there is no training distribution")
    recipes = [recipe_of(net, recipe_name, data.n) for net, data in zip(nets, datas)]
    keyed = [model_key(net, data, recipe) for net, data, recipe in zip(nets, datas, recipes)]
    if len({key for key, _ in keyed}) < len(keyed):
        raise ValueError("two of the networks are the same model (same cache key): train each once")
    results: list[dict | None] = [None] * len(nets)
    for i, (net, (key, _)) in enumerate(zip(nets, keyed)):
        loaded = cache.load(key, net.model)
        if loaded is not None:
            results[i] = {**loaded, "train_cache_hit": True}
    todo = [i for i, r in enumerate(results) if r is None]
    if todo:
        nets_, datas_ = [nets[i] for i in todo], [datas[i] for i in todo]
        recipe = recipes[todo[0]]
        if any(recipes[i] != recipe for i in todo) or len({(n.device, n.dtype) for n in nets_}) > 1:
            raise ValueError("networks trained together need the same recipe, device and dtype")
        t0 = time.perf_counter()
        infos = train_many(nets_, datas_, recipe, options or StepOptions())
        if nets_[0].device.startswith("cuda"):
            torch.cuda.synchronize(nets_[0].device)
        elapsed = time.perf_counter() - t0
        for i, info in zip(todo, infos):
            key, fields = keyed[i]
            info.update(train_recipe=recipe.name, fit_time_s=elapsed, train_device=nets[i].device, cache_key=key,
                        train_draws=draws_label(datas[i], nets[i].device))
            cache.save(key, nets[i].model, info, fields, datas[i].spec)
            results[i] = {**info, "train_cache_hit": False}
    return results  # type: ignore[return-value]


def train_many(nets: list[Trainee], datas: list, recipe: Recipe, options: StepOptions = StepOptions()) -> list[dict]:
    """Train ``nets[i].model`` on ``datas[i]`` in place, all as one stacked model (see
    :func:`fit_many`); return :func:`train`'s dict for each, with ``train_stacked``."""
    device, dtype = nets[0].device, TORCH_DTYPES[nets[0].dtype]
    for net in nets:
        net.model.to(device=device, dtype=dtype).train()
    model = StackedMLP([net.model for net in nets])  # refuses networks of other widths before any draw
    flops_per_sample = mlp_flops(datas[0].n, nets[0].hidden, nets[0].layers)
    steps = recipe.total_steps(flops_per_sample)
    threads = torch.get_num_threads()
    if device == "cpu" and len(nets) * 3 * flops_per_sample * recipe.batch < SMALL_STEP_FLOPS:
        threads = 1
    pool = ThreadPoolExecutor(max_workers=len(nets)) if options.prefetch else None
    with pinned_threads(threads), pool or nullcontext():
        draws = _Draws(nets, datas, recipe, device, dtype, pool)
        infos = _stacked_loop(nets, datas, model, recipe, steps, draws, options)
    return [{**info, "train_threads": threads, "train_stacked": len(nets)} for info in infos]


class _Draws:
    """The training sets of several networks, each from its own train stream, scaled by its own
    first draw. With a thread pool, the draws of all networks run in parallel (numpy releases
    the GIL) and the next epoch's fresh sets are drawn while this epoch trains; each stream is
    still drawn from in order, so the sets are the same with or without the pool."""

    def __init__(self, nets, datas, recipe: Recipe, device: str, dtype: torch.dtype, pool):
        self.nets, self.datas, self.recipe, self.device, self.dtype, self.pool = nets, datas, recipe, device, dtype, pool
        # drawn on the device: in this thread (the device queue is ordered), no host pool needed
        self.on_device = all(draws_on_device(data, device) for data in datas)
        if self.on_device:
            self.pool = None
        self.rngs = [split_rng(data.seed, "train") for data in datas]
        self.pending: list | None = None
        self.scalings: list[tuple[torch.Tensor, ...]] = []

    def first(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The first sets of every network, stacked and scaled; they fix the scalings."""
        sets = [(X.to(self.device), Y.to(self.device)) for X, Y in self._map(self._draw)]
        self.scalings = [_scalings(X, Y, self.recipe, data) for (X, Y), data in zip(sets, self.datas)]
        return self._stack(sets)

    def _draw(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        # on the host, a worker thread must not queue copies on the device (the caller moves them)
        where = self.device if self.on_device else "cpu"
        return training_set(self.nets[i], self.datas[i], self.recipe.train_size, where, self.dtype, self.rngs[i])

    def _map(self, fn) -> list:
        if self.pool is None:
            return [fn(i) for i in range(len(self.nets))]
        return list(self.pool.map(fn, range(len(self.nets))))

    def _stack(self, sets) -> tuple[torch.Tensor, torch.Tensor]:
        """(S, N, n^2) scaled inputs and targets: network s's set scaled by its own scalings."""
        scaled = [((X - xm) / xs, (Y - ym) / ys) for (X, Y), (xm, xs, ym, ys) in zip(sets, self.scalings)]
        return torch.stack([X for X, _ in scaled]), torch.stack([Y for _, Y in scaled])

    def prefetch(self) -> None:
        """Start drawing the next fresh sets (they are needed: another epoch follows)."""
        if self.pool is not None and self.pending is None:
            self.pending = [self.pool.submit(self._draw, i) for i in range(len(self.nets))]

    def fresh(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next fresh sets of every network, stacked and scaled."""
        if self.pending is None:
            sets = self._map(self._draw)
        else:
            sets, self.pending = [f.result() for f in self.pending], None
        return self._stack([(X.to(self.device), Y.to(self.device)) for X, Y in sets])


def _stacked_loop(nets: list[Trainee], datas: list, model: StackedMLP, recipe: Recipe, steps: int,
                  draws: _Draws, options: StepOptions) -> list[dict]:
    """:func:`_train_loop` for a stack: the same draws, scalings, batch order, optimiser and
    schedule per network, and the same order of operations. One Adam over the stacked weights
    is per-network Adam (it is element-wise, weight decay too); one schedule serves all (they
    share the recipe and the step count)."""
    S, device = len(nets), nets[0].device
    X, Y = draws.first()
    warm = [i for i, net in enumerate(nets) if net.init != "random"]
    for i in warm:
        unfold_standardization(nets[i].model, *draws.scalings[i])
    if warm:
        model.load_from([net.model for net in nets])
    lr = torch.tensor(recipe.lr, dtype=torch.float64) if options.compile else None  # a tensor: no recompile per rate
    opt, sched = _optimizer(model.parameters(), recipe, steps, lr)
    step_fn = make_step(model, opt, options)
    gens = [torch.Generator(device=device).manual_seed(net.seed) for net in nets]
    rows = torch.arange(S, device=device).unsqueeze(1)
    N, B = X.shape[1], recipe.batch
    per_epoch = math.ceil(N / B)
    step, samples, last_loss = 0, 0, [float("nan")] * S
    curve = Curve(nets, datas, recipe, draws.scalings, device, X.dtype) if recipe.curve_every else None
    if curve is not None:
        curve.record(0, model)
    label = nets[0].label if S == 1 else f"{nets[0].label} and {S - 1} more"
    scalars = optimizer_scalars(X.dtype) if options.compile else nullcontext()
    with _progress(f"{label} on {datas[0].spec}", steps) as show, scalars:
        while step < steps:
            if recipe.fresh_each_epoch and step > 0:
                X, Y = draws.fresh()
            if recipe.fresh_each_epoch and step + per_epoch < steps:
                draws.prefetch()
            perms = torch.stack([torch.randperm(N, generator=g, device=device) for g in gens])
            for start in range(0, N, B):
                idx = perms[:, start:start + B]
                losses = step_fn(X[rows, idx], Y[rows, idx])
                if recipe.schedule == "cosine":
                    sched.step()
                step, samples = step + 1, samples + idx.shape[1]
                if step % 200 == 0 or step == steps:
                    last_loss = losses.tolist()  # one device sync per 200 steps
                    show(step, max(last_loss))
                if curve is not None and curve.due(step, steps):
                    curve.record(step, model)
                if step == steps:
                    break
            if recipe.schedule == "restarts":
                sched.step()  # once per epoch, as in the authors' code
    model.unstack_into([net.model for net in nets])
    for net, scaling in zip(nets, draws.scalings):
        net.model.eval()
        fold_standardization(net.model, *scaling)
    return [{"train_steps": step, "train_samples": samples, "train_size": N, "train_loss": loss,
             **(curve.info(s) if curve is not None else {})} for s, loss in enumerate(last_loss)]
