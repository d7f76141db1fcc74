"""The best single affine map from a box's matrices to their inverses.

On a box A0 + eps [-1, 1]^{n x n}, every map here is affine in the network's input
T = (A - A0) / eps (row-major vec): X(A) = W vec(T) + b, reshaped to n x n. This module fits
(W, b) to matrices and their inverses

- by least squares (:func:`fit_least_squares`: ``numpy.linalg.lstsq``), the affine map of least
  mean squared error on the given matrices;
- by least absolute error (:func:`fit_least_absolute`: a linear program solved by HiGHS through
  ``scipy.optimize.linprog``), the affine map of least mean absolute error, the paper's metric, on
  the given matrices;

and gives the first-order approximation inv(A0) - inv(A0) (A - A0) inv(A0) in the same form
(:func:`linear_approximation`), itself an affine map of T, which neither fit can do worse than on
its own matrices in its own criterion. :func:`mae` scores a map as the benchmark scores a solver.

Inputs are float64 stacks (B, n, n); pure computation, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog

from matinv_bench.analysis.regions import linear_approx_map
from matinv_bench.scoring import metrics


@dataclass(frozen=True)
class AffineMap:
    """X(A) = W vec((A - base) / eps) + b, as n x n matrices; ``W`` is (n^2, n^2), ``b`` (n^2,)."""

    W: np.ndarray
    b: np.ndarray
    base: np.ndarray
    eps: float

    def __call__(self, A: np.ndarray) -> np.ndarray:
        """The map's inverses of a (B, n, n) stack."""
        n = self.base.shape[-1]
        return (features(A, self.base, self.eps) @ self.W.T + self.b).reshape(-1, n, n)


def features(A: np.ndarray, base: np.ndarray, eps: float) -> np.ndarray:
    """vec(T) = vec((A - base) / eps), (B, n^2): the input of the maps (and of the networks)."""
    return ((np.asarray(A, dtype=np.float64) - base) / eps).reshape(len(A), -1)


def _design(T: np.ndarray) -> np.ndarray:
    return np.hstack([T, np.ones((len(T), 1))])


def _check(A: np.ndarray, inv: np.ndarray, base: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    A, inv = np.asarray(A, dtype=np.float64), np.asarray(inv, dtype=np.float64)
    n = np.asarray(base).shape[-1]
    if A.ndim != 3 or A.shape[1:] != (n, n) or inv.shape != A.shape:
        raise ValueError(f"need (B, {n}, {n}) matrices and inverses, got {A.shape} and {inv.shape}")
    if len(A) <= n * n:
        raise ValueError(f"an affine map of {n} x {n} matrices has {n * n + 1} coefficients per entry: "
                         f"fit it to more than {n * n} matrices, got {len(A)}")
    return A, inv


def _map(coef: np.ndarray, base: np.ndarray, eps: float) -> AffineMap:
    """(n^2 + 1, n^2) least-squares-style coefficients (rows: T entries, then the constant)."""
    return AffineMap(np.ascontiguousarray(coef[:-1].T), coef[-1].copy(), np.asarray(base, dtype=np.float64), float(eps))


def fit_least_squares(A: np.ndarray, inv: np.ndarray, base: np.ndarray, eps: float) -> AffineMap:
    """The affine map of T that minimises the mean squared error against ``inv`` over ``A``."""
    A, inv = _check(A, inv, base)
    coef, *_ = np.linalg.lstsq(_design(features(A, base, eps)), inv.reshape(len(A), -1), rcond=None)
    return _map(coef, base, eps)


# HiGHS's default feasibility tolerances (1e-7) leave multipliers that miss the optimum by about
# as much, relatively; these cost nothing on problems of this size and close the duality gap
_TOLERANCES = {"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10}


def fit_least_absolute(A: np.ndarray, inv: np.ndarray, base: np.ndarray, eps: float) -> AffineMap:
    """The affine map of T that minimises the mean absolute error against ``inv`` over ``A``.

    The error is a sum over output entries, each with its own coefficients, so each entry is one
    LP. Its primal, min sum |y - X w| over w, has a row per matrix; HiGHS solves the smaller dual,
    max y^T d subject to X^T d = 0 and -1 <= d <= 1 (n^2 + 1 rows), whose equality multipliers
    are -w (tight feasibility tolerances, so that they are the optimum's to rounding). Strong
    duality is checked: the fit's summed absolute error must equal the dual optimum (to a
    relative 1e-7, or 1e-10 of sum |y| for an exact fit), else RuntimeError.
    """
    A, inv = _check(A, inv, base)
    X, Y = _design(features(A, base, eps)), inv.reshape(len(A), -1)
    coef = np.empty((X.shape[1], Y.shape[1]))
    for j in range(Y.shape[1]):
        res = linprog(-Y[:, j], A_eq=X.T, b_eq=np.zeros(X.shape[1]), bounds=(-1.0, 1.0), method="highs",
                      options=_TOLERANCES)
        if res.status != 0:
            raise RuntimeError(f"least absolute error fit, output {j}: HiGHS stopped: {res.message}")
        coef[:, j] = -res.eqlin.marginals
        primal = float(np.abs(Y[:, j] - X @ coef[:, j]).sum())
        if not np.isclose(primal, -res.fun, rtol=1e-7, atol=1e-10 * float(np.abs(Y[:, j]).sum())):
            raise RuntimeError(f"least absolute error fit, output {j}: primal {primal!r} != dual {-res.fun!r}")
    return _map(coef, base, eps)


def linear_approximation(base: np.ndarray, eps: float) -> AffineMap:
    """inv(A0) - inv(A0) (A - A0) inv(A0) as an affine map of T (what ``linear-approx`` computes)."""
    J, c = linear_approx_map(base, eps)
    return AffineMap(J, c, np.asarray(base, dtype=np.float64), float(eps))


def mae(f: AffineMap, A: np.ndarray, inv_ref: np.ndarray, kappa: np.ndarray | None = None) -> float:
    """The benchmark's ``mae`` of the map's inverses of ``A`` against ``inv_ref`` (float64)."""
    A = np.asarray(A, dtype=np.float64)
    kappa = np.ones(len(A)) if kappa is None else kappa
    return metrics.summarize(f(A), A, inv_ref, kappa, metrics.unit_roundoff(np.float64))["mae"]


def mse(f: AffineMap, A: np.ndarray, inv: np.ndarray) -> float:
    """Mean squared error over entries of the map's inverses of ``A`` against ``inv``."""
    return float(np.mean((f(A) - inv) ** 2))
