"""Third-party solvers and datasets: plugin files and installed entry points.

Two ways to add to the registries without editing the package (see docs/extending.md):

- a **plugin file**: any ``.py`` file whose ``@register("name")`` classes join the registries
  when it is imported. The files named in the environment variable ``MATINV_BENCH_PLUGINS``
  (paths separated by ``os.pathsep``) are imported; ``matinv-bench --plugin FILE`` adds the file
  there (:func:`use_files`), so that every process started from this one (a ``--cell-timeout``
  child, the workers of a local Dask cluster) imports it too.
- an **entry point** of an installed distribution, in the group ``matinv_bench.solvers`` or
  ``matinv_bench.datasets``. Its value names a module; importing the module registers its
  classes (with ``@register``, exactly as a plugin file does). The entry point's name is a label
  for messages only, and an attribute after a colon (``pkg.mod:Class``) is ignored.

A registry calls :func:`load` with its group the first time it is used, which imports every
plugin file and every entry point of that group not imported before. A plugin that fails to
import is logged as one warning line naming it (logger ``matinv_bench.plugins``), and the
registries go on without it.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterable
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

from matinv_bench.errors import UserError

ENV = "MATINV_BENCH_PLUGINS"
GROUPS = ("matinv_bench.solvers", "matinv_bench.datasets", "matinv_bench.experiments")

log = logging.getLogger(__name__)
_lock = threading.RLock()
_imported: dict[str, bool] = {}  # plugin label -> imported without error
_loading: list[str] = []  # labels of the plugins being imported now, innermost last


def loading() -> str | None:
    """The label of the plugin being imported right now (``file /path/x.py`` or ``entry point
    NAME (module)``), or None: registries record it as the origin of what it registers."""
    return _loading[-1] if _loading else None


def env_files() -> list[Path]:
    """The plugin files named in ``MATINV_BENCH_PLUGINS``, in order, without repeats."""
    parts = os.environ.get(ENV, "").split(os.pathsep)
    return list(dict.fromkeys(Path(p) for p in parts if p.strip()))


def load(group: str) -> None:
    """Import every plugin file of ``MATINV_BENCH_PLUGINS`` and every entry point of ``group``
    that is not imported yet; a failure is one warning line and nothing else."""
    with _lock:
        for path in env_files():
            _import_file(path)
        for ep in _entry_points(group):
            _import(f"entry point {ep.name!r} ({ep.value})", lambda ep=ep: importlib.import_module(ep.module))


def use_files(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Add plugin files for this process and its children: check that each exists, append its
    absolute path to ``MATINV_BENCH_PLUGINS`` and import it now. Returns the absolute paths.

    Raises :class:`UserError` for a path that is not a ``.py`` file (nothing is imported then).
    """
    files = []
    for p in paths:
        path = Path(p).expanduser().resolve()
        if not path.is_file() or path.suffix != ".py":
            raise UserError(
                f"--plugin {str(p)!r}: not a Python file "
                f"({'no such file' if not path.exists() else 'expected FILE.py'})"
            )
        files.append(path)
    known = env_files()
    os.environ[ENV] = os.pathsep.join(str(p) for p in dict.fromkeys([*known, *files]))
    with _lock:
        for path in files:
            _import_file(path)
    return files


def _import_file(path: Path) -> None:
    path = path.expanduser().resolve()
    # a module name of its own per file, so that two plugins named alike do not collide
    name = f"matinv_bench_plugin_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"

    def run() -> None:
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {path} (not a Python file?)")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # classes of the file pickle by reference, like any module's
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)
            raise

    _import(f"file {path}", run)


def _import(label: str, run: Callable[[], object]) -> None:
    if label in _imported:
        return
    _imported[label] = False
    _loading.append(label)
    try:
        run()
        _imported[label] = True
    except Exception as exc:  # a broken plugin is reported, never the end of the suite
        why = " ".join(f"{type(exc).__name__}: {exc}".split())
        log.warning("matinv-bench: plugin %s not loaded: %s", label, why)
    finally:
        _loading.pop()


def _entry_points(group: str) -> list[EntryPoint]:
    try:
        return sorted(entry_points(group=group), key=lambda ep: ep.name)
    except Exception as exc:  # a broken distribution's metadata must not break the suite
        log.warning("matinv-bench: plugin entry points of %s not read: %s: %s", group, type(exc).__name__, exc)
        return []
