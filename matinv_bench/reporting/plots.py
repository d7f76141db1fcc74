"""The scaling study's figures, drawn from its result files only (never from a solver), in the
one style of :mod:`matinv_bench.reporting.style`.

:func:`scaling_figures` reads a scaling run folder (``results.parquet``, ``slopes.csv``) and
writes, per dtype and device, PNG and SVG:

- ``time_vs_n-<dtype>-<device>``: (a) time per matrix against n, log-log, blues for classical
  solvers, greens for matmul-only ones, reds for networks, with each labelled solver's fitted
  slope, guide lines n^3 and n^4, and the memory wall (x: the first n of each network skipped
  for memory); (b) time per model flop (ns/flop) against n, with the matmul peak of each library;
- ``mlp_memory-<dtype>``: the memory each network's cell needs against n (hollow: skipped for
  memory), with the machine's memory and the run's limit.

:func:`memory_wall` (the first n skipped for memory, per network) is shared with the headline
figure.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from matinv_bench.reporting import style

BASELINES = ("lu", "torch-inv")  # the classical solvers labelled one by one; the others share an entry
GIB = 2.0**30


def is_network(labels: pd.Series) -> pd.Series:
    return labels.astype(str).str.startswith("mlp")


def memory_wall(df: pd.DataFrame) -> pd.DataFrame:
    """Per network (``solver_label``) and dtype: ``first_skipped`` (the smallest n skipped for
    memory: a skipped row whose ``mem_need_bytes`` is over its ``memory_limit_bytes``, or whose
    reason says what it needs), ``last_run`` (the largest n that ran), ``limit_bytes`` and
    ``need_bytes`` at the first skipped n. Networks never skipped for memory are left out."""
    out = []
    nets = df[is_network(df["solver_label"])]
    for (label, dtype), g in nets.groupby(["solver_label", "dtype"], sort=False):
        need = pd.to_numeric(g.get("mem_need_bytes"), errors="coerce")
        limit = pd.to_numeric(g.get("memory_limit_bytes"), errors="coerce")
        over = (g["status"] == "skipped") & ((need > limit) | g["reason"].astype(str).str.startswith("needs about"))
        if not over.any():
            continue
        first = g[over].sort_values("n").iloc[0]
        ran = g[g["status"] == "ok"]
        out.append({"solver_label": label, "dtype": dtype, "first_skipped": int(first["n"]),
                    "last_run": int(ran["n"].max()) if len(ran) else None,
                    "limit_bytes": float(first.get("memory_limit_bytes", np.nan)),
                    "need_bytes": float(first.get("mem_need_bytes", np.nan))})
    return pd.DataFrame(out, columns=["solver_label", "dtype", "first_skipped", "last_run", "limit_bytes",
                                      "need_bytes"])


FIT = "bound"  # the exponents the figures show: over the sizes where the method's family is compute-bound


def exponent(slopes: pd.DataFrame, label: str, dtype: str, device: str, fit_range: str = FIT) -> pd.Series | None:
    """The ``slopes.csv`` row of one label over ``fit_range`` (a fitted one), or None."""
    if not {"solver_label", "dtype", "device", "slope", "fit_range"} <= set(slopes.columns):
        return None
    s = slopes[(slopes["solver_label"] == label) & (slopes["dtype"] == dtype) & (slopes["device"] == device)
               & (slopes["fit_range"] == fit_range) & slopes["slope"].notna()]
    return s.iloc[0] if len(s) else None


def _slope(slopes: pd.DataFrame, label: str, dtype: str, device: str) -> float:
    row = exponent(slopes, label, dtype, device)
    return float(row["slope"]) if row is not None else np.nan


def sizes_text(row: pd.Series) -> str:
    return f"n = {int(row['fit_n_lo'])}-{int(row['fit_n_hi'])}"


def _label(label: str, row: pd.Series | None) -> str:
    text = style.pretty(label)
    return text if row is None else f"{text}: $n^{{{row['slope']:.2f}}}$ ({sizes_text(row)})"


def time_finding(slopes: pd.DataFrame, labels: list[str], dtype: str, device: str,
                 ok: pd.DataFrame | None = None) -> str:
    """The time figure's title: where they are compute-bound, the networks' exponent (the median of
    theirs, over their family's shared sizes) and LU's (over the classical solvers' shared sizes),
    each beside its flop count's; without networks, how far the other solvers' times (median over
    repetitions, ``ok`` rows) are from LU's at the largest size LU and another solver both ran."""
    where = f"  [{dtype}, {device}]"
    nets = [r for r in (exponent(slopes, lab, dtype, device) for lab in labels if lab.startswith("mlp"))
            if r is not None]
    lu = exponent(slopes, "lu", dtype, device)
    if nets and lu is not None:
        net = pd.DataFrame(nets)
        flops = net["flops_exponent"].median() if "flops_exponent" in net else np.nan
        theory = f", flops $n^{{{flops:.0f}}}$" if np.isfinite(flops) else ""
        lu_flops = lu.get("flops_exponent", np.nan)
        lu_theory = f", flops $n^{{{lu_flops:.0f}}}$" if np.isfinite(lu_flops) else ""
        return (f"Where compute-bound, a network's time grows as $n^{{{net['slope'].median():.1f}}}$ "
                f"({sizes_text(net.iloc[0])}{theory}), LU's as $n^{{{lu['slope']:.1f}}}$ ({sizes_text(lu)}{lu_theory})"
                + where)
    if ok is not None and not nets and "lu" in labels:
        t = ok.groupby(["n", "solver_label"])["time_per_matrix_s"].median().unstack("solver_label")
        t = t[t["lu"].notna() & (t.drop(columns="lu").notna().sum(axis=1) > 0)]
        if len(t):
            n = t.index.max()
            ratio = (t.loc[n].drop("lu") / t.loc[n, "lu"]).dropna()
            return (f"At n = {n}, every solver runs within {ratio.max():.2f}x of LU's time "
                    f"(fastest: {style.pretty(ratio.idxmin())}, {ratio.min():.2f}x)" + where)
    return "Time per matrix against n" + where


def guides(ax, ok: pd.DataFrame, ns: np.ndarray) -> list:
    """n^3 through LU's largest size, n^4 through the largest size of the first network (x3 above); one
    legend entry for both."""
    t = ok.pivot_table(index="n", columns="solver_label", values="time_per_matrix_s")
    handles = []
    for p, names in ((3, [*BASELINES]), (4, [c for c in t.columns if str(c).startswith("mlp")])):
        name = next((c for c in names if c in t and t[c].notna().any()), None)
        if name is None:
            continue
        n0 = t[name].dropna().index.max()
        x = np.array([ns.min(), ns.max()], dtype=float)
        ls = (0, (1, 1.5)) if p == 3 else (0, (4, 2))
        (line,) = ax.plot(x, 3 * t[name][n0] * (x / n0) ** p, color=style.GUIDE, lw=1, ls=ls, zorder=0)
        line.set_gid(f"guide-n{p}")
        handles.append((line, f"guide $n^{p}$"))
    if len(handles) == 2:  # one legend entry for both: the legend stays within its 12 entries
        return [(handles[0][0], "guides $n^3$ (dotted), $n^4$ (dashed)")]
    return handles


def wall_markers(ax, wall: pd.DataFrame, colour: dict) -> tuple | None:
    """An x at the top of the time panel at each network's first size skipped for memory."""
    if wall.empty:
        return None
    for r in wall.itertuples():
        m = ax.plot([r.first_skipped], [1.0], marker="X", ms=8, color=colour.get(r.solver_label, style.WALL),
                    mec="white", mew=0.6, ls="none", transform=ax.get_xaxis_transform(), clip_on=False,
                    zorder=5)[0]
        m.set_gid(f"memory-wall:{r.solver_label}")
    limit = wall["limit_bytes"].dropna()
    text = f" over the memory limit ({limit.iloc[0] / GIB:.1f} GiB)" if len(limit) else " over the memory limit"
    return style.handle("0.4", "X", ls="none", ms=7), "x: first n" + text


def time_figure(rows: pd.DataFrame, slopes: pd.DataFrame, dtype: str, device: str):
    """(a) time per matrix and (b) time per model flop against n, for the ok rows ``rows`` of one
    dtype (numpy solvers of any device included) and all rows of the run for the memory wall."""
    ok = rows[(rows["status"] == "ok") & rows["time_per_matrix_s"].notna()]
    fam = ok.drop_duplicates("solver_label").set_index("solver_label")["family"].astype(str)
    labels = sorted(fam.index, key=lambda lab: (style.group_order(fam[lab]), list(fam.index).index(lab)))
    colour = style.colours((lab, fam[lab]) for lab in labels)
    ns = np.sort(ok["n"].unique()).astype(float)
    with style.context():
        fig, (ax, bx) = style.subplots(1, 2, figsize=(style.WIDTH, 4.9))
        entries, others = [], []
        counts = {g: 0 for g in style.GROUPS}
        lump = len(labels) + 3 > style.MAX_LEGEND  # room for the guides and the wall; else every label its entry
        for label in labels:
            # one point per size: the median over the sweep's repetitions (one row each)
            g = (
                ok[ok["solver_label"] == label]
                .groupby("n", as_index=False)
                .agg(time_per_matrix_s=("time_per_matrix_s", "median"), flops_per_matrix=("flops_per_matrix", "first"))
            )
            grp = style.group(fam[label])
            minor = lump and grp == "classical" and label not in BASELINES
            marker = None if minor else style.MARKERS[counts.get(grp, 0) % len(style.MARKERS)]
            counts[grp] = counts.get(grp, 0) + (0 if minor else 1)
            kw = dict(color=colour[label], lw=0.9 if minor else 1.6, alpha=0.75 if minor else 1.0,
                      marker=marker, ms=4, ls="--" if grp == "network" else "-")
            (line,) = ax.plot(g["n"], g["time_per_matrix_s"], **kw)
            line.set_gid(label)
            per_flop = g["time_per_matrix_s"] / g["flops_per_matrix"].astype(float) * 1e9
            bx.plot(g["n"], per_flop, **kw)[0].set_gid(label)
            if minor:
                others.append(label)
            else:
                entries.append((line, _label(label, exponent(slopes, label, dtype, device))))
        if others:
            entries.insert(sum(1 for lab in labels if lab in BASELINES),
                           (style.handle(colour[others[0]], lw=0.9), f"{len(others)} other classical solvers"))
        lo, hi = ok["time_per_matrix_s"].min(), ok["time_per_matrix_s"].max()
        ax.set_ylim(lo / 3, hi * 3)  # the guides may leave the data's range; the axes may not
        entries += guides(ax, ok, ns)
        wall = memory_wall(rows)
        wall = wall[(wall["dtype"] == dtype) & wall["solver_label"].isin(labels)]
        w = wall_markers(ax, wall, colour)
        if w is not None:
            entries.append(w)
        # the best of the run's probes (one per repetition): a probe that caught a busy moment reads low
        peaks = ok.groupby("library")["peak_gflops"].max().dropna().sort_values()
        for i, (lib, peak) in enumerate(peaks.items()):  # slowest first: its label above, the next one below
            bx.axhline(1.0 / peak, color=style.GUIDE, lw=1, ls=":")
            bx.annotate(f"{lib} matmul peak (best probe)", (ns.min(), 1.0 / peak), xytext=(0, 2 if i == 0 else -2),
                        textcoords="offset points", ha="left", va="bottom" if i == 0 else "top", fontsize=7,
                        color=style.GUIDE, bbox={"fc": "white", "ec": "none", "alpha": 0.8, "pad": 0.6})
        ax.set(yscale="log", xlabel="n (matrix size)", ylabel="time per matrix (s, median)",
               title="(a) time per matrix")
        bx.set(yscale="log", xlabel="n (matrix size)", ylabel="time per model flop (ns/flop)",
               title="(b) time per model flop (lower: faster)")
        for a in (ax, bx):
            style.size_axis(a, ns)
            style.log_axis(a, "y")
        style.title(fig, time_finding(slopes, labels, dtype, device, ok))
        long = max(len(text) for _, text in entries) > 34  # a label with its exponent and sizes
        style.legend_below(fig, *zip(*entries), ncol=2 if long else 3)
    return fig


def memory_finding(wall: pd.DataFrame) -> str:
    if wall.empty:
        return "A network's memory against n: every size fitted"
    first = wall.sort_values("first_skipped").iloc[0]
    limit = f"{first['limit_bytes'] / GIB:.1f}\u00a0GiB" if np.isfinite(first["limit_bytes"]) else "the limit"
    return f"From n = {int(first['first_skipped'])}, a network's cell needs more memory than the run's {limit}"


def memory_figure(nets: pd.DataFrame, dtype: str):
    """The memory each network's cell needs (``mem_need_bytes``: weights, batch and data; else
    the weights, ``param_bytes``) against n; filled: ran, hollow: skipped for memory."""
    need = "mem_need_bytes" if "mem_need_bytes" in nets and nets["mem_need_bytes"].notna().all() else "param_bytes"
    labels = list(dict.fromkeys(nets["solver_label"]))
    colour = style.colours((lab, "learned") for lab in labels)
    with style.context():
        fig, ax = style.subplots(figsize=(style.WIDTH * 0.75, 3.9))
        entries = []
        for i, label in enumerate(labels):
            g = nets[nets["solver_label"] == label].sort_values("n")
            gib = g[need].astype(float) / GIB
            marker = style.MARKERS[i % len(style.MARKERS)]
            (line,) = ax.plot(g["n"], gib, color=colour[label], lw=1.4, marker=None)
            line.set_gid(label)
            ran = (g["status"] == "ok").to_numpy()
            ax.plot(g["n"][ran], gib[ran], ls="none", marker=marker, color=colour[label])
            ax.plot(g["n"][~ran], gib[~ran], ls="none", marker=marker, mfc="white", mec=colour[label])
            entries.append((style.handle(colour[label], marker), style.pretty(label)))
        env = nets.iloc[0]
        for value, text, ls in ((env.get("memory_total_bytes"), "machine memory", "-"),
                                (env.get("memory_limit_bytes"), "this run's limit", "--")):
            if pd.notna(value):
                ax.axhline(float(value) / GIB, color=style.WALL, lw=1.1, ls=ls)
                entries.append((style.handle(style.WALL, ls=ls, lw=1.1), f"{text} ({float(value) / GIB:.1f} GiB)"))
        entries.append((style.handle("0.4", "o", ls="none", mfc="white"), "hollow: skipped, not run"))
        ax.set(yscale="log", xlabel="n (matrix size)",
               ylabel="memory a cell needs (GiB)" if need == "mem_need_bytes" else "weights (GiB)",
               title=f"weights, batch and data ({dtype})" if need == "mem_need_bytes" else f"weights ({dtype})")
        style.size_axis(ax, nets["n"].unique())
        style.log_axis(ax, "y")
        style.title(fig, memory_finding(memory_wall(nets)))
        style.legend_below(fig, *zip(*entries), ncol=2)
    return fig


def read_slopes(folder: Path) -> pd.DataFrame:
    path = folder / "slopes.csv"
    if not path.is_file() or path.stat().st_size <= 1:
        return pd.DataFrame(columns=["solver_label", "dtype", "device", "slope"])
    return pd.read_csv(path)


def scaling_figures(folder: Path | str, df: pd.DataFrame | None = None) -> list[Path]:
    """Draw the scaling figures of a run folder from its rows (``df``, else its ``results.parquet``)
    and ``slopes.csv``; returns the paths written (PNG and SVG)."""
    folder = Path(folder)
    df = pd.read_parquet(folder / "results.parquet") if df is None else df
    slopes = read_slopes(folder)
    written = []
    ok = df[(df["status"] == "ok") & df["time_per_matrix_s"].notna()]
    for (dtype, device), g in ok.groupby(["dtype", "device"]):
        # numpy solvers always run on the host: drawn in every device's figure
        host = ok[(ok["dtype"] == dtype) & (ok["device"] != device) & (ok["library"] == "numpy")]
        rows = pd.concat([g, host, df[(df["status"] != "ok") & (df["dtype"] == dtype)]])
        written += style.save(time_figure(rows, slopes, dtype, device), folder / f"time_vs_n-{dtype}-{device}.png")
    nets = df[is_network(df["solver_label"]) & df["param_bytes"].notna()]
    for dtype, g in nets.groupby("dtype"):
        written += style.save(memory_figure(g, dtype), folder / f"mlp_memory-{dtype}.png")
    return written


def save_figure(fig, path: Path) -> list[Path]:
    """Write a matplotlib figure as PNG and SVG (see :func:`matinv_bench.reporting.style.save`) and close it."""
    return style.save(fig, path)
