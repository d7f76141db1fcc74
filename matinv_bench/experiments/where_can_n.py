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

from matinv_bench.analysis.edge import box_theta, edges, methods, standing, verdict
from matinv_bench.engine import options
from matinv_bench.engine.runner import Cell
from matinv_bench.errors import OptionError
from matinv_bench.experiments import register
from matinv_bench.experiments.skeleton import Experiment, seeded_grid
from matinv_bench.reporting import precision, style, summary
from matinv_bench.reporting.style import save
from matinv_bench.solvers import SOLVERS, Trainable
from matinv_bench.solvers.learned.recipes import recipe_for

NAME = "where-can-n"
NS = (2, 3, 4, 6, 8, 12, 16)
THETAS = (0.1, 0.3, 0.6)
COND = 10  # condition number of the SPD base
NETWORKS = ("mlp-2fc[recipe={recipe},steps={steps}]", "mlp-3fc[recipe={recipe},steps={steps}]")
SOLVER_SPECS = (*NETWORKS, "linear-approx", "neumann[order=2]", "neumann[order=3]", "newton-schulz[init=base,steps=2]",
                "learned-ns[init=base,steps=2]", "minimax-ns")
STEPS = 1000  # every network, at every n: this many optimiser steps of its recipe's batch
# the sweep stops before a size whose networks would each need more training flops than this: 3-FC at n = 12
# with 1,000 steps of 512 matrices is 5.1e12 (3.3 MFLOP per matrix, times 3 for a training step); at n = 16, 1.6e13
MAX_TRAIN_FLOPS = 6e12


def dataset_spec(n: int, theta: float) -> str:
    """The SPD box of size n whose theta = n eps / sigma_min(A0) is ``theta``."""
    return f"spd-box[n={n},cond={COND},theta={theta:g}]"


class WhereCanN(Experiment):
    name = NAME
    order = 21
    help = ("accuracy against n at a fixed theta: does the networks' edge over the linear approximation "
            "shrink as n grows?")
    title = "Where can, as n grows"
    shared = {"solver": None, "recipe": "quick", "seeds": 3, "n_matrices": 1000, "no_timing": ..., "retrain": ...}
    helps = {"solver": "solver specs (default: 2-FC and 3-FC with --steps, linear-approx, Neumann 2-3, Newton-Schulz "
                       "and learned Newton-Schulz from inv(A0), 2 steps, minimax-ns)",
             "recipe": "training recipe of the default networks, its optimiser and batch (default: quick; they train "
                       "--steps steps of it at every n)",
             "no_timing": "accuracy only: skip the timing (no work-precision figure)"}

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        p.add_argument("--n", nargs="+", type=int, default=list(NS), metavar="N",
                       help=f"matrix sizes (default: {' '.join(map(str, NS))}, up to the largest that "
                            "--max-train-flops allows)")
        p.add_argument("--theta", nargs="+", type=float, default=list(THETAS),
                       help=f"theta = n eps / sigma_min(A0), each in (0, 1) (default: {' '.join(map(str, THETAS))})")
        p.add_argument("--steps", type=int, default=STEPS, metavar="S",
                       help=f"optimiser steps of every default network at every n (default: {STEPS}): equal "
                            "training at every size")
        p.add_argument("--max-train-flops", type=float, default=MAX_TRAIN_FLOPS, metavar="F",
                       help=f"stop the sweep before the first n whose networks would each need more training flops "
                            f"(default: {MAX_TRAIN_FLOPS:g}; inf: every --n)")

    def check(self, args: argparse.Namespace) -> None:
        for t in args.theta:
            if not 0 < t < 1:
                raise OptionError(f"--theta must be in (0, 1), where the box provably holds no singular matrix; "
                                  f"got {t:g}")
        for n in args.n:
            if n < 2:
                raise OptionError(f"--n must be at least 2, got {n}")
        options.require_at_least("--steps", args.steps, 1)
        options.require_positive("--max-train-flops", args.max_train_flops)

    def specs(self, args: argparse.Namespace) -> list[str]:
        return [s.format(recipe=args.recipe, steps=args.steps) for s in (args.solver or SOLVER_SPECS)]

    def sizes(self, args: argparse.Namespace) -> tuple[list[int], str]:
        """The sizes the sweep runs, and why it stops where it does (empty when it runs every --n)."""
        ns, nets = sorted(set(args.n)), [s for s in self.specs(args) if isinstance(SOLVERS.build(s), Trainable)]
        for i, n in enumerate(ns):
            cost = max((training_flops(s, n) for s in nets), default=0.0)
            if cost > args.max_train_flops:
                return ns[:i], (f"The sweep stops at n = {ns[i - 1] if i else '(none)'}: at n = {n} a network would "
                                f"need {cost:.2g} training flops, over --max-train-flops {args.max_train_flops:g}.")
        return ns, ""

    def cells(self, args: argparse.Namespace) -> list[Cell]:
        """Every solver on every box, for each seed; a network gets the cell's seed as its own
        (initialisation and batches), as in the paper tables."""
        ns, stop = self.sizes(args)
        if stop:
            print(stop)
        datasets = [dataset_spec(n, t) for t in sorted(set(args.theta)) for n in ns]
        return seeded_grid(self.specs(args), datasets, args.seeds)

    def write(self, df: pd.DataFrame, out: Path, args: argparse.Namespace, command: str) -> list[Path]:
        return [write(df, out, command, self.sizes(args)[1]), *self.figures(df, out)]

    def figures(self, df: pd.DataFrame, out: Path) -> list[Path]:
        return figures(df, out)


