"""Time the phases of the ``qr`` solver (geqrf, orgqr, trtrs) one by one, with 1 and 2 BLAS threads.

    python bench/scripts/qr_phases.py [--n 64 96] [--batch 4] [--repeats 3]

The ``qr`` solver is ``numpy.linalg.qr`` (geqrf, then orgqr, in numpy's OpenBLAS) followed by
``scipy.linalg.solve(R, Q^T, assume_a="upper triangular")`` (trtrs, in scipy's OpenBLAS). Each
phase is timed apart, per matrix, on the scaling study's data (``spd-box[n=N]``), with every BLAS
pinned to 1 and then 2 threads (threadpoolctl), by the package's clock
(:func:`matinv_bench.engine.clock.measure`): geqrf is ``qr(mode="raw")``, geqrf + orgqr is
``qr(mode="reduced")`` (orgqr alone is not reachable in numpy's OpenBLAS). ``helper``: the CPU time of the
process's other threads (the BLAS
worker threads, from /proc/self/task/*/schedstat) per second of the main thread's, while the
phase ran with 2 threads: about 0 when the phase never handed work to a second thread. The
whole table is measured ``--repeats`` times; the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import scipy.linalg as sla
from threadpoolctl import threadpool_limits

from matinv_bench.datasets import make_dataset
from matinv_bench.engine.clock import measure


def _thread_cpu_ns() -> tuple[int, int]:
    """(main thread, all other threads) CPU nanoseconds of this process so far (Linux)."""
    main = other = 0
    for task in Path("/proc/self/task").iterdir():
        try:
            ns = int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        if int(task.name) == os.getpid():
            main += ns
        else:
            other += ns
    return main, other


def _time(fn, n_matrices: int, min_run_s: float) -> tuple[float, float]:
    """Microseconds per matrix (median block) and the helper threads' CPU share during the timing."""
    m0, o0 = _thread_cpu_ns()
    t = measure(fn, warmup_s=0.05, min_run_s=min_run_s)
    m1, o1 = _thread_cpu_ns()
    return t.median_s / n_matrices * 1e6, (o1 - o0) / max(m1 - m0, 1)


def phases(A: np.ndarray, min_run_s: float) -> dict[str, tuple[float, float]]:
    """Per phase of the qr solver on the stack ``A`` (geqrf, geqrf + orgqr, trtrs): microseconds per
    matrix and helper CPU share."""
    Q, R = np.linalg.qr(A)
    QT = Q.swapaxes(1, 2).copy()
    geqrf = _time(lambda: np.linalg.qr(A, mode="raw"), len(A), min_run_s)
    both = _time(lambda: np.linalg.qr(A), len(A), min_run_s)
    trtrs = _time(lambda: sla.solve(R, QT, assume_a="upper triangular", check_finite=False), len(A), min_run_s)
    return {"geqrf": geqrf, "geqrf+orgqr": both, "trtrs": trtrs}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", nargs="+", type=int, default=[64, 96])
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--min-time", type=float, default=0.2)
    args = p.parse_args()
    print(f"load average (1 min) before: {os.getloadavg()[0]:.2f}")
    for r in range(args.repeats):
        for n in args.n:
            A = make_dataset(f"spd-box[n={n}]", n_test=args.batch, seed=0).A
            for threads in (1, 2):
                with threadpool_limits(limits=threads):
                    res = phases(A, args.min_time)
                cols = ", ".join(f"{k} {us:9.1f} us (helper {h:4.2f})" for k, (us, h) in res.items())
                print(f"repeat {r} n={n:4d} threads={threads}: {cols}")
    print(f"load average (1 min) after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
