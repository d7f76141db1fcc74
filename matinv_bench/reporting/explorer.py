"""The interactive explorer of ``report --html``: two Altair (Vega-Lite) charts of the timed rows
of the listed result sets (:func:`~matinv_bench.reporting.report.timed_tables`), one view at a time.

- **Error against time per matrix** (:func:`precision_points`), one dataset at a time (a drop-down):
  a marker per solver at the mean over seeds, bars from the smallest to the largest seed, as in the
  report's work-precision figures, and with the same rows (the scaling studies' rows and untrained
  networks left out); networks' training recipes by marker shape.
- **Time per matrix against n** (:func:`scaling_points`), one study at a time (a drop-down: one
  run's rows of one dataset family, dtype and device, where a solver was measured at two sizes or
  more): a line per solver through the mean over seeds and repetitions, bars from the smallest to
  the largest.

A third drop-down keeps one solver family (:data:`~matinv_bench.reporting.style.GROUPS`). Colours
are the figures' (:func:`~matinv_bench.reporting.style.colours`: blues, greens, reds), computed
per view; a legend never lists more than :data:`~matinv_bench.reporting.style.MAX_LEGEND`
entries: it lists the solvers of the view, or, where they are more (every family shown), the
families, and the tooltip names each solver. Seeds never get entries of their own.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
from matplotlib.colors import to_hex

from matinv_bench.reporting import manifest, precision, style
from matinv_bench.reporting.report import timed_tables

ALL = "all"  # the solver-family drop-down's value that keeps every family
FONT = 13  # px: the smallest text of the charts
_N_PARAM = re.compile(r"(?<=[\[,])n=\d+,?|,n=\d+(?=\])")
RECIPE_SHAPES = {"": "circle", "quick": "circle", "fast": "square", "paper": "triangle-up"}
_GLYPHS = {"circle": "●", "square": "■", "triangle-up": "▲", "diamond": "◆"}


def family(dataset: str) -> str:
    """A dataset's spec without its size: ``randsvd[n=8,cond=1e6]`` -> ``randsvd[cond=1e6]``,
    ``spd-box[n=4]`` -> ``spd-box``; a file dataset's path is shortened to its file name."""
    return _N_PARAM.sub("", style.shown(dataset)).replace("[]", "")


def timed_rows(root: Path | str) -> pd.DataFrame:
    """Every ok, timed row of the result sets ``root/manifest.toml`` lists, with ``run`` (see
    :func:`~matinv_bench.reporting.report.timed_tables`); empty when there is none."""
    root = Path(root)
    return timed_tables(manifest.load(root / "manifest.toml"), root)


def _palette(solvers: pd.DataFrame, entry: dict[str, str], colour: dict[str, str]) -> list[list[str]]:
    """[legend entries, colours] of ``solvers`` (one row each, in legend order): the solvers' labels, or
    their groups' ``entry`` where they are more than MAX_LEGEND; the colours padded to MAX_LEGEND."""
    keys = list(dict.fromkeys(solvers["label"] if len(solvers) <= style.MAX_LEGEND else solvers["group"].map(entry)))
    colours = [colour[k] for k in keys]
    return [keys, colours + colours[-1:] * (style.MAX_LEGEND - len(colours))]


def legends(points: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, list[list[str]]]]:
    """The legends of points with ``view``, ``label`` (a solver) and ``family``, for every view and
    solver-family choice: (the points with ``group``, ``key`` and ``key_all``, palettes).

    ``group`` is the solver's family group (classical, matmul-only, network). ``key`` is its legend
    entry when its group alone is shown, ``key_all`` when every group is: the solver's label, or,
    where the view holds more than MAX_LEGEND solvers of the choice, its group (``network (4
    solvers)``). ``palettes["<view>|<choice>"]`` (choice: a group or :data:`ALL`) is [the entries in
    legend order (classical, matmul-only, networks; by label within each), their colours (the
    figures' shades, :func:`~matinv_bench.reporting.style.colours`)], the colours padded to MAX_LEGEND."""
    frames, palettes = [], {}
    for view, g in points.groupby("view", sort=False):
        g = g.assign(group=g["family"].map(style.group))
        solvers = g.drop_duplicates("label").assign(rank=lambda s: s["family"].map(style.group_order))
        solvers = solvers.sort_values(["rank", "label"], kind="stable")
        colour = {k: to_hex(c) for k, c in style.colours(zip(solvers["label"], solvers["family"])).items()}
        count = solvers["group"].value_counts()
        families = dict(zip(solvers["group"], solvers["family"]))  # a family of each group, for its colour
        entry = {grp: f"{grp} ({count[grp]} solvers)" for grp in families}
        colour |= {entry[grp]: to_hex(c) for grp, c in style.colours(
            (grp, fam) for grp, fam in families.items()).items()}

        palettes[f"{view}|{ALL}"] = _palette(solvers, entry, colour)
        for grp, members in solvers.groupby("group", sort=False):
            palettes[f"{view}|{grp}"] = _palette(members, entry, colour)
        one = g["group"].map(count) <= style.MAX_LEGEND
        frames.append(g.assign(key=g["label"].where(one, g["group"].map(entry)),
                               key_all=g["label"] if len(solvers) <= style.MAX_LEGEND else g["group"].map(entry)))
    if not frames:
        return points.assign(group=[], key=[], key_all=[]), {}
    return pd.concat(frames, ignore_index=True), palettes


