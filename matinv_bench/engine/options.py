"""The command-line options shared by every command that runs cells, each defined once here.

An experiment names the shared options it takes and their defaults; :func:`add` puts them on its
parser, :func:`check` validates the parsed values (one :class:`~matinv_bench.errors.OptionError`
line for any value out of range), and :func:`engine_kwargs` turns the engine's ones into
:func:`~matinv_bench.engine.runner.run_grid` keywords::

    add(parser, "seeds", "recipe", seeds=3)    # --seeds K (default 3), --recipe NAME (default quick)
    add_engine(parser, "where-can")           # --out, --resume, --cell-timeout, --workers | --scheduler, ...
    check(args)
    with engine_kwargs(args) as kwargs:       # resume=..., cell_timeout=..., executor=..., allow_dirty=...
        run_grid(cells, out, **kwargs, ...)

List options may be given more than once (``--solver a --solver b`` is ``--solver a b``):
:func:`repeatable_lists`.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matinv_bench.engine.clock import MIN_RUN_S, WARMUP_S
from matinv_bench.errors import OptionError
from matinv_bench.solvers.learned.training import RECIPES
from matinv_bench.system import default_threads

RESULTS = Path("results")  # where a command given no --out writes its fresh dated folder (read at call time)
DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("float64", "float32")


def _at_least(low: float, what: str = "") -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        values = value if isinstance(value, list) else [value]
        bad = [v for v in values if not v >= low]  # also refuses NaN
        bound = f"{low:g} or more" if low == 0 else f"at least {low:g}"
        return f"must be {bound}{what}, got {bad[0]:g}" if bad else None
    return check


def _positive(what: str = "") -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        values = value if isinstance(value, list) else [value]
        bad = [v for v in values if not v > 0]  # also refuses NaN
        return f"must be more than 0{what}, got {bad[0]:g}" if bad else None
    return check


def _threads(value: int) -> str | None:
    if value < 1:
        return f"must be at least 1, got {value}"
    return None  # the upper bound depends on --scheduler: see check()


@dataclass(frozen=True)
class Option:
    """One shared option: its flag, argparse keywords, help (``{default}`` is filled in), default
    and range check (a function giving the reason a value is refused, or None)."""

    flag: str
    kwargs: dict = field(default_factory=dict)
    help: str = ""
    default: Any = None
    check: Callable[[Any], str | None] | None = None

    @property
    def dest(self) -> str:
        return self.flag[2:].replace("-", "_")


OPTIONS: dict[str, Option] = {o.dest: o for o in (
    Option("--solver", dict(nargs="+", metavar="SPEC"), "solver specs (default: {default})"),
    Option("--dataset", dict(nargs="+", metavar="SPEC"), "dataset specs (default: {default})"),
    Option("--seeds", dict(type=int, metavar="K"), "seeds 0..K-1 (default: {default})", 1, _at_least(1)),
    Option("--recipe", dict(choices=["none", *sorted(RECIPES)]),
           "training recipe of the networks (default: {default}; 'paper' is the paper's, for a GPU; 'none': "
           "untrained, for timing only)", "quick"),
    Option("--n-matrices", dict(type=int, metavar="B"), "test matrices per dataset (default: {default})", None,
           _at_least(1)),
    Option("--dtype", dict(nargs="+", choices=DTYPES), "precision the solvers compute in (default: {default})",
           ["float64"]),
    Option("--device", dict(choices=DEVICES),
           "device of the torch solvers and of training (default: {default}; auto = CUDA when available)", "auto"),
    Option("--threads", dict(type=int), "BLAS and torch threads, 1 to the usable cores (default: all usable cores)",
           None, _threads),
    Option("--warmup", dict(type=float, metavar="S"), "warm-up seconds per cell, 0 or more (default: {default})",
           WARMUP_S, _at_least(0, " seconds")),
    Option("--min-time", dict(type=float, metavar="S"),
           "measured seconds per cell, more than 0 (default: {default}); the clock repeats blocks of calls until "
           "S seconds have passed, so small values give few blocks (one block has no spread)", MIN_RUN_S,
           _positive(" seconds")),
    Option("--no-timing", dict(action="store_true"), "accuracy only: skip the timing", False),
    Option("--retrain", dict(action="store_true"), "train the networks again even when the model cache holds them",
           False),
    Option("--paper-data", dict(type=Path, metavar="DIR"),
           "the authors' released data (e.g. ../shared/paper-data): also score on their test sets", None),
    Option("--quiet", dict(action="store_true"), "no progress bar and no table", False),
    Option("--out", dict(type=Path, metavar="DIR"), "output folder (default: a fresh {default})"),
    Option("--resume", dict(type=Path, metavar="DIR"),
           "continue the interrupted run in DIR: only its missing cells run, with the grid and settings it saved "
           "(options given again must agree with them; models already trained come from the cache)"),
    Option("--cell-timeout", dict(type=float, metavar="S"),
           "stop a cell after S seconds and record it as failed (cells then run in a child process that is "
           "killed at the limit)", None, _positive(" seconds")),
    Option("--scheduler", dict(metavar="tcp://HOST:PORT"),
           "run the cells on this Dask cluster (needs the 'dask' extra)"),
    Option("--workers", dict(type=int, metavar="N"),
           "start a local Dask cluster of N worker processes and run the cells there", None, _at_least(1)),
    Option("--allow-dirty", dict(action="store_true"),
           "write into a committed result set (a folder listed in results/manifest.toml) although the work tree "
           "has uncommitted changes; the rows then say allow_dirty=True", False),
    Option("--replot", dict(action="store_true"),
           "measure nothing: redraw the figures from the files in --out DIR (a finished run)", False),
)}

# what the engine itself reads; every command that runs cells takes these
ENGINE = ("quiet", "out", "resume", "cell_timeout", "scheduler", "workers", "allow_dirty")
# options that may differ on a resumed run from the run it continues: how to run, not what
RESUMABLE = ("quiet", "resume", "cell_timeout", "scheduler", "workers", "allow_dirty", "retrain", "out")


def _shown(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return " ".join(map(str, value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def add(p: argparse.ArgumentParser, *names: str, helps: dict[str, str] | None = None, **defaults: Any) -> None:
    """Add the shared options ``names`` to ``p``; ``defaults`` overrides an option's default, and
    ``helps`` its help text. ``workers`` and ``scheduler`` exclude each other."""
    group = None
    for name in names:
        o = OPTIONS[name]
        default = defaults.get(name, o.default)
        text = (helps or {}).get(name, o.help)
        target = p
        if name in ("workers", "scheduler"):
            group = group or p.add_mutually_exclusive_group()
            target = group
        target.add_argument(o.flag, default=default, help=text.replace("{default}", _shown(default)), **o.kwargs)


def add_engine(p: argparse.ArgumentParser, name: str, *, replot: bool = False) -> None:
    """The engine's options (:data:`ENGINE`), ``--out`` defaulting to a fresh ``results/NAME-<date>-<time>``,
    and ``--replot`` where the command draws figures."""
    add(p, *ENGINE, out=None, helps={"out": f"output folder (default: a fresh {RESULTS}/{name}-<date>-<time>)"})
    if replot:
        add(p, "replot")


def check(args: argparse.Namespace) -> None:
    """:class:`OptionError` (one line) for a shared option whose value is out of range, or for
    ``--threads`` above the cores this process may use (unless a Dask scheduler is given: its
    workers may have more)."""
    for name, o in OPTIONS.items():
        value = getattr(args, name, None)
        if value is None or o.check is None:
            continue
        reason = o.check(value)
        if reason:
            raise OptionError(f"{o.flag} {reason}")
    threads = getattr(args, "threads", None)
    cores = default_threads()
    if threads is not None and threads > cores and getattr(args, "scheduler", None) is None:
        raise OptionError(f"--threads {threads} is more than the {cores} cores this process may use")
    resume = getattr(args, "resume", None)
    if resume is not None and not Path(resume).is_dir():
        raise OptionError(f"--resume: {str(resume)!r} is not a folder")
    if getattr(args, "replot", False):
        if getattr(args, "out", None) is None:
            raise OptionError("--replot needs --out DIR, the folder of the run to draw again")
        given = [OPTIONS[n].flag for n in ("resume", "cell_timeout", "workers", "scheduler")
                 if getattr(args, n, None) is not None]
        if given:
            raise OptionError(f"--replot measures nothing: drop {', '.join(given)}")


def require_positive(flag: str, values: Any) -> None:
    """:class:`OptionError` unless every value of an experiment's own option ``flag`` is more than 0."""
    reason = _positive()(values)
    if reason:
        raise OptionError(f"{flag} {reason}")


