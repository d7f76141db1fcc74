"""Power laws fitted to timings: log-log slopes with bootstrap intervals, and crossovers.

Pure functions over numbers (no I/O), used by the scaling study and its plots.

- :func:`fit_slope`: least squares of log t on log n over a range of sizes (by default the
  asymptotic range, the largest sizes). Each size has a sample of timings: the medians of its
  independent repetitions (runs in separate processes), or, for a single run, its timed
  blocks. The point estimate fits the median of each size's sample; the interval is
  ``scipy.stats.bootstrap``'s percentile interval, resampling each size's sample on its own.
  What was resampled is the caller's to say and is recorded in :attr:`SlopeFit.ci_method`;
  a size with a single timing gives no interval (NaN), never a different scheme.
- :func:`crossover`: the size from which one method stays slower than another, interpolated
  between the two measured sizes that bracket it, in log-log coordinates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

MIN_POINTS = 3
N_RESAMPLES = 9999
BOOTSTRAP = "scipy.stats.bootstrap percentile, {n} resamples of {what} within each size"


@dataclass(frozen=True)
class SlopeFit:
    """t ~ C n^slope over ``n_lo..n_hi`` (``n_points`` sizes); ``lo``/``hi``: the interval
    (NaN when a size had a single timing), ``ci_method``: how it was obtained."""

    slope: float
    lo: float
    hi: float
    log_c: float
    n_lo: int
    n_hi: int
    n_points: int
    ci_method: str = ""
    min_sample: int = 0  # the fewest timings any fitted size had

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


def _slope_of_medians(x: np.ndarray):
    """The bootstrap statistic: OLS slope of log(median of each sample) on ``x`` = log n,
    vectorised over the resamples (the last axis of every sample)."""
    xc = x - x.mean()

    def statistic(*samples, axis=-1):
        y = np.log(np.stack([np.median(s, axis=axis) for s in samples], axis=-1))
        return ((y - y.mean(axis=-1, keepdims=True)) * xc).sum(axis=-1) / (xc * xc).sum()

    return statistic


def fit_slope(n: Sequence[float], t: Sequence[Sequence[float]] | Sequence[float], *, n_min: int | None = None,
              sizes: Sequence[int] | None = None, what: str = "the timings", n_resamples: int = N_RESAMPLES,
              level: float = 0.95, seed: int = 0) -> SlopeFit | None:
    """Fit t ~ C n^slope over ``sizes`` (default: :func:`asymptotic_sizes` of the measured ones,
    from ``n_min``).

    ``n``: sizes, one per measurement; ``t``: per measurement one time or a sequence of times;
    the times of equal sizes are pooled into that size's sample. ``what`` names a sample's
    items for :attr:`SlopeFit.ci_method` (e.g. "repetition medians"). Returns None when fewer
    than ``MIN_POINTS`` sizes in range have positive finite times.
    """
    groups: dict[int, list[float]] = {}
    for ni, ti in zip(n, t):
        vals = np.atleast_1d(np.asarray(ti, dtype=float))
        vals = vals[np.isfinite(vals) & (vals > 0)]
        if len(vals):
            groups.setdefault(int(ni), []).extend(vals.tolist())
    if sizes is None:
        chosen = asymptotic_sizes(list(groups), n_min)
    else:
        chosen = np.array(sorted(int(s) for s in sizes if int(s) in groups), dtype=int)
    if len(chosen) < MIN_POINTS:
        return None
    samples = [np.asarray(groups[s]) for s in chosen]
    x = np.log(chosen.astype(float))
    slope, log_c = _ols(x, np.log([np.median(r) for r in samples]))
    smallest = min(len(r) for r in samples)
    if smallest < 2:
        return SlopeFit(slope, np.nan, np.nan, log_c, int(chosen[0]), int(chosen[-1]), len(chosen),
                        f"none: a size has a single timing ({what})", smallest)
    res = stats.bootstrap(samples, _slope_of_medians(x), n_resamples=n_resamples, confidence_level=level,
                          method="percentile", vectorized=True, paired=False, rng=np.random.default_rng(seed))
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    method = BOOTSTRAP.format(n=n_resamples, what=what)
    return SlopeFit(slope, lo, hi, log_c, int(chosen[0]), int(chosen[-1]), len(chosen), method, smallest)


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
