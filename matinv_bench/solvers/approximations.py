"""Matmul-only approximations around a base matrix A0: the paper's baseline and its series.

With E = A - A0 and X0 = inv(A0), the Neumann series inv(A) = sum_j (-X0 E)^j X0 converges
when ||X0 E|| < 1 (a box with theta < 1 guarantees it).

- ``linear-approx``: the first-order approximation X0 - X0 E X0 (the paper's "linear
  approximation", what its small MLPs learn).
- ``neumann[order=k]``: the series truncated after the (-X0 E)^k X0 term; order 1 equals
  ``linear-approx``. Its error falls like ||X0 E||^(k+1).

Both need a base matrix: they skip, with a reason, on a dataset that has none. inv(A0) is
computed once in ``fit`` (LAPACK, float64). ``prepare`` stores A itself: the perturbation
E = A - A0 is part of the method's cost and is computed inside the timed ``invert``, as the MLPs
(:mod:`.mlp`) compute their input (A - A0) / eps; only that subtraction, matrix products and
sums are timed.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from matinv_bench.solvers._torch import TorchSolver
from matinv_bench.solvers.base import InputError, register
from matinv_bench.solvers.flops import routines
from matinv_bench.specs import check_int


def base_skip_reason(data, what: str) -> str | None:
    """Why ``data`` cannot feed a solver that starts from inv(A0), or None."""
    if data.base is None:
        return f"{what} needs a base matrix A0 (a box dataset); {data.spec!r} has none"
    return None


class BaseInverseSolver(TorchSolver):
    """A torch solver that starts from inv(A0) of the dataset's base matrix.

    ``fit`` learns ``base_`` = A0 and ``X0_`` = inv(A0) (float64 numpy); ``prepare`` puts A
    itself, A0 and X0 on the device in A's precision as the scratch ``_A``, ``_A0`` and ``_X0``
    (torch tensors), from which subclasses' ``invert`` computes, E = A - A0 included.
    """

    family: ClassVar[str] = "approximation"
    needs_base: bool = True

    def skip(self, data) -> str | None:
        return base_skip_reason(data, getattr(self, "spec", self.name)) if self.needs_base else None

    def fit(self, data) -> BaseInverseSolver:
        self.base_ = None if data.base is None else np.asarray(data.base, dtype=np.float64)
        self.X0_ = None if self.base_ is None else np.linalg.inv(self.base_)
        return self

    def check_batch(self, A: np.ndarray) -> None:
        if not self.needs_base:
            return
        if getattr(self, "X0_", None) is None:
            raise InputError(f"{self.name} has no base matrix: call fit(data) on a box dataset first")
        if self.base_.shape[-1] != A.shape[-1]:
            raise InputError(f"the base matrix is {self.base_.shape[-1]} x {self.base_.shape[-1]}, "
                             f"the matrices are {A.shape[-1]} x {A.shape[-1]}")

    def batch_scratch(self, A: np.ndarray) -> dict:
        if not self.needs_base:
            return {}
        return {"_A0": self.place(self.base_, A.dtype), "_X0": self.place(self.X0_, A.dtype)}


@register("neumann")
class Neumann(BaseInverseSolver):
    """Truncated Neumann series around A0: sum_{j<=order} (-X0 E)^j X0, by Horner's rule."""

    flops_formula = "2 n^3 (order + 1), 0 for order 0"
    flops_source = "X0 (A - A0), then one product per order (Horner); the subtraction is O(n^2)"

    def __init__(self, order: int = 2, device: str = "auto"):
        super().__init__(device)
        self.order = check_int("order", order, 0)

    def invert(self):
        if self.order == 0:  # the series' first term: no product
            return self._X0.expand_as(self._A).clone()
        M = -(self._X0 @ (self._A - self._A0))
        S = self._X0.expand_as(M)
        for _ in range(self.order):
            S = self._X0 + M @ S
        return S

    def flops(self, n: int) -> float:
        return routines("gemm") * n**3 * (self.order + 1) if self.order else 0.0


@register("linear-approx")
class LinearApprox(BaseInverseSolver):
    """The first-order approximation X0 - X0 (A - A0) X0 (the paper's linear baseline); the
    subtraction A - A0 is timed, as the MLPs' is."""

    flops_formula = "4 n^3"
    flops_source = "X0 (A - A0), then that times X0: two products"

    def __init__(self, device: str = "auto"):
        super().__init__(device)

    def invert(self):
        return self._X0 - (self._X0 @ (self._A - self._A0)) @ self._X0

    def flops(self, n: int) -> float:
        return 2 * routines("gemm") * n**3
