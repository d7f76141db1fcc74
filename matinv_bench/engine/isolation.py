"""Run cells in a child process that can be killed: how ``--cell-timeout`` stops a runaway cell.

A Python thread cannot be stopped, and a LAPACK call or a torch kernel does not look at signals,
so a cell that must be stopped runs in a child process (``python -m matinv_bench.engine.isolation
MODULE:FUNCTION``). The child answers each request with ``FUNCTION(request)``; the function is
named by import path, so this module imports nothing of the runner's.
The child stays up and runs cells one at a time (it keeps its imports and dataset cache); when a
cell passes its time limit the child is killed with SIGKILL and the next cell starts a new one.
The protocol is one JSON line per request and per answer on the child's stdin and stdout.

It uses ``subprocess`` rather than ``multiprocessing`` so that it also works inside Dask worker
processes, which are daemonic and may not start multiprocessing children.
"""

from __future__ import annotations

import importlib
import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from typing import Any

READY = "ready"


class CellProcess:
    """A child process that answers requests with ``target(request)`` (``"module:function"``);
    :meth:`run` kills it when a request passes ``timeout``."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.proc: subprocess.Popen | None = None

    def _start(self) -> subprocess.Popen:
        # the child finds the package the way this process did (a checkout need not be installed)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p or os.getcwd() for p in sys.path)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "matinv_bench.engine.isolation", self.target],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
            env=env,
        )
        line = proc.stdout.readline()  # imports done: the clock of the first cell starts after this
        if line.strip() != json.dumps(READY):
            proc.kill()
            proc.wait()
            raise RuntimeError(f"the cell process did not start (exit status {proc.poll()})")
        return proc

    def run(self, request: dict[str, Any], timeout: float | None) -> tuple[str, Any]:
        """Send one request; return ``("row", row)``, ``("timeout", seconds)`` or ``("died", why)``."""
        if self.proc is None or self.proc.poll() is not None:
            self.proc = self._start()
        proc = self.proc
        try:
            proc.stdin.write(json.dumps(request) + "\n")
            proc.stdin.flush()
        except BrokenPipeError:
            return "died", self._reap()
        start = time.perf_counter()
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            ready = sel.select(timeout)
        if not ready:
            self.close()
            return "timeout", time.perf_counter() - start
        line = proc.stdout.readline()
        if not line:
            return "died", self._reap()
        return "row", json.loads(line)

    def _reap(self) -> str:
        code = self.proc.wait()
        self.proc = None
        if code < 0:
            name = signal.Signals(-code).name
            hint = " (out of memory?)" if -code == signal.SIGKILL else ""
            return f"the cell process was killed by {name}{hint}"
        return f"the cell process exited with status {code}"

    def close(self) -> None:
        """Kill the child (if any) and wait for it."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            self.proc = None


def _exit_with_parent(parent: int) -> None:
    """A parent killed with SIGKILL cannot kill us: leave as soon as we are orphaned, mid-cell or not."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def resolve(target: str):
    """The function named ``"package.module:function"``."""
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def _serve(target: str) -> None:
    """The child's loop: read a request, answer with ``target(request)``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it kills us
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints must not corrupt the protocol
    handle = resolve(target)
    answers.write(json.dumps(READY) + "\n")
    for line in sys.stdin:
        request = json.loads(line)
        answers.write(json.dumps(handle(request), allow_nan=True) + "\n")


if __name__ == "__main__":
    _serve(sys.argv[1])
