"""``matinv-bench reproduce out-of-box``: trained on the eps box, tested on boxes c times as large.

For each paper base matrix A0 and each scale c, every solver is fitted on the box
A0 + eps [-1, 1]^{n x n} (the paper's eps = 0.01 by default) and scored on a test split drawn from
the box of radius c eps: the dataset ``box[base=B,eps=E,test_scale=c]``, whose training split, and
all a method knows of the box (A0, eps), are those of the eps box. So a network is trained once per
base and seed (its cache key is that of the plain eps box, the same for every c; the networks are
trained before the cells, stacked, see :mod:`~matinv_bench.experiments.pretrain`) and sees inputs
T = (A - A0) / eps in [-c, c]; the base-matrix methods (linear approximation, Neumann,
Newton-Schulz and the learned iteration from inv(A0)) need only A0 and the test matrices. c = 1 is
the training box; c < 1 a smaller box inside it.

The default scales are 0.5, 1, 2, 4, 8, then doubled until the tested box's theta = n c eps /
sigma_min(A0) is past 1 for each of the paper's three small boxes at eps = 0.01 (beyond theta = 1
the box may hold singular matrices; theta passes 1 at c = 6.9, 21.9 and 43.7: c goes up to 64;
:func:`default_scales` for other bases or eps). Accuracy only
(no timing), with ``frac_bad`` (the where-can hook): the share of test matrices a solver failed or
got wrong by a relative error ||X - X*||_F / ||X*||_F above ``--threshold``. A solver *breaks* on a
base at the smallest c where ``frac_bad`` exceeds one half (the mean over seeds; three by default).
Writes ``results.parquet``/``.csv``, ``summary.md`` and ``out_of_box.png`` (with its SVG) to ``--out``
(default: a fresh ``results/out-of-box-<date>-<time>``); ``--replot`` only redraws the figure.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from matinv_bench.datasets.base import box_theta
from matinv_bench.datasets.boxes import BASES, PAPER_EPS
from matinv_bench.engine import options
from matinv_bench.engine.runner import Cell
from matinv_bench.experiments import register
from matinv_bench.experiments.skeleton import seeded_grid
from matinv_bench.analysis.breakdown import BROKEN, by_method
from matinv_bench.analysis.breakdown import breaks_at as breaks_over
from matinv_bench.experiments.where_can import BASE_NAMES, BadFraction, BoxSweep, draw_curves, per_base
from matinv_bench.reporting import precision, style, summary
from matinv_bench.reporting.style import save
from matinv_bench.specs import parse_spec

NAME = "out-of-box"
SCALES = (0.5, 1.0, 2.0, 4.0, 8.0)
MAX_DOUBLINGS = 20  # the default scales stop doubling here even where theta never passes 1
SOLVERS = ("mlp-2fc[recipe={recipe}]", "mlp-3fc[recipe={recipe}]", "linear-approx", "neumann[order=2]",
           "neumann[order=3]", "newton-schulz[init=base,steps=2]", "learned-ns[init=base,steps=2]", "lu")


def box_spec(base: str, eps: float, c: float) -> str:
    """The box of radius ``c * eps`` around ``base``, for methods that know (and trained on) the eps box."""
    return f"box[base={base},eps={eps:.12g},test_scale={c:.12g}]"


def default_scales(bases: Iterable[str], eps: float) -> list[float]:
    """:data:`SCALES`, then doubled until the tested box's theta is past 1 for every base (at most
    :data:`MAX_DOUBLINGS` more)."""
    cs = list(SCALES)
    theta1 = min(box_theta(BASES[b], eps) for b in bases)  # the smallest theta at c = 1: the last to pass 1
    for _ in range(MAX_DOUBLINGS):
        if cs[-1] * theta1 > 1:
            break
        cs.append(2 * cs[-1])
    return cs


DEFAULT_C = default_scales(BASE_NAMES, PAPER_EPS)  # 0.5 ... 64: theta past 1 for the three paper boxes


class TestScale(BadFraction):
    """``frac_bad`` and the box columns of the where-can hook, with ``c`` (the test scale) and
    ``test_eps`` (the tested box's radius, c eps; ``eps`` is the training box's)."""

    def after(self, cell, solver, data, result, row) -> dict:
        c = float(getattr(data.source, "test_scale", 1.0))
        return {**super().after(cell, solver, data, result, row), "c": c, "test_eps": c * data.eps}


class OutOfBox(BoxSweep):
    name = NAME
    order = 22
    help = "trained on the eps box, tested on boxes of radius c eps: where each method breaks"
    title = "Out of the training box"
    helps = {"solver": "solver specs (default: 2-FC, 3-FC, linear-approx, Neumann 2-3, Newton-Schulz and the "
                       "learned iteration from inv(A0), LU)"}
    hook = f"{__name__}:TestScale"
    default_solvers = SOLVERS

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        super().add_arguments(p)
        p.add_argument("--eps", type=float, default=PAPER_EPS,
                       help=f"radius of the training box (default: {PAPER_EPS})")
        p.add_argument("--c", nargs="+", type=float, default=list(DEFAULT_C), metavar="C",
                       help=f"scales of the test boxes, radius c eps (default: {', '.join(f'{c:g}' for c in DEFAULT_C)}"
                            ": 0.5 to 8, then doubled until theta passes 1 for each paper box at eps = 0.01)")

    def check(self, args: argparse.Namespace) -> None:
        super().check(args)
        for flag in ("--eps", "--c"):
            options.require_positive(flag, getattr(args, flag[2:]))

    def cells(self, args: argparse.Namespace) -> list[Cell]:
        cs = sorted(set(args.c))
        below = [b for b in args.base if box_theta(BASES[b], cs[-1] * args.eps) <= 1]
        if below:
            print(f"note: theta stays below 1 up to c = {cs[-1]:g} on {', '.join(below)}: a larger --c goes past it")
        datasets = [box_spec(b, args.eps, c) for b in args.base for c in cs]
        return seeded_grid(self.specs(args), datasets, args.seeds)

    def write(self, df: pd.DataFrame, out: Path, args: argparse.Namespace, command: str) -> list[Path]:
        return [write(df, out, command), *self.figures(df, out)]

    def figures(self, df: pd.DataFrame, out: Path) -> list[Path]:
        rows = scored(df)
        return save(figure(rows), out / "out_of_box.png") if len(rows) else []


register(OutOfBox())


def scored(df: pd.DataFrame) -> pd.DataFrame:
    """The rows that say how a trained solver did on a box: the ok ones, and the cells where it failed
    on every matrix (``frac_bad`` 1, no MAE); untrained networks are left out (never scored here).
    ``base`` and ``c`` come from the dataset spec where the hook did not run."""
    every_failed = (df.status == "failed") & (df.get("failure_rate", pd.Series(np.nan, df.index)) >= 1)
    rows = df[((df.status == "ok") | every_failed) & ~precision.untrained(df)].copy()
    params = rows.dataset.map(lambda d: parse_spec(d)[1])
    rows["base"] = params.map(lambda p: p.get("base", ""))
    rows["c"] = params.map(lambda p: float(p.get("test_scale", 1.0)))
    rows.loc[rows.status != "ok", "frac_bad"] = 1.0
    return rows


def curves(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per method (the solver without its seed), base and c of :func:`scored` rows: the mean
    over seeds (:func:`~matinv_bench.experiments.where_can.by_method`), with ``label``."""
    g = by_method(rows, "c")
    return g.assign(label=g.solver.map(lambda s: style.pretty(s, keep=("recipe",))))


