"""``matinv-bench reproduce where-can``: the box sweep. Error against theta = n eps / sigma_min(A0).

For each paper base matrix and each theta (from 0.01 to beyond 1) it builds the box
``box[base=B,eps=theta*sigma_min(A0)/n]`` and runs every solver on it (accuracy only, no timing):
MAE, max error, and ``frac_bad`` (the :class:`BadFraction` hook, computed wherever the cell runs),
the fraction of test matrices where the solver fails or its relative error ||X - X*||_F / ||X*||_F
exceeds ``--threshold``.
theta < 1 proves the box holds no singular matrix; the linear approximation's error should
grow like theta^2, and every matmul-only method should break down as theta nears 1.
Writes ``results.parquet``/``.csv``, ``summary.md`` and ``where_can.png`` (with its SVG; and the
cells, ``cells/``) to ``--out`` (default: a fresh ``results/where-can-<date>-<time>``); ``--replot``
only redraws the figure from the rows in ``--out``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from matinv_bench.analysis.breakdown import BROKEN, breaks_at, by_method
from matinv_bench.datasets.boxes import BASES
from matinv_bench.engine import options
from matinv_bench.engine.hooks import Hook
from matinv_bench.engine.runner import Cell
from matinv_bench.experiments import register
from matinv_bench.experiments.skeleton import Experiment, seeded_grid
from matinv_bench.reporting import precision, style, summary
from matinv_bench.reporting.style import save
from matinv_bench.scoring import metrics

THETAS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.7, 0.9, 1.2, 2.0, 4.0)
BASE_NAMES = ("paper-2x2-1st", "paper-2x2-2nd", "paper-3x3")
SOLVERS = ("lu", "linear-approx", "neumann[order=1]", "neumann[order=2]", "neumann[order=3]",
           "newton-schulz[init=base,steps=1]", "newton-schulz[init=base,steps=2]", "newton-schulz[init=base,steps=3]",
           "learned-ns[init=base,steps=2]", "mlp-2fc[recipe={recipe}]")
THRESHOLD = 1e-2  # relative error counted as a breakdown


def box_spec(base: str, theta: float) -> str:
    """The box around ``base`` whose theta = n eps / sigma_min(A0) is ``theta``."""
    A0 = BASES[base]
    eps = theta * np.linalg.svd(A0, compute_uv=False)[-1] / A0.shape[0]
    return f"box[base={base},eps={eps:.12g}]"


class BadFraction(Hook):
    """The fraction of matrices failed or with relative error above ``threshold`` (``frac_bad``),
    with the box's ``eps`` and ``base``."""

    def after(self, cell, solver, data, result, row) -> dict:
        threshold = self.args["threshold"]
        rel = metrics.per_matrix(result.X, data.A, data.inv_ref, data.kappa,
                                 metrics.unit_roundoff(np.float64))["rel_fro_err"]
        with np.errstate(invalid="ignore"):
            bad = result.failed | ~np.isfinite(rel) | (rel > threshold)
        return {"frac_bad": float(bad.mean()), "threshold": threshold, "eps": data.eps,
                "base": getattr(data.source, "base_name", "")}


def add_threshold(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--threshold", type=float, default=THRESHOLD,
                   help=f"relative error counted as {what} (default: {THRESHOLD:g})")


class BoxSweep(Experiment):
    """What where-can and out-of-box share: the paper's bases (``--base``), three seeds, accuracy
    only, and ``frac_bad`` against ``--threshold`` (the :class:`BadFraction` hook or a subclass)."""

    shared = {"solver": None, "recipe": "quick", "seeds": 3, "n_matrices": 1000, "retrain": ...}
    default_solvers: tuple[str, ...] = ()
    bad = "bad"  # what a matrix over the threshold is called in --threshold's help

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        p.add_argument("--base", nargs="+", default=list(BASE_NAMES), choices=sorted(BASES), help="base matrices A0")
        add_threshold(p, self.bad)

    def check(self, args: argparse.Namespace) -> None:
        options.require_positive("--threshold", args.threshold)

    def specs(self, args: argparse.Namespace) -> list[str]:
        return [s.format(recipe=args.recipe) for s in (args.solver or self.default_solvers)]

    def settings(self, args: argparse.Namespace) -> dict:
        return {"time_it": False}

    def hook_args(self, args: argparse.Namespace, rows: Path) -> dict:
        return {"threshold": args.threshold}