def require_at_least(flag: str, values: Any, low: float) -> None:
    """:class:`OptionError` unless every value of ``flag`` is at least ``low``."""
    reason = _at_least(low)(values)
    if reason:
        raise OptionError(f"{flag} {reason}")


def finite_or_none(value: float) -> float | None:
    """``inf`` (no limit) as None."""
    return value if math.isfinite(value) else None


@contextmanager
def engine_kwargs(args: argparse.Namespace) -> Iterator[dict]:
    """The :func:`~matinv_bench.engine.runner.run_grid` keywords these options ask for: ``resume``,
    ``cell_timeout``, ``executor`` (a Dask executor for --scheduler/--workers, closed on exit) and
    ``allow_dirty``."""
    check(args)
    kwargs = {"resume": getattr(args, "resume", None) is not None, "cell_timeout": getattr(args, "cell_timeout", None),
              "allow_dirty": getattr(args, "allow_dirty", False)}
    scheduler, workers = getattr(args, "scheduler", None), getattr(args, "workers", None)
    if scheduler is None and workers is None:
        yield {**kwargs, "executor": None}
        return
    from matinv_bench.engine.cluster import dask_executor

    with dask_executor(scheduler, workers) as (executor, where):
        if not getattr(args, "quiet", False):
            print(where, file=sys.stderr)
        yield {**kwargs, "executor": executor}


class _ExtendList(argparse._StoreAction):
    """A list option (``nargs='+'`` or ``'*'``) that may be given more than once: the first use
    replaces the default, later uses add to it (``--solver a --solver b`` = ``--solver a b``)."""

    def __call__(self, parser, namespace, values, option_string=None):
        current = getattr(namespace, self.dest, None)
        first = current is None or current is self.default  # the default itself: not given yet
        setattr(namespace, self.dest, list(values) if first else [*current, *values])


def repeatable_lists(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Make every list option of ``parser`` and of all its subcommands repeatable (:class:`_ExtendList`)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):  # aliases map to the same parser
                repeatable_lists(sub)
        elif type(action) is argparse._StoreAction and action.nargs in ("+", "*") and action.option_strings:
            action.__class__ = _ExtendList
    return parser
