"""``gauss-jordan``: our own in-place Gauss-Jordan inversion with partial pivoting.

This is an algorithm under test, so it is written out here rather than taken from LAPACK.
It is vectorised over the batch: each of the n elimination steps is a handful of whole-batch
array operations (a rank-1 update of every matrix), with one code path for numpy arrays and
torch tensors. Flops: n^3 multiply-adds, i.e. 2 n^3, the same as getrf + getri.

A pivot that is exactly zero (or not finite) after partial pivoting means the matrix is
singular in floating point: that matrix is reported as failed, never as silent NaN or Inf.
"""

from __future__ import annotations

import numpy as np
import torch

from matinv_bench.solvers._torch import TorchSolver, to_numpy
from matinv_bench.solvers.base import Inversion, check_stack, mark_failed, register

BACKENDS = ("numpy", "torch")


def _copy(x):
    return x.clone() if isinstance(x, torch.Tensor) else x.copy()


def gauss_jordan_inplace(X):
    """Invert every matrix of the (B, n, n) stack ``X`` in place (numpy array or torch tensor).

    Returns ``(X, singular)`` where ``singular`` is a (B,) bool mask of matrices that met a
    zero or non-finite pivot; their entries in ``X`` are meaningless.
    """
    B, n, _ = X.shape
    is_torch = isinstance(X, torch.Tensor)
    b = torch.arange(B, device=X.device) if is_torch else np.arange(B)
    singular = (torch.zeros(B, dtype=torch.bool, device=X.device) if is_torch else np.zeros(B, dtype=bool))
    pivots = []
    for k in range(n):
        # partial pivoting: bring the largest |entry| of column k (rows k..n-1) to row k
        p = abs(X[:, k:, k]).argmax(axis=1) + k
        row_k = _copy(X[b, k])
        X[b, k] = X[b, p]
        X[b, p] = row_k
        pivots.append(p)

        pivot = _copy(X[:, k, k])
        ok = (abs(pivot) > 0) & (abs(pivot) < float("inf"))
        singular |= ~ok
        pivot[~ok] = 1.0  # keep the arithmetic finite; the matrix is already marked failed

        X[:, k, k] = 1.0
        X[:, k, :] /= pivot[:, None]
        f = _copy(X[:, :, k])
        f[:, k] = 0.0
        d = _copy(X[:, k, k])
        X[:, :, k] = 0.0
        X[:, k, k] = d
        X -= f[:, :, None] * X[:, None, k, :]

    # undo the row interchanges as column interchanges, last first
    Xt = X.swapaxes(1, 2)
    for k in reversed(range(n)):
        p = pivots[k]
        col_k = _copy(Xt[b, k])
        Xt[b, k] = Xt[b, p]
        Xt[b, p] = col_k
    return X, singular


@register("gauss-jordan")
class GaussJordan(TorchSolver):
    """Gauss-Jordan with partial pivoting; ``backend=numpy`` (CPU) or ``backend=torch``."""

    family = "direct"

    def __init__(self, backend: str = "numpy", device: str = "auto"):
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        self.backend = backend
        if backend == "numpy":
            if device not in ("auto", "cpu"):
                raise ValueError(f"backend=numpy runs on the CPU only, got device={device!r}")
            self.library, self.device = "numpy", "cpu"
        else:
            super().__init__(device)

    def prepare(self, A: np.ndarray) -> None:
        if self.backend == "torch":
            super().prepare(A)
        else:
            self.A_ = check_stack(A).copy()

    def invert(self):
        X, self.singular_ = gauss_jordan_inplace(_copy(self.A_))
        return X

    def collect(self, out) -> Inversion:
        X = to_numpy(out).copy()
        singular = to_numpy(self.singular_)
        result = super().collect(mark_failed(X, singular))
        if singular.any():
            result.reason = (
                f"singular pivot (zero after partial pivoting): {singular.sum()} of {len(singular)} matrices"
            )
        return result

    def flops(self, n: int) -> float:
        return 2.0 * n**3
