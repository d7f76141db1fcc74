"""What this machine offers and how a process uses it: threads, memory, and the environment
columns that say where a row was measured. The lowest layer: no other module of the package
is imported here except the version.
"""

from __future__ import annotations

import hashlib
import os
import platform
import signal
import socket
import subprocess
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import psutil
import torch
from threadpoolctl import threadpool_info, threadpool_limits

from matinv_bench import __version__


def available_memory() -> int:
    """Bytes of memory available to a new allocation without swapping: the kernel's
    ``MemAvailable`` (free memory plus reclaimable page cache), as psutil reads it."""
    try:
        return int(psutil.virtual_memory().available)
    except (OSError, RuntimeError):  # no /proc: assume plenty rather than refuse everything
        return 1 << 62


def total_memory() -> int:
    """Bytes of physical memory of this machine."""
    return int(psutil.virtual_memory().total)


def default_threads() -> int:
    """Cores this process may use (affinity-aware)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@contextmanager
def pinned_threads(threads: int) -> Iterator[dict]:
    """Pin BLAS/OpenMP pools (threadpoolctl) and torch's intra-op pool to ``threads``.

    Yields a description to record with every row: the thread count and the BLAS libraries.
    """
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            yield {"threads": threads, "blas": blas_description()}
    finally:
        torch.set_num_threads(old)


def load_average() -> float | None:
    """The machine's 1-minute load average (runnable and running threads), None where the OS has none."""
    try:
        return float(os.getloadavg()[0])
    except (OSError, AttributeError):
        return None


def _busy_seconds() -> float:
    """CPU seconds every core of the machine spent on anything but idling, since boot."""
    t = psutil.cpu_times()
    return float(sum(t) - t.idle - getattr(t, "iowait", 0.0))


@contextmanager
def load_watch(threads: int) -> Iterator[dict]:
    """Watch how busy the machine was while the block ran; the yielded dict is filled at its end:

    - ``loadavg_1m_before`` / ``loadavg_1m_after``: :func:`load_average` at the start and the end;
    - ``other_cores_busy``: the cores that other processes kept busy, on average over the block
      (the machine's busy CPU time minus this process's, per second of wall time);
    - ``load_above_threads``: the load average exceeded ``threads`` at the start or the end, i.e.
      more threads wanted a core than this process's own: a timing taken then shared its cores.
    """
    out: dict = {"loadavg_1m_before": load_average()}
    me = psutil.Process()
    busy0, mine0, t0 = _busy_seconds(), sum(me.cpu_times()[:2]), time.monotonic()
    try:
        yield out
    finally:
        wall = time.monotonic() - t0
        others = (_busy_seconds() - busy0) - (sum(me.cpu_times()[:2]) - mine0)
        after = load_average()
        loads = [x for x in (out["loadavg_1m_before"], after) if x is not None]
        out.update({"loadavg_1m_after": after,
                    "other_cores_busy": max(0.0, others / wall) if wall > 0 else None,
                    "load_above_threads": bool(loads) and max(loads) > threads})


def blas_description() -> str:
    """The BLAS numpy uses, e.g. ``openblas 0.3.29 (Haswell, 2 threads)``."""
    infos = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    return "; ".join(
        f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')}, {i.get('num_threads')} threads)"
        for i in infos
    ) or "unknown"


OUTPUTS = "results"  # the folder of result files: changes there do not make the source tree dirty
PACKAGE = Path(__file__).resolve().parent  # this package's folder: a checkout's source tree, or an installed copy
PROJECT = "matinv-bench"  # the name a checkout of this project gives in its pyproject.toml
DIRTY = "+dirty"  # git_sha's flag: tracked files outside results/ have uncommitted changes
INSTALLED_DIFFERS = "+installed-differs"  # git_sha's flag: the installed copy that ran is not that checkout's code


def _git(where: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=where, capture_output=True, text=True, timeout=5,
                          check=True).stdout.strip()


def tree_changes(cwd: Path | None = None) -> list[str] | None:
    """Tracked files with uncommitted changes in the git checkout holding ``cwd`` (default: the
    package source), as ``git status --porcelain`` lines, leaving out the checkout's ``results/``
    folder (what runs write is not the code that made it); None when ``cwd`` is not in a git checkout."""
    where = cwd or PACKAGE
    try:
        done = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                               f":(top,exclude){OUTPUTS}"], cwd=where, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.splitlines() if done.returncode == 0 else None


def git_sha(cwd: Path | None = None) -> str:
    """The commit of the package's own source tree (``+dirty`` if a tracked file outside ``results/``
    is modified, see :func:`tree_changes`), else ''.

    Only a git checkout that tracks the package's files counts: an installed copy (in a
    virtual environment or site-packages, even one that lies inside some other checkout)
    has no commit, and records '' (:func:`run_commit` then looks at the working folder).
    ``cwd`` is the folder to ask about (default: this package's folder)."""
    where = cwd or PACKAGE
    try:
        if not _git(where, "ls-files", "--", "."):  # not tracked here: an installed copy, not the source tree
            return ""
        sha = _git(where, "rev-parse", "--short=12", "HEAD")
    except (OSError, subprocess.SubprocessError):
        return ""
    return sha + (DIRTY if tree_changes(where) else "")


def project_checkout(where: Path) -> Path | None:
    """The top folder of the git checkout holding ``where`` when it is a checkout of this project
    (its ``pyproject.toml`` names :data:`PROJECT` and it holds the package's ``__init__.py``), else
    None: a user's own repository is never taken for ours."""
    try:
        top = Path(_git(where, "rev-parse", "--show-toplevel"))
        name = tomllib.loads((top / "pyproject.toml").read_text()).get("project", {}).get("name")
    except (OSError, subprocess.SubprocessError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None
    return top if name == PROJECT and (top / PACKAGE.name / "__init__.py").is_file() else None


def source_digest(package: Path) -> str:
    """SHA-256 over a package's Python sources: every ``*.py`` below ``package``, its relative path
    and its bytes, in path order (what a non-editable install copies)."""
    h = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        h.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def run_commit(cwd: Path | None = None) -> str:
    """The commit a run records in ``git_sha``: that of the package's own source tree
    (:func:`git_sha`); for an installed copy, that of the checkout of this project holding ``cwd``
    (default: the current folder; see :func:`project_checkout`), with ``+dirty`` as in
    :func:`git_sha` and :data:`INSTALLED_DIFFERS` appended when the installed package's sources
    differ from the checkout's ``matinv_bench/`` as it is on disk (:func:`source_digest`); '' when
    neither is in a checkout of this project."""
    sha = git_sha(PACKAGE)
    if sha:
        return sha
    top = project_checkout(cwd or Path.cwd())
    sha = git_sha(top) if top is not None else ""
    if sha and source_digest(PACKAGE) != source_digest(top / PACKAGE.name):
        sha += INSTALLED_DIFFERS
    return sha


def cpu_name() -> str:
    """A human-readable CPU model name."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict:
    """Columns that describe where and with what a row was measured."""
    return {
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "package_version": __version__,
        "git_sha": run_commit(),
        "host": socket.gethostname(),
        "cpu": cpu_name(),
    }


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Within the block, SIGTERM (``kill``'s and ``timeout``'s signal) stops the process as Ctrl-C
    does, by raising KeyboardInterrupt: finished cells are kept and the tables rebuilt on the way out.
    Outside the main thread signals are left alone."""
    def handler(signum, frame):
        raise KeyboardInterrupt

    try:
        old = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)
