"""Helpers shared by the paper experiments: where a run writes (``--out``, ``--resume``, a fresh dated
folder by default), the command line that made a result, solver specs that may not be registered
yet (and the hook that turns them into skipped rows), and solvers as plain functions."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import numpy as np

from matinv_bench.engine import options
from matinv_bench.engine.hooks import Hook
from matinv_bench.errors import UserError
from matinv_bench.reporting import manifest
from matinv_bench.solvers import SOLVERS
from matinv_bench.specs import SpecError, parse_spec

RESULTS = Path("results")


def dated_folder(name: str, root: Path | None = None) -> Path:
    """``results/<name>-YYYYMMDD-HHMMSS`` (under ``root``, default :data:`RESULTS`, read at call
    time): where a run writes when given no ``--out`` (a fresh folder each time, ignored by git, so
    that trying a command never changes committed results)."""
    return (RESULTS if root is None else root) / f"{name}-{datetime.now():%Y%m%d-%H%M%S}"


def add_engine_arguments(p: argparse.ArgumentParser, name: str) -> None:
    """``--out DIR`` (default: a fresh dated folder) and the engine's options, with ``--resume DIR``
    continuing the run whose ``--out`` was DIR."""
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help=f"output folder (default: a fresh {RESULTS}/{name}-<date>-<time>)")
    options.add_arguments(p, resume_help="continue an interrupted run whose output folder was DIR (it becomes the "
                                         "output folder): give the same options as the first time; finished cells "
                                         "are kept and trained models come from the cache")


def add_replot_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--replot", action="store_true",
                   help="measure nothing: redraw the figures from the files in --out DIR (a finished run)")


def replot_folder(args: argparse.Namespace, *files: str) -> Path:
    """The folder ``--replot`` redraws (``--out DIR``), checked: UserError without ``--out``, with
    ``--resume``, or when DIR lacks one of ``files``; refused like any write into a committed set
    from a dirty tree unless ``--allow-dirty`` (:func:`~matinv_bench.reporting.manifest.check_writable`)."""
    if args.out is None:
        raise UserError("--replot needs --out DIR, the folder of the run to draw again")
    if getattr(args, "resume", None) is not None:
        raise UserError("--replot measures nothing: drop --resume")
    out = Path(args.out)
    missing = [f for f in files if not (out / f).is_file()]
    if missing:
        raise UserError(f"--replot: no {', '.join(missing)} in {str(out)!r}")
    manifest.check_writable(out, getattr(args, "allow_dirty", False))
    return out


def output_folder(args: argparse.Namespace, name: str) -> Path:
    """Where an experiment writes: DIR of ``--resume DIR``, else ``--out``, else :func:`dated_folder`."""
    options.check(args)
    if args.resume is not None:
        if args.out is not None and Path(args.out) != Path(args.resume):
            raise UserError(f"--resume {args.resume} continues the run in that folder: drop --out {args.out}")
        return Path(args.resume)
    return Path(args.out) if args.out is not None else dated_folder(name)


@contextmanager
def resume_hint(out: Path) -> Iterator[None]:
    """On Ctrl-C, say how to finish the run later, then stop as before."""
    try:
        yield
    except KeyboardInterrupt:
        print(f"matinv-bench: to finish the run later, give the same options and --resume {shlex.quote(str(out))}",
              file=sys.stderr)
        raise


def command_line(args=None) -> str:
    """The ``matinv-bench ...`` command that made a result, to record beside it: the arguments the
    CLI parsed (``args.argv``), else this process's command line. A resumed run records ``--out DIR``
    for its ``--resume DIR``: the command that makes the same folder in one go."""
    argv = getattr(args, "argv", None)
    argv = list(sys.argv[1:] if argv is None else argv)
    if getattr(args, "resume", None) is not None:
        argv = _resume_as_out(argv)
    return "matinv-bench " + " ".join(shlex.quote(a) for a in argv)


def _resume_as_out(argv: list[str]) -> list[str]:
    has_out = any(a == "--out" or a.startswith("--out=") for a in argv)
    out, skip = [], False
    for i, a in enumerate(argv):
        if skip:
            skip = False
        elif a == "--resume":
            skip = True
            if not has_out and i + 1 < len(argv):
                out += ["--out", argv[i + 1]]
        elif a.startswith("--resume="):
            if not has_out:
                out.append("--out=" + a.split("=", 1)[1])
        else:
            out.append(a)
    return out


def not_registered(spec: str) -> str | None:
    """The skip reason of a spec whose solver name this build does not register, else None."""
    name, _ = parse_spec(spec)
    return None if name in SOLVERS else f"solver {name!r} is not registered in this build"


def split_available(specs: list[str]) -> tuple[list[str], dict[str, str]]:
    """Solver specs this build can run, and a skip reason for each one it cannot
    (an unregistered name, e.g. a solver from an issue not merged yet). Bad parameters still raise."""
    ok, missing = [], {}
    for spec in specs:
        reason = not_registered(spec)
        if reason:
            missing[spec] = reason
            continue
        SOLVERS.build(spec)  # raises SpecError on bad parameters
        ok.append(spec)
    return ok, missing


def solver_function(solver) -> Callable[[np.ndarray], np.ndarray]:
    """A fitted solver as a function from a (B, n, n) stack to its inverses (NaN where it failed)."""

    def F(A: np.ndarray) -> np.ndarray:
        solver.prepare(np.ascontiguousarray(A))
        return solver.collect(solver.invert()).X

    return F


def check_positive(name: str, value: float) -> None:
    if not value > 0:
        raise SpecError(f"{name} must be positive, got {value!r}")


class ExperimentHook(Hook):
    """Base of the experiments' hooks: a cell whose solver name is not registered in this build
    (see :func:`split_available`) becomes a skipped row instead of a failed one."""

    def before(self, cell, solver) -> dict | None:
        reason = not_registered(cell.solver) if solver is None else None
        return {"status": "skipped", "reason": reason} if reason else None
