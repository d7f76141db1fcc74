"""What to run: the experiments (each one file, each an :class:`~.skeleton.Experiment` that
declares its cells and outputs) and the plans that run several of them.

Every module of this package is imported by :func:`load_all`; a module registers what it defines
with :func:`register`, so adding an experiment is adding one file (see docs/extending.md, "Your
own experiment"). The command line offers each one as ``matinv-bench reproduce NAME`` (and as
``matinv-bench NAME`` where it says ``top_level``).
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import TypeVar

from matinv_bench import plugins
from matinv_bench.experiments.skeleton import Command

EXPERIMENTS: dict[str, Command] = {}
C = TypeVar("C", bound=Command)

# modules that hold no experiment: the skeleton, its driver and their helpers
_HELPERS = frozenset({"skeleton", "driver", "pretrain", "suites"})


def register(command: C) -> C:
    """Add an experiment or plan (an instance) to :data:`EXPERIMENTS` under its ``name``."""
    if not command.name:
        raise ValueError(f"{type(command).__name__} has no name")
    if command.name in EXPERIMENTS and EXPERIMENTS[command.name] is not command:
        raise ValueError(f"experiment {command.name!r} registered twice")
    EXPERIMENTS[command.name] = command
    return command


def load_all() -> dict[str, Command]:
    """Import every module of this package (registration happens on import), then the plugins: the
    files of ``MATINV_BENCH_PLUGINS`` (``--plugin``) and the entry points of the group
    ``matinv_bench.experiments`` (:mod:`matinv_bench.plugins`), whose experiments register alike."""
    for name in sorted(info.name for info in pkgutil.iter_modules(__path__)):
        if not name.startswith("_") and name not in _HELPERS:
            importlib.import_module(f"{__name__}.{name}")
    plugins.load("matinv_bench.experiments")
    return dict(sorted(EXPERIMENTS.items(), key=lambda kv: (kv[1].order, kv[0])))
