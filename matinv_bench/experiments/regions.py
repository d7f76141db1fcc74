"""``matinv-bench reproduce regions``: what the 4-8-4 ReLU net learned (the paper's Section 5.3, App. D).

Trains ``mlp-2fc[hidden=8]`` on ``paper-2x2-1st`` (the paper's recipe, or another with ``--recipe``) as one
cell (its row, the net's error on ``--n-matrices`` test matrices, goes to ``results.parquet``/``.csv``),
loads the trained weights here from the model cache, then, with :mod:`matinv_bench.analysis.regions`:
With ``--weights PATH`` the net is not trained but read from PATH (``mlp-2fc[weights=PATH]``, e.g. the
paper's own network of its Appendix D.1), scored in the same cell, and analysed the same way; the summary
then sets its figures beside the ones the paper reports for its network (Section 5.3, Tables 2 and 3).

- counts activation patterns over ``--samples`` inputs T uniform in [-1, 1]^{n^2} (the box);
- compares each populated region's affine map with the first-order approximation
  inv(A0) - inv(A0) (eps T) inv(A0): the largest coefficient difference, in the net's
  T coordinates and per unit of A (the T coefficients divided by eps);
- solves, per region and output entry, the LP for max abs(f - lin) over the region (HiGHS; per output in
  columns ``lp_<i><j>`` for n <= 4, as in the paper's Table 3), and the MILP over the whole box (all
  regions at once, also the ones sampling missed);
- adds the Taylor remainder of the linear approximation, which bounds |f - inv| on the box.

Writes ``census.csv``, ``regions.csv``, ``bounds.csv`` and ``summary.md`` (beside the paper's values) to
``--out`` (default: a fresh ``results/regions-<date>-<time>``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from matinv_bench.analysis import regions as R
from matinv_bench.datasets import make_dataset
from matinv_bench.engine import options
from matinv_bench.engine.runner import Cell
from matinv_bench.errors import OptionError, SpecError, UserError
from matinv_bench.experiments import register
from matinv_bench.experiments.skeleton import Experiment
from matinv_bench.reporting import results, summary
from matinv_bench.solvers import SOLVERS
from matinv_bench.system import default_threads, pinned_threads

NAME = "regions"
# The paper's reported values (Section 5.3 / Appendix D, Tables 3-6), cited.
PAPER_TOP_FRACTIONS = (0.557, 0.417)
PAPER_MAX_COEF_DIFF = 0.06
# For the paper's own 4-8-4 network (Appendix D.1), cited: per activation pattern (hidden units
# h0..h7, 1 = on; h0 and h2 are dead), its share of the samples and the LP maximum of
# abs(f - lin) for the output a11 over the region (Table 3); the mean abs(f - lin) (Section 5.3)
# and the small net's MAE, an average of 3 runs (Table 2).
PAPER_TABLE3_A11 = {"01001111": (0.5567, 0.0014152), "01011100": (0.4172, 0.0015488),
                    "01010100": (0.0006, 0.0019683)}
PAPER_MEAN_DIST_TO_LINEAR = 2.3210e-4
PAPER_SMALL_NET_MAE = 6.82e-5
PER_OUTPUT_MAX_N = 4  # per-output LP columns up to this n (16 columns)


class Regions(Experiment):
    name = NAME
    order = 31
    help = "activation regions of the trained 4-8-4 net, their affine maps, and LP/MILP bounds"
    title = "What the network learned"
    shared = {"recipe": None, "n_matrices": 1000, "retrain": ...}
    helps = {"recipe": "training recipe (default: paper; fast: minutes less)",
             "n_matrices": "test matrices on which the trained net's error is reported (default: 1000)"}
    replot_reads = ()  # tables only, no figure

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        p.add_argument("--dataset", default="paper-2x2-1st", help="a box dataset (default: paper-2x2-1st)")
        p.add_argument("--hidden", type=int, default=None, help="hidden width (default: 8, the paper's 4-8-4 net)")
        p.add_argument("--layers", type=int, default=2, choices=(2, 3), help="2: mlp-2fc, 3: mlp-3fc (default: 2)")
        p.add_argument("--weights", default=None, metavar="PATH",
                       help="analyse the fixed network in this JSON file instead of training one (e.g. the paper's, "
                            "appendix_d1/weights.json); its width comes from the file: no --hidden, no --recipe")
        p.add_argument("--seed", type=int, default=0, help="seed of the net and the samples (default: 0)")
        p.add_argument("--samples", type=int, default=1_000_000, help="inputs for the census (default: 1,000,000)")
        p.add_argument("--max-regions", type=int, default=64, help="LPs for at most this many regions (default: 64)")
        p.add_argument("--milp-time-limit", type=float, default=120.0, help="seconds per MILP (default: 120)")

    def check(self, args: argparse.Namespace) -> None:
        for flag in ("--hidden", "--samples", "--max-regions", "--milp-time-limit"):
            value = getattr(args, flag[2:].replace("-", "_"))
            if value is not None:
                options.require_positive(flag, value)
        spec = net_spec(args)
        if make_dataset(args.dataset, n_test=16, seed=args.seed).base is None:
            raise SpecError(f"dataset {args.dataset!r} is not a box; the regions analysis needs A0 and eps")
        SOLVERS.build(spec)  # a bad --hidden fails here, in one line

    def cells(self, args: argparse.Namespace) -> list[Cell]:
        # the training (or scoring of fixed weights) is a cell: resumable, time-limited, on a worker if asked
        return [Cell(net_spec(args), args.dataset, args.seed)]

    def settings(self, args: argparse.Namespace) -> dict:
        return {"time_it": False}

    def write(self, df: pd.DataFrame, out: Path, args: argparse.Namespace, command: str) -> list[Path]:
        """Load the trained net (from the model cache the cell filled) and analyse it."""
        spec, row = net_spec(args), df.iloc[0]
        if row.status != "ok":
            raise UserError(f"{'scoring' if args.weights else 'training'} {spec} on {args.dataset}: "
                            f"{row.status}: {row.reason}")
        data = make_dataset(args.dataset, n_test=16, seed=args.seed)
        with pinned_threads(default_threads()):
            solver = SOLVERS.build(spec).fit(data)
            tables = analyse(R.relu_layers(solver.model_), data.base, data.eps, args.samples, args.seed,
                             args.max_regions, args.milp_time_limit)
        written = []
        for name, table in tables.items():
            results.atomic_write(out / f"{name}.csv", lambda tmp, t=table: t.to_csv(tmp, index=False))
            written.append(out / f"{name}.csv")
        return written + [write_summary(df, tables, out, command, spec, args.dataset, row,
                                        paper_net=args.weights is not None)]


register(Regions())


def net_spec(args: argparse.Namespace) -> str:
    """The network's spec: trained (``--hidden``, ``--recipe``, ``--seed``) or fixed (``--weights``)."""
    if args.weights is None:
        hidden, recipe = args.hidden or 8, args.recipe or "paper"
        if hidden < 1:
            raise OptionError(f"--hidden must be at least 1, got {hidden}")
        return f"mlp-{args.layers}fc[hidden={hidden},recipe={recipe},seed={args.seed}]"
    given = [f"--{name}" for name in ("hidden", "recipe") if getattr(args, name) is not None]
    if given:
        raise UserError(f"--weights gives a fixed network: {' and '.join(given)} do not apply")
    if "," in args.weights or "]" in args.weights:
        raise UserError(f"--weights {args.weights!r}: a path with ',' or ']' cannot go into a spec")
    return f"mlp-{args.layers}fc[weights={args.weights}]"