class WhereCan(BoxSweep):
    name = "where-can"
    order = 20
    help = "box sweep: error of every method against theta = n eps / sigma_min(A0)"
    title = "Where can: the box sweep"
    helps = {"solver": "solver specs (default: LU, linear-approx, Neumann 1-3, Newton-Schulz 1-3, the learned "
                       "iteration, mlp-2fc)"}
    hook = f"{__name__}:BadFraction"
    default_solvers = SOLVERS
    bad = "a breakdown"

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        super().add_arguments(p)
        p.add_argument("--theta", nargs="+", type=float, default=list(THETAS), help="theta values to sweep")

    def check(self, args: argparse.Namespace) -> None:
        super().check(args)
        options.require_positive("--theta", args.theta)

    def cells(self, args: argparse.Namespace) -> list[Cell]:
        datasets = [box_spec(b, t) for b in args.base for t in sorted(args.theta)]
        return seeded_grid(self.specs(args), datasets, args.seeds)

    def write(self, df: pd.DataFrame, out: Path, args: argparse.Namespace, command: str) -> list[Path]:
        return write(df, out, command) + self.figures(df, out)

    def figures(self, df: pd.DataFrame, out: Path) -> list[Path]:
        ok = df[(df.status == "ok") & ~precision.untrained(df)]
        return save(figure(ok), out / "where_can.png") if len(ok) else []


register(WhereCan())


def write(df: pd.DataFrame, out: Path, command: str) -> list[Path]:
    """The Markdown summary: per base, where each method breaks, and the MAE (converged matrices),
    failed share and ``frac_bad`` by theta x method, the mean over seeds."""
    ok = df[df.status == "ok"].copy()
    seeds = int(ok.seed.nunique()) if len(ok) else 0
    lines = ["", "theta = n eps / sigma_min(A0); theta < 1 proves the box holds no singular matrix. "
             "Errors against trustworthy references. `mae`: over the matrices a method did not fail on (an "
             "iteration flags those it did not converge on), beside `failure_rate`, the share it failed on; "
             "`frac_bad`: the share failed or with a relative error above "
             f"{df['threshold'].dropna().iloc[0] if df['threshold'].notna().any() else '?'}. "
             f"Each number is the mean over {seeds} seed{'s' if seeds != 1 else ''} (seed s: network seed s, test "
             "split s).", ""]
    if len(ok):
        curves = by_method(ok[~precision.untrained(ok)], "theta")
        at = breaks_at(curves)
        table = at.map(lambda v: "" if np.isnan(v) else "never" if not np.isfinite(v) else f"{v:g}")
        lines += ["## Where each method breaks", "",
                  f"The smallest θ at which over half ({BROKEN:g}) of the test matrices are bad (`frac_bad`, the mean "
                  "over seeds), per base.", "", table.to_markdown(), ""]
    for base, g in ok.groupby("base"):
        g = by_method(g, "theta")
        for metric, name in (("mae", "MAE over converged matrices"), ("failure_rate", "failed share"),
                             ("frac_bad", "frac_bad")):
            pivot = g.pivot_table(index="theta", columns="solver", values=metric, aggfunc="first")
            lines += [f"## {base}: {name}", "", pivot.to_markdown(floatfmt=".3g"), ""]
    not_ok = df[df.status != "ok"]
    if len(not_ok):
        lines += ["## Not run", "", not_ok.groupby(["solver", "status", "reason"], dropna=False).size()
                  .rename("cells").reset_index().to_markdown(index=False), ""]
    return [summary.write(out, df, WhereCan.title, command, lines)]


MOSTLY_FAILED = 0.5  # a point where over half the matrices failed is drawn hollow, off the line


def per_base(values: pd.Series, unit: str = "θ") -> str:
    """``θ = 0.9 (paper-2x2-1st), θ = 1.2 (paper-2x2-2nd, paper-3x3), never (...)``: the value of
    every base, each named (bases with the same value together)."""
    groups: dict[float, list[str]] = {}
    for base, v in values.dropna().items():
        groups.setdefault(float(v), []).append(str(base))
    return ", ".join(f"{unit} = {v:g} ({', '.join(b)})" if np.isfinite(v) else f"never ({', '.join(b)})"
                     for v, b in sorted(groups.items()))


def finding(curves: pd.DataFrame) -> str:
    """The figure's title: per base, where the first network breaks down (over half its matrices
    bad), where the first matmul-only series does, and whether LU ever does."""
    at = breaks_at(curves)
    group = curves.drop_duplicates("solver").set_index("solver")["family"].map(style.group)[at.index]
    nets, series = at[group == "network"], at[group == "matmul-only"]
    if nets.empty:
        return "Where each method breaks down: over half its matrices off by more than the threshold"
    parts = [f"The first network fails on most matrices from {per_base(nets.min())}"]
    if len(series):
        parts.append(f"the first series from {per_base(series.min())}")
    if "lu" in at.index and not np.isfinite(at.loc["lu"]).any():
        parts.append("LU never")
    return "; ".join(parts)


