"""The vocabulary of model flop counts that solver classes state their ``flops(n)`` in.

Each solver class declares its own count: ``flops(n)``, with ``flops_formula`` and
``flops_source`` (see :class:`~matinv_bench.solvers.base.Solver`); this module holds only the
shared terms those counts are written in. Counts are leading terms: O(n^2) work (condition
estimates, scaling, the networks' biases and ReLUs) is left out.

LAPACK routines count additions plus multiplications of the square case (m = n, and k = n
right-hand sides or reflectors), from LAPACK Working Note 41 (Anderson et al., "Installation
Guide for LAPACK", Appendix: operation counts): getrf 2/3 n^3, getri 4/3 n^3, getrs with n
right-hand sides 2 n^3, potrf 1/3 n^3, potri 2/3 n^3, geqrf 4/3 n^3 (2mn^2 - 2/3 n^3),
orgqr 4/3 n^3 (4mnk - 2(m + n)k^2 + 4/3 k^3), trtrs / trsm with n right-hand sides n^3; a
matrix product 2 n^3.
"""

from __future__ import annotations

from fractions import Fraction
from itertools import pairwise

# coefficient of n^3 for one n x n call (n right-hand sides or reflectors where that applies)
ROUTINES: dict[str, Fraction] = {
    "getrf": Fraction(2, 3),
    "getri": Fraction(4, 3),
    "getrs": Fraction(2),  # n right-hand sides: two triangular solves of n^2 per column
    "potrf": Fraction(1, 3),
    "potri": Fraction(2, 3),  # trtri 1/3 + lauum 1/3
    "geqrf": Fraction(4, 3),
    "orgqr": Fraction(4, 3),
    "trsm": Fraction(1),  # also trtrs: a triangular solve with n right-hand sides
    "gemm": Fraction(2),
}


def routines(*names: str) -> float:
    """The n^3 coefficient of a sequence of LAPACK/BLAS calls, e.g. ``routines("getrf", "getri") == 2``."""
    return float(sum(ROUTINES[name] for name in names))


def mlp_count(n: int, hidden: int, layers: int) -> float:
    """A dense ReLU network n^2 -> hidden (-> hidden ...) -> n^2: 2 flops per weight and matrix
    (biases and ReLUs left out)."""
    widths = [n * n] + [hidden] * (layers - 1) + [n * n]
    return float(sum(2 * a * b for a, b in pairwise(widths)))
