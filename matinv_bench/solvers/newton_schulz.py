"""``newton-schulz[steps=k,init=base|scaled]``: the Newton-Schulz (Hotelling) iteration.

X <- X (2I - A X), computed as X + X R with the residual R = I - A X (two matrix products per
step). Residuals square at every step (R' = R^2), so the iteration converges quadratically
exactly when it starts with ||I - A X0|| < 1, and diverges otherwise.

Starts:
- ``init=base``: X0 = inv(A0) of the dataset's base matrix (skipped, with a reason, without
  one); one step equals the linear approximation X0 - X0 (A - A0) X0.
- ``init=scaled``: X0 = A^T / (||A||_1 ||A||_inf), which makes ||I - A X0||_2 < 1 for every
  non-singular A (Pan and Schreiber), at the price of about 2 log2(kappa) steps.

The final residual bounds the error: X - inv(A) = -inv(A) R, so ||X - inv(A)||_F / ||inv(A)||_2
<= ||R||_F. A matrix whose final ||I - A X||_F exceeds ``tol`` (default 1e-2), or is not finite,
did not converge in ``steps`` steps: it is reported as a failure, never returned.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch

from matinv_bench.solvers._torch import to_numpy
from matinv_bench.solvers.approximations import BaseInverseSolver
from matinv_bench.solvers.base import Inversion, mark_failed, register
from matinv_bench.specs import check_int

INITS = ("base", "scaled")


def scaled_start(A: torch.Tensor) -> torch.Tensor:
    """A^T / (||A||_1 ||A||_inf), batched."""
    norm1 = A.abs().sum(dim=-2).amax(dim=-1)
    norminf = A.abs().sum(dim=-1).amax(dim=-1)
    return A.mT / (norm1 * norminf)[:, None, None]


@register("newton-schulz")
class NewtonSchulz(BaseInverseSolver):
    """Newton-Schulz iteration X <- X (2I - AX) for ``steps`` steps, from inv(A0) or A^T scaled."""

    family: ClassVar[str] = "iterative"

    def __init__(self, steps: int = 30, init: str = "scaled", tol: float = 1e-2, device: str = "auto"):
        super().__init__(device)
        check_int("steps", steps, 0)
        if init not in INITS:
            raise ValueError(f"init must be one of {', '.join(INITS)}, got {init!r}")
        if not (isinstance(tol, (int, float)) and 0 < tol < 1):
            raise ValueError(f"tol must be a number in (0, 1), got {tol!r}")
        self.steps, self.init, self.tol = steps, init, float(tol)
        self.needs_base = init == "base"

    def invert(self):
        A = self._A
        eye = torch.eye(A.shape[-1], dtype=A.dtype, device=A.device)
        X = self._X0.expand_as(A) if self.init == "base" else scaled_start(A)
        for _ in range(self.steps):
            X = X + X @ (eye - A @ X)
        return X

    def collect(self, out) -> Inversion:
        result = super().collect(to_numpy(out).copy())  # a copy: marking failures leaves out as it was
        A = to_numpy(self._A).astype(np.float64)
        with np.errstate(all="ignore"):
            res = np.linalg.norm(np.eye(A.shape[-1]) - A @ np.nan_to_num(result.X), axis=(1, 2))
        unconverged = ~(res <= self.tol) & ~result.failed
        mark_failed(result.X, result.failed | unconverged)  # overflowed iterates are NaN too, not +-inf
        if unconverged.any():
            result.failed |= unconverged
            note = f"did not converge in {self.steps} steps (||I - AX||_F > {self.tol:g}): {unconverged.sum()} of {len(res)} matrices"
            result.reason = note if result.reason is None else f"{result.reason}; {note}"
        return result

    def flops(self, n: int) -> float:
        return 4.0 * n**3 * self.steps
