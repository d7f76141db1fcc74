"""``gauss-jordan``: our own in-place Gauss-Jordan inversion with partial pivoting.

This is an algorithm under test, so it is written out here rather than taken from LAPACK.
It is vectorised over the batch: each of the n elimination steps is a handful of whole-batch
array operations (a rank-1 update of every matrix), with one code path for numpy arrays and
torch tensors. Flops: n^3 multiply-adds, i.e. 2 n^3, the same as getrf + getri.

``block=b`` (b > 0) is the blocked variant: the same arithmetic regrouped so that almost every
update is a matrix product (BLAS-3), as in the blocked Gauss-Jordan inversion of the
parallel-inversion literature (Quintana-Orti et al., "A note on parallel matrix inversion",
SIAM J. Sci. Comput. 2001). The columns are taken in panels of b columns,
left to right; each panel is factored recursively, in halves, like Toledo's recursive LU
("Locality of reference in LU decomposition with partial pivoting", SIAM J. Matrix Anal. Appl.
1997), down to :data:`LEAF` columns, where rank-1 steps remain; then one matrix product per side
applies the finished panel to the columns left and right of it. A larger b leaves fewer, larger
products (``block`` >= n: the whole elimination is one recursion). ``block=0`` is the unblocked
original.

On numpy, a single matrix (or a batch of large ones, one at a time) is eliminated column by
column in Fortran order, so that panels are contiguous and the products update the matrix in
place (BLAS gemm with beta = 1, through :mod:`scipy.linalg.blas`); each panel's row
interchanges reach the other columns in bulk, by LAPACK's ``laswp``, as in recursive LU. That path
eliminates A^T, which is A's own memory read column-major (see :class:`_Columns`): its pivoting is
by columns of A. Batches of small
matrices, and torch tensors, take the batched path (row interchanges, products of the whole
batch).

A pivot that is exactly zero (or not finite) after partial pivoting means the matrix is
singular in floating point: that matrix is reported as failed, never as silent NaN or Inf.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.linalg import get_blas_funcs, get_lapack_funcs

from matinv_bench.solvers._torch import TorchSolver, to_numpy
from matinv_bench.solvers.base import Inversion, Solver, mark_failed, register
from matinv_bench.specs import check_int

BACKENDS = ("numpy", "torch")
LEAF = 8  # a panel's recursion stops at this many columns: rank-1 steps below
COLUMNS_PATH_MIN_N = 128  # numpy batches of matrices this large are eliminated one at a time, in Fortran order


def _copy(x):
    return x.clone() if isinstance(x, torch.Tensor) else x.copy()


def _swap_rows(X, b, k: int, p) -> None:
    """Swap row k with row p[i] of every matrix i (whole rows: see :func:`gauss_jordan_inplace`)."""
    if len(b) == 1 and not isinstance(X, torch.Tensor):
        # one matrix: plain row copies cost a fraction of batched fancy indexing (n calls per inverse)
        q = int(p[0])
        if q != k:
            row_k = X[0, k].copy()
            X[0, k] = X[0, q]
            X[0, q] = row_k
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
    # the rank-1 products go into one buffer: a fresh (B, n, w) temporary at each of the n steps let
    # glibc's heap grow to O(n^3) bytes (21 GiB at n = 2048 on torch; found by the OOM killer)
    T, multiply = (torch.empty_like(W), torch.mul) if isinstance(W, torch.Tensor) else (np.empty_like(W), np.multiply)
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
        multiply(f[:, :, None], r[:, None, :], out=T)
        W -= T
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


def _factor_panel(X, b, pivots: list, pivot_values: list, k0: int, k1: int) -> None:
    """Steps k0..k1-1 on the columns k0..k1-1 only, recursively: halves of the panel are factored
    in turn and applied to the other half by a matrix product (BLAS-3); rank-1 steps remain
    only inside panels of at most :data:`LEAF` columns."""
    if k1 - k0 <= LEAF:
        _eliminate(X, b, pivots, pivot_values, k0, k1)
        return
    m = k0 + (k1 - k0) // 2
    _factor_panel(X, b, pivots, pivot_values, k0, m)
    _apply_panel(X, k0, m, m, k1)
    _factor_panel(X, b, pivots, pivot_values, m, k1)
    _apply_panel(X, m, k1, k0, m)


def _eliminate_blocked(X, b, pivots: list, pivot_values: list, n: int, block: int) -> None:
    """All n steps, in panels of ``block`` columns: each panel factored by :func:`_factor_panel`,
    then applied to the columns right and left of it (two matrix products)."""
    for k0 in range(0, n, block):
        k1 = min(n, k0 + block)
        _factor_panel(X, b, pivots, pivot_values, k0, k1)
        _apply_panel(X, k0, k1, k1, n)
        _apply_panel(X, k0, k1, 0, k0)


class _Columns:
    """One matrix eliminated column by column in Fortran order (numpy; the blocked variant).

    It eliminates the transpose: B = A^T is A's own (C-ordered) memory read column-major, so the
    working copy is a plain copy and inv(A) = inv(B)^T is the result's memory read row-major,
    where a column-major copy of A and a row-major copy of the result would each cost a transposing
    pass over n^2 entries (together about a quarter of the time at n = 1024). Partial pivoting on
    B (the largest entry of a column of B, i.e. of a row of A) is partial pivoting by columns on
    A, so this path's pivots differ from the batched path's; both are partial pivoting, the
    results agree to rounding on well-conditioned matrices, and the tests hold both to LAPACK.

    The steps and products are those of the batched path, laid out as LAPACK's recursive LU
    (``dgetrf2``) lays out its own: columns are contiguous, so a panel and the columns a product
    updates are contiguous and gemm adds into them in place (beta = 1); and a row interchange
    is applied at once only inside the leaf panel that chose it, then to the other columns in
    bulk by LAPACK's ``laswp`` just before they meet that panel's product, so that every
    interchange reaches every column exactly once and a panel's pivot rows are always its own
    rows k0..k1-1 (a contiguous slice of each column, not a gather).
    """

    def __init__(self, A: np.ndarray) -> None:
        n = A.shape[-1]
        self.X = np.array(A.T, order="F")  # B = A^T, column-major: a plain copy of a C-ordered A
        self.gemm, self.ger = get_blas_funcs(("gemm", "ger"), (self.X,))
        (self.laswp,) = get_lapack_funcs(("laswp",), (self.X,))
        self.piv = np.zeros(n, dtype=np.int32)  # interchange k swapped rows k and piv[k] (laswp's own)
        self.pivot_values = np.zeros(n, dtype=self.X.dtype)

    def steps(self, k0: int, k1: int) -> None:
        """Rank-1 steps k0..k1-1 on the columns k0..k1-1 (as :func:`_eliminate`)."""
        X, piv = self.X, self.piv
        W = X[:, k0:k1]
        for k in range(k0, k1):
            col = W[:, k - k0]
            q = k + int(abs(col[k:]).argmax())  # NaN: argmax takes it, and the pivot check flags it
            piv[k] = q
            if q != k:
                self.laswp(W, piv, k1=k, k2=k, overwrite_a=1)
            pivot = col[k]
            self.pivot_values[k] = pivot
            if k1 - k0 == 1:
                col *= -1.0 / pivot
                col[k] = 1.0 / pivot
                continue
            W[k, k - k0] = 1.0
            r = W[k] / pivot  # the new pivot row; its entry k is 1 / pivot
            f = col.copy()
            col[:] = 0.0  # so that the update leaves -f / pivot in column k
            self.ger(-1.0, f, r, a=W, overwrite_a=1)
            W[k] = r  # the pivot row took a meaningless update above

    def apply(self, k0: int, k1: int, c0: int, c1: int) -> None:
        """Interchanges k0..k1-1 on columns c0..c1-1, then :func:`_apply_panel` in place: the
        pivot rows k0..k1-1 are copied out and zeroed, and the columns get X[:, k0:k1] @ (that
        copy) added by one gemm."""
        if c0 >= c1:
            return
        X = self.X
        C = X[:, c0:c1]
        self.laswp(C, self.piv, k1=k0, k2=k1 - 1, overwrite_a=1)
        R = C[k0:k1].copy(order="F")
        C[k0:k1] = 0.0
        self.gemm(1.0, X[:, k0:k1], R, beta=1.0, c=C, overwrite_c=1)

    def factor(self, k0: int, k1: int) -> None:
        if k1 - k0 <= LEAF:
            self.steps(k0, k1)
            return
        m = k0 + (k1 - k0) // 2
        self.factor(k0, m)
        self.apply(k0, m, m, k1)
        self.factor(m, k1)
        self.apply(m, k1, k0, m)

    def run(self, block: int) -> None:
        n = self.X.shape[0]
        for k0 in range(0, n, block):
            k1 = min(n, k0 + block)
            self.factor(k0, k1)
            self.apply(k0, k1, k1, n)
            self.apply(k0, k1, 0, k0)

    def inverse(self) -> np.ndarray:
        """inv(A), C-ordered: inv(B) with the interchanges undone as column interchanges, last
        first (see :func:`_column_order`), transposed."""
        order = _column_order(self.piv[None])[0]
        return self.X[:, order].T  # contiguous column copies, read row-major: no transposing pass


def _gauss_jordan_columns(A: np.ndarray, block: int, out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The inverses of the numpy stack ``A``, one matrix at a time by :class:`_Columns`, and the
    pivot values (B, n); into ``out`` if given, else a new stack (of one matrix: its own array)."""
    pivot_values = np.empty(A.shape[:2], dtype=A.dtype)
    inverses = []
    for i in range(len(A)):
        m = _Columns(A[i])
        m.run(block)
        pivot_values[i] = m.pivot_values
        if out is not None:
            out[i] = m.inverse()
        else:
            inverses.append(m.inverse())
    if out is None:
        out = inverses[0][None] if len(inverses) == 1 else np.stack(inverses)
    return out, pivot_values


