"""``newton-schulz[steps=k,init=base|scaled]``: the Newton-Schulz (Hotelling) iteration.

X <- X (2I - A X), computed as X + X R with the residual R = I - A X (two matrix products per
step). Residuals square at every step (R' = R^2), so the iteration converges quadratically
exactly when it starts with ||I - A X0|| < 1, and diverges otherwise.

Starts (see :mod:`._hyperpower`):
- ``init=base``: X0 = inv(A0) of the dataset's base matrix (skipped, with a reason, without
  one); one step equals the linear approximation X0 - X0 (A - A0) X0.
- ``init=scaled``: X0 = A^T / (||A||_1 ||A||_inf), which makes ||I - A X0||_2 < 1 for every
  non-singular A (Pan and Schreiber), at the price of about 2 log2(kappa) steps; computed
  without forming the product of the norms, so that it survives matrices near underflow or
  overflow.

The final residual bounds the error: X - inv(A) = -inv(A) R, so ||X - inv(A)||_F / ||inv(A)||_2
<= ||R||_F. A matrix whose final ||I - A X||_F exceeds ``tol`` (default 1e-2), or is not finite,
did not converge in ``steps`` steps: it is reported as a failure, never returned.
"""

from __future__ import annotations

import torch

from matinv_bench.solvers._hyperpower import HyperpowerSolver
from matinv_bench.solvers.base import register
from matinv_bench.solvers.flops import routines


@register("newton-schulz")
class NewtonSchulz(HyperpowerSolver):
    """Newton-Schulz iteration X <- X (2I - AX) for ``steps`` steps, from inv(A0) or A^T scaled."""

    flops_formula = "4 n^3 steps"
    flops_source = "two products per step (A X, then X R); the scaled start is O(n^2)"

    def __init__(self, steps: int = 30, init: str = "scaled", tol: float = 1e-2, device: str = "auto"):
        super().__init__(steps, init, tol, device)

    def invert(self):
        A = self._A
        eye = torch.eye(A.shape[-1], dtype=A.dtype, device=A.device)
        X = self.start()
        for _ in range(self.steps):
            X = X + X @ (eye - A @ X)
        return X

    def flops(self, n: int) -> float:
        return 2 * routines("gemm") * n**3 * self.steps
