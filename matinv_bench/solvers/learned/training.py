"""The training loop of the networks: :func:`fit` one, :func:`fit_many` several together.

:func:`fit` trains a :class:`Trainee` (an ``nn.Sequential`` of Linear/ReLU from
:mod:`.architecture`, with its feature map) to map ``features(A)`` to inv(A), with a named
recipe (:mod:`.recipes`), on the trainee's device, or loads it from the cache (:mod:`.cache`).
:func:`fit_many` does the same for several networks of the same widths and recipe (the seeds of
one dataset and network) at once, and :func:`fit` is :func:`fit_many` of one: there is one loop,
:func:`train`, and it trains a stack (:class:`.stacked.StackedMLP`) of one network or more.

Each network of a stack keeps its own initialisation, train stream and training sets
(:mod:`.draws`), batch order (a generator seeded with its seed), scalings
(:mod:`.standardization`), Adam state and schedule; the loss is the sum of the networks' own
losses, so each gets its own gradient, and it ends with the weights it gets alone, to rounding.
The training set is drawn before the first step (and again every epoch if the recipe draws fresh
ones); batches are sliced from a per-epoch permutation. Targets are float64 LAPACK inverses.
Standardisation is folded back into the network after training, so the trained model maps
features to the inverse itself. A training curve is recorded when the recipe asks for one
(:mod:`.curve`).
"""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext

import torch

from matinv_bench.solvers.learned import cache
from matinv_bench.solvers.learned.architecture import TORCH_DTYPES, mlp_flops
from matinv_bench.solvers.learned.curve import Curve
from matinv_bench.solvers.learned.draws import TrainingSets, draws_label, draws_on_device
from matinv_bench.solvers.learned.recipes import RECIPES, Recipe, recipe_for, recipe_of  # noqa: F401  (re-exported)
from matinv_bench.solvers.learned.stacked import StackedMLP, StepOptions, make_step, optimizer_scalars
from matinv_bench.solvers.learned.standardization import fold_standardization, unfold_standardization
from matinv_bench.solvers.learned.trainee import Trainee
from matinv_bench.system import pinned_threads

# Below this many flops per step, one thread trains fastest: intra-op parallelism of tiny
# layers costs more in synchronisation than it saves (and collapses on a busy machine).
SMALL_STEP_FLOPS = 5e7
LOSS_EVERY = 200  # steps between reads of the loss (each read waits for the device)


def step_threads(device: str, step_flops: float) -> int:
    """Threads a training step of ``step_flops`` flops runs on: one for a small step on the CPU
    (below :data:`SMALL_STEP_FLOPS`), else torch's number."""
    return 1 if device == "cpu" and step_flops < SMALL_STEP_FLOPS else torch.get_num_threads()


def model_key(net: Trainee, data, recipe: Recipe) -> tuple[str, dict]:
    """The cache key (and its fields) of ``net`` trained on ``data`` with ``recipe`` on its device."""
    return cache.cache_key(net.architecture(), net.seed, data, recipe, draws_on_device(data, net.device))


def fit(net: Trainee, data, recipe_name: str, options: StepOptions | None = None) -> dict:
    """Train ``net`` on ``data``'s train split with the recipe ``recipe_name``, or load it from the
    cache (:mod:`.cache`): :func:`fit_many` of one network. Returns what happened: train_recipe,
    train_steps, train_samples, train_size, train_loss, train_threads, train_stacked (1),
    fit_time_s (seconds the training took, also when loaded from the cache), train_cache_hit,
    train_device, train_draws, cache_key, train_commit and train_fingerprint (the provenance
    :func:`.cache.save` stores); and train_curve when the recipe records one (:class:`.curve.Curve`).
    """
    return fit_many([net], [data], recipe_name, options)[0]


