"""An experiment of your own, as a plugin file: LU and Neumann's series on boxes of growing radius.

    matinv-bench --plugin docs/examples/my_experiment.py reproduce radius-sweep --out results/radius

The class declares what runs (options, cells, a hook's columns) and how rows become a summary;
the driver does the rest: --resume, --workers, --cell-timeout, progress, the rows' files.
"""

import argparse
from pathlib import Path

import numpy as np

from matinv_bench.engine.hooks import Hook
from matinv_bench.engine.runner import Cell, make_grid
from matinv_bench.experiments import register
from matinv_bench.experiments.skeleton import Experiment
from matinv_bench.reporting import summary


class WorstError(Hook):
    """A column of our own, computed wherever the cell runs: the largest relative error."""

    def after(self, cell, solver, data, result, row):
        rel = np.linalg.norm(result.X - data.inv_ref, axis=(1, 2)) / np.linalg.norm(data.inv_ref, axis=(1, 2))
        return {"worst_rel_err": float(np.nanmax(rel))}


class RadiusSweep(Experiment):
    name = "radius-sweep"
    help = "LU and Neumann's series on boxes of growing radius around the paper's 2x2 base"
    title = "Radius sweep"
    shared = {"solver": None, "seeds": 1, "n_matrices": 200}  # shared options, with this experiment's defaults
    hook = f"{__name__}:WorstError"

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        p.add_argument("--eps", nargs="+", type=float, default=[0.01, 0.1, 0.3], help="box radii")

    def cells(self, args: argparse.Namespace) -> list[Cell]:
        datasets = [f"box[base=paper-2x2-1st,eps={e:g}]" for e in args.eps]
        return make_grid(args.solver or ["lu", "neumann[order=2]"], datasets, range(args.seeds))

    def settings(self, args: argparse.Namespace) -> dict:
        return {"time_it": False}  # accuracy only

    def write(self, df, out: Path, args: argparse.Namespace, command: str) -> list[Path]:
        table = df.pivot_table(index="dataset", columns="solver", values="worst_rel_err")
        return [summary.write(out, df, self.title, command, ["", table.to_markdown(floatfmt=".3g"), ""])]


register(RadiusSweep())
