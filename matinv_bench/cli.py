"""The ``matinv-bench`` command line: list, run (and the experiment commands)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from matinv_bench import __version__, plugins, system
from matinv_bench.engine import options
from matinv_bench.errors import DataFileError, UserError

EPILOG = """examples:
  matinv-bench run                                  # the quick suite, results in results/quick-<date>-<time>/
  matinv-bench run --solver lu gauss-jordan --dataset 'randsvd[n=64,cond=1e8]' --seeds 3
  matinv-bench run --solver 'gauss-jordan[backend=torch]' --device cuda --dtype float32
  matinv-bench list solvers
  matinv-bench run --resume results/run-20260101-120000    # finish an interrupted run (the folder a run wrote)
  matinv-bench run --workers 2 --cell-timeout 600          # a local Dask cluster; kill cells after 10 min
"""


def _add_list(sub) -> None:
    p = sub.add_parser("list", help="list solvers, datasets or suites",
                       description="List what can be run: registered solvers and datasets (with their "
                                   "parameters and defaults) and the named suites.")
    p.add_argument("what", nargs="?", choices=("solvers", "datasets", "suites"), default=None,
                   help="what to list (default: all three)")
    p.set_defaults(func=cmd_list)


def _add_experiments(sub) -> None:
    """``matinv-bench reproduce NAME`` for every registered experiment and plan, and ``matinv-bench NAME``
    for the top-level ones (``run``, ``scaling``), each run by the one driver."""
    from matinv_bench.experiments import load_all
    from matinv_bench.experiments.driver import add_arguments

    def add(parent, exp, words: tuple[str, ...], **kw) -> None:
        ep = parent.add_parser(exp.name, help=exp.help, description=exp.help, **kw)
        add_arguments(exp, ep)
        ep.set_defaults(func=_run_experiment, words=words)

    experiments = load_all()
    for exp in experiments.values():
        if exp.top_level:
            add(sub, exp, (exp.name,), epilog=EPILOG if exp.name == "run" else None,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p = sub.add_parser("reproduce", help="reproduce the paper's tables and experiments",
                       description="Run one of the paper's experiments; each writes Markdown and CSV "
                                   "beside the paper's published values (labelled as the paper's).")
    esub = p.add_subparsers(dest="experiment", metavar="EXPERIMENT")
    for exp in experiments.values():
        if exp.in_reproduce:
            add(esub, exp, ("reproduce", exp.name))
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _run_experiment(args: argparse.Namespace) -> int:
    """Run the experiment or plan the command's last word names: an experiment by the one driver."""
    from matinv_bench.experiments import EXPERIMENTS
    from matinv_bench.experiments.driver import drive
    from matinv_bench.experiments.skeleton import Experiment

    exp = EXPERIMENTS[args.words[-1]]
    return drive(exp, args) if isinstance(exp, Experiment) else exp.run(args)


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
            for grid in suite.grids:
                print(f"  {'':<14} solvers: {' '.join(grid.solvers)}")
                print(f"  {'':<14}   on datasets: {' '.join(grid.datasets)}")
    return 0


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
    _add_experiments(sub)
    _add_report(sub)
    _add_compare(sub)
    return options.repeatable_lists(parser)


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


def _plugin_files(argv: list[str]) -> list[str]:
    """The ``--plugin FILE`` values of a command line, read before the parser is built (a plugin may
    add an experiment, that is, a command)."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--plugin", action="append", default=[])
    return p.parse_known_args(argv)[0].plugin


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        plugins.use_files(_plugin_files(argv))  # sets $MATINV_BENCH_PLUGINS: cell processes and Dask workers too
    except UserError as exc:
        print(f"matinv-bench: error: {exc}", file=sys.stderr)
        return 2
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = argv  # what experiments record as their command
    args.main = main  # how commands that run others in this process ('reproduce all', 'reproduce gpu') call them
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
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
