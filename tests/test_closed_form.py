"""closed-form: cofactor inversion of 1x1 to 4x4 matrices against LAPACK on both backends, its
refusal of n > 4, its flagged failures, and its flop count against the operations it performs."""

from __future__ import annotations

import operator
from collections import Counter
from typing import ClassVar

import numpy as np
import pytest
import torch

from matinv_bench.datasets import make_dataset
from matinv_bench.engine.runner import Cell, run_cell
from matinv_bench.scoring import metrics
from matinv_bench.solvers import SOLVERS, InputError
from matinv_bench.solvers.closed_form import FLOPS, cofactor_inverse

BACKENDS = ["closed-form", "closed-form[backend=torch,device=cpu]"]
if torch.cuda.is_available():
    BACKENDS.append("closed-form[backend=torch,device=cuda]")
DATASETS = ["randsvd[n=1]", "paper-2x2-1st", "paper-3x3", "randsvd[n=4,cond=100]", "uniform[n=4]"]


def _invert(spec: str, A: np.ndarray):
    solver = SOLVERS.build(spec)
    solver.prepare(A)
    return solver.collect(solver.invert())


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("spec", BACKENDS)
def test_matches_lapack_to_1e_13_per_matrix(spec, dataset):
    data = make_dataset(dataset, n_test=256, seed=0)
    res = _invert(spec, data.A)
    assert not res.failed.any() and res.reason is None
    lapack = np.linalg.inv(data.A)
    rel = np.linalg.norm(res.X - lapack, axis=(1, 2)) / np.linalg.norm(lapack, axis=(1, 2))
    assert rel.max() < 1e-13, f"worst relative Frobenius difference {rel.max():.2e}"


@pytest.mark.parametrize("spec", BACKENDS)
def test_float32_stays_float32_and_accurate(spec):
    data = make_dataset("randsvd[n=4,cond=100]", n_test=256, seed=1)
    res = _invert(spec, data.A.astype(np.float32))
    assert res.X.dtype == np.float32 and not res.failed.any()
    m = metrics.summarize(res.X.astype(np.float64), data.A, data.inv_ref, data.kappa,
                          metrics.unit_roundoff(np.float32))
    assert m["rel_err_over_kappa_u"] < 100, m  # the contract tests' bound for direct solvers


@pytest.mark.parametrize("spec", BACKENDS)
def test_refuses_n_above_4_with_its_reason(spec):
    solver = SOLVERS.build(spec)
    data = make_dataset("uniform[n=5]", n_test=4, seed=0)
    reason = solver.skip(data)
    assert reason and "4x4" in reason and "5 x 5" in reason and "uniform" in reason
    assert solver.skip(make_dataset("uniform[n=4]", n_test=4, seed=0)) is None
    with pytest.raises(InputError, match="4x4 matrices only, got 5 x 5"):
        solver.prepare(data.A)
    row = run_cell(Cell(spec, "uniform[n=5]", n_test=4), data, warmup_s=0, min_run_s=0, time_it=False)
    assert row["status"] == "skipped" and row["reason"] == reason


@pytest.mark.parametrize("spec", BACKENDS)
def test_singular_and_overflowing_matrices_are_flagged(spec):
    regular = np.array([[2.0, 1.0], [1.0, 3.0]])
    A2 = np.stack([regular, [[1.0, 2.0], [2.0, 4.0]], regular, np.zeros((2, 2))])
    res = _invert(spec, A2)
    assert res.failed.tolist() == [False, True, False, True]
    assert np.isnan(res.X[res.failed]).all()
    np.testing.assert_allclose(res.X[~res.failed], np.linalg.inv(A2[~res.failed]), rtol=1e-15)
    assert res.reason == "zero determinant (singular, or its products underflowed): 2 of 4 matrices"

    A3 = np.array([[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [1.0, 2.0, 3.0]], np.eye(3)])  # a repeated row
    assert _invert(spec, A3).failed.tolist() == [True, False]
    A4 = np.random.default_rng(0).standard_normal((3, 4, 4))
    A4[1, :, 2] = 0.0  # a zero column
    assert _invert(spec, A4).failed.tolist() == [False, True, False]

    tiny = np.stack([1e-200 * np.eye(2), np.eye(2)])  # invertible, but a d - b c underflows to 0
    res = _invert(spec, tiny)
    assert res.failed.tolist() == [True, False] and "underflowed): 1 of 2 matrices" in res.reason
    huge = np.stack([np.eye(3, dtype=np.float32), 1e20 * np.eye(3, dtype=np.float32)])  # 1e40 > float32's max
    res = _invert(spec, huge)
    assert res.failed.tolist() == [False, True] and res.reason == ("non-finite determinant (its products "
                                                                    "overflowed): 1 of 2 matrices")
    assert np.isnan(res.X[1]).all() and res.X.dtype == np.float32


class Counted:
    """A number that counts the arithmetic done with it (in an object array, numpy applies the
    operators entry by entry, so a batch of one counts the operations per matrix)."""

    ops: ClassVar[Counter] = Counter()

    def __init__(self, v: float):
        self.v = v

    def _op(self, name: str, fn, other=None, swap: bool = False) -> Counted:
        Counted.ops[name] += 1
        o = other.v if isinstance(other, Counted) else other
        return Counted(fn(o, self.v) if swap else fn(self.v, o))

    def __mul__(self, o):
        return self._op("mul", operator.mul, o)

    def __add__(self, o):
        return self._op("add", operator.add, o)

    def __sub__(self, o):
        return self._op("sub", operator.sub, o)

    def __rtruediv__(self, o):
        return self._op("div", operator.truediv, o, swap=True)

    def __neg__(self):
        Counted.ops["neg"] += 1
        return Counted(-self.v)


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_the_flop_count_is_the_operations_performed(n):
    A = np.random.default_rng(n).standard_normal((1, n, n)) + 3 * np.eye(n)
    Counted.ops = Counter()
    X, det = cofactor_inverse(np.vectorize(Counted, otypes=[object])(A))
    ops = Counted.ops
    assert set(ops) <= {"mul", "add", "sub", "div", "neg"}, ops
    assert ops["div"] == 1 and ops["neg"] == (2 if n == 2 else 0), ops  # one 1 / det; signs only in the 2x2 adjugate
    assert ops["mul"] + ops["add"] + ops["sub"] + ops["div"] == FLOPS[n] == SOLVERS.build("closed-form").flops(n)
    values = np.vectorize(lambda c: c.v, otypes=[float])(X)
    np.testing.assert_allclose(values, np.linalg.inv(A), rtol=1e-13)  # the counted run computed the inverse
    assert det[0].v == pytest.approx(np.linalg.det(A[0]), rel=1e-13)


def test_no_count_above_4():
    solver = SOLVERS.build("closed-form[backend=torch,device=cpu]")
    assert np.isnan(solver.flops(5)) and solver.library == "torch"
    assert SOLVERS.build("closed-form").library == "numpy"
