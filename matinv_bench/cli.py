"""The ``matinv-bench`` command line: list, run (and the experiment commands)."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from matinv_bench import __version__, plugins, system
from matinv_bench.engine import options
from matinv_bench.errors import DataFileError, SpecError, UserError

EPILOG = """examples:
  matinv-bench run                                  # the quick suite, results in results/quick-<time>/
  matinv-bench run --solver lu gauss-jordan --dataset 'randsvd[n=64,cond=1e8]' --seeds 3
  matinv-bench run --solver 'gauss-jordan[backend=torch]' --device cuda --dtype float32
  matinv-bench list solvers
  matinv-bench run --resume results/run-20260101-120000   # finish an interrupted run
  matinv-bench run --workers 2 --cell-timeout 600          # a local Dask cluster; kill cells after 10 min
"""


def _add_list(sub) -> None:
    p = sub.add_parser("list", help="list solvers, datasets or suites",
                       description="List what can be run: registered solvers and datasets (with their "
                                   "parameters and defaults) and the named suites.")
    p.add_argument("what", nargs="?", choices=("solvers", "datasets", "suites"), default=None,
                   help="what to list (default: all three)")
    p.set_defaults(func=cmd_list)


def _add_run(sub) -> None:
    from matinv_bench.experiments.suites import SUITES

    p = sub.add_parser(
        "run", help="run a suite or a grid of solvers x datasets x seeds",
        description="Run every solver on every dataset for every seed and dtype, measuring accuracy "
                    "against trustworthy references and the time per matrix. Writes results.parquet, "
                    "results.csv and summary.md to the output folder; every finished cell is saved at "
                    "once (see --resume).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suite", default="quick", choices=sorted(SUITES),
                   help="named suite of solvers and datasets (default: quick)")
    p.add_argument("--solver", nargs="+", metavar="SPEC",
                   help="solver specs, e.g. lu 'neumann[order=3]' (replace the suite's solvers)")
    p.add_argument("--dataset", nargs="+", metavar="SPEC",
                   help="dataset specs, e.g. paper-3x3 'randsvd[n=64,cond=1e8]' npy:PATH (replace the suite's datasets)")
    p.add_argument("--seeds", type=int, default=None, metavar="K", help="run seeds 0..K-1 (default: the suite's, 1)")
    p.add_argument("--dtype", nargs="+", default=["float64"], choices=("float64", "float32"),
                   help="precision the solvers compute in (default: float64)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="device for torch solvers (default: auto = CUDA when available)")
    p.add_argument("--n-matrices", type=int, default=None, metavar="B",
                   help="test matrices per dataset (default: by size, from 1000 for 2x2 down to 8)")
    p.add_argument("--threads", type=int, default=None,
                   help="BLAS and torch threads, 1 to the usable cores (default: all usable cores)")
    p.add_argument("--warmup", type=float, default=0.25, metavar="S",
                   help="warm-up seconds per cell, 0 or more (default: 0.25)")
    p.add_argument("--min-time", type=float, default=0.5, metavar="S",
                   help="measured seconds per cell, more than 0 (default: 0.5); the clock repeats blocks of calls "
                        "until S seconds have passed, so small values give few blocks (one block has no spread)")
    p.add_argument("--no-timing", action="store_true", help="accuracy only: skip the timing")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="output folder (default: results/<suite>-<date>-<time>)")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no table")
    p.add_argument("--retrain", action="store_true", help="train learned solvers again even when a cached model exists")
    p.add_argument("--replot", action="store_true",
                   help="measure nothing: redraw the figures from the files in --out DIR (a finished run)")
    options.add_arguments(p, resume_help="continue the run in DIR: run only its missing cells, with the grid and "
                                         "settings it saved in DIR/run.json (grid and clock options are then not "
                                         "allowed)")
    p.set_defaults(func=cmd_run)


def _add_reproduce(sub) -> None:
    from matinv_bench.experiments import load_all

    p = sub.add_parser("reproduce", help="reproduce the paper's tables and experiments",
                       description="Run one of the paper's experiments; each writes Markdown and CSV "
                                   "beside the paper's published values (labelled as the paper's).")
    esub = p.add_subparsers(dest="experiment", metavar="EXPERIMENT")
    for exp in load_all().values():
        ep = esub.add_parser(exp.name, help=exp.help, description=exp.help)
        exp.add_arguments(ep)
        ep.set_defaults(func=exp.run)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _add_report(sub) -> None:
    p = sub.add_parser("report", help="build results/REPORT.md from the result files",
                       description="Build REPORT.md from the result sets listed in DIR/manifest.toml alone (a folder "
                                   "it does not list is never read): the paper's tables, the "
                                   "where-can and why-can't figures, the region tables, the scaling summary and "
                                   "work-precision diagrams. A listed folder that holds a missing or malformed "
                                   "file is an error (exit status 2); a listed folder that does not exist is noted.")
    p.add_argument("--results", type=Path, default=Path("results"), metavar="DIR",
                   help="results folder with a manifest.toml (default: results)")
    p.add_argument("--out", type=Path, default=None, metavar="FILE", help="report file (default: DIR/REPORT.md)")
    p.add_argument("--strict", action="store_true", help="also fail when a section's folder does not exist")
    p.add_argument("--html", action="store_true",
                   help="also write the report as one self-contained HTML page beside it (REPORT.html: its text, "
                        "tables and figures, and an interactive explorer of the timed rows; needs the html extra)")
    p.add_argument("--docs", action="store_true",
                   help="also rewrite the generated documentation beside DIR: docs/reference.md (from the "
                        "registries) and the README's headline findings (from the result files)")
    p.set_defaults(func=cmd_report, out_is_file=True)


def cmd_report(args) -> int:
    from matinv_bench.reporting.report import build_report

    report = build_report(args.results, args.out, strict=args.strict)
    print(f"wrote {report}")
    if args.html:
        from matinv_bench.reporting.html import write_html

        print(f"wrote {write_html(report, args.results)}")
    if args.docs:
        from matinv_bench.reporting.docs import write_generated

        changed = write_generated(args.results.resolve().parent)
        print("rewrote " + ", ".join(map(str, changed)) if changed else "the generated docs were up to date")
    return 0


def _add_compare(sub) -> None:
    from matinv_bench.reporting import compare

    p = sub.add_parser("compare", help=compare.HELP, description=compare.DESCRIPTION)
    compare.add_arguments(p)
    p.set_defaults(func=compare.run, out_is_file=True)


def _add_scaling(sub) -> None:
    """``matinv-bench scaling``: the same experiment as ``reproduce scaling``, one word shorter."""
    from matinv_bench.experiments import load_all

    exp = load_all()["scaling"]
    p = sub.add_parser("scaling", help=exp.help, description=exp.help + " Writes rows, slopes, crossovers, "
                       "summary.md and figures to --out.")
    exp.add_arguments(p)
    p.set_defaults(func=exp.run)


def cmd_list(args) -> int:
    from matinv_bench.datasets import DATASETS
    from matinv_bench.experiments.suites import SUITES
    from matinv_bench.solvers import SOLVERS

    def doc(cls) -> str:
        return (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""

    def params(reg, name) -> str:
        ps = reg.parameters(name)
        return "[" + ",".join(f"{k}={v}" if v is not inspect_empty else k for k, v in ps.items()) + "]" if ps else ""

    from inspect import Parameter

    inspect_empty = Parameter.empty
    if args.what in (None, "solvers"):
        print("solvers:")
        for name in SOLVERS:
            cls = SOLVERS.get(name)
            print(f"  {name + params(SOLVERS, name):<40} {cls.family:<14} {doc(cls)}")
    if args.what in (None, "datasets"):
        print("datasets:")
        for name in DATASETS:
            cls = DATASETS.get(name)
            shown = f"{name}:PATH" if name in DATASETS.prefixes else name + params(DATASETS, name)
            print(f"  {shown:<40} {doc(cls)}")
    if args.what in (None, "suites"):
        print("suites:")
        for name, suite in SUITES.items():
            print(f"  {name:<14} {suite.description}")
            print(f"  {'':<14} solvers: {' '.join(suite.solvers)}")
            print(f"  {'':<14} datasets: {' '.join(suite.datasets)}")
    return 0


def cmd_run(args) -> int:
    from matinv_bench.engine.runner import make_grid, require_success, run_grid
    from matinv_bench.experiments.common import command_line, dated_folder, replot_folder
    from matinv_bench.experiments.suites import SUITES
    from matinv_bench.reporting import manifest, precision, results
    from matinv_bench.reporting.aggregate import seeds_table

    if args.replot:
        out = replot_folder(args, "results.parquet")
        figures = precision.run_figures(results.read_results(out), out)
        print(f"wrote {', '.join(str(p) for p in figures)}" if figures else f"no figure to draw from {out}")
        return 0
    suite = SUITES[args.suite]
    seeds = range(args.seeds if args.seeds is not None else suite.seeds)
    _check_run_values(args, seeds)
    if args.resume is not None:
        cells, out, grid = _resumed_grid(args)
    else:
        solvers, datasets = args.solver or suite.solvers, args.dataset or suite.datasets
        cells = make_grid(solvers, datasets, seeds, args.dtype, args.device)
        out = args.out or dated_folder(args.suite if not (args.solver or args.dataset) else "run")
        command = command_line(args)
        grid = dict(n_test=args.n_matrices, threads=args.threads, warmup_s=args.warmup, min_run_s=args.min_time,
                    time_it=not args.no_timing, cell_timeout=args.cell_timeout, command=command,
                    keep_times=True,  # every timed block in the row, for compare's rank test
                    title=f"matinv-bench run ({args.suite if not (args.solver or args.dataset) else 'custom grid'})")
    manifest.check_writable(out, args.allow_dirty)  # before anything is created there
    out = results.prepare_out_dir(out)
    if args.retrain:  # learned solvers train again even when a cached model exists (read by training.fit)
        os.environ["MATINV_BENCH_RETRAIN"] = "1"
    with options.engine_kwargs(args) as engine:
        engine.pop("cell_timeout")  # part of the grid: the saved one unless --cell-timeout is given again
        try:
            df = run_grid(cells, out, progress=not args.quiet, **engine, **grid)
        except KeyboardInterrupt:
            print(f"matinv-bench: to finish the run later: matinv-bench run --resume {shlex.quote(str(out))}",
                  file=sys.stderr)
            raise
    if not args.quiet:
        print(results.summary_table(df, fmt="simple", reason_width=80))  # whole reasons in summary.md
        if seeds := seeds_table(df, fmt="simple"):
            print("\n" + seeds)
    counts = df["status"].value_counts().to_dict()
    print(f"\n{len(df)} cells: " + ", ".join(f"{counts.get(s, 0)} {s}" for s in results.STATUSES))
    figures = precision.run_figures(df, out)
    print(f"wrote {out}/results.parquet, results.csv and summary.md (one file per cell in {out}/cells)"
          + (f" and {', '.join(p.name for p in figures if p.suffix == '.png')}" if figures else ""))
    require_success(df)  # nothing to compare: say so in the exit status
    return 0


def _check_run_values(args, seeds: range) -> None:
    """SpecError for ``run`` options out of range (before anything is built)."""
    if len(seeds) < 1:
        raise SpecError("--seeds must be at least 1")
    if args.n_matrices is not None and args.n_matrices < 1:
        raise SpecError("--n-matrices must be at least 1")
    if not args.warmup >= 0:  # also refuses NaN
        raise SpecError(f"--warmup must be 0 or more seconds, got {args.warmup:g}")
    if not args.min_time > 0:
        raise SpecError(f"--min-time must be more than 0 seconds, got {args.min_time:g}")
    options.check_threads(args)


def _resumed_grid(args) -> tuple[list, Path, dict]:
    """The cells, folder and settings of the run to resume, from its run.json."""
    from matinv_bench.engine.runner import saved_grid

    given = [flag for flag, value in (("--solver", args.solver), ("--dataset", args.dataset), ("--seeds", args.seeds),
                                      ("--n-matrices", args.n_matrices), ("--out", args.out),
                                      ("--threads", args.threads)) if value is not None]
    given += [flag for flag, changed in (("--suite", args.suite != "quick"), ("--dtype", args.dtype != ["float64"]),
                                         ("--device", args.device != "auto"), ("--warmup", args.warmup != 0.25),
                                         ("--min-time", args.min_time != 0.5), ("--no-timing", args.no_timing))
              if changed]
    if given:
        raise UserError(f"--resume reuses the grid and settings saved in {args.resume}/run.json; "
                        f"drop {', '.join(given)}")
    cells, grid = saved_grid(args.resume)
    if args.cell_timeout is not None:
        grid["cell_timeout"] = args.cell_timeout
    return cells, args.resume, grid


class _ExtendList(argparse._StoreAction):
    """A list option (``nargs='+'`` or ``'*'``) that may be given more than once: the first use
    replaces the default, later uses add to it (``--solver a --solver b`` = ``--solver a b``)."""

    def __call__(self, parser, namespace, values, option_string=None):
        current = getattr(namespace, self.dest, None)
        first = current is None or current is self.default  # the default itself: not given yet
        setattr(namespace, self.dest, list(values) if first else [*current, *values])


def _repeatable_lists(parser: argparse.ArgumentParser) -> None:
    """Make every list option of ``parser`` and of all its subcommands repeatable (:class:`_ExtendList`)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):  # aliases map to the same parser
                _repeatable_lists(sub)
        elif type(action) is argparse._StoreAction and action.nargs in ("+", "*") and action.option_strings:
            action.__class__ = _ExtendList


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="matinv-bench",
        description="Benchmark matrix inversion: LAPACK, Gauss-Jordan, matmul-only approximations and "
                    "trained MLPs, on the same matrices with the same metrics and the same clock.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--plugin", action="append", default=[], metavar="FILE.py",
                        help=f"import FILE.py, whose @register classes join the solvers and datasets (repeatable; "
                             f"also ${plugins.ENV}=FILE:FILE; see docs/extending.md)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_list(sub)
    _add_run(sub)
    _add_reproduce(sub)
    _add_scaling(sub)
    _add_report(sub)
    _add_compare(sub)
    _repeatable_lists(parser)
    return parser