def _columns_path(A, block: int) -> bool:
    """Whether numpy stack ``A`` is eliminated matrix by matrix in Fortran order (:class:`_Columns`)."""
    B, n, _ = A.shape
    return bool(block) and not isinstance(A, torch.Tensor) and n > 1 and (B == 1 or n >= COLUMNS_PATH_MIN_N)


def gauss_jordan(A, block: int = 0):
    """:func:`gauss_jordan_inplace` on a copy of ``A`` (which is left as it was); the numpy
    matrices that :class:`_Columns` eliminates are copied once, into its Fortran-ordered array."""
    if _columns_path(A, block):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            X, pv = _gauss_jordan_columns(A, block)
        return (X, *_classify(abs(pv), np.arange(len(A))))
    return gauss_jordan_inplace(_copy(A), block)


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
    ``block=b``: the same steps and the same pivots, blocked: panels of b columns, each factored
    recursively, applied to the rest by matrix products (2 n^3 flops either way). On numpy a
    single matrix, and every matrix of a batch of n >= ``COLUMNS_PATH_MIN_N``, is eliminated in
    Fortran order by :class:`_Columns` (as its transpose: pivoting by columns).

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
    stack = torch.stack if is_torch else np.stack
    pivots: list = []
    pivot_values: list = []
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # singular matrices: flagged below
        if _columns_path(X, block):
            X, pv = _gauss_jordan_columns(X, block, out=X)
            return (X, *_classify(abs(pv), b))
        if block:
            _eliminate_blocked(X, b, pivots, pivot_values, n, block)
        else:
            _eliminate(X, b, pivots, pivot_values, 0, n)
    singular, overflow = _classify(abs(stack(pivot_values, 1)), b)

    # undo the row interchanges as column interchanges, last first, composed into one gather
    order = _column_order(to_numpy(stack(pivots, 1)))  # one device-to-host copy
    if is_torch:
        idx = torch.from_numpy(order).to(X.device)[:, None, :].expand(B, n, n)
        X[:] = torch.gather(X, 2, idx)
    elif B == 1:
        X[0] = np.take(X[0], order[0], axis=1)
    else:
        X[:] = np.take_along_axis(X, order[:, None, :], axis=2)
    return X, singular, overflow


