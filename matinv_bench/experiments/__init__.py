"""Named suites and paper experiments composed from the solver and dataset registries.

An experiment is a module that registers itself with :func:`experiment`; the CLI's
``matinv-bench reproduce NAME`` lists and runs them. Register a new one by importing its module
in ``_MODULES`` below.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Experiment:
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


EXPERIMENTS: dict[str, Experiment] = {}

_MODULES: tuple[str, ...] = (
    "matinv_bench.experiments.tables",
    "matinv_bench.experiments.where_can",
    "matinv_bench.experiments.where_can_n",
    "matinv_bench.experiments.out_of_box",
    "matinv_bench.experiments.why_cant",
    "matinv_bench.experiments.regions",
    "matinv_bench.experiments.seeds",
    "matinv_bench.experiments.scaling",
    "matinv_bench.experiments.reproduce_all",
    "matinv_bench.experiments.gpu",
)


def experiment(name: str, help: str, add_arguments: Callable[[argparse.ArgumentParser], None]):
    """Decorator for an experiment's ``run(args) -> exit status`` function."""

    def deco(run: Callable[[argparse.Namespace], int]):
        if name in EXPERIMENTS:
            raise ValueError(f"experiment {name!r} registered twice")
        EXPERIMENTS[name] = Experiment(name, help, add_arguments, run)
        return run

    return deco


def load_all() -> dict[str, Experiment]:
    """Import every experiment module (registration happens on import)."""
    for mod in _MODULES:
        importlib.import_module(mod)
    return EXPERIMENTS
