"""The headline figure: the project's two findings in one picture, from committed result files.

(a) Time per matrix against n (the scaling study's rows and ``slopes.csv``): classical solvers
in blues (LU drawn bold), matmul-only ones in greens, networks in reds, with guide lines n^3 and
n^4 and the networks' memory wall (x: each network's first n skipped for memory).

(b) Mean absolute error against theta = n eps / sigma_min(A0) on the box sweep's rows around one
of the paper's bases: the trained networks against the linear approximation and Neumann's
series, theta = 1 marked (from there on a box may hold singular matrices). Untrained networks
are never drawn here.

The title states what the rows show (:func:`finding`), so it follows the numbers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from matinv_bench.reporting import plots, precision, style

BASE = "paper-2x2-1st"  # the box of the paper's Table 2, drawn when the sweep has it
BREAKDOWN = 0.5  # share of matrices off by more than the threshold that counts as broken down


def _time_rows(scaling: pd.DataFrame, dtype: str) -> tuple[pd.DataFrame, str]:
    rows = scaling[scaling["dtype"] == dtype]
    ok = rows[(rows["status"] == "ok") & rows["time_per_matrix_s"].notna()]
    devices = list(dict.fromkeys(ok.loc[ok["library"] != "numpy", "device"].astype(str))) or ["cpu"]
    device = devices[0]
    keep = (ok["device"].astype(str) == device) | (ok["library"] == "numpy")
    return pd.concat([ok[keep], rows[rows["status"] != "ok"]]), device


def box_rows(where: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The ok rows of trained networks, the linear approximation and Neumann's series around
    :data:`BASE` (else the first base), each network's seeds averaged, identical curves merged (see
    :func:`~matinv_bench.reporting.precision.merge_identical`)."""
    ok = where[(where["status"] == "ok") & ~precision.untrained(where)]
    base = BASE if (ok["base"] == BASE).any() else str(ok["base"].iloc[0])
    ok = ok[ok["base"] == base]
    name = ok["solver"].astype(str).str.split("[").str[0]
    ok = ok[(ok["family"] == "learned") | name.isin(["linear-approx", "neumann"])]
    ok = ok.assign(solver=ok["solver"].map(lambda s: style.without(s, "seed")))  # a network's seeds: one curve
    ok = ok.groupby(["solver", "family", "theta"], as_index=False)[["mae", "frac_bad"]].mean()
    ok = ok.sort_values("family", key=lambda f: f.map(style.group_order), ascending=False, kind="stable")
    return precision.merge_identical(ok, ["theta"], "mae", keep=("recipe",)), base


def _net_slope(slopes: pd.DataFrame, labels: list[str], dtype: str, device: str) -> tuple[float, float]:
    nets = [plots._slope(slopes, lab, dtype, device) for lab in labels if str(lab).startswith("mlp")]
    nets = [s for s in nets if np.isfinite(s)]
    return (float(np.median(nets)) if nets else np.nan), plots._slope(slopes, "lu", dtype, device)


def _bad(curve: pd.DataFrame, at: int) -> float:
    return float(curve["frac_bad"].iloc[at])


def breakdown(box: pd.DataFrame) -> bool:
    """Whether the networks hold below theta = 1 and break down above it: their share of bad
    matrices (``frac_bad``; else the error, x10) under :data:`BREAKDOWN` at the last theta below 1,
    at or over it at the first theta past 1."""
    curve = box[box["family"] == "learned"].groupby("theta")[["mae", "frac_bad"]].mean().sort_index()
    below, above = curve[curve.index < 1], curve[curve.index > 1]
    if below.empty or above.empty:
        return False
    if below["frac_bad"].notna().all() and above["frac_bad"].notna().all():
        return _bad(below, -1) < BREAKDOWN <= _bad(above, 0)
    return bool(above["mae"].iloc[0] >= 10 * below["mae"].iloc[-1])


def series_fail(box: pd.DataFrame) -> bool:
    """Whether every other method (the series) has failed by the largest theta past 1: ``frac_bad``
    at or over :data:`BREAKDOWN` there (else an error 10x its error at the last theta below 1)."""
    others = box[box["family"] != "learned"]
    if others.empty or not (others["theta"] > 1).any():
        return False
    for _, g in others.groupby("solver"):
        g = g.sort_values("theta")
        last, below = g.iloc[-1], g[g["theta"] < 1]
        if np.isfinite(last["frac_bad"]):
            if last["frac_bad"] < BREAKDOWN:
                return False
        elif below.empty or last["mae"] < 10 * below["mae"].iloc[-1]:
            return False
    return True


def finding(net: float, lu: float, nets_break: bool, series_break: bool) -> str:
    """The headline: how the networks' cost grows against LU's, whether they break down once theta
    passes 1 (see :func:`breakdown`), and whether the series have failed there too (:func:`series_fail`)."""
    if np.isfinite(net) and np.isfinite(lu):
        cost = (f"Where compute-bound, networks' time grows as $n^{{{net:.1f}}}$ (LU's: $n^{{{lu:.1f}}}$),"
                if net > lu else
                f"Where compute-bound, networks' time grows no faster than LU's ($n^{{{net:.1f}}}$ against "
                f"$n^{{{lu:.1f}}}$),")
    elif np.isfinite(net):
        cost = f"Where compute-bound, networks' time grows as $n^{{{net:.1f}}}$,"
    else:
        cost = ""
    if nets_break:
        reach = ("past θ = 1 they fail, as every series does" if series_break
                 else "past θ = 1 they fail, where some series do not")
    else:
        reach = "they hold past θ = 1 in these rows"
    return f"{cost} and {reach}" if cost else f"Networks against classical and matmul-only inversion: {reach}"


