"""Direct solvers backed by LAPACK through numpy and scipy (batched loops in C).

- ``lu``: getrf + getri (``scipy.linalg.inv(assume_a="gen")``), 2 n^3 flops.
- ``numpy-inv``: ``numpy.linalg.inv`` (gesv against the identity), 8/3 n^3 flops.
- ``cholesky``: potrf + potri (``scipy.linalg.inv(assume_a="pos")``), n^3 flops; SPD only.
- ``qr``: geqrf + orgqr (``numpy.linalg.qr``), then trtrs for R X = Q^T, 11/3 n^3 flops.

The batched calls raise on the first singular matrix. ``invert`` (the timed call) then returns
the error instead of a result, and ``collect`` (untimed) finds the failed matrices with a slow
per-matrix pass. The reason says so: the time of such a batch is that of a batched call that
ended at its error (scipy stops at the first singular matrix, numpy after the whole batch). A
singular matrix costs its own cell some time but never the run.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.linalg as sla

from matinv_bench.solvers.base import Inversion, Solver, mark_failed, register
from matinv_bench.solvers.flops import routines


def _per_matrix(fn: Callable[[np.ndarray], np.ndarray], A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply ``fn`` matrix by matrix; matrices that raise LinAlgError come back NaN and failed."""
    X = np.empty_like(A)
    failed = np.zeros(len(A), dtype=bool)
    for i, a in enumerate(A):
        try:
            X[i] = fn(a[None])[0]
        except (np.linalg.LinAlgError, ValueError):
            failed[i] = True
    return mark_failed(X, failed), failed


class _BatchedLapack(Solver):
    """Shared lifecycle: one batched call, timed; on LinAlgError, the per-matrix pass in ``collect``.

    ``invert`` returns ``(X, None)``, or ``(None, error)`` when the batched call raised.
    """

    family = "direct"
    failure_reason = "singular matrix"

    def _batched(self, A: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def invert(self) -> tuple[np.ndarray | None, np.linalg.LinAlgError | None]:
        try:
            return self._batched(self._A), None
        except np.linalg.LinAlgError as exc:
            return None, exc

    def collect(self, out: tuple[np.ndarray | None, np.linalg.LinAlgError | None]) -> Inversion:
        X, error = out
        if error is None:
            return super().collect(X)
        X, failed = _per_matrix(self._batched, self._A)  # untimed: which matrices failed
        result = super().collect(X)
        if failed.any():
            result.failed |= failed
            result.reason = (f"{self.failure_reason}: {failed.sum()} of {len(failed)} matrices (the timed batched call "
                             f"ended at its error; an untimed per-matrix pass found them)")
        return result


@register("lu")
class LU(_BatchedLapack):
    """LAPACK getrf + getri, batched in C by scipy.linalg.inv."""

    failure_reason = "singular matrix (zero pivot in getrf)"
    flops_formula = "2 n^3"
    flops_source = "getrf + getri (scipy.linalg.inv, assume_a='gen'); LAWN 41"

    def _batched(self, A: np.ndarray) -> np.ndarray:
        return sla.inv(A, assume_a="gen", check_finite=False)

    def flops(self, n: int) -> float:
        return routines("getrf", "getri") * n**3


@register("numpy-inv")
class NumpyInv(_BatchedLapack):
    """numpy.linalg.inv: LAPACK gesv of A X = I, batched in C."""

    failure_reason = "singular matrix (zero pivot in gesv)"
    flops_formula = "8/3 n^3"
    flops_source = "getrf + getrs with the n columns of I (numpy.linalg.inv is gesv); LAWN 41"

    def _batched(self, A: np.ndarray) -> np.ndarray:
        return np.linalg.inv(A)

    def flops(self, n: int) -> float:
        return routines("getrf", "getrs") * n**3


def spd_skip_reason(A: np.ndarray) -> str | None:
    """Why a stack is not symmetric positive definite, or None if every matrix is."""
    scale = np.abs(A).max(axis=(1, 2), keepdims=True)
    asym = (np.abs(A - A.swapaxes(1, 2)) / np.where(scale > 0, scale, 1)).max()
    if asym > 64 * np.finfo(A.dtype).eps:
        return f"not symmetric (max relative asymmetry {asym:.2e}); Cholesky needs SPD matrices"
    try:
        np.linalg.cholesky(A)
    except np.linalg.LinAlgError:
        return "not positive definite (a Cholesky factorisation fails); Cholesky needs SPD matrices"
    return None


@register("cholesky")
class Cholesky(_BatchedLapack):
    """LAPACK potrf + potri, batched in C by scipy.linalg.inv(assume_a="pos").

    Skipped on any dataset that is not symmetric positive definite: potrf reads one triangle
    only, so on other input it would return the inverse of a different matrix.
    """

    failure_reason = "not positive definite (potrf failed)"
    flops_formula = "n^3"
    flops_source = "potrf + potri (scipy.linalg.inv, assume_a='pos'); LAWN 41"

    def skip(self, data) -> str | None:
        return spd_skip_reason(data.A)

    def _batched(self, A: np.ndarray) -> np.ndarray:
        return sla.inv(A, assume_a="pos", check_finite=False)

    def flops(self, n: int) -> float:
        return routines("potrf", "potri") * n**3


@register("qr")
class QR(_BatchedLapack):
    """Householder QR (geqrf + orgqr) then the triangular solve R X = Q^T (trtrs)."""

    failure_reason = "singular matrix (zero diagonal in R)"
    flops_formula = "11/3 n^3"
    flops_source = "geqrf + orgqr (numpy.linalg.qr) + trtrs of R X = Q^T with n right-hand sides; LAWN 41"

    def _batched(self, A: np.ndarray) -> np.ndarray:
        Q, R = np.linalg.qr(A)
        X = sla.solve(R, Q.swapaxes(1, 2), assume_a="upper triangular", check_finite=False)
        if not np.isfinite(X).all():
            # trtrs only rejects exact zeros on R's diagonal; overflow means the same thing
            raise np.linalg.LinAlgError("non-finite triangular solve")
        return X

    def flops(self, n: int) -> float:
        return routines("geqrf", "orgqr", "trsm") * n**3
