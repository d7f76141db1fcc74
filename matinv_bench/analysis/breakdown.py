"""Where a method breaks down on a box sweep: the rows of a method over its seeds, and the first
box size at which most of its matrices are bad.

A sweep's rows (where-can: boxes of growing theta; out-of-box: a fitted box, tested on growing c)
carry ``frac_bad``, the share of a cell's test matrices that failed or were wrong beyond the
sweep's threshold. :func:`by_method` averages them over seeds, one line per method (the solver
spec without its seed), base and box size; :func:`breaks_at` gives, per method and base, the first
size where that share exceeds :data:`BROKEN`. Always per base: a median across bases could hide
one that behaves otherwise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from matinv_bench.analysis.rows import method_of

BROKEN = 0.5  # a method has broken down where over half its matrices are bad (frac_bad)


def by_method(rows: pd.DataFrame, x: str) -> pd.DataFrame:
    """One line per method, base and ``x``: the mean over seeds of ``mae`` (over the matrices the
    method did not fail on), ``failure_rate`` and ``frac_bad``, with ``frac_bad_min`` /
    ``frac_bad_max`` over the seeds, ``seeds``, ``family`` and ``theta``. The method is in column
    ``solver``."""
    rows = rows.assign(method=rows["solver"].map(method_of))
    for col in ("failure_rate", "mae"):
        if col not in rows:
            rows = rows.assign(**{col: np.nan})
    g = rows.groupby(["method", "base", x], as_index=False).agg(
        mae=("mae", "mean"), failure_rate=("failure_rate", "mean"), frac_bad=("frac_bad", "mean"),
        frac_bad_min=("frac_bad", "min"), frac_bad_max=("frac_bad", "max"), seeds=("seed", "nunique"),
        family=("family", "first"), theta=("theta", "first"))
    if x == "theta":
        g = g.loc[:, ~g.columns.duplicated()]
    return g.rename(columns={"method": "solver"})


def breaks_at(curves: pd.DataFrame, x: str = "theta") -> pd.DataFrame:
    """Solver x base, from :func:`by_method` lines: the smallest ``x`` where the mean ``frac_bad``
    over seeds exceeds :data:`BROKEN` (inf where it never does, NaN where the solver has no line on
    that base)."""
    first = curves[curves.frac_bad > BROKEN].groupby(["solver", "base"])[x].min()
    table = curves.groupby(["solver", "base"])[x].max().rename(x).to_frame().assign(**{x: np.inf})
    table.loc[first.index, x] = first
    return table[x].unstack("base")