def _check_out(args: argparse.Namespace) -> None:
    """One-line errors, before any work, for an ``--out`` that cannot be written (a file in the way,
    no permission), whichever command it belongs to; ``out_is_file`` commands name a file."""
    from matinv_bench.reporting import results

    out = getattr(args, "out", None)
    if not isinstance(out, Path):
        return
    if getattr(args, "out_is_file", False):
        if out.is_dir():
            raise DataFileError(f"--out {str(out)!r} is a folder; give the name of the file to write")
        out = out.parent
    results.check_out_dir(out)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # what experiments record as their command
    args.main = main  # how commands that run others in this process ('reproduce all', 'reproduce gpu') call them
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        plugins.use_files(args.plugin)  # sets $MATINV_BENCH_PLUGINS: cell processes and Dask workers import them too
        _check_out(args)
        with system.sigterm_interrupts():  # `kill` and `timeout` stop a run as Ctrl-C does
            return args.func(args)
    except UserError as exc:  # anything else is a bug and keeps its traceback
        print(f"matinv-bench: error: {exc}", file=sys.stderr)
        return getattr(exc, "exit_status", 2)
    except MemoryError as exc:  # an allocation outside any cell (cells record theirs as rows)
        print(f"matinv-bench: error: out of memory{f': {exc}' if str(exc) else ''}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("matinv-bench: interrupted; finished cells are saved in the output folder", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
