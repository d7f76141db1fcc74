"""Seeds aggregated: one row per cell (solver x dataset x n x dtype x device) over its seeds.

:func:`aggregate_seeds` gives, for each metric, the mean and the sample standard deviation
(``ddof=1``, so NaN for a single value) over the cell's *ok* rows, with ``seeds`` (distinct seeds
of the cell) and ``ok`` (its ok rows) beside them; the column headers say ``mean`` and ``std (ddof=1)``.
:func:`seeds_table` formats it for a run's table and ``summary.md``, and is empty when no cell has
more than one seed.
"""

from __future__ import annotations

import pandas as pd

KEYS = ("solver", "dataset", "n", "dtype", "device")
METRICS = ("mae", "rel_fro_err", "residual_ratio", "failure_rate", "time_per_matrix_s")
STD = "std (ddof=1)"


def aggregate_seeds(df: pd.DataFrame, metrics: tuple[str, ...] | list[str] = METRICS,
                    keys: tuple[str, ...] | list[str] = KEYS) -> pd.DataFrame:
    """One row per cell over its seeds, cells in order of first appearance.

    Columns: the ``keys`` present in ``df``; ``seeds`` (the cell's distinct seeds) and ``ok`` (its
    rows with status ok); then ``<metric> mean`` and ``<metric> std (ddof=1)`` for each metric present,
    over the ok rows' non-missing values (NaN where there are none, std NaN for one value).
    """
    keys = [k for k in keys if k in df]
    metrics = [m for m in metrics if m in df]
    cols = [*keys, "seeds", "ok"] + [f"{m} {s}" for m in metrics for s in ("mean", STD)]
    if df.empty:
        return pd.DataFrame(columns=cols)
    work = df[keys + (["seed"] if "seed" in df else [])].copy()
    work["_ok"] = df["status"].eq("ok") if "status" in df else True
    for m in metrics:  # a metric of a row that is not ok does not enter the mean
        work[m] = pd.to_numeric(df[m], errors="coerce").astype(float).where(work["_ok"])
    g = work.groupby(keys, sort=False, dropna=False)
    out = (g["seed"].nunique() if "seed" in df else g.size()).rename("seeds").to_frame()
    out["ok"] = g["_ok"].sum().astype(int)
    for m in metrics:
        out[f"{m} mean"] = g[m].mean()
        out[f"{m} {STD}"] = g[m].std(ddof=1)
    return out.reset_index()[cols]


def seeds_table(df: pd.DataFrame, fmt: str = "github") -> str:
    """The seeds-aggregated table as text (3 significant digits), headed by one line saying what it
    is; ``""`` when no cell has more than one seed (nothing to aggregate)."""
    agg = aggregate_seeds(df)
    if agg.empty or agg["seeds"].max() <= 1:
        return ""
    head = ("Over seeds: mean and sample standard deviation (ddof=1) of the ok rows of each cell; `seeds` seeds, "
            "`ok` rows ok.")
    return head + "\n\n" + agg.to_markdown(index=False, tablefmt=fmt, floatfmt=".3g", missingval="")
