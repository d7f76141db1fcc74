"""``matinv-bench reproduce why-cant``: errors near singular matrices, and Theorem 3.2 measured.

Part 1. MLPs trained on regions that hold singular matrices (``uniform[n=2]`` and boxes with
theta > 1), and LU, on test matrices from the same regions: the error of every matrix against
its distance to singularity sigma_min (``per_matrix.parquet``, figure ``why_cant_sigma.png``).
``results.parquet`` has one row per solver x dataset: the :class:`PerMatrix` hook returns every
matrix's sigma_min and errors as a JSON column of the cell's row, so they survive a child
process, a Dask worker and a resume; ``per_matrix.parquet`` is built from the rows, and that
column stays in the cell files only (not in ``results.parquet``/``.csv``).

Part 2. The moments M_K(r) = E ||inv(A) - F(A)||_F^K over Frobenius balls B(A_s, r) around a
rank-1 2 x 2 matrix A_s, for F the MLP trained on ``uniform[n=2]``, F = 0, and F = LAPACK's LU in
float64 and in float32 (is the divergence specific to networks?), for K on both sides
of n^2 = 4, estimated by stratifying on the distance to the singular set
(:mod:`matinv_bench.analysis.moments`): ``moments.parquet`` (one row per stratum),
``moments_summary.csv`` and figure ``why_cant_moments.png``.

Everything goes to ``--out`` (default: a fresh ``results/why-cant-<date>-<time>``); figures come
with SVG twins. ``--replot`` only redraws the figures from the files in ``--out``.
"""

from __future__ import annotations

import argparse
import json
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.linalg import LinAlgWarning

from matinv_bench.analysis.moments import error_moments, summarize_moments
from matinv_bench.datasets import DATASETS, make_dataset
from matinv_bench.engine import options
from matinv_bench.engine.hooks import Hook
from matinv_bench.engine.runner import Cell, make_grid
from matinv_bench.experiments import register
from matinv_bench.experiments.skeleton import Experiment
from matinv_bench.experiments.where_can import box_spec
from matinv_bench.reporting import results, style, summary
from matinv_bench.reporting.style import save
from matinv_bench.scoring import metrics
from matinv_bench.solvers import SOLVERS
from matinv_bench.system import default_threads, pinned_threads

NAME = "why-cant"
PER_MATRIX = "per_matrix"  # the rows' JSON column of per-matrix values (not kept in results.parquet)
PER_MATRIX_COLUMNS = ["solver", "dataset", "sigma_min", "mae", "rel_fro_err", "failed"]
REGIONS = ("uniform[n=2]", box_spec("paper-2x2-1st", 2.0), box_spec("paper-2x2-1st", 4.0))
SOLVERS_ = ("lu", "mlp-2fc[recipe={recipe}]", "mlp-3fc[recipe={recipe}]")
A_SINGULAR = np.array([[0.6, 0.3], [0.4, 0.2]])  # rank 1, inside uniform[n=2]'s region [-1, 1]^{2x2}
RADII = (0.5, 0.1, 0.01, 0.001)
KS = (0.5, 1.0, 2.0, 4.0, 6.0)


class PerMatrix(Hook):
    """Every test matrix's sigma_min, MAE, relative error and failure, as one JSON column."""

    def after(self, cell, solver, data, result, row) -> dict:
        m = metrics.per_matrix(result.X, data.A, data.inv_ref, data.kappa, metrics.unit_roundoff(np.float64))
        values = {"sigma_min": data.sigma_min, "mae": m["mae"], "rel_fro_err": m["rel_fro_err"],
                  "failed": result.failed}
        return {PER_MATRIX: json.dumps({k: np.asarray(v).tolist() for k, v in values.items()})}


def per_matrix_frame(df: pd.DataFrame) -> pd.DataFrame:
    """One line per test matrix of every row that holds the hook's column (``PER_MATRIX_COLUMNS``)."""
    frames = []
    for row in df.to_dict("records") if PER_MATRIX in df else []:
        if isinstance(row[PER_MATRIX], str):
            f = pd.DataFrame(json.loads(row[PER_MATRIX]))
            frames.append(f.assign(solver=row["solver"], dataset=row["dataset"], failed=f.failed.astype(bool)))
    if not frames:
        return pd.DataFrame(columns=PER_MATRIX_COLUMNS)
    return pd.concat(frames, ignore_index=True)[PER_MATRIX_COLUMNS]


