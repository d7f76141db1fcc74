"""What the asv suites share: building a spec, the contract calls, thread pinning.

Every suite goes through the same lifecycle as the CLI's runner (``skip``, ``fit``,
``prepare``, then ``invert`` as the only measured call); accuracy rows come from the engine's
``run_grid`` itself, so asv tracks exactly the numbers ``matinv-bench run`` reports.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from matinv_bench.datasets import MatrixSet, make_dataset
from matinv_bench.engine.runner import Cell, run_grid
from matinv_bench.solvers import SOLVERS, Solver
from matinv_bench.specs import SpecError
from matinv_bench.system import pinned_threads

from .names import SEED, THREADS


def build(spec: str) -> Solver:
    """The solver for ``spec``; NotImplementedError (asv: skipped) if this commit does not know it."""
    try:
        return SOLVERS.build(spec)
    except SpecError as exc:
        raise NotImplementedError(f"not in this commit: {exc}") from None


def ready(solver: Solver, data: MatrixSet, dtype: str, fit: bool = True) -> Solver:
    """Run ``skip``, ``fit`` (unless ``fit=False``: fitted in setup_cache) and ``prepare``
    on ``data`` in ``dtype``; a skip reason becomes NotImplementedError (asv: skipped)."""
    reason = solver.skip(data)
    if reason:
        raise NotImplementedError(reason)
    if fit:
        solver.fit(data)
    solver.prepare(data.A.astype(dtype))
    return solver


def timed_call(solver: Solver) -> Callable[[], object]:
    """``invert``, followed by ``sync`` inside the measured call when the solver runs on CUDA."""
    if not solver.device.startswith("cuda"):
        return solver.invert

    def call():
        out = solver.invert()
        solver.sync()
        return out

    return call


def timing_data(spec: str, batch: int) -> MatrixSet:
    """Matrices for a timing benchmark; their reference is plain LAPACK (time needs none).
    NotImplementedError (asv: skipped) if this commit does not know the dataset."""
    try:
        return make_dataset(spec, n_test=batch, seed=SEED, ref="lapack")
    except SpecError as exc:
        raise NotImplementedError(f"not in this commit: {exc}") from None


def accuracy_rows(solvers: Iterable[str], datasets: Iterable[str], dtypes: Iterable[str],
                  n_test: int) -> dict[tuple[str, str, str], dict]:
    """The runner's row (metrics, status, reason; NaN in a column the row lacks) for every
    solver x dataset x dtype, untimed, from ``run_grid`` itself (in this process, threads pinned
    to ``names.THREADS``).

    A spec this commit does not know gives ``status="absent"``.
    """
    solvers, datasets, dtypes = list(dict.fromkeys(solvers)), list(dict.fromkeys(datasets)), list(dict.fromkeys(dtypes))
    rows: dict[tuple[str, str, str], dict] = {}
    for spec in solvers:
        try:
            SOLVERS.build(spec)
        except SpecError as exc:
            rows.update({(spec, ds, dt): {"status": "absent", "reason": str(exc)} for ds in datasets for dt in dtypes})
    keys = [(spec, ds, dt) for ds in datasets for spec in solvers for dt in dtypes if (spec, ds, dt) not in rows]
    cells = [Cell(spec, ds, SEED, dt) for spec, ds, dt in keys]
    df = run_grid(cells, None, n_test=n_test, threads=THREADS, time_it=False, progress=False)
    rows.update(zip(keys, df.to_dict("records")))  # run_grid returns the rows in the cells' order
    return rows


@contextmanager
def fresh_model_cache() -> Iterator[str]:
    """Train networks afresh into a temporary model cache, removed on exit.

    The package's model cache is keyed by the recipe and the package version, not the commit: a
    network cached while asv ran one commit would be reused on the next, hiding any change in
    training between them. Inside this block every fit trains with the code of the commit at hand.
    """
    saved = {k: os.environ.get(k) for k in ("MATINV_BENCH_CACHE", "MATINV_BENCH_RETRAIN")}
    with tempfile.TemporaryDirectory(prefix="matinv-bench-models-") as path:
        os.environ["MATINV_BENCH_CACHE"] = path
        os.environ.pop("MATINV_BENCH_RETRAIN", None)
        try:
            yield path
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


class Pinned:
    """Mixin: pin BLAS and torch to ``names.THREADS`` threads between setup and teardown."""

    def _pin(self) -> None:
        self._pinned = pinned_threads(THREADS)
        self._pinned.__enter__()

    def teardown(self, *params) -> None:
        if getattr(self, "_pinned", None) is not None:
            self._pinned.__exit__(None, None, None)
            self._pinned = None
