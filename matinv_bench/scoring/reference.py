"""Reference inverses that can be trusted at the conditioning at hand.

A float64 LAPACK inverse has a relative error of order kappa * u, the same order as the errors
of the solvers we measure, so it cannot score them. We refine it instead:

    X <- X + X0 (I - A X)

with the residual ``I - A X`` computed in doubled precision by error-free transformations. Each
step gains a factor of about kappa * u, and the limit is float64 rounding of the exact inverse
as long as kappa * u < 1. Two ways to get the residual, both O(n^3):

- n <= ``REFINE_DOT2_MAX_N``: Ogita, Rump and Oishi's Dot2 (TwoProduct with Dekker's split, and
  TwoSum), elementwise, n whole-batch steps (``refined-dot2``);
- larger n: Ozaki's error-free splitting (Ozaki, Ogita, Oishi and Rump, "Error-free
  transformations of matrix multiplication by using fast routines of matrix multiplication",
  Numer. Algorithms 2012): A and X are split exactly into slices whose products a float64
  matrix product (BLAS) computes without rounding, and the exact products are summed with
  TwoSum (``refined-ozaki``): a few gemms per step, so n in the thousands stays affordable.

Where kappa * u is too large for refinement (or for tiny n where it is cheap) mpmath at high
precision gives the inverse of the stored matrix; exact rational inverses (Pascal) are used
where they exist. A plain float64 LAPACK inverse is never a scoring reference: where the
refinement would cost more than ``REFERENCE_BUDGET_FLOPS``, or does not converge, there is no
reference (NaN) and the method says so (``none: ...``); the cell then reports its residual
ratios alone (:func:`matinv_bench.scoring.metrics.summarize`).
"""

from __future__ import annotations

import numpy as np

_SPLIT = 134217729.0  # 2**27 + 1, Dekker's splitter for float64
_U = np.finfo(np.float64).eps / 2

REFINE_DOT2_MAX_N = 128  # above this the elementwise Dot2 residual gets slow: Ozaki's split residual
REFINE_STEPS = 8
REFERENCE_BUDGET_FLOPS = 1e12  # refinement costing more (estimated, whole batch) leaves no reference
NO_REFERENCE = "none"  # the method of a dataset without references starts with this
METHODS = ("auto", "refined", "lapack", "mpmath", "none")


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


def split_bits(n: int) -> int:
    """Bits per slice such that products of slices of n x n matrices are exact in float64:
    n * 2^(2 bits) <= 2^53."""
    return (53 - int(np.ceil(np.log2(max(n, 2))))) // 2


