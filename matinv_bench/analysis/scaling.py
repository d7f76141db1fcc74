"""The scaling study's analysis: effective exponents and crossovers from the rows.

:func:`complete` gives every row every scaling column (:data:`SCALING_COLUMNS`); :func:`analyse`
fits log-log slopes of time per matrix on n (:mod:`~matinv_bench.analysis.fits`: bootstrap
intervals over the repetitions) per solver label, dtype and device, over the range common to all
labels, over the range where the label's whole family is compute-bound (beside the exponent of
the flop count there), and over the label's own larger sizes; and finds the size from which each
network is slower than each of :data:`BASELINES`.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from matinv_bench.analysis import fits
from matinv_bench.analysis.rows import group_of
from matinv_bench.specs import SpecError, parse_spec

# the crossovers are against these; closed-form is the fair baseline at n <= 4 (fixed-size cofactor inverses)
BASELINES = ("lu", "torch-inv", "closed-form")
# fit_range -> what the summary calls it
FIT_RANGES = {"common": "every method's common sizes", "bound": "its family's compute-bound sizes",
              "own": "its own larger sizes"}
BOUND_SHARE = 0.5  # compute-bound: at least this share of the method's best GFLOP/s over the sizes it ran
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


def bound_sizes(g: pd.DataFrame) -> list[int]:
    """The sizes where one label is compute-bound: from the smallest size at which its GFLOP/s
    (the median over repetitions) reaches :data:`BOUND_SHARE` of its best, and stays there, up."""
    rate = g.groupby("n")["gflops"].median().dropna().sort_index()
    if rate.empty or not rate.max() > 0:
        return []
    low = rate < BOUND_SHARE * rate.max()
    last_low = low[low].index.max() if low.any() else None
    return [int(n) for n in rate.index if last_low is None or n > last_low]


def shared_bound_sizes(d: pd.DataFrame) -> dict[str, list[int]]:
    """Per family (:func:`group_of`): the sizes at which every member that is compute-bound at
    ``fits.MIN_POINTS`` sizes or more is compute-bound, so that the members' exponents there compare
    like for like; a family without such a shared range of ``fits.MIN_POINTS`` sizes gets none."""
    out = {}
    for group, members in d.groupby(d["family"].map(group_of)):
        sets = [set(s) for _, g in members.groupby("solver_label") if len(s := bound_sizes(g)) >= fits.MIN_POINTS]
        shared = sorted(set.intersection(*sets)) if sets else []
        out[group] = shared if len(shared) >= fits.MIN_POINTS else []
    return out


def flop_exponent(g: pd.DataFrame, lo: float, hi: float) -> float:
    """The slope of log model flops on log n over ``lo..hi``: what the exponent would be if time
    followed the flop count (4 for a dense layer of width K n^2, 3 for LU)."""
    if "flops_per_matrix" not in g:
        return np.nan
    f = g[(g["n"] >= lo) & (g["n"] <= hi)].groupby("n")["flops_per_matrix"].first().dropna()
    f = f[f > 0]
    if len(f) < 2:
        return np.nan
    return float(np.polyfit(np.log(f.index.to_numpy(dtype=float)), np.log(f.to_numpy(dtype=float)), 1)[0])


def analyse(df: pd.DataFrame, fit_from: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Effective exponents (slopes of log time on log n, 95 % bootstrap intervals) per solver
    label, dtype and device, over three ranges (``fit_range``): ``common``, the sizes every label
    of the dtype ran (the families like for like); ``bound``, the sizes at which every member of
    the label's family is compute-bound (:func:`shared_bound_sizes`), beside ``flops_exponent``, the
    exponent of the model flop count over the same sizes; ``own``, the larger half of the label's
    own sizes. Every row names its sizes (``fit_n_lo``..``fit_n_hi``). And the size at which each
    network becomes slower than each of :data:`BASELINES` that ran beside it."""
    ok = df[(df["status"] == "ok") & df["time_per_matrix_s"].notna()]
    slopes = []
    for dtype, d in ok.groupby("dtype", sort=False):
        common = common_sizes(d)
        bound = shared_bound_sizes(d) if {"gflops", "family"} <= set(d.columns) else {}
        for (label, device), g in d.groupby(["solver_label", "device"], sort=False):
            g = g.sort_values(["n", "repeat"])
            family = group_of(g["family"].iloc[0]) if "family" in g else ""
            ranges = [("common", common), ("bound", bound.get(family, [])), ("own", None)]
            reps = g.groupby("n")["repeat"].nunique()
            for fit_range, sizes in ranges:
                sizes = None if sizes is None else [n for n in sizes if n in set(g["n"])]
                usable = sizes is None or len(sizes) >= fits.MIN_POINTS
                f = _fit(g, sizes, fit_from if fit_range == "own" else None) if usable else None
                slopes.append({"solver_label": label, "dtype": dtype, "device": device, "family": family,
                               "fit_range": fit_range,
                               "slope": f.slope if f else np.nan, "ci_lo": f.lo if f else np.nan,
                               "ci_hi": f.hi if f else np.nan, "ci_method": f.ci_method if f else "",
                               "log_c": f.log_c if f else np.nan,
                               "fit_n_lo": f.n_lo if f else pd.NA, "fit_n_hi": f.n_hi if f else pd.NA,
                               "fit_points": f.n_points if f else 0,
                               "flops_exponent": flop_exponent(g, f.n_lo, f.n_hi) if f else np.nan,
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
                both = t[[net, base]].dropna()
                if both.empty:
                    continue
                c = fits.crossover(both.index.to_numpy(), both[net].to_numpy(), both[base].to_numpy())
                devs = sorted(set(g.loc[g["solver_label"].isin([net, base]), "device"]))
                cross.append({"network": net, "baseline": base, "dtype": dtype, "device": "/".join(devs),
                              "kind": c.kind, "crossover_n": c.n, "text": c.text()})
    slopes = pd.DataFrame(slopes)
    if len(slopes):  # in FIT_RANGES order: readers that take a label's first row get the common range
        slopes = slopes.sort_values("fit_range", key=lambda r: r.map({k: i for i, k in enumerate(FIT_RANGES)}),
                                    kind="stable")
        slopes = slopes.reset_index(drop=True)
    return slopes, pd.DataFrame(cross)