def analyse(layers: list, A0: np.ndarray, eps: float, samples: int, seed: int, max_regions: int,
            milp_time_limit: float) -> dict[str, pd.DataFrame]:
    """Census, per-region comparison with the linear approximation, and the bounds."""
    n = A0.shape[0]
    T = np.random.default_rng(seed).uniform(-1.0, 1.0, size=(samples, n * n))
    census = R.census(layers, T)
    J_lin, c_lin = R.linear_approx_map(A0, eps)
    rows = []
    outputs = [f"lp_{i + 1}{j + 1}" for i in range(n) for j in range(n)] if n <= PER_OUTPUT_MAX_N else []
    for pattern, frac in zip(census.pattern[:max_regions], census.fraction[:max_regions]):
        m = R.region_map(layers, pattern)
        lp = R.region_lp_bound(layers, pattern, J_lin, c_lin)
        rows.append({"pattern": pattern, "fraction": frac,
                     "max_coef_diff_T": float(np.abs(m.J - J_lin).max()),
                     "max_coef_diff_per_unit_A": float(np.abs(m.J - J_lin).max() / eps),
                     "max_const_diff": float(np.abs(m.c - c_lin).max()),
                     "lp_max_dev_from_linear": None if lp is None else float(lp.max()),
                     **dict(zip(outputs, [None] * len(outputs) if lp is None else map(float, lp)))})
    regions = pd.DataFrame(rows)
    Y, _ = R.forward(layers, T)
    A = A0 + eps * T.reshape(-1, n, n)
    inv = np.linalg.inv(A).reshape(samples, -1)
    lin = T @ J_lin.T + c_lin
    milp = R.milp_bound(layers, J_lin, c_lin, time_limit=milp_time_limit)
    taylor = R.taylor_remainder_bound(A0, eps)
    lp_all = regions.lp_max_dev_from_linear.max()
    covered = float(regions.fraction.sum())
    bounds = pd.DataFrame(
        [
            {
                "quantity": "max abs(f - lin), LP over the sampled regions",
                "value": lp_all,
                "note": f"regions covering {covered:.6f} of the samples",
            },
            {
                "quantity": "max abs(f - lin), MILP over the whole box",
                "value": float(milp.max()),
                "note": "exact, all regions",
            },
            {
                "quantity": "max abs(f - lin), sampled",
                "value": float(np.abs(Y - lin).max()),
                "note": f"{samples} inputs",
            },
            {
                "quantity": "mean abs(f - lin), sampled",
                "value": float(np.abs(Y - lin).mean()),
                "note": f"{samples} inputs",
            },
            {
                "quantity": "Taylor remainder bound max abs(inv - lin)",
                "value": taylor,
                "note": "theta^2 / ((1 - theta) sigma_min(A0))",
            },
            {
                "quantity": "max abs(inv - lin), sampled",
                "value": float(np.abs(inv - lin).max()),
                "note": f"{samples} inputs",
            },
            {
                "quantity": "bound on max abs(f - inv) (MILP + Taylor)",
                "value": float(milp.max()) + taylor,
                "note": "whole box",
            },
            {
                "quantity": "max abs(f - inv), sampled",
                "value": float(np.abs(Y - inv).max()),
                "note": f"{samples} inputs",
            },
            {
                "quantity": "MAE abs(f - inv), sampled",
                "value": float(np.abs(Y - inv).mean()),
                "note": f"{samples} inputs",
            },
        ]
    )
    return {"census": census, "regions": regions, "bounds": bounds}


