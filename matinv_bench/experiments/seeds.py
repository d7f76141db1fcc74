"""``matinv-bench reproduce seeds``: the paper's small network over many seeds, against the best
affine maps, and the warm start from its equation (16).

Part A. The paper's small net of Table 2, ``mlp-2fc[hidden=8]`` on ``paper-2x2-1st`` (for an n x n
box: h = 2 n^2, which is 8 on 2x2), is trained with ``--recipe`` (default: the paper's) for seeds
0..K-1 (``--seeds K``; seed s: initialisation s, train split s, test split s), the K nets as one
stack (:mod:`~matinv_bench.experiments.pretrain`), then scored through the engine's ``run_grid``
(accuracy only) beside ``linear-approx``. The best single affine maps X(A) = W vec(A - A0)/eps + b
are fitted on a draw from the same training distribution (:mod:`matinv_bench.analysis.affine`, in
this process after the cells: one computation, not one per cell): by least squares on the first
``--ls-matrices`` matrices of seed 0's train split and by least absolute error on its first
``--lae-matrices``; each is scored on every seed's test split. A seed has *collapsed to about the
best affine map* when its MAE is within :data:`COLLAPSE_TOL` (relative) of the better of the two
maps' MAEs on its own test split.

Part B. The same net started from equation (16) (``mlp-2fc[init=linear]``: 2 n^2 hidden units
that compute the linear approximation) against the random initialisation, for seeds
0..W-1 (``--warm-seeds W``), both recording a training curve (the test MAE every
``--curve-every`` steps; see :class:`~matinv_bench.solvers.learned.training.Curve`). The target is
the median final MAE of the W random-init runs; each init's median over seeds of the first
recorded step at or below it is reported, with the final MAE.

Writes to ``--out``: ``results.parquet``/``.csv`` (every cell's row; the curves in ``train_curve``),
``seeds.csv`` (per seed: MAE, best affine MAE, collapsed), ``affine.csv`` (per map and seed),
``curves.csv`` (init, seed, step, mae), ``warm_start.csv``, ``summary.md``, ``seeds.png`` and
``warm_start.png`` (with SVGs). ``--resume``, ``--cell-timeout`` and ``--workers`` as for ``run``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from matinv_bench.analysis import affine
from matinv_bench.datasets import make_dataset
from matinv_bench.engine import options
from matinv_bench.engine.runner import Cell, make_grid
from matinv_bench.errors import OptionError
from matinv_bench.experiments import register
from matinv_bench.experiments.skeleton import Experiment
from matinv_bench.reporting import results, style, summary
from matinv_bench.solvers.learned.architecture import mlp_flops
from matinv_bench.solvers.learned.training import recipe_for
from matinv_bench.specs import format_spec

NAME = "seeds"
TITLE = "Seeds of the paper's small network, and the eq. (16) warm start"
COLLAPSE_TOL = 0.10  # a seed within 10% of the best affine map's MAE has collapsed to it
CURVE_POINTS = 200  # default curve: about this many points over the training
MAPS = {"least squares": affine.fit_least_squares, "least absolute error": affine.fit_least_absolute}
INITS = {"random": "random init", "linear": "eq. (16) init"}


class Seeds(Experiment):
    name = NAME
    order = 32
    help = "the paper's 4-8-4 net over K seeds against the best affine maps; the eq. (16) warm start"
    title = TITLE
    shared = {"seeds": 10, "recipe": "paper", "n_matrices": 10_000, "device": ..., "threads": ..., "retrain": ...}
    helps = {"seeds": "seeds 0..K-1 of the net (default: 10)", "recipe": "training recipe (default: paper)",
             "n_matrices": "test matrices per seed, also the training curves' (default: 10,000, as the paper)"}
    replot_reads = ("seeds.csv", "affine.csv", "curves.csv")

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        p.add_argument("--dataset", default="paper-2x2-1st", help="a box dataset (default: paper-2x2-1st)")
        p.add_argument("--warm-seeds", type=int, default=3, metavar="W",
                       help="seeds 0..W-1 trained from eq. (16) too, for the warm start (default: 3; 0: none)")
        p.add_argument("--curve-every", type=int, default=None, metavar="S",
                       help=f"record the test MAE every S training steps (default: about {CURVE_POINTS} points)")
        p.add_argument("--ls-matrices", type=int, default=100_000, metavar="N",
                       help="training matrices of the least-squares affine fit (default: 100,000)")
        p.add_argument("--lae-matrices", type=int, default=20_000, metavar="N",
                       help="training matrices of the least-absolute-error fit, an LP (default: 20,000)")

    def check(self, args: argparse.Namespace) -> None:
        for flag in ("--ls-matrices", "--lae-matrices", "--curve-every"):
            value = getattr(args, flag[2:].replace("-", "_"))
            if value is not None:
                options.require_at_least(flag, value, 1)
        if not 0 <= args.warm_seeds <= args.seeds:
            raise OptionError(f"--warm-seeds must be in 0..--seeds ({args.seeds}), got {args.warm_seeds}")
        if make_dataset(args.dataset, n_test=1, seed=0).base is None:
            raise OptionError(f"--dataset {args.dataset!r} is not a box: the affine maps and eq. (16) need A0 and eps")

    def every(self, args: argparse.Namespace) -> int:
        """Steps between two points of the training curves."""
        n = make_dataset(args.dataset, n_test=1, seed=0).n
        hidden = 2 * n * n
        return args.curve_every or max(1, recipe_for(args.recipe, n, hidden).total_steps(mlp_flops(n, hidden, 2))
                                       // CURVE_POINTS)

    def cells(self, args: argparse.Namespace) -> list[Cell]:
        n = make_dataset(args.dataset, n_test=1, seed=0).n
        return grid(args, 2 * n * n, self.every(args))  # the width of eq. (16); the paper's small net (h = 8) on 2x2

    def settings(self, args: argparse.Namespace) -> dict:
        return {"time_it": False}

    def write(self, df: pd.DataFrame, out: Path, args: argparse.Namespace, command: str) -> list[Path]:
        maps = affine_rows(args.dataset, args.seeds, args.n_matrices, args.ls_matrices, args.lae_matrices)
        return write(df, maps, out, command, args, self.every(args))

    def replot(self, out: Path, command: str) -> list[Path]:
        return figures(pd.read_csv(out / "seeds.csv"), pd.read_csv(out / "affine.csv"),
                       pd.read_csv(out / "curves.csv"), out)


register(Seeds())


def net_spec(init: str, recipe: str, seed: int, hidden: int, every: int, n_matrices: int) -> str:
    """The small net's spec: random init (``hidden``) or eq. (16) (``init=linear``), with its curve."""
    shape = {"hidden": hidden} if init == "random" else {"init": "linear"}
    return format_spec("mlp-2fc", {**shape, "recipe": recipe, "seed": seed, "curve_every": every,
                                   "curve_matrices": n_matrices})