class WhyCant(Experiment):
    name = NAME
    order = 30
    help = "errors near singular matrices, and the moments of Theorem 3.2 near a rank-1 matrix"
    title = "Why can't: near singular matrices"
    shared = {"solver": None, "dataset": None, "recipe": "quick", "n_matrices": 5000, "retrain": ...}
    helps = {"solver": "solver specs (default: lu, mlp-2fc, mlp-3fc)",
             "dataset": "regions that hold singular matrices (default: uniform[n=2] and two boxes with theta 2, 4)"}
    hook = f"{__name__}:PerMatrix"
    replot_reads = ("per_matrix.parquet", "moments.parquet")

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        p.add_argument("--radius", nargs="+", type=float, default=list(RADII), help="ball radii r for the moments")
        p.add_argument("--K", nargs="+", type=float, default=list(KS), help="moment orders K (n^2 = 4)")
        p.add_argument("--size", type=int, default=1000, help="draws per stratum and replicate (default: 1000)")
        p.add_argument("--replicates", type=int, default=5,
                       help="independent replicates of the estimator (default: 5)")
        p.add_argument("--t-min", type=float, default=1e-8, help="innermost stratum [0, t_min] (default: 1e-8)")

    def check(self, args: argparse.Namespace) -> None:
        for flag in ("--radius", "--size", "--replicates", "--t-min"):
            options.require_positive(flag, getattr(args, flag[2:].replace("-", "_")))

    def specs(self, args: argparse.Namespace) -> list[str]:
        return [s.format(recipe=args.recipe) for s in (args.solver or SOLVERS_)]

    def cells(self, args: argparse.Namespace) -> list[Cell]:
        return make_grid(self.specs(args), args.dataset or list(REGIONS))

    def settings(self, args: argparse.Namespace) -> dict:
        return {"time_it": False, "cell_only": (PER_MATRIX,)}

    def write(self, df: pd.DataFrame, out: Path, args: argparse.Namespace, command: str) -> list[Path]:
        """``per_matrix.parquet`` from the rows; the moments of part 2; the summary and the figures."""
        per = per_matrix_frame(df)
        df = df.drop(columns=[PER_MATRIX], errors="ignore")
        results.atomic_write(out / "per_matrix.parquet", lambda tmp: per.to_parquet(tmp, index=False))
        mlp = next((s for s in self.specs(args) if s.startswith("mlp-2fc")), None)
        Fs = {"zero": lambda A: np.zeros_like(A), **lu_functions()}
        with pinned_threads(default_threads()):
            if mlp is not None and "uniform[n=2]" in (args.dataset or REGIONS):
                try:
                    Fs[mlp] = solver_function(SOLVERS.build(mlp).fit(make_dataset("uniform[n=2]", n_test=16)))
                except Exception as exc:  # the MLP row already records the same failure
                    print(f"moments: skipping {mlp}: {type(exc).__name__}: {exc}")
            moments = pd.concat([error_moments(A_SINGULAR, F, args.radius, args.K, t_min=args.t_min, size=args.size,
                                               replicates=args.replicates).assign(F=name) for name, F in Fs.items()],
                                ignore_index=True)
        moment_summary = pd.concat([summarize_moments(g).assign(F=name) for name, g in moments.groupby("F")],
                                   ignore_index=True)
        results.atomic_write(out / "moments.parquet", lambda tmp: moments.to_parquet(tmp, index=False))
        results.atomic_write(out / "moments_summary.csv", lambda tmp: moment_summary.to_csv(tmp, index=False))
        return [out / "per_matrix.parquet", out / "moments.parquet", out / "moments_summary.csv",
                write_summary(df, per, moments, moment_summary, out, command), *redraw(out, per, moments)]

    def replot(self, out: Path, command: str) -> list[Path]:
        return redraw(out)


register(WhyCant())


def solver_function(solver):
    """A fitted solver as a function from a (B, n, n) stack to its inverses (NaN where it failed)."""

    def F(A: np.ndarray) -> np.ndarray:
        solver.prepare(np.ascontiguousarray(A))
        return solver.collect(solver.invert()).X

    return F


