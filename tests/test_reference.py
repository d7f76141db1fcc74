"""Reference inverses at every n: Ozaki's split residual, refinement above the Dot2 range, the
budget, and cells scored by their residuals alone where there is no reference."""

from __future__ import annotations

import numpy as np
import pytest

from matinv_bench.datasets import make_dataset
from matinv_bench.engine import runner
from matinv_bench.scoring import reference
from matinv_bench.scoring.reference import mpmath_inverse, reference_inverse, residual_dd, residual_split


def _exact_residual(A: np.ndarray, X: np.ndarray) -> np.ndarray:
    import mpmath

    with mpmath.workdps(60):
        n = A.shape[-1]
        R = mpmath.eye(n) - mpmath.matrix(A.tolist()) * mpmath.matrix(X.tolist())
        return np.array(R.tolist(), dtype=float)


@pytest.mark.parametrize("n", [5, 40])
def test_split_residual_is_exact_to_float64_rounding(n, rng):
    A = rng.standard_normal((2, n, n)) * np.logspace(0, 6, n)  # rows of very different scales
    X = np.linalg.inv(A)
    R = _exact_residual(A[1], X[1])
    got = residual_split(A, X)[1]
    assert np.abs(got - R).max() <= 4 * np.finfo(float).eps * np.abs(R).max()
    plain = np.eye(n) - A[1] @ X[1]
    assert np.abs(plain - R).max() > 1e3 * np.abs(got - R).max()  # what the split buys


def test_split_bits_keep_products_exact():
    for n in (2, 128, 129, 4096):
        bits = reference.split_bits(n)
        assert n * 2.0 ** (2 * bits) <= 2.0**53 and n * 2.0 ** (2 * bits + 2) > 2.0**53


def test_refined_ozaki_reference_matches_mpmath(monkeypatch):
    monkeypatch.setattr(reference, "REFINE_DOT2_MAX_N", 8)  # the split residual at a size mpmath checks quickly
    data = make_dataset("randsvd[n=30,cond=1e10]", n_test=2, seed=3)
    assert data.ref_method == "refined-ozaki"
    exact = mpmath_inverse(data.A, digits=80)
    assert (np.abs(data.inv_ref - exact).max(axis=(1, 2)) / np.abs(exact).max(axis=(1, 2))).max() < 1e-15


def test_above_the_dot2_range_the_reference_is_refined_not_lapack():
    data = make_dataset("spd-box[n=160]", n_test=1)
    assert data.ref_method == "refined-ozaki"
    # the Dot2 refinement of the same matrix agrees to rounding
    X, change = reference.refine(data.A, np.linalg.inv(data.A))  # n = 160: Ozaki
    Xd = np.linalg.inv(data.A)
    for _ in range(3):
        Xd = Xd + np.linalg.inv(data.A) @ residual_dd(data.A, Xd)
    assert np.abs(X - Xd).max() <= 2 * np.finfo(float).eps * np.abs(Xd).max()
    assert np.abs(data.inv_ref - Xd).max() <= 2 * np.finfo(float).eps * np.abs(Xd).max()


def test_auto_never_gives_a_plain_lapack_reference():
    for spec in ("randsvd[n=40,cond=1e15]", "randsvd[n=40,cond=1e17]", "spd-box[n=200]"):
        method = make_dataset(spec, n_test=1).ref_method
        assert method.startswith(("refined", "mpmath", "none: ")) and "lapack" not in method, (spec, method)


def test_over_the_budget_there_is_no_reference_and_the_method_says_why(rng):
    A = rng.standard_normal((3, 20, 20))
    X, method = reference_inverse(A, budget_flops=1.0)
    assert np.isnan(X).all()
    assert method.startswith("none: ") and "budget" in method and "residual ratios only" in method
    assert reference.refinement_flops(3, 20) > 1.0


def test_a_cell_without_references_reports_residuals_only(monkeypatch):
    monkeypatch.setattr(reference, "REFERENCE_BUDGET_FLOPS", 0.0)
    data = make_dataset("spd-box[n=12]", n_test=4)
    assert data.ref_method.startswith("none: ")
    row = runner.run_cell(runner.Cell("lu", "spd-box[n=12]", n_test=4), data, warmup_s=0.0, min_run_s=0.01,
                          time_it=False)
    assert row["status"] == "ok" and row["ref_method"] == data.ref_method
    assert np.isnan(row["mae"]) and np.isnan(row["rel_fro_err"])
    assert 0 < row["residual_ratio"] < 30 and 0 < row["residual_ratio_right"] < 30
