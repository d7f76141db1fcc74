"""Accuracy figures from result rows: work precision, and error against conditioning.

- :func:`work_precision_figure`: error against time per matrix, log-log, one panel per dataset
  (at most :data:`~matinv_bench.reporting.style.MAX_PANELS`; the caller splits larger sets, see
  :func:`chunks`). The error is the paper's mean absolute error on the paper's boxes and the
  authors' test sets (:func:`~matinv_bench.datasets.paper_box`), and the relative error
  ||X - inv(A)||_F / ||inv(A)||_F on every other dataset (:func:`error_metric`), where the
  inverse's entries may be of any size (a Hilbert matrix's reach 1e12);
- :func:`conditioning_figure`: (a) forward error over kappa u and (b) the residual ratio against
  kappa, for the datasets that sweep conditioning (:func:`conditioning_rows`).

Both aggregate seeds (a marker at the mean, bars from the smallest to the largest seed's value),
colour by solver family (:mod:`~matinv_bench.reporting.style`), and never draw the accuracy of an
untrained network (``recipe=none``: made for timing only, see :func:`untrained`). Each data
artist's gid is the solver spec it draws (seed left out).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

from matinv_bench.analysis.rows import untrained  # noqa: F401  (the figures' callers read it here)
from matinv_bench.datasets import paper_box
from matinv_bench.errors import SpecError
from matinv_bench.reporting import style
from matinv_bench.specs import parse_spec

RECIPE_MARKERS = {"demo": "D", "quick": "o", "fast": "s", "paper": "^"}
GLYPHS = {"demo": "◆", "quick": "●", "fast": "■", "paper": "▲"}  # the same markers as text, for a one-entry key
SWEEP_PARAMS = ("cond", "sigma_min")  # the dataset parameters a conditioning sweep varies
WITHIN = 10.0  # "within 10 kappa u": a forward error this small for every kappa is stable
ERROR_LABELS = {"mae": "mean abs. error", "rel_fro_err": "relative error (Frobenius)"}


def error_metric(dataset: str) -> str:
    """The error column a figure draws for ``dataset``: ``mae`` on the paper's boxes
    (:func:`~matinv_bench.datasets.paper_box`), else ``rel_fro_err``, which means the same at
    every scale of inv(A)."""
    return "mae" if paper_box(dataset) else "rel_fro_err"


def with_error(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with ``error`` (each row's :func:`error_metric`) and ``error_metric`` columns."""
    metric = df["dataset"].map(error_metric)
    values = [pd.to_numeric(df[m], errors="coerce") if m in df else pd.Series(np.nan, index=df.index)
              for m in ERROR_LABELS]
    error = np.select([metric == m for m in ERROR_LABELS], [v.to_numpy(float) for v in values], np.nan)
    return df.assign(error=error, error_metric=metric)


