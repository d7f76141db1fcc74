"""What this machine offers and how a process uses it: threads, memory, and the environment
columns that say where a row was measured. The lowest layer: no other module of the package
is imported here except the version.
"""

from __future__ import annotations

import os
import platform
import socket
import subprocess
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


def blas_description() -> str:
    """The BLAS numpy uses, e.g. ``openblas 0.3.29 (Haswell, 2 threads)``."""
    infos = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    return "; ".join(
        f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')}, {i.get('num_threads')} threads)"
        for i in infos
    ) or "unknown"


OUTPUTS = "results"  # the folder of result files: changes there do not make the source tree dirty


def tree_changes(cwd: Path | None = None) -> list[str] | None:
    """Tracked files with uncommitted changes in the git checkout holding ``cwd`` (default: the
    package source), as ``git status --porcelain`` lines, leaving out the checkout's ``results/``
    folder (what runs write is not the code that made it); None when ``cwd`` is not in a git checkout."""
    where = cwd or Path(__file__).resolve().parent
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
    has no commit, and records '' (its ``package_version`` still says which release it is).
    ``cwd`` is the folder to ask about (default: this package's folder)."""
    where = cwd or Path(__file__).resolve().parent

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=where, capture_output=True, text=True, timeout=5,
                              check=True).stdout.strip()

    try:
        if not git("ls-files", "--", "."):  # not tracked here: an installed copy, not the source tree
            return ""
        sha = git("rev-parse", "--short=12", "HEAD")
    except (OSError, subprocess.SubprocessError):
        return ""
    return sha + ("+dirty" if tree_changes(where) else "")


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
        "git_sha": git_sha(),
        "host": socket.gethostname(),
        "cpu": cpu_name(),
    }
