"""Matmul-only approximations around a base matrix A0: the paper's baseline and its series.

With E = A - A0 and X0 = inv(A0), the Neumann series inv(A) = sum_j (-X0 E)^j X0 converges
when ||X0 E|| < 1 (a box with theta < 1 guarantees it).

- ``linear-approx``: the first-order approximation X0 - X0 E X0 (the paper's "linear
  approximation", what its small MLPs learn).
- ``neumann[order=k]``: the series truncated after the (-X0 E)^k X0 term; order 1 equals
  ``linear-approx``. Its error falls like ||X0 E||^(k+1).

Both need a base matrix: they skip, with a reason, on a dataset that has none. inv(A0) is
computed once in ``fit`` (LAPACK, float64); only matrix products and sums are timed.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch

from matinv_bench.solvers._torch import TorchSolver
from matinv_bench.solvers.base import InputError, check_stack, register
from matinv_bench.specs import check_int


def base_skip_reason(data, what: str) -> str | None:
    """Why ``data`` cannot feed a solver that starts from inv(A0), or None."""
    if data.base is None:
        return f"{what} needs a base matrix A0 (a box dataset); {data.spec!r} has none"
    return None


class BaseInverseSolver(TorchSolver):
    """A torch solver that starts from inv(A0) of the dataset's base matrix.

    ``fit`` stores ``X0_`` = inv(A0) (float64 numpy) and ``base_``; ``prepare`` moves A, A0 and
    X0 to the device in A's precision. Subclasses implement ``invert`` from ``self.A_``,
    ``self.A0_`` and ``self.X0_`` (torch tensors).
    """

    family: ClassVar[str] = "approximation"
    needs_base: bool = True

    def skip(self, data) -> str | None:
        return base_skip_reason(data, getattr(self, "spec", self.name)) if self.needs_base else None

    def fit(self, data) -> BaseInverseSolver:
        self.base_ = None if data.base is None else np.asarray(data.base, dtype=np.float64)
        self.X0_np_ = None if self.base_ is None else np.linalg.inv(self.base_)
        return self

    def prepare(self, A: np.ndarray) -> None:
        A = check_stack(A)
        dtype = torch.float32 if A.dtype == np.float32 else torch.float64
        self.A_ = torch.from_numpy(A.copy()).to(self.device)
        if self.needs_base:
            if getattr(self, "X0_np_", None) is None:
                raise InputError(f"{self.name} has no base matrix: call fit(data) on a box dataset first")
            if self.base_.shape[-1] != A.shape[-1]:
                raise InputError(f"the base matrix is {self.base_.shape[-1]} x {self.base_.shape[-1]}, "
                                 f"the matrices are {A.shape[-1]} x {A.shape[-1]}")
            self.A0_ = torch.from_numpy(self.base_).to(self.device, dtype)
            self.X0_ = torch.from_numpy(self.X0_np_).to(self.device, dtype)
        self.sync()


@register("neumann")
class Neumann(BaseInverseSolver):
    """Truncated Neumann series around A0: sum_{j<=order} (-X0 E)^j X0, by Horner's rule."""

    def __init__(self, order: int = 2, device: str = "auto"):
        super().__init__(device)
        self.order = check_int("order", order, 0)

    def invert(self):
        M = -(self.X0_ @ (self.A_ - self.A0_))
        S = self.X0_.expand_as(M)
        for _ in range(self.order):
            S = self.X0_ + M @ S
        return S

    def flops(self, n: int) -> float:
        return 2.0 * n**3 * (self.order + (self.order > 0))


@register("linear-approx")
class LinearApprox(BaseInverseSolver):
    """The first-order approximation X0 - X0 (A - A0) X0 (the paper's linear baseline)."""

    def __init__(self, device: str = "auto"):
        super().__init__(device)

    def invert(self):
        return self.X0_ - (self.X0_ @ (self.A_ - self.A0_)) @ self.X0_

    def flops(self, n: int) -> float:
        return 4.0 * n**3