def breaks_at(rows: pd.DataFrame) -> pd.DataFrame:
    """Method x base, from :func:`scored` rows: the smallest c where the mean ``frac_bad`` over
    seeds exceeds :data:`BROKEN` (inf where it never does, NaN where the method has no row on that base)."""
    return breaks_over(curves(rows), "c")


def _break_cell(c: float, theta_per_c: float, largest: float) -> str:
    if np.isnan(c):
        return ""
    if not np.isfinite(c):
        return f"never (c ≤ {largest:g})"
    return f"{c:g} (θ = {c * theta_per_c:.3g})"


def write(df: pd.DataFrame, out: Path, command: str) -> Path:
    """The Markdown summary: theta per c; MAE by c x solver per base; where each breaks."""
    rows = scored(df)
    threshold = df["threshold"].dropna().iloc[0] if "threshold" in df and df["threshold"].notna().any() else "?"
    lines = ["", "Every method is fitted on the box A0 + eps [-1, 1]^{n x n} (c = 1) and tested on the box of "
             "radius c eps; the networks see T = (A - A0) / eps, in [-c, c]. theta = n c eps / sigma_min(A0): "
             "below 1 the tested box holds no singular matrix. MAE against trustworthy references, over the "
             "matrices a method did not fail on (an iteration flags the ones it did not converge on); "
             f"`frac_bad`: failed or relative error above {threshold}. Means over "
             f"{rows.seed.nunique() if len(rows) else 0} seeds; untrained networks left out.", ""]
    if len(rows):
        cv = curves(rows)
        theta = cv.groupby(["c", "base"]).theta.first().unstack("base")
        lines += ["## theta of each tested box", "", theta.to_markdown(floatfmt=".3g"), ""]
        for base, g in cv.groupby("base"):
            for metric, name in (("mae", "MAE over converged matrices"), ("failure_rate", "failed share")):
                pivot = g.pivot_table(index="c", columns="solver", values=metric, aggfunc="first", dropna=False)
                lines += [f"## {base}: {name}", "", pivot.to_markdown(floatfmt=".3g"), ""]
        at = breaks_at(rows)
        per_c = (cv.theta / cv.c).groupby(cv.base).first()
        largest = cv.groupby("base").c.max()
        table = pd.DataFrame({b: [_break_cell(v, per_c[b], largest[b]) for v in at[b]] for b in at.columns},
                             index=at.index)
        lines += ["## Where each breaks", "",
                  f"The smallest c at which over half ({BROKEN:g}) of the test matrices are bad (`frac_bad`; a cell "
                  "that failed on every matrix counts as all bad), with the tested box's theta; c = 1 is the "
                  "training box.", "", table.to_markdown(), ""]
    not_ok = df[df.status != "ok"]
    if len(not_ok):
        lines += [
            "## Not run or failed on every matrix",
            "",
            not_ok.groupby(["solver", "status", "reason"], dropna=False)
            .size()
            .rename("cells")
            .reset_index()
            .to_markdown(index=False),
            "",
        ]
    return summary.write(out, df, OutOfBox.title, command, lines)