def grid(args: argparse.Namespace, hidden: int, every: int) -> list[Cell]:
    """The K random-init nets, the W warm-started ones and ``linear-approx``, seed by seed."""
    cells = []
    for init, seeds in (("random", range(args.seeds)), ("linear", range(args.warm_seeds))):
        for seed in seeds:
            spec = net_spec(init, args.recipe, seed, hidden, every, args.n_matrices)
            cells += make_grid([spec], [args.dataset], [seed], device=args.device)
    return cells + make_grid(["linear-approx"], [args.dataset], range(args.seeds))


def affine_rows(dataset: str, seeds: int, n_matrices: int, ls_matrices: int, lae_matrices: int) -> pd.DataFrame:
    """The two affine fits (on seed 0's train split) and the linear approximation, each scored on
    every seed's test split (``mae``) and on the fits' training draw (``train_mae``, ``train_mse``:
    over the first ``ls_matrices``; the least-absolute fit saw the first ``lae_matrices`` of them)."""
    probe = make_dataset(dataset, n_test=1, seed=0)
    train = probe.draw_train(max(ls_matrices, lae_matrices))
    A, inv = train.A, train.inv_ref
    sizes = {"least squares": ls_matrices, "least absolute error": lae_matrices}
    fitted = {name: fit(A[:sizes[name]], inv[:sizes[name]], probe.base, probe.eps) for name, fit in MAPS.items()}
    fitted["linear approximation"] = affine.linear_approximation(probe.base, probe.eps)
    tests = [make_dataset(dataset, n_test=n_matrices, seed=s) for s in range(seeds)]
    A, inv = A[:ls_matrices], inv[:ls_matrices]
    return pd.DataFrame([{"map": name, "seed": s, "mae": affine.mae(f, t.A, t.inv_ref, t.kappa),
                          "fit_matrices": sizes.get(name, 0), "train_mae": affine.mae(f, A, inv),
                          "train_mse": affine.mse(f, A, inv), "n_matrices": len(t)}
                         for name, f in fitted.items() for s, t in enumerate(tests)])


