"""The one driver of every experiment (:class:`~.skeleton.Experiment`): options, output folder,
resume, training, the grid, the writing.

:func:`drive` does, in order:

1. ``--replot``: redraw the figures from the rows in ``--out`` and stop;
2. check the options (shared ones by :func:`matinv_bench.engine.options.check`, own ones by the
   experiment);
3. find the output folder: ``--out``, else a fresh ``results/<name>-<date>-<time>``; with
   ``--resume DIR``, the run saved in DIR, whose ``run.json`` holds the experiment's arguments, so
   that the resumed run is the same run (options given again must agree with them);
4. train the networks of the cells still to run, stacked and from the model cache where it holds
   them (:mod:`~.pretrain`), with the same progress display as the cells;
5. run the cells through :func:`~matinv_bench.engine.runner.run_grid`;
6. say so in one line if no cell succeeded (exit status 1), else let the experiment write its
   tables, ``summary.md`` and figures, and list what was written.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from datetime import datetime
from pathlib import Path

from matinv_bench.engine import options
from matinv_bench.engine.checkpoint import RunFolder
from matinv_bench.engine.progress import Progress
from matinv_bench.engine.runner import Cell, cell_key, require_success, run_grid, saved_grid
from matinv_bench.errors import DataFileError, OptionError, UserError
from matinv_bench.experiments import pretrain
from matinv_bench.experiments.skeleton import Command, Experiment
from matinv_bench.reporting import manifest, results, summary


def add_arguments(exp: Command, p: argparse.ArgumentParser) -> None:
    """Everything ``exp`` takes on the command line: its shared options, its own, the engine's."""
    if isinstance(exp, Experiment):
        options.add(p, *exp.shared, helps=exp.helps, **{k: v for k, v in exp.shared.items() if v is not ...})
    exp.add_arguments(p)
    if isinstance(exp, Experiment):
        options.add_engine(p, exp.name, replot=bool(exp.replot_reads))


def parser(exp: Command, words: tuple[str, ...]) -> argparse.ArgumentParser:
    """A parser of ``exp``'s arguments alone (after ``matinv-bench WORDS``), as the command line's."""
    p = argparse.ArgumentParser(prog="matinv-bench " + " ".join(words), description=exp.help)
    add_arguments(exp, p)
    return options.repeatable_lists(p)


def dated_folder(name: str) -> Path:
    """``results/<name>-YYYYMMDD-HHMMSS`` (:data:`~matinv_bench.engine.options.RESULTS`, read at call
    time): where a run writes when given no ``--out`` (a fresh folder each time, ignored by git, so
    that trying a command never changes committed results)."""
    return options.RESULTS / f"{name}-{datetime.now():%Y%m%d-%H%M%S}"


def own_argv(args: argparse.Namespace) -> list[str]:
    """The arguments after the command's words (``reproduce where-can``) in the parsed command line."""
    argv, words = list(getattr(args, "argv", None) or sys.argv[1:]), tuple(getattr(args, "words", ()))
    for i in range(len(argv) - len(words) + 1):
        if tuple(argv[i:i + len(words)]) == words:
            return argv[i + len(words):]
    return argv


def command_line(args: argparse.Namespace) -> str:
    """The ``matinv-bench ...`` command that made a result, to record beside it: the arguments the
    command line parsed (``args.argv``), else this process's."""
    argv = getattr(args, "argv", None)
    return "matinv-bench " + shlex.join(list(sys.argv[1:] if argv is None else argv))


class _Run:
    """Where a run writes and what it runs: a new run, or the one ``--resume DIR`` continues."""

    def __init__(self, exp: Experiment, args: argparse.Namespace):
        self.exp, self.args = exp, args
        self.resumed = args.resume is not None
        if self.resumed:
            self._resume(Path(args.resume))
        else:
            self.out = Path(args.out) if args.out is not None else dated_folder(exp.folder_name(args))
            self.rows = exp.rows_folder(self.out, args)
            self.command = command_line(args)

    def _resume(self, folder: Path) -> None:
        exp, given = self.exp, self.args
        if given.out is not None and Path(given.out) != folder:
            raise OptionError(f"--resume {folder} continues the run in that folder: drop --out {given.out}")
        candidates = [f for f in (folder, *sorted(p for p in folder.iterdir() if p.is_dir()))
                      if (f / "run.json").is_file()]
        made = {f: _saved_run(f) for f in candidates}
        # the folder itself, or a folder of rows inside it (a table's, whose --out is its parent)
        rows = next((f for f in candidates if made[f]["meta"]["experiment"] == exp.name
                     and (f == folder or made[f]["meta"].get("inside"))), None)
        if rows is None:
            who = f" (made by `{made[candidates[0]]['command']}`)" if candidates else ""
            raise UserError(f"cannot resume {str(folder)!r}: no run.json there from `matinv-bench "
                            f"{' '.join(given.words)}`{who}")
        saved = RunFolder(rows).read_manifest()
        p = parser(exp, tuple(given.words))
        first = p.parse_args(saved["meta"]["argv"])
        defaults = vars(p.parse_args([]))
        differ = [options.OPTIONS[d].flag if d in options.OPTIONS else "--" + d.replace("_", "-")
                  for d, v in vars(given).items()
                  if d in defaults and d not in options.RESUMABLE and v != defaults[d] and v != getattr(first, d)]
        if differ:
            raise OptionError(f"--resume continues the run in {str(folder)!r} with the options it was started "
                              f"with; drop {', '.join(differ)} (or give the values of `{saved['command']}`)")
        for d in options.RESUMABLE:
            if getattr(given, d, None) not in (None, False):
                setattr(first, d, getattr(given, d))
        for d in ("argv", "words", "main"):
            if hasattr(given, d):
                setattr(first, d, getattr(given, d))
        first.resume = rows
        self.args = first
        self.rows = rows
        self.out = rows.parent if saved["meta"].get("inside") else rows
        self.command = saved["command"]

    def cells_and_settings(self) -> tuple[list[Cell], dict]:
        """The grid and its :func:`run_grid` settings: the experiment's, or those saved in ``run.json``."""
        exp, args = self.exp, self.args
        if self.resumed:
            cells, grid = saved_grid(self.rows)
            grid.pop("title"), grid.pop("command")
            if args.cell_timeout is not None:
                grid["cell_timeout"] = args.cell_timeout
            return cells, grid
        hook_args = exp.hook_args(args, self.rows) if exp.hook else None
        grid = {"n_test": getattr(args, "n_matrices", None), "threads": getattr(args, "threads", None),
                "warmup_s": getattr(args, "warmup", options.OPTIONS["warmup"].default),
                "min_run_s": getattr(args, "min_time", options.OPTIONS["min_time"].default),
                "time_it": not getattr(args, "no_timing", False), "cell_timeout": args.cell_timeout,
                "hook": exp.hook, "hook_args": hook_args}
        grid.update(exp.settings(args))
        return exp.cells(args), grid