def draw_curves(curves: pd.DataFrame, x: str, bases: list[str]) -> tuple:
    """Two rows of panels, one column per base: ``mae`` (top) and ``frac_bad`` (bottom, with a bar
    from the smallest to the largest seed) against the column ``x``, one line per solver of
    ``curves`` (:func:`by_method` rows with ``label``), coloured by family, a line style per solver
    name within a family. A point where over half the matrices failed (``failure_rate``) is drawn
    hollow and off the line in the top row: its MAE covers the few that converged. Returns
    (figure, axes, legend handles); call inside ``style.context()``."""
    members = curves.drop_duplicates("solver").sort_values("family", key=lambda f: f.map(style.group_order),
                                                           kind="stable")
    colour = style.colours(zip(members["solver"], members["family"]))
    names: dict = {}
    fig, axes = style.subplots(2, len(bases), figsize=(style.WIDTH, 5.6), squeeze=False, sharex=True)
    handles = []
    hollow = False
    for i, r in enumerate(members.itertuples(index=False)):
        name = r.solver.split("[")[0]
        ls = ("-", "--", ":", "-.")[names.setdefault((style.group(r.family), name), len(
            [k for k in names if k[0] == style.group(r.family)])) % 4]
        kw = dict(color=colour[r.solver], ls=ls, marker=style.MARKERS[i % len(style.MARKERS)], ms=3.5,
                  lw=2.0 if r.family == "learned" else 1.3)
        for j, base in enumerate(bases):
            g = curves[(curves.solver == r.solver) & (curves.base == base)].sort_values(x)
            failed = g.failure_rate.fillna(0) > MOSTLY_FAILED
            axes[0, j].plot(g[x], g.mae.where(~failed), **kw)[0].set_gid(r.solver)
            if failed.any():
                hollow = True
                axes[0, j].plot(g.loc[failed, x], g.loc[failed, "mae"], ls="none", marker=kw["marker"], ms=4.5,
                                mfc="none", mec=kw["color"])
            axes[1, j].plot(g[x], g.frac_bad, **kw)[0].set_gid(r.solver)
            if (g.seeds > 1).any():
                axes[1, j].vlines(g[x], g.frac_bad_min, g.frac_bad_max, color=kw["color"], lw=0.9, alpha=0.6)
        handles.append((style.handle(kw["color"], kw["marker"], kw["ls"], kw["lw"], ms=3.5), r.label))
    if hollow:
        handles.append((style.handle("0.4", "o", ls="none", ms=4.5, mfc="none"),
                        "hollow: over half the matrices failed"))
    return fig, axes, handles


def figure(ok: pd.DataFrame):
    """Top row: MAE against theta (log-log) over the matrices a method did not fail on (hollow where
    it failed on most), with a slope-2 guide on the linear approximation. Bottom row: ``frac_bad``,
    where each method breaks down. One line per method, the mean over seeds (curves identical to
    another's at every theta merged into one; untrained networks left out), one column per base;
    theta = 1 marked. Title: :func:`finding`."""
    ok = ok[~precision.untrained(ok)]  # made for timing only: their accuracy is never drawn
    curves = by_method(ok, "theta").sort_values(["base", "theta"])
    curves = precision.merge_identical(curves, ["base", "theta"], "mae", keep=("recipe",))
    bases = list(dict.fromkeys(ok["base"]))
    with style.context():
        fig, axes, handles = draw_curves(curves, "theta", bases)
        for j, base in enumerate(bases):
            top, bottom = axes[0, j], axes[1, j]
            lin = curves[(curves.base == base) & (curves.solver == "linear-approx")].sort_values("theta")
            if len(lin):
                t0, e0 = lin.theta.iloc[0], lin.mae.iloc[0]
                th = np.array([t0, 1.0])
                top.plot(th, 3 * e0 * (th / t0) ** 2, color=style.GUIDE, lw=0.9, ls=(0, (4, 2)))
            for ax in (top, bottom):
                ax.axvline(1.0, color=style.GUIDE, lw=1, ls=":")
                ax.set_xscale("log")
            top.set(yscale="log", title=base, ylabel="mean abs. error,\nconverged matrices" if j == 0 else "")
            bottom.set(ylim=(-0.03, 1.03), xlabel="θ = n ε / σ_min(A0)",
                       ylabel=f"share failed or with\nrel. error > {ok.threshold.iloc[0]:g}" if j == 0 else "")
            style.log_axis(top, "y", max_labels=5)
            style.log_axis(bottom, "x", max_labels=4)
        if (curves.solver == "linear-approx").any():
            handles.append((style.handle(style.GUIDE, ls=(0, (4, 2)), lw=0.9), "guide: slope 2 (θ²)"))
        style.title(fig, finding(curves))
        style.legend_below(fig, *zip(*handles), ncol=3)
    return fig
