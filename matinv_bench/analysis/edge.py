"""The edge of a network over another method as n grows, from a sweep's rows (where-can-n).

For each theta and n the best network (the lowest mean MAE over seeds) is set against the linear
approximation, seed by seed on the same test split (:func:`edges`), and against the matmul-only
method of about its flops. :func:`verdict` states how that ratio moves with n, and only where
every seed agrees (:func:`standing`): the network wins at an n where every seed's ratio is below
1, loses where every one is above, and no verdict is given where they straddle it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from matinv_bench.analysis.rows import group_of, method_of, untrained
from matinv_bench.specs import parse_spec

BASELINE = "linear-approx"


def box_theta(dataset: str) -> float:
    """The theta a dataset spec asks for (exact, unlike the row's ``theta``, which is computed)."""
    return float(parse_spec(dataset)[1]["theta"])


def per_seed(df: pd.DataFrame) -> pd.DataFrame:
    """The ok rows of trained solvers (never an untrained network) with ``box_theta``, ``n`` and
    ``method`` (the spec without seed and device)."""
    ok = df[(df["status"] == "ok") & ~untrained(df)]
    return ok.assign(box_theta=ok["dataset"].map(box_theta), n=ok["n"].astype(int),
                     method=ok["solver"].map(method_of))


def methods(df: pd.DataFrame) -> pd.DataFrame:
    """Per theta x n x method: the mean over seeds of ``mae`` and ``time_per_matrix_s``, with
    ``flops`` (``flops_per_matrix``), ``family``, ``train_steps``, ``train_batch`` (matrices per
    step) and ``seeds``."""
    ok = per_seed(df)
    cols = {"mae": ("mae", "mean"), "mae_min": ("mae", "min"), "mae_max": ("mae", "max"),
            "time_per_matrix_s": ("time_per_matrix_s", "mean"), "flops": ("flops_per_matrix", "first"),
            "family": ("family", "first"), "seeds": ("seed", "nunique")}
    if "train_steps" in ok:
        ok = ok.assign(train_batch=ok["train_samples"] / ok["train_steps"] if "train_samples" in ok else np.nan)
        cols.update(train_steps=("train_steps", "mean"), train_batch=("train_batch", "mean"))
    return ok.groupby(["box_theta", "n", "method"], sort=True).agg(**cols).reset_index()


def _matched(others: pd.DataFrame, flops: float) -> pd.Series:
    """The method of ``others`` with the fewest flops at or above ``flops``, else the most; the most
    accurate of those with that count."""
    above = others[others["flops"] >= flops]
    pool = above if len(above) else others
    pick = pool[pool["flops"] == (pool["flops"].min() if len(above) else pool["flops"].max())]
    return pick.loc[pick["mae"].idxmin()]


def seed_ratios(p: pd.DataFrame, theta: float, n: int, method: str, other: str) -> pd.Series:
    """Per seed: ``method``'s MAE over ``other``'s on the same test split (seed s: its split s)."""
    at = p[(p["box_theta"] == theta) & (p["n"] == n)]
    a = at[at["method"] == method].set_index("seed")["mae"]
    b = at[at["method"] == other].set_index("seed")["mae"]
    return (a / b).dropna()


def edges(df: pd.DataFrame) -> pd.DataFrame:
    """Per theta and n (where a trained network and the linear approximation both have an ok row):
    the best network (lowest mean MAE over seeds) and its ratio to the linear approximation, seed by
    seed on the same test split: ``edge`` (the mean), ``edge_lo`` and ``edge_hi`` (the smallest and
    largest over the ``seeds``); the same against ``matched``, the matmul-only method picked by
    :func:`_matched` at equal flops (``flops_edge``, ``flops_edge_lo``, ``flops_edge_hi``;
    ``matched_flops_ratio``: its flops over the network's)."""
    p, m = per_seed(df), methods(df)
    lines = []
    for (theta, n), g in m.groupby(["box_theta", "n"], sort=True):
        nets = g[g["family"].map(group_of) == "network"].dropna(subset=["mae"])
        if nets.empty or not (g["method"] == BASELINE).any():
            continue
        best = nets.loc[nets["mae"].idxmin()]
        r = seed_ratios(p, theta, n, best["method"], BASELINE)
        line = {"theta": theta, "n": int(n), "network": best["method"], "network_mae": best["mae"],
                "network_flops": best["flops"], "linear_mae": g.loc[g["method"] == BASELINE, "mae"].iloc[0],
                "edge": r.mean(), "edge_lo": r.min(), "edge_hi": r.max(), "seeds": len(r),
                "train_steps": best.get("train_steps", np.nan), "train_batch": best.get("train_batch", np.nan)}
        series = g[(g["family"].map(group_of) == "matmul-only") & g["flops"].notna()].dropna(subset=["mae"])
        if len(series):
            match = _matched(series, best["flops"])
            f = seed_ratios(p, theta, n, best["method"], match["method"])
            line.update(matched=match["method"], matched_mae=match["mae"],
                        matched_flops_ratio=match["flops"] / best["flops"],
                        flops_edge=f.mean(), flops_edge_lo=f.min(), flops_edge_hi=f.max())
        lines.append(line)
    # no pair (no trained network ran, or no linear approximation): the columns all the same
    return pd.DataFrame(lines, columns=None if lines else ["theta", "n", "network", "network_mae", "network_flops",
                                                             "linear_mae", "edge", "edge_lo", "edge_hi", "seeds"])


def standing(lo: float, hi: float) -> str:
    """``wins`` where every seed's ratio is below 1, ``loses`` where every one is above, else ``open``
    (the seeds disagree, or one seed gives no interval: no verdict at that n)."""
    if hi < 1:
        return "wins"
    if lo > 1:
        return "loses"
    return "open"


def verdict(ns: list[int], lo: list[float], hi: list[float], mean: list[float], seeds: int = 3) -> tuple[str, str]:
    """How the ratio (network MAE / other MAE, seed by seed) moves as n grows, stated only where the
    seeds' intervals [lo, hi] lie on one side of 1: a kind (``holds``, ``shrinks``, ``never``,
    ``vanishes``, ``fades``, ``undecided``, ``mixed``; ``one size`` for a single n) and a sentence."""
    where = [standing(a, b) for a, b in zip(lo, hi)]
    span = f"{mean[0]:.3g} at n = {ns[0]} to {mean[-1]:.3g} at n = {ns[-1]} (mean over {seeds} seeds)"
    wins = [i for i, w in enumerate(where) if w == "wins"]
    loses = [i for i, w in enumerate(where) if w == "loses"]
    if len(ns) == 1:
        return "one size", f"one size only, no trend: at n = {ns[0]} the networks {_said(where[0])} (ratio {span})"
    if len(wins) == len(ns):
        if mean[-1] > mean[0]:
            return "shrinks", f"the edge shrinks but holds: every seed wins at every n, the ratio rising from {span}"
        return "holds", f"the edge holds: every seed wins at every n, the ratio going from {span}"
    if not wins:
        if len(loses) == len(ns):
            return "never", f"the networks never win: every seed loses at every n (ratio {span})"
        return "undecided", (f"the networks win at no n; the seeds disagree at n = {_sizes(ns, where, 'open')} "
                             f"(ratio {span})")
    last = max(wins)
    after = where[last + 1:]
    if wins == list(range(last + 1)) and after and all(w == "loses" for w in after):
        return "vanishes", (f"the edge vanishes: every seed wins up to n = {ns[last]} and loses from "
                            f"n = {ns[last + 1]} on (ratio {span})")
    if wins == list(range(last + 1)) and after and all(w != "wins" for w in after):
        return "fades", (f"every seed wins up to n = {ns[last]}; from n = {ns[last + 1]} on the seeds disagree or "
                         f"lose, so no verdict there (ratio {span})")
    return "mixed", f"the networks win at n = {_sizes(ns, where, 'wins')} only (ratio {span})"


def _said(standing_: str) -> str:
    return {"wins": "win on every seed", "loses": "lose on every seed", "open": "win on some seeds only"}[standing_]


def _sizes(ns: list[int], where: list[str], kind: str) -> str:
    return ", ".join(str(n) for n, w in zip(ns, where) if w == kind)


