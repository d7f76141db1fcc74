"""The O(n^3) versus O(n^4) study: time, flops and memory of every solver against n.

For each solver spec, size n, dtype and repetition, one batch of ``spd-box[n=n]`` matrices
(SPD, well conditioned, a box around a known base: every solver accepts it) is one cell, with the
same lifecycle, metrics and clock as ``matinv-bench run``. The cell's batch is its test-set size;
``solver_label``, ``batch`` and ``repeat`` are tag columns.

The measurement protocol:

- every timing has at least 5 timed blocks, each calibrated to be long against the clock
  (:func:`matinv_bench.engine.clock.measure`);
- the sweep is repeated ``--repeats`` times (default 3), each repetition in a fresh process
  (``run_grid(fresh_process_per="repeat")``), and within a repetition the solvers take turns at
  each size (round robin, the first solver rotating with the repetition), so that drift of the
  machine hits every solver alike; slope intervals bootstrap over the repetitions;
- every solver gets the same batch at every n (:data:`BATCH`, or ``--batch B``): large enough that a
  dense layer is compute-bound (it reads its weights once per batch), so that an exponent measures
  the flops, not a batch that shrinks with n; a batch that does not fit in memory is a skipped
  cell with the bytes it needs; ``--batch 1`` is the latency view;
- the test matrices are scored by their residuals alone (no reference inverse: refining 64
  references at n = 512 takes minutes and this study times, it does not grade);
- a cell whose time, extrapolated from the same solver's previous size in the same repetition
  by the model flop ratio, exceeds ``--cell-budget`` is ``skipped`` with its estimate;
- every row says how loaded the machine was (the runner's ``loadavg_1m_before``/``_after``,
  ``other_cores_busy``, ``load_above_threads``).

:class:`ScalingHook`, run wherever the cell runs, adds what the scaling question needs:

- ``solver_label``: the spec as given, e.g. ``mlp-2fc[hidden=2n^2]`` (``K n^2`` is expanded
  per size, so one label follows the paper's width rule across n);
- ``peak_gflops`` / ``peak_fraction``: the achieved GFLOP/s against a matmul of the same
  library, dtype and device (:mod:`~matinv_bench.engine.probes`), measured right after the cell
  in the cell's process (``peak_probe``), so that the peak comes from the same minute as the time
  it divides;
- ``param_bytes`` (networks) and ``mem_need_bytes``; sizes that would not fit under the memory
  limit (``memory_limit_bytes``, fixed when the run starts) are ``skipped`` with the bytes they
  need, never attempted;
- ``peak_mem_bytes``: the process's peak RSS during the cell on CPU (reset before the cell's
  dataset is built), ``torch.cuda.max_memory_allocated`` on CUDA;
- ``h2d_s_per_matrix`` / ``d2h_s_per_matrix``: host-device copies of the batch, timed apart
  from the compute (torch solvers; about zero on CPU);
- ``times_per_matrix_s``: every timed block; ``ns_per_flop``: nanoseconds per model flop.

Afterwards the analysis (:mod:`matinv_bench.analysis.scaling`) fits the effective exponents and
the crossovers, and :mod:`matinv_bench.reporting.scaling` writes ``slopes.csv``,
``crossovers.csv``, ``summary.md`` and the figures beside the rows.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from matinv_bench import system
from matinv_bench.analysis.scaling import PER_CELL, SCALING_COLUMNS
from matinv_bench.engine import options
from matinv_bench.engine.clock import MIN_BLOCKS
from matinv_bench.engine.hooks import Hook
from matinv_bench.engine.probes import (
    MATMUL_N,
    PROBE_S,
    PROBE_WARMUP_S,
    matmul_peak,
    peak_memory,
    reset_peak_memory,
    transfer_times,
)
from matinv_bench.engine.runner import Cell, with_device
from matinv_bench.experiments import register
from matinv_bench.experiments.skeleton import Experiment
from matinv_bench.reporting import scaling as report
from matinv_bench.solvers import SOLVERS, Trainable
from matinv_bench.solvers._torch import resolve_device
from matinv_bench.specs import parse_spec

DEFAULT_N = (2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 256, 512, 1024)
DEFAULT_SOLVERS = (
    "closed-form",  # the fair baseline at n <= 4 (skips larger n)
    "lu", "numpy-inv", "cholesky", "qr", "gauss-jordan", "gauss-jordan[block=64]",
    "torch-inv", "gauss-jordan[backend=torch]", "gauss-jordan[backend=torch,block=64]",
    "neumann[order=3]", "newton-schulz[steps=40,init=scaled]",
    "minimax-ns[lower=1e-6,steps=16]",  # a bound given (estimating it costs SVDs of a train split at every n);
    # 16 steps from 1e-6 reach rounding level (12 do not)
    "mlp-2fc[hidden=2n^2,recipe=none]", "mlp-2fc[hidden=8n^2,recipe=none]",
    "mlp-3fc[hidden=2n^2,recipe=none]", "mlp-3fc[hidden=8n^2,recipe=none]",  # untrained: inference only
)


DATASET = "spd-box[n={n}]"
MEMORY_FRACTION = 0.4  # default limit: this share of the memory available at start (shared machines)
BATCH = 64  # default batch, every solver at every n: a dense layer reads its weights once per 64 matrices
REPEATS = 3  # independent repetitions of the sweep, each in a fresh process
CELL_BUDGET_S = 60.0  # default --cell-budget: skip a cell estimated to take longer
TIMEOUT_PER_BUDGET = 10  # default --cell-timeout: this many cell budgets (a backstop for a wrong estimate)
HOOK = f"{__name__}:ScalingHook"
_WIDTH = re.compile(r"(\d+)\s*n\^2")


def expand(spec: str, n: int) -> str:
    """Replace every ``K n^2`` in a spec by the number K * n * n (the paper's width rules)."""
    return _WIDTH.sub(lambda m: str(int(m.group(1)) * n * n), spec)


def _with_param(spec: str, key: str, value: str) -> str:
    """Add ``key=value`` to a spec that accepts it and does not set it."""
    name, params = parse_spec(spec)
    if key in params or key not in SOLVERS.parameters(name):
        return spec
    return f"{name}[{','.join([*(f'{k}={v}' for k, v in params.items()), f'{key}={value}'])}]"


DATA_STACKS = 6  # float64 stacks a scaling dataset holds: A, T, the (empty) reference, the SVD's working copies


def memory_need(solver, n: int, batch: int, itemsize: int) -> int:
    """Bytes a cell holds at once: a network's weights and activations, or a direct solver's
    input, copies and output (4 stacks), plus the dataset's float64 stacks (:data:`DATA_STACKS`:
    the study asks for no reference inverse, whose refinement would hold about 16)."""
    data = DATA_STACKS * batch * n * n * 8
    if isinstance(solver, Trainable):
        width = solver.width(n)
        act = batch * (2 * n * n + (solver.layers - 1) * width) * itemsize
        return int(solver.param_bytes(n) + 2 * act + data)
    return int(4 * batch * n * n * itemsize + data)


def plan(templates: list[str], ns: list[int], dtypes: list[str], device: str, repeats: int = 1) -> list[dict]:
    """Every cell in the order they run: label, expanded spec, n, dtype, library, repeat.

    Repetition by repetition, dtype by dtype, size by size; at each size every solver once,
    numpy solvers before torch solvers (see runner), each group in turn starting one solver
    later with every repetition (round robin), so that a drift of the machine during a size
    falls on all solvers alike. Unknown names and malformed specs raise SpecError."""
    info = {}
    for label in templates:
        for dtype in dtypes:
            for n in ns:
                spec = _with_param(with_device(expand(label, n), device), "dtype", dtype)
                solver = SOLVERS.build(spec)  # validates names and parameters now, not mid-run
                info[label, dtype, n] = {"label": label, "spec": spec, "n": n, "dtype": dtype,
                                         "library": solver.library, "family": solver.family}
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
    as the cell's test-set size (``batch`` or :data:`BATCH`, the same for every
    solver), ``solver_label``, ``batch`` and ``repeat`` as tag columns. The repetitions of a
    cell measure the same matrices."""
    cells = []
    for c in plan(templates, ns, dtypes, device, repeats):
        B = batch or BATCH
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


EVERY_COLUMN = dict.fromkeys(c for c in SCALING_COLUMNS if c not in ("solver_label", "batch", "repeat", "n"))


class ScalingHook(Hook):
    """The scaling columns of a cell (see the module docstring), wherever the cell runs.

    ``before``: a cell needing more memory than its limit, or one whose estimated time exceeds
    ``cell_budget_s``, is a ``skipped`` row (with ``mem_need_bytes``, ``param_bytes``,
    ``flops_per_matrix``, ``estimated_cell_s`` and the numbers in the reason) and its dataset is
    never built; otherwise the memory high-water mark is reset. ``after``: peak memory, matmul
    peak (probed right after the cell), host-device copies (torch solvers), ns per model flop, the
    bytes and the limit. The limits are :func:`memory_limits'` (a solver on CUDA uses the host's
    when the run started without a GPU).

    The estimate (:meth:`estimate`) extrapolates the same solver's largest size measured so far
    in the same repetition by the model flop ratio: this is the one thing a row depends on from
    other cells. The hook learns it from the cells it ran and from the run's cell files in
    ``rows/cells`` (every finished cell, also of a resumed run's earlier processes and of other
    workers); where it knows nothing (the first size) the cell runs. A solver that timed out at a
    smaller size in the same repetition is not tried again at a larger one.
    """

    def __init__(self, *, host_limit_bytes: int, host_total_bytes: int, gpu_limit_bytes: int | None = None,
                 gpu_total_bytes: int | None = None, matmul_n: int = MATMUL_N, probe_s: float = PROBE_S,
                 cell_budget_s: float | None = None, rows: str | None = None) -> None:
        super().__init__(host_limit_bytes=host_limit_bytes, host_total_bytes=host_total_bytes,
                         gpu_limit_bytes=gpu_limit_bytes, gpu_total_bytes=gpu_total_bytes, matmul_n=matmul_n,
                         probe_s=probe_s, cell_budget_s=cell_budget_s, rows=rows)
        self.host = (host_limit_bytes, host_total_bytes)
        self.gpu = self.host if gpu_limit_bytes is None else (gpu_limit_bytes, gpu_total_bytes)
        self.matmul_n, self.probe_s = matmul_n, probe_s
        self.cell_budget_s = cell_budget_s
        self.cells = Path(rows) / "cells" if rows else None
        # (solver label, dtype, repeat) -> (n, seconds per matrix, flops per matrix) of the largest size measured,
        # and -> the smallest size that timed out; the cell files already read
        self.measured: dict[tuple, tuple[int, float, float]] = {}
        self.timed_out: dict[tuple, int] = {}
        self.read: set[str] = set()

    def _bytes(self, cell: Cell, solver, n: int, batch: int) -> dict:
        limit, total = self.gpu if str(solver.device).startswith("cuda") else self.host
        return {"library": solver.library,
                "param_bytes": solver.param_bytes(n) if isinstance(solver, Trainable) else None,
                "mem_need_bytes": memory_need(solver, n, batch, np.dtype(cell.dtype).itemsize),
                "memory_limit_bytes": limit, "memory_total_bytes": total}

    @staticmethod
    def _key(cell: Cell) -> tuple:
        tags = dict(cell.tags)
        return (str(tags.get("solver_label", cell.solver)), cell.dtype, int(tags.get("repeat", 0)))

    def remember(self, key: tuple, n: int, seconds: float, flops: float) -> None:
        if key not in self.measured or self.measured[key][0] <= n:
            self.measured[key] = (int(n), float(seconds), float(flops))

    def _learn(self) -> None:
        """Read the run's cell files not read yet (a line cut short by a kill is skipped: the cell runs)."""
        if self.cells is None or not self.cells.is_dir():
            return
        for path in self.cells.glob("*.json"):
            if path.name in self.read:
                continue
            try:
                row = json.loads(path.read_text())["row"]
                key = (str(row["solver_label"]), str(row["dtype"]), int(row.get("repeat") or 0))
                n = int(row["n"]) if row.get("n") is not None else size_of(Cell(row["solver"], row["dataset"]))
            except (OSError, ValueError, KeyError, TypeError):
                continue
            self.read.add(path.name)
            if str(row.get("reason") or "").startswith("timed out"):
                self.timed_out[key] = min(n, self.timed_out.get(key, n))
            elif row.get("status") == "ok" and row.get("time_per_matrix_s"):
                self.remember(key, n, row["time_per_matrix_s"], row.get("flops_per_matrix") or 0)

    def estimate(self, cell: Cell, solver, n: int) -> tuple[float, str] | None:
        """Estimated seconds of the cell and how they were reckoned, or None without a smaller
        measured size: seconds per matrix there, times the model flop ratio (the n^3 ratio
        for a solver of zero flops), times the batch, times the calls a cell makes at least
        (one to score, one to warm up, ``MIN_BLOCKS`` timed blocks of at least one call)."""
        prev = self.measured.get(self._key(cell))
        if prev is None or prev[0] >= n:
            return None
        n0, seconds, flops0 = prev
        ratio = solver.flops(n) / flops0 if flops0 > 0 and solver.flops(n) > 0 else (n / n0) ** 3
        calls = MIN_BLOCKS + 2
        total = seconds * ratio * cell.n_test * calls
        return total, (f"{seconds:.3g} s per matrix at n = {n0}, times the model flop ratio {ratio:.3g}, times "
                       f"{cell.n_test} matrices and {calls} calls (scoring, warm-up, {MIN_BLOCKS} timed blocks)")

    def before(self, cell: Cell, solver) -> dict | None:
        """A skipped row's columns, or the columns every row of the run has (None until filled)."""
        n = size_of(cell)
        info = {**EVERY_COLUMN, **self._bytes(cell, solver, n, cell.n_test)}
        need, limit = info["mem_need_bytes"], info["memory_limit_bytes"]
        if need > limit:
            return {**info, "status": "skipped", "n": n, "flops_per_matrix": solver.flops(n),
                    "reason": f"needs about {need / 2**30:.2f} GiB ({need} bytes) for weights, batch and data; "
                              f"the limit is {limit / 2**30:.2f} GiB ({limit} bytes)"}
        self._learn()
        timed_out = self.timed_out.get(self._key(cell))
        if timed_out is not None and timed_out < n:
            return {**info, "status": "skipped", "n": n, "flops_per_matrix": solver.flops(n),
                    "reason": f"the same solver timed out at n = {timed_out} in this repetition (--cell-timeout); "
                              "larger sizes are not tried"}
        est = self.estimate(cell, solver, n) if self.cell_budget_s is not None else None
        if est is not None and est[0] > self.cell_budget_s:
            return {
                **info,
                "status": "skipped",
                "n": n,
                "flops_per_matrix": solver.flops(n),
                "estimated_cell_s": est[0],
                "reason": f"estimated {est[0]:.3g} s, over the cell budget of {self.cell_budget_s:g} s "
                f"(--cell-budget): {est[1]}",
            }
        reset_peak_memory(solver.device)
        return info

    def after(self, cell: Cell, solver, data, result, row: dict) -> dict:
        peak_mem, kind = peak_memory(solver.device)  # first: the probes below allocate
        peak = matmul_peak(solver.library, cell.dtype, solver.device, self.matmul_n, min_run_s=self.probe_s,
                           warmup_s=min(PROBE_WARMUP_S, self.probe_s / 2))
        extra = {**self._bytes(cell, solver, data.n, len(data)), "peak_mem_bytes": peak_mem, "peak_mem_kind": kind,
                 "peak_gflops": peak, "peak_probe": PER_CELL,
                 "peak_fraction": row["gflops"] / peak if row.get("gflops") else None}
        t, flops = row.get("time_per_matrix_s"), row.get("flops_per_matrix") or 0
        if t:
            extra["ns_per_flop"] = t / flops * 1e9 if flops > 0 else None
            self.remember(self._key(cell), data.n, t, flops)
        if solver.library == "torch":
            extra.update(transfer_times(data.A.astype(cell.dtype), solver.device))
        return extra