def accuracy_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The ok rows whose accuracy may be drawn (untrained networks left out), the latest row per
    solver x dataset x dtype x seed, with ``method`` (spec without seed and recipe) and ``recipe``."""
    df = df[(df["status"] == "ok") & ~untrained(df)]
    if "timestamp" in df:
        df = df.sort_values("timestamp", kind="stable")
    df = df.drop_duplicates(["solver", "dataset", "dtype", "seed"], keep="last")
    return df.assign(method=df["solver"].map(lambda s: style.without(s, "seed", "recipe")),
                     recipe=df["solver"].map(style.recipe).fillna(""),
                     spec=df["solver"].map(lambda s: style.without(s, "seed")))


def drawable(df: pd.DataFrame) -> pd.DataFrame:
    """The rows a work-precision figure draws: :func:`accuracy_rows` :func:`with_error`, timed, with
    a positive error (a dataset with no reference inverse has none)."""
    df = with_error(accuracy_rows(df))
    return df[(df["error"] > 0) & (pd.to_numeric(df["time_per_matrix_s"], errors="coerce") > 0)]


def seed_spread(df: pd.DataFrame, keys: list[str], values: list[str]) -> pd.DataFrame:
    """Per ``keys``: the mean, min and max over seeds of each of ``values`` (``<v>``, ``<v>_lo``, ``<v>_hi``)."""
    g = df.groupby(keys, sort=False, dropna=False)[values]
    out = g.mean().join(g.min().add_suffix("_lo")).join(g.max().add_suffix("_hi"))
    return out.join(df.groupby(keys, sort=False, dropna=False)["seed"].nunique().rename("seeds")).reset_index()


def chunks(items: list, size: int = style.MAX_PANELS) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def _columns(n: int) -> int:
    """Columns of a grid of n panels: up to 4, 2 x 2 for four."""
    return n if n <= 2 else 2 if n == 4 else min(4, n) if n > 4 else 3


TITLE_CHARS = {1: 60, 2: 40, 3: 26, 4: 15}  # characters of a panel title on one line, by the grid's columns


def _grid(n: int):
    ncols = _columns(n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = style.subplots(nrows, ncols, figsize=(style.WIDTH, 0.9 + 2.35 * nrows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.remove()
    return fig, list(axes.flat[:n])


def _styles(points: pd.DataFrame) -> tuple[dict, dict]:
    """Colour per method (family shades) and marker per (method, recipe): networks by recipe,
    other methods one marker each within their family."""
    order = points.drop_duplicates("method").sort_values("family", key=lambda f: f.map(style.group_order),
                                                         kind="stable")
    colour = style.colours(zip(order["method"], order["family"]))
    marker, used = {}, {}
    for m, fam in zip(order["method"], order["family"]):
        if style.group(fam) != "network":
            marker[m] = style.MARKERS[used.get(style.group(fam), 0) % len(style.MARKERS)]
            used[style.group(fam)] = used.get(style.group(fam), 0) + 1
    return colour, marker


def _marker(marker: dict, method: str, recipe: str) -> str:
    return marker.get(method) or RECIPE_MARKERS.get(recipe, style.MARKERS[-1])


GROUP_TITLES = {"classical": "classical", "matmul-only": "matmul-only", "network": "networks", "other": "other"}


def _legend(fig, points: pd.DataFrame, colour: dict, marker: dict, limit: int | None = style.MAX_LEGEND):
    """One legend per family group (:func:`~matinv_bench.reporting.style.group_legends`); the
    networks' recipes are told by marker: in the networks' title when there is one recipe, else as
    entries of their own, written out as one entry where every method would not fit otherwise, and
    in the networks' title where not even that entry would fit (and in the title of the one legend
    where the families' legends do not fit side by side)."""
    recipes = [r for r in RECIPE_MARKERS if r in set(points.loc[points["family"] == "learned", "recipe"])]
    recipes += sorted(set(points.loc[points["family"] == "learned", "recipe"]) - set(recipes) - {""})
    one = recipes[0] if len(recipes) == 1 else None
    groups: dict[str, tuple[list, list]] = {}
    methods = points.drop_duplicates("method")[["method", "family"]]
    for m, fam in sorted(methods.itertuples(index=False), key=lambda e: style.group_order(e[1])):
        g = style.group(fam)
        if g != "network":
            h = style.handle(colour[m], marker[m], ls="none")
        elif one is not None:
            h = style.handle(colour[m], _marker(marker, m, one), lw=2.2)
        else:
            h = style.handle(colour[m], lw=2.2)
        groups.setdefault(g, ([], []))
        groups[g][0].append(h)
        groups[g][1].append(style.pretty(m))
    titles = {g: GROUP_TITLES[g] + (f", recipe {one}" if g == "network" and one else "") for g in groups}
    key = f"network recipe: {one}" if one is not None and "network" in groups else None
    if "network" in groups and one is None and recipes:
        handles, labels = groups["network"]
        count = sum(len(labs) for _, labs in groups.values())
        written = ", ".join(f"{GLYPHS[r]} {r}" for r in recipes) if all(r in GLYPHS for r in recipes) else None
        if limit is None or count + len(recipes) <= limit or written is None:
            handles += [style.handle("0.45", RECIPE_MARKERS.get(r, style.MARKERS[-1]), ls="none") for r in recipes]
            labels += [f"network, recipe {r}" for r in recipes]
        elif count < limit:  # one entry for the recipes' markers, written out, so that every method keeps its own
            handles.append(style.handle("none", lw=0))
            labels.append(f"network recipe: {written}")
        else:
            key = f"network recipe: {written}"
            titles["network"] += f" (recipe: {written})"
    return style.group_legends(fig, [(titles[g], *groups[g]) for g in groups], limit=limit, one_title=key)


def work_finding(points: pd.DataFrame, nouns: tuple[str, str] = ("dataset", "datasets")) -> str:
    """Whether, panel by panel, a matmul-only method is both faster and more accurate (lower
    ``error``) than the best (lowest mean error) network. ``nouns``: what a panel is, singular
    and plural."""
    beaten, panels = 0, 0
    for _, p in points.groupby("panel", sort=False):
        groups = p["family"].map(style.group)
        nets, series = p[groups == "network"], p[groups == "matmul-only"]
        if nets.empty or series.empty:
            continue
        panels += 1
        best = nets.loc[nets["error"].idxmin()]
        beaten += bool(((series["error"] < best["error"])
                        & (series["time_per_matrix_s"] <= best["time_per_matrix_s"])).any())
    claim = "a matmul-only method is both faster and more accurate than the best network"
    if not panels:
        return _fastest_finding(points, nouns)
    if beaten == panels:
        return f"On every {nouns[0]}, {claim}" if panels > 1 else f"On this {nouns[0]}, {claim}"
    if beaten:
        return f"On {beaten} of {panels} {nouns[1]}, {claim}"
    return "No matmul-only method is both faster and more accurate than the best network"