def precision_points(df: pd.DataFrame) -> pd.DataFrame:
    """One row per dataset x solver x dtype x device (seeds aggregated: the mean, ``_lo`` and ``_hi``
    the smallest and largest seed's value) of the timed rows the report's work-precision figures
    draw; ``view`` is the dataset (with dtype and device where it was run with several), ``label``
    the solver without seed and recipe (``recipe`` apart); ``error`` is the figures' error
    (:func:`~matinv_bench.reporting.precision.error_metric`, named in ``error_metric``)."""
    if df.empty:
        return pd.DataFrame()
    if "solver_label" in df:  # the scaling studies' rows: time against n, the other chart
        df = df[df["solver_label"].isna()]
    df = precision.drawable(df)
    if df.empty:
        return pd.DataFrame()
    keys = ["dataset", "method", "recipe", "family", "dtype", "device", "n"]
    points = precision.seed_spread(df, [*keys, "error_metric"], ["error", "time_per_matrix_s"])
    points["error_metric"] = points["error_metric"].map(precision.ERROR_LABELS)
    runs = df.groupby(keys, sort=False)["run"].agg(lambda r: ", ".join(sorted(set(r)))).rename("runs")
    points = points.merge(runs.reset_index(), on=keys)
    view = points["dataset"].map(style.shown)
    settings = points.groupby("dataset")[["dtype", "device"]].transform(lambda c: c.nunique()).max(axis=1)
    view = view.where(settings <= 1, view + " (" + points["dtype"] + ", " + points["device"] + ")")
    points = points.assign(view=view, label=points["method"].map(style.pretty))
    return points.sort_values(["n", "view"], kind="stable").drop(columns=["dataset", "method"])


def scaling_points(df: pd.DataFrame) -> pd.DataFrame:
    """One row per study x solver x n: time per matrix, the mean over seeds and repetitions (``_lo``,
    ``_hi``: the smallest and largest), ``samples`` the rows it stands for. A study (``view``) is one
    run's rows of one dataset family, dtype and device; a solver is the run's ``solver_label`` where
    it set one, else its spec without seed; only solvers measured at two or more sizes are kept."""
    if df.empty:
        return pd.DataFrame()
    label = df["solver_label"] if "solver_label" in df else pd.Series(pd.NA, index=df.index)
    df = df.assign(solver=label.fillna(df["solver"]).map(lambda s: style.without(s, "seed")),
                   view=df["run"] + ": " + df["dataset"].map(family) + ", " + df["dtype"].astype(str) + ", "
                   + df["device"].astype(str))
    keys = ["view", "solver", "family", "n"]
    g = df.groupby(keys, sort=False)["time_per_matrix_s"]
    points = g.mean().to_frame().join(g.min().rename("time_per_matrix_s_lo")).join(
        g.max().rename("time_per_matrix_s_hi")).join(g.size().rename("samples")).reset_index()
    sizes = points.groupby(["view", "solver"])["n"].transform("nunique")
    points = points[sizes >= 2]
    if points.empty:
        return pd.DataFrame()
    points = points.assign(label=points["solver"].map(lambda s: style.pretty(s, keep=("recipe",))),
                           spec=points["solver"]).drop(columns="solver")
    # the study of the most solvers first (the drop-down's default), then in the manifest's order
    first = {v: i for i, v in enumerate(dict.fromkeys(points["view"]))}
    order = pd.DataFrame({"solvers": -points.groupby("view")["spec"].transform("nunique"),
                          "first": points["view"].map(first), "n": points["n"]})
    return points.loc[order.sort_values(["solvers", "first", "n"], kind="stable").index]


