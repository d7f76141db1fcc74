"""The engine's command-line options, shared by every command that runs cells (``run``,
``scaling`` and every ``reproduce`` target), so that resuming, time limits and Dask mean the
same everywhere.

    add_arguments(parser)                 # --resume DIR, --cell-timeout S, --workers N | --scheduler URL, --allow-dirty
    with engine_kwargs(args) as kwargs:   # resume=..., cell_timeout=..., executor=..., allow_dirty=...
        run_grid(cells, out, **kwargs, ...)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from matinv_bench.errors import SpecError, UserError
from matinv_bench.system import default_threads


def add_arguments(p: argparse.ArgumentParser, *, resume_help: str | None = None) -> None:
    """Add ``--resume DIR``, ``--cell-timeout S``, ``--workers N`` / ``--scheduler URL`` and ``--allow-dirty``."""
    p.add_argument("--resume", type=Path, default=None, metavar="DIR",
                   help=resume_help or "continue an interrupted run in DIR: keep its finished cells and run only "
                                       "the others (give the same options as the first time; models already "
                                       "trained come from the cache)")
    p.add_argument("--cell-timeout", type=float, default=None, metavar="S",
                   help="stop a cell after S seconds and record it as failed (cells then run in a child "
                        "process that is killed at the limit)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                       help="run the cells on this Dask cluster (needs the 'dask' extra)")
    where.add_argument("--workers", type=int, default=None, metavar="N",
                       help="start a local Dask cluster of N worker processes and run the cells there")
    add_allow_dirty(p)


def add_allow_dirty(p: argparse.ArgumentParser) -> None:
    """``--allow-dirty``: write into a committed result set (results/manifest.toml) from a dirty work tree."""
    p.add_argument("--allow-dirty", action="store_true",
                   help="write into a committed result set (a folder listed in results/manifest.toml) although "
                        "the work tree has uncommitted changes; the rows then say allow_dirty=True")


def check_threads(args: argparse.Namespace) -> None:
    """SpecError for ``--threads`` (where a command has it) below 1, or above the cores this
    process may use (unless a Dask scheduler is given: its workers may have more)."""
    threads = getattr(args, "threads", None)
    if threads is None:
        return
    if threads < 1:
        raise SpecError(f"--threads must be at least 1, got {threads}")
    cores = default_threads()
    if threads > cores and getattr(args, "scheduler", None) is None:
        raise SpecError(f"--threads {threads} is more than the {cores} cores this process may use")


def check(args: argparse.Namespace) -> None:
    """UserError for engine options out of range (``--threads`` included, see :func:`check_threads`)."""
    check_threads(args)
    if args.cell_timeout is not None and not args.cell_timeout > 0:
        raise UserError(f"--cell-timeout must be a positive number of seconds, got {args.cell_timeout:g}")
    if args.workers is not None and args.workers < 1:
        raise UserError(f"--workers must be at least 1, got {args.workers}")
    if args.resume is not None and not args.resume.is_dir():
        raise UserError(f"--resume: {str(args.resume)!r} is not a folder")


@contextmanager
def engine_kwargs(args: argparse.Namespace) -> Iterator[dict]:
    """The :func:`~matinv_bench.engine.runner.run_grid` keywords these options ask for: ``resume``,
    ``cell_timeout``, ``executor`` (a Dask executor for --scheduler/--workers, closed on exit) and
    ``allow_dirty``."""
    check(args)
    kwargs = {"resume": args.resume is not None, "cell_timeout": args.cell_timeout,
              "allow_dirty": getattr(args, "allow_dirty", False)}
    if args.scheduler is None and args.workers is None:
        yield {**kwargs, "executor": None}
        return
    from matinv_bench.engine.cluster import dask_executor

    with dask_executor(args.scheduler, args.workers) as (executor, workers):
        if not getattr(args, "quiet", False):
            print(workers, file=sys.stderr)
        yield {**kwargs, "executor": executor}