def _saved_run(folder: Path) -> dict:
    """A run folder's ``run.json``; DataFileError (one line) when it does not say which command made it."""
    saved = RunFolder(folder).read_manifest()
    meta = saved.get("meta")
    if not isinstance(meta, dict) or not {"experiment", "argv"} <= set(meta) or "command" not in saved:
        raise DataFileError(f"cannot resume {str(folder)!r}: run.json is malformed (it does not record the command "
                            "and arguments that made it: made by an older matinv-bench?)")
    return saved


def drive(exp: Experiment, args: argparse.Namespace) -> int:
    """Run ``exp`` as the command line asked (see the module docstring); the exit status."""
    if getattr(args, "replot", False):
        return _replot(exp, args)
    options.check(args)
    exp.check(args)
    run = _Run(exp, args)
    args = run.args
    manifest.check_writable(run.rows, args.allow_dirty)  # before anything is created there
    cells, grid = run.cells_and_settings()  # a grid too large to hold is refused before the folder is made
    results.prepare_out_dir(run.rows)
    meta = {"experiment": exp.name, "argv": own_argv(args) if not run.resumed else
            RunFolder(run.rows).read_manifest()["meta"]["argv"], "inside": run.rows != run.out}
    try:
        _pretrain(cells, run, grid.get("n_test"), args)
        with options.engine_kwargs(args) as engine:
            engine.pop("cell_timeout")  # part of the grid
            df = run_grid(cells, run.rows, progress=not args.quiet, title=exp.title, command=run.command,
                          on_row=exp.on_row(run.rows), meta=meta, **grid, **engine)
    except KeyboardInterrupt:
        print(f"matinv-bench: to finish the run later: matinv-bench {' '.join(args.words)} --resume "
              f"{shlex.quote(str(run.rows))}", file=sys.stderr)
        raise
    require_success(df)  # nothing to analyse: one line, exit status 1
    written = exp.write(df, run.out, args, run.command)
    _say_written(run.rows, written, len(df))
    return 0


def _pretrain(cells: list[Cell], run: _Run, n_test: int | None, args: argparse.Namespace) -> None:
    """Train the networks of the cells not yet finished (a resumed run's finished cells need none)."""
    if run.resumed:
        done = RunFolder(run.rows).finished([cell_key(c, n_test) for c in cells])
        cells = [c for c in cells if cell_key(c, n_test) not in done]
    groups = pretrain.groups(cells, stack=not getattr(args, "no_stack", False))
    if not groups:
        return
    with Progress(not args.quiet, len(groups), "networks") as step:
        for group in groups:
            step.say(f"training {pretrain.describe(group)} ...")
            info = pretrain.train(group, retrain=getattr(args, "retrain", False))
            step(f"{pretrain.describe(group)}: {info['trained']} trained, "
                 f"{info['networks'] - info['trained']} from the cache, in {info['seconds']:.1f} s")


def _replot(exp: Experiment, args: argparse.Namespace) -> int:
    """Redraw the figures of the finished run in ``--out`` (refused like any write into a committed
    set from a dirty tree unless ``--allow-dirty``)."""
    options.check(args)
    out = Path(args.out)
    missing = [f for f in exp.replot_reads if not (out / f).is_file()]
    if missing:
        raise UserError(f"--replot: no {', '.join(missing)} in {str(out)!r}")
    manifest.check_writable(out, args.allow_dirty)
    made = summary.made_by(out / summary.SUMMARY) if (out / summary.SUMMARY).is_file() else None
    written = exp.replot(out, made or command_line(args))
    if not written:
        raise UserError(f"--replot: nothing to draw from the rows in {str(out)!r}")
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def _say_written(rows: Path, written: list[Path], n_rows: int) -> None:
    names = ", ".join(str(p) for p in written)
    print(f"wrote {n_rows} rows to {rows}/results.parquet and results.csv (one file per cell in {rows}/cells)"
          + (f"; and {names}" if names else ""))

