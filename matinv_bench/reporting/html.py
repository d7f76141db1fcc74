"""``matinv-bench report --html``: the report's figures as one interactive, self-contained HTML page.

Two figures, drawn with Altair (Vega-Lite) from the same rows as the report's work-precision
diagram (:func:`matinv_bench.reporting.report.timed_tables`: every ok, timed row of every results
table under the results folder, the latest per solver x dataset x dtype x device x seed):

- work precision: MAE against time per matrix, log-log, one panel per dataset, colour by solver,
  shape by dtype;
- scaling: the median time per matrix over seeds against n, log-log, one line per solver, one
  panel per dataset family (the dataset with its ``n=`` parameter removed) x dtype x device; only
  families measured at two or more sizes are drawn.

A solver's name is its ``solver_label`` where the run set one (the scaling study labels, e.g.
``mlp-2fc[hidden=2n^2]``), else its spec. Two drop-down menus filter both figures by solver and
by dataset family; hovering a point shows its row. The page inlines the Vega, Vega-Lite and
vega-embed scripts (``inline=True``, which needs ``vl-convert-python``), so it shows without a
network. Both libraries come with the ``html`` extra; without them :func:`write_html` raises a
one-line UserError.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from matinv_bench.errors import ReportError, UserError
from matinv_bench.reporting import manifest
from matinv_bench.reporting.report import timed_tables
from matinv_bench.reporting.results import atomic_write

ALL = "(all)"
_FILE = r"^(\w+-?\w*):.*/([^/]+)$"  # a file dataset is shown by its file name, as in the report
_N_PARAM = re.compile(r"(?<=[\[,])n=\d+,?|,n=\d+(?=\])")
TOOLTIP_WP = ["solver", "spec", "dataset", "run", "n", "dtype", "device", "seed", "mae", "time_per_matrix_s",
              "time_iqr_s", "rel_err_over_kappa_u"]


def family(dataset: str) -> str:
    """A dataset's spec without its size: ``randsvd[n=8,cond=1e6]`` -> ``randsvd[cond=1e6]``,
    ``spd-box[n=4]`` -> ``spd-box``; a file dataset's path is shortened to its file name."""
    name = re.sub(_FILE, r"\1:\2", str(dataset))
    return _N_PARAM.sub("", name).replace("[]", "")


