"""Run a grid of solver specs x dataset specs x seeds x dtypes; one tidy row per cell.

A cell never aborts the sweep: a skip becomes a ``skipped`` row with the solver's reason, an
exception a ``failed`` row with the error. Each finished cell is saved on its own at once
(atomically, :mod:`matinv_bench.engine.checkpoint`), so an interrupted run keeps what it finished and
``resume=True`` runs only the rest. Cells run in this process, in a child process that a time
limit can kill (:mod:`matinv_bench.engine.isolation`), or on any ``concurrent.futures`` executor such as a
Dask cluster (:mod:`matinv_bench.engine.cluster`).

Cells are ordered by the library of their timed call (numpy first, then torch): idle BLAS
threads of one library spin and starve the other's threads on small machines.

Every row says how busy the machine was while its cell ran (:func:`matinv_bench.system.load_watch`:
``loadavg_1m_before``/``_after``, ``other_cores_busy``, ``load_above_threads``) and which
process ran it (``pid``).
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, as_completed
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.linalg import LinAlgWarning

from matinv_bench import system
from matinv_bench.datasets import DATASETS, MatrixSet, make_dataset
from matinv_bench.engine import checkpoint, isolation
from matinv_bench.engine.clock import Timing, device_description, measure, measure_cuda
from matinv_bench.engine.hooks import Hook, load_hook
from matinv_bench.engine.progress import Progress
from matinv_bench.errors import DataFileError, NoCellSucceeded, SpecError, TooLargeError
from matinv_bench.reporting import manifest, results
from matinv_bench.scoring import metrics, reference
from matinv_bench.solvers import SOLVERS, Solver
from matinv_bench.solvers._torch import resolve_device
from matinv_bench.specs import format_spec, parse_spec
from matinv_bench.system import available_memory, default_threads, pinned_threads

DTYPES = ("float64", "float32")


@dataclass(frozen=True)
class Cell:
    """One point of the grid.

    ``n_test`` overrides the run's test-set size for this cell (e.g. the scaling study's batch
    per size); ``tags`` are constant columns added to the cell's row (e.g. ``solver_label``),
    as ``((name, value), ...)`` so that the cell stays hashable and JSON-able."""

    solver: str
    dataset: str
    seed: int = 0
    dtype: str = "float64"
    n_test: int | None = None
    tags: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:  # JSON gives lists back: normalise to tuples
        object.__setattr__(self, "tags", tuple(tuple(t) for t in self.tags))


def cell_key(cell: Cell, n_test: int | None) -> str:
    """The cell's checkpoint id; cells without overrides keep the ids of earlier versions."""
    fields = asdict(cell)
    size = cell.n_test if cell.n_test is not None else n_test
    extra = {"tags": [list(t) for t in cell.tags]} if cell.tags else {}
    return checkpoint.cell_key({**fields, **extra}, size)


def with_device(spec: str, device: str | None) -> str:
    """Add ``device=...`` to a solver spec that accepts one, does not set it, and can run there
    with its other parameters (``gauss-jordan`` with the numpy backend keeps the CPU: its rows say
    ``device=cpu``)."""
    if not device or device == "auto":
        return spec
    name, params = parse_spec(spec)
    if "device" in params or name not in SOLVERS or "device" not in SOLVERS.parameters(name):
        return spec
    resolve_device(device)  # SpecError for a device this machine does not have
    placed = format_spec(name, {**params, "device": device})
    try:
        SOLVERS.build(placed)
    except SpecError:  # the device exists, but this solver, so configured, does not run there: it stays put
        return spec
    return placed


# the most cells one run may hold: each costs a few KiB of memory (its row) and of disk (its cell
# file), and a grid this large is almost always a typo (--seeds 1000000000)
MAX_CELLS = 1_000_000
BYTES_PER_CELL = 8 * 1024  # its row (about 45 values) as a dict and a DataFrame row, its manifest entry


