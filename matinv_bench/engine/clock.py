"""The one clock the CLI uses: warm-up, repeated blocks, median and IQR per matrix.

:func:`measure` delegates to ``torch.utils.benchmark.Timer.blocked_autorange``: it picks the
number of calls per block so that a block is long enough to time (the timer's own overhead at
most 1e-4 of a block, and a block at least a thousandth of ``min_run_s``), and for CUDA solvers
the solver's ``sync`` runs inside the clock. For CPU solvers we hand it ``time.perf_counter`` so
that no torch call sits in a numpy solver's timed loop. A call longer than ``min_run_s / 5``
would leave fewer than five blocks, too few for a median and an interquartile range: blocks of
the same calibrated size are then added until there are ``min_blocks`` (default
:data:`MIN_BLOCKS`), so every timing has at least that many.

:func:`measure_cuda` times work on a GPU as ``triton.testing.do_bench`` does: CUDA events
around every call, one synchronisation at the end, the L2 cache flushed before every call
(``cold``) or not (``warm``). It follows do_bench rather than calling it for three reasons:
do_bench always flushes (there is no warm mode to state), it sizes its repetitions as
``rep / estimate`` with a minimum of one, where the protocol needs at least :data:`MIN_BLOCKS`,
and triton comes only with CUDA builds of torch, so CI (CPU) could not run the code path at all.
A CUDA test checks that both clocks agree on the same kernel. :func:`device_description` gives the
columns that say which GPU,
driver and clocks a CUDA row was measured with.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.utils.benchmark as tb

WARMUP_S = 0.25
MIN_RUN_S = 0.5
MIN_BLOCKS = 5  # timed blocks per timing at least, however long a call takes


@dataclass
class Timing:
    """Seconds per call: median and interquartile range over blocks, and what was run."""

    median_s: float
    iqr_s: float
    n_blocks: int
    calls_per_block: int
    warmup_calls: int
    times: tuple[float, ...] = ()  # seconds per call of every block (for bootstrap intervals)
    clock: str = "perf_counter"  # or "cuda_events" (measure_cuda)
    cache: str = "warm"  # "cold": the GPU's L2 cache was flushed before every timed call


def summarize(times: Sequence[float]) -> tuple[float, float]:
    """The median and the interquartile range (numpy's linear quantiles) of ``times``."""
    t = np.asarray(times, dtype=np.float64)
    if t.size == 0 or not np.isfinite(t).all():
        raise ValueError(f"cannot summarise {t.size} times that are not all finite")
    q1, med, q3 = np.percentile(t, [25, 50, 75])
    return float(med), float(q3 - q1)


def measure(fn: Callable[[], object], *, sync: Callable[[], None] | None = None,
            warmup_s: float = WARMUP_S, min_run_s: float = MIN_RUN_S, min_blocks: int = MIN_BLOCKS) -> Timing:
    """Time ``fn()`` after at least ``warmup_s`` seconds (and one call) of warm-up: blocks of
    calls for at least ``min_run_s`` seconds and at least ``min_blocks`` blocks, every block of
    the size ``blocked_autorange`` calibrated.

    ``sync`` (e.g. ``torch.cuda.synchronize``) is called after every call inside the clock.
    """
    if min_blocks < 1:
        raise ValueError(f"min_blocks must be at least 1, got {min_blocks!r}")
    def call():
        fn()
        if sync is not None:
            sync()

    warm, start = 0, time.perf_counter()
    while warm == 0 or time.perf_counter() - start < warmup_s:
        call()
        warm += 1
    timer = tb.Timer(stmt="call()", globals={"call": call}, num_threads=torch.get_num_threads(),
                     timer=time.perf_counter)
    m = timer.blocked_autorange(min_run_time=min_run_s)
    number = int(m.number_per_run)
    times = list(m.times)
    while len(times) < min_blocks:  # long calls: more blocks of the calibrated size
        times.extend(timer.timeit(number).times)
    times = np.asarray(times)
    median, iqr = summarize(times)
    return Timing(median, iqr, len(times), number, warm, tuple(times.tolist()))


# ----------------------------------------------------------------------------- CUDA

FLUSH_FALLBACK_BYTES = 256 * 2**20  # triton's flush buffer, when the device does not say its L2 size
MAX_REPS = 10_000  # timed calls at most (a few-microsecond call would otherwise get 100,000 events)


def flush_bytes(props) -> int:
    """Bytes zeroed to flush the L2 cache: twice its size (its replacement is not strict LRU,
    so a buffer of exactly its size may leave lines behind), else ``FLUSH_FALLBACK_BYTES``."""
    l2 = int(getattr(props, "L2_cache_size", 0) or 0)
    return 2 * l2 if l2 > 0 else FLUSH_FALLBACK_BYTES


_FLUSH: dict[int, torch.Tensor] = {}


def _flush_buffer(device: torch.device) -> torch.Tensor:
    """The device's flush buffer, allocated once per process."""
    index = device.index if device.index is not None else torch.cuda.current_device()
    if index not in _FLUSH:
        nbytes = flush_bytes(torch.cuda.get_device_properties(index))
        _FLUSH[index] = torch.empty(nbytes, dtype=torch.int8, device=torch.device("cuda", index))
    return _FLUSH[index]


def _cuda_device(device) -> torch.device:
    if not torch.cuda.is_available():
        raise RuntimeError("measure_cuda and device_description time CUDA work, but torch.cuda.is_available() is "
                           "False here (no GPU, or a CPU-only torch)")
    dev = torch.device("cuda") if device is None else torch.device(device)
    if dev.type != "cuda":
        raise ValueError(f"measure_cuda times CUDA work; got device {str(dev)!r}")
    return dev if dev.index is not None else torch.device("cuda", torch.cuda.current_device())


def measure_cuda(fn: Callable[[], object], *, device=None, warmup_s: float = WARMUP_S,
                 min_run_s: float = MIN_RUN_S, flush: bool = True, max_reps: int = MAX_REPS,
                 min_blocks: int = MIN_BLOCKS) -> Timing:
    """Time ``fn()``, which queues work on ``device``'s current stream, as triton's ``do_bench``:
    one call, then 5 calls to estimate its time; from that, enough untimed calls for
    ``warmup_s`` and enough timed calls for ``min_run_s`` (at most ``max_reps``, at least
    ``min_blocks``); before every
    timed call the flush buffer is zeroed (``flush``: the cache is ``cold``; else ``warm``),
    then start and end events are recorded around the call; one synchronisation at the end.
    Seconds per call come from the event pairs (GPU time, including any idle gap while the host
    launches). RuntimeError when CUDA is not available.
    """
    dev = _cuda_device(device)
    with torch.cuda.device(dev):
        fn()
        torch.cuda.synchronize()
        buffer = _flush_buffer(dev) if flush else None

        def clear():
            if buffer is not None:
                buffer.zero_()

        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(5):
            clear()
            fn()
        end.record()
        torch.cuda.synchronize()
        estimate_s = max(start.elapsed_time(end) / 1e3 / 5, 1e-7)
        n_warmup = max(1, int(warmup_s / estimate_s))
        n_repeat = max(int(min_blocks), min(int(max_reps), int(min_run_s / estimate_s)))
        for _ in range(n_warmup):
            fn()
        starts = [torch.cuda.Event(enable_timing=True) for _ in range(n_repeat)]
        ends = [torch.cuda.Event(enable_timing=True) for _ in range(n_repeat)]
        for s, e in zip(starts, ends):
            clear()
            s.record()
            fn()
            e.record()
        torch.cuda.synchronize()
    times = [s.elapsed_time(e) / 1e3 for s, e in zip(starts, ends)]  # elapsed_time is in milliseconds
    median, iqr = summarize(times)
    return Timing(median, iqr, n_repeat, 1, 1 + 5 + n_warmup, tuple(times), clock="cuda_events",
                  cache="cold" if flush else "warm")


SMI_QUERY = "driver_version,clocks.sm,clocks.max.sm"


def parse_nvidia_smi(line: str) -> dict:
    """``nvidia-smi --query-gpu=driver_version,clocks.sm,clocks.max.sm --format=csv,noheader``'s
    line (``"550.54.15, 1980 MHz, 1980 MHz"``) as driver version and clocks in MHz (None where
    it prints no number, such as ``[N/A]``)."""
    parts = [p.strip() for p in line.strip().split(",")]
    if len(parts) != 3:
        return {"gpu_driver_version": "", "gpu_sm_clock_mhz": None, "gpu_sm_clock_max_mhz": None}

    def mhz(text: str) -> int | None:
        number = text.removesuffix("MHz").strip()
        return int(number) if number.isdigit() else None

    return {"gpu_driver_version": parts[0], "gpu_sm_clock_mhz": mhz(parts[1]), "gpu_sm_clock_max_mhz": mhz(parts[2])}


def _nvidia_smi(gpu_id: str) -> str:
    """nvidia-smi's answer for one GPU, or "" where there is no nvidia-smi or it fails."""
    try:
        out = subprocess.run(["nvidia-smi", f"--query-gpu={SMI_QUERY}", "--format=csv,noheader", "-i", gpu_id],
                             capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.strip().splitlines()[0] if out.strip() else ""


def device_description(device) -> dict:
    """Columns naming the GPU a CUDA row was measured on: model, compute capability, SMs,
    memory, L2 size, the CUDA version torch was built with, and (from nvidia-smi, where it
    runs) the driver version and the current and maximum SM clocks. {} for a CPU device;
    RuntimeError for a CUDA device when CUDA is not available."""
    if torch.device(device).type != "cuda":
        return {}
    dev = _cuda_device(device)
    props = torch.cuda.get_device_properties(dev)
    uuid = str(getattr(props, "uuid", "") or "")
    gpu_id = (uuid if uuid.startswith(("GPU-", "MIG-")) else f"GPU-{uuid}") if uuid else str(dev.index)
    return {
        "gpu_name": props.name,
        "gpu_compute_capability": f"{props.major}.{props.minor}",
        "gpu_sm_count": props.multi_processor_count,
        "gpu_memory_bytes": props.total_memory,
        "gpu_l2_cache_bytes": getattr(props, "L2_cache_size", None),
        "cuda_version": torch.version.cuda or "",
        **parse_nvidia_smi(_nvidia_smi(gpu_id)),
    }