def figure_rows(root: Path | str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(work-precision rows, scaling rows) from the results folder ``root``; ReportError when it
    holds no timed row (or a malformed table)."""
    root = Path(root)
    if not root.is_dir():
        raise ReportError(f"{root}: no such results folder")
    if not (root / "manifest.toml").is_file():  # the same sets as the report, never stray local runs
        raise ReportError(f"{root}: no manifest.toml; the page shows only the result sets a manifest lists")
    df = timed_tables(manifest.load(root / "manifest.toml"), root)
    if df.empty:
        raise ReportError(f"{root}: no timed results table to draw (made by `matinv-bench run` or any experiment "
                          "that times its cells)")
    df = df.sort_values("timestamp").drop_duplicates(["solver", "dataset", "dtype", "device", "seed"], keep="last")
    df = df[(df.mae > 0) & (df.time_per_matrix_s > 0)]
    label = df["solver_label"] if "solver_label" in df else pd.Series(pd.NA, index=df.index)
    wp = pd.DataFrame({
        "solver": label.fillna(df["solver"]).astype(str), "spec": df["solver"].astype(str),
        "dataset": df["dataset"].astype(str).str.replace(_FILE, r"\1:\2", regex=True),
        "family": df["dataset"].map(family), "run": df["run"], "n": df["n"].astype(int),
        "dtype": df["dtype"].astype(str), "device": df["device"].astype(str), "seed": df["seed"].astype(int),
        **{c: df[c].astype(float) for c in ("mae", "time_per_matrix_s", "time_iqr_s", "rel_err_over_kappa_u")},
    })
    keys = ["solver", "family", "dtype", "device", "n"]
    sc = wp.groupby(keys, as_index=False).agg(time_per_matrix_s=("time_per_matrix_s", "median"),
                                              mae=("mae", "median"), seeds=("seed", "nunique"))
    sizes = sc.groupby(["solver", "family", "dtype", "device"])["n"].transform("nunique")
    sc = sc[sizes >= 2].copy()
    sc["panel"] = sc["family"] + " (" + sc["dtype"] + ", " + sc["device"] + ")"
    return wp.reset_index(drop=True), sc.reset_index(drop=True)


def build_chart(wp: pd.DataFrame, sc: pd.DataFrame):
    """The Altair chart: work precision above scaling (when there are scaling rows), with the
    solver and dataset-family drop-downs bound to both."""
    import altair as alt

    solvers = sorted(set(wp["solver"]) | set(sc["solver"]))
    families = sorted(set(wp["family"]))
    pick_solver = alt.param(name="pick_solver", value=ALL,
                            bind=alt.binding_select(options=[ALL, *solvers], name="solver "))
    pick_family = alt.param(name="pick_dataset", value=ALL,
                            bind=alt.binding_select(options=[ALL, *families], name="dataset "))
    keep = (f"(pick_solver == '{ALL}' || datum.solver == pick_solver) && "
            f"(pick_dataset == '{ALL}' || datum.family == pick_dataset)")
    color = alt.Color("solver:N", scale=alt.Scale(domain=solvers), legend=alt.Legend(columns=2, labelLimit=280, symbolLimit=0))
    log = alt.Scale(type="log")
    tooltip = [alt.Tooltip(c, format=".3g") if c in ("mae", "time_per_matrix_s", "time_iqr_s", "rel_err_over_kappa_u")
               else alt.Tooltip(c) for c in TOOLTIP_WP]
    work = alt.Chart(wp, width=220, height=180).mark_point(filled=True, size=60).encode(
        x=alt.X("time_per_matrix_s:Q", scale=log, title="time per matrix (s)"),
        y=alt.Y("mae:Q", scale=log, title="mean absolute error"),
        color=color, shape=alt.Shape("dtype:N"), tooltip=tooltip,
    ).transform_filter(keep).facet(
        facet=alt.Facet("dataset:N", title=None, header=alt.Header(labelFontSize=10)), columns=4,
    ).resolve_scale(x="independent", y="independent").properties(
        title="Work precision: MAE against time per matrix, one panel per dataset")
    charts = [work]
    if len(sc):
        scaling = alt.Chart(sc, width=320, height=240).mark_line(point=True).encode(
            x=alt.X("n:Q", scale=alt.Scale(type="log", base=2), title="n"),
            y=alt.Y("time_per_matrix_s:Q", scale=log, title="median time per matrix (s)"),
            color=color, detail="solver:N",
            tooltip=["solver", "family", "dtype", "device", "n", "seeds",
                     alt.Tooltip("time_per_matrix_s:Q", format=".3g"), alt.Tooltip("mae:Q", format=".3g")],
        ).transform_filter(keep).facet(
            facet=alt.Facet("panel:N", title=None), columns=2,
        ).resolve_scale(y="independent").properties(
            title="Scaling: time per matrix against n (median over seeds), one panel per dataset family")
        charts.append(scaling)
    # the parameters are given to the top level directly: add_params on a concat of facets fails in Altair 6.3
    return alt.VConcatChart(vconcat=charts, params=[pick_solver.param, pick_family.param]).resolve_scale(color="shared")


def write_html(root: Path | str, out: Path | str) -> Path:
    """Write the page for the results folder ``root`` to ``out`` and return its path.

    ReportError when ``root`` holds no timed row; UserError when the ``html`` extra is missing.
    """
    try:
        import altair as alt
        import vl_convert  # noqa: F401  (altair's inline=True takes the scripts from it)
    except ImportError as exc:
        raise UserError(f"the HTML report needs the html extra ({exc.name} is missing): "
                        "pip install 'matinv-bench[html]'") from None
    wp, sc = figure_rows(root)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with alt.data_transformers.enable("default", max_rows=None):
        chart = build_chart(wp, sc)
        atomic_write(out, lambda tmp: chart.save(str(tmp), format="html", inline=True,
                                                 embed_options={"renderer": "svg", "actions": False}))
    return out