def seed_table(df: pd.DataFrame, maps: pd.DataFrame) -> pd.DataFrame:
    """Per seed of the random-init net: its MAE, the better affine map's MAE on the same test split
    (``affine_mae``), their ratio and ``collapsed`` (within :data:`COLLAPSE_TOL` of it)."""
    nets = _nets(df, "random")[["seed", "mae", "train_steps"]]
    best = maps[maps["map"].isin(list(MAPS))].groupby("seed")["mae"].min().rename("affine_mae")
    lin = df[(df.solver == "linear-approx") & (df.status == "ok")].set_index("seed")["mae"].rename("linear_approx_mae")
    t = nets.join(best, on="seed").join(lin, on="seed")
    t["ratio"] = t["mae"] / t["affine_mae"]
    t["collapsed"] = (t["ratio"] - 1).abs() <= COLLAPSE_TOL
    return t.sort_values("mae", kind="stable").reset_index(drop=True)


def _nets(df: pd.DataFrame, init: str) -> pd.DataFrame:
    """The ok rows of the net with one init (``random`` or ``linear``)."""
    is_init = df["solver"].str.contains("init=linear", regex=False)
    nets = df[df["solver"].str.startswith("mlp-") & (is_init if init == "linear" else ~is_init)]
    return nets[nets.status == "ok"]


def curves(df: pd.DataFrame) -> pd.DataFrame:
    """The training curves of the seeds both inits ran: init, seed, step, mae."""
    warm_seeds = set(_nets(df, "linear")["seed"])
    rows = []
    for init in INITS:
        for r in _nets(df, init).itertuples():
            if r.seed in warm_seeds and isinstance(getattr(r, "train_curve", None), str):
                rows += [{"init": init, "seed": r.seed, "step": int(step), "mae": mae}
                         for step, mae in json.loads(r.train_curve)]
    return pd.DataFrame(rows, columns=["init", "seed", "step", "mae"])


def warm_table(c: pd.DataFrame) -> tuple[pd.DataFrame, float]:
    """Per init: step-0 and final MAE (medians over seeds) and the first recorded step at or below
    the target, the median final MAE of the random-init runs (median over seeds; inf: not reached)."""
    last = c.sort_values("step").groupby(["init", "seed"]).tail(1)
    target = float(last.loc[last["init"] == "random", "mae"].median())
    lines = []
    for init, g in c.groupby("init", sort=False):
        reach = (g[g["mae"] <= target].groupby("seed")["step"].min().astype(float)
                 .reindex(sorted(set(g.seed)), fill_value=np.inf))
        lines.append({"init": init, "seeds": g["seed"].nunique(),
                      "mae_step0": float(g[g.step == 0].mae.median()),
                      "mae_final": float(last[last["init"] == init].mae.median()),
                      "steps_to_target": float(np.median(reach.to_numpy(dtype=float))),
                      "reached": int(np.isfinite(reach).sum()), "train_steps": int(g.step.max())})
    return pd.DataFrame(lines), target


def _g(x: float) -> str:
    return f"{x:.3g}"


def write(df: pd.DataFrame, maps: pd.DataFrame, out: Path, command: str, args: argparse.Namespace,
          every: int) -> list[Path]:
    table = seed_table(df, maps)
    c = curves(df)
    tables = {"seeds.csv": table, "affine.csv": maps, "curves.csv": c}
    warm, target = warm_table(c) if len(c) else (pd.DataFrame(), float("nan"))
    tables["warm_start.csv"] = warm
    for name, t in tables.items():
        results.atomic_write(out / name, lambda tmp, t=t: t.to_csv(tmp, index=False))
    text = summary.write(out, df, TITLE, command, summary_lines(df, table, maps, warm, target, args, every))
    return [*(out / name for name in tables), text, *figures(table, maps, c, out)]


