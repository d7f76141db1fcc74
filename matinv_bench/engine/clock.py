"""The one clock the CLI uses: warm-up, repeated blocks, median and IQR per matrix.

Measurement is delegated to ``torch.utils.benchmark.Timer.blocked_autorange``: it picks the
number of calls per block so that a block is long enough to time, and for CUDA solvers the
solver's ``sync`` runs inside the clock. For CPU solvers we hand it ``time.perf_counter`` so
that no torch call sits in a numpy solver's timed loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.utils.benchmark as tb

WARMUP_S = 0.25
MIN_RUN_S = 0.5


@dataclass
class Timing:
    """Seconds per call: median and interquartile range over blocks, and what was run."""

    median_s: float
    iqr_s: float
    n_blocks: int
    calls_per_block: int
    warmup_calls: int
    times: tuple[float, ...] = ()  # seconds per call of every block (for bootstrap intervals)


def measure(fn: Callable[[], object], *, sync: Callable[[], None] | None = None,
            warmup_s: float = WARMUP_S, min_run_s: float = MIN_RUN_S) -> Timing:
    """Time ``fn()`` after at least ``warmup_s`` seconds (and one call) of warm-up.

    ``sync`` (e.g. ``torch.cuda.synchronize``) is called after every call inside the clock.
    """
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
    times = np.asarray(m.times)
    q1, q3 = np.percentile(times, [25, 75])
    return Timing(float(np.median(times)), float(q3 - q1), len(times), int(m.number_per_run), warm,
                  tuple(times.tolist()))
