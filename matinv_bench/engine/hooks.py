"""Experiment hooks: the columns an experiment adds to the runner's rows, named by import path.

A cell may run in this process, in a child process that a time limit can kill, or on a Dask
worker. A Python closure cannot travel to the last two, so an experiment names its hook as
``"package.module:Name"`` (plus JSON-able keyword arguments) in :class:`~.runner.Settings`, and
every process that runs a cell imports it there. ``Name`` is a :class:`Hook` subclass::

    class BadFraction(Hook):
        def after(self, cell, solver, data, result, row):
            return {"frac_bad": ...}

    run_grid(cells, out, hook="matinv_bench.experiments.where_can:BadFraction",
             hook_args={"threshold": 1e-2})
"""

from __future__ import annotations

import functools
import importlib
import json
from typing import TYPE_CHECKING, Any

from matinv_bench import plugins

if TYPE_CHECKING:
    from matinv_bench.datasets import MatrixSet
    from matinv_bench.solvers import Inversion, Solver


class Hook:
    """Base class of experiment hooks; override what you need. Hooks hold no state between cells
    that a row depends on: a resumed or distributed run must give the same rows. (A hook that
    must, such as the scaling study's time budget, which extrapolates a solver's previous size,
    says so and takes what a resumed run already measured through its arguments.)"""

    def __init__(self, **args: Any) -> None:
        self.args = args

    def before(self, cell: Any, solver: Solver | None) -> dict | None:
        """Called before the cell's dataset is built (``solver`` is None if the spec names no
        registered solver). Return columns to add to the row; a returned ``status`` of
        ``"skipped"`` (with a ``reason``) skips the cell without building anything."""
        return None

    def after(self, cell: Any, solver: Solver, data: MatrixSet, result: Inversion, row: dict) -> dict:
        """Called after scoring and timing, untimed, for a cell that ran: extra columns."""
        return {}


@functools.lru_cache(maxsize=16)
def _load(path: str, args_json: str) -> Hook:
    module, sep, name = path.partition(":")
    if not sep or not name:
        raise ValueError(f"a hook is named 'package.module:Name', got {path!r}")
    try:
        imported = importlib.import_module(module)
    except ModuleNotFoundError:  # a hook of a plugin file: a fresh process imports the plugins first
        for group in plugins.GROUPS:
            plugins.load(group)
        imported = importlib.import_module(module)
    cls = getattr(imported, name)
    hook = cls(**json.loads(args_json))
    if not isinstance(hook, Hook):
        raise TypeError(f"{path} is not a matinv_bench.engine.hooks.Hook")
    return hook


def load_hook(path: str | None, args: dict | None = None) -> Hook | None:
    """The hook named ``path`` built with ``args`` (one instance per process and arguments)."""
    if not path:
        return None
    return _load(path, json.dumps(args or {}, sort_keys=True))
