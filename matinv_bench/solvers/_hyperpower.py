"""Shared plumbing of the hyperpower (Newton-Schulz family) iterations: starts, steps, failures.

A hyperpower step of degree d updates X <- X p(R) with the residual R = I - A X and a polynomial
p(r) = c_0 + c_1 r + ... + c_d r^d, evaluated by Horner's rule: d + 1 matrix products per step
(A X, d - 1 products in Horner, X p(R)), so 2 (d + 1) n^3 flops. All ones (p = 1 + r + ... +
r^d) is the classical hyperpower method of order d + 1, whose residuals obey R' = R^(d+1);
d = 1 is Newton-Schulz. Per-step coefficients (``learned-ns``, ``minimax-ns``) keep the O(n^3)
cost and add only steps x (d + 1) numbers, whatever n.

Starts (``init``):

- ``base``: X0 = inv(A0) of the dataset's base matrix (the solver skips datasets without one).
- ``scaled``: X0 = A^T / (||A||_1 ||A||_inf) (Pan and Schreiber), for which the spectrum of
  A X0 = A A^T / (||A||_1 ||A||_inf) lies in (0, 1] for every non-singular A. The start is
  scale-invariant: A is first scaled by a power of two (exactly) so that its largest entry lies
  in [1/2, 1), and the scale is put back on X0, so a matrix scaled by 2^k gives X0 scaled by 2^-k
  bit for bit, even near underflow or overflow where the product of the two norms would not fit.

:class:`HyperpowerSolver.collect` flags a matrix whose final ||I - A X||_F exceeds ``tol``, or is
not finite, as not converged: reported as a failure, never returned. The final residual bounds
the error: X - inv(A) = -inv(A) R, so ||X - inv(A)||_F / ||inv(A)||_2 <= ||R||_F.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import torch

from matinv_bench.solvers._torch import to_numpy
from matinv_bench.solvers.approximations import BaseInverseSolver
from matinv_bench.solvers.base import Inversion, mark_failed
from matinv_bench.specs import check_int

INITS = ("base", "scaled")


def scaled_start(A: torch.Tensor) -> torch.Tensor:
    """A^T / (||A||_1 ||A||_inf), batched, without forming the product of the norms of A itself.

    A = 2^e As with max |As| in [1/2, 1) (``frexp``, exact), so X0 = 2^-e As^T / (||As||_1
    ||As||_inf): the norms of As lie in [1/2, n], and only the power of two meets the range limits.
    A zero matrix gives NaN (it has no inverse).
    """
    _, e = torch.frexp(A.abs().amax(dim=(-2, -1)))
    two = torch.tensor(2.0, dtype=A.dtype, device=A.device)
    half = torch.div(e, 2, rounding_mode="floor")
    # 2^e in two factors: 2^1024 itself would overflow (max |A| near the largest float)
    s1, s2 = (torch.pow(two, k.to(A.dtype))[:, None, None] for k in (half, e - half))
    As = A / s1 / s2  # exact: powers of two
    norm1 = As.abs().sum(dim=-2).amax(dim=-1)
    norminf = As.abs().sum(dim=-1).amax(dim=-1)
    return As.mT / (norm1 * norminf)[:, None, None] / s1 / s2


def hyperpower(A: torch.Tensor, X: torch.Tensor, coefs: Sequence[Sequence[float]] | torch.Tensor) -> torch.Tensor:
    """Run the steps X <- X p_k(I - A X), p_k(r) = sum_j coefs[k][j] r^j (degree >= 1), batched.

    ``coefs`` is a (steps, d + 1) table of numbers, or a tensor (for training by backprop).
    """
    eye = torch.eye(A.shape[-1], dtype=A.dtype, device=A.device)
    for c in coefs:
        R = eye - A @ X
        P = c[-1] * R + c[-2] * eye
        for j in range(len(c) - 3, -1, -1):
            P = R @ P + c[j] * eye
        X = X @ P
    return X


def check_degree(degree: int) -> int:
    return check_int("degree", degree, 1)


class HyperpowerSolver(BaseInverseSolver):
    """Base of the Newton-Schulz family: ``steps``, ``init`` (base | scaled), ``tol``; the start
    :meth:`start`, and :meth:`collect`, which flags matrices that did not converge."""

    family: ClassVar[str] = "iterative"

    def __init__(self, steps: int, init: str, tol: float, device: str):
        super().__init__(device)
        check_int("steps", steps, 0)
        if init not in INITS:
            raise ValueError(f"init must be one of {', '.join(INITS)}, got {init!r}")
        if not (isinstance(tol, (int, float)) and 0 < tol < 1):
            raise ValueError(f"tol must be a number in (0, 1), got {tol!r}")
        self.steps, self.init, self.tol = steps, init, float(tol)
        self.needs_base = init == "base"

    def start(self) -> torch.Tensor:
        """X0 for the batch: inv(A0) (init=base) or the scaled transpose (init=scaled)."""
        return self._X0.expand_as(self._A) if self.init == "base" else scaled_start(self._A)

    def collect(self, out) -> Inversion:
        result = super().collect(to_numpy(out).copy())  # a copy: marking failures leaves out as it was
        A = to_numpy(self._A).astype(np.float64)
        with np.errstate(all="ignore"):
            res = np.linalg.norm(np.eye(A.shape[-1]) - A @ np.nan_to_num(result.X), axis=(1, 2))
        unconverged = ~(res <= self.tol) & ~result.failed
        mark_failed(result.X, result.failed | unconverged)  # overflowed iterates are NaN too, not +-inf
        if unconverged.any():
            result.failed |= unconverged
            note = (f"did not converge in {self.steps} steps (||I - AX||_F > {self.tol:g}): "
                    f"{unconverged.sum()} of {len(res)} matrices")
            result.reason = note if result.reason is None else f"{result.reason}; {note}"
        return result
