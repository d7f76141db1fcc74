"""Train the networks of a grid before it runs: the seeds of a network, and boxes of one size,
together as one stacked model. The driver (:mod:`~.driver`) calls it for the cells still to run.

:func:`groups` finds the cells whose solver is a network with a training recipe and groups
those that can train as one stack (same widths, dtype, device and recipe: the seeds of one
dataset and network, and the boxes of the same size, such as ``paper-2x2-1st`` and
``paper-2x2-2nd``); :func:`train` trains a group with :func:`training.fit_many` (a network alone
in its group with :func:`training.fit`). Each model is stored in the cache under the key that
the cell's own ``fit`` looks up, so every fit of the grid that follows is a cache hit. Training
needs only the dataset's source and the seed, so each network gets a one-matrix test split.
Two cells with the same training data (a paper box and the authors' released folder of it)
share one model and train once.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from matinv_bench.datasets import make_dataset
from matinv_bench.engine.runner import Cell
from matinv_bench.solvers import SOLVERS, Trainable
from matinv_bench.solvers.learned import training
from matinv_bench.solvers.learned.cache import retraining
from matinv_bench.specs import format_spec, parse_spec


@dataclass
class Net:
    cell: Cell
    data: object  # the cell's dataset with a one-matrix test split (training reads its source and seed)
    trainee: training.Trainee
    recipe: training.Recipe
    key: str


def with_seed(spec: str, seed: int) -> str:
    """``spec`` with ``seed=...`` where its solver is trainable and names no seed of its own (a
    network's initialisation and batches follow the cell's seed, as in the paper's tables); any
    other spec unchanged. SpecError for a spec that names no solver."""
    if not isinstance(SOLVERS.build(spec), Trainable):
        return spec
    name, params = parse_spec(spec)
    if "seed" in params:
        return spec
    return format_spec(name, {**params, "seed": seed})


def _net(cell: Cell) -> Net | None:
    """What training the cell's network needs, or None when there is nothing to train (not a
    network, ``recipe=none``, a dataset it skips) or the cell cannot be set up: its own run
    then records why, as a row."""
    try:
        solver = SOLVERS.build(cell.solver)
    except Exception:
        return None
    if not isinstance(solver, Trainable) or solver.recipe == "none":
        return None
    try:
        data = make_dataset(cell.dataset, n_test=1, seed=cell.seed)
        if solver.skip(data):
            return None
        net = solver.trainee(data)
    except Exception:  # a bad file, a network too large for memory: the grid's cell says so
        return None
    recipe = training.recipe_of(net, solver.recipe, data.n)
    key, _ = training.model_key(net, data, recipe)
    return Net(cell, data, net, recipe, key)


def groups(cells: Iterable[Cell], stack: bool = True) -> list[list[Net]]:
    """The networks of ``cells`` that train together, group by group in the cells' order; one
    network per cache key (the first cell that names it). ``stack=False``: each network alone."""
    by_group: dict[tuple, list[Net]] = {}
    seen: set[str] = set()
    for cell in cells:
        net = _net(cell)
        if net is None or net.key in seen:
            continue
        seen.add(net.key)
        t = net.trainee
        group = (net.recipe, t.layers, t.hidden, net.data.n, t.dtype, t.device) if stack else (net.key,)
        by_group.setdefault(group, []).append(net)
    return list(by_group.values())


def describe(group: list[Net]) -> str:
    """``3 network(s) like mlp-2fc[recipe=quick] on paper-3x3 (seeds 0, 1, 2)``."""
    name, params = parse_spec(group[0].cell.solver)
    solver = format_spec(name, {k: v for k, v in params.items() if k != "seed"})
    datasets = ", ".join(dict.fromkeys(g.cell.dataset for g in group))
    seeds = ", ".join(map(str, sorted({g.cell.seed for g in group})))
    return f"{len(group)} network(s) like {solver} on {datasets} (seeds {seeds})"


def train(group: list[Net], retrain: bool = False) -> dict:
    """Train (or find in the cache) one group as one stack; ``retrain`` trains again even what the
    cache holds. Returns ``networks``, ``recipe``, ``trained`` (how many were not in the cache) and
    ``seconds``."""
    t0 = time.perf_counter()
    with retraining(retrain):
        if len(group) == 1:
            infos = [training.fit(group[0].trainee, group[0].data, group[0].recipe.name)]
        else:
            infos = training.fit_many([g.trainee for g in group], [g.data for g in group], group[0].recipe.name)
    return {"networks": len(group), "recipe": group[0].recipe.name,
            "trained": sum(not i["train_cache_hit"] for i in infos), "seconds": time.perf_counter() - t0}