def check_grid_size(dims: dict[str, int]) -> int:
    """The number of cells of a grid with these dimension sizes (e.g. ``{"solver": 2, "seed": 3}``),
    counted before any cell is made; :class:`TooLargeError` naming the count and an estimate of its
    memory if it exceeds :data:`MAX_CELLS`."""
    count = 1
    for size in dims.values():
        count *= int(size)
    need = count * BYTES_PER_CELL
    if count > MAX_CELLS or need > available_memory() // 2:
        parts = " x ".join(f"{size:,} {name}{'s' if size != 1 else ''}" for name, size in dims.items())
        raise TooLargeError(f"the grid has {count:,} cells ({parts}), which would need about "
                            f"{need / 2**30:,.1f} GiB for their rows alone; the limit is {MAX_CELLS:,} cells")
    return count


def make_grid(solvers: Iterable[str], datasets: Iterable[str], seeds: Iterable[int] = (0,),
              dtypes: Iterable[str] = ("float64",), device: str | None = None) -> list[Cell]:
    """Validate every spec (raising SpecError on the first bad one) and list the cells,
    grouped by library and dataset; a grid too large to hold is refused before any cell is made
    (:func:`check_grid_size`)."""
    return make_grids([(solvers, datasets)], seeds, dtypes, device)


def make_grids(grids: Iterable[tuple[Iterable[str], Iterable[str]]], seeds: Iterable[int] = (0,),
               dtypes: Iterable[str] = ("float64",), device: str | None = None,
               seeded: Callable[[str, int], str] | None = None) -> list[Cell]:
    """The cells of several grids, each ``(solvers, datasets)`` every solver on every dataset, as
    one list (a cell two grids share, once) in :func:`make_grid`'s order: by library, then dataset.
    ``seeded(spec, seed)``: the solver spec a cell of that seed runs (e.g. a network with the
    cell's seed), by default the spec itself."""
    grids = [(list(solvers), list(datasets)) for solvers, datasets in grids]
    dtypes = list(dtypes)
    seeds = seeds if isinstance(seeds, range) else list(seeds)
    for solvers, datasets in grids:
        check_grid_size({"solver": len(solvers), "dataset": len(datasets), "seed": len(seeds), "dtype": len(dtypes)})
    for d in dtypes:
        if d not in DTYPES:
            raise SpecError(f"dtype must be one of {', '.join(DTYPES)}, got {d!r}")
    specs = {(s, seed): with_device(seeded(s, seed) if seeded else s, device)
             for solvers, _ in grids for s in solvers for seed in seeds}
    library = {s: SOLVERS.build(s).library for s in dict.fromkeys(specs.values())}  # builds = validates
    for d in dict.fromkeys(d for _, datasets in grids for d in datasets):
        DATASETS.build(d)  # validates names, parameters and files before any cell runs
    cells = list(dict.fromkeys(Cell(specs[s, seed], d, int(seed), dt) for solvers, datasets in grids
                               for s in solvers for d in datasets for seed in seeds for dt in dtypes))
    order = {lib: i for i, lib in enumerate(("numpy", "torch"))}
    return sorted(cells, key=lambda c: (order.get(library[c.solver], 9), c.dataset, c.seed, c.dtype))


