"""The one skeleton of an experiment: it declares what it runs, :func:`~.driver.drive` runs it.

An experiment is a subclass of :class:`Experiment`, instantiated and registered once
(``register(WhereCan())``). It declares:

- ``name``, ``help`` and ``title``; ``top_level`` if ``matinv-bench NAME`` runs it too;
- ``shared``: the shared options it takes (:data:`matinv_bench.engine.options.OPTIONS`) with its
  defaults, e.g. ``{"seeds": 3, "recipe": "quick", "n_matrices": 1000, "retrain": ...}`` (``...``:
  the option's own default); the engine's own
  options (``--out``, ``--resume``, ``--cell-timeout``, ``--workers``/``--scheduler``,
  ``--quiet``, ``--allow-dirty``) come with every experiment;
- :meth:`add_arguments` and :meth:`check`: its own options and their ranges;
- :meth:`cells`: the grid, a list of :class:`~matinv_bench.engine.runner.Cell`;
- ``hook`` and :meth:`hook_args`: the columns it adds to each row, computed wherever the cell
  runs (:mod:`matinv_bench.engine.hooks`);
- :meth:`settings`: how the cells run, beyond what the shared options say (test-set size, timing);
- :meth:`write`: how its rows become tables, ``summary.md`` (through
  :func:`matinv_bench.reporting.summary.write`) and figures; :meth:`figures`: the figures alone,
  which ``--replot`` redraws from the rows.

The driver does the rest, in order: replot or validate; find the output folder (or the run to
resume); train the networks of the cells still to run (:mod:`~.pretrain`: stacked, from the
model cache when there); run the grid through the one runner; write. Networks are every cell
whose solver is trainable; nothing else needs declaring.

A plan that runs other commands rather than cells (``reproduce all``, ``reproduce gpu``) is a
:class:`Command`: it has its own ``run``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from matinv_bench.engine.runner import Cell, make_grids
from matinv_bench.experiments.pretrain import with_seed


def seeded_grid(specs: list[str], datasets: list[str], seeds: int, device: str | None = None) -> list[Cell]:
    """Every spec on every dataset for seeds 0..K-1, a network's spec carrying its cell's seed
    (:func:`~matinv_bench.experiments.pretrain.with_seed`: its initialisation and batches, as in the
    paper's tables); the grid's size is checked before any cell is made, every spec validated."""
    return make_grids([(specs, datasets)], range(seeds), device=device, seeded=with_seed)


class Command:
    """A ``matinv-bench reproduce NAME`` command: ``add_arguments`` and ``run`` (its exit status)."""

    name: str = ""
    help: str = ""
    top_level: bool = False  # `matinv-bench NAME` runs it
    in_reproduce: bool = True  # `matinv-bench reproduce NAME` runs it
    order: int = 50  # where ``reproduce --help`` lists it: the paper's experiments first, plans last

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        """Add this command's options to ``p``."""

    def run(self, args: argparse.Namespace) -> int:
        raise NotImplementedError


class Experiment(Command):
    """Subclass and declare; see the module docstring for the contract. It has no ``run``:
    :func:`~.driver.drive` runs it."""

    title: str = ""
    shared: dict[str, Any] = {}  # shared option -> this experiment's default (``...``: the option's own)
    helps: dict[str, str] = {}  # shared option -> this experiment's help text, where the generic one says too little
    hook: str | None = None  # "package.module:HookClass"
    replot_reads: tuple[str, ...] = ("results.parquet",)  # files --replot needs; () when there is no figure

    # -- what the command line offers ------------------------------------------------------------
    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        """This experiment's own options (the shared ones are added from :attr:`shared`)."""

    def check(self, args: argparse.Namespace) -> None:
        """:class:`~matinv_bench.errors.OptionError` for own options out of range (shared ones are checked)."""

    def folder_name(self, args: argparse.Namespace) -> str:
        """The stem of the fresh ``results/<stem>-<date>-<time>`` a run without ``--out`` writes to."""
        return self.name

    # -- what runs -----------------------------------------------------------------------------
    def cells(self, args: argparse.Namespace) -> list[Cell]:
        raise NotImplementedError

    def settings(self, args: argparse.Namespace) -> dict:
        """:func:`~matinv_bench.engine.runner.run_grid` keywords beyond the shared options' (``n_test``,
        ``threads``, ``warmup_s``, ``min_run_s``, ``time_it``), e.g. ``keep_times`` or ``time_it=False``."""
        return {}

    def hook_args(self, args: argparse.Namespace, rows: Path) -> dict:
        """The JSON-able keyword arguments of :attr:`hook` (``rows``: the folder the rows go to)."""
        return {}

    def rows_folder(self, out: Path, args: argparse.Namespace) -> Path:
        """Where the rows (and ``cells/``, ``run.json``) go inside the output folder ``out``."""
        return out

    def on_row(self, rows: Path) -> Callable[[dict], None] | None:
        """Called in this process with each finished row (e.g. a log other cells read)."""
        return None

    # -- what it writes ------------------------------------------------------------------------
    def write(self, df: pd.DataFrame, out: Path, args: argparse.Namespace, command: str) -> list[Path]:
        """Turn the rows into tables, ``summary.md`` and figures in ``out``; return the files written."""
        raise NotImplementedError

    def figures(self, df: pd.DataFrame, out: Path) -> list[Path]:
        """Draw the figures from the rows ``df`` of the run in ``out``; return the files written."""
        return []

    def replot(self, out: Path, command: str) -> list[Path]:
        """``--replot``: redraw from the files in ``out`` (by default: :meth:`figures` of its rows)."""
        from matinv_bench.reporting import results

        return self.figures(results.read_results(out), out)
