"""``closed-form``: the inverse of 1x1 to 4x4 matrices by cofactors, adj(A) / det(A).

The fixed-size baseline that small-matrix libraries use (Eigen's ``inverse()`` for 2x2 to 4x4,
GLM's and the graphics libraries' 4x4 inverses): no pivoting, no loop over columns, only
straight-line products of entries. Written out here because it is the thing under test: each
entry of the result is a whole-batch array operation on (B,) slices, the same code for numpy
arrays and torch tensors.

- n = 2: inv = [[d, -b], [-c, a]] / (a d - b c).
- n = 3: the nine 2x2 cofactors; det(A) by the first row's expansion over three of them.
- n = 4: Laplace's expansion by complementary minors (D. Eberly, "The Laplace Expansion
  Theorem: Computing the Determinants and Inverses of Matrices", Geometric Tools, 2008): the six
  2x2 minors of rows 0-1 (s) and the six of rows 2-3 (c); det(A) is a sum of six products s c,
  and every cofactor a sum of three products of an entry and an s or a c.

Flops (:data:`FLOPS`): multiplications, additions and subtractions, the one division 1 / det and
the final scaling of the n^2 adjugate entries by it; sign changes are exact and are not counted
(n = 2 has two; the 3x3 and 4x4 cofactors are written so that they need none).

- n = 1: the division only: 1.
- n = 2: det 2 mul + 1 sub; 1 division; 4 scalings: 8.
- n = 3: 9 cofactors of 2 mul + 1 sub (27); det 3 mul + 2 add (5); 1 division; 9 scalings: 42.
- n = 4: 12 minors of 2 mul + 1 sub (36); det 6 mul + 5 add (11); 16 cofactors of 3 mul + 2 add
  (80); 1 division; 16 scalings: 144.

Failures: a matrix whose determinant is exactly zero (singular, or its products underflowed) or
not finite (they overflowed), or whose result is not finite (1 / det or the adjugate overflowed),
is flagged with its reason and comes back NaN. Cofactor inversion has no pivoting: it is not
backward stable, and its error can grow faster with kappa than LU's.
"""

from __future__ import annotations

import numpy as np
import torch

from matinv_bench.solvers._torch import TorchSolver, to_numpy
from matinv_bench.solvers.base import InputError, Inversion, Solver, mark_failed, register

BACKENDS = ("numpy", "torch")
MAX_N = 4
FLOPS = {1: 1, 2: 8, 3: 42, 4: 144}  # counted in the module docstring, per n


def _adjugate_2(a):
    (a00, a01), (a10, a11) = a
    return [a11, -a01, -a10, a00], a00 * a11 - a01 * a10


def _adjugate_3(a):
    (a00, a01, a02), (a10, a11, a12), (a20, a21, a22) = a
    c00, c01, c02 = a11 * a22 - a12 * a21, a12 * a20 - a10 * a22, a10 * a21 - a11 * a20
    c10, c11, c12 = a02 * a21 - a01 * a22, a00 * a22 - a02 * a20, a01 * a20 - a00 * a21
    c20, c21, c22 = a01 * a12 - a02 * a11, a02 * a10 - a00 * a12, a00 * a11 - a01 * a10
    det = a00 * c00 + a01 * c01 + a02 * c02
    return [c00, c10, c20, c01, c11, c21, c02, c12, c22], det  # adj(A) = the cofactors transposed


def _adjugate_4(a):
    (a00, a01, a02, a03), (a10, a11, a12, a13), (a20, a21, a22, a23), (a30, a31, a32, a33) = a
    # 2x2 minors of rows 0-1 (s) and rows 2-3 (c), by their columns
    s0, s1, s2 = a00 * a11 - a10 * a01, a00 * a12 - a10 * a02, a00 * a13 - a10 * a03
    s3, s4, s5 = a01 * a12 - a11 * a02, a01 * a13 - a11 * a03, a02 * a13 - a12 * a03
    c5, c4, c3 = a22 * a33 - a32 * a23, a21 * a33 - a31 * a23, a21 * a32 - a31 * a22
    c2, c1, c0 = a20 * a33 - a30 * a23, a20 * a32 - a30 * a22, a20 * a31 - a30 * a21
    det = s0 * c5 - s1 * c4 + s2 * c3 + s3 * c2 - s4 * c1 + s5 * c0
    adj = [
        a11 * c5 - a12 * c4 + a13 * c3, a02 * c4 - a01 * c5 - a03 * c3,
        a31 * s5 - a32 * s4 + a33 * s3, a22 * s4 - a21 * s5 - a23 * s3,
        a12 * c2 - a10 * c5 - a13 * c1, a00 * c5 - a02 * c2 + a03 * c1,
        a32 * s2 - a30 * s5 - a33 * s1, a20 * s5 - a22 * s2 + a23 * s1,
        a10 * c4 - a11 * c2 + a13 * c0, a01 * c2 - a00 * c4 - a03 * c0,
        a30 * s4 - a31 * s2 + a33 * s0, a21 * s2 - a20 * s4 - a23 * s0,
        a11 * c1 - a10 * c3 - a12 * c0, a00 * c3 - a01 * c1 + a02 * c0,
        a31 * s1 - a30 * s3 - a32 * s0, a20 * s3 - a21 * s1 + a22 * s0,
    ]
    return adj, det


