"""``matinv-bench run``: a named suite (:mod:`~.suites`), or any grid of solvers x datasets x seeds
x dtypes, measured for accuracy and time per matrix; the table, ``summary.md`` and figures (error
against time per matrix, and error against kappa where datasets sweep it)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from matinv_bench.engine.runner import Cell, make_grid
from matinv_bench.experiments import register
from matinv_bench.experiments.skeleton import Experiment
from matinv_bench.experiments.suites import SUITES
from matinv_bench.reporting import precision, summary
from matinv_bench.reporting.aggregate import seeds_table


class Run(Experiment):
    name = "run"
    help = "run a suite or a grid of solvers x datasets x seeds"
    top_level, in_reproduce = True, False
    shared = {"solver": None, "dataset": None, "seeds": None, "dtype": ..., "device": ..., "n_matrices": None,
              "threads": ..., "warmup": ..., "min_time": ..., "no_timing": ..., "retrain": ...}
    helps = {
        "solver": "solver specs, e.g. lu 'neumann[order=3]' (replace the suite's solvers)",
        "dataset": "dataset specs, e.g. paper-3x3 'randsvd[n=64,cond=1e8]' npy:PATH (replace the suite's datasets)",
        "seeds": "run seeds 0..K-1 (default: the suite's, 1)",
        "n_matrices": "test matrices per dataset (default: by size, from 1000 for 2x2 down to 8)",
    }

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        p.add_argument("--suite", default="quick", choices=sorted(SUITES),
                       help="named suite of solvers and datasets (default: quick)")

    def custom(self, args: argparse.Namespace) -> bool:
        return bool(args.solver or args.dataset)

    def folder_name(self, args: argparse.Namespace) -> str:
        return "run" if self.custom(args) else args.suite

    def cells(self, args: argparse.Namespace) -> list[Cell]:
        suite = SUITES[args.suite]
        seeds = range(args.seeds if args.seeds is not None else suite.seeds)
        return make_grid(args.solver or suite.solvers, args.dataset or suite.datasets, seeds, args.dtype, args.device)

    def settings(self, args: argparse.Namespace) -> dict:
        return {"keep_times": True}  # every timed block in the row, for compare's rank test

    def write(self, df: pd.DataFrame, out: Path, args: argparse.Namespace, command: str) -> list[Path]:
        if not args.quiet:
            print(summary.summary_table(df, fmt="simple", reason_width=80))  # whole reasons in summary.md
            if seeds := seeds_table(df, fmt="simple"):
                print("\n" + seeds)
            counts = df["status"].value_counts().to_dict()
            print(f"\n{len(df)} cells: " + ", ".join(f"{counts.get(s, 0)} {s}" for s in ("ok", "skipped", "failed")))
        title = f"matinv-bench run ({'custom grid' if self.custom(args) else args.suite})"
        return [summary.write(out, df, title, command, summary.run_body(df)), *self.figures(df, out)]

    def figures(self, df: pd.DataFrame, out: Path) -> list[Path]:
        return [p for p in precision.run_figures(df, out) if p.suffix == ".png"]


register(Run())
