"""Measurements taken beside a cell: the machine's matmul peak, host-device copies, and the
process's memory high-water mark.

- :func:`matmul_peak`: GFLOP/s of an n x n matmul in numpy or torch, timed by the same clock as
  the cells, so that a row's GFLOP/s can be read as a share of what the machine does at best in
  the same minute;
- :func:`transfer_times`: seconds per matrix to copy a batch to the device and back;
- :func:`reset_peak_memory` and :func:`peak_memory`: the peak resident memory of this process
  (Linux's VmHWM, reset through ``/proc/self/clear_refs``), or CUDA's peak allocation.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import psutil
import torch

from matinv_bench.engine.clock import measure

MATMUL_N = 1024  # size of the peak-matmul probe
PROBE_S = 0.1  # seconds of matmul timed by a probe (after PROBE_WARMUP_S of warm-up)
PROBE_WARMUP_S = 0.05


def matmul_peak(library: str, dtype: str, device: str, n: int | None = None, min_run_s: float = PROBE_S,
                warmup_s: float = PROBE_WARMUP_S) -> float:
    """GFLOP/s of an n x n matmul (default :data:`MATMUL_N`) in ``library`` ("numpy" or "torch")."""
    n = n or MATMUL_N
    a, b = _probe_operands(library, dtype, device, n)
    sync = (lambda: torch.cuda.synchronize(device)) if library == "torch" and device.startswith("cuda") else None
    t = measure(lambda: a @ b, sync=sync, warmup_s=warmup_s, min_run_s=min_run_s)
    return 2.0 * n**3 / t.median_s / 1e9


@functools.lru_cache(maxsize=4)
def _probe_operands(library: str, dtype: str, device: str, n: int) -> tuple:
    """The probe's two n x n operands, drawn once per process (a probe may run after every cell)."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n)).astype(dtype) for _ in range(2))
    if library == "torch":
        return tuple(torch.from_numpy(x).to(device) for x in (a, b))
    return a, b


def transfer_times(A: np.ndarray, device: str) -> dict:
    """Seconds per matrix to copy the batch host -> device and back (timed apart from compute):
    ``h2d_s_per_matrix`` and ``d2h_s_per_matrix``."""
    sync = (lambda: torch.cuda.synchronize(device)) if device.startswith("cuda") else None
    on_dev = torch.from_numpy(A).to(device)
    h2d = measure(lambda: torch.from_numpy(A).to(device), sync=sync, warmup_s=0.02, min_run_s=0.05)
    d2h = measure(lambda: on_dev.to("cpu"), sync=sync, warmup_s=0.02, min_run_s=0.05)
    return {"h2d_s_per_matrix": h2d.median_s / len(A), "d2h_s_per_matrix": d2h.median_s / len(A)}


def reset_peak_memory(device: str) -> None:
    """Start a new high-water mark: CUDA's peak allocation, or this process's peak RSS (Linux)."""
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats(device)
        return
    try:  # Linux: "5" resets the peak RSS (VmHWM) of this process
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def peak_memory(device: str) -> tuple[int, str]:
    """Bytes at the high-water mark since :func:`reset_peak_memory`, and what they measure:
    ``cuda_max_allocated``, ``peak_rss``, or ``rss_after`` where the peak cannot be read."""
    if device.startswith("cuda"):
        return int(torch.cuda.max_memory_allocated(device)), "cuda_max_allocated"
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024, "peak_rss"
    except OSError:
        pass
    return int(psutil.Process().memory_info().rss), "rss_after"
