"""Figures drawn from result files only (never from a solver): seaborn/matplotlib, Agg backend.

:func:`scaling_figures` reads a scaling run folder (``results.parquet``, ``slopes.csv``) and
writes, per dtype and device:

- ``time_vs_n-<dtype>-<device>.png``: time per matrix against n, log-log, one line per solver
  with its fitted slope in the legend, and reference lines n^3 and n^4;
- ``gflops_vs_n-<dtype>-<device>.png``: achieved GFLOP/s against n, with the measured matmul
  peak of each library;
- ``mlp_memory-<dtype>.png``: the networks' weight bytes against n (hollow markers: skipped for
  memory), with the machine's memory and the run's limit.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from matinv_bench.reporting.results import atomic_write  # noqa: E402

STYLE = {"direct": "-", "iterative": ":", "approximation": ":", "learned": "--"}


def _palette(labels: list[str]) -> dict[str, tuple]:
    # tab10 then its darker/lighter pairs: neighbours in the legend stay distinguishable
    colors = sns.color_palette("tab10") + sns.color_palette("Dark2") + sns.color_palette("Set1")
    return dict(zip(labels, colors))


def _slope_text(slopes: pd.DataFrame, label: str, dtype: str, device: str) -> str:
    s = slopes[(slopes["solver_label"] == label) & (slopes["dtype"] == dtype) & (slopes["device"] == device)]
    if not len(s) or not np.isfinite(s["slope"].iloc[0]):
        return label
    r = s.iloc[0]
    return f"{label}: n^{r.slope:.2f} [{r.ci_lo:.2f}, {r.ci_hi:.2f}]"


def _reference_lines(ax, ns: np.ndarray, anchor: dict[int, tuple[float, float]]) -> None:
    for p, (n0, t0) in anchor.items():
        x = np.array([ns.min(), ns.max()], dtype=float)
        ax.plot(x, t0 * (x / n0) ** p, color="0.35", lw=1.2, ls=(0, (1, 2 + 2 * (p - 3))), zorder=0,
                label=f"reference: n^{p}")


def _finish(fig, ax, ns: np.ndarray, path: Path, legend: dict) -> None:
    """Log-log axes with the measured sizes as ticks, the legend, and the file."""
    ax.set(xscale="log", yscale="log")
    ax.set_xticks(ns, [str(n) for n in ns], fontsize=8)
    ax.minorticks_off()
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7.5, frameon=True, **legend)
    fig.tight_layout()
    fig.savefig(path, dpi=130, bbox_inches="tight")
    plt.close(fig)


def _time_figure(ok: pd.DataFrame, slopes: pd.DataFrame, dtype: str, device: str, path: Path) -> None:
    labels = list(dict.fromkeys(ok["solver_label"]))
    colors = _palette(labels)
    fig, ax = plt.subplots(figsize=(12, 6.5))
    for label in labels:
        g = ok[ok["solver_label"] == label].sort_values("n")
        t, half = g["time_per_matrix_s"], g["time_iqr_s"].fillna(0) / 2
        ax.plot(g["n"], t, color=colors[label], ls=STYLE.get(g["family"].iloc[0], "-"), marker="o", ms=3,
                lw=1.4, label=_slope_text(slopes, label, dtype, g["device"].iloc[0]))
        ax.fill_between(g["n"], (t - half).clip(lower=t / 10), t + half, color=colors[label], alpha=0.15, lw=0)
    ns = np.sort(ok["n"].unique())
    t = ok.pivot_table(index="n", columns="solver_label", values="time_per_matrix_s")
    anchor = {}
    # n^3 through LU's largest size, n^4 through the largest size of the first network
    for p, names in ((3, ["lu", "torch-inv"]), (4, [c for c in t.columns if str(c).startswith("mlp")])):
        for name in names:
            if name in t and t[name].notna().any():
                n0 = t[name].dropna().index.max()
                anchor[p] = (n0, t[name][n0] * 3)
                break
    lo, hi = ok["time_per_matrix_s"].min(), ok["time_per_matrix_s"].max()
    ax.set_ylim(lo / 3, hi * 3)  # the reference lines may leave the data's range; the axes may not
    _reference_lines(ax, ns, anchor)
    ax.set(xlabel="n (matrix size)", ylabel="seconds per matrix (median; band: IQR)",
           title=f"Time per matrix against n ({dtype}, {device})")
    _finish(fig, ax, ns, path, {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0),
                                "title": "solver: fitted slope [95% CI]", "title_fontsize": 8})


def _gflops_figure(ok: pd.DataFrame, dtype: str, device: str, path: Path) -> None:
    labels = list(dict.fromkeys(ok["solver_label"]))
    colors = _palette(labels)
    fig, ax = plt.subplots(figsize=(12, 6))
    for label in labels:
        g = ok[ok["solver_label"] == label].sort_values("n")
        ax.plot(g["n"], g["gflops"], color=colors[label], ls=STYLE.get(g["family"].iloc[0], "-"),
                marker="o", ms=3, lw=1.4, label=label)
    for i, (lib, peak) in enumerate(ok.groupby("library")["peak_gflops"].first().items()):
        ax.axhline(peak, color="k", lw=1, ls=["-", "--"][i % 2], alpha=0.6)
        ax.annotate(f"{lib} matmul peak {peak:.0f} GFLOP/s", (ok["n"].min() if i % 2 == 0 else ok["n"].max(), peak),
                    fontsize=8, xytext=(2, 3) if i % 2 == 0 else (-2, -3), textcoords="offset points",
                    ha="left" if i % 2 == 0 else "right", va="bottom" if i % 2 == 0 else "top")
    ax.set(xlabel="n (matrix size)", ylabel="achieved GFLOP/s (model flops)",
           title=f"Achieved GFLOP/s against n ({dtype}, {device}); lines: matmul peak measured in the run")
    _finish(fig, ax, np.sort(ok["n"].unique()), path, {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0)})


def _memory_figure(nets: pd.DataFrame, dtype: str, path: Path) -> None:
    labels = list(dict.fromkeys(nets["solver_label"]))
    colors = _palette(labels)
    fig, ax = plt.subplots(figsize=(8.5, 5.5))
    for label in labels:
        g = nets[nets["solver_label"] == label].sort_values("n")
        ax.plot(g["n"], g["param_bytes"], color=colors[label], lw=1.4, label=label)
        ran = g["status"] == "ok"
        ax.scatter(g.loc[ran, "n"], g.loc[ran, "param_bytes"], color=colors[label], s=18, zorder=3)
        ax.scatter(g.loc[~ran, "n"], g.loc[~ran, "param_bytes"], facecolors="none", edgecolors=colors[label],
                   s=24, zorder=3)
    env = nets.iloc[0]
    for value, text, ls in ((env.get("memory_total_bytes"), "machine memory", "-"),
                            (env.get("memory_limit_bytes"), "this run's limit", "--")):
        if pd.notna(value):
            ax.axhline(float(value), color="crimson", lw=1.2, ls=ls)
            ax.annotate(f"{text} ({float(value) / 2**30:.1f} GiB)", (nets["n"].min(), float(value)), fontsize=8,
                        color="crimson", xytext=(2, 3), textcoords="offset points")
    ax.set(xlabel="n (matrix size)", ylabel="weight bytes",
           title=f"MLP weights against n ({dtype}); filled: ran, hollow: skipped for memory")
    _finish(fig, ax, np.sort(nets["n"].unique()), path, {"loc": "lower right"})


def scaling_figures(folder: Path | str) -> list[Path]:
    """Draw the scaling figures of a run folder; returns the paths written."""
    folder = Path(folder)
    df = pd.read_parquet(folder / "results.parquet")
    slopes = pd.read_csv(folder / "slopes.csv") if (folder / "slopes.csv").stat().st_size > 1 else pd.DataFrame(
        columns=["solver_label", "dtype", "device", "slope", "ci_lo", "ci_hi"])
    sns.set_theme(style="whitegrid", context="notebook")
    written = []
    ok = df[(df["status"] == "ok") & df["time_per_matrix_s"].notna()]
    for (dtype, device), g in ok.groupby(["dtype", "device"]):
        # numpy solvers always run on the host: draw them in every device's figure
        g = pd.concat([g, ok[(ok["dtype"] == dtype) & (ok["device"] != device) & (ok["library"] == "numpy")]])
        for name, draw in (("time_vs_n", lambda p: _time_figure(g, slopes, dtype, device, p)),
                           ("gflops_vs_n", lambda p: _gflops_figure(g, dtype, device, p))):
            path = folder / f"{name}-{dtype}-{device}.png"
            draw(path)
            written.append(path)
    nets = df[df["solver_label"].astype(str).str.startswith("mlp") & df["param_bytes"].notna()]
    for dtype, g in nets.groupby("dtype"):
        path = folder / f"mlp_memory-{dtype}.png"
        _memory_figure(g, dtype, path)
        written.append(path)
    return written


def save_figure(fig, path: Path) -> None:
    """Write a matplotlib figure atomically (PNG, 130 dpi) and close it."""
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=130, bbox_inches="tight", format="png"))
    plt.close(fig)