def finding(rows: pd.DataFrame) -> str:
    """The figure's title, per base (each named; never a median that hides one): where the first
    network breaks, whether that is where the linear approximation breaks, and where the most robust
    matmul-only method breaks."""
    at = breaks_at(rows)
    group = curves(rows).drop_duplicates("solver").set_index("solver")["family"].map(style.group)[at.index]
    nets, matmul = at[group == "network"], at[group == "matmul-only"]
    if nets.empty:
        return "Where each method breaks outside its training box"
    first = nets.min()  # per base: the first network to break
    parts = [f"the first network breaks at {per_base(first, 'c')}"]
    if "linear-approx" in at.index:
        linear = at.loc["linear-approx"]
        parts.append("the linear approximation at the same c" if linear.equals(first)
                     else f"the linear approximation: {per_base(linear, 'c')}")
    if len(matmul):
        parts.append(f"the most robust matmul-only method: {per_base(matmul.max(), 'c')}")
    text = "Trained at c = 1: " + "; ".join(parts)
    return re.sub(r"c = (\S+)", "c\u00a0=\u00a0\\1", text)  # no line break inside "c = 16"


def figure(rows: pd.DataFrame):
    """From :func:`scored` rows. Top row: MAE against c (log-log); bottom row: ``frac_bad``, where
    each method breaks. One column per base, one line per solver coloured by family (untrained
    networks left out); the training box (c = 1) and theta = 1 marked. Title: :func:`finding`."""
    cv = curves(rows)
    bases = list(dict.fromkeys(cv.sort_values("base")["base"]))
    per_c = (cv.theta / cv.c).groupby(cv.base).first()
    with style.context():
        fig, axes, handles = draw_curves(cv, "c", bases)
        for j, base in enumerate(bases):
            top, bottom = axes[0, j], axes[1, j]
            for ax in (top, bottom):
                ax.axvline(1.0, color=style.GUIDE, lw=1.2, alpha=0.5)
                ax.axvline(1.0 / per_c[base], color=style.GUIDE, lw=1, ls=":")
            top.set(yscale="log", title=base, ylabel="mean abs. error,\nconverged matrices" if j == 0 else "")
            bad = f"share failed or with\nrel. error > {rows.threshold.dropna().iloc[0]:g}"
            bottom.set(ylim=(-0.03, 1.03), xlabel="c = test radius / training radius", ylabel=bad if j == 0 else "")
            style.size_axis(bottom, cv.c)  # c on a log axis, ticks at powers of two (shared with the top row)
            style.log_axis(top, "y", max_labels=5)
        handles += [(style.handle(style.GUIDE, lw=1.2, alpha=0.5), "c = 1: the training box"),
                    (style.handle(style.GUIDE, ls=":", lw=1), "θ = 1")]
        style.title(fig, finding(rows))
        style.legend_below(fig, *zip(*handles), ncol=3)
    return fig