def figures(table: pd.DataFrame, maps: pd.DataFrame, c: pd.DataFrame, out: Path) -> list[Path]:
    """seeds.png and warm_start.png (each with its SVG) from the tables :func:`write` saves."""
    written: list[Path] = []
    if len(table):
        written += style.save(seeds_figure(table, maps), out / "seeds.png")
    if len(c):
        target = warm_table(c)[1]
        written += style.save(warm_figure(c, target, table["linear_approx_mae"].median()), out / "warm_start.png")
    return written


def summary_lines(df: pd.DataFrame, table: pd.DataFrame, maps: pd.DataFrame, warm: pd.DataFrame, target: float,
                  args: argparse.Namespace, every: int) -> list[str]:
    mae = table["mae"]
    k = int(table["collapsed"].sum())
    lines = ["", f"`{args.dataset}`, `{args.recipe}` recipe, {args.n_matrices:,} test matrices per seed (seed s: "
             "initialisation s, train split s, test split s); accuracy only. Every number below is computed "
             "from the rows in `results.parquet`, `affine.csv` and `curves.csv`.", "",
             f"## The small net over {len(table)} seeds", ""]
    if len(table):
        view = pd.DataFrame({"seed": table["seed"], "test MAE": mae.map(_g),
                             "best affine map's MAE (same test split)": table["affine_mae"].map(_g),
                             "ratio": table["ratio"].map(lambda r: f"{r:.2f}"),
                             "collapsed": table["collapsed"].map({True: "yes", False: ""})})
        std = f"{mae.std(ddof=1):.3g}" if len(mae) > 1 else "n/a (one seed)"
        lines += [view.to_markdown(index=False), "",
                  f"Test MAE over the {len(mae)} seeds: mean {_g(mae.mean())}, standard deviation (ddof=1) {std}, "
                  f"min {_g(mae.min())}, median {_g(mae.median())}, max {_g(mae.max())}.", "",
                  f"**{k} of {len(table)} seeds collapse to about the best affine map.** Criterion: a seed has "
                  f"collapsed when |MAE / MAE_affine - 1| <= {COLLAPSE_TOL:g}, MAE_affine being the lower of the "
                  "two affine maps' MAEs on that seed's own test split.", ""]
    not_ok = df[df.status != "ok"]
    if len(not_ok):
        lines += ["Cells not ok: " + "; ".join(f"{r.solver} seed {r.seed}: {r.status} ({r.reason})"
                                               for r in not_ok.itertuples()), ""]
    fits = maps.groupby("map", sort=False).agg(fit_matrices=("fit_matrices", "first"), train_mae=("train_mae", "first"),
                                                train_mse=("train_mse", "first"), mae=("mae", "mean")).reset_index()
    lin_rows = df[(df.solver == "linear-approx") & (df.status == "ok")]
    fits["linear-approx rows"] = [
        "" if m != "linear approximation" else _g(lin_rows["mae"].mean()) for m in fits["map"]
    ]
    lines += ["## The best single affine maps", "",
              f"X(A) = W vec(A - A0)/eps + b, fitted on seed 0's train split (float64 LAPACK inverses): least "
              f"squares on its first {args.ls_matrices:,} matrices, least absolute error (an LP, HiGHS) on its "
              f"first {args.lae_matrices:,}. Training-draw columns are over the first {args.ls_matrices:,}; the "
              "linear approximation (eq. (16)) is not fitted. Test MAE: mean over the seeds' test splits; the last "
              "column is `linear-approx`'s own rows, for comparison.", "",
              pd.DataFrame({"map": fits["map"], "fitted on (matrices)": [f"{v:,}" if v else "not fitted"
                                                                          for v in fits["fit_matrices"]],
                            "MAE, training draw": fits["train_mae"].map(_g),
                            "MSE, training draw": fits["train_mse"].map(_g),
                            "test MAE (mean over seeds)": fits["mae"].map(_g),
                            "test MAE, linear-approx rows": fits["linear-approx rows"]}).to_markdown(index=False), ""]
    lines += ["## Warm start from eq. (16)", ""]
    if warm.empty:
        lines += ["Not run (`--warm-seeds 0`).", ""]
    else:
        view = pd.DataFrame({"init": warm["init"].map(INITS), "seeds": warm["seeds"],
                             "MAE at step 0 (median)": warm["mae_step0"].map(_g),
                             "final MAE (median)": warm["mae_final"].map(_g),
                             "steps to reach the target (median)": [f"{s:,.0f}" if np.isfinite(s) else "not reached"
                                                                    for s in warm["steps_to_target"]],
                             "seeds that reach it": warm["reached"], "training steps": warm["train_steps"]})
        lines += [f"Both inits on seeds 0..{warm['seeds'].max() - 1} (same batches and train splits). Target: the "
                  f"median final MAE of the random-init runs, {_g(target)}. Steps to reach it: the first recorded "
                  f"step (every {every:,} steps) with test MAE at or below it, median over seeds (not reached "
                  "counts as infinite).", "", view.to_markdown(index=False), ""]
    return lines