register(WhereCanN())


def answer(e: pd.DataFrame) -> list[str]:
    """The answer in words, one line per theta at equal theta and one at equal flops."""
    lines = []
    for theta, g in e.groupby("theta", sort=True):
        ns, seeds = g["n"].tolist(), int(g["seeds"].min())
        kind, text = verdict(ns, g["edge_lo"].tolist(), g["edge_hi"].tolist(), g["edge"].tolist(), seeds)
        lines.append(f"- θ = {theta:g}, against the linear approximation: {text}.")
        if "flops_edge" in g and g["flops_edge"].notna().all():
            ratio = g["matched_flops_ratio"]
            cost = (f"{ratio.min():.2g}× to {ratio.max():.2g}× the network's flops" if ratio.min() != ratio.max()
                    else f"{ratio.min():.2g}× the network's flops")
            short = (" (no matmul-only method run has as many flops as the network: where it wins, it wins "
                     "with fewer)") if (ratio < 1).any() else ""
            text = verdict(ns, g["flops_edge_lo"].tolist(), g["flops_edge_hi"].tolist(), g["flops_edge"].tolist(),
                           seeds)[1]
            lines.append(f"- θ = {theta:g}, at equal flops (against "
                         f"{', '.join(f'`{m}`' for m in dict.fromkeys(g['matched']))}, {cost}{short}): {text}.")
    return lines


def budget(m: pd.DataFrame) -> tuple[list[int], float]:
    """The networks' distinct step counts, and their matrices per step (NaN where unknown)."""
    if "train_steps" not in m:
        return [], np.nan
    nets = m[(m["family"].map(style.group) == "network") & m["train_steps"].notna()]
    batch = float(nets["train_batch"].median()) if len(nets) and "train_batch" in nets else np.nan
    return sorted({int(s) for s in nets["train_steps"].round()}), batch


def budget_line(m: pd.DataFrame, short: bool = False) -> str:
    """How the networks trained: the steps and matrices per step (the median: a pass over the
    training set may end on a smaller batch), and whether they were the same at every n (the point
    of the recipe's ``steps``)."""
    steps, batch = budget(m)
    if not steps:
        return "No trained network."
    per = f" of {batch:,.0f} matrices" if np.isfinite(batch) else ""
    if len(steps) == 1:
        if short:
            return f"networks: {steps[0]:,} steps{per}, every n"
        return f"Every network trained {steps[0]:,} steps{per} at every n and θ."
    if short:
        return f"networks: {steps[0]:,} to {steps[-1]:,} steps{per}"
    return (f"The networks trained between {steps[0]:,} and {steps[-1]:,} steps: the training budget differs with n, "
            "so part of any change of the edge with n is the budget's (see the training table).")


def finding(e: pd.DataFrame) -> str:
    """The MAE figure's title: the kind of trend at each theta, stated where the seeds agree."""
    if e.empty:
        return "Mean absolute error against n"
    kinds = [f"θ = {t:g}: "
             f"{verdict(g['n'].tolist(), g['edge_lo'].tolist(), g['edge_hi'].tolist(), g['edge'].tolist())[0]}"
             for t, g in e.groupby("theta", sort=True)]
    return "The best network's edge over the linear approximation as n grows (seeds agreeing) — " + "; ".join(kinds)