def _classify(pv, b):
    """``(singular, overflow)`` from the (B, n) absolute pivots: each failed matrix by its first
    bad pivot (a zero one makes every later one NaN)."""
    bad = (pv == 0) | ~(pv < float("inf"))
    first = (bad * 1).argmax(1)
    failed = bad.any(1)
    singular = failed & (pv[b, first] == 0)
    return singular, failed & ~singular


@register("gauss-jordan")
class GaussJordan(Solver):
    """Gauss-Jordan with partial pivoting; ``backend=numpy`` (CPU) or ``backend=torch``;
    ``block=0`` unblocked (rank-1 updates), ``block=b`` blocked (panels of b columns, each
    factored recursively down to 8 columns; matrix products for the rest).

    Building it gives the backend's own class: :class:`NumpyGaussJordan` (a plain numpy solver,
    ``library="numpy"``) or :class:`TorchGaussJordan` (a :class:`TorchSolver`). Both share this
    ``invert``, which returns ``(X, singular, overflow)``, and ``collect``.
    """

    family = "direct"
    flops_formula = "2 n^3"
    flops_source = ("n elimination steps, each a rank-1 update of the n x n array (2 n^2); blocking regroups, "
                    "it does not add")

    def __new__(cls, backend: str = "numpy", device: str = "auto", block: int = 0):
        if cls is GaussJordan:
            if backend not in BACKENDS:
                raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
            cls = TorchGaussJordan if backend == "torch" else NumpyGaussJordan
        return super().__new__(cls)

    def __init__(self, backend: str = "numpy", device: str = "auto", block: int = 0):
        self.backend, self.block = backend, check_int("block", block, 0)  # 0: unblocked

    def invert(self):
        return gauss_jordan(self._A, self.block)

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
