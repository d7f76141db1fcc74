"""Run a grid of solver specs x dataset specs x seeds x dtypes; one tidy row per cell.

A cell never aborts the sweep: a skip becomes a ``skipped`` row with the solver's reason, an
exception a ``failed`` row with the error. Rows are written to the output folder after every
cell (atomically), so an interrupted run keeps what it finished.

Cells are ordered by the library of their timed call (numpy first, then torch): idle BLAS
threads of one library spin and starve the other's threads on small machines.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.linalg import LinAlgWarning

from matinv_bench import metrics, results
from matinv_bench.datasets import DATASETS, MatrixSet, make_dataset
from matinv_bench.solvers import SOLVERS, Solver
from matinv_bench.specs import parse_spec
from matinv_bench.timing import Timing, default_threads, measure, pinned_threads

DTYPES = ("float64", "float32")


@dataclass(frozen=True)
class Cell:
    """One point of the grid."""

    solver: str
    dataset: str
    seed: int = 0
    dtype: str = "float64"


def with_device(spec: str, device: str | None) -> str:
    """Add ``device=...`` to a solver spec that accepts one and does not set it."""
    if not device or device == "auto":
        return spec
    name, params = parse_spec(spec)
    if "device" in params or "device" not in SOLVERS.parameters(name):
        return spec
    body = ",".join([*(f"{k}={v}" for k, v in params.items()), f"device={device}"])
    return f"{name}[{body}]"


def make_grid(solvers: Iterable[str], datasets: Iterable[str], seeds: Iterable[int] = (0,),
              dtypes: Iterable[str] = ("float64",), device: str | None = None) -> list[Cell]:
    """Validate every spec (raising SpecError on the first bad one) and list the cells,
    grouped by library and dataset."""
    solvers = [with_device(s, device) for s in solvers]
    dtypes = list(dtypes)
    for d in dtypes:
        if d not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {d!r}")
    library = {s: SOLVERS.build(s).library for s in solvers}  # builds = validates
    for d in datasets:
        DATASETS.build(d)  # validates names, parameters and files before any cell runs
    cells = [Cell(s, d, int(seed), dt) for s in solvers for d in datasets for seed in seeds for dt in dtypes]
    order = {lib: i for i, lib in enumerate(("numpy", "torch"))}
    return sorted(cells, key=lambda c: (order.get(library[c.solver], 9), c.dataset, c.seed, c.dtype))


def _base_row(cell: Cell, solver: Solver | None, data: MatrixSet | None) -> dict:
    params = parse_spec(cell.solver)[1]
    row = {
        "solver": getattr(solver, "spec", cell.solver),
        "family": getattr(solver, "family", ""),
        "params": json.dumps(params, sort_keys=True),
        "dataset": data.spec if data is not None else cell.dataset,
        "dtype": cell.dtype,
        "device": getattr(solver, "device", ""),
        "seed": cell.seed,
        "timestamp": results.now(),
    }
    if data is not None:
        row.update({
            "n": data.n,
            "n_matrices": len(data),
            "kappa_median": float(np.median(data.kappa)),
            "kappa_max": float(np.max(data.kappa)),
            "sigma_min_min": float(np.min(data.sigma_min)),
            "theta": data.theta,
            "ref_method": data.ref_method,
        })
    if solver is not None:
        row["flops_per_matrix"] = solver.flops(data.n) if data is not None else None
    return row


def run_cell(cell: Cell, data: MatrixSet, *, warmup_s: float, min_run_s: float, time_it: bool = True,
             keep_times: bool = False) -> dict:
    """Run one cell on an already-built dataset and return its row (never raises for solver errors).

    ``keep_times`` adds ``times_per_matrix_s``: every timed block's seconds per matrix (JSON list).
    """
    solver: Solver | None = None
    row = _base_row(cell, None, data)
    try:
        solver = SOLVERS.build(cell.solver)
        row = _base_row(cell, solver, data)
        reason = solver.skip(data)
        if reason:
            return {**row, "status": "skipped", "reason": reason}
        t0 = time.perf_counter()
        solver.fit(data)
        row["fit_time_s"] = time.perf_counter() - t0
        row.update(getattr(solver, "fit_info_", {}))
        A = data.A.astype(cell.dtype)
        solver.prepare(A)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LinAlgWarning)
            res = solver.collect(solver.invert())
            acc = metrics.summarize(res.X, data.A, data.inv_ref, data.kappa, metrics.unit_roundoff(A.dtype), res.failed)
            row.update(acc)
            if acc["failure_rate"] >= 1.0:
                return {**row, "status": "failed", "reason": res.reason or "every matrix failed"}
            row["reason"] = res.reason
            if time_it:
                sync = solver.sync if solver.device.startswith("cuda") else None
                t: Timing = measure(solver.invert, sync=sync, warmup_s=warmup_s, min_run_s=min_run_s)
                B = len(data)
                row.update({
                    "time_per_matrix_s": t.median_s / B,
                    "time_iqr_s": t.iqr_s / B,
                    "timing_blocks": t.n_blocks,
                    "calls_per_block": t.calls_per_block,
                })
                if keep_times:
                    row["times_per_matrix_s"] = json.dumps([x / B for x in t.times])
                if row.get("flops_per_matrix"):
                    row["gflops"] = row["flops_per_matrix"] / row["time_per_matrix_s"] / 1e9
        return {**row, "status": "ok"}
    except Exception as exc:  # a failed cell is a row, never the end of the sweep
        return {**row, "status": "failed", "reason": f"{type(exc).__name__}: {exc}"}


def run_grid(cells: list[Cell], out: Path | None = None, *, n_test: int | None = None, threads: int | None = None,
             warmup_s: float = 0.25, min_run_s: float = 0.5, time_it: bool = True, progress: bool = True,
             title: str = "matinv-bench run", command: str = "", on_row: Callable[[dict], None] | None = None) -> pd.DataFrame:
    """Run every cell, writing ``results.parquet``, ``results.csv`` and ``summary.md`` under ``out``
    after each one. Returns the rows as a DataFrame (schema: :data:`results.COLUMNS`)."""
    threads = threads or default_threads()
    env = results.environment()
    rows: list[dict] = []
    datasets: dict[tuple[str, int], MatrixSet | Exception] = {}
    with pinned_threads(threads) as pinned, _progress(progress, len(cells)) as advance:
        for cell in cells:
            advance(f"{cell.solver} on {cell.dataset}")
            key = (cell.dataset, cell.seed)
            if key not in datasets:
                try:
                    datasets[key] = make_dataset(cell.dataset, n_test=n_test, seed=cell.seed)
                except Exception as exc:
                    datasets[key] = exc
            data = datasets[key]
            if isinstance(data, Exception):
                row = {**_base_row(cell, None, None), "status": "failed",
                       "reason": f"dataset {cell.dataset!r}: {type(data).__name__}: {data}"}
            else:
                row = run_cell(cell, data, warmup_s=warmup_s, min_run_s=min_run_s, time_it=time_it)
            row.update(pinned)
            row.update(env)
            rows.append(row)
            if on_row:
                on_row(row)
            if out is not None:
                df = results.to_frame(rows)
                results.write_tables(df, out)
                results.write_summary(df, out, title, command)
    return results.to_frame(rows)


class _progress:
    """A rich progress bar over cells (silent when ``enabled`` is False)."""

    def __init__(self, enabled: bool, total: int):
        self.enabled, self.total = enabled, total

    def __enter__(self) -> Callable[[str], None]:
        if not self.enabled:
            return lambda _desc: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(TextColumn("{task.description:<60.60}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), transient=False)
        self.bar.__enter__()
        self.task = self.bar.add_task("cells", total=self.total)
        self.started = False

        def advance(desc: str) -> None:
            if self.started:
                self.bar.advance(self.task)
            self.started = True
            self.bar.update(self.task, description=desc)

        return advance

    def __exit__(self, *exc) -> None:
        if self.enabled:
            if exc[0] is None:
                self.bar.update(self.task, completed=self.total, description="done")
            self.bar.__exit__(*exc)

