"""``matinv-bench reproduce where-can-n``: accuracy against n at a fixed theta.

Does the networks' edge over the linear approximation shrink or vanish as n grows, at equal theta
and at equal flops? For each size n and each theta (default n in {2, 3, 4, 6, 8, 12, 16}, theta in
{0.1, 0.3, 0.6}) the box ``spd-box[n=N,cond=10,theta=T]`` (:class:`~matinv_bench.datasets.boxes.SPDBox`:
a seeded SPD base A0 per n, eps = theta lambda_min(A0) / n, so theta = n eps / sigma_min(A0) < 1
and no matrix of the box is singular) is solved by the paper-width 2-FC and 3-FC networks (8 n^2
hidden units) trained with one recipe (``--recipe``, default ``quick``), the linear approximation,
Neumann (orders 2, 3), Newton-Schulz and learned Newton-Schulz from inv(A0) (2 steps), and
``minimax-ns``. The networks train first, the seeds and the thetas of one size as one stacked
model (:mod:`~matinv_bench.experiments.pretrain`); then every cell runs (MAE and the time per
matrix; ``--no-timing`` for accuracy only).

The answer is computed from the rows (:func:`edges`): for each theta and n, the best network's
MAE over the linear approximation's (the edge; below 1 the network is better), and the same
against the matmul-only method whose model flops per matrix (``flops(n)``, see
:mod:`~matinv_bench.solvers.flops`) are the fewest at or above the best network's, else the most
(equal flops); :func:`verdict` puts each trend into words.

The default n stops at 16 for the CPU budget: the 3-FC at width 8 n^2 has about 80 n^4 weights
(5.2 million at n = 16), and the ``quick`` recipe caps each network's training at 1e12 flops, so
from n = 16 on the 3-FC gets its floor of 100 steps and the 2-FC a few hundred; larger sizes
(``--n 24 32``) run, with a larger recipe (``fast``; ``paper`` on a GPU) to train them in earnest.

Writes ``results.parquet``/``.csv`` (and ``cells/``), ``summary.md``, ``where_can_n.png`` (MAE
against n, one panel per theta) and ``work_precision_n.png`` (MAE against time per matrix at the
middle theta, one panel per n, at most 8), each figure with its SVG, to ``--out`` (default: a
fresh ``results/where-can-n-<date>-<time>``); ``--replot`` only redraws the figures.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from matinv_bench.engine.runner import Cell
from matinv_bench.errors import OptionError
from matinv_bench.experiments import register
from matinv_bench.experiments.skeleton import Experiment, seeded_grid
from matinv_bench.reporting import precision, style, summary
from matinv_bench.reporting.style import save
from matinv_bench.specs import parse_spec

NAME = "where-can-n"
NS = (2, 3, 4, 6, 8, 12, 16)
THETAS = (0.1, 0.3, 0.6)
COND = 10  # condition number of the SPD base
SOLVER_SPECS = ("mlp-2fc[recipe={recipe}]", "mlp-3fc[recipe={recipe}]", "linear-approx", "neumann[order=2]",
                "neumann[order=3]", "newton-schulz[init=base,steps=2]", "learned-ns[init=base,steps=2]", "minimax-ns")
BASELINE = "linear-approx"
LIMIT_NOTE = ("The default n stops at 16 for the CPU budget: the 3-FC at width 8 n² has about 80 n⁴ weights "
              "(5.2 million at n = 16) and the `quick` recipe caps each network's training at 1e12 flops, so the "
              "networks train fewer steps as n grows (see the training table). `--n` takes larger sizes; "
              "train them with a larger recipe (`fast`, or `paper` on a GPU).")


def dataset_spec(n: int, theta: float) -> str:
    """The SPD box of size n whose theta = n eps / sigma_min(A0) is ``theta``."""
    return f"spd-box[n={n},cond={COND},theta={theta:g}]"


def box_theta(dataset: str) -> float:
    """The theta a dataset spec asks for (exact, unlike the row's ``theta``, which is computed)."""
    return float(parse_spec(dataset)[1]["theta"])


class WhereCanN(Experiment):
    name = NAME
    order = 21
    help = ("accuracy against n at a fixed theta: does the networks' edge over the linear approximation "
            "shrink as n grows?")
    title = "Where can, as n grows"
    shared = {"solver": None, "recipe": "quick", "seeds": 1, "n_matrices": 1000, "no_timing": ..., "retrain": ...}
    helps = {"solver": "solver specs (default: 2-FC and 3-FC, linear-approx, Neumann 2-3, Newton-Schulz and "
                       "learned Newton-Schulz from inv(A0), 2 steps, minimax-ns)",
             "no_timing": "accuracy only: skip the timing (no work-precision figure)"}

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        p.add_argument("--n", nargs="+", type=int, default=list(NS), metavar="N",
                       help=f"matrix sizes (default: {' '.join(map(str, NS))}; larger ones run, see --recipe)")
        p.add_argument("--theta", nargs="+", type=float, default=list(THETAS),
                       help=f"theta = n eps / sigma_min(A0), each in (0, 1) (default: {' '.join(map(str, THETAS))})")

    def check(self, args: argparse.Namespace) -> None:
        for t in args.theta:
            if not 0 < t < 1:
                raise OptionError(f"--theta must be in (0, 1), where the box provably holds no singular matrix; "
                                  f"got {t:g}")
        for n in args.n:
            if n < 2:
                raise OptionError(f"--n must be at least 2, got {n}")

    def cells(self, args: argparse.Namespace) -> list[Cell]:
        """Every solver on every box, for each seed; a network gets the cell's seed as its own
        (initialisation and batches), as in the paper tables."""
        specs = [s.format(recipe=args.recipe) for s in (args.solver or SOLVER_SPECS)]
        datasets = [dataset_spec(n, t) for t in sorted(set(args.theta)) for n in sorted(set(args.n))]
        return seeded_grid(specs, datasets, args.seeds)

    def write(self, df: pd.DataFrame, out: Path, args: argparse.Namespace, command: str) -> list[Path]:
        return [write(df, out, command), *self.figures(df, out)]

    def figures(self, df: pd.DataFrame, out: Path) -> list[Path]:
        return figures(df, out)


register(WhereCanN())


# --- the answer, from the rows ------------------------------------------------------------------

def methods(df: pd.DataFrame) -> pd.DataFrame:
    """Per theta x n x method (spec without seed and device): the mean over seeds of ``mae`` and
    ``time_per_matrix_s``, with ``flops`` (``flops_per_matrix``), ``family``, ``train_steps`` and
    ``seeds``. Only ok rows, and never an untrained network."""
    ok = df[(df["status"] == "ok") & ~precision.untrained(df)]
    ok = ok.assign(box_theta=ok["dataset"].map(box_theta), n=ok["n"].astype(int),
                   method=ok["solver"].map(lambda s: style.without(s, "seed", "device")))
    cols = {"mae": "mean", "time_per_matrix_s": "mean", "flops_per_matrix": "first", "family": "first",
            "seed": "nunique"}
    if "train_steps" in ok:
        cols["train_steps"] = "mean"
    g = ok.groupby(["box_theta", "n", "method"], sort=True).agg(cols)
    return g.rename(columns={"flops_per_matrix": "flops", "seed": "seeds"}).reset_index()


def _matched(others: pd.DataFrame, flops: float) -> pd.Series:
    """The method of ``others`` with the fewest flops at or above ``flops``, else the most; the most
    accurate of those with that count."""
    above = others[others["flops"] >= flops]
    pick = (
        above[above["flops"] == above["flops"].min()]
        if len(above)
        else others[others["flops"] == others["flops"].max()]
    )
    return pick.loc[pick["mae"].idxmin()]


def edges(df: pd.DataFrame) -> pd.DataFrame:
    """Per theta and n (where a trained network and the linear approximation both have an ok row):
    the best network (lowest MAE) and ``edge`` = its MAE / the linear approximation's; and
    ``flops_edge`` = its MAE / the MAE of ``matched``, the matmul-only method picked by
    :func:`_matched` (``matched_flops_ratio``: its flops over the network's)."""
    m = methods(df)
    lines = []
    for (theta, n), g in m.groupby(["box_theta", "n"], sort=True):
        nets = g[g["family"].map(style.group) == "network"].dropna(subset=["mae"])
        lin = g[g["method"] == BASELINE]
        if nets.empty or lin.empty:
            continue
        best = nets.loc[nets["mae"].idxmin()]
        line = {"theta": theta, "n": int(n), "network": best["method"], "network_mae": best["mae"],
                "network_flops": best["flops"], "linear_mae": lin["mae"].iloc[0],
                "edge": best["mae"] / lin["mae"].iloc[0]}
        series = g[(g["family"].map(style.group) == "matmul-only") & g["flops"].notna()].dropna(subset=["mae"])
        if len(series):
            match = _matched(series, best["flops"])
            line.update(matched=match["method"], matched_mae=match["mae"],
                        matched_flops_ratio=match["flops"] / best["flops"], flops_edge=best["mae"] / match["mae"])
        lines.append(line)
    # no pair (no trained network ran, or no linear approximation): the columns all the same
    return pd.DataFrame(lines, columns=None if lines else ["theta", "n", "network", "network_mae", "network_flops",
                                                             "linear_mae", "edge"])


def verdict(ns: list[int], ratio: list[float]) -> tuple[str, str]:
    """How a ratio (network MAE / other MAE, below 1 where the network wins) moves as n grows: a
    one-word kind (``never``, ``vanishes``, ``shrinks``, ``holds``, ``mixed``; ``one size`` for a
    single n) and a sentence."""
    r = np.asarray(ratio, dtype=float)
    if len(r) == 1:
        return "one size", (f"one size only, no trend: at n = {ns[0]} the ratio is {r[0]:.3g}, the networks "
                            f"{'win' if r[0] < 1 else 'do not win'}")
    span = f"{r[0]:.3g} at n = {ns[0]} to {r[-1]:.3g} at n = {ns[-1]}"
    wins = r < 1
    if not wins.any():
        return "never", f"the networks never beat it (ratio {span})"
    if wins.all():
        if r[-1] > r[0]:
            steady = "" if np.all(np.diff(r) >= 0) else ", not monotonically"
            return (
                "shrinks",
                f"the edge shrinks but holds: the networks win at every n, the ratio rising from {span}{steady}",
            )
        return "holds", f"the edge holds: the networks win at every n, the ratio going from {span}"
    last_win = max(i for i in range(len(r)) if wins[i])
    if last_win < len(r) - 1:
        until = "win up to" if wins[:last_win + 1].all() else "last win at"
        return "vanishes", (f"the edge vanishes: the networks {until} n = {ns[last_win]} and not from "
                            f"n = {ns[last_win + 1]} on (ratio {span})")
    return "mixed", (
        f"the edge comes and goes: the networks win at n = {', '.join(str(ns[i]) for i in np.flatnonzero(wins))} "
        f"only (ratio {span})"
    )


def answer(e: pd.DataFrame) -> list[str]:
    """The answer in words, one line per theta at equal theta and one at equal flops."""
    lines = []
    for theta, g in e.groupby("theta", sort=True):
        ns = g["n"].tolist()
        lines.append(f"- θ = {theta:g}, against the linear approximation: {verdict(ns, g['edge'].tolist())[1]}.")
        if "flops_edge" in g and g["flops_edge"].notna().all():
            ratio = g["matched_flops_ratio"]
            cost = (f"{ratio.min():.2g}× to {ratio.max():.2g}× the network's flops" if ratio.min() != ratio.max()
                    else f"{ratio.min():.2g}× the network's flops")
            short = (" (no matmul-only method run has as many flops as the network: where it wins, it wins "
                     "with fewer)") if (ratio < 1).any() else ""
            lines.append(
                f"- θ = {theta:g}, at equal flops (against {', '.join(f'`{m}`' for m in dict.fromkeys(g['matched']))}, "
                f"{cost}{short}): {verdict(ns, g['flops_edge'].tolist())[1]}."
            )
    return lines


def training_note(m: pd.DataFrame) -> list[str]:
    """A line on how many steps each network trained at the smallest and largest n, where that
    falls with n (the recipe's flop cap): then part of any shrinking edge is the training budget's."""
    if "train_steps" not in m:
        return []
    nets = m[(m["family"].map(style.group) == "network") & m["train_steps"].notna()]
    steps = nets.groupby(["method", "n"])["train_steps"].mean()
    parts = []
    for method, s in steps.groupby(level="method"):
        s = s.droplevel("method").sort_index()
        if len(s) > 1 and s.iloc[-1] < s.iloc[0]:
            parts.append(f"`{method}` {s.iloc[0]:.0f} steps at n = {s.index[0]}, {s.iloc[-1]:.0f} at n = {s.index[-1]}")
    if not parts:
        return []
    return [(f"- Training budget: {'; '.join(parts)}. The recipe trains larger networks for fewer steps, so part "
             "of any change of the edge with n is the training budget's, not the size's.")]


def finding(e: pd.DataFrame) -> str:
    """The MAE figure's title: the kind of trend at each theta."""
    if e.empty:
        return "Mean absolute error against n"
    kinds = [f"θ = {t:g}: {verdict(g['n'].tolist(), g['edge'].tolist())[0]}" for t, g in e.groupby("theta", sort=True)]
    return "The best network's edge over the linear approximation as n grows — " + "; ".join(kinds)


# --- output -------------------------------------------------------------------------------------

def edge_table(e: pd.DataFrame) -> str:
    view = pd.DataFrame({
        "θ": e["theta"].map(lambda t: f"{t:g}"), "n": e["n"], "best network": e["network"].map(lambda s: f"`{s}`"),
        "network MAE": e["network_mae"], "linear approx. MAE": e["linear_mae"], "edge (ratio)": e["edge"]})
    if "flops_edge" in e:
        view["equal-flops method"] = e["matched"].map(lambda s: f"`{s}`" if isinstance(s, str) else "")
        view["its flops / net's"] = e["matched_flops_ratio"]
        view["equal-flops MAE"] = e["matched_mae"]
        view["edge at equal flops"] = e["flops_edge"]
    return view.to_markdown(index=False, floatfmt=".3g")


def write(df: pd.DataFrame, out: Path, command: str) -> Path:
    """The Markdown summary: the answer, the edge table, MAE by n x solver per theta, training
    steps by n."""
    m = methods(df)
    e = edges(df)
    lines = ["",
             f"Boxes `spd-box[n=N,cond={COND},theta=T]`: a seeded SPD base A0 per n, eps = θ λ_min(A0) / n, so "
             "θ = n eps / σ_min(A0) < 1 and no matrix of a box is singular. MAE against trustworthy references, the "
             "mean over seeds; networks at the paper's widths (8 n² hidden units). " + LIMIT_NOTE, "",
             "## The answer", "",
             ("Edge: the best network's MAE divided by the other method's (below 1: the network is better). At equal "
              "flops the other method is the matmul-only one whose model flops per matrix are the fewest at or above "
              "the best network's, else the most."), "",
             *(answer(e) or ["- No θ and n with both a trained network and the linear approximation."]),
             *training_note(m), ""]
    if len(e):
        lines += ["## Edge over the linear approximation, and at equal flops", "", edge_table(e), ""]
    for theta, g in m.groupby("box_theta", sort=True):
        pivot = g.pivot_table(index="n", columns="method", values="mae", aggfunc="first")
        lines += [f"## MAE, θ = {theta:g}", "", pivot.to_markdown(floatfmt=".3g"), ""]
    if "train_steps" in m and m["train_steps"].notna().any():
        nets = m[m["family"].map(style.group) == "network"]
        steps = nets.pivot_table(index="n", columns="method", values="train_steps", aggfunc="mean")
        lines += ["## Training steps per network", "", steps.to_markdown(floatfmt=".0f"), ""]
    not_ok = df[df.status != "ok"]
    if len(not_ok):
        lines += ["## Not run", "", not_ok.groupby(["solver", "status", "reason"], dropna=False).size()
                  .rename("cells").reset_index().to_markdown(index=False), ""]
    return summary.write(out, df, WhereCanN.title, command, lines)


def figures(df: pd.DataFrame, out: Path) -> list[Path]:
    """Draw ``where_can_n.png`` and, from timed rows, ``work_precision_n.png`` (each with its SVG)
    into ``out``; returns the PNGs written (none without an ok row of a trained solver)."""
    m = methods(df)
    if m.empty:
        return []
    written = [save(figure(m, edges(df)), out / "where_can_n.png")[0]]
    wp = work_precision_rows(df)
    if len(wp):
        written.append(save(precision.work_precision_figure(wp, ("size", "sizes")), out / "work_precision_n.png")[0])
    return written


def figure(m: pd.DataFrame, e: pd.DataFrame):
    """MAE against n (log-log), one panel per theta, a line per method (curves equal at every
    theta and n merged into one), coloured by family; networks drawn thicker."""
    curves = precision.merge_identical(m, ["box_theta", "n"], "mae", by="method")
    members = curves.drop_duplicates("method").sort_values("family", key=lambda f: f.map(style.group_order),
                                                           kind="stable")
    colour = style.colours(zip(members["method"], members["family"]))
    thetas = sorted(m["box_theta"].unique())
    with style.context():
        fig, axes = style.subplots(1, len(thetas), figsize=(style.WIDTH, 3.6), squeeze=False, sharey=True)
        handles = []
        for i, r in enumerate(members.itertuples(index=False)):
            net = style.group(r.family) == "network"
            kw = {"color": colour[r.method], "marker": style.MARKERS[i % len(style.MARKERS)], "ms": 3.5,
                  "lw": 2.0 if net else 1.3, "ls": "-" if net else "--"}
            for ax, theta in zip(axes[0], thetas):
                g = curves[(curves["method"] == r.method) & (curves["box_theta"] == theta)].sort_values("n")
                ax.plot(g["n"], g["mae"], **kw)[0].set_gid(r.method)
            handles.append((style.handle(kw["color"], kw["marker"], kw["ls"], kw["lw"], ms=3.5), r.label))
        for j, (ax, theta) in enumerate(zip(axes[0], thetas)):
            ax.set(yscale="log", title=f"θ = {theta:g}", xlabel="n (matrix size)",
                   ylabel="mean abs. error" if j == 0 else "")
            style.size_axis(ax, m["n"])
            ax.set_xticks(sorted(m["n"].unique()))  # every size run, not only the powers of two
            style.log_axis(ax, "y", max_labels=6)
        style.title(fig, finding(e))
        style.legend_below(fig, *zip(*handles), ncol=3)
    return fig


def work_precision_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The timed ok rows at the middle theta, at most 8 sizes (evenly spread, first and last
    kept), each with its panel title; empty without timed rows."""
    timed = df[(df["status"] == "ok") & df["time_per_matrix_s"].notna()]
    if timed.empty:
        return timed
    timed = timed.assign(box_theta=timed["dataset"].map(box_theta))
    thetas = sorted(timed["box_theta"].unique())
    theta = thetas[(len(thetas) - 1) // 2]
    ns = sorted(timed["n"].unique())
    keep = [ns[i] for i in sorted(set(np.linspace(0, len(ns) - 1, min(len(ns), style.MAX_PANELS)).round().astype(int)))]
    rows = timed[(timed["box_theta"] == theta) & timed["n"].isin(keep)]
    return rows.assign(panel=rows["n"].map(lambda n: f"n = {n}, θ = {theta:g}"))