def _time_panel(ax, rows: pd.DataFrame, slopes: pd.DataFrame, dtype: str, device: str) -> None:
    ok = rows[rows["status"] == "ok"]
    fam = ok.drop_duplicates("solver_label").set_index("solver_label")["family"].astype(str)
    labels = sorted(fam.index, key=lambda lab: style.group_order(fam[lab]))
    colour = style.colours((lab, fam[lab]) for lab in labels)
    shown: dict[str, object] = {}
    for label in labels:
        # one point per size: the median over the sweep's repetitions (one row each)
        g = ok[ok["solver_label"] == label].groupby("n", as_index=False)["time_per_matrix_s"].median()
        grp = style.group(fam[label])
        bold = label == "lu" or grp != "classical"
        (line,) = ax.plot(g["n"], g["time_per_matrix_s"], color=colour[label], lw=1.8 if bold else 0.8,
                          alpha=1 if bold else 0.7, ls="--" if grp == "network" else "-",
                          marker="o" if bold else None, ms=3)
        line.set_gid(label)
        if label == "lu":
            shown["LU"] = line
        elif grp == "classical":
            shown.setdefault("other classical", line)
        elif grp == "matmul-only":
            shown.setdefault("matmul-only (Neumann, Newton-Schulz, minimax)", line)
        else:
            shown.setdefault("networks (2-FC, 3-FC; widths 2n², 8n²)", line)
    ns = np.sort(ok["n"].unique()).astype(float)
    ax.set_ylim(ok["time_per_matrix_s"].min() / 3, ok["time_per_matrix_s"].max() * 3)
    entries = list(zip(shown.values(), shown.keys())) + plots.guides(ax, ok, ns)
    wall = plots.memory_wall(rows)
    w = plots.wall_markers(ax, wall[wall["solver_label"].isin(labels)], colour)
    if w is not None:
        entries.append(w)
    ax.set(yscale="log", xlabel="n (matrix size)", ylabel="time per matrix (s)",
           title=f"(a) cost against n ({dtype}, {device})")
    style.size_axis(ax, ns)
    style.log_axis(ax, "y")
    ax.legend(*zip(*[(h, t) for h, t in entries]), loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=1)


def _error_panel(ax, box: pd.DataFrame, base: str) -> None:
    members = box.drop_duplicates("solver")
    colour = style.colours(zip(members["solver"], members["family"]))
    for i, (solver, g) in enumerate(box.groupby("solver", sort=False)):
        g = g.sort_values("theta")
        net = g["family"].iloc[0] == "learned"
        (line,) = ax.plot(g["theta"], g["mae"], color=colour[solver], lw=2.2 if net else 1.5, ls="--" if net else "-",
                          marker=style.MARKERS[i % len(style.MARKERS)], ms=4, label=g["label"].iloc[0])
        line.set_gid(solver)
    ax.axvline(1.0, color=style.GUIDE, lw=1, ls=":")
    ax.axvspan(1.0, box["theta"].max() * 1.5, color="0.9", zorder=0, lw=0)
    ax.annotate("θ ≥ 1: may hold\nsingular matrices", (1.05, 0.04), xycoords=("data", "axes fraction"),
                fontsize=7, color="0.3", va="bottom")
    ax.set(xscale="log", yscale="log", xlim=(box["theta"].min() / 1.3, box["theta"].max() * 1.3),
           xlabel="θ = n ε / σ_min(A0)", ylabel="mean abs. error", title=f"(b) error on boxes around {base}")
    style.log_axis(ax, "y")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=1)


def headline_figure(scaling: pd.DataFrame, slopes: pd.DataFrame, where: pd.DataFrame, dtype: str = "float64"):
    """The two-panel headline figure from the scaling rows (and their slopes) and the box sweep's rows."""
    rows, device = _time_rows(scaling, dtype)
    box, base = box_rows(where)
    net, lu = _net_slope(slopes, list(rows["solver_label"].dropna().unique()), dtype, device)
    with style.context():
        fig, (ax, bx) = style.subplots(1, 2, figsize=(style.WIDTH, 5.6))
        _time_panel(ax, rows, slopes, dtype, device)
        _error_panel(bx, box, base)
        style.title(fig, finding(net, lu, breakdown(box), series_fail(box)))
    return fig


def write_headline(scaling_folder: Path, where_folder: Path, path: Path) -> list[Path]:
    """Draw the headline from a scaling run folder and a where-can folder; write ``path`` (PNG) and its SVG."""
    from matinv_bench.reporting import results

    scaling = pd.read_parquet(scaling_folder / "results.parquet")
    where = results.read_results(where_folder)
    return style.save(headline_figure(scaling, plots.read_slopes(scaling_folder), where), path)
