"""Run a grid on a Dask cluster: an existing one (``--scheduler``) or a local one (``--workers``).

dask.distributed's ``Client.get_executor()`` is a ``concurrent.futures.Executor``, so the runner
only submits :func:`matinv_bench.engine.runner.run_one` per cell and writes rows as they come back.
Each worker process runs one cell at a time with its threads pinned to the worker's thread
count (``--threads`` overrides it), and every row records the worker's address, host, CPU,
cores and memory. Dask is an optional extra: ``pip install 'matinv-bench[dask]'``.

A remote cluster's workers need this package (same version: the ``git_sha`` column tells) and
the dataset files its cells read.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import Executor
from contextlib import contextmanager

from matinv_bench.errors import ClusterError
from matinv_bench.system import default_threads

INSTALL_HINT = "pip install 'matinv-bench[dask]' (or: pip install 'dask[distributed]')"



def _distributed():
    try:
        import distributed
    except ImportError:
        raise ClusterError(f"--scheduler and --workers need dask.distributed, which is not installed: "
                           f"{INSTALL_HINT}") from None
    return distributed


@contextmanager
def dask_executor(scheduler: str | None = None, workers: int | None = None,
                  connect_timeout_s: float = 10.0) -> Iterator[tuple[Executor, str]]:
    """Yield an executor on the Dask scheduler at ``scheduler``, or on a new local cluster of
    ``workers`` processes sharing this machine's cores, with a line describing the workers;
    close what was opened on exit."""
    distributed = _distributed()
    cluster = None
    try:
        if scheduler:
            try:
                client = distributed.Client(scheduler, timeout=f"{connect_timeout_s}s")
            except (OSError, TimeoutError, ValueError, TypeError) as exc:
                raise ClusterError(f"cannot reach the Dask scheduler at {scheduler!r}: {exc}") from None
        else:
            if not workers or workers < 1:
                raise ClusterError(f"--workers must be at least 1, got {workers!r}")
            cluster = distributed.LocalCluster(
                n_workers=workers, threads_per_worker=max(1, default_threads() // workers), processes=True,
                host="127.0.0.1", dashboard_address=":0", silence_logs=logging.ERROR)
            client = distributed.Client(cluster)
        try:
            yield client.get_executor(), describe(client)
        finally:
            client.close()
    finally:
        if cluster is not None:
            cluster.close()


def describe(client) -> str:
    """One line naming a Dask client's scheduler, workers, their hosts and threads."""
    info = client.scheduler_info()
    workers = info.get("workers", {})
    parts = [f"{w.get('host', addr)} ({w.get('nthreads', '?')} threads)" for addr, w in workers.items()]
    return f"Dask scheduler {info.get('address', '?')}: {len(workers)} workers: " + ", ".join(parts)