ADJUGATES = {2: _adjugate_2, 3: _adjugate_3, 4: _adjugate_4}


def cofactor_inverse(A):
    """``(X, det)``: the inverses of the (B, n, n) stack ``A`` (numpy array or torch tensor,
    1 <= n <= 4) as adj(A) / det(A), and the determinants (B,). Where det is zero or not
    finite, X holds Inf or NaN (the caller flags it)."""
    B, n, _ = A.shape
    if n == 1:
        det = A[:, 0, 0]
        return (1 / det)[:, None, None], det
    entries = [[A[:, i, j] for j in range(n)] for i in range(n)]
    adj, det = ADJUGATES[n](entries)
    X = torch.stack(adj, dim=-1) if isinstance(A, torch.Tensor) else np.stack(adj, axis=-1)
    X *= (1 / det)[:, None]
    return X.reshape(B, n, n), det


@register("closed-form")
class ClosedForm(Solver):
    """Cofactor inversion adj(A) / det(A) of 1x1 to 4x4 matrices, vectorised over the batch (as
    fixed-size libraries such as Eigen invert 2x2 to 4x4); ``backend=numpy`` or ``backend=torch``;
    skips n > 4.

    Building it gives the backend's own class: :class:`NumpyClosedForm` or
    :class:`TorchClosedForm`. Both share ``invert``, which returns ``(X, det)``, and ``collect``.
    """

    family = "direct"
    flops_formula = "n = 1: 1, n = 2: 8, n = 3: 42, n = 4: 144 (none for n > 4: skipped)"
    flops_source = ("exact count of the cofactor formulas: products and sums of the adjugate and det(A), "
                    "one division 1 / det, n^2 scalings (sign changes not counted)")

    def __new__(cls, backend: str = "numpy", device: str = "auto"):
        if cls is not ClosedForm:
            return super().__new__(cls)
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        return super().__new__(TorchClosedForm if backend == "torch" else NumpyClosedForm)

    def __init__(self, backend: str = "numpy", device: str = "auto"):
        self.backend = backend

    def skip(self, data) -> str | None:
        if data.n > MAX_N:
            return (f"closed-form inverts 1x1 to {MAX_N}x{MAX_N} matrices only (cofactor formulas); "
                    f"{data.spec!r} has {data.n} x {data.n}")
        return None

    def check_batch(self, A: np.ndarray) -> None:
        if A.shape[-1] > MAX_N:
            raise InputError(f"closed-form inverts 1x1 to {MAX_N}x{MAX_N} matrices only, got {A.shape[-1]} x "
                             f"{A.shape[-1]}")

    def invert(self):
        if isinstance(self._A, torch.Tensor):
            return cofactor_inverse(self._A)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # singular matrices: flagged in collect
            return cofactor_inverse(self._A)

    def collect(self, out) -> Inversion:
        X, det = out
        X, det = to_numpy(X).copy(), to_numpy(det)  # a copy: marking failures leaves out as it was
        singular = det == 0
        bad_det = ~np.isfinite(det)
        overflow = ~np.isfinite(X).all(axis=(1, 2)) & ~singular & ~bad_det
        failed = singular | bad_det | overflow
        reasons = [f"{what}: {mask.sum()} of {len(mask)} matrices" for what, mask in (
            ("zero determinant (singular, or its products underflowed)", singular),
            ("non-finite determinant (its products overflowed)", bad_det),
            ("non-finite result (1 / det or the adjugate overflowed)", overflow)) if mask.any()]
        return Inversion(mark_failed(X, failed), failed, "; ".join(reasons) or None)

    def flops(self, n: int) -> float:
        """The exact count of the module docstring; NaN for n > 4, which this solver skips."""
        return float(FLOPS.get(n, float("nan")))


class NumpyClosedForm(ClosedForm):
    """``closed-form[backend=numpy]``: numpy arrays on the CPU."""

    library = "numpy"

    def __init__(self, backend: str = "numpy", device: str = "auto"):
        if device not in ("auto", "cpu"):
            raise ValueError(f"backend=numpy runs on the CPU only, got device={device!r}")
        super().__init__(backend, device)


class TorchClosedForm(ClosedForm, TorchSolver):
    """``closed-form[backend=torch]``: torch tensors on ``device``."""

    def __init__(self, backend: str = "torch", device: str = "auto"):
        ClosedForm.__init__(self, backend, device)
        TorchSolver.__init__(self, device)
