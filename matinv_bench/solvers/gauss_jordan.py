"""``gauss-jordan``: our own in-place Gauss-Jordan inversion with partial pivoting.

This is an algorithm under test, so it is written out here rather than taken from LAPACK.
It is vectorised over the batch: each of the n elimination steps is a handful of whole-batch
array operations (a rank-1 update of every matrix), with one code path for numpy arrays and
torch tensors. Flops: n^3 multiply-adds, i.e. 2 n^3, the same as getrf + getri.

``block=b`` (b > 0) is the blocked variant: the same pivots and the same arithmetic regrouped
recursively, so that all updates outside panels of at most b columns are matrix products
(BLAS-3), as in the blocked Gauss-Jordan inversion of the parallel-inversion literature
(Quintana-Orti et al., "A note on parallel matrix inversion", SIAM J. Sci. Comput. 2001),
split recursively in halves like Toledo's recursive LU. ``block=0`` is the unblocked original.

A pivot that is exactly zero (or not finite) after partial pivoting means the matrix is
singular in floating point: that matrix is reported as failed, never as silent NaN or Inf.
"""

from __future__ import annotations

import numpy as np
import torch

from matinv_bench.solvers._torch import TorchSolver, to_numpy
from matinv_bench.solvers.base import Inversion, Solver, mark_failed, register
from matinv_bench.specs import check_int

BACKENDS = ("numpy", "torch")


def _copy(x):
    return x.clone() if isinstance(x, torch.Tensor) else x.copy()


def _swap_rows(X, b, k: int, p) -> None:
    """Swap row k with row p[i] of every matrix i (whole rows: see :func:`gauss_jordan_inplace`)."""
    if len(b) == 1 and not isinstance(X, torch.Tensor):
        # one matrix: plain indices cost a fraction of batched fancy indexing (n calls per inverse)
        q = int(p[0])
        if q != k:
            X[0, [k, q]] = X[0, [q, k]]
        return
    row_k = _copy(X[b, k])
    X[b, k] = X[b, p]
    X[b, p] = row_k


def _eliminate(X, b, pivots: list, pivot_values: list, k0: int, k1: int) -> None:
    """Unblocked steps k0..k1-1 (rank-1 updates) on the column panel X[:, :, k0:k1] only.

    A zero pivot is not patched here: it turns its own matrix into Inf/NaN (every operation
    is per matrix, so nothing leaks into the others) and the pivots are checked at the end.
    """
    W = X[:, :, k0:k1]  # a view: updates land in X
    for k in range(k0, k1):
        j = k - k0
        # partial pivoting: bring the largest |entry| of column k (rows k..n-1) to row k
        p = abs(W[:, k:, j]).argmax(axis=1) + k
        _swap_rows(X, b, k, p)
        pivots.append(p)

        pivot = _copy(W[:, k, j])
        pivot_values.append(pivot)
        W[:, k, j] = 1.0
        r = W[:, k, :] / pivot[:, None]  # the new pivot row; its entry j is 1 / pivot
        f = _copy(W[:, :, j])
        W[:, :, j] = 0.0  # so that the update below leaves -f / pivot in column j
        W -= f[:, :, None] * r[:, None, :]
        W[:, k, :] = r  # row k took a meaningless update above


def _apply_panel(X, k0: int, k1: int, c0: int, c1: int) -> None:
    """Apply the finished pivot steps k0..k1-1 to columns c0..c1-1 with one matrix product.

    After its steps, panel P = X[:, :, k0:k1] holds -A_i1 A11^{-1} in rows i outside k0..k1-1
    and A11^{-1} in rows k0..k1-1; with R = X[:, k0:k1, c0:c1] the block update is
    X_i += P_i R for the other rows, and A11^{-1} R (= (P R) rows k0..k1-1) for the pivot rows.
    """
    if c0 >= c1:
        return
    T = X[:, :, k0:k1] @ X[:, k0:k1, c0:c1]
    X[:, :, c0:c1] += T
    X[:, k0:k1, c0:c1] = T[:, k0:k1]


def _eliminate_blocked(X, b, pivots: list, pivot_values: list, k0: int, k1: int, block: int) -> None:
    """Steps k0..k1-1 on the columns k0..k1-1, recursively: halves of the panel are factored
    in turn and applied to the other half by a matrix product (BLAS-3); rank-1 steps remain
    only inside panels of at most ``block`` columns."""
    if k1 - k0 <= block:
        _eliminate(X, b, pivots, pivot_values, k0, k1)
        return
    m = k0 + (k1 - k0) // 2
    _eliminate_blocked(X, b, pivots, pivot_values, k0, m, block)
    _apply_panel(X, k0, m, m, k1)
    _eliminate_blocked(X, b, pivots, pivot_values, m, k1, block)
    _apply_panel(X, m, k1, k0, m)


def _column_order(piv: np.ndarray) -> np.ndarray:
    """The column gather that undoes the row interchanges ``piv`` (B, n): interchange k swapped
    rows k and piv[:, k], so the inverse swaps columns k and piv[:, k], last first."""
    B, n = piv.shape
    if B * n <= 1 << 16:  # plain Python swaps beat n whole-batch numpy calls here
        orders = []
        for row in piv.tolist():
            o = list(range(n))
            for k in reversed(range(n)):
                p = row[k]
                o[k], o[p] = o[p], o[k]
            orders.append(o)
        return np.asarray(orders)
    order, rows = np.tile(np.arange(n), (B, 1)), np.arange(B)
    for k in reversed(range(n)):
        p = piv[:, k]
        order[rows, k], order[rows, p] = order[rows, p], order[rows, k]
    return order


