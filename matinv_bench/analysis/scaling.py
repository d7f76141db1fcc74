"""The scaling study's analysis: effective exponents and crossovers from the rows.

:func:`complete` gives every row every scaling column (:data:`SCALING_COLUMNS`); :func:`analyse`
fits log-log slopes of time per matrix on n (:mod:`~matinv_bench.analysis.fits`: bootstrap
intervals over the repetitions) per solver label, dtype and device, over each label's own range,
over the range common to all labels, and over n >= :data:`LARGE_N`; and finds the size from which
each network is slower than each of :data:`BASELINES`.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from matinv_bench.analysis import fits
from matinv_bench.specs import SpecError, parse_spec

BASELINES = ("lu", "torch-inv")  # the crossovers are against these
LARGE_N = 256  # the classical solvers' exponents are also fitted over n >= this (their n^3 regime, if any)
FIT_RANGES = {"own": "own", "common": "common", "large": f"n >= {LARGE_N}"}  # fit_range -> summary column
PER_CELL = "after the cell"  # the ``peak_probe`` of a row whose matmul probe ran right after it

# every scaling row has these columns, whatever its status (NaN or None where they do not apply)
TEXT_COLUMNS = ("solver_label", "library", "peak_mem_kind", "peak_probe", "times_per_matrix_s")
NUMERIC_COLUMNS = ("n", "batch", "repeat", "param_bytes", "mem_need_bytes", "peak_mem_bytes", "peak_gflops",
                   "peak_fraction", "ns_per_flop", "estimated_cell_s", "h2d_s_per_matrix", "d2h_s_per_matrix",
                   "loadavg_1m_before", "loadavg_1m_after", "other_cores_busy", "memory_limit_bytes",
                   "memory_total_bytes")


BOOL_COLUMNS = ("load_above_threads",)
SCALING_COLUMNS = TEXT_COLUMNS + NUMERIC_COLUMNS + BOOL_COLUMNS
NEWER_COLUMNS = ("peak_probe",)  # columns older runs lack and no figure needs


def _n_of(dataset: str) -> float:
    try:
        return float(parse_spec(str(dataset))[1]["n"])
    except (SpecError, KeyError, TypeError, ValueError):
        return np.nan


def complete(df: pd.DataFrame) -> pd.DataFrame:
    """The rows with every column of :data:`SCALING_COLUMNS`, the numeric ones as numbers (None or
    NaN where a row has none, e.g. one that failed before its hook ran); a row that never built
    its dataset (timed out, lost with its worker) gets its ``n`` from the dataset spec."""
    df = df.copy()
    for col in TEXT_COLUMNS:
        if col not in df:
            df[col] = None
    for col in NUMERIC_COLUMNS:  # numbers, NaN where missing (a column of None is no number)
        df[col] = pd.to_numeric(df[col], errors="coerce") if col in df else np.nan
    for col in BOOL_COLUMNS:
        df[col] = df[col].astype("boolean") if col in df else pd.array([pd.NA] * len(df), dtype="boolean")
    df["repeat"] = df["repeat"].fillna(0).astype("int64")  # runs made before repetitions: one, number 0
    missing = df["n"].isna()
    if missing.any():
        df["n"] = df["n"].astype("float64")
        df.loc[missing, "n"] = [_n_of(d) for d in df.loc[missing, "dataset"]]
        if df["n"].notna().all():
            df["n"] = df["n"].astype("int64")
    return df


def _times(row) -> list[float]:
    raw = row.get("times_per_matrix_s")
    if isinstance(raw, str) and raw:
        return json.loads(raw)
    return [row["time_per_matrix_s"]]


REPETITIONS = "repetition medians (independent runs, each in its own process)"
BLOCKS = "timed blocks within one run (noise within a cell, not between runs)"


def _fit(g: pd.DataFrame, sizes: list[int] | None, fit_from: int | None) -> fits.SlopeFit | None:
    """One solver's slope: over ``sizes`` (else its asymptotic range from ``fit_from``). The
    samples are the repetitions' medians when every size in range has at least two; a size that
    ran in fewer repetitions than the solver's others (they skipped it for the cell budget) is
    left out of the range when the sizes left still make a fit. Otherwise the samples are the
    timed blocks of its cells, and ``ci_method`` says so."""
    reps = g.groupby("n")["repeat"].nunique()
    repeated = reps[(reps >= 2) & (reps == reps.max())].index
    if sizes is None and len(repeated) >= fits.MIN_POINTS:
        sizes = fits.asymptotic_sizes(repeated, fit_from).tolist()
    elif sizes is not None and len([n for n in sizes if n in repeated]) >= fits.MIN_POINTS:
        sizes = [n for n in sizes if n in repeated]
    chosen = sizes if sizes is not None else fits.asymptotic_sizes(g["n"].unique(), fit_from).tolist()
    in_range = g[g["n"].isin(chosen)]
    if len(in_range) and in_range.groupby("n")["repeat"].nunique().min() >= 2:
        return fits.fit_slope(g["n"].tolist(), g["time_per_matrix_s"].tolist(), sizes=chosen, what=REPETITIONS)
    return fits.fit_slope(g["n"].tolist(), [_times(r) for _, r in g.iterrows()], sizes=chosen, what=BLOCKS)


def common_sizes(ok: pd.DataFrame) -> list[int]:
    """The range every family is fitted over besides its own: the larger half of the sizes at
    which every solver label (that ran at least ``fits.MIN_POINTS`` sizes) ran."""
    sets = [set(g["n"]) for _, g in ok.groupby("solver_label") if g["n"].nunique() >= fits.MIN_POINTS]
    if not sets:
        return []
    shared = sorted(set.intersection(*sets))
    return fits.asymptotic_sizes(shared).tolist() if len(shared) >= fits.MIN_POINTS else []


def analyse(df: pd.DataFrame, fit_from: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Effective exponents (slopes of log time on log n, 95 % bootstrap intervals) per solver
    label, dtype and device, over each label's own asymptotic range (``fit_range`` "own") and
    over the range common to all labels of the dtype ("common"); and the size at which each
    network becomes slower than LU and torch-inv."""
    ok = df[(df["status"] == "ok") & df["time_per_matrix_s"].notna()]
    slopes = []
    for dtype, d in ok.groupby("dtype", sort=False):
        common = common_sizes(d)
        for (label, device), g in d.groupby(["solver_label", "device"], sort=False):
            g = g.sort_values(["n", "repeat"])
            large = sorted(n for n in g["n"].unique() if n >= LARGE_N)
            ranges = [("own", None), ("common", common)] + ([("large", large)] if len(large) >= fits.MIN_POINTS else [])
            reps = g.groupby("n")["repeat"].nunique()
            for fit_range, sizes in ranges:
                f = _fit(g, sizes, fit_from) if sizes is None or len(sizes) else None
                slopes.append({"solver_label": label, "dtype": dtype, "device": device, "fit_range": fit_range,
                               "slope": f.slope if f else np.nan, "ci_lo": f.lo if f else np.nan,
                               "ci_hi": f.hi if f else np.nan, "ci_method": f.ci_method if f else "",
                               "log_c": f.log_c if f else np.nan,
                               "fit_n_lo": f.n_lo if f else pd.NA, "fit_n_hi": f.n_hi if f else pd.NA,
                               "fit_points": f.n_points if f else 0,
                               "repeats": int(reps[(reps.index >= f.n_lo) & (reps.index <= f.n_hi)].min()
                                              if f else reps.min()),
                               "n_measured": g["n"].nunique(), "n_max_measured": g["n"].max()})
    cross = []
    nets = [lab for lab in df["solver_label"].unique() if str(lab).startswith("mlp")]
    for dtype, g in ok.groupby("dtype", sort=False):  # LU runs on the host even in a CUDA run
        t = g.pivot_table(index="n", columns="solver_label", values="time_per_matrix_s", aggfunc="median")
        for net in nets:
            for base in BASELINES:
                if net not in t or base not in t:
                    continue
                c = fits.crossover(t.index.to_numpy(), t[net].to_numpy(), t[base].to_numpy())
                devs = sorted(set(g.loc[g["solver_label"].isin([net, base]), "device"]))
                cross.append({"network": net, "baseline": base, "dtype": dtype, "device": "/".join(devs),
                              "kind": c.kind, "crossover_n": c.n, "text": c.text()})
    slopes = pd.DataFrame(slopes)
    if len(slopes):  # "own" first: readers that take a label's first row get its own range
        slopes = slopes.sort_values("fit_range", key=lambda r: r.map({k: i for i, k in enumerate(FIT_RANGES)}),
                                    kind="stable")
        slopes = slopes.reset_index(drop=True)
    return slopes, pd.DataFrame(cross)