def seeds_finding(table: pd.DataFrame) -> str:
    k, K = int(table["collapsed"].sum()), len(table)
    better = int((table["ratio"] < 1 - COLLAPSE_TOL).sum())
    return (f"{k} of {K} seeds of the small net end within {COLLAPSE_TOL:.0%} of the best affine map's MAE, "
            f"{better} below it, {K - k - better} above it")


def seeds_figure(table: pd.DataFrame, maps: pd.DataFrame):
    """Each seed's test MAE (collapsed seeds hollow) with the two affine maps and the linear
    approximation as labelled horizontal lines (their mean MAE over the seeds' test splits)."""
    net = style.colours([("net", "learned")])["net"]
    levels = maps.groupby("map", sort=False)["mae"].mean()
    shade = style.colours([(m, "approximation") for m in levels.index])
    by_seed = table.sort_values("seed")
    with style.context():
        fig, ax = style.subplots(figsize=(style.WIDTH, 4.2))
        x = np.arange(len(by_seed))
        for collapsed, fill in ((False, net), (True, "none")):
            g = by_seed["collapsed"].to_numpy() == collapsed
            ax.plot(x[g], by_seed["mae"].to_numpy()[g], "o", ms=7, color=net, mfc=fill, ls="none",
                    label=f"seed, collapsed (within {COLLAPSE_TOL:.0%} of the best affine map)" if collapsed
                    else "seed of the small net")
        for (name, level), ls in zip(levels.items(), ("--", "-.", ":")):
            ax.axhline(level, color=shade[name], ls=ls, lw=1.4, label=f"{name}: {level:.3g} (mean over the seeds)")
        ax.set(xticks=x, xticklabels=[str(s) for s in by_seed["seed"]], xlabel="seed", ylabel="test MAE",
               yscale="log")
        ax.set_xlim(-0.6, len(x) - 0.4)
        style.log_axis(ax, "y")
        style.legend_below(fig, *ax.get_legend_handles_labels(), ncol=2)
        style.title(fig, seeds_finding(table))
    return fig


def warm_finding(c: pd.DataFrame, target: float) -> str:
    warm, _ = warm_table(c)
    steps = dict(zip(warm["init"], warm["steps_to_target"]))
    said = {init: f"{s:,.0f} steps" if np.isfinite(s) else "never" for init, s in steps.items()}
    return (f"From eq. (16) the net reaches the random init's final MAE ({target:.3g}) in {said.get('linear', '?')} "
            f"(median), from a random init in {said.get('random', '?')}")


def warm_figure(c: pd.DataFrame, target: float, linear_mae: float):
    """Test MAE against training step for both inits (one line per seed, log y), the target and the
    linear approximation as horizontal lines."""
    shade = style.colours([(INITS[i], "learned") for i in INITS])
    with style.context():
        fig, ax = style.subplots(figsize=(style.WIDTH, 3.8))
        for (init, ls) in (("random", "-"), ("linear", "--")):
            for i, (_, g) in enumerate(c[c["init"] == init].groupby("seed")):
                ax.plot(g["step"], g["mae"], ls=ls, color=shade[INITS[init]], lw=1.4,
                        label=INITS[init] if i == 0 else None)
        ax.axhline(target, color=style.GUIDE, ls=":", lw=1.2, label=f"target: random init's final MAE ({target:.3g})")
        if np.isfinite(linear_mae):
            ax.axhline(linear_mae, color=style.colours([("l", "approximation")])["l"], ls="-.", lw=1.2,
                       label=f"linear approximation ({linear_mae:.3g})")
        ax.set(yscale="log", xlabel="training step", ylabel="test MAE")
        style.log_axis(ax, "y")
        ax.legend(loc="upper right")
        style.title(fig, warm_finding(c, target))
    return fig
