"""Matrices whose inverses are known exactly: Pascal (integer inverse) and Hilbert.

Each is a fixed collection of one matrix. The reference is the exact inverse *of the stored
float64 matrix*, rounded once to float64: Pascal's entries are exact integers, so its exact
integer inverse applies; Hilbert's stored entries are rounded 1/(i+j-1), so its reference is
computed by mpmath at a precision that covers its condition number.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla

from matinv_bench.datasets.base import Dataset, Sample, register
from matinv_bench.scoring import reference
from matinv_bench.specs import check_int


class _Fixed(Dataset):
    family = "structured"
    fixed = True

    def __init__(self, n: int = 8):
        self.n = check_int("n", n, 1, self.max_n)

    def default_size(self) -> int:
        return 1


@register("pascal")
class Pascal(_Fixed):
    """The symmetric Pascal matrix; entries stay exact float64 integers up to n = 28."""

    max_n = 28

    def sample(self, rng: np.random.Generator, size: int) -> Sample:
        return Sample(sla.pascal(self.n, exact=False)[None].astype(np.float64))

    def exact_inverse(self, A: np.ndarray) -> tuple[np.ndarray, str]:
        inv = sla.invpascal(self.n, exact=True)
        return np.array(inv, dtype=np.float64)[None], "exact-integer"


@register("hilbert")
class Hilbert(_Fixed):
    """The Hilbert matrix 1/(i+j-1), scored against the exact inverse of its float64 entries."""

    max_n = 16

    def sample(self, rng: np.random.Generator, size: int) -> Sample:
        return Sample(sla.hilbert(self.n)[None])

    def exact_inverse(self, A: np.ndarray) -> tuple[np.ndarray, str]:
        digits = 40 + 2 * self.n
        return reference.mpmath_inverse(A, digits), f"mpmath[{digits} digits]"