def _fastest_finding(points: pd.DataFrame, nouns: tuple[str, str]) -> str:
    """Without networks to compare: the method fastest on most panels, and on how many of them it is
    also the most accurate (mean error within 10 % of the lowest)."""
    if points.empty:
        return "Error against time per matrix"
    fastest = points.loc[points.groupby("panel", sort=False)["time_per_matrix_s"].idxmin()]
    name = fastest["method"].value_counts().index[0]
    wins = fastest[fastest["method"] == name]
    best = points.groupby("panel", sort=False)["error"].min()
    accurate = int((wins["error"].to_numpy() <= 1.1 * best.loc[wins["panel"]].to_numpy()).sum())
    panels = points["panel"].nunique()
    where = f"every {nouns[0]}" if len(wins) == panels else f"{len(wins)} of {panels} {nouns[1]}"
    return (f"{style.pretty(name)} is the fastest on {where}, and within 10 % of the lowest error on "
            f"{accurate} of them")


def _wrapped(title: str, width: int = 24) -> str:
    """A long spec on lines of at most ``width`` characters where it can: its name above its
    parameters (broken after commas), and a file dataset by its file name below its kind
    (``paper-dir:``, then ``matrix_2_dataset``); a panel is a quarter of the width or more."""
    title = style.shown(title)
    if len(title) <= width:
        return title
    name, bracket, rest = title.partition("[")
    if bracket:
        lines = textwrap.wrap("[" + rest.replace(",", ", "), width, break_long_words=False)
        return name + "\n" + "\n".join(lines).replace(", ", ",")
    kind, colon, rest = title.partition(":")
    return f"{kind}:\n{rest}" if colon else title


def short_titles(panels: list[str], width: int = 24) -> dict[str, str]:
    """Panel titles without what every panel shares: ``spd-box[cond=10,n=2,theta=0.1]`` and its
    siblings become ``n=2, theta=0.1``; names that are not specs of one dataset kind stay whole."""
    try:
        specs = {p: parse_spec(p) for p in panels}
    except SpecError:
        return {p: _wrapped(p, width) for p in panels}
    if len(panels) < 2 or len({name for name, _ in specs.values()}) != 1:
        return {p: _wrapped(p, width) for p in panels}
    keys = list(dict.fromkeys(k for _, params in specs.values() for k in params))
    varying = [k for k in keys if len({str(params.get(k)) for _, params in specs.values()}) > 1]
    if not varying:
        return {p: p for p in panels}
    return {p: ", ".join(f"{k}={_value(specs[p][1].get(k))}" for k in varying) for p in panels}


def _value(v) -> str:
    """A spec parameter as a title shows it: 1e+06 for a float of a million, not 1000000.0."""
    return f"{v:g}" if isinstance(v, float) else str(v)


