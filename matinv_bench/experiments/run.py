"""``matinv-bench run``: a named suite (:mod:`~.suites`), or any grid of solvers x datasets x seeds
x dtypes, measured for accuracy and time per matrix; the table, ``summary.md`` and figures (error
against time per matrix, and error against kappa where datasets sweep it).

With no arguments it runs the ``quick`` suite, whose first grid is the paper's question: trained
networks against the matmul-only methods and the classical solvers on the paper's small boxes,
scored on the authors' released test sets where ``--paper-data`` (by default
``../shared/paper-data``, where present) holds them and on boxes drawn from the paper's definition
otherwise. Its networks train before the grid (stacked, from the model cache when it holds them).
The run ends with where the best network stands on each box (:mod:`~matinv_bench.reporting.standings`),
printed and at the end of ``summary.md``; the figure's title is that finding.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from matinv_bench.engine.runner import Cell, make_grids
from matinv_bench.errors import OptionError
from matinv_bench.experiments import register
from matinv_bench.experiments.pretrain import with_seed
from matinv_bench.experiments.skeleton import Experiment
from matinv_bench.experiments.suites import SUITES, Grid
from matinv_bench.experiments.tables import OWN_BASE, PAPER_DIRS, released_test_set
from matinv_bench.reporting import precision, standings, style, summary
from matinv_bench.reporting.aggregate import seeds_table
from matinv_bench.reporting.manifest import PAPER_DATA
from matinv_bench.reporting.scaling import load_lines

# the run's clock: a cell's timing costs about a tenth of a second, so the default suite's grid
# times in seconds (the scaling study and asv keep the longer clock of engine/clock.py)
WARMUP_S = 0.01
MIN_TIME_S = 0.05


def box_name(dataset: str) -> str:
    """A dataset as the run's figure and comparison name it: an authors' released test set by the
    paper box it was drawn from (``paper-2x2-1st (authors' test set)``), any other as it is."""
    if dataset.startswith("paper-dir:"):
        box = next((b for b, folder in PAPER_DIRS.items() if Path(dataset.split(":", 1)[1]).name == folder), None)
        if box is not None and box not in OWN_BASE:
            return f"{box} (authors' test set)"
    return dataset


class Run(Experiment):
    name = "run"
    help = "run a suite or a grid of solvers x datasets x seeds"
    top_level, in_reproduce = True, False
    shared = {"solver": None, "dataset": None, "seeds": None, "dtype": ..., "device": ..., "n_matrices": None,
              "paper_data": None, "threads": ..., "warmup": WARMUP_S, "min_time": MIN_TIME_S, "no_timing": ...,
              "retrain": ...}
    helps = {
        "solver": "solver specs, e.g. lu 'neumann[order=3]' (replace the suite's solvers)",
        "dataset": "dataset specs, e.g. paper-3x3 'randsvd[n=64,cond=1e8]' npy:PATH (replace the suite's datasets; "
                   "given alone, each runs with the suite's solvers for its kind: boxes with the networks)",
        "seeds": "run seeds 0..K-1, each network with its own seed (default: the suite's, 1)",
        "threads": "BLAS and torch threads per cell, 1 to the usable cores (default: the suite's, 1 for quick, whose "
                   "matrices are small; every usable core for a grid of your own)",
        "n_matrices": "test matrices per dataset (default: by size, from 1000 for 2x2 down to 8; a released "
                      "test set: all of it)",
        "paper_data": f"the authors' released data: the suite's paper boxes are scored on their test sets (default: "
                      f"{PAPER_DATA} where it holds them; else the boxes are drawn)",
    }

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        p.add_argument("--suite", default="quick", choices=sorted(SUITES),
                       help="named suite of solvers and datasets (default: quick)")

    def check(self, args: argparse.Namespace) -> None:
        if args.paper_data is not None and args.dataset:
            raise OptionError("--paper-data scores the suite's paper boxes on the authors' test sets; with --dataset "
                              "name them yourself: paper-dir:DIR")
        if args.paper_data is not None and not Path(args.paper_data).is_dir():
            raise OptionError(f"--paper-data: {str(args.paper_data)!r} is not a folder")

    def custom(self, args: argparse.Namespace) -> bool:
        return bool(args.solver or args.dataset)

    def folder_name(self, args: argparse.Namespace) -> str:
        return "run" if self.custom(args) else args.suite

    def grids(self, args: argparse.Namespace) -> list[Grid]:
        """The suite's grids, or the solvers and datasets given instead; each paper box of the suite
        on the authors' released test set where ``--paper-data`` holds it."""
        grids = SUITES[args.suite].replaced(args.solver, args.dataset)
        if args.dataset:
            return grids
        root = Path(args.paper_data if args.paper_data is not None else PAPER_DATA)
        return [Grid(g.solvers, tuple(released_test_set(d, root) or d for d in g.datasets)) for g in grids]

    def cells(self, args: argparse.Namespace) -> list[Cell]:
        seeds = range(args.seeds if args.seeds is not None else SUITES[args.suite].seeds)
        return make_grids([(g.solvers, g.datasets) for g in self.grids(args)], seeds, args.dtype, args.device,
                          seeded=with_seed)

    def settings(self, args: argparse.Namespace) -> dict:
        threads = SUITES[args.suite].threads if args.threads is None and not self.custom(args) else args.threads
        return {"keep_times": True, "threads": threads}  # keep_times: every timed block, for compare's rank test

    def write(self, df: pd.DataFrame, out: Path, args: argparse.Namespace, command: str) -> list[Path]:
        standing = standings.table(df)
        standing = standing.assign(dataset=standing["dataset"].map(box_name)) if len(standing) else standing
        if not args.quiet:
            print(summary.summary_table(df, fmt="simple", reason_width=80))  # whole reasons in summary.md
            if seeds := seeds_table(df, fmt="simple"):
                print("\n" + seeds)
            counts = df["status"].value_counts().to_dict()
            print(f"\n{len(df)} cells: " + ", ".join(f"{counts.get(s, 0)} {s}" for s in ("ok", "skipped", "failed")))
            if len(standing):
                print("\n" + "\n".join([*paper_data_notes(df, args), *load_lines(df), "",
                                         *standings.lines(standing, fmt="simple")]))
        title = f"matinv-bench run ({'custom grid' if self.custom(args) else args.suite})"
        body = summary.run_body(df)
        if len(standing):
            body += ["## The paper's boxes", "", *paper_data_notes(df, args), *load_lines(df), "",
                     *standings.lines(standing)]
        return [summary.write(out, df, title, command, body), *self.figures(df, out)]

    def figures(self, df: pd.DataFrame, out: Path) -> list[Path]:
        finding = standings.finding(standings.table(df)) or None
        df = df.assign(panel=df["dataset"].astype(str).map(box_name).str.replace(" (", "\n(", regex=False))
        return [p for p in precision.run_figures(df, out, finding=finding) if p.suffix == ".png"]


def paper_data_notes(df: pd.DataFrame, args: argparse.Namespace) -> list[str]:
    """Where the rows' paper boxes come from: the authors' released test sets, or our own draw
    from the box's definition (and why: no released set where ``--paper-data`` looked)."""
    root = Path(args.paper_data if args.paper_data is not None else PAPER_DATA)
    sizes = df.groupby("dataset", sort=False)["n_matrices"].max()
    notes = []
    for dataset, size in sizes.items():
        size = "" if pd.isna(size) else f", {int(size):,} matrices"
        if str(dataset).startswith("paper-dir:"):
            notes.append(f"- `{style.shown(dataset)}`: the authors' released test set (`{dataset[len('paper-dir:'):]}`"
                         f"{size}).")
        elif dataset in PAPER_DIRS:
            why = "" if args.dataset else f": no released test set at `{root / PAPER_DIRS[dataset] / 'test_set.npy'}`"
            notes.append(f"- `{dataset}`: drawn from the paper's box (our own test split{size}){why}.")
    return notes


register(Run())