def write_summary(df: pd.DataFrame, tables: dict[str, pd.DataFrame], out: Path, command: str, spec: str,
                  dataset: str, row: pd.Series | None = None, paper_net: bool = False) -> Path:
    census, regions, bounds = tables["census"], tables["regions"], tables["bounds"]
    top = census.head(8).copy()
    top["paper"] = [f"{PAPER_TOP_FRACTIONS[i]:.1%}" if i < len(PAPER_TOP_FRACTIONS) else "" for i in range(len(top))]
    top["fraction"] = top.fraction.map(lambda f: f"{f:.1%}")
    lines = ["", *_net_lines(row, fixed=paper_net),
             f"## Activation patterns ({census['count'].sum():,} inputs, {len(census)} populated regions)", "",
             "The `paper` column holds the paper's reported shares of its two dominant patterns (Tables 3-6), "
             + ("for its own network (see the last section)." if paper_net else
                "for a different trained net: compare shares, not pattern strings."), "",
             top.to_markdown(index=False), "",
             "## Each region's affine map against the linear approximation", "",
             f"Largest coefficient difference: in the net's T coordinates and per unit of A (T / eps). "
             f"The paper reports a largest difference under {PAPER_MAX_COEF_DIFF} (paper's value). "
             "`lp_max_dev_from_linear`: max over the region and the outputs of abs(f - lin) (exact LP).", "",
             regions.to_markdown(index=False, floatfmt=".3g"), "",
             "## Bounds over the whole box", "", bounds.to_markdown(index=False, floatfmt=".3g"), "",
             *(beside_the_paper(tables, row) if paper_net else [])]
    return summary.write(out, df, f"What the network learned: {spec} on {dataset}", command, lines)


def beside_the_paper(tables: dict[str, pd.DataFrame], row: pd.Series | None = None) -> list[str]:
    """Lines that set a fixed network's figures beside those the paper reports for its own network
    (its Appendix D.1 weights): region shares and the a11 LP maxima of Table 3, the mean distance
    to the linear approximation (Section 5.3) and the MAE (Table 2, an average of 3 runs)."""
    regions = tables["regions"].set_index("pattern")
    bounds = tables["bounds"].set_index("quantity").value
    rows = []
    for pattern, (share, a11) in PAPER_TABLE3_A11.items():
        found = pattern in regions.index
        rows.append(
            {
                "region (h0..h7 on)": pattern,
                "share": f"{regions.fraction[pattern]:.2%}" if found else "not sampled",
                "paper's share": f"{share:.2%}",
                "LP max abs(f - lin), a11": f"{regions.lp_11[pattern]:.5g}" if found and "lp_11" in regions else "",
                "paper's (Table 3)": f"{a11:.5g}",
            }
        )
    figures = [{"figure": "mean abs(f - lin), sampled", "here": f"{bounds['mean abs(f - lin), sampled']:.5g}",
                "paper's": f"{PAPER_MEAN_DIST_TO_LINEAR:.5g} (Section 5.3)"}]
    if row is not None:
        figures.append({"figure": f"MAE on {row.n_matrices:.0f} test matrices", "here": f"{row.mae:.3g}",
                        "paper's": f"{PAPER_SMALL_NET_MAE:.3g} (Table 2, mean of 3 trained nets)"})
    return ["## Beside the paper's figures for its own network", "",
            "The paper's values (cited) are for its Appendix D.1 network; they apply when the weights are "
            "that network's, as printed (four or five significant digits).", "",
            pd.DataFrame(rows).to_markdown(index=False), "", pd.DataFrame(figures).to_markdown(index=False), ""]


def _net_lines(row: pd.Series | None, fixed: bool = False) -> list[str]:
    """One line on the trained (or fixed) net's own accuracy (its row in ``results.csv``)."""
    if row is None:
        return []
    steps = row.get("train_steps")
    trained = f"{steps:.0f} training steps" if pd.notna(steps) and steps > 0 else "untrained"
    trained = "fixed weights" if fixed else trained
    return [f"The net ({trained}): MAE {row.mae:.3g} on {row.n_matrices:.0f} test matrices of the box "
            "(its row: `results.csv`).", ""]