def gauss_jordan_inplace(X, block: int = 0):
    """Invert every matrix of the (B, n, n) stack ``X`` in place (numpy array or torch tensor).

    ``block=0``: the unblocked algorithm, n rank-1 updates of the whole matrix.
    ``block=b``: the same steps and the same pivots, recursively blocked: outside panels of at
    most b columns every update is a matrix product (2 n^3 flops either way).

    Row interchanges swap whole rows at once, also in columns whose updates are still
    pending: a pending update only mixes rows into other rows with multipliers stored in the
    (equally swapped) panel, so swapping first gives the same result as swapping later.

    Returns ``(X, singular, overflow)``: (B,) bool masks of the matrices that met a zero pivot
    (singular) and of those whose elimination overflowed to a non-finite pivot (badly scaled
    input); their entries in ``X`` are meaningless.
    """
    B, n, _ = X.shape
    is_torch = isinstance(X, torch.Tensor)
    b = torch.arange(B, device=X.device) if is_torch else np.arange(B)
    pivots: list = []
    pivot_values: list = []
    with np.errstate(divide="ignore", invalid="ignore"):  # singular matrices: flagged below
        if block and block < n:
            _eliminate_blocked(X, b, pivots, pivot_values, 0, n, block)
        else:
            _eliminate(X, b, pivots, pivot_values, 0, n)
    stack = torch.stack if is_torch else np.stack
    pv = abs(stack(pivot_values, 1))
    # classify each failed matrix by its first bad pivot: a zero one makes every later one NaN
    bad = (pv == 0) | ~(pv < float("inf"))
    first = (bad * 1).argmax(1)
    failed = bad.any(1)
    singular = failed & (pv[b, first] == 0)
    overflow = failed & ~singular

    # undo the row interchanges as column interchanges, last first, composed into one gather
    order = _column_order(to_numpy(stack(pivots, 1)))  # one device-to-host copy
    if is_torch:
        idx = torch.from_numpy(order).to(X.device)[:, None, :].expand(B, n, n)
        X[:] = torch.gather(X, 2, idx)
    else:
        X[:] = np.take_along_axis(X, order[:, None, :], axis=2)
    return X, singular, overflow


@register("gauss-jordan")
class GaussJordan(Solver):
    """Gauss-Jordan with partial pivoting; ``backend=numpy`` (CPU) or ``backend=torch``;
    ``block=0`` unblocked (rank-1 updates), ``block=b`` blocked (matrix products outside panels
    of at most b columns).

    Building it gives the backend's own class: :class:`NumpyGaussJordan` (a plain numpy solver,
    ``library="numpy"``) or :class:`TorchGaussJordan` (a :class:`TorchSolver`). Both share this
    ``invert``, which returns ``(X, singular, overflow)``, and ``collect``.
    """

    family = "direct"

    def __new__(cls, backend: str = "numpy", device: str = "auto", block: int = 0):
        if cls is GaussJordan:
            if backend not in BACKENDS:
                raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
            cls = TorchGaussJordan if backend == "torch" else NumpyGaussJordan
        return super().__new__(cls)

    def __init__(self, backend: str = "numpy", device: str = "auto", block: int = 0):
        self.backend, self.block = backend, check_int("block", block, 0)  # 0: unblocked

    def invert(self):
        return gauss_jordan_inplace(_copy(self._A), self.block)

    def collect(self, out) -> Inversion:
        X, singular, overflow = out
        X = to_numpy(X).copy()
        singular, overflow = to_numpy(singular), to_numpy(overflow)
        result = super().collect(mark_failed(X, singular | overflow))
        reasons = [f"{what}: {mask.sum()} of {len(mask)} matrices" for what, mask in (
            ("singular pivot (zero after partial pivoting)", singular),
            ("overflow during elimination (a non-finite pivot: badly scaled input)", overflow)) if mask.any()]
        if reasons:
            result.reason = "; ".join(reasons)
        return result

    def flops(self, n: int) -> float:
        return 2.0 * n**3


class NumpyGaussJordan(GaussJordan):
    """``gauss-jordan[backend=numpy]``: numpy arrays on the CPU."""

    library = "numpy"

    def __init__(self, backend: str = "numpy", device: str = "auto", block: int = 0):
        if backend != "numpy":
            raise ValueError(f"{type(self).__name__} is the numpy backend, got backend={backend!r}")
        if device not in ("auto", "cpu"):
            raise ValueError(f"backend=numpy runs on the CPU only, got device={device!r}")
        super().__init__(backend, device, block)


class TorchGaussJordan(GaussJordan, TorchSolver):
    """``gauss-jordan[backend=torch]``: torch tensors on ``device``."""

    def __init__(self, backend: str = "torch", device: str = "auto", block: int = 0):
        if backend != "torch":
            raise ValueError(f"{type(self).__name__} is the torch backend, got backend={backend!r}")
        GaussJordan.__init__(self, backend, device, block)
        TorchSolver.__init__(self, device)