# --- output -------------------------------------------------------------------------------------

def _interval(mean: pd.Series, lo: pd.Series, hi: pd.Series) -> list[str]:
    return [f"{m:.3g} [{a:.3g}, {b:.3g}]" if np.isfinite(m) else "" for m, a, b in zip(mean, lo, hi)]


def edge_table(e: pd.DataFrame) -> str:
    view = pd.DataFrame({
        "θ": e["theta"].map(lambda t: f"{t:g}"), "n": e["n"], "best network": e["network"].map(lambda s: f"`{s}`"),
        "network MAE": e["network_mae"], "linear approx. MAE": e["linear_mae"],
        "edge, mean [min, max] over seeds": _interval(e["edge"], e["edge_lo"], e["edge_hi"]),
        "seeds": e["seeds"], "standing": [standing(a, b) for a, b in zip(e["edge_lo"], e["edge_hi"])]})
    if "flops_edge" in e:
        view["equal-flops method"] = e["matched"].map(lambda s: f"`{s}`" if isinstance(s, str) else "")
        view["its flops / net's"] = e["matched_flops_ratio"]
        view["edge at equal flops, mean [min, max]"] = _interval(e["flops_edge"], e["flops_edge_lo"],
                                                                 e["flops_edge_hi"])
    return view.to_markdown(index=False, floatfmt=".3g")


def training_flops(spec: str, n: int) -> float:
    """About what training one network of ``spec`` on n x n matrices costs: three times its forward
    flops (forward, backward) per matrix, times the matrices it trains on (steps x batch)."""
    solver = SOLVERS.build(spec)
    recipe = recipe_for(solver.recipe, n, solver.width(n))
    steps = solver.steps or recipe.total_steps(solver.flops(n))
    return 3.0 * solver.flops(n) * recipe.batch * steps


def write(df: pd.DataFrame, out: Path, command: str, stop: str = "") -> Path:
    """The Markdown summary: the answer, the edge table, MAE by n x solver per theta, training
    steps by n; ``stop``: why the sweep ends where it does."""
    m = methods(df)
    e = edges(df)
    lines = ["",
             f"Boxes `spd-box[n=N,cond={COND},theta=T]`: a seeded SPD base A0 per n, eps = θ λ_min(A0) / n, so "
             "θ = n eps / σ_min(A0) < 1 and no matrix of a box is singular. MAE against trustworthy references, the "
             "mean over seeds; networks at the paper's widths (8 n² hidden units). " + budget_line(m)
             + (f" {stop}" if stop else ""), "",
             "## The answer", "",
             ("Edge: the best network's MAE divided by the other method's on the same test split, seed by seed (below "
              "1: the network is better). A verdict (wins, loses) is stated at an n only where every seed agrees; "
              "where they do not, the answer says so. At equal flops the other method is the matmul-only one whose "
              "model flops per matrix are the fewest at or above the best network's, else the most."), "",
             *(answer(e) or ["- No θ and n with both a trained network and the linear approximation."]), ""]
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
    """MAE against n (log-log), one panel per theta, a line per method (the mean over seeds, a bar from
    the smallest to the largest seed; curves equal at every theta and n merged into one), coloured by
    family; networks drawn thicker; the networks' training budget in the legend."""
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
                if (g["seeds"] > 1).any():
                    ax.vlines(g["n"], g["mae_min"], g["mae_max"], color=kw["color"], lw=1.0, alpha=0.7)
            handles.append((style.handle(kw["color"], kw["marker"], kw["ls"], kw["lw"], ms=3.5), r.label))
        handles.append((style.handle("none", ls="none"), budget_line(m, short=True)))
        for j, (ax, theta) in enumerate(zip(axes[0], thetas)):
            ax.set(yscale="log", title=f"θ = {theta:g}", xlabel="n (matrix size)",
                   ylabel="mean abs. error" if j == 0 else "")
            style.size_axis(ax, m["n"])
            ax.set_xticks(sorted(m["n"].unique()))  # every size run, not only the powers of two
            style.log_axis(ax, "y", max_labels=6)
        style.title(fig, finding(e))
        style.legend_below(fig, *zip(*handles), ncol=2)
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