# a log axis labels its powers of ten only (its domain is widened to them): 0.01 to 1000 as numbers, the rest as 1e-7
_LOG_LABEL = ("abs(log(datum.value) / LN10 - round(log(datum.value) / LN10)) > 1e-6 ? '' : "
              "datum.value >= 0.01 && datum.value <= 1000 ? format(datum.value, '~g') : format(datum.value, '.0e')")


def _log_axis(title: str):
    import altair as alt

    return alt.Axis(title=title, labelExpr=_LOG_LABEL)


def _drop_down(name: str, label: str, options: list[str]):
    import altair as alt

    return alt.param(name=name, value=options[0], bind=alt.binding_select(options=options, name=label))


def _layer(points: pd.DataFrame, pick_view: str, pick_family: str, name: str, *layers):
    """(the ``layers`` over the rows of ``points`` kept by the drop-downs, with their legend entry
    ``legend``; the parameter ``<name>_palettes`` of :func:`legends`, for the top level)."""
    import altair as alt

    points, palettes = legends(points)
    points = points.drop(columns="family")
    for c in [c for c in points if c.startswith(("error", "time")) and c != "error_metric"]:  # tooltips show 3
        points[c] = points[c].map(lambda v: float(f"{v:.6g}"))
    every = f"{pick_family} == '{ALL}'"
    chart = alt.layer(*layers, data=points).transform_filter(
        f"datum.view == {pick_view} && ({every} || datum.group == {pick_family})").transform_calculate(
        legend=f"{every} ? datum.key_all : datum.key")
    return chart, alt.param(name=f"{name}_palettes", value=palettes)


def _colour(name: str, pick_view: str, pick_family: str, highlight) -> dict:
    """The colour encoding (by ``legend``, its domain and colours from the palette of the view and family
    chosen, see :func:`legends`) and the opacity: a click on a legend entry (the selection ``highlight``,
    bound to the legend; its layer must come first) fades the others; a double click shows all again."""
    import altair as alt

    chosen = f"{name}_palettes[{pick_view} + '|' + {pick_family}]"
    scale = alt.Scale(domain=alt.ExprRef(f"{chosen}[0]"),
                      range=[alt.ExprRef(f"{chosen}[1][{i}]") for i in range(style.MAX_LEGEND)])
    colour = alt.Color("legend:N", scale=scale, legend=alt.Legend(title="solver (click to pick)", labelLimit=360,
                                                                  symbolLimit=0, orient="right"))
    return {"color": colour, "opacity": alt.condition(highlight, alt.value(1.0), alt.value(0.12))}


def _log_scale():
    import altair as alt

    return alt.Scale(type="log", nice=True)


def precision_chart(points: pd.DataFrame, pick_view: str, pick_family: str):
    """Error against time per matrix of the view ``pick_view`` (the name of its drop-down's parameter)."""
    import altair as alt

    recipes = list(dict.fromkeys([*RECIPE_SHAPES, *sorted(set(points["recipe"]))]))
    shapes = [RECIPE_SHAPES.get(r, "diamond") for r in recipes]
    base = alt.Chart()
    name = "precision"
    highlight = alt.selection_point(name=f"{name}_pick", fields=["legend"], bind="legend")
    look = _colour(name, pick_view, pick_family, highlight)
    x = alt.X("time_per_matrix_s:Q", scale=_log_scale(), axis=_log_axis("time per matrix (s)"))
    y = alt.Y("error:Q", scale=_log_scale(), axis=_log_axis("error (MAE on the paper's boxes, else relative)"))
    tooltip = [alt.Tooltip("label:N", title="solver"), alt.Tooltip("recipe:N"), alt.Tooltip("view:N", title="dataset"),
               "dtype:N", "device:N", "n:Q", alt.Tooltip("seeds:Q", title="seeds"),
               alt.Tooltip("error_metric:N", title="error"),
               alt.Tooltip("error:Q", title="error (mean over seeds)", format=".3g"),
               alt.Tooltip("error_lo:Q", title="error, smallest seed", format=".3g"),
               alt.Tooltip("error_hi:Q", title="error, largest seed", format=".3g"),
               alt.Tooltip("time_per_matrix_s:Q", title="time per matrix (s, mean over seeds)", format=".3g"),
               alt.Tooltip("runs:N", title="result set")]
    error_y = base.mark_rule(strokeWidth=1.5).encode(x=x, y="error_lo:Q", y2="error_hi:Q", **look)
    error_x = base.mark_rule(strokeWidth=1.5).encode(y=y, x="time_per_matrix_s_lo:Q", x2="time_per_matrix_s_hi:Q",
                                                     **look)
    marks = base.mark_point(filled=True, size=110, stroke="white", strokeWidth=0.8).encode(
        x=x, y=y, tooltip=tooltip, **look,
        shape=alt.Shape("recipe:N", scale=alt.Scale(domain=recipes, range=shapes), legend=None)).add_params(highlight)
    glyphs = ", ".join(f"{_GLYPHS[s]} {r}" for r, s in zip(recipes, shapes) if r and r in set(points["recipe"]))
    subtitle = [("Marker: mean over seeds; bars: smallest to largest seed. Untrained networks and the scaling "
                 "studies are left out, as in the report.")]
    if glyphs:
        subtitle.append(f"Networks' training recipe by marker: {glyphs}.")
    chart, palettes = _layer(points, pick_view, pick_family, name, marks, error_y, error_x)
    return chart.properties(
        width=760, height=440, title=alt.Title("Error against time per matrix", subtitle=subtitle)
    ), palettes


