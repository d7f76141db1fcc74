"""Reference inverses that can be trusted at the conditioning at hand.

A float64 LAPACK inverse has a relative error of order kappa * u, the same order as the errors
of the solvers we measure, so it cannot score them. We refine it instead:

    X <- X + X0 (I - A X)

with the residual ``I - A X`` computed in doubled precision by error-free transformations
(Ogita, Rump and Oishi's Dot2: TwoProduct with Dekker's split, and TwoSum). Each step gains a
factor of about kappa * u, and the limit is float64 rounding of the exact inverse as long as
kappa * u < 1. Beyond that (or for tiny n where it is cheap) mpmath at high precision gives
the inverse of the stored matrix; exact rational inverses (Pascal) are used where they exist.
"""

from __future__ import annotations

import numpy as np

_SPLIT = 134217729.0  # 2**27 + 1, Dekker's splitter for float64
_U = np.finfo(np.float64).eps / 2

REFINE_MAX_N = 128  # above this the O(n^3) elementwise residual gets slow; use "lapack"
METHODS = ("auto", "refined", "lapack", "mpmath")


def _split(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c = _SPLIT * a
    hi = c - (c - a)
    return hi, a - hi


def residual_dd(A: np.ndarray, X: np.ndarray) -> np.ndarray:
    """``I - A @ X`` for (B, n, n) float64 stacks, accurate as if computed in double-double.

    The error is about u * |I - AX| + n^2 u^2 |A||X|, against n u |A||X| for a plain matmul.
    """
    B, n, _ = A.shape
    a_hi, a_lo = _split(A)
    x_hi, x_lo = _split(X)
    s = np.broadcast_to(np.eye(n), (B, n, n)).copy()
    c = np.zeros_like(s)
    for k in range(n):
        ah, al = a_hi[:, :, k, None], a_lo[:, :, k, None]
        xh, xl = x_hi[:, None, k, :], x_lo[:, None, k, :]
        p = -(A[:, :, k, None] * X[:, None, k, :])  # TwoProduct of -a and x: p + pe exactly
        pe = (((-p - ah * xh) - al * xh) - ah * xl) - al * xl
        t = s + p  # TwoSum of s and p: t + te exactly
        z = t - s
        te = (s - (t - z)) + (p - z)
        s = t
        c += pe + te
    return s + c


def refine(A: np.ndarray, X: np.ndarray, steps: int = 8) -> tuple[np.ndarray, float]:
    """Iteratively refine inverses ``X`` of ``A``; return them and the last relative correction."""
    X0 = X
    change = np.inf
    for _ in range(steps):
        D = X0 @ residual_dd(A, X)
        X = X + D
        change = float(np.max(np.linalg.norm(D, axis=(1, 2)) / np.linalg.norm(X, axis=(1, 2))))
        if change < _U:
            break
    return X, change


def mpmath_inverse(A: np.ndarray, digits: int = 60) -> np.ndarray:
    """Inverse of each stored float64 matrix with ``digits`` significant digits, rounded to float64."""
    import mpmath

    out = np.full_like(A, np.nan, dtype=np.float64)
    with mpmath.workdps(digits):
        for i, a in enumerate(A):
            try:
                inv = mpmath.matrix(a.tolist()) ** -1
            except (ZeroDivisionError, TypeError):  # exactly singular: no inverse, NaN reference
                # (mpmath's LU meets a zero column as a None pivot index: a TypeError, not its
                # ZeroDivisionError "matrix is numerically singular")
                continue
            out[i] = np.array(inv.tolist(), dtype=np.float64)
    return out


def reference_inverse(A: np.ndarray, kappa: np.ndarray | None = None, method: str = "auto") -> tuple[np.ndarray, str]:
    """A trustworthy float64 inverse of every matrix in ``A`` (B, n, n), and the method used.

    ``auto`` picks mpmath when kappa * u is too large for refinement to converge (and n is
    small enough), refinement when n <= REFINE_MAX_N, and plain LAPACK otherwise (recorded as
    such, so a reader knows the reference is only as good as kappa * u).

    Exactly singular matrices have no inverse: their reference is NaN, and metrics leave them
    out of the error averages.
    """
    if method not in METHODS:
        raise ValueError(f"reference method must be one of {METHODS}, got {method!r}")
    A = np.asarray(A, dtype=np.float64)
    n = A.shape[-1]
    if kappa is None:
        kappa = condition_numbers(A)
    singular = ~np.isfinite(kappa)
    if singular.any():
        X = np.full_like(A, np.nan)
        if (~singular).any():
            X[~singular], method = reference_inverse(A[~singular], kappa[~singular], method)
        return X, method
    worst = float(np.max(kappa)) if len(kappa) else 1.0
    if method == "auto":
        if worst * _U > 1e-3:
            method = "mpmath" if n <= 32 else "lapack"
        else:
            method = "refined" if n <= REFINE_MAX_N else "lapack"
    if method == "mpmath":
        digits = int(30 + max(0.0, np.log10(max(worst, 1.0))))
        return mpmath_inverse(A, digits), f"mpmath[{digits} digits]"
    try:
        X = np.linalg.inv(A)
    except np.linalg.LinAlgError:  # singular in floating point although kappa looked finite
        return reference_inverse(A, np.full(len(A), np.inf), method) if len(A) == 1 else _one_by_one(A, kappa, method)
    if method == "lapack":
        return X, "lapack-float64"
    X, change = refine(A, X)
    if change > 1e-12:
        if n <= 32:
            return reference_inverse(A, kappa, "mpmath")
        return X, f"refined-dot2 (not converged: last correction {change:.1e})"
    return X, "refined-dot2"


def _one_by_one(A: np.ndarray, kappa: np.ndarray, method: str) -> tuple[np.ndarray, str]:
    parts = [reference_inverse(A[i : i + 1], kappa[i : i + 1], method) for i in range(len(A))]
    return np.concatenate([p[0] for p in parts]), parts[0][1]


def condition_numbers(A: np.ndarray) -> np.ndarray:
    """2-norm condition number of each matrix (inf for singular ones)."""
    s = singular_values(A)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(s[:, -1] > 0, s[:, 0] / s[:, -1], np.inf)


def singular_values(A: np.ndarray) -> np.ndarray:
    """Singular values of each matrix, descending, shape (B, n)."""
    return np.linalg.svd(np.asarray(A, dtype=np.float64), compute_uv=False)
