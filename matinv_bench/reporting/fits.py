"""Power laws fitted to timings: log-log slopes with bootstrap intervals, and crossovers.

Pure functions over numbers (no I/O), used by the scaling study and its plots.

- :func:`fit_slope`: least squares of log t on log n over the asymptotic range (the largest
  sizes), with a percentile bootstrap interval. Repeats are resampled within each n (the timed
  blocks of one measurement), so the interval reflects timing noise at every size; with a
  single repeat per size, the sizes themselves are resampled instead.
- :func:`crossover`: the size from which one method stays slower than another, interpolated
  between the two measured sizes that bracket it, in log-log coordinates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MIN_POINTS = 3


@dataclass(frozen=True)
class SlopeFit:
    """t ~ C n^slope over ``n_lo..n_hi`` (``n_points`` sizes); ``lo``/``hi``: the interval."""

    slope: float
    lo: float
    hi: float
    log_c: float
    n_lo: int
    n_hi: int
    n_points: int

    def predict(self, n) -> np.ndarray:
        return np.exp(self.log_c) * np.asarray(n, dtype=float) ** self.slope

    def label(self) -> str:
        return f"n^{self.slope:.2f} [{self.lo:.2f}, {self.hi:.2f}]"


def _ols(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    slope, intercept = np.polyfit(x, y, 1)
    return float(slope), float(intercept)


def asymptotic_sizes(ns: Sequence[int], n_min: int | None = None, min_points: int = MIN_POINTS) -> np.ndarray:
    """The sizes a slope is fitted over: those >= ``n_min``, by default the larger half of the
    distinct sizes (at least ``min_points``, where that many exist)."""
    ns = np.unique(np.asarray(ns, dtype=int))
    if n_min is not None:
        return ns[ns >= n_min]
    keep = max(min_points, (len(ns) + 1) // 2)
    return ns[-keep:]


def fit_slope(n: Sequence[float], t: Sequence[Sequence[float]] | Sequence[float], *, n_min: int | None = None,
              n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> SlopeFit | None:
    """Fit t ~ C n^slope over the asymptotic range.

    ``n``: sizes (one per measurement); ``t``: per size, either one time or the repeated times
    of that measurement (they are summarised by their median, as the timings are). Returns None
    when fewer than ``MIN_POINTS`` sizes with positive finite times are in range.
    """
    groups: dict[int, list[float]] = {}
    for ni, ti in zip(n, t):
        vals = np.atleast_1d(np.asarray(ti, dtype=float))
        vals = vals[np.isfinite(vals) & (vals > 0)]
        if len(vals):
            groups.setdefault(int(ni), []).extend(vals.tolist())
    sizes = asymptotic_sizes(list(groups), n_min)
    if len(sizes) < MIN_POINTS:
        return None
    reps = [np.asarray(groups[s]) for s in sizes]
    x = np.log(sizes.astype(float))
    slope, log_c = _ols(x, np.log([np.median(r) for r in reps]))

    rng = np.random.default_rng(seed)
    boot = np.empty(n_boot)
    if all(len(r) > 1 for r in reps):
        for i in range(n_boot):
            y = [np.median(r[rng.integers(0, len(r), len(r))]) for r in reps]
            boot[i] = _ols(x, np.log(y))[0]
    else:
        y = np.log([np.median(r) for r in reps])
        i = 0
        while i < n_boot:
            idx = rng.integers(0, len(x), len(x))
            if len(np.unique(idx)) < 2:
                continue  # a resample of one size has no slope
            boot[i] = _ols(x[idx], y[idx])[0]
            i += 1
    alpha = (1 - level) / 2
    lo, hi = np.quantile(boot, [alpha, 1 - alpha])
    return SlopeFit(slope, float(lo), float(hi), log_c, int(sizes[0]), int(sizes[-1]), len(sizes))


@dataclass(frozen=True)
class Crossover:
    """Where method a becomes slower than method b.

    ``kind``: ``"crosses"`` (``n`` is the interpolated size from which a stays slower),
    ``"always"`` (a is slower at every common size), ``"never"`` (a is not slower at the
    largest common size) or ``"no data"``.
    """

    kind: str
    n: float | None = None

    def text(self) -> str:
        if self.kind == "crosses":
            return f"{self.n:.3g}"
        return {"always": "all n", "never": "none", "no data": "n/a"}[self.kind]


def crossover(n: Sequence[float], t_a: Sequence[float], t_b: Sequence[float]) -> Crossover:
    """The smallest size from which ``t_a > t_b`` holds at every larger common size.

    Sizes where either time is missing (NaN) are ignored. Between the last size where a was
    not slower and the next, the crossing is interpolated linearly in log n vs log(t_a / t_b).
    """
    n, a, b = (np.asarray(v, dtype=float) for v in (n, t_a, t_b))
    ok = np.isfinite(n) & np.isfinite(a) & np.isfinite(b) & (a > 0) & (b > 0)
    if not ok.any():
        return Crossover("no data")
    order = np.argsort(n[ok])
    n, r = n[ok][order], np.log(a[ok][order] / b[ok][order])
    slower = r > 0
    if not slower[-1]:
        return Crossover("never")
    if slower.all():
        return Crossover("always")
    i = int(np.flatnonzero(~slower)[-1])  # last size where a was not slower
    x0, x1 = np.log(n[i]), np.log(n[i + 1])
    frac = -r[i] / (r[i + 1] - r[i])
    return Crossover("crosses", float(np.exp(x0 + frac * (x1 - x0))))
