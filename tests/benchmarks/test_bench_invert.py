"""pytest-benchmark suite: every registered solver x dataset x n, timed on ``invert`` alone.

``python -m pytest`` (CI) runs each case once, untimed (pyproject's ``--benchmark-disable``);
``python -m pytest --benchmark-only`` times them and prints one table per dataset. Each round
gets a fresh input through ``prepare`` (untimed), the same lifecycle as the CLI and asv, and
the case's accuracy metrics go into ``benchmark.extra_info`` (saved with ``--benchmark-autosave``).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest

from bench._cells import timed_call
from matinv_bench.datasets import MatrixSet, make_dataset
from matinv_bench.scoring import metrics
from matinv_bench.solvers import SOLVERS
from matinv_bench.system import pinned_threads

ROUNDS = 20
BATCH = 16
THREADS = 1


def _spec(name: str) -> str:
    return getattr(SOLVERS.get(name), "test_spec", None) or name


LEARNED = [_spec(n) for n in SOLVERS if SOLVERS.get(n).family == "learned"]
NUMERIC = [_spec(n) for n in SOLVERS if SOLVERS.get(n).family != "learned"]
# well-conditioned families at two sizes; networks at the paper's boxes, where they are meant to work
NUMERIC_CASES = [(ds.format(n=n), n) for ds in ("randsvd[n={n},cond=1e3]", "spd[n={n},cond=1e3]") for n in (8, 64)]
LEARNED_CASES = [("paper-2x2-1st", 2), ("paper-3x3", 3), ("paper-16x16", 16)]
CASES = [(s, ds, n) for s in NUMERIC for ds, n in NUMERIC_CASES] + [
    (s, ds, n) for s in LEARNED for ds, n in LEARNED_CASES
]


@lru_cache(maxsize=None)
def _data(spec: str) -> MatrixSet:
    return make_dataset(spec, n_test=BATCH, seed=0)


@lru_cache(maxsize=None)
def _fitted(spec: str, dataset: str):
    """Fit once per session, as asv's setup_cache does: a benchmark times inference only."""
    return SOLVERS.build(spec).fit(_data(dataset))


@pytest.fixture(scope="module")
def pinned():
    with pinned_threads(THREADS) as info:
        yield info


@pytest.mark.parametrize(("spec", "dataset", "n"), CASES, ids=[f"{s}-{d}" for s, d, _ in CASES])
def test_invert(benchmark, pinned, spec, dataset, n):
    data = _data(dataset)
    assert data.n == n
    reason = SOLVERS.build(spec).skip(data)
    if reason:
        pytest.skip(reason)
    solver = _fitted(spec, dataset)
    A = data.A.copy()
    benchmark.group = dataset
    out = benchmark.pedantic(timed_call(solver), setup=lambda: solver.prepare(A), rounds=ROUNDS, warmup_rounds=1)

    res = solver.collect(out)
    np.testing.assert_array_equal(A, data.A, err_msg="the benchmark modified its input")
    acc = metrics.summarize(res.X, data.A, data.inv_ref, data.kappa, metrics.unit_roundoff(A.dtype), res.failed)
    benchmark.extra_info.update(acc)
    benchmark.extra_info.update(solver=solver.spec, family=solver.family, dataset=dataset, n=n, batch=len(data),
                                dtype=str(A.dtype), device=solver.device, **pinned)
    assert res.X.shape == data.A.shape
    if solver.family == "direct":  # no failures and backward stable on kappa = 1e3 (the contract tests' bound)
        assert acc["failure_rate"] == 0.0, res.reason
        assert acc["residual_ratio"] < 30, acc