def lu_functions() -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """F = LAPACK's LU inverse in float64 and in float32 (input rounded to float32, output widened),
    for the moments beside the network and F = 0: is the divergence of Theorem 3.2 a property of
    networks or of every F that is finite near the singular set? LU is finite everywhere except
    at an exactly zero pivot; there (rare: the strata are continuous) F returns 0, so F stays a
    total function, as the theorem assumes."""
    lu = SOLVERS.build("lu").fit(make_dataset("uniform[n=2]", n_test=1))
    inverse = solver_function(lu)

    def total(A: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings():  # the strata reach sigma_min ~ 1e-8 by design: scipy warns at every batch
            warnings.simplefilter("ignore", LinAlgWarning)
            X = inverse(A)
        return np.where(np.isfinite(X).all(axis=(1, 2), keepdims=True), X, 0.0)

    return {"lu-float64": total,
            "lu-float32": lambda A: total(A.astype(np.float32)).astype(np.float64)}


def decade_slopes(moments: pd.DataFrame) -> pd.DataFrame:
    """Per (F, r, K): the median over replicates of log10(contribution of stratum j+1 / stratum j)
    over the strata inside (t_min, 0.01]: about 1 - K when M_K converges like sum 10^{-(1-K) j}."""
    inner = moments[(moments.stratum > 0) & (moments.t_hi <= 0.01)]
    med = inner.groupby(["F", "r", "K", "stratum"]).contribution.median().reset_index()
    med = med.sort_values("stratum")
    return (med.groupby(["F", "r", "K"]).contribution
            .apply(lambda c: float(np.median(np.diff(np.log10(c.to_numpy())))))
            .rename("log10_growth_per_decade_outward").reset_index())


def write_summary(df, per, moments, moment_summary, out: Path, command: str) -> Path:
    lines = ["", "## 1. Error against the distance to singularity", "",
             "Median relative error ||X - X*||_F / ||X*||_F per band of sigma_min (test matrices of each region):", ""]
    if len(per):
        per = per.assign(band=pd.cut(np.log10(per.sigma_min.clip(lower=1e-300)), np.arange(-8, 2), right=False))
        tab = per.groupby(["dataset", "solver", "band"], observed=True).rel_fro_err.median().unstack("band")
        tab.columns = [f"1e{int(c.left)}..1e{int(c.right)}" for c in tab.columns]
        lines += [tab.reset_index().to_markdown(index=False, floatfmt=".2g"), ""]
    not_ok = df[df.status != "ok"]
    if len(not_ok):
        lines += ["Not run:", "", not_ok[["solver", "dataset", "status", "reason"]].to_markdown(index=False), ""]
    lines += ["## 2. Moments E||inv(A) - F(A)||_F^K over B(A_s, r), A_s = [[0.6, 0.3], [0.4, 0.2]] (rank 1)", "",
              "Stratified on |t - t*|, the distance to the singular set along lines through the ball "
              "(sigma_min is proportional to it). `estimate_*`: over all strata, median / min / max over "
              "replicates; `without_innermost`: leaving out [0, t_min]; `innermost_share`: that stratum's share; "
              "`log10_growth_per_decade_outward`: how a stratum's contribution changes per decade away from the "
              "singular set (positive: the contributions shrink toward it, so the moment converges; zero or "
              "negative: every decade closer adds as much or more, so the moment diverges).", "",
              moment_summary.merge(decade_slopes(moments), on=["F", "r", "K"])
              [["F", "r", "K", "estimate_median", "estimate_min", "estimate_max", "without_innermost",
                "innermost_share", "log10_growth_per_decade_outward"]].to_markdown(index=False, floatfmt=".3g"), ""]
    return summary.write(out, df, WhyCant.title, command, lines)


def redraw(out: Path, per: pd.DataFrame | None = None, moments: pd.DataFrame | None = None) -> list[Path]:
    """The two figures, from the frames given or else from ``out``'s ``per_matrix.parquet`` and
    ``moments.parquet``; untrained networks (``recipe=none``) are left out of both."""
    per = pd.read_parquet(out / "per_matrix.parquet") if per is None else per
    moments = pd.read_parquet(out / "moments.parquet") if moments is None else moments
    per = per[per.solver.map(style.recipe) != "none"]
    moments = moments[moments.F.map(style.recipe) != "none"]
    written = save(sigma_figure(per), out / "why_cant_sigma.png") if len(per) else []
    return written + save(moments_figure(moments), out / "why_cant_moments.png")


def region_label(spec: str) -> str:
    """A short panel title: ``box around NAME, theta=T`` for boxes, else the spec."""
    ds = DATASETS.build(spec)
    return f"box around {ds.base_name}, theta={ds.theta:.3g}" if getattr(ds, "base_name", None) else spec


def sigma_finding(per: pd.DataFrame) -> str:
    """The sigma figure's title: the networks' smallest median relative error against LU's largest."""
    med = per.groupby(["solver", "dataset", "sigma_min_bin"]).rel_fro_err.median().groupby("solver")
    nets = [s for s in med.groups if str(s).startswith("mlp")]
    if not nets or "lu" not in med.groups:
        return "Relative error against the distance to singularity"
    net_min = min(med.get_group(s).min() for s in nets)
    lu_max = med.get_group("lu").max()
    return (f"Near singular matrices the networks' relative error stays at or above {net_min:.1g}, "
            f"LU's below {style.power(10.0 ** np.ceil(np.log10(lu_max)))}")


def sigma_figure(per: pd.DataFrame):
    """Median relative error in log-spaced sigma_min bins (band: interquartile range), one line per
    solver, one panel per region. Title: :func:`sigma_finding`."""
    per = per[per.sigma_min > 0].copy()
    per["region"] = per.dataset.map(region_label)
    edges = np.logspace(np.floor(np.log10(per.sigma_min.min())), np.ceil(np.log10(per.sigma_min.max())), 25)
    idx = np.clip(np.searchsorted(edges, per.sigma_min) - 1, 0, len(edges) - 2)
    per["sigma_min_bin"] = np.sqrt(edges[idx] * edges[idx + 1])
    solvers = list(dict.fromkeys(per.solver))
    colour = style.colours((s, "learned" if s.startswith("mlp") else "direct") for s in solvers)
    regions = list(dict.fromkeys(per.region))
    with style.context():
        fig, axes = style.subplots(1, len(regions), figsize=(style.WIDTH, 3.5), squeeze=False, sharey=True)
        for ax, region in zip(axes[0], regions):
            for i, s in enumerate(solvers):
                g = per[(per.region == region) & (per.solver == s)].groupby("sigma_min_bin").rel_fro_err
                q = g.quantile([0.25, 0.5, 0.75]).unstack()
                if q.empty:
                    continue
                ax.fill_between(q.index, q[0.25], q[0.75], color=colour[s], alpha=0.2, lw=0)
                ax.plot(q.index, q[0.5], color=colour[s], marker=style.MARKERS[i % len(style.MARKERS)], ms=3,
                        ls="--" if s.startswith("mlp") else "-")[0].set_gid(s)
            ax.set(xscale="log", yscale="log", title=region.replace(", theta=", ", θ = "),
                   xlabel="σ_min of the test matrix")
            style.log_axis(ax, "x", max_labels=4)
        axes[0, 0].set_ylabel("relative error (median, IQR band)")
        style.log_axis(axes[0, 0], "y", max_labels=6)
        style.title(fig, sigma_finding(per))
        style.legend_below(fig, [style.handle(colour[s], style.MARKERS[i % len(style.MARKERS)],
                                              "--" if s.startswith("mlp") else "-") for i, s in enumerate(solvers)],
                           [style.pretty(s, keep=("recipe",)) for s in solvers], ncol=3)
    return fig


DIVERGES = 0.1  # log10 growth per decade outward at or below this: the moment does not converge


def moments_finding(moments: pd.DataFrame) -> str:
    """The moments figure's title: from which K the moments diverge, and whether F changes that."""
    growth = growth_toward(moments)
    if growth.empty:  # too few strata near the singular set to tell
        return "Contributions to E‖inv(A) − F(A)‖^K by distance to a rank-1 matrix's singular set"
    div = diverges(growth)
    first = {F: min((k for (f, k), d in div.items() if f == F and d), default=None) for F in growth.F.unique()}
    ks = set(first.values())
    if ks == {None}:
        return "Near a rank-1 matrix every moment E‖inv(A) − F(A)‖^K measured here converges"
    if len(ks) == 1:
        return (f"Near a rank-1 matrix, E‖inv(A) − F(A)‖^K diverges from K = {ks.pop():g}, "
                "for the network as for F = 0")
    by_k: dict = {}
    for f, k in first.items():
        by_k.setdefault(k, []).append(f_label(f, keep=()))
    parts = [
        f"from K = {k:g} for F = {_and(fs)}" for k, fs in sorted((k, fs) for k, fs in by_k.items() if k is not None)
    ]
    converge = f"; every K measured converges for F = {_and(by_k[None])}" if None in by_k else ""
    return "Near a rank-1 matrix, E‖inv(A) − F(A)‖^K diverges " + ", and ".join(parts) + converge


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def f_label(f: str, keep: tuple[str, ...] = ("recipe",)) -> str:
    """F as the figure names it: ``0``, ``lu-float32``, ``2-FC, recipe=quick`` (the title keeps no parameter)."""
    return "0" if f == "zero" else style.pretty(f, keep=keep)


def growth_toward(moments: pd.DataFrame) -> pd.DataFrame:
    """Per (F, r, K), from :func:`decade_slopes`: ``growth``, the log10 change of a stratum's
    contribution to E||inv(A) - F(A)||^K per decade toward the singular set (minus the growth
    outward): at or above -:data:`DIVERGES`, every decade closer adds about as much or more, so the
    moment diverges. Rows without a slope (one stratum) are dropped."""
    with warnings.catch_warnings():  # a (F, r, K) with one stratum has no slope: NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        slopes = decade_slopes(moments).dropna(subset=["log10_growth_per_decade_outward"])
    return slopes.assign(growth=-slopes["log10_growth_per_decade_outward"]).drop(
        columns="log10_growth_per_decade_outward")


def diverges(growth: pd.DataFrame) -> pd.Series:
    """Per (F, K) of :func:`growth_toward`: whether the moment diverges at every radius (a growth
    toward the singular set of at least -:data:`DIVERGES` per decade)."""
    return growth.groupby(["F", "K"]).growth.min() >= -DIVERGES


def threshold_finding(growth: pd.DataFrame, n2: int) -> str:
    """The title's second half, from :func:`growth_toward`: whether every F diverges at every K above
    Theorem 3.2's threshold n^2 (at every radius), and whether some F does already at or below it."""
    div = diverges(growth)
    above = div[div.index.get_level_values("K") > n2]
    below = div[div.index.get_level_values("K") <= n2]
    if len(above) and not above.all():
        held = sorted({f_label(f, keep=()) for f, _ in above[~above].index})
        return f"; against Theorem 3.2 (K > n² = {n2}), it converges above it for F = {_and(held)}"
    if len(above):
        return f": as Theorem 3.2 says for K > n² = {n2}" + (", and already below it" if below.any() else "")
    return f", below Theorem 3.2's K > n² = {n2} (no K above it measured)" if below.any() else \
        f" (Theorem 3.2: K > n² = {n2}; no K above it measured)"


def moments_figure(moments: pd.DataFrame):
    """The growth per decade toward the singular set (:func:`growth_toward`) against K, one line per
    F through the median over the ball radii r, with a bar from the smallest to the largest radius'
    value; zero growth (the border of divergence) and Theorem 3.2's threshold K = n^2 marked.
    Title: :func:`moments_finding`, with the threshold."""
    g = growth_toward(moments)
    Fs = sorted(dict.fromkeys(g.F), key=lambda f: (f != "zero", not f.startswith("lu"), f))
    colour = style.colours((f, "learned" if style.recipe(f) else "other" if f == "zero" else "direct") for f in Fs)
    n2 = A_SINGULAR.shape[0] ** 2
    look = {f: dict(color=colour[f], marker=style.MARKERS[i % len(style.MARKERS)], ls=("-", "--", ":", "-.")[i % 4],
                    mfc="none" if i % 2 else colour[f]) for i, f in enumerate(Fs)}  # F = 0 and the net coincide
    with style.context():
        fig, ax = style.subplots(figsize=(style.WIDTH, 4.4))
        for i, f in enumerate(Fs):
            s = g[g.F == f].groupby("K").growth.agg(["median", "min", "max"]).sort_index().astype(float)
            ax.errorbar(s.index.to_numpy(float), s["median"].to_numpy(), yerr=[s["median"] - s["min"],
                        s["max"] - s["median"]], ms=6 - i, lw=1.5, capsize=2, elinewidth=0.9, **look[f])[0].set_gid(f)
        ax.axhline(0.0, color=style.GUIDE, lw=1)
        ax.axvline(n2, color=style.WALL, lw=1.2, ls="--")
        ax.set(xlabel="moment order K", ylabel="log10 growth of a stratum's contribution\nper decade toward the "
               "singular set\n(median over the radii r; bar: min to max)")
        ax.set_xticks(sorted(g.K.unique()), [f"{k:g}" for k in sorted(g.K.unique())])
        handles = [style.handle(look[f]["color"], look[f]["marker"], look[f]["ls"], mfc=look[f]["mfc"]) for f in Fs]
        labels = [f"F = {f_label(f)}" for f in Fs]
        handles += [style.handle(style.GUIDE, lw=1), style.handle(style.WALL, ls="--", lw=1.2)]
        labels += ["growth 0: at or above, the moment diverges", f"Theorem 3.2: diverges for K > n² = {n2}"]
        style.title(fig, moments_finding(moments) + threshold_finding(g, n2))
        style.legend_below(fig, handles, labels, ncol=3)
    return fig
