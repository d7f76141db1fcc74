"""Where the trained networks stand on the paper's boxes, computed from a run's rows.

For each of the paper's boxes in the rows (:func:`~matinv_bench.datasets.paper_box`):
the best trained network (lowest mean MAE over seeds among the ``learned`` rows that trained,
``train_steps`` > 0), and beside it the linear approximation, the best matmul-only method
(lowest MAE), LU and closed-form, each with its MAE, its time per matrix and the network's
ratios to them (network / method: above 1, the network's error or time is the larger).
:func:`table` gives these rows, :func:`lines` the Markdown (or terminal) text that ends a run's
summary, and :func:`finding` one sentence over every box, the title of the run's figure. The
words say ratios; a verdict is left to the reader, who sees how many seeds stand behind them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from matinv_bench.datasets import paper_box
from matinv_bench.reporting import precision, style
from matinv_bench.specs import parse_spec

NETWORK = "best network"
BASELINES = ("linear approximation", "best matmul-only", "LU", "closed-form")


def _name(method: str) -> str:
    return parse_spec(method)[0]


def table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per paper box and role (:data:`NETWORK`, then each of :data:`BASELINES` the rows
    hold): ``dataset``, ``role``, ``method`` (its spec without the seed), ``mae`` and
    ``time_per_matrix_s`` (means over seeds), ``seeds``, and the best network's ``error_ratio`` and
    ``time_ratio`` to the method (NaN on the network's own row). Empty when no trained network ran
    on a paper box with timing."""
    rows = precision.accuracy_rows(df)
    if rows.empty or "time_per_matrix_s" not in rows:
        return pd.DataFrame()
    trained = rows["family"] != "learned"
    if "train_steps" in rows:
        trained |= pd.to_numeric(rows["train_steps"], errors="coerce").fillna(0) > 0
    rows = rows[rows["dataset"].map(paper_box) & trained]
    rows = rows.assign(mae=pd.to_numeric(rows["mae"], errors="coerce"),
                       time_per_matrix_s=pd.to_numeric(rows["time_per_matrix_s"], errors="coerce"))
    rows = rows[np.isfinite(rows["mae"]) & (rows["time_per_matrix_s"] > 0)]
    g = rows.groupby(["dataset", "spec", "family"], sort=False)
    means = g[["mae", "time_per_matrix_s"]].mean().join(g["seed"].nunique().rename("seeds")).reset_index()
    means = means.rename(columns={"spec": "method"})
    out = []
    for dataset, m in means.groupby("dataset", sort=False):
        groups = m["family"].map(style.group)
        nets = m[groups == "network"]
        if nets.empty:
            continue
        picks = {NETWORK: nets.loc[nets["mae"].idxmin()]}
        names = m["method"].map(_name)
        for role, pool, by in (("linear approximation", m[names == "linear-approx"], "mae"),
                               ("best matmul-only", m[groups == "matmul-only"], "mae"),
                               ("LU", m[names == "lu"], "time_per_matrix_s"),
                               ("closed-form", m[names == "closed-form"], "time_per_matrix_s")):
            if len(pool):
                picks[role] = pool.loc[pool[by].idxmin()]
        best = picks[NETWORK]
        for role, r in picks.items():
            own = role == NETWORK
            out.append({"dataset": dataset, "role": role, "method": r["method"], "mae": r["mae"],
                        "time_per_matrix_s": r["time_per_matrix_s"], "seeds": int(r["seeds"]),
                        "error_ratio": np.nan if own else best["mae"] / r["mae"],
                        "time_ratio": np.nan if own else best["time_per_matrix_s"] / r["time_per_matrix_s"]})
    return pd.DataFrame(out)


def ratio(r: float) -> str:
    """A ratio as the text shows it: ``0.75x``, ``3.1x``, ``1,700x``, ``8.8e+11x`` (two significant digits)."""
    if not np.isfinite(r):
        return "n/a"
    if r >= 1e5:
        return f"{r:.1e}x"
    if r >= 10:
        return f"{float(f'{r:.2g}'):,.0f}x"
    return f"{r:.2g}x"


def lines(standing: pd.DataFrame, fmt: str = "github") -> list[str]:
    """The comparison that ends a run's summary: what the numbers are, the table (``fmt``:
    ``github`` for Markdown, ``simple`` for a terminal) and :func:`finding`; none without a network
    on a paper box."""
    if standing.empty:
        return []
    seeds = int(standing["seeds"].min())
    view = pd.DataFrame({
        "box": standing["dataset"].map(style.shown),
        "": standing["role"],
        "method": standing["method"].map(lambda m: style.pretty(m, keep=("recipe",))),
        "MAE": standing["mae"].map(lambda v: f"{v:.3g}"),
        "time per matrix (s)": standing["time_per_matrix_s"].map(lambda v: f"{v:.3g}"),
        "network's MAE ÷ its": standing["error_ratio"].map(lambda v: "" if np.isnan(v) else ratio(v)),
        "network's time ÷ its": standing["time_ratio"].map(lambda v: "" if np.isnan(v) else ratio(v)),
    })
    return [
        "Where the best trained network stands on each of the paper's boxes (lowest MAE among the networks; "
        "the best matmul-only method is the one with the lowest MAE; means over "
        + (f"{seeds} seeds" if seeds > 1 else "one seed, so these are ratios of one run, not verdicts") + "):",
        "", view.to_markdown(index=False, tablefmt=fmt), "", finding(standing) + ".",
    ]


def _against(standing: pd.DataFrame, role: str, column: str, above: str, below: str, what: str) -> str | None:
    """``1.3-4.2x more accurate than the linear approximation``: the range over the boxes of the
    network's ratios to ``role``, in the words of their direction (``above``: ratios above 1,
    ``below``: under 1), or ``within 2.1x of the linear approximation's error`` when the boxes
    disagree."""
    r = standing.loc[standing["role"] == role, column].dropna()
    if r.empty:
        return None
    lo, hi = r.min(), r.max()
    if lo > 1:
        return f"{_span(lo, hi)} {above} than {what}"
    if hi < 1:
        return f"{_span(1 / hi, 1 / lo)} {below} than {what}"
    noun = "error" if column == "error_ratio" else "time"
    return f"within {ratio(max(1 / lo, hi))} of {what}'s {noun}"


def _span(lo: float, hi: float) -> str:
    a, b = ratio(lo), ratio(hi)
    return a if a == b else f"{a[:-1]}-{b}"


def finding(standing: pd.DataFrame) -> str:
    """One sentence over every box: the best network's error against the linear approximation's
    and the best matmul-only method's, and its time against closed-form's (LU's without it)."""
    if standing.empty:
        return ""
    boxes = standing["dataset"].nunique()
    accuracy = ("less accurate", "more accurate")
    fast = "closed-form" if (standing["role"] == "closed-form").any() else "LU"
    parts = [_against(standing, "linear approximation", "error_ratio", *accuracy, "the linear approximation"),
             _against(standing, "best matmul-only", "error_ratio", *accuracy, "the best matmul-only method"),
             _against(standing, fast, "time_ratio", "slower", "faster", fast)]
    parts = [p for p in parts if p]
    if not parts:
        return ""
    said = ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]
    where = "the paper's box" if boxes == 1 else f"the paper's {boxes} boxes"
    return f"On {where} the best network is {said}"