def fit_many(nets: list[Trainee], datas: list, recipe_name: str, options: StepOptions | None = None) -> list[dict]:
    """:func:`fit` for several networks at once: ``nets[i]`` on ``datas[i]``, typically the seeds
    of one (dataset, network) pair (seed s: initialised by its own seed, trained on train split s).

    Each network is first looked up in the cache under its key (:func:`model_key`); those not
    found train together as one stack (:func:`train`) and are stored under that key, so that a
    later :func:`fit` of any of them is a cache hit. Each ends with the weights it gets alone, to
    rounding. Returns :func:`fit`'s dict per network, in order, with ``train_stacked``: how many
    trained together (``fit_time_s`` is then their shared wall time).

    The networks that train together must share widths, dtype, device and recipe (the same n,
    hidden and layers); ValueError otherwise, or for two with the same cache key, or for a
    dataset without a training distribution.
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
        infos = train(nets_, datas_, recipe, options)
        if nets_[0].device.startswith("cuda"):
            torch.cuda.synchronize(nets_[0].device)
        elapsed = time.perf_counter() - t0
        for i, info in zip(todo, infos):
            key, fields = keyed[i]
            info.update(train_recipe=recipe.name, fit_time_s=elapsed, train_device=nets[i].device, cache_key=key,
                        train_draws=draws_label(datas[i], nets[i].device))
            results[i] = {**cache.save(key, nets[i].model, info, fields, datas[i].spec), "train_cache_hit": False}
    return results  # type: ignore[return-value]


def train(nets: list[Trainee], datas: list, recipe: Recipe, options: StepOptions | None = None) -> list[dict]:
    """Train ``nets[i].model`` on ``datas[i]`` in place, all as one stack (``options``: how a step
    runs, eager by default); return per network what happened: train_steps, train_samples,
    train_size, train_loss (its last loss read), train_threads, train_stacked (how many trained
    together) and train_curve when the recipe records one."""
    options = options or StepOptions()
    device, dtype = nets[0].device, TORCH_DTYPES[nets[0].dtype]
    for net in nets:
        net.model.to(device=device, dtype=dtype).train()
    model = StackedMLP([net.model for net in nets])  # refuses networks of other widths before any draw
    flops_per_sample = mlp_flops(datas[0].n, nets[0].hidden, nets[0].layers)
    steps = recipe.total_steps(flops_per_sample)
    threads = step_threads(device, len(nets) * 3 * flops_per_sample * recipe.batch)
    pool = ThreadPoolExecutor(max_workers=len(nets)) if options.prefetch else None
    with pinned_threads(threads), pool or nullcontext():
        sets = TrainingSets(nets, datas, recipe, device, dtype, pool)
        infos = _loop(nets, datas, model, recipe, steps, sets, options)
    return [{**info, "train_threads": threads, "train_stacked": len(nets)} for info in infos]


def _loop(nets: list[Trainee], datas: list, model: StackedMLP, recipe: Recipe, steps: int, sets: TrainingSets,
          options: StepOptions) -> list[dict]:
    """``steps`` optimiser steps on the stack. One Adam over the stacked weights is per-network
    Adam (it is element-wise, weight decay too); one schedule serves all (they share the recipe
    and the step count): per step for ``cosine``, per epoch for ``restarts`` (the authors' code)."""
    S, device = len(nets), nets[0].device
    X, Y = sets.first()
    warm = [i for i, net in enumerate(nets) if net.init != "random"]
    for i in warm:
        unfold_standardization(nets[i].model, *sets.scalings[i])
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
    curve = Curve(nets, datas, recipe, sets.scalings, device, X.dtype) if recipe.curve_every else None
    if curve is not None:
        curve.record(0, model)
    label = nets[0].label if S == 1 else f"{nets[0].label} and {S - 1} more"
    scalars = optimizer_scalars(X.dtype) if options.compile else nullcontext()
    with _progress() as bar, scalars:
        task = bar.add_task(f"{label} on {datas[0].spec}", total=steps, loss=float("nan"))
        while step < steps:
            if recipe.fresh_each_epoch and step > 0:
                X, Y = sets.fresh()
            if recipe.fresh_each_epoch and step + per_epoch < steps:
                sets.prefetch()
            perms = torch.stack([torch.randperm(N, generator=g, device=device) for g in gens])
            for start in range(0, N, B):
                idx = perms[:, start:start + B]
                losses = step_fn(X[rows, idx], Y[rows, idx])
                if recipe.schedule == "cosine":
                    sched.step()
                step, samples = step + 1, samples + idx.shape[1]
                if step % LOSS_EVERY == 0 or step == steps:
                    last_loss = losses.tolist()
                    bar.update(task, completed=step, loss=max(last_loss))
                if curve is not None and curve.due(step, steps):
                    curve.record(step, model)
                if step == steps:
                    break
            if recipe.schedule == "restarts":
                sched.step()
    model.unstack_into([net.model for net in nets])
    for net, scaling in zip(nets, sets.scalings):
        net.model.eval()
        fold_standardization(net.model, *scaling)
    return [{"train_steps": step, "train_samples": samples, "train_size": N, "train_loss": loss,
             **(curve.info(s) if curve is not None else {})} for s, loss in enumerate(last_loss)]


def _optimizer(params, recipe: Recipe, steps: int, lr: float | torch.Tensor | None = None):
    """Adam and the recipe's learning-rate schedule (``lr``: the starting rate, a tensor for a
    compiled step, by default ``recipe.lr``)."""
    opt = torch.optim.Adam(params, lr=recipe.lr if lr is None else lr, weight_decay=recipe.weight_decay)
    if recipe.schedule == "restarts":
        sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=3, T_mult=2, eta_min=recipe.lr_min)
    else:
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=recipe.lr_min)
    return opt, sched


def _progress():
    """A rich progress bar over the training steps, as the engine's over cells, with the largest
    loss of the stack; transient, on stderr, and shown only on a terminal."""
    from rich import progress as rp
    from rich.console import Console

    console = Console(stderr=True)
    return rp.Progress(rp.TextColumn("{task.description}"), rp.BarColumn(), rp.MofNCompleteColumn(),
                       rp.TimeElapsedColumn(), rp.TextColumn("eta"), rp.TimeRemainingColumn(),
                       rp.TextColumn("loss {task.fields[loss]:.3g}"), console=console, transient=True,
                       disable=not console.is_terminal)
