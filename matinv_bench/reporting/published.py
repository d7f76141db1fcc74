"""Ours against the paper's published MAE (Tables 1 and 2): one log-log scatter.

:func:`points` joins each paper table's published values (the ``published_mae`` and
``published_std`` columns of ``tableK-RECIPE.csv``) with that table's own rows (its results
folder): per method x dataset, our MAE's mean, smallest and largest value over seeds. One point
per method x dataset: from the table of the first recipe of :data:`RECIPES` that has it, and on
the authors' test files (``paper-dir:``) where the tables hold them, since the published values
were measured on those. :func:`figure` draws x = published (bar: its printed spread), y = ours
(bar: smallest to largest seed), the line y = x; colour by method (family shades), marker by
dataset, fill by recipe. Title: :func:`finding`, the points below y = x (ours better) per recipe.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from matinv_bench.reporting import precision, style

RECIPES = ("paper", "fast", "quick")  # the recipe whose table gives a point, first one that has it
FILL = {"paper": "full", "fast": "left", "quick": "none"}  # marker fill per recipe (others: "bottom")
AUTHORS = "paper-dir:"  # a dataset read from the authors' released test files


def table_points(table: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """One paper table: its rows with a published value, joined with our MAE over seeds from its
    results ``rows`` (``mae`` mean, ``mae_lo``/``mae_hi`` the smallest and largest seed,
    ``seeds``), with ``family`` and ``recipe`` (the table's networks' recipe, for every row of it).
    Rows of the table that have no ok row in ``rows`` are left out."""
    cited = table[table["published_mae"].notna()][["method", "dataset", "published_mae", "published_std"]]
    ours = precision.accuracy_rows(rows)
    recipes = sorted(set(ours.loc[ours["family"] == "learned", "recipe"]) - {""})
    spread = precision.seed_spread(ours, ["method", "dataset", "family", "n"], ["mae"])
    out = cited.merge(spread, on=["method", "dataset"], how="inner")
    return out.assign(recipe=", ".join(recipes) or "none")


def points(tables: list[tuple[pd.DataFrame, pd.DataFrame]]) -> pd.DataFrame:
    """The points drawn, from (table, results rows) pairs (see :func:`table_points`): per method x
    dataset the row of the first recipe of :data:`RECIPES` that has it (then any other recipe, in
    name order); only the authors' test files (``paper-dir:``) when there are any among them; a
    point with a zero MAE (ours or published) is left out, as a log axis cannot show it."""
    frames = [table_points(t, r) for t, r in tables]
    every = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["method", "dataset", "published_mae", "published_std", "family", "n", "mae", "mae_lo",
                 "mae_hi", "seeds", "recipe"])
    every = every[(every["published_mae"] > 0) & (every["mae_lo"] > 0)]  # drawn on log axes
    if every["dataset"].astype(str).str.startswith(AUTHORS).any():
        every = every[every["dataset"].astype(str).str.startswith(AUTHORS)]
    rank = every["recipe"].map(lambda r: RECIPES.index(r) if r in RECIPES else len(RECIPES))
    every = every.assign(_rank=rank).sort_values(["_rank", "recipe"], kind="stable")
    return every.drop_duplicates(["method", "dataset"]).drop(columns="_rank").reset_index(drop=True)


def below(points: pd.DataFrame) -> pd.DataFrame:
    """Per recipe: how many points there are (``points``) and how many lie below y = x
    (``below``: our mean MAE under the published one), in :data:`RECIPES` order."""
    out = points.assign(below=points["mae"] < points["published_mae"]).groupby("recipe").agg(
        points=("mae", "size"), below=("below", "sum"))
    order = sorted(out.index, key=lambda r: (RECIPES.index(r) if r in RECIPES else len(RECIPES), r))
    return out.loc[order]


def finding(points: pd.DataFrame) -> str:
    """The title: how many points lie below y = x in all and per recipe."""
    if points.empty:
        return "Ours against the published MAE: no table holds a published value"
    counts = below(points)
    total, under = int(counts["points"].sum()), int(counts["below"].sum())
    per = "; ".join(f"{int(c.below)} of {int(c.points)} with the {r} recipe" for r, c in counts.iterrows())
    return f"Our MAE is below the published one (under y = x) at {under} of {total} points: {per}"


def dataset_label(dataset: str, n: int | None = None) -> str:
    """``matrix_2_dataset (2×2)`` for an authors' file, the spec otherwise."""
    name = Path(dataset.split(":", 1)[1]).name if dataset.startswith(AUTHORS) else dataset
    return f"{name} ({n}×{n})" if n else name


def figure(points: pd.DataFrame):
    """The scatter of :func:`points` (one panel)."""
    sizes = points.drop_duplicates("dataset").set_index("dataset")["n"].to_dict()
    order = points.sort_values("family", key=lambda f: f.map(style.group_order), kind="stable")
    colour = style.colours(order.drop_duplicates("method")[["method", "family"]].itertuples(index=False))
    datasets = list(dict.fromkeys(points.sort_values("dataset")["dataset"]))
    marker = {d: style.MARKERS[i % len(style.MARKERS)] for i, d in enumerate(datasets)}
    recipes = list(below(points).index) if len(points) else []
    fill = {r: FILL.get(r, "bottom") for r in recipes}
    with style.context():
        fig, ax = style.subplots(figsize=(style.WIDTH, 4.9))
        for r in points.itertuples(index=False):
            std = r.published_std if np.isfinite(r.published_std) else 0.0
            c = ax.errorbar([r.published_mae], [r.mae], xerr=[[min(std, 0.95 * r.published_mae)], [std]],
                            yerr=[[r.mae - r.mae_lo], [r.mae_hi - r.mae]], fmt=marker[r.dataset],
                            color=colour[r.method], mfc=colour[r.method], fillstyle=fill[r.recipe], ms=7,
                            mew=1.3, elinewidth=0.9, capsize=2, alpha=0.9)
            c.lines[0].set_gid(f"{r.method} {r.dataset} {r.recipe}")
        lo = min(points[["published_mae", "mae_lo"]].min().min(), np.inf) / 2 if len(points) else 1e-6
        hi = max(points[["published_mae", "mae_hi"]].max().max(), 0) * 2 if len(points) else 1e-3
        ax.plot([lo, hi], [lo, hi], color=style.GUIDE, lw=1, ls="--", zorder=0)
        ax.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi), aspect="equal",
               xlabel="published MAE (bar: ± the printed spread)",
               ylabel="our MAE (mean over seeds; bar: smallest to largest)")
        style.log_axis(ax, "x", max_labels=6)
        style.log_axis(ax, "y", max_labels=6)
        handles = [style.handle(colour[m], "o", ls="none", ms=6) for m in colour]
        labels = [style.pretty(m) for m in colour]
        handles += [style.handle("0.4", marker[d], ls="none", ms=6, fillstyle="none") for d in datasets]
        labels += [dataset_label(d, sizes.get(d)) for d in datasets]
        handles += [style.handle("0.4", "o", ls="none", ms=6, fillstyle=fill[r]) for r in recipes]
        labels += [f"recipe {r}" for r in recipes]
        handles.append(style.handle(style.GUIDE, lw=1, ls="--"))
        labels.append("y = x")
        style.title(fig, finding(points))
        style.legend_beside(fig, handles, labels)
    return fig
