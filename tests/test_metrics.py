import numpy as np
import pytest

from matinv_bench.scoring import metrics


def test_exact_inverse_scores_zero():
    A = np.array([[[2.0, 0.0], [0.0, 4.0]]])
    X = np.array([[[0.5, 0.0], [0.0, 0.25]]])
    m = metrics.summarize(X, A, X, np.array([2.0]), metrics.unit_roundoff(np.float64))
    assert m["mae"] == 0 and m["max_abs_err"] == 0 and m["residual_ratio"] == 0 and m["failure_rate"] == 0


def test_known_values():
    A = np.eye(2)[None]
    ref = np.eye(2)[None]
    X = ref + np.array([[[0.0, 0.1], [0.0, -0.3]]])
    u = metrics.unit_roundoff(np.float64)
    m = metrics.summarize(X, A, ref, np.array([1.0]), u)
    assert m["mae"] == pytest.approx(0.1)
    assert m["max_abs_err"] == pytest.approx(0.3)
    assert m["rel_fro_err"] == pytest.approx(np.sqrt(0.1) / np.sqrt(2))
    # ||I - X A||_1 = max column sum of [[0, -0.1], [0, 0.3]] = 0.4; ||A||_1 = 1; ||X||_1 = max(1, 0.8) = 1
    assert m["residual_ratio"] == pytest.approx(0.4 / (2 * 1 * 1 * u))


def test_failures_are_counted_not_averaged():
    A = np.stack([np.eye(2)] * 4)
    X = A.copy()
    X[1] = np.nan
    failed = np.array([False, False, True, False])
    m = metrics.summarize(X, A, A, np.ones(4), 1e-16, failed)
    assert m["failure_rate"] == 0.5 and m["mae"] == 0.0


def test_all_failed_gives_nan_metrics():
    A = np.eye(2)[None]
    m = metrics.summarize(np.full_like(A, np.nan), A, A, np.ones(1), 1e-16)
    assert m["failure_rate"] == 1.0 and np.isnan(m["mae"])


def test_unit_roundoff():
    assert metrics.unit_roundoff(np.float32) == 2.0**-24
    assert metrics.unit_roundoff(np.float64) == 2.0**-53