def work_precision_figure(df: pd.DataFrame, nouns: tuple[str, str] = ("dataset", "datasets"),
                          legend_limit: int | None = style.MAX_LEGEND, finding: str | None = None):
    """Error (:func:`error_metric`: the MAE on the paper's boxes, the relative error elsewhere)
    against time per matrix of the rows ``df`` (timed, ok; untrained networks are dropped), one
    panel per dataset (``panel`` column if given, else ``dataset``), seeds aggregated; each panel's
    y label names its error. ``legend_limit``: see :func:`~matinv_bench.reporting.style.legend_below`;
    ``finding``: the title, computed by the caller (by default :func:`work_finding`)."""
    df = drawable(df)
    if "panel" not in df:
        df = df.assign(panel=df["dataset"].astype(str))
    panels = list(df.sort_values(["n", "panel"])["panel"].drop_duplicates())
    if not 0 < len(panels) <= style.MAX_PANELS:
        raise ValueError(f"{len(panels)} panels: draw 1 to {style.MAX_PANELS} datasets per figure (see chunks)")
    points = seed_spread(df, ["panel", "error_metric", "method", "recipe", "family", "spec", "dtype"],
                         ["error", "time_per_matrix_s"])
    colour, marker = _styles(points)
    with style.context():
        fig, axes = _grid(len(panels))
        titles = short_titles(panels, TITLE_CHARS[_columns(len(panels))])
        left = None  # the error drawn in the panel to the left: a y label says where it changes
        for i, (ax, panel) in enumerate(zip(axes, panels)):
            drawn = points[points["panel"] == panel]
            for r in drawn.itertuples(index=False):
                x, y = r.time_per_matrix_s, r.error
                c = ax.errorbar([x], [y], xerr=[[x - r.time_per_matrix_s_lo], [r.time_per_matrix_s_hi - x]],
                                yerr=[[y - r.error_lo], [r.error_hi - y]], fmt=_marker(marker, r.method, r.recipe),
                                color=colour[r.method], ms=5.5, mec="white", mew=0.5, elinewidth=0.9, capsize=0)
                c.lines[0].set_gid(r.spec)
            ylabel = " / ".join(ERROR_LABELS[m] for m in dict.fromkeys(drawn["error_metric"]))
            first = i % _columns(len(panels)) == 0
            ax.set(xscale="log", yscale="log", title=titles[panel], xlabel="time per matrix (s)",
                   ylabel=ylabel if first or ylabel != left else "")
            left = ylabel
            style.log_axis(ax, "y", max_labels=5)
            style.log_axis(ax, "x", max_labels=3)
        style.title(fig, finding or work_finding(points, nouns))
        _legend(fig, points, colour, marker, limit=legend_limit)
    return fig


# --- conditioning ------------------------------------------------------------------------------

def sweep_family(dataset: str) -> str:
    """A dataset spec without the parameters a conditioning sweep varies (:data:`SWEEP_PARAMS`)."""
    return style.without(dataset, *SWEEP_PARAMS)


def conditioning_rows(df: pd.DataFrame, min_points: int = 3, min_decades: float = 2.0) -> pd.DataFrame:
    """The accuracy rows (see :func:`accuracy_rows`) of datasets that sweep conditioning: a
    :func:`sweep_family` measured at ``min_points`` or more kappas spanning ``min_decades`` or
    more decades; with a ``sweep`` column. Empty when no set sweeps kappa."""
    cols = ("kappa_median", "rel_err_over_kappa_u", "residual_ratio")
    if df.empty or any(c not in df for c in cols):
        return pd.DataFrame()
    df = accuracy_rows(df)
    df = df[np.isfinite(df["kappa_median"].astype(float)) & (df["kappa_median"].astype(float) > 0)]
    df = df.assign(sweep=df["dataset"].map(sweep_family), kappa_median=df["kappa_median"].astype(float))
    keep = []
    for _, g in df.groupby("sweep"):
        k = g.groupby("dataset")["kappa_median"].median()
        if len(k) >= min_points and np.log10(k.max() / k.min()) >= min_decades:
            keep.append(g)
    return pd.concat(keep) if keep else pd.DataFrame()


def conditioning_finding(points: pd.DataFrame) -> str:
    worst = points.groupby("method", sort=False)["rel_err_over_kappa_u_hi"].max()
    stable = [style.pretty(m) for m in worst.index[worst <= WITHIN]]
    rest = [style.pretty(m) for m in worst.index[worst > WITHIN]]

    def names(xs: list[str]) -> str:
        return ", ".join(xs) if len(xs) <= 3 else f"{len(xs)} solvers"
    if stable and rest:
        return f"Forward error within {WITHIN:g} κu at every κ for {names(stable)}; above it for {names(rest)}"
    if stable:
        return f"Every solver's forward error stays within {WITHIN:g} κu at every κ"
    return f"No solver's forward error stays within {WITHIN:g} κu at every κ"


