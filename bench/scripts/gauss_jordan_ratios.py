"""Blocked Gauss-Jordan against LU and the matmul peak, in one process on one machine.

    python bench/scripts/gauss_jordan_ratios.py [--n 1024] [--blocks 0 16 32 64 1024] [--threads T]
                                                [--repeats 3] [--clock wall|cpu]

For each repeat, in this order: the matmul peak (an n x n float64 product, numpy), ``lu``
(scipy.linalg.inv) and ``gauss-jordan[block=b]`` for every b, each timed by the package's clock
(:func:`matinv_bench.engine.clock.measure`: median of at least 5 blocks) on one ``spd-box[n=N]``
matrix with every BLAS pinned to ``--threads`` (default: all usable cores). Prints, per repeat,
seconds, the ratio to ``lu`` and the share of the matmul peak (2 n^3 model flops), then the
spread (min, median, max over repeats) of each ratio. ``--clock cpu`` times with the process's
CPU time instead of wall time (with one thread: the time the process ran, whatever else ran on
the machine); the load average (1 min) is printed with every repeat.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import scipy.linalg as sla

from matinv_bench.datasets import make_dataset
from matinv_bench.engine import clock
from matinv_bench.solvers import SOLVERS
from matinv_bench.system import default_threads, pinned_threads


def _timer(kind: str):
    return time.perf_counter if kind == "wall" else time.process_time


def seconds(fn, kind: str) -> float:
    """Median seconds per call of ``fn`` (at least 5 timed blocks)."""
    if kind == "wall":
        return clock.measure(fn, warmup_s=0.1, min_run_s=0.5).median_s
    times = []
    fn()
    for _ in range(7):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return float(np.median(times))


def one_repeat(n: int, blocks: list[int], kind: str) -> dict[str, float]:
    A = make_dataset(f"spd-box[n={n}]", n_test=1, seed=0).A
    a, b = A[0].copy(), A[0].copy()
    out = {"matmul": seconds(lambda: a @ b, kind), "lu": seconds(lambda: sla.inv(A, check_finite=False), kind)}
    for block in blocks:
        solver = SOLVERS.build(f"gauss-jordan[block={block}]")
        solver.prepare(A)
        out[f"block={block}"] = seconds(solver.invert, kind)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1024)
    p.add_argument("--blocks", nargs="+", type=int, default=[0, 16, 32, 64, 1024])
    p.add_argument("--threads", type=int, default=default_threads())
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    args = p.parse_args()
    flops = 2.0 * args.n**3
    rows = []
    with pinned_threads(args.threads):
        for r in range(args.repeats):
            before = os.getloadavg()[0]
            t = one_repeat(args.n, args.blocks, args.clock)
            peak = flops / t["matmul"]
            print(f"repeat {r}: load {before:.2f} -> {os.getloadavg()[0]:.2f}; matmul {peak / 1e9:.1f} GFLOP/s, "
                  f"lu {t['lu']:.4f} s ({100 * flops / t['lu'] / peak:.0f}% of peak)")
            for name, s in t.items():
                if name.startswith("block="):
                    ratio, share = s / t["lu"], flops / s / peak
                    rows.append((name, ratio, share))
                    print(
                        f"  gauss-jordan[{name}]: {s:.4f} s = {ratio:.2f} x lu, {100 * share:.0f}% of the matmul peak"
                    )
    print(f"spread over {args.repeats} repeats (n={args.n}, {args.threads} threads, {args.clock} clock): "
          "min / median / max")
    for name in dict.fromkeys(r[0] for r in rows):
        ratios = np.array([r[1] for r in rows if r[0] == name])
        shares = 100 * np.array([r[2] for r in rows if r[0] == name])
        print(f"  gauss-jordan[{name}]: x lu {ratios.min():.2f} / {np.median(ratios):.2f} / {ratios.max():.2f}; "
              f"% of peak {shares.min():.0f} / {np.median(shares):.0f} / {shares.max():.0f}")


if __name__ == "__main__":
    main()