def _base_row(cell: Cell, solver: Solver | None, data: MatrixSet | None) -> dict:
    try:
        params = parse_spec(cell.solver)[1]
    except SpecError:
        params = {}
    row = {
        "solver": getattr(solver, "spec", cell.solver),
        "family": getattr(solver, "family", ""),
        "params": json.dumps(params, sort_keys=True),
        "dataset": data.spec if data is not None else cell.dataset,
        "dtype": cell.dtype,
        "device": getattr(solver, "device", ""),
        "seed": cell.seed,
        "timestamp": results.now(),
        **dict(cell.tags),
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


def _time(solver: Solver, warmup_s: float, min_run_s: float) -> Timing:
    """Time the solver's ``invert``: a solver on CUDA with CUDA events and the L2 cache flushed
    before every call (``measure_cuda``: clock ``cuda_events``, cache ``cold``), any other with
    ``measure`` (clock ``perf_counter``, cache ``warm``)."""
    if solver.device.startswith("cuda"):
        return measure_cuda(solver.invert, device=solver.device, warmup_s=warmup_s, min_run_s=min_run_s, flush=True)
    return measure(solver.invert, warmup_s=warmup_s, min_run_s=min_run_s)


def run_cell(cell: Cell, data: MatrixSet, *, warmup_s: float, min_run_s: float, time_it: bool = True,
             hook: Hook | None = None, keep_times: bool = False) -> dict:
    """Run one cell on an already-built dataset and return its row (never raises for solver errors).

    ``hook.after`` may add columns computed from the per-matrix result (untimed, after timing).
    ``keep_times`` adds ``times_per_matrix_s``: every timed block's seconds per matrix (JSON list).
    A timed row says how it was timed (``timing_clock``, ``timing_cache``: see :func:`_time`). A
    row of a solver that ran or trained on CUDA also names the GPU, its driver and its clocks
    (just after the timing, where timed: :func:`~matinv_bench.engine.clock.device_description`).
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
            references = not data.ref_method.startswith(reference.NO_REFERENCE)
            acc = metrics.summarize(res.X, data.A, data.inv_ref, data.kappa, metrics.unit_roundoff(A.dtype), res.failed,
                                    references=references)
            row.update(acc)
            if acc["failure_rate"] >= 1.0:
                return {**row, "status": "failed", "reason": res.reason or "every matrix failed"}
            if np.isnan(
                acc["mae" if references else "residual_ratio"]
            ):  # never report an unscored cell as ok with NaN errors
                return {**row, "status": "failed",
                        "reason": "cannot score: no matrix has a reference inverse (all exactly singular)"}
            row["reason"] = res.reason
            if time_it:
                t = _time(solver, warmup_s, min_run_s)
                B = len(data)
                row.update({
                    "time_per_matrix_s": t.median_s / B,
                    "time_iqr_s": t.iqr_s / B,
                    "timing_blocks": t.n_blocks,
                    "calls_per_block": t.calls_per_block,
                    "timing_clock": t.clock,
                    "timing_cache": t.cache,
                })
                if keep_times:
                    row["times_per_matrix_s"] = json.dumps([x / B for x in t.times])
                if row.get("flops_per_matrix"):
                    row["gflops"] = row["flops_per_matrix"] / row["time_per_matrix_s"] / 1e9
            # which GPU, driver and clocks (right after the timing, where timed): every row that ran or trained on one
            gpu = next((d for d in (solver.device, str(row.get("train_device") or "")) if d.startswith("cuda")), None)
            if gpu is not None:
                row.update(device_description(gpu))
            if hook is not None:
                row.update(hook.after(cell, solver, data, res, row))
        return {**row, "status": "ok"}
    except Exception as exc:  # a failed cell is a row, never the end of the sweep
        return {**row, "status": "failed", "reason": f"{type(exc).__name__}: {exc}"}


# rebuilding results.parquet/csv after every cell costs O(cells^2) on a long sweep; cells/ is
# written at once regardless, so the tables may trail it by this long
TABLES_EVERY_S = 2.0


@dataclass(frozen=True)
class Settings:
    """What running a cell needs besides the cell: the test-set size, threads, the clock's budget
    and the time limit. ``threads=None`` means all the cores of wherever the cell runs."""

    n_test: int | None = None
    threads: int | None = None
    warmup_s: float = 0.25
    min_run_s: float = 0.5
    time_it: bool = True
    cell_timeout: float | None = None
    keep_times: bool = False  # add every timed block to the row (times_per_matrix_s)
    hook: str | None = None  # "package.module:HookClass" (see engine.hooks), run wherever the cell runs
    hook_args: dict = field(default_factory=dict)
    fresh_process_per: str | None = None  # a tag: cells run in a child process, a new one when the tag's value changes
    cell_only: tuple[str, ...] = ()  # columns kept in the cell files and the returned rows, not in results.parquet/csv
    ref: str = "auto"  # how the datasets' reference inverses are computed (scoring.reference; "none": residuals only)


@functools.lru_cache(maxsize=32)
def _dataset(spec: str, n_test: int | None, seed: int, ref: str = "auto") -> MatrixSet:
    return make_dataset(spec, n_test=n_test, seed=seed, ref=ref)


@functools.cache
def machine() -> dict:
    """Columns that say where a row ran: host, CPU, usable cores, memory, versions, git commit."""
    try:
        memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30
    except (ValueError, OSError, AttributeError):
        memory = float("nan")
    return {**system.environment(), "cores": default_threads(), "memory_gib": round(memory, 1)}


def _dask_worker() -> tuple[str, int | None]:
    """This process's Dask worker address and thread count, or ``("local", None)``."""
    if sys.modules.get("distributed") is not None:  # never import dask just to find out that we are not on it
        from distributed import get_worker

        try:
            w = get_worker()
            return w.address, getattr(getattr(w, "state", None), "nthreads", None)
        except ValueError:
            pass
    return "local", None


def run_here(cell: Cell, settings: Settings) -> dict:
    """Build (or reuse) the cell's dataset and run the cell in this process, threads pinned.

    Returns the row as plain JSON values, exactly as it reads back from a cell file."""
    threads = settings.threads or default_threads()
    n_test = cell.n_test if cell.n_test is not None else settings.n_test
    with system.load_watch(threads) as load, pinned_threads(threads) as pinned:
        row, extra = _before(cell, settings)
        if row is None:
            try:
                data = _dataset(cell.dataset, n_test, cell.seed, settings.ref)
            except TooLargeError as exc:  # does not fit this machine: nothing went wrong, it was not run
                row = {**_base_row(cell, None, None), "status": "skipped",
                       "reason": f"dataset {cell.dataset!r} does not fit in memory: {exc}"}
            except Exception as exc:  # a bad dataset is a failed row for each of its cells
                row = {**_base_row(cell, None, None), "status": "failed",
                       "reason": f"dataset {cell.dataset!r}: {type(exc).__name__}: {exc}"}
            else:
                row = run_cell(cell, data, warmup_s=settings.warmup_s, min_run_s=settings.min_run_s,
                               time_it=settings.time_it, keep_times=settings.keep_times,
                               hook=load_hook(settings.hook, settings.hook_args))
            row = {**extra, **row}
    return checkpoint.plain_row({**row, **pinned, **load, "pid": os.getpid(), **machine()})


def _before(cell: Cell, settings: Settings) -> tuple[dict | None, dict]:
    """``(row, columns)``: the row of a cell that the hook skips (or that fails in the hook)
    before its dataset is built, else None; and the columns the hook adds to the cell's row."""
    hook = load_hook(settings.hook, settings.hook_args)
    if hook is None:
        return None, {}
    try:
        solver = SOLVERS.build(cell.solver)
    except SpecError:
        solver = None
    try:
        extra = hook.before(cell, solver) or {}
    except Exception as exc:  # a hook's bug is the cell's failure, not the end of the sweep
        return {**_base_row(cell, solver, None), "status": "failed",
                "reason": f"hook {settings.hook}: {type(exc).__name__}: {exc}"}, {}
    if extra.get("status") == "skipped":
        return {**_base_row(cell, solver, None), **extra}, {}
    return None, extra


_ONE_AT_A_TIME = threading.Lock()
def run_request(request: dict) -> dict:
    """A cell process's answer to one request from :func:`_run_in_child`: the cell's row."""
    return run_here(Cell(**request["cell"]), Settings(**request["settings"]))


_CHILD = isolation.CellProcess(f"{__name__}:run_request")
atexit.register(_CHILD.close)


def run_one(cell: Cell, settings: Settings) -> dict:
    """Run one cell wherever this is called: in-process, or as a task on a Dask worker.

    Cells run one at a time per process (thread pinning is process-wide, and a timing must not
    share its cores), with the worker's thread count by default. With ``settings.cell_timeout``
    the cell runs in a child process that is killed when the time is up; the row then says so.
    With ``settings.fresh_process_per`` (a tag name) cells run in a child process too, and a new
    child starts whenever that tag's value differs from the previous cell's (e.g. one process
    per repetition of a sweep: nothing a process caches or warms up carries over).
    """
    worker, worker_threads = _dask_worker()
    if settings.threads is None:
        settings = replace(settings, threads=worker_threads or default_threads())
    with _ONE_AT_A_TIME:
        if settings.cell_timeout is None and settings.fresh_process_per is None:
            row = run_here(cell, settings)
        else:
            row = _run_in_child(cell, settings)
    return {**row, "worker": worker}


_CHILD_GROUP: list = [None]  # the tag value of the cells the current child process has run


def _run_in_child(cell: Cell, settings: Settings) -> dict:
    if settings.fresh_process_per is not None:
        group = dict(cell.tags).get(settings.fresh_process_per)
        if group != _CHILD_GROUP[0]:
            _CHILD.close()
            _CHILD_GROUP[0] = group
    try:
        kind, value = _CHILD.run({"cell": asdict(cell), "settings": asdict(settings)}, settings.cell_timeout)
    except (OSError, RuntimeError) as exc:
        kind, value = "died", f"could not start a cell process: {exc}"
    if kind == "row":
        return value
    reason = (f"timed out after {settings.cell_timeout:g} s (--cell-timeout); the cell's process was killed"
              if kind == "timeout" else value)
    return failed_row(cell, reason, threads=settings.threads, **machine())


def failed_row(cell: Cell, reason: str, **extra) -> dict:
    """The row of a cell that produced none itself (timed out, or lost with its worker); the load
    average is the one when the parent wrote it."""
    return checkpoint.plain_row({**_base_row(cell, None, None), "status": "failed", "reason": reason,
                                 "loadavg_1m_after": system.load_average(), **extra})


def require_success(df: pd.DataFrame) -> None:
    """:class:`~matinv_bench.errors.NoCellSucceeded` (one line, exit status 1) when no row of a
    finished grid is ``ok``: the counts of the others and the first reason."""
    counts = df["status"].value_counts().to_dict() if "status" in df else {}
    if counts.get("ok", 0) > 0:
        return
    others = ", ".join(f"{counts.get(s, 0)} {s}" for s in results.STATUSES if s != "ok")
    reasons = [r for r in df["reason"].dropna().astype(str) if r] if "reason" in df else []
    why = f"; first reason: {reasons[0]}" if reasons else ""
    raise NoCellSucceeded(f"no cell succeeded ({others}){why}")


def run_grid(cells: list[Cell], out: Path | None = None, *, n_test: int | None = None, threads: int | None = None,
             warmup_s: float = 0.25, min_run_s: float = 0.5, time_it: bool = True, progress: bool = True,
             title: str = "matinv-bench run", command: str = "", on_row: Callable[[dict], None] | None = None,
             resume: bool = False, cell_timeout: float | None = None,
             executor: Executor | None = None, keep_times: bool = False, hook: str | None = None,
             hook_args: dict | None = None, allow_dirty: bool = False,
             fresh_process_per: str | None = None, cell_only: tuple[str, ...] = (), ref: str = "auto",
             meta: dict | None = None) -> pd.DataFrame:
    """Run every cell and return the rows in grid order (schema: :data:`results.COLUMNS`).

    With ``out``, each finished cell is saved at once to ``out/cells/<key>.json``, and
    ``results.parquet`` and ``results.csv`` are rebuilt from the finished cells (every few seconds
    and at the end, also after Ctrl-C), all atomically (see :mod:`matinv_bench.engine.checkpoint`);
    ``out/run.json`` keeps the grid, the settings, ``title``, ``command`` and ``meta``. The engine
    writes rows only: the Markdown beside them is the command's. ``cell_only`` columns (bulky
    per-matrix values a hook returns) stay in the cell files and the returned rows, not in the tables.
    ``resume=True`` keeps the cells ``out`` already holds and runs only the others.

    ``cell_timeout`` (seconds) runs cells in a child process that is killed when a cell takes
    longer; the cell becomes a ``failed`` row that says so. ``fresh_process_per`` (a tag name)
    runs cells in a child process that is replaced whenever the tag's value changes from one
    cell to the next (see :func:`run_one`). ``executor`` (any
    ``concurrent.futures.Executor``, e.g. a Dask ``Client.get_executor()``) runs the cells
    there; rows are written here as they finish, and a cell whose worker was lost is a failed row.
    A KeyboardInterrupt stops the run and keeps every finished cell. ``progress`` shows a bar on a
    terminal and one line per finished cell elsewhere (:mod:`matinv_bench.engine.progress`).

    An ``out`` listed in ``results/manifest.toml`` (a committed result set) is refused from a dirty
    work tree (:func:`matinv_bench.reporting.manifest.check_writable`) unless ``allow_dirty``, which
    adds the column ``allow_dirty=True`` to every row it runs.
    """
    if cell_timeout is not None and not cell_timeout > 0:
        raise ValueError(f"the cell timeout must be a positive number of seconds, got {cell_timeout!r}")
    settings = Settings(n_test, threads, warmup_s, min_run_s, time_it, cell_timeout, keep_times, hook,
                        dict(hook_args or {}), fresh_process_per, tuple(cell_only), ref)
    load_hook(hook, settings.hook_args)  # a bad hook name fails here, not in every cell
    cells = list(dict.fromkeys(cells))  # a cell named twice runs once
    keys = [cell_key(c, n_test) for c in cells]
    rows: dict[str, dict] = {}
    if out is not None:
        manifest.check_writable(out, allow_dirty)
    folder = checkpoint.RunFolder(out) if out is not None else None
    if folder is not None:
        if resume:
            folder.remove_stale_temporaries()
            rows = folder.finished(keys)
        folder.write_manifest([asdict(c) for c in cells], asdict(settings), title, command, meta)

    def ordered() -> list[dict]:
        return [rows[k] for k in keys if k in rows]

    def tables() -> None:
        folder.write_tables([{k: v for k, v in r.items() if k not in settings.cell_only} for r in ordered()])

    todo = [(k, c) for k, c in zip(keys, cells) if k not in rows]
    last_tables = time.monotonic()
    try:
        with Progress(progress, len(todo), "cells") as step:
            for key, row in _execute(todo, settings, executor):
                if allow_dirty:
                    row = {**row, "allow_dirty": True}
                rows[key] = row
                if folder is not None:
                    folder.save_cell(key, row)  # the durable record; the tables below are derived
                    if time.monotonic() - last_tables > TABLES_EVERY_S:
                        tables()
                        last_tables = time.monotonic()
                if on_row:
                    on_row(row)
                step(f"{row['solver']} on {row['dataset']}")
    finally:  # also after Ctrl-C; after SIGKILL, --resume rebuilds them from cells/
        if folder is not None:
            tables()
    return results.to_frame(ordered())


def saved_grid(folder: Path) -> tuple[list[Cell], dict]:
    """The cells of the run saved in ``folder`` (its ``run.json``) and the :func:`run_grid` keywords
    that run them as the first time did (test-set size, threads, clock, time limit, hook, title,
    command); DataFileError with a one-line reason when the file is missing or malformed."""
    saved = checkpoint.RunFolder(folder).read_manifest()
    try:
        cells = [Cell(**c) for c in saved["cells"]]
        settings = Settings(**saved["settings"])
        kwargs = {k: v for k, v in asdict(settings).items()}
        kwargs.update(title=saved["title"], command=saved["command"])
    except (KeyError, TypeError) as exc:
        raise DataFileError(f"cannot resume {str(folder)!r}: run.json is malformed "
                            f"({type(exc).__name__}: {exc})") from None
    return cells, kwargs


def _execute(todo: list[tuple[str, Cell]], settings: Settings,
             executor: Executor | None) -> Iterator[tuple[str, dict]]:
    """Yield ``(key, row)`` as cells finish: in order here, or in completion order on an executor."""
    if executor is None:
        try:
            for key, cell in todo:
                yield key, run_one(cell, settings)
        finally:
            _CHILD.close()
            _CHILD_GROUP[0] = None
            _dataset.cache_clear()
        return
    futures = {executor.submit(run_one, cell, settings): (key, cell) for key, cell in todo}
    try:
        for fut in as_completed(futures):
            key, cell = futures[fut]
            try:
                row = fut.result()
            except Exception as exc:  # the worker died (dask retries first) or the task could not run
                row = failed_row(cell, f"lost on the cluster: {type(exc).__name__}: {exc}", worker="lost")
            yield key, row
    finally:
        for fut in futures:
            fut.cancel()