def conditioning_figure(df: pd.DataFrame, legend_limit: int | None = style.MAX_LEGEND):
    """(a) forward error / (kappa u) and (b) the residual ratio against kappa, for the rows of
    :func:`conditioning_rows` (seeds aggregated; a line per solver and sweep, a marker per sweep)."""
    rows = conditioning_rows(df)
    if rows.empty:
        raise ValueError("no conditioning sweep in these rows")
    points = seed_spread(rows, ["sweep", "dataset", "method", "recipe", "family", "spec", "dtype"],
                         ["kappa_median", "rel_err_over_kappa_u", "residual_ratio"])
    points = points.sort_values("kappa_median")
    colour, _ = _styles(points)
    sweeps = list(dict.fromkeys(points["sweep"]))
    smark = {s: style.MARKERS[i % len(style.MARKERS)] for i, s in enumerate(sweeps)}
    with style.context():
        fig, (ax, bx) = style.subplots(1, 2, figsize=(style.WIDTH, 4.2))
        for (method, spec, sweep, dtype), g in points.groupby(["method", "spec", "sweep", "dtype"], sort=False):
            for a, col in ((ax, "rel_err_over_kappa_u"), (bx, "residual_ratio")):
                y = g[col]
                c = a.errorbar(g["kappa_median"], y, yerr=[y - g[f"{col}_lo"], g[f"{col}_hi"] - y],
                               fmt="-" + smark[sweep], color=colour[method], ms=4.5, elinewidth=0.8, capsize=0)
                c.lines[0].set_gid(spec)
        ax.axhline(1.0, color=style.GUIDE, lw=1, ls=":")
        bx.axhline(30.0, color=style.GUIDE, lw=1, ls=":")
        bx.annotate("30: LAPACK's pass mark", (points["kappa_median"].min(), 30.0), xytext=(0, 2),
                    textcoords="offset points", fontsize=7, color=style.GUIDE, va="bottom")
        ax.set(xscale="log", yscale="log", xlabel="κ (2-norm, median of the test set)",
               ylabel="forward error / (κ u)", title="(a) forward error over κu")
        bx.set(xscale="log", yscale="log", xlabel="κ (2-norm, median of the test set)",
               ylabel="‖I − XA‖₁ / (n ‖A‖₁ ‖X‖₁ u), worst", title="(b) residual ratio")
        for a in (ax, bx):
            style.log_axis(a, "x", max_labels=6)
            style.log_axis(a, "y", max_labels=6)
        style.title(fig, conditioning_finding(points))
        handles, labels = [], []
        for m, fam in points.drop_duplicates("method")[["method", "family"]].itertuples(index=False):
            handles.append(style.handle(colour[m]))
            labels.append(style.pretty(m))
        if len(sweeps) > 1:
            handles += [style.handle("0.45", smark[s], ls="none") for s in sweeps]
            labels += sweeps
        style.legend_below(fig, handles, labels, ncol=4, limit=legend_limit)
    return fig


def merge_identical(df: pd.DataFrame, x: list[str], y: str, by: str = "solver", rtol: float = 1e-9,
                    keep: tuple[str, ...] = ()) -> pd.DataFrame:
    """The rows of ``df`` less those of any curve (the rows of one ``by`` value) whose ``y`` equals
    an earlier curve's at every ``x`` (within ``rtol``); a ``label`` column names each kept
    curve with every curve it stands for, e.g. ``linear approx. = Neumann, order=1`` (parameters
    ``keep`` shown, see :func:`~matinv_bench.reporting.style.pretty`)."""
    curves = {s: g.set_index(x)[y].sort_index() for s, g in df.groupby(by, sort=False)}
    kept: dict[str, list[str]] = {}
    for s, c in curves.items():
        twin = next((k for k in kept if c.index.equals(curves[k].index)
                     and np.allclose(c.to_numpy(float), curves[k].to_numpy(float), rtol=rtol, atol=0, equal_nan=True)),
                    None)
        if twin is None:
            kept[s] = [s]
        else:
            kept[twin].append(s)
    label = {k: " = ".join(style.pretty(n, keep) for n in names) for k, names in kept.items()}
    out = df[df[by].isin(list(kept))]
    return out.assign(label=out[by].map(label))


# --- the figures of a run folder ---------------------------------------------------------------

def run_figures(df: pd.DataFrame, folder: Path, finding: str | None = None) -> list[Path]:
    """The figures of one run's rows, written into its folder (PNG and SVG twins): error
    (:func:`error_metric`) against time per matrix (``work_precision.png``, then
    ``work_precision-2.png``, ... for every :data:`~matinv_bench.reporting.style.MAX_PANELS`
    datasets) when cells were timed, titled ``finding`` if given (the first figure; by default
    :func:`work_finding`), and ``conditioning.png`` when the run sweeps kappa. Every solver the
    user asked for is in the legend. Returns the paths written (none when nothing can be drawn)."""
    written: list[Path] = []
    if "time_per_matrix_s" in df:
        timed = drawable(df)
        datasets = list(timed.sort_values("n")["dataset"].drop_duplicates())
        for i, chunk in enumerate(chunks(datasets)):
            fig = work_precision_figure(timed[timed["dataset"].isin(chunk)], legend_limit=None,
                                        finding=finding if i == 0 else None)
            written += style.save(fig, folder / f"work_precision{'' if i == 0 else f'-{i + 1}'}.png")
    if len(conditioning_rows(df)):
        written += style.save(conditioning_figure(df, legend_limit=None), folder / "conditioning.png")
    return written