def scaling_chart(points: pd.DataFrame, pick_view: str, pick_family: str):
    """Time per matrix against n of the view ``pick_view`` (the name of its drop-down's parameter)."""
    import altair as alt

    base = alt.Chart()
    name = "scaling"
    highlight = alt.selection_point(name=f"{name}_pick", fields=["legend"], bind="legend")
    look = _colour(name, pick_view, pick_family, highlight)
    x = alt.X("n:Q", scale=alt.Scale(type="log", base=2), axis=alt.Axis(title="n (matrix size)", format="d"))
    y = alt.Y("time_per_matrix_s:Q", scale=_log_scale(), axis=_log_axis("time per matrix (s)"))
    tooltip = [alt.Tooltip("label:N", title="solver"), alt.Tooltip("spec:N"), alt.Tooltip("view:N", title="study"),
               "n:Q", alt.Tooltip("samples:Q", title="rows (seeds x repetitions)"),
               alt.Tooltip("time_per_matrix_s:Q", title="time per matrix (s, mean)", format=".3g"),
               alt.Tooltip("time_per_matrix_s_lo:Q", title="smallest", format=".3g"),
               alt.Tooltip("time_per_matrix_s_hi:Q", title="largest", format=".3g")]
    bars = base.mark_rule(strokeWidth=1.5).encode(x=x, y="time_per_matrix_s_lo:Q", y2="time_per_matrix_s_hi:Q",
                                                  detail="label:N", **look)
    lines = base.mark_line(point=alt.OverlayMarkDef(filled=True, size=45), strokeWidth=2).encode(
        x=x, y=y, detail="label:N", tooltip=tooltip, **look).add_params(highlight)
    chart, palettes = _layer(points, pick_view, pick_family, name, lines, bars)
    return chart.properties(
        width=760,
        height=440,
        title=alt.Title(
            "Time per matrix against n", subtitle=["Line: mean over seeds and repetitions; bars: smallest to largest."]
        ),
    ), palettes


def build_chart(wp: pd.DataFrame, sc: pd.DataFrame):
    """The explorer: the charts of the non-empty point tables, one above the other, with a view
    drop-down each and one solver-family drop-down for both (parameters ``pick_dataset``,
    ``pick_study``, ``pick_family``)."""
    import altair as alt

    present = {style.group(f) for points in (wp, sc) if len(points) for f in points["family"]}
    groups = [g for g in style.GROUPS if g in present]
    pick_family = _drop_down("pick_family", "solver family ", [ALL, *groups])
    params, charts = [], []  # the drop-downs in page order, and each chart's palettes
    if len(wp):
        pick = _drop_down("pick_dataset", "dataset (error against time) ", list(dict.fromkeys(wp["view"])))
        chart, palettes = precision_chart(wp, pick.name, pick_family.name)
        params += [pick, palettes]
        charts.append(chart)
    if len(sc):
        pick = _drop_down("pick_study", "study (time against n) ", list(dict.fromkeys(sc["view"])))
        chart, palettes = scaling_chart(sc, pick.name, pick_family.name)
        params += [pick, palettes]
        charts.append(chart)
    # the drop-downs are given to the top level directly: add_params on a concat of layers fails in Altair 6.3
    chart = alt.VConcatChart(vconcat=charts, params=[p.param for p in [*params, pick_family]], spacing=40)
    return chart.resolve_scale(color="independent").configure_axis(
        labelFontSize=FONT, titleFontSize=FONT + 1, gridColor="#e6e6e6").configure_legend(
        labelFontSize=FONT, titleFontSize=FONT + 1).configure_title(
        fontSize=FONT + 4, subtitleFontSize=FONT, anchor="start", subtitleColor="#444").configure_view(stroke=None)
