"""The theta at which each method breaks, per base: a dot plot from the box sweeps' rows.

A method breaks on a base at the first theta (smallest first) where more than half
(:data:`~matinv_bench.analysis.breakdown.BROKEN`) of its test matrices are bad (``frac_bad``:
failed, or relative error above the sweep's threshold; a cell that failed on every matrix counts
as all bad), the mean over seeds.
:func:`break_thetas` computes it per method and base, never pooled over bases; a method that
never breaks is ``never`` with the largest theta tested. :func:`figure` draws one panel per sweep
(where-can: each method fitted on the box it is tested on; out-of-box: fitted on a small box,
tested on larger ones): methods down the side, theta on a log axis, one marker per base, theta =
1 marked; "never" as a hollow marker with an arrow at the largest theta tested. Title:
:func:`finding`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from matinv_bench.analysis.breakdown import breaks_at, by_method
from matinv_bench.errors import SpecError
from matinv_bench.reporting import precision, style
from matinv_bench.specs import parse_spec



def _base(dataset: str) -> str | None:
    try:
        return parse_spec(str(dataset))[1].get("base")
    except SpecError:
        return None


def scored(df: pd.DataFrame) -> pd.DataFrame:
    """The rows that say how a method did on a box: ok rows, and cells that failed on every matrix
    (``frac_bad`` 1); untrained networks left out. ``base`` comes from the dataset spec where the
    row lacks it, and ``theta`` from the other rows of the same dataset."""
    every_failed = (df["status"] == "failed") & (df.get("failure_rate", pd.Series(np.nan, df.index)) >= 1)
    rows = df[((df["status"] == "ok") | every_failed) & ~precision.untrained(df)].copy()
    if "base" not in rows:
        rows["base"] = None
    rows["base"] = rows["base"].where(rows["base"].notna(), rows["dataset"].map(_base))
    rows["theta"] = rows["theta"].fillna(rows.groupby("dataset")["theta"].transform("first"))
    rows.loc[rows["status"] != "ok", "frac_bad"] = 1.0
    return rows[rows["base"].notna() & rows["theta"].notna() & rows["frac_bad"].notna()]


def break_thetas(df: pd.DataFrame) -> pd.DataFrame:
    """Per method x base of the rows ``df`` (a sweep's results): ``theta``, the first theta where the
    mean ``frac_bad`` over seeds exceeds :data:`~matinv_bench.analysis.breakdown.BROKEN` (NaN where it
    never does; see
    :mod:`matinv_bench.analysis.breakdown`), ``largest`` (the largest theta tested on that base),
    ``never`` and ``family``; empty for rows without ``theta`` and ``frac_bad``."""
    cols = ["solver", "base", "theta", "largest", "never", "family"]
    if not {"theta", "frac_bad"} <= set(df.columns):  # not a box sweep
        return pd.DataFrame(columns=cols)
    rows = scored(df)
    if rows.empty:
        return pd.DataFrame(columns=cols)
    curves = by_method(rows, "theta")
    at = breaks_at(curves, "theta").stack().rename("theta").reset_index()
    out = curves.groupby(["solver", "base"], as_index=False).agg(largest=("theta", "max"), family=("family", "first"))
    out = out.merge(at, on=["solver", "base"], how="left")
    out["theta"] = out["theta"].where(np.isfinite(out["theta"]))
    return out.assign(never=out["theta"].isna())[cols]


def _range(values: pd.Series) -> str:
    lo, hi = values.min(), values.max()
    return f"{lo:.2g}" if np.isclose(lo, hi) else f"{lo:.2g} to {hi:.2g}"


def _where(per_base: pd.DataFrame) -> str:
    """``0.9 to 1.2`` over the bases where it broke, ``never`` if on none; ``... on 2 of 3 bases,
    never on 1`` where it broke on some only."""
    broke = per_base[~per_base["never"]]
    if broke.empty:
        return "never"
    text = _range(broke["theta"])
    if len(broke) == len(per_base):
        return text
    return f"{text} on {len(broke)} of {len(per_base)} bases, never on {len(per_base) - len(broke)}"


def _per_base(at: pd.DataFrame, last: bool) -> pd.DataFrame:
    """Of each base's methods in ``at``: the first to break (``last``: the last; never counts as
    breaking after every theta)."""
    key = at["theta"].where(~at["never"], np.inf)
    pick = key.groupby(at["base"]).idxmax() if last else key.groupby(at["base"]).idxmin()
    return at.loc[pick.to_numpy()]


def sweep_finding(at: pd.DataFrame) -> str:
    """One sweep (a :func:`break_thetas` table): the theta range over bases at which its first
    network breaks, against the linear approximation, the most robust matmul-only method and LU."""
    group = at["family"].map(style.group)
    nets, matmul = at[group == "network"], at[group == "matmul-only"]
    first = _per_base(nets, last=False) if len(nets) else None
    several = nets["solver"].nunique() > 1
    text = (f"the network{'s break' if several else ' breaks'} at θ = {_where(first)}" if first is not None
            else "no network")
    extra = []
    linear = at[at["solver"] == "linear-approx"].set_index("base")
    if len(linear):
        same = first is not None and linear.index.equals(pd.Index(first["base"])) and np.allclose(
            linear["theta"].fillna(np.inf), first.set_index("base").loc[linear.index, "theta"].fillna(np.inf))
        if same:
            text += ", where the linear approx. does on every base"
        else:
            extra.append(f"linear approx. {_where(linear.reset_index())}")
    if len(matmul):
        extra.append(f"most robust matmul-only {_where(_per_base(matmul, last=True))}")
    lu = at[at["solver"] == "lu"]
    if len(lu):
        extra.append(f"LU {_where(lu)}")
    return text + (f" ({'; '.join(extra)})" if extra else "")


def finding(sweeps: dict[str, pd.DataFrame]) -> str:
    """The title, from :func:`break_thetas` of each sweep (name -> table): per sweep, the theta range
    over bases where its networks first break, beside the other methods (:func:`sweep_finding`)."""
    parts = [f"{name[0].upper() + name[1:]}, {sweep_finding(at)}" for name, at in sweeps.items() if len(at)]
    return ". ".join(parts) if parts else "Where each method breaks"


def figure(sweeps: dict[str, pd.DataFrame]):
    """One panel per sweep (name -> :func:`break_thetas` table), sharing the methods' axis."""
    sweeps = {k: v for k, v in sweeps.items() if len(v)}
    every = pd.concat(list(sweeps.values()), ignore_index=True)
    members = every.drop_duplicates("solver").sort_values("family", key=lambda f: f.map(style.group_order),
                                                          kind="stable")
    solvers = list(members["solver"])
    colour = style.colours(zip(members["solver"], members["family"]))
    bases = sorted(every["base"].unique())
    marker = {b: style.MARKERS[i % len(style.MARKERS)] for i, b in enumerate(bases)}
    offset = {b: 0.25 * (i - (len(bases) - 1) / 2) for i, b in enumerate(bases)}
    y = {s: i for i, s in enumerate(solvers)}
    with style.context():
        fig, axes = style.subplots(1, len(sweeps), figsize=(style.WIDTH, 0.9 + 0.33 * len(solvers) + 1.2),
                                   squeeze=False, sharey=True)
        for ax, (name, at) in zip(axes[0], sweeps.items()):
            for r in at.itertuples(index=False):
                yy = y[r.solver] + offset[r.base]
                if r.never:
                    ax.annotate("", xy=(r.largest * 1.9, yy), xytext=(r.largest, yy),
                                arrowprops=dict(arrowstyle="->", color=colour[r.solver], lw=1.1))
                    ax.plot([r.largest], [yy], marker=marker[r.base], color=colour[r.solver], mfc="white", ms=5.5,
                            ls="none")[0].set_gid(f"never:{r.solver}:{r.base}")
                else:
                    ax.plot([r.theta], [yy], marker=marker[r.base], color=colour[r.solver], ms=5.5, ls="none",
                            mec="white", mew=0.4)[0].set_gid(f"{r.solver}:{r.base}")
            ax.axvline(1.0, color=style.GUIDE, lw=1, ls=":")
            thetas = pd.concat([at["theta"].dropna(), at["largest"]])
            ax.set(xscale="log", xlim=(thetas.min() / 1.6, thetas.max() * 2.6), title=name,
                   xlabel="θ where over half the matrices are bad")
            style.log_axis(ax, "x", max_labels=4)
            for i in range(1, len(solvers)):
                ax.axhline(i - 0.5, color="0.88", lw=0.6, zorder=0)
            ax.grid(False, axis="y")
        axes[0, 0].set_yticks(range(len(solvers)), [style.pretty(s, keep=("recipe",)) for s in solvers])
        axes[0, 0].set(ylim=(len(solvers) - 0.5, -0.5), ylabel="method")
        handles = [style.handle("0.35", marker[b], ls="none", ms=5.5) for b in bases]
        labels = [f"base {b}" for b in bases]
        handles += [style.handle("0.35", "o", ls="none", ms=5.5, mfc="white"), style.handle(style.GUIDE, ls=":", lw=1)]
        labels += ["never broke (hollow, arrow): at the largest θ tested", "θ = 1"]
        style.title(fig, finding(sweeps))
        style.legend_below(fig, handles, labels, ncol=3)
    return fig