PROTOCOL = report.Protocol(DATASET, f"{BATCH} for every cell", MATMUL_N, PROBE_S, MIN_BLOCKS)


class Scaling(Experiment):
    name = "scaling"
    order = 40
    help = "time, flops and memory of every solver against n (O(n^3) vs O(n^4))"
    title = "matinv-bench scaling"
    top_level = True
    shared = {"solver": list(DEFAULT_SOLVERS), "dtype": ..., "device": ..., "threads": ..., "warmup": ...,
              "min_time": ...}
    helps = {"solver": "solver specs; 'K n^2' in a spec is K*n*n at each size, e.g. 'mlp-2fc[hidden=2n^2]' "
                       "(default: the classical solvers, neumann, newton-schulz, minimax-ns and four networks)"}
    hook = HOOK

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        p.add_argument("--n", nargs="+", type=int, default=list(DEFAULT_N), metavar="N",
                       help=f"matrix sizes (default: {' '.join(map(str, DEFAULT_N))})")
        p.add_argument("--batch", type=int, default=None, metavar="B",
                       help=f"matrices per batch, the same for every solver at every n (default: {BATCH}: a dense "
                            "layer is compute-bound; 1: every solver at latency)")
        p.add_argument("--repeats", type=int, default=REPEATS, metavar="R",
                       help=f"independent repetitions of the sweep, each in a fresh process; slope intervals "
                            f"bootstrap over them (default {REPEATS})")
        p.add_argument("--cell-budget", type=float, default=CELL_BUDGET_S, metavar="S",
                       help="skip a cell whose time, extrapolated from the same solver's previous size by the model "
                            f"flop ratio, exceeds S seconds; the reason gives the estimate (default {CELL_BUDGET_S:g}; "
                            f"inf: no budget). Unless --cell-timeout is given, a cell is killed after "
                            f"{TIMEOUT_PER_BUDGET} budgets, and the same solver is not tried at larger sizes of that "
                            "repetition")
        p.add_argument("--max-memory", type=float, default=None, metavar="GIB",
                       help=f"skip cells needing more (default: {100 * MEMORY_FRACTION:.0f}%% of the memory available "
                            "at start, the GPU's for torch solvers on CUDA)")
        p.add_argument("--fit-from", type=int, default=None, metavar="N",
                       help="fit slopes over sizes >= N (default: the larger half of each solver's sizes)")
        p.add_argument("--in-process", action="store_true", help=argparse.SUPPRESS)  # tests: no fresh processes

    def check(self, args: argparse.Namespace) -> None:
        options.require_at_least("--n", args.n, 1)
        options.require_at_least("--repeats", args.repeats, 1)
        options.require_positive("--cell-budget", args.cell_budget)
        for flag in ("--batch", "--max-memory"):
            value = getattr(args, flag[2:].replace("-", "_"))
            if value is not None:
                options.require_positive(flag, value)

    def cells(self, args: argparse.Namespace) -> list[Cell]:
        return make_cells(args.solver, sorted(set(args.n)), args.dtype, args.device, args.batch, args.repeats)

    def settings(self, args: argparse.Namespace) -> dict:
        budget = options.finite_or_none(args.cell_budget)
        fresh = not args.in_process
        timeout = args.cell_timeout or (TIMEOUT_PER_BUDGET * budget if fresh and budget is not None else None)
        return {"keep_times": True, "fresh_process_per": "repeat" if fresh else None, "cell_timeout": timeout,
                "ref": "none"}

    def hook_args(self, args: argparse.Namespace, rows: Path) -> dict:
        limits = memory_limits(args.device, int(args.max_memory * 2**30) if args.max_memory else None)
        return {**limits, "matmul_n": MATMUL_N, "probe_s": PROBE_S,
                "cell_budget_s": options.finite_or_none(args.cell_budget),
                "rows": str(rows)}

    def write(self, df: pd.DataFrame, out: Path, args: argparse.Namespace, command: str) -> list[Path]:
        return report.finish(out, command, PROTOCOL, args.fit_from, df=df)

    def replot(self, out: Path, command: str) -> list[Path]:
        return report.finish(out, command, PROTOCOL)


register(Scaling())