def _slices(M: np.ndarray, axis: int, bits: int, count: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Split ``M`` exactly into ``count`` slices plus a remainder (their sum is ``M``): in each
    slice, every entry of a row (``axis=-1``) or a column (``axis=-2``) is an integer multiple of
    2^(e - bits), with |entry| <= 2^e and 2^e the bound of that row's or column's largest
    |entry| in what the earlier slices left."""
    slices, rest = [], M
    for _ in range(count):
        top = np.abs(rest).max(axis=axis, keepdims=True)
        unit = np.ldexp(1.0, np.frexp(top)[1] - bits)  # a power of two: the scalings below are exact
        S = np.rint(rest / unit) * unit
        slices.append(S)
        rest = rest - S  # exact: S is rest rounded to a coarser grid
    return slices, rest


def residual_split(A: np.ndarray, X: np.ndarray) -> np.ndarray:
    """``I - A @ X`` for (B, n, n) float64 stacks in doubled precision with matrix products
    (Ozaki's error-free splitting): A is split by rows and X by columns into slices whose
    products are exact in float64 (:func:`split_bits`); the exact products are accumulated by
    TwoSum, largest first. What three slices leave of A and X (below 2^-(3 bits) of their rows'
    and columns' largest entries) is multiplied in plain float64: a term that small. The error
    is about u * |I - AX| plus 2^-(3 bits) u n |A||X|, against n u |A||X| for a plain matmul."""
    B, n, _ = A.shape
    bits = split_bits(n)
    a, a_rest = _slices(A, -1, bits, 3)
    x, x_rest = _slices(X, -2, bits, 3)
    terms = [a[i] @ x[j] for total in range(5) for i in range(3) for j in range(3) if i + j == total]
    if a_rest.any() or x_rest.any():
        terms.append(a_rest @ X + sum(a) @ x_rest)
    s = np.broadcast_to(np.eye(n), (B, n, n)).copy()
    c = np.zeros_like(s)
    for P in terms:  # s - P by TwoSum: t + e exactly
        t = s - P
        z = t - s
        c += (s - (t - z)) - (P + z)
        s = t
    return s + c


def refine(A: np.ndarray, X: np.ndarray, steps: int = REFINE_STEPS) -> tuple[np.ndarray, float]:
    """Iteratively refine inverses ``X`` of ``A``; return them and the last relative correction.
    The residual is :func:`residual_dd`'s up to ``REFINE_DOT2_MAX_N``, :func:`residual_split`'s above."""
    residual = residual_dd if A.shape[-1] <= REFINE_DOT2_MAX_N else residual_split
    X0 = X
    change = np.inf
    for _ in range(steps):
        D = X0 @ residual(A, X)
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


def refinement_flops(batch: int, n: int) -> float:
    """Estimated flops of the refined reference of ``batch`` n x n matrices: the LAPACK inverse
    (2 n^3) and three steps of 12 products (9 slice products, the remainders' and the
    correction's; 24 n^3 each): about 75 n^3 per matrix."""
    return 75.0 * batch * float(n) ** 3


def _none(X_shape, why: str) -> tuple[np.ndarray, str]:
    return np.full(X_shape, np.nan), f"{NO_REFERENCE}: {why}; residual ratios only"


def reference_inverse(A: np.ndarray, kappa: np.ndarray | None = None, method: str = "auto",
                      budget_flops: float | None = None) -> tuple[np.ndarray, str]:
    """A trustworthy float64 inverse of every matrix in ``A`` (B, n, n), and the method used.

    ``auto`` picks mpmath when kappa * u is too large for refinement to converge and n <= 32;
    otherwise the refined inverse (:func:`refine`), unless its estimated cost
    (:func:`refinement_flops`) exceeds ``budget_flops`` (default ``REFERENCE_BUDGET_FLOPS``) or
    it does not converge (and n > 32): then there is no reference, NaN, and the method starts
    with ``"none: "`` and says why. ``lapack`` (plain float64, "lapack-float64") is for training
    targets only, never chosen by ``auto``. ``none`` asks for no reference (a timing study, which
    checks its results by their residuals alone).

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
            X[~singular], method = reference_inverse(A[~singular], kappa[~singular], method, budget_flops)
        return X, method
    worst = float(np.max(kappa)) if len(kappa) else 1.0
    if method == NO_REFERENCE:
        return _none(A.shape, "not asked for (timed for speed; residual ratios only)")
    if method == "auto":
        budget = REFERENCE_BUDGET_FLOPS if budget_flops is None else budget_flops
        if worst * _U > 1e-3 and n <= 32:
            method = "mpmath"
        elif refinement_flops(len(A), n) > budget:
            return _none(A.shape, f"refining {len(A)} matrices of n = {n} would take about "
                                  f"{refinement_flops(len(A), n):.1e} flops, over the reference budget of {budget:.1e}")
        else:
            method = "refined"
    if method == "mpmath":
        digits = int(30 + max(0.0, np.log10(max(worst, 1.0))))
        return mpmath_inverse(A, digits), f"mpmath[{digits} digits]"
    try:
        X = np.linalg.inv(A)
    except np.linalg.LinAlgError:  # singular in floating point although kappa looked finite
        return reference_inverse(A, np.full(len(A), np.inf), method) if len(A) == 1 else _one_by_one(A, kappa, method)
    if method == "lapack":
        return X, "lapack-float64"
    name = "refined-dot2" if n <= REFINE_DOT2_MAX_N else "refined-ozaki"
    X, change = refine(A, X)
    if change > 1e-12:
        if n <= 32:
            return reference_inverse(A, kappa, "mpmath")
        return _none(
            A.shape, f"{name} did not converge (last relative correction {change:.1e}, kappa up to {worst:.1e})"
        )
    return X, name


def _one_by_one(A: np.ndarray, kappa: np.ndarray, method: str) -> tuple[np.ndarray, str]:
    parts = [reference_inverse(A[i : i + 1], kappa[i : i + 1], method) for i in range(len(A))]
    return np.concatenate([p[0] for p in parts]), parts[0][1]


def condition_numbers(A: np.ndarray) -> np.ndarray:
    """2-norm condition number of each matrix (inf for singular ones)."""
    s = singular_values(A)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(s[:, -1] > 0, s[:, 0] / s[:, -1], np.inf)


def singular_values(A: np.ndarray) -> np.ndarray:
    """Singular values of each matrix, descending, shape (B, n). A stack of exactly symmetric
    matrices takes the absolute values of its eigenvalues (``eigvalsh``: the same numbers, a few
    times cheaper than an SVD)."""
    A = np.asarray(A, dtype=np.float64)
    if A.ndim == 3 and A.shape[-1] > 1 and np.array_equal(A, A.transpose(0, 2, 1)):
        return -np.sort(-np.abs(np.linalg.eigvalsh(A)), axis=-1)
    return np.linalg.svd(A, compute_uv=False)
