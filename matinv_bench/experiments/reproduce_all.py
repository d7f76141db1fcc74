"""``matinv-bench reproduce all``: re-make the committed result sets listed in ``results/manifest.toml``.

Each set's ``command`` runs in this process exactly as typed, through the command line's own entry
point, from the repository root and in manifest order: the same engine, progress display and
``--resume`` hint as by hand. ``--only NAME ...`` picks sets, ``--list`` shows them with their
folders and costs, ``--paper-data DIR`` stands for ``../shared/paper-data`` in the commands, and
``--allow-dirty`` is passed on to every command (a dirty work tree is otherwise refused before
anything runs). ``--root DIR`` runs the commands in DIR instead, e.g. an empty scratch folder, to
compare re-made sets with the committed ones; the authors' data is still found beside the repository
(``../shared/paper-data`` from its root, or ``--paper-data DIR``), not beside DIR. A set made by
another tool (``made_by``) is skipped. Stops at the first command that fails, with its exit status.
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import sys
import time
from pathlib import Path

import pandas as pd

from matinv_bench.engine import options
from matinv_bench.engine.progress import Progress, eta_text
from matinv_bench.errors import DirtyTreeError, ManifestError, UserError
from matinv_bench.experiments import register
from matinv_bench.experiments.skeleton import Command
from matinv_bench.reporting import manifest
from matinv_bench.reporting.manifest import ResultSet
from matinv_bench.reporting.results import now
from matinv_bench.solvers.learned.cache import training_fingerprint

NAME = "all"


def cost_text(seconds: float | None) -> str:
    """About how long, e.g. ``~40 s``, ``~16 min``, ``~1 h 05 min``; ``?`` if unknown."""
    if seconds is None:
        return "?"
    if seconds < 90:
        return f"~{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"~{minutes} min" if minutes < 90 else f"~{minutes // 60} h {minutes % 60:02d} min"


def listing(sets: list[ResultSet]) -> str:
    """The sets as text: one line each (name, folder, cost, needs), then the command."""
    width = max(len(s.name) for s in sets)
    folder_width = max(len(s.folder) for s in sets)
    lines = []
    for s in sets:
        needs = "; ".join(s.needs) or "-"
        if s.command is None:
            lines += [f"{s.name:<{width}}  {s.folder:<{folder_width}}  {'-':>10}  not re-made: made by {s.made_by}"]
            continue
        lines += [f"{s.name:<{width}}  {s.folder:<{folder_width}}  {cost_text(s.cost_s):>10}  needs: {needs}",
                  f"{'':<{width}}  {s.command}"]
    runnable = [s for s in sets if s.command is not None]
    total = sum(s.cost_s or 0 for s in runnable)
    lines.append(f"{len(runnable)} sets to re-make, {cost_text(total)} on 2 CPU cores with an empty model cache "
                 "(less when earlier sets trained the same nets)")
    return "\n".join(lines)


def other_training(folder: Path, since: str) -> str:
    """Why the rows a set's command just wrote in ``folder`` (their ``timestamp`` not before
    ``since``) cannot stand beside the others, or "": every row of a trained network must have been
    trained by this code (``train_fingerprint``, a hash of the training code:
    :func:`~matinv_bench.solvers.learned.cache.training_fingerprint`). The cache key holds the
    fingerprint, so another code's network is never loaded; this says so if one was."""
    current = training_fingerprint()
    for path in sorted(folder.rglob("results.parquet")):
        rows = pd.read_parquet(path)
        if "train_fingerprint" not in rows or "timestamp" not in rows:
            continue
        trained = rows.loc[rows["timestamp"].astype(str) >= since, "train_fingerprint"].dropna().astype(str)
        other = sorted(set(trained) - {current})
        if other:
            return (f"{(trained != current).sum()} rows in {path} come from networks trained by other training "
                    f"code (fingerprint {', '.join(other)}; this code's is {current}): empty the model cache and "
                    "re-make the set")
    return ""


def command_argv(s: ResultSet, paper_data: Path | None, allow_dirty: bool) -> list[str]:
    """The set's command line after ``matinv-bench``, with ``--paper-data`` and ``--allow-dirty`` applied."""
    argv = s.argv
    if paper_data is not None:
        argv = [a.replace(manifest.PAPER_DATA, str(paper_data)) for a in argv]
    return argv + (["--allow-dirty"] if allow_dirty else [])


