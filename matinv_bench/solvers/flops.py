"""The model flop count of every built-in solver, with its source: the one table.

A solver's ``flops(n)`` is the model count per n x n matrix used for GFLOP/s, ns per flop and
the scaling study; it must agree with :data:`MODELS` (``tests/test_flops.py`` holds every
registered solver to it). Counts are leading terms: O(n^2) work (condition estimates, scaling,
the networks' biases and ReLUs) is left out.

LAPACK routines count additions plus multiplications of the square case (m = n, and k = n
right-hand sides or reflectors), from LAPACK Working Note 41 (Anderson et al., "Installation
Guide for LAPACK", Appendix: operation counts): getrf 2/3 n^3, getri 4/3 n^3, getrs with n
right-hand sides 2 n^3, potrf 1/3 n^3, potri 2/3 n^3, geqrf 4/3 n^3 (2mn^2 - 2/3 n^3),
orgqr 4/3 n^3 (4mnk - 2(m + n)k^2 + 4/3 k^3), trtrs / trsm with n right-hand sides n^3; a
matrix product 2 n^3.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

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
    """A dense ReLU network n^2 -> hidden (-> hidden ...) -> n^2: 2 flops per weight and matrix."""
    widths = [n * n] + [hidden] * (layers - 1) + [n * n]
    return float(sum(2 * a * b for a, b in zip(widths[:-1], widths[1:])))


@dataclass(frozen=True)
class FlopModel:
    """A solver's model count: ``count(n, **params)``, its formula and where it comes from."""

    formula: str
    source: str
    count: Callable[..., float]


MODELS: dict[str, FlopModel] = {
    "lu": FlopModel("2 n^3", "getrf + getri (scipy.linalg.inv, assume_a='gen'); LAWN 41",
                    lambda n: routines("getrf", "getri") * n**3),
    "numpy-inv": FlopModel("8/3 n^3", "getrf + getrs with the n columns of I (numpy.linalg.inv is gesv); LAWN 41",
                           lambda n: routines("getrf", "getrs") * n**3),
    "torch-inv": FlopModel("8/3 n^3", "getrf + getrs with the n columns of I (torch.linalg.inv_ex solves A X = I); "
                                      "LAWN 41", lambda n: routines("getrf", "getrs") * n**3),
    "cholesky": FlopModel("n^3", "potrf + potri (scipy.linalg.inv, assume_a='pos'); LAWN 41",
                          lambda n: routines("potrf", "potri") * n**3),
    "qr": FlopModel("11/3 n^3", "geqrf + orgqr (numpy.linalg.qr) + trtrs of R X = Q^T with n right-hand sides; "
                                "LAWN 41", lambda n: routines("geqrf", "orgqr", "trsm") * n**3),
    "gauss-jordan": FlopModel("2 n^3", "n elimination steps, each a rank-1 update of the n x n array "
                                       "(2 n^2); blocking regroups, it does not add", lambda n, **_: 2.0 * n**3),
    "neumann": FlopModel("2 n^3 (order + 1), 0 for order 0", "X0 (A - A0), then one product per order "
                                                              "(Horner); the subtraction is O(n^2)",
                         lambda n, order=2, **_: routines("gemm") * n**3 * (order + 1) if order else 0.0),
    "linear-approx": FlopModel("4 n^3", "X0 (A - A0), then that times X0: two products",
                               lambda n, **_: 2 * routines("gemm") * n**3),
    "newton-schulz": FlopModel("4 n^3 steps", "two products per step (A X, then X R); the scaled start is O(n^2)",
                               lambda n, steps=30, **_: 2 * routines("gemm") * n**3 * steps),
    "minimax-ns": FlopModel("2 (degree + 1) n^3 steps", "hyperpower step X p(I - A X): A X, degree - 1 Horner "
                            "products for p, then X p; the coefficients are O(1)",
                            lambda n, steps=12, degree=1, **_: routines("gemm") * (degree + 1) * n**3 * steps),
    "learned-ns": FlopModel("2 (degree + 1) n^3 steps", "the same hyperpower step with trained coefficients "
                            "(training is fit, not timed)",
                            lambda n, steps=10, degree=1, **_: routines("gemm") * (degree + 1) * n**3 * steps),
    "mlp-2fc": FlopModel("2 (n^2 h + h n^2)", "dense layers n^2 -> h -> n^2, 2 flops per weight",
                         lambda n, hidden=None, **_: mlp_count(n, hidden or 8 * n * n, 2)),
    "mlp-3fc": FlopModel("2 (n^2 h + h^2 + h n^2)", "dense layers n^2 -> h -> h -> n^2, 2 flops per weight",
                         lambda n, hidden=None, **_: mlp_count(n, hidden or 8 * n * n, 3)),
}


def model_flops(name: str, n: int, **params) -> float:
    """The table's count for solver ``name`` at size n with these spec parameters (KeyError for a
    solver without an entry)."""
    return MODELS[name].count(n, **params)
