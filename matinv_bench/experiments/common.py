"""Helpers shared by the paper experiments: the command line that made a result, solver specs
that may not be registered yet, and solvers as plain functions."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from matinv_bench.engine.hooks import Hook
from matinv_bench.reporting import results
from matinv_bench.solvers import SOLVERS
from matinv_bench.specs import SpecError, parse_spec


def command_line(args=None) -> str:
    """The ``matinv-bench ...`` command that made a result, to record beside it: the arguments the
    CLI parsed (``args.argv``), else this process's command line."""
    argv = getattr(args, "argv", None)
    return "matinv-bench " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))


def default_out(name: str) -> Path:
    """A new dated output folder for a run of ``name``: ``results/<name>-YYYYMMDD-HHMMSS``."""
    return Path("results") / f"{name}-{datetime.now():%Y%m%d-%H%M%S}"


def split_available(specs: list[str]) -> tuple[list[str], dict[str, str]]:
    """Solver specs this build can run, and a skip reason for each one it cannot
    (an unregistered name, e.g. a solver from an issue not merged yet). Bad parameters still raise."""
    ok, missing = [], {}
    for spec in specs:
        name, _ = parse_spec(spec)
        if name not in SOLVERS:
            missing[spec] = f"solver {name!r} is not registered in this build"
            continue
        SOLVERS.build(spec)  # raises SpecError on bad parameters
        ok.append(spec)
    return ok, missing


def run_cells(cells: list, n_test: int | None, extra: Callable | None = None,
              on_row: Callable[[dict], None] | None = None) -> pd.DataFrame:
    """Run grid cells in this process, accuracy only (no timing), with the runner's ``run_cell``
    and its ``extra(result, data)`` hook for per-matrix columns; threads pinned and recorded.

    The experiments use this instead of ``run_grid`` because their hooks are Python callables
    that cannot travel to a child process or a Dask worker; their runs take minutes."""
    from matinv_bench.datasets import make_dataset
    from matinv_bench.engine.runner import machine, run_cell
    from matinv_bench.system import default_threads, pinned_threads

    rows, data = [], {}
    with pinned_threads(default_threads()) as pinned:
        for cell in cells:
            key = (cell.dataset, cell.seed)
            if key not in data:
                data[key] = make_dataset(cell.dataset, n_test=n_test, seed=cell.seed)
            row = {**run_cell(cell, data[key], warmup_s=0, min_run_s=0, time_it=False, hook=_Extra(extra)),
                   **pinned, **machine()}
            rows.append(row)
            if on_row is not None:
                on_row(row)
    return results.to_frame(rows)


def solver_function(solver) -> Callable[[np.ndarray], np.ndarray]:
    """A fitted solver as a function from a (B, n, n) stack to its inverses (NaN where it failed)."""

    def F(A: np.ndarray) -> np.ndarray:
        solver.prepare(np.ascontiguousarray(A))
        return solver.collect(solver.invert()).X

    return F


def check_positive(name: str, value: float) -> None:
    if not value > 0:
        raise SpecError(f"{name} must be positive, got {value!r}")


def progress(quiet: bool) -> Callable[[dict], None]:
    """An ``on_row`` that prints one line per finished cell (nothing when ``quiet``)."""

    def show(row: dict) -> None:
        if not quiet:
            print(f"{row['status']:<8} {row['solver']} on {row['dataset']}", flush=True)

    return show


class _Extra(Hook):
    """A closure as a hook, for in-process runs only."""

    def __init__(self, extra) -> None:
        super().__init__()
        self.extra = extra

    def after(self, cell, solver, data, result, row) -> dict:
        return self.extra(result, data) if self.extra is not None else {}