class ReproduceAll(Command):
    name = NAME
    order = 90
    help = "re-make the committed result sets listed in results/manifest.toml, in order"

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        p.add_argument("--only", nargs="+", metavar="NAME", default=None,
                       help="re-make only these sets (still in manifest order; see --list)")
        p.add_argument("--list", action="store_true",
                       help="list the sets (name, folder, cost, needs, command); run nothing")
        options.add(p, "paper_data", "allow_dirty",
                    helps={"paper_data": f"the authors' data, wherever the commands say {manifest.PAPER_DATA}"})
        p.add_argument("--root", type=Path, default=None, metavar="DIR",
                       help="run the commands in DIR instead of the repository root (created if missing), e.g. to "
                            "compare re-made sets with the committed ones; nothing there is protected. The authors' "
                            f"data is still looked for at {manifest.PAPER_DATA} from the repository root (or "
                            "--paper-data)")

    def run(self, args: argparse.Namespace) -> int:
        return run(args)


register(ReproduceAll())


def run(args: argparse.Namespace) -> int:
    found = manifest.repo_manifest()
    if found is None:
        raise ManifestError(f"no {manifest.MANIFEST} beside this package: run from a checkout of the repository")
    sets = found.select(args.only)
    if args.list:
        print(listing(sets))
        return 0
    main = getattr(args, "main", None)  # the command line's entry point, handed over by matinv_bench.cli
    if main is None:
        raise UserError("reproduce all runs its commands through the matinv-bench command line")
    others = [s for s in sets if s.command is None]
    if args.only and others:
        raise ManifestError(f"{others[0].name} is not made by matinv-bench (made by {others[0].made_by}), "
                            "so reproduce all cannot re-make it")
    for s in others:
        print(f"skipping {s.name}: made by {s.made_by}")
    sets = [s for s in sets if s.command is not None]
    root = (args.root or found.root).resolve()
    if args.root is None and not args.allow_dirty:
        state = manifest.dirty_state(found.root)
        if state is not None:
            raise DirtyTreeError(f"refusing to re-make committed result sets from a dirty work tree ({state}): "
                                 "commit first, or give --allow-dirty (the rows then say allow_dirty=True)")
    paper_data = args.paper_data.resolve() if args.paper_data is not None else None
    if paper_data is None and args.root is not None:  # the commands' relative path means beside the repository
        paper_data = (found.root / manifest.PAPER_DATA).resolve()
    data_dir = paper_data or found.root / manifest.PAPER_DATA
    needing = [s.name for s in sets if "paper-data" in s.needs]
    if needing and not data_dir.is_dir():
        which = f"set {needing[0]} needs" if len(needing) == 1 else f"sets {', '.join(needing)} need"
        raise UserError(f"{which} the authors' data, not found at {data_dir} ({manifest.PAPER_DATA} from the "
                        f"repository root {found.root}): give --paper-data DIR")
    root.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with contextlib.chdir(root), Progress(True, len(sets), "sets", lines=True) as step:
        for i, s in enumerate(sets, 1):
            argv = command_argv(s, paper_data, args.allow_dirty)
            step.say(f"set {i} of {len(sets)}: {s.name} ({cost_text(s.cost_s)}): matinv-bench {shlex.join(argv)}")
            t0, since = time.monotonic(), now()
            status = main(argv)
            stale = other_training(root / s.folder, since) if not status else ""
            if stale:
                print(f"matinv-bench: error: {s.name}: {stale}", file=sys.stderr)
                status = 2
            if status:
                rest = " ".join(t.name for t in sets[i - 1:])
                print(f"matinv-bench: reproduce all stopped: {s.name} exited with status {status}; to go on from "
                      f"there: matinv-bench reproduce all --only {rest}", file=sys.stderr)
                return status
            step(f"{s.name} re-made in {eta_text(time.monotonic() - t0)}")
    print(f"re-made {len(sets)} set{'s' if len(sets) != 1 else ''} in {eta_text(time.monotonic() - started)} "
          f"under {root}; `matinv-bench report` rebuilds results/REPORT.md from them")
    return 0
