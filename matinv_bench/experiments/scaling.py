"""The O(n^3) versus O(n^4) study: time, flops and memory of every solver against n.

For each solver spec, size n, dtype and repetition, one batch of ``spd-box[n=n]`` matrices
(SPD, well conditioned, a box around a known base: every solver accepts it) is one cell of the
runner (:func:`~matinv_bench.engine.runner.run_grid`: same lifecycle, metrics and clock as
``matinv-bench run``, and the same per-cell checkpoints, ``--resume``, ``--cell-timeout`` and
Dask workers). The cell's batch is its test-set size; ``solver_label``, ``batch`` and
``repeat`` are tag columns.

The measurement protocol:

- every timing has at least 5 timed blocks, each calibrated to be long against the clock
  (:func:`matinv_bench.engine.clock.measure`);
- the sweep is repeated ``--repeats`` times (default 3), each repetition in a fresh process
  (``run_grid(fresh_process_per="repeat")``), and within a repetition the solvers take turns at
  each size (round robin, the first solver rotating with the repetition), so that drift of the
  machine hits every solver alike; slope intervals bootstrap over the repetitions;
- every solver gets the same batch at a given n (:func:`default_batch`, or ``--batch B``);
- a cell whose time, extrapolated from the same solver's previous size in the same repetition
  by the model flop ratio, exceeds ``--cell-budget`` is ``skipped`` with its estimate;
- every row says how loaded the machine was (the runner's ``loadavg_1m_before``/``_after``,
  ``other_cores_busy``, ``load_above_threads``).

:class:`ScalingHook`, run wherever the cell runs, adds what the scaling question needs:

- ``solver_label``: the spec as given, e.g. ``mlp-2fc[hidden=2n^2]`` (``K n^2`` is expanded
  per size, so one label follows the paper's width rule across n);
- ``peak_gflops`` / ``peak_fraction``: the achieved GFLOP/s against a matmul of the same
  library, dtype and device (``MATMUL_N``), measured right after the cell in the cell's process
  (``peak_probe``), so that the peak comes from the same minute as the time it divides (a
  shared machine can slow down for minutes, cells and probe alike);
- ``param_bytes`` (networks) and ``mem_need_bytes``; sizes that would not fit under the memory
  limit (``memory_limit_bytes``, fixed when the run starts) are ``skipped`` with the bytes they
  need, never attempted;
- ``peak_mem_bytes``: the process's peak RSS during the cell on CPU (the kernel's high-water
  mark, reset before the cell's dataset is built), ``torch.cuda.max_memory_allocated`` on CUDA;
- ``h2d_s_per_matrix`` / ``d2h_s_per_matrix``: host-device copies of the batch, timed apart
  from the compute (torch solvers; about zero on CPU);
- ``times_per_matrix_s``: every timed block; ``ns_per_flop``: nanoseconds per model flop
  (:mod:`matinv_bench.solvers.flops`).

A spec naming a solver that is not registered becomes a ``skipped`` row with the reason. Every
row, whatever its status, has every column of :data:`SCALING_COLUMNS` (see :func:`complete`).
Afterwards :func:`analyse` fits log-log slopes, the effective exponents on this machine (with
bootstrap intervals), over each solver's own asymptotic range and over the range common to
all, and finds where each network becomes slower than LU and torch-inv; ``slopes.csv``,
``crossovers.csv``, ``summary.md`` and the figures (:mod:`matinv_bench.reporting.plots`) are
written beside the rows.
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psutil
import torch

from matinv_bench import system
from matinv_bench.engine import options
from matinv_bench.engine.clock import MIN_BLOCKS, measure
from matinv_bench.engine.hooks import Hook
from matinv_bench.engine.runner import Cell, require_success, run_grid, saved_grid, with_device
from matinv_bench.errors import UserError
from matinv_bench.experiments import experiment
from matinv_bench.experiments.common import command_line, dated_folder
from matinv_bench.reporting import fits, manifest, results
from matinv_bench.solvers import SOLVERS
from matinv_bench.solvers._torch import resolve_device
from matinv_bench.specs import SpecError, parse_spec

DEFAULT_N = (2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 256, 512, 1024, 2048)
DEFAULT_SOLVERS = (
    "lu", "numpy-inv", "cholesky", "qr", "gauss-jordan", "gauss-jordan[block=64]",
    "torch-inv", "gauss-jordan[backend=torch]", "gauss-jordan[backend=torch,block=64]",
    "neumann[order=3]", "newton-schulz[steps=40,init=scaled]",
    "minimax-ns[lower=1e-6,steps=16]",  # a bound given (estimating it costs SVDs of a train split at every n);
    # 16 steps from 1e-6 reach rounding level (12 do not)
    "mlp-2fc[hidden=2n^2,recipe=none]", "mlp-2fc[hidden=8n^2,recipe=none]",
    "mlp-3fc[hidden=2n^2,recipe=none]", "mlp-3fc[hidden=8n^2,recipe=none]",  # untrained: inference only
)
DATASET = "spd-box[n={n}]"
BASELINES = ("lu", "torch-inv")  # the crossovers are against these
MATMUL_N = 1024  # size of the peak-matmul probe
LARGE_N = 256  # the classical solvers' exponents are also fitted over n >= this (their n^3 regime, if any)
TARGET_N = 1024  # where blocked Gauss-Jordan is held to its targets: within 2x of lu, >= 50 % of the matmul peak
FIT_RANGES = {"own": "own", "common": "common", "large": f"n >= {LARGE_N}"}  # fit_range -> summary column
MEMORY_FRACTION = 0.4  # default limit: this share of the memory available at start (shared machines)
BATCH_BUDGET = 2**22  # default batch: about this many n^3 flops' worth of matrices, 1 to 1024
REPEATS = 3  # independent repetitions of the sweep, each in a fresh process
CELL_BUDGET_S = 60.0  # default --cell-budget: skip a cell estimated to take longer

_WIDTH = re.compile(r"(\d+)\s*n\^2")


def expand(spec: str, n: int) -> str:
    """Replace every ``K n^2`` in a spec by the number K * n * n (the paper's width rules)."""
    return _WIDTH.sub(lambda m: str(int(m.group(1)) * n * n), spec)


def default_batch(n: int) -> int:
    """About ``BATCH_BUDGET / n^3`` matrices (1 to 1024): the same for every solver at a given
    n, networks included (``--batch 1`` measures every solver at latency, one matrix a call)."""
    return int(min(1024, max(1, BATCH_BUDGET // n**3)))


def _with_param(spec: str, key: str, value: str) -> str:
    """Add ``key=value`` to a spec that accepts it and does not set it."""
    name, params = parse_spec(spec)
    if key in params or key not in SOLVERS.parameters(name):
        return spec
    return f"{name}[{','.join([*(f'{k}={v}' for k, v in params.items()), f'{key}={value}'])}]"


def memory_need(solver, n: int, batch: int, itemsize: int) -> int:
    """Bytes a cell holds at once: a network's weights and activations, or a direct solver's
    input, copies and output (4 stacks), plus the dataset's float64 working copies (the
    refined reference's slices and sums at their peak: about 16 stacks)."""
    data = 16 * batch * n * n * 8  # make_dataset's copies and the reference's refinement
    if hasattr(solver, "param_bytes"):
        width = solver.width(n)
        act = batch * (2 * n * n + (solver.layers - 1) * width) * itemsize
        return int(solver.param_bytes(n) + 2 * act + data)
    return int(4 * batch * n * n * itemsize + data)


# --- memory high-water marks ---------------------------------------------------------------

def _reset_peak(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats(device)
        return
    try:  # Linux: "5" resets the peak RSS (VmHWM) of this process
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _peak(device: str) -> tuple[int, str]:
    if device.startswith("cuda"):
        return int(torch.cuda.max_memory_allocated(device)), "cuda_max_allocated"
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024, "peak_rss"
    except OSError:
        pass
    return int(psutil.Process().memory_info().rss), "rss_after"


# --- the machine's matmul peak and the host-device copies ----------------------------------

def matmul_peak(library: str, dtype: str, device: str, n: int | None = None, min_run_s: float = 0.3,
                warmup_s: float = 0.1) -> float:
    """GFLOP/s of an n x n matmul (default ``MATMUL_N``) in ``library`` ("numpy" or "torch")."""
    n = n or MATMUL_N
    a, b = _probe_operands(library, dtype, device, n)
    sync = (lambda: torch.cuda.synchronize(device)) if library == "torch" and device.startswith("cuda") else None
    t = measure(lambda: a @ b, sync=sync, warmup_s=warmup_s, min_run_s=min_run_s)
    return 2.0 * n**3 / t.median_s / 1e9


@functools.lru_cache(maxsize=4)
def _probe_operands(library: str, dtype: str, device: str, n: int) -> tuple:
    """The probe's two n x n operands, drawn once per process (the probe runs after every cell)."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n)).astype(dtype) for _ in range(2))
    if library == "torch":
        return tuple(torch.from_numpy(x).to(device) for x in (a, b))
    return a, b


def transfer_times(A: np.ndarray, device: str) -> dict:
    """Seconds per matrix to copy the batch host -> device and back (timed apart from compute)."""
    sync = (lambda: torch.cuda.synchronize(device)) if device.startswith("cuda") else None
    on_dev = torch.from_numpy(A).to(device)
    h2d = measure(lambda: torch.from_numpy(A).to(device), sync=sync, warmup_s=0.02, min_run_s=0.05)
    d2h = measure(lambda: on_dev.to("cpu"), sync=sync, warmup_s=0.02, min_run_s=0.05)
    return {"h2d_s_per_matrix": h2d.median_s / len(A), "d2h_s_per_matrix": d2h.median_s / len(A)}


PROBE_S = 0.1  # seconds of matmul timed right after every cell (after 0.05 s of warm-up)
PER_CELL = "after the cell"  # the ``peak_probe`` of a row whose probe ran right after it


# --- the cells and the hook that adds the scaling columns ----------------------------------

HOOK = f"{__name__}:ScalingHook"
TITLE = "matinv-bench scaling"

# every scaling row has these columns, whatever its status (NaN or None where they do not apply)
TEXT_COLUMNS = ("solver_label", "library", "peak_mem_kind", "peak_probe", "times_per_matrix_s")
NUMERIC_COLUMNS = ("n", "batch", "repeat", "param_bytes", "mem_need_bytes", "peak_mem_bytes", "peak_gflops",
                   "peak_fraction", "ns_per_flop", "estimated_cell_s", "h2d_s_per_matrix", "d2h_s_per_matrix",
                   "loadavg_1m_before", "loadavg_1m_after", "other_cores_busy", "memory_limit_bytes",
                   "memory_total_bytes")
BOOL_COLUMNS = ("load_above_threads",)
SCALING_COLUMNS = TEXT_COLUMNS + NUMERIC_COLUMNS + BOOL_COLUMNS
NEWER_COLUMNS = ("peak_probe",)  # columns older runs lack and no figure needs


def plan(templates: list[str], ns: list[int], dtypes: list[str], device: str, repeats: int = 1) -> list[dict]:
    """Every cell in the order they run: label, expanded spec, n, dtype, library, repeat.

    Repetition by repetition, dtype by dtype, size by size; at each size every solver once,
    numpy solvers before torch solvers (see runner), each group in turn starting one solver
    later with every repetition (round robin), so that a drift of the machine during a size
    falls on all solvers alike. Unknown solver names are kept (they become skipped rows);
    malformed specs raise SpecError."""
    info = {}
    for label in templates:
        name, _ = parse_spec(expand(label, 2))
        known = name in SOLVERS
        for dtype in dtypes:
            for n in ns:
                spec = expand(label, n)
                library, family = "?", "?"
                if known:
                    spec = _with_param(with_device(spec, device), "dtype", dtype)
                    solver = SOLVERS.build(spec)  # validates parameters now, not mid-run
                    library, family = solver.library, solver.family
                info[label, dtype, n] = {"label": label, "spec": spec, "n": n, "dtype": dtype, "library": library,
                                         "family": family, "known": known}
    order = {"numpy": 0, "torch": 1}
    cells = []
    for r in range(repeats):
        for dtype in dtypes:
            for n in ns:
                here = [info[label, dtype, n] for label in templates]
                for lib in sorted({c["library"] for c in here}, key=lambda lib: (order.get(lib, 2), lib)):
                    group = [c for c in here if c["library"] == lib]
                    k = r % len(group)
                    cells += [{**c, "repeat": r} for c in group[k:] + group[:k]]
    return cells


def make_cells(templates: list[str], ns: list[int], dtypes: list[str], device: str,
               batch: int | None = None, repeats: int = 1) -> list[Cell]:
    """The runner's cells of the sweep, in :func:`plan`'s order: ``DATASET`` at each n, the batch
    as the cell's test-set size (``batch`` or :func:`default_batch`, the same for every
    solver), ``solver_label``, ``batch`` and ``repeat`` as tag columns. The repetitions of a
    cell measure the same matrices."""
    cells = []
    for c in plan(templates, ns, dtypes, device, repeats):
        B = batch or default_batch(c["n"])
        cells.append(Cell(c["spec"], DATASET.format(n=c["n"]), 0, c["dtype"], n_test=B,
                          tags=(("solver_label", c["label"]), ("batch", B), ("repeat", c["repeat"]))))
    return cells


def memory_limits(device: str, max_memory: int | None = None) -> dict[str, int | None]:
    """The run's memory limits in bytes, measured once in the process that starts the run (so
    that every worker skips the same cells): ``max_memory``, else ``MEMORY_FRACTION`` of the
    memory available now; the GPU's for solvers on CUDA (None without one), the host's for the
    others. The keyword arguments of :class:`ScalingHook`."""
    host_free, host_total = system.available_memory(), system.total_memory()
    torch_device = resolve_device(device)
    gpu_free, gpu_total = (torch.cuda.mem_get_info(torch_device) if torch_device.startswith("cuda")
                           else (None, None))
    return {"host_limit_bytes": int(max_memory or MEMORY_FRACTION * host_free), "host_total_bytes": host_total,
            "gpu_limit_bytes": None if gpu_free is None else int(max_memory or MEMORY_FRACTION * gpu_free),
            "gpu_total_bytes": None if gpu_total is None else int(gpu_total)}


def size_of(cell: Cell) -> int:
    """The n of a scaling cell, from its dataset spec."""
    return int(parse_spec(cell.dataset)[1]["n"])


# per process: (solver label, dtype, repeat) -> (n, seconds per matrix, model flops per matrix) of
# the largest size measured so far, and -> the smallest size that timed out, for the cell budget
_MEASURED: dict[tuple, tuple[int, float, float]] = {}
_TIMED_OUT: dict[tuple, int] = {}
SIZES_LOG = "sizes.jsonl"  # in the run folder: one line per finished cell, written by the process that runs the sweep
TIMEOUT_PER_BUDGET = 10  # default --cell-timeout: this many cell budgets (a backstop for a wrong estimate)


def _remember(key: tuple, n: int, seconds: float, flops: float) -> None:
    if key not in _MEASURED or _MEASURED[key][0] <= n:
        _MEASURED[key] = (int(n), float(seconds), float(flops))


def _row_key(row: dict) -> tuple:
    return (str(row.get("solver_label")), str(row.get("dtype")), int(row.get("repeat") or 0))


def size_logger(out: Path):
    """An ``on_row`` for :func:`run_grid`: appends what the budget needs of each finished row
    (label, dtype, repeat, n, status, seconds and flops per matrix, whether it timed out) to
    ``out/sizes.jsonl``, which every cell's hook reads, wherever it runs."""
    path = out / SIZES_LOG

    def log(row: dict) -> None:
        label, dtype, repeat = _row_key(row)
        n = row.get("n")
        entry = {"label": label, "dtype": dtype, "repeat": repeat,
                 "n": int(n) if n is not None and n == n else _n_of(row.get("dataset")),
                 "status": row.get("status"), "seconds": row.get("time_per_matrix_s"),
                 "flops": row.get("flops_per_matrix"),
                 "timed_out": str(row.get("reason") or "").startswith("timed out")}
        with open(path, "a") as f:
            f.write(json.dumps(entry, allow_nan=True) + "\n")

    return log


def _read_sizes_log(path: Path) -> None:
    """Merge what ``sizes.jsonl`` says into this process's ``_MEASURED`` and ``_TIMED_OUT``."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return
    for line in lines:
        try:
            e = json.loads(line)
            key, n = (e["label"], e["dtype"], int(e["repeat"])), e["n"]
        except (ValueError, KeyError, TypeError):
            continue  # a line cut short by a kill: the cell runs
        if n is None or n != n:
            continue
        if e.get("timed_out"):
            _TIMED_OUT[key] = min(int(n), _TIMED_OUT.get(key, int(n)))
        elif e.get("status") == "ok" and e.get("seconds"):
            _remember(key, int(n), float(e["seconds"]), float(e.get("flops") or 0))


class ScalingHook(Hook):
    """The scaling columns of a cell (see the module docstring), wherever the cell runs.

    ``before``: an unregistered solver, a cell needing more memory than its limit, or one whose
    estimated time exceeds ``cell_budget_s`` is a ``skipped`` row (with ``mem_need_bytes``,
    ``param_bytes``, ``flops_per_matrix``, ``estimated_cell_s`` and the numbers in the reason)
    and its dataset is never built; otherwise the memory high-water mark is reset.
    ``after``: peak memory, matmul peak (probed right after the cell), host-device copies (torch solvers),
    ns per model flop, the bytes and the limit. The limits are :func:`memory_limits'` (a solver
    on CUDA uses the host's when the run started without a GPU).

    The estimate (:meth:`estimate`) extrapolates the same solver's largest size measured so far
    in the same repetition by the model flop ratio: this is the one thing a row depends on from
    other cells. The hook learns it from the cells that ran in its process and from ``log``
    (the run folder's ``sizes.jsonl``, :func:`size_logger`: every finished cell, also of a
    resumed run's earlier processes and of other workers); where it knows nothing (the first
    size) the cell runs. A solver that timed out at a smaller size in the same repetition is
    not tried again at a larger one.
    """

    def __init__(self, *, host_limit_bytes: int, host_total_bytes: int, gpu_limit_bytes: int | None = None,
                 gpu_total_bytes: int | None = None, matmul_n: int = MATMUL_N, cell_budget_s: float | None = None,
                 log: str | None = None) -> None:
        super().__init__(host_limit_bytes=host_limit_bytes, host_total_bytes=host_total_bytes,
                         gpu_limit_bytes=gpu_limit_bytes, gpu_total_bytes=gpu_total_bytes, matmul_n=matmul_n,
                         cell_budget_s=cell_budget_s, log=log)
        self.host = (host_limit_bytes, host_total_bytes)
        self.gpu = self.host if gpu_limit_bytes is None else (gpu_limit_bytes, gpu_total_bytes)
        self.matmul_n = matmul_n
        self.cell_budget_s = cell_budget_s
        self.log = Path(log) if log else None

    def _bytes(self, cell: Cell, solver, n: int, batch: int) -> dict:
        limit, total = self.gpu if str(solver.device).startswith("cuda") else self.host
        return {"library": solver.library,
                "param_bytes": solver.param_bytes(n) if hasattr(solver, "param_bytes") else None,
                "mem_need_bytes": memory_need(solver, n, batch, np.dtype(cell.dtype).itemsize),
                "memory_limit_bytes": limit, "memory_total_bytes": total}

    @staticmethod
    def _key(cell: Cell) -> tuple:
        tags = dict(cell.tags)
        return (str(tags.get("solver_label", cell.solver)), cell.dtype, int(tags.get("repeat", 0)))

    def estimate(self, cell: Cell, solver, n: int) -> tuple[float, str] | None:
        """Estimated seconds of the cell and how they were reckoned, or None without a smaller
        measured size: seconds per matrix there, times the model flop ratio (the n^3 ratio
        for a solver of zero flops), times the batch, times the calls a cell makes at least
        (one to score, one to warm up, ``MIN_BLOCKS`` timed blocks of at least one call)."""
        prev = _MEASURED.get(self._key(cell))
        if prev is None or prev[0] >= n:
            return None
        n0, seconds, flops0 = prev
        ratio = solver.flops(n) / flops0 if flops0 > 0 and solver.flops(n) > 0 else (n / n0) ** 3
        calls = MIN_BLOCKS + 2
        total = seconds * ratio * cell.n_test * calls
        return total, (f"{seconds:.3g} s per matrix at n = {n0}, times the model flop ratio {ratio:.3g}, times "
                       f"{cell.n_test} matrices and {calls} calls (scoring, warm-up, {MIN_BLOCKS} timed blocks)")

    def before(self, cell: Cell, solver) -> dict | None:
        n = size_of(cell)
        if solver is None:
            return {"status": "skipped", "n": n,
                    "reason": f"solver {parse_spec(cell.solver)[0]!r} is not registered in this version"}
        info = self._bytes(cell, solver, n, cell.n_test)
        need, limit = info["mem_need_bytes"], info["memory_limit_bytes"]
        if need > limit:
            return {"status": "skipped", "n": n, "flops_per_matrix": solver.flops(n),
                    "reason": f"needs about {need / 2**30:.2f} GiB ({need} bytes) for weights, batch and data; "
                              f"the limit is {limit / 2**30:.2f} GiB ({limit} bytes)", **info}
        if self.log is not None:
            _read_sizes_log(self.log)
        timed_out = _TIMED_OUT.get(self._key(cell))
        if timed_out is not None and timed_out < n:
            return {"status": "skipped", "n": n, "flops_per_matrix": solver.flops(n),
                    "reason": f"the same solver timed out at n = {timed_out} in this repetition (--cell-timeout); "
                              "larger sizes are not tried", **info}
        est = self.estimate(cell, solver, n) if self.cell_budget_s is not None else None
        if est is not None and est[0] > self.cell_budget_s:
            return {"status": "skipped", "n": n, "flops_per_matrix": solver.flops(n), "estimated_cell_s": est[0],
                    "reason": f"estimated {est[0]:.3g} s, over the cell budget of {self.cell_budget_s:g} s "
                              f"(--cell-budget): {est[1]}", **info}
        _reset_peak(solver.device)
        return None

    def after(self, cell: Cell, solver, data, result, row: dict) -> dict:
        peak_mem, kind = _peak(solver.device)  # first: the probes below allocate
        peak = matmul_peak(solver.library, cell.dtype, solver.device, self.matmul_n, min_run_s=PROBE_S, warmup_s=0.05)
        extra = {**self._bytes(cell, solver, data.n, len(data)), "peak_mem_bytes": peak_mem, "peak_mem_kind": kind,
                 "peak_gflops": peak, "peak_probe": PER_CELL,
                 "peak_fraction": row["gflops"] / peak if row.get("gflops") else None}
        t, flops = row.get("time_per_matrix_s"), row.get("flops_per_matrix") or 0
        if t:
            extra["ns_per_flop"] = t / flops * 1e9 if flops > 0 else None
            _remember(self._key(cell), data.n, t, flops)
        if solver.library == "torch":
            extra.update(transfer_times(data.A.astype(cell.dtype), solver.device))
        return extra


def run_scaling(templates: list[str], ns: list[int], dtypes: list[str], device: str, out: Path | None, *,
                batch: int | None = None, threads: int | None = None, warmup_s: float = 0.25,
                min_run_s: float = 0.5, max_memory: int | None = None, progress: bool = True,
                command: str = "", repeats: int = REPEATS, cell_budget_s: float | None = CELL_BUDGET_S,
                fresh_processes: bool = True, **engine: Any) -> pd.DataFrame:
    """Run the sweep with :func:`~matinv_bench.engine.runner.run_grid` (``engine``: its ``resume``,
    ``cell_timeout`` and ``executor`` keywords): ``repeats`` repetitions, each in a fresh
    process (``fresh_processes=False``: all in this one, for tests that patch it); each finished
    cell is saved to ``out/cells`` at once. Returns the rows with every scaling column
    (:func:`complete`)."""
    cells = make_cells(templates, ns, dtypes, device, batch, repeats)
    _MEASURED.clear()  # what an earlier run in this process measured is not this run's
    _TIMED_OUT.clear()
    hook_args = {**memory_limits(device, max_memory), "matmul_n": MATMUL_N, "cell_budget_s": cell_budget_s,
                 "log": str(Path(out) / SIZES_LOG) if out is not None else None}
    if fresh_processes and engine.get("cell_timeout") is None and cell_budget_s is not None:  # a backstop
        engine["cell_timeout"] = TIMEOUT_PER_BUDGET * cell_budget_s
    df = run_grid(cells, out, threads=threads, warmup_s=warmup_s, min_run_s=min_run_s, progress=progress,
                  title=TITLE, command=command, keep_times=True, hook=HOOK, hook_args=hook_args,
                  fresh_process_per="repeat" if fresh_processes else None,
                  on_row=size_logger(Path(out)) if out is not None else None, **engine)
    return complete(df)


def _n_of(dataset: str) -> float:
    try:
        return float(parse_spec(str(dataset))[1]["n"])
    except (SpecError, KeyError, TypeError, ValueError):
        return np.nan


def complete(df: pd.DataFrame) -> pd.DataFrame:
    """The rows with every column of :data:`SCALING_COLUMNS`, the numeric ones as numbers (None or
    NaN where a row has none, e.g. one that failed before its hook ran); a row that never built
    its dataset (timed out, lost with its worker) gets its ``n`` from the dataset spec."""
    df = df.copy()
    for col in TEXT_COLUMNS:
        if col not in df:
            df[col] = None
    for col in NUMERIC_COLUMNS:  # numbers, NaN where missing (a column of None is no number)
        df[col] = pd.to_numeric(df[col], errors="coerce") if col in df else np.nan
    for col in BOOL_COLUMNS:
        df[col] = df[col].astype("boolean") if col in df else pd.array([pd.NA] * len(df), dtype="boolean")
    df["repeat"] = df["repeat"].fillna(0).astype("int64")  # runs made before repetitions: one, number 0
    missing = df["n"].isna()
    if missing.any():
        df["n"] = df["n"].astype("float64")
        df.loc[missing, "n"] = [_n_of(d) for d in df.loc[missing, "dataset"]]
        if df["n"].notna().all():
            df["n"] = df["n"].astype("int64")
    return df


# --- analysis ------------------------------------------------------------------------------

def _times(row) -> list[float]:
    raw = row.get("times_per_matrix_s")
    if isinstance(raw, str) and raw:
        return json.loads(raw)
    return [row["time_per_matrix_s"]]


REPETITIONS = "repetition medians (independent runs, each in its own process)"
BLOCKS = "timed blocks within one run (noise within a cell, not between runs)"


def _fit(g: pd.DataFrame, sizes: list[int] | None, fit_from: int | None) -> fits.SlopeFit | None:
    """One solver's slope: over ``sizes`` (else its asymptotic range from ``fit_from``). The
    samples are the repetitions' medians when every size in range has at least two; a size that
    ran in fewer repetitions than the solver's others (they skipped it for the cell budget) is
    left out of the range when the sizes left still make a fit. Otherwise the samples are the
    timed blocks of its cells, and ``ci_method`` says so."""
    reps = g.groupby("n")["repeat"].nunique()
    repeated = reps[(reps >= 2) & (reps == reps.max())].index
    if sizes is None and len(repeated) >= fits.MIN_POINTS:
        sizes = fits.asymptotic_sizes(repeated, fit_from).tolist()
    elif sizes is not None and len([n for n in sizes if n in repeated]) >= fits.MIN_POINTS:
        sizes = [n for n in sizes if n in repeated]
    chosen = sizes if sizes is not None else fits.asymptotic_sizes(g["n"].unique(), fit_from).tolist()
    in_range = g[g["n"].isin(chosen)]
    if len(in_range) and in_range.groupby("n")["repeat"].nunique().min() >= 2:
        return fits.fit_slope(g["n"].tolist(), g["time_per_matrix_s"].tolist(), sizes=chosen, what=REPETITIONS)
    return fits.fit_slope(g["n"].tolist(), [_times(r) for _, r in g.iterrows()], sizes=chosen, what=BLOCKS)


def common_sizes(ok: pd.DataFrame) -> list[int]:
    """The range every family is fitted over besides its own: the larger half of the sizes at
    which every solver label (that ran at least ``fits.MIN_POINTS`` sizes) ran."""
    sets = [set(g["n"]) for _, g in ok.groupby("solver_label") if g["n"].nunique() >= fits.MIN_POINTS]
    if not sets:
        return []
    shared = sorted(set.intersection(*sets))
    return fits.asymptotic_sizes(shared).tolist() if len(shared) >= fits.MIN_POINTS else []


def analyse(df: pd.DataFrame, fit_from: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Effective exponents (slopes of log time on log n, 95 % bootstrap intervals) per solver
    label, dtype and device, over each label's own asymptotic range (``fit_range`` "own") and
    over the range common to all labels of the dtype ("common"); and the size at which each
    network becomes slower than LU and torch-inv."""
    ok = df[(df["status"] == "ok") & df["time_per_matrix_s"].notna()]
    slopes = []
    for dtype, d in ok.groupby("dtype", sort=False):
        common = common_sizes(d)
        for (label, device), g in d.groupby(["solver_label", "device"], sort=False):
            g = g.sort_values(["n", "repeat"])
            large = sorted(n for n in g["n"].unique() if n >= LARGE_N)
            ranges = [("own", None), ("common", common)] + ([("large", large)] if len(large) >= fits.MIN_POINTS else [])
            reps = g.groupby("n")["repeat"].nunique()
            for fit_range, sizes in ranges:
                f = _fit(g, sizes, fit_from) if sizes is None or len(sizes) else None
                slopes.append({"solver_label": label, "dtype": dtype, "device": device, "fit_range": fit_range,
                               "slope": f.slope if f else np.nan, "ci_lo": f.lo if f else np.nan,
                               "ci_hi": f.hi if f else np.nan, "ci_method": f.ci_method if f else "",
                               "log_c": f.log_c if f else np.nan,
                               "fit_n_lo": f.n_lo if f else pd.NA, "fit_n_hi": f.n_hi if f else pd.NA,
                               "fit_points": f.n_points if f else 0,
                               "repeats": int(reps[(reps.index >= f.n_lo) & (reps.index <= f.n_hi)].min()
                                              if f else reps.min()),
                               "n_measured": g["n"].nunique(), "n_max_measured": g["n"].max()})
    cross = []
    nets = [lab for lab in df["solver_label"].unique() if str(lab).startswith("mlp")]
    for dtype, g in ok.groupby("dtype", sort=False):  # LU runs on the host even in a CUDA run
        t = g.pivot_table(index="n", columns="solver_label", values="time_per_matrix_s", aggfunc="median")
        for net in nets:
            for base in BASELINES:
                if net not in t or base not in t:
                    continue
                c = fits.crossover(t.index.to_numpy(), t[net].to_numpy(), t[base].to_numpy())
                devs = sorted(set(g.loc[g["solver_label"].isin([net, base]), "device"]))
                cross.append({"network": net, "baseline": base, "dtype": dtype, "device": "/".join(devs),
                              "kind": c.kind, "crossover_n": c.n, "text": c.text()})
    slopes = pd.DataFrame(slopes)
    if len(slopes):  # "own" first: readers that take a label's first row get its own range
        slopes = slopes.sort_values("fit_range", key=lambda r: r.map({k: i for i, k in enumerate(FIT_RANGES)}),
                                    kind="stable")
        slopes = slopes.reset_index(drop=True)
    return slopes, pd.DataFrame(cross)


# --- summary and command line --------------------------------------------------------------

def _gib(x) -> str:
    return "" if pd.isna(x) else f"{float(x) / 2**30:.2f} GiB"


def memory_wall(df: pd.DataFrame) -> pd.DataFrame:
    """Per network and dtype: the largest size that ran and the first size skipped for memory."""
    out = []
    nets = df[df["solver_label"].astype(str).str.startswith("mlp")]
    for (label, dtype), g in nets.groupby(["solver_label", "dtype"], sort=False):
        ran = g[g["status"] == "ok"]
        mem = g[(g["status"] == "skipped") & g["reason"].astype(str).str.startswith("needs about")]
        first = mem.sort_values("n").iloc[0] if len(mem) else None
        out.append({"network": label, "dtype": dtype,
                    "largest n run": int(ran["n"].max()) if len(ran) else None,
                    "its weights": _gib(ran.sort_values("n")["param_bytes"].iloc[-1]) if len(ran) else "",
                    "first n skipped": int(first["n"]) if first is not None else None,
                    "weights needed": _gib(first["param_bytes"]) if first is not None else "",
                    "cell needs": _gib(first["mem_need_bytes"]) if first is not None else ""})
    return pd.DataFrame(out)


def _memory_lines(df: pd.DataFrame) -> list[str]:
    """The memory line(s) of the summary: each limit the run used (host, and GPU on CUDA)."""
    mem = df.dropna(subset=["memory_limit_bytes"])
    where = np.where(mem["device"].astype(str).str.startswith("cuda"), "GPU", "host")
    limits = mem.groupby(where, sort=True)[["memory_total_bytes", "memory_limit_bytes"]].first()
    return [f"- memory{'' if len(limits) == 1 else ' (' + w + ')'}: {_gib(r.memory_total_bytes)} in total; "
            f"cells needing more than {_gib(r.memory_limit_bytes)} were skipped, not run"
            for w, r in limits.iterrows()]


# what the QR jump between n = 64 and 96 is, as measured by bench/scripts/qr_phases.py (the summary's fixed paragraph)
QR_NOTE = (
    "**Why `qr` jumps between n = 64 and 96** (117 us to 2.0 ms per matrix in the run of git 52bb236). The "
    "solver is numpy's `qr` (geqrf, then orgqr, in numpy's OpenBLAS 0.3.31) and scipy's triangular solve (trtrs, in "
    "scipy's OpenBLAS 0.3.30). `python bench/scripts/qr_phases.py --n 64 96 --repeats 3` times the phases apart "
    "(batch 4) with every BLAS pinned to 1 and to 2 threads, and measures how much CPU the BLAS helper threads "
    "used. On the 2-core VM, load average 2.1: with one thread, geqrf + orgqr take 85-98 us per matrix at n = 64 "
    "and 229-247 us at n = 96, trtrs 44-66 and 96-152 us: smooth growth, no jump. With two threads, geqrf + orgqr "
    "never hand work to the second thread at n = 64 (86-140 us) but do at n = 96 (316-2581 us); a finer scan puts "
    "the switch at n = 92. Below n = 128, LAPACK's geqrf and orgqr are unblocked (their crossover NX = 128): some "
    "2n matrix-vector products and rank-1 updates per matrix, which OpenBLAS runs on 2 threads once an update has "
    "more than 8192 entries (2048 x GEMM_MULTITHREAD_THRESHOLD), 92 x 91 at n = 92. On a machine whose other core "
    "is busy, each such hand-off waits for it: a 128 x 65 rank-1 update (dger) took 12 ms with two threads against "
    "3 us for a 128 x 64 one, which stays on one thread. trtrs hands off at every size and took either 66 us or "
    "8 ms. The jump is this hand-off on a shared machine, not QR's arithmetic: it goes with `--threads 1`, and the "
    "rows' `load_above_threads` and `other_cores_busy` say when the cores were shared."
)


def _load_lines(df: pd.DataFrame) -> list[str]:
    """The summary's lines on how loaded the machine was (the runner's load columns; older runs
    recorded only ``loadavg_1m``)."""
    cols = [c for c in ("loadavg_1m_before", "loadavg_1m_after", "loadavg_1m") if c in df and df[c].notna().any()]
    if not cols:
        return []
    loads = df[cols].stack()
    lines = [f"- load average (1 min) of the machine before and after the cells: {loads.min():.2f} to "
             f"{loads.max():.2f}, median {loads.median():.2f}"]
    ran = df[df["status"] == "ok"]
    if "load_above_threads" in df and ran["load_above_threads"].notna().any():
        over = ran["load_above_threads"].fillna(False).astype(bool)
        lines[0] += (f"; {int(over.sum())} of {len(ran)} measured cells ran while the load exceeded the thread "
                     "count (column `load_above_threads`: other work shared the cores)")
    if "other_cores_busy" in df and ran["other_cores_busy"].notna().any():
        busy = ran["other_cores_busy"]
        lines.append(f"- cores kept busy by other processes during a cell (`other_cores_busy`): median "
                     f"{busy.median():.2f}, max {busy.max():.2f}")
    return lines


def _per_cell(ok: pd.DataFrame) -> bool:
    """Whether the rows' matmul probes ran right after each cell (else once per process: older runs)."""
    return "peak_probe" in ok and bool((ok["peak_probe"] == PER_CELL).any())


def _peak_lines(ok: pd.DataFrame) -> list[str]:
    """The matmul probes of the run: right after every cell, or (older runs) one per library, dtype
    and device in each repetition's process."""
    if not len(ok) or not ok["peak_gflops"].notna().any():
        return []
    if _per_cell(ok):
        parts = []
        for (library, dtype, device), g in ok.dropna(subset=["peak_gflops"]).groupby(["library", "dtype", "device"],
                                                                                      sort=False):
            per_rep = g.groupby("repeat")["peak_gflops"].median()
            parts.append(f"{library} {dtype} {device}: median {g['peak_gflops'].median():.1f} "
                         f"[{g['peak_gflops'].min():.1f}, {g['peak_gflops'].max():.1f}] over {len(g)} cells; "
                         "median per repetition " + ", ".join(f"{v:.1f}" for v in per_rep))
        return [f"Matmul probe ({MATMUL_N} x {MATMUL_N}, GFLOP/s), {PROBE_S:g} s timed right after every cell in "
                "the cell's process: " + "; ".join(parts) + ". A row's `peak_fraction` is its GFLOP/s over its own "
                "probe, taken in the same minute: a machine that slows down slows both.", ""]
    probes = ok.dropna(subset=["peak_gflops"]).groupby(["library", "dtype", "device", "repeat"])["peak_gflops"].first()
    parts = []
    for (library, dtype, device), p in probes.groupby(level=[0, 1, 2], sort=False):
        values = ", ".join(f"{v:.1f}" for v in p)
        parts.append(f"{library} {dtype} {device}: {values}" + (f" (best {p.max():.1f})" if len(p) > 1 else ""))
    return [f"Matmul probe ({MATMUL_N} x {MATMUL_N}, GFLOP/s), measured once in each repetition's process, in "
            "repetition order: " + "; ".join(parts) + ". A row's `peak_fraction` is its GFLOP/s over the probe "
            "of its own repetition and library; on a shared machine one probe can catch a busy moment that the "
            "cells around it do not (a fraction above 100 % means the probe read low).", ""]


def gj_note(per_cell: bool) -> str:
    probe = "the probe taken right after the cell" if per_cell else "the repetition's own matmul probe"
    return ("Targets, as ratios within each repetition (same process, same minutes): time within 2x of `lu` (the same "
            "library's LAPACK) and at least 50 % of the matmul peak; the ratio to `torch-inv` for reference. Each "
            f"cell: median over the repetitions [lowest, highest]. `% of probe` uses {probe}, `% of best probe` the "
            "best probe of the whole run (the stricter reading). `time vs smaller block`: the time over that of the "
            "next smaller block measured (below 1: the larger block is faster).")


def _median_range(x: pd.Series, fmt: str = ".2f") -> str:
    return f"{x.median():{fmt}} [{x.min():{fmt}}, {x.max():{fmt}}]" if x.notna().any() else ""


def gauss_jordan_targets(ok: pd.DataFrame, n: int = TARGET_N) -> pd.DataFrame:
    """Each Gauss-Jordan variant at size ``n`` (float64) against ``lu`` and ``torch-inv`` of the
    same repetition, and against the matmul probes: the issue's targets, as ratios measured in one
    run. Empty without Gauss-Jordan or ``lu`` rows at ``n``."""
    d = ok[(ok["n"] == n) & (ok["dtype"] == "float64")]
    t = d.pivot_table(index="repeat", columns="solver_label", values="time_per_matrix_s", aggfunc="median")
    labels = [lab for lab in t.columns if str(lab).startswith("gauss-jordan")]
    if "lu" not in t or not labels:
        return pd.DataFrame()
    best = ok.groupby("library")["peak_gflops"].max()
    params = {lab: parse_spec(lab)[1] for lab in labels}
    backend = {lab: p.get("backend", "numpy") for lab, p in params.items()}
    block = {lab: float(p.get("block", 0)) for lab, p in params.items()}

    rows = []
    for label in sorted(labels, key=lambda lab: (backend[lab], block[lab])):
        g = d[d["solver_label"] == label].set_index("repeat")
        lib = g["library"].iloc[0]
        row = {"solver_label": label, "repetitions": len(g),
               "time / lu": _median_range(t[label] / t["lu"]),
               "time / torch-inv": _median_range(t[label] / t["torch-inv"]) if "torch-inv" in t else "",
               "% of probe": _median_range(100 * g["peak_fraction"], ".0f"),
               "% of best probe": _median_range(100 * g["gflops"] / best.get(lib, np.nan), ".0f")}
        same = [lab for lab in labels if backend[lab] == backend[label] and 0 < block[lab] < block[label]]
        smaller = max(same, key=block.get) if same else None
        row["time vs smaller block"] = (f"{_median_range(t[label] / t[smaller])} ({smaller})" if smaller else "")
        rows.append(row)
    return pd.DataFrame(rows)


def _protocol_line(df: pd.DataFrame) -> str:
    reps = int(df["repeat"].max()) + 1 if len(df) else 0
    blocks = df["timing_blocks"].dropna() if "timing_blocks" in df else pd.Series(dtype=float)
    budget = df["reason"].astype(str).str.contains("--cell-budget").sum()
    return (f"- protocol: {reps} repetition{'s' if reps != 1 else ''} of the sweep, each in a fresh process; at each "
            "size the solvers take turns (round robin, starting one later each repetition); every time is the median "
            f"of at least {MIN_BLOCKS} timed blocks" + (f" (fewest here: {int(blocks.min())})" if len(blocks) else "")
            + f"; {budget} cells skipped for the cell budget (estimated from the previous size)")


def write_summary(df: pd.DataFrame, slopes: pd.DataFrame, cross: pd.DataFrame, out: Path, command: str) -> None:
    """``summary.md``: where and how it ran, slopes, crossovers, the memory wall, the times."""
    ok = df[df["status"] == "ok"]
    devices = sorted(d for d in df["device"].dropna().astype(str).unique() if d)
    lines = [
        *results.summary_header(df, "Scaling of time, flops and memory with n", command),
        f"- devices: {', '.join(devices)}"
        + ("" if any(d.startswith("cuda") for d in devices) else " (no GPU in this run: the CUDA run is still to do)"),
        *_memory_lines(df),
        f"- data: `{DATASET}` (SPD box, kappa about 10); batch: "
        + (f"{int(df['batch'].iloc[0])} for every cell" if df["batch"].nunique() == 1 else
           f"about {BATCH_BUDGET} / n^3 matrices (1 to 1024)") + ", the same for every solver at each n (column `batch`); "
        f"{len(df)} rows: " + ", ".join(f"{(df['status'] == s).sum()} {s}" for s in results.STATUSES),
        _protocol_line(df),
        *_load_lines(df),
    ]
    lines.append("")
    lines += _peak_lines(ok)
    if len(slopes):
        s = slopes.copy()
        if "fit_range" not in s:  # slopes of an older analysis: one range per solver
            s["fit_range"], s["ci_method"] = "own", "bootstrap over timed blocks"
        s["slope [95% CI]"] = [(f"{a:.2f} [{b:.2f}, {c:.2f}]" if np.isfinite(b) else f"{a:.2f} [no interval]")
                               if np.isfinite(a) else "too few sizes"
                               for a, b, c in zip(s["slope"], s["ci_lo"], s["ci_hi"])]
        s["fitted over n"] = [f"{a}-{b}" if not pd.isna(a) else "" for a, b in zip(s["fit_n_lo"], s["fit_n_hi"])]
        env = df.dropna(subset=["cpu"]).iloc[0] if "cpu" in df and df["cpu"].notna().any() else {}
        machine = (f"{env.get('cpu', 'this CPU')} ({env.get('host', '')}), {env.get('threads', '?')} threads, "
                   f"BLAS {env.get('blas', '?')}")
        methods = sorted({m for m in s["ci_method"].astype(str) if m})
        wide = s.assign(fit_range=s["fit_range"].map(FIT_RANGES)).pivot_table(
                             index=["solver_label", "dtype", "device"], columns="fit_range",
                             values=["slope [95% CI]", "fitted over n"], aggfunc="first", sort=False)
        wide.columns = [f"{rng}: {what}" for what, rng in wide.columns]
        order = [c for rng in ("common", "own", "large") for c in
                 (f"{FIT_RANGES[rng]}: slope [95% CI]", f"{FIT_RANGES[rng]}: fitted over n") if c in wide]
        lines += ["## Effective exponents on this machine", "",
                  f"Slopes of log time per matrix on log n measured on {machine}: effective exponents of this "
                  "machine, its BLAS and these sizes, not asymptotic complexities. `common`: over the sizes every "
                  "solver ran, so that the families are compared like for like over one range; `own`: over the "
                  "larger half of the sizes each solver ran (its own asymptotic range)"
                  + (f"; `n >= {LARGE_N}`: over the sizes from {LARGE_N} up, for the solvers that ran at least "
                     f"{fits.MIN_POINTS} of them (where the classical solvers would show their n^3 regime)"
                     if (s["fit_range"] == "large").any() else "") + ". 95 % intervals: "
                  + "; ".join(methods) + ".",
                  "", wide[order].fillna("").reset_index().to_markdown(index=False), ""]
    if len(cross):
        lines += ["## Crossovers: the size from which each network is slower", "",
                  "`all n`: slower at every size both ran; `none`: not slower at the largest size both ran.", "",
                  cross[["network", "baseline", "dtype", "device", "text"]]
                  .rename(columns={"text": "slower from n ="}).to_markdown(index=False), ""]
    wall = memory_wall(df)
    if len(wall):
        lines += ["## Where the networks' weights stop fitting", "", wall.to_markdown(index=False), ""]
    if len(ok):
        keys = ["solver_label", "dtype", "device", "n"]
        median = ok.groupby(keys, sort=False).median(numeric_only=True).reset_index()  # over the repetitions
        median = median.merge(ok.groupby(keys, sort=False)["peak_mem_kind"].first().reset_index(), on=keys)
        last = median.sort_values("n").groupby(["solver_label", "dtype", "device"], sort=False).tail(1).copy()
        last["% of matmul peak"] = 100 * last["peak_fraction"]
        last["peak memory"] = last["peak_mem_bytes"].map(_gib) + " (" + last["peak_mem_kind"].astype(str) + ")"
        last["h2d_s_per_matrix"] = last["h2d_s_per_matrix"].map(lambda x: "" if pd.isna(x) else f"{x:.3g}")
        lines += ["## At the largest size each solver ran", "",
                  last[["solver_label", "dtype", "device", "n", "batch", "time_per_matrix_s", "gflops",
                        "% of matmul peak", "peak memory", "h2d_s_per_matrix"]]
                  .to_markdown(index=False, floatfmt=".3g", missingval=""), ""]
        t = ok.pivot_table(index="n", columns="solver_label", values="time_per_matrix_s", aggfunc="median")
        lines += ["## Time per matrix (s, median over the repetitions of each cell's median block)", "",
                  t.to_markdown(floatfmt=".3g"), ""]
        g = ok.pivot_table(index="n", columns="solver_label", values="gflops", aggfunc="median")
        lines += ["## Achieved GFLOP/s (model flops: `matinv_bench/solvers/flops.py`)", "",
                  g.to_markdown(floatfmt=".3g"), ""]
        if ok["ns_per_flop"].notna().any():
            f = ok.pivot_table(index="n", columns="solver_label", values="ns_per_flop", aggfunc="median")
            lines += ["## Nanoseconds per model flop", "", f.to_markdown(floatfmt=".3g"), ""]
    gj = gauss_jordan_targets(ok)
    if len(gj):
        lines += [f"## Blocked Gauss-Jordan against its targets (n = {TARGET_N})", "", gj_note(_per_cell(ok)), "",
                  gj.to_markdown(index=False), ""]
    if (df["solver_label"] == "qr").any():
        lines += ["## The QR jump", "", QR_NOTE, ""]
    other = df[df["status"] != "ok"]
    if len(other):
        r = other.groupby(["solver_label", "status", "reason"], sort=False)["n"].agg(
            lambda v: ", ".join(str(int(x)) for x in sorted(v))).reset_index()
        r["reason"] = r["reason"].astype(str).str.replace(r"\(\d+ bytes\)", "", regex=True).str.slice(0, 110)
        lines += ["## Skipped and failed cells", "", r.to_markdown(index=False), ""]
    results.write_text(out / "summary.md", "\n".join(lines))


def read_rows(out: Path) -> pd.DataFrame:
    """The rows of a scaling run folder; UserError for a folder without them or of another command."""
    path = out / "results.parquet"
    if not path.is_file():
        raise UserError(f"no results.parquet in {str(out)!r}")
    df = pd.read_parquet(path)
    if "solver_label" not in df:
        raise UserError(f"{str(out)!r} is not a scaling run: its rows have no solver_label column "
                        "(made by `matinv-bench run`?); give a folder made by `matinv-bench scaling`")
    return df


def finish(out: Path, command: str, fit_from: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Analyse the rows in ``out`` and write slopes.csv, crossovers.csv, summary.md, figures
    (and the rows again if they lacked scaling columns the figures read from the file; not for
    :data:`NEWER_COLUMNS` alone, so that replotting an older run leaves its rows as they were)."""
    from matinv_bench.reporting import plots

    raw = read_rows(out)
    df = complete(raw)
    if not df.drop(columns=list(NEWER_COLUMNS)).equals(raw.drop(columns=list(NEWER_COLUMNS), errors="ignore")):
        results.write_tables(df, out)
    slopes, cross = analyse(df, fit_from)
    results.atomic_write(out / "slopes.csv", lambda tmp: slopes.to_csv(tmp, index=False))
    results.atomic_write(out / "crossovers.csv", lambda tmp: cross.to_csv(tmp, index=False))
    write_summary(df, slopes, cross, out, command)
    plots.scaling_figures(out)
    return slopes, cross


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--n", nargs="+", type=int, default=list(DEFAULT_N), metavar="N",
                   help=f"matrix sizes (default: {' '.join(map(str, DEFAULT_N))})")
    p.add_argument("--solver", nargs="+", default=list(DEFAULT_SOLVERS), metavar="SPEC",
                   help="solver specs; 'K n^2' in a spec is K*n*n at each size, e.g. 'mlp-2fc[hidden=2n^2]' "
                        "(default: the classical solvers, neumann, newton-schulz and four networks)")
    p.add_argument("--dtype", nargs="+", default=["float64"], choices=("float64", "float32"),
                   help="precision the solvers compute in (default: float64)")
    p.add_argument("--batch", type=int, default=None, metavar="B",
                   help=f"matrices per batch, for every solver (default: {BATCH_BUDGET} // n^3, clipped to 1..1024, "
                        "the same for every solver at each n; 1: every solver at latency)")
    p.add_argument("--repeats", type=int, default=REPEATS, metavar="R",
                   help=f"independent repetitions of the sweep, each in a fresh process; slope intervals bootstrap "
                        f"over them (default {REPEATS})")
    p.add_argument("--cell-budget", type=float, default=CELL_BUDGET_S, metavar="S",
                   help="skip a cell whose time, extrapolated from the same solver's previous size by the model "
                        f"flop ratio, exceeds S seconds; the reason gives the estimate (default {CELL_BUDGET_S:g}; "
                        f"inf: no budget). Unless --cell-timeout is given, a cell is killed after {TIMEOUT_PER_BUDGET} "
                        "budgets, and the same solver is not tried at larger sizes of that repetition")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="device of the torch solvers (default: auto = CUDA when available)")
    p.add_argument("--threads", type=int, default=None, help="BLAS and torch threads (default: all usable cores)")
    p.add_argument("--warmup", type=float, default=0.25, metavar="S", help="warm-up seconds per cell (default 0.25)")
    p.add_argument("--min-time", type=float, default=0.5, metavar="S", help="timed seconds per cell (default 0.5)")
    p.add_argument("--max-memory", type=float, default=None, metavar="GIB",
                   help=f"skip cells needing more (default: {100 * MEMORY_FRACTION:.0f}%% of the memory available at start, "
                        "the GPU's for torch solvers on CUDA)")
    p.add_argument("--fit-from", type=int, default=None, metavar="N",
                   help="fit slopes over sizes >= N (default: the larger half of each solver's sizes)")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="output folder (default: a new results/scaling-<date>-<time>)")
    p.add_argument("--replot", action="store_true",
                   help="do not measure: redo slopes, summary and figures from DIR's results (needs --out)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    options.add_arguments(p, resume_help="continue the scaling run in DIR: measure only its missing cells, with the "
                                         "grid, settings and memory limits it saved in DIR/run.json, then analyse "
                                         "all its rows (grid and clock options are then not allowed)")


# options that define the grid and its clock: --resume takes them from the run folder
GRID_OPTIONS = ("--n", "--solver", "--dtype", "--batch", "--device", "--threads", "--warmup", "--min-time",
                "--max-memory", "--out", "--repeats", "--cell-budget")


def check_arguments(args: argparse.Namespace) -> None:
    """UserError (one line) for options out of range or that exclude each other."""
    if args.batch is not None and args.batch < 1:
        raise UserError(f"--batch must be at least 1, got {args.batch}")
    options.check_threads(args)
    if any(n < 1 for n in args.n):
        raise UserError(f"--n sizes must be at least 1, got {min(args.n)}")
    if not args.warmup >= 0:
        raise UserError(f"--warmup must be at least 0 seconds, got {args.warmup:g}")
    if not args.min_time > 0:
        raise UserError(f"--min-time must be a positive number of seconds, got {args.min_time:g}")
    if args.max_memory is not None and not args.max_memory > 0:
        raise UserError(f"--max-memory must be positive, got {args.max_memory}")
    if args.repeats < 1:
        raise UserError(f"--repeats must be at least 1, got {args.repeats}")
    if not args.cell_budget > 0:
        raise UserError(f"--cell-budget must be a positive number of seconds (inf: no budget), got {args.cell_budget:g}")
    if args.replot and (args.resume is not None or args.cell_timeout is not None
                        or args.workers is not None or args.scheduler is not None):
        raise UserError("--replot measures nothing: drop --resume, --cell-timeout, --workers and --scheduler")
    if args.replot and args.out is None:
        raise UserError("--replot needs --out DIR, the scaling run folder to analyse again")
    options.check(args)


def _resumed(args: argparse.Namespace) -> tuple[list[Cell], dict]:
    """The cells and run_grid settings saved in the folder to resume (UserError if it is not a
    scaling run or if grid options are given again)."""
    p = argparse.ArgumentParser()
    add_arguments(p)
    defaults = vars(p.parse_args([]))
    dests = {flag: flag[2:].replace("-", "_") for flag in GRID_OPTIONS}
    given = [flag for flag, dest in dests.items() if getattr(args, dest) != defaults[dest]]
    if given:
        raise UserError(f"--resume reuses the grid and settings saved in {args.resume}/run.json; "
                        f"drop {', '.join(given)}")
    cells, grid = saved_grid(args.resume)
    if grid["hook"] != HOOK:
        raise UserError(f"cannot resume {str(args.resume)!r} with `matinv-bench scaling`: it is not a scaling run "
                        f"(made by `{grid['command']}`)")
    grid = {k: grid[k] for k in ("threads", "warmup_s", "min_run_s", "hook_args", "cell_timeout", "command",
                                 "fresh_process_per")}
    return cells, grid


def _measure(args: argparse.Namespace, out: Path, command: str) -> tuple[pd.DataFrame, str]:
    """Run the new or resumed sweep into ``out``; returns the rows and the command that made them."""
    with options.engine_kwargs(args) as engine:
        if args.resume is None:
            df = run_scaling(args.solver, sorted(set(args.n)), args.dtype, args.device, out, batch=args.batch,
                             threads=args.threads, warmup_s=args.warmup, min_run_s=args.min_time,
                             max_memory=int(args.max_memory * 2**30) if args.max_memory else None,
                             progress=not args.quiet, command=command, repeats=args.repeats,
                             cell_budget_s=args.cell_budget if np.isfinite(args.cell_budget) else None, **engine)
            return df, command
        cells, grid = _resumed(args)
        saved_timeout = grid.pop("cell_timeout")
        if engine["cell_timeout"] is None:  # the saved one unless given again
            engine["cell_timeout"] = saved_timeout
        df = run_grid(cells, out, progress=not args.quiet, title=TITLE, keep_times=True, hook=HOOK,
                      on_row=size_logger(out), **grid, **engine)
        return complete(df), grid["command"]


@experiment("scaling", "time, flops and memory of every solver against n (O(n^3) vs O(n^4))", add_arguments)
def run(args: argparse.Namespace) -> int:
    """``matinv-bench scaling``: measure (unless --replot; only the missing cells with --resume),
    then analyse every row and plot."""
    check_arguments(args)
    command = command_line(args)
    if args.replot:
        out = args.out
        manifest.check_writable(out, args.allow_dirty)  # replotting rewrites the summary and figures
        if not (out / "results.parquet").is_file():
            raise UserError(f"--replot: no results.parquet in {str(out)!r}")
        prev = out / "summary.md"
        if prev.is_file():  # keep the command that made the numbers
            m = re.search(r"Made by: `(.*)`", prev.read_text())
            command = m.group(1) if m else command
    else:
        out = args.resume or args.out or dated_folder("scaling")
        t0 = time.perf_counter()
        try:
            df, command = _measure(args, out, command)
        except KeyboardInterrupt:
            print(f"matinv-bench: to finish the run later: matinv-bench scaling --resume {shlex.quote(str(out))}",
                  file=sys.stderr)
            raise
        counts = df["status"].value_counts().to_dict()
        print(f"{len(df)} cells in {time.perf_counter() - t0:.0f} s: "
              + ", ".join(f"{counts.get(s, 0)} {s}" for s in results.STATUSES))
    slopes, cross = finish(out, command, args.fit_from)
    if len(slopes):
        print(slopes[["solver_label", "dtype", "device", "fit_range", "slope", "ci_lo", "ci_hi"]].to_string(index=False))
    print(f"wrote {out}/results.parquet, results.csv, slopes.csv, crossovers.csv, summary.md and figures "
          f"(one file per cell in {out}/cells)")
    if not args.replot:
        require_success(df)  # the summary says why; the exit status says that nothing ran
    return 0
