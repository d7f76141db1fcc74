"""The LU functions of the moments study: LAPACK's inverse in float64 and float32, total everywhere."""

from __future__ import annotations

import numpy as np

from matinv_bench.experiments.why_cant import lu_functions


def test_lu_functions_invert_in_their_precision_and_return_zero_where_lu_fails():
    F = lu_functions()
    rng = np.random.default_rng(0)
    A = rng.standard_normal((50, 2, 2)) + 3 * np.eye(2)
    inv = np.linalg.inv(A)
    err64 = np.abs(F["lu-float64"](A) - inv).max() / np.abs(inv).max()
    err32 = np.abs(F["lu-float32"](A) - inv).max() / np.abs(inv).max()
    assert err64 < 1e-14 and 1e-9 < err32 < 1e-5  # float32 rounding shows, float64's does not
    singular = np.array([[[1.0, 2.0], [2.0, 4.0]], [[2.0, 0.0], [0.0, 4.0]]])
    for f in F.values():
        X = f(singular)
        assert np.isfinite(X).all() and (X[0] == 0).all()
        np.testing.assert_allclose(X[1], np.diag([0.5, 0.25]), rtol=1e-6)
