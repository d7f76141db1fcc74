"""``minimax-ns[steps=k,degree=d,init=scaled|base,lower=l]``: hyperpower steps with minimax coefficients.

The iteration of :mod:`._hyperpower`, X <- X p_k(I - A X) with p_k of degree d, whose
coefficients are designed, step by step, for the spectrum of A X rather than fixed at the
classical 1 + r + ... + r^d. Cost: 2 (d + 1) n^3 flops per step, as for the classical method.

Design (``init=scaled``). With X0 = A^T / (||A||_1 ||A||_inf), A X_k is symmetric with eigenvalues s
in an interval [l_k, u_k] (at first [lower, 1]), and a step maps each s to f(s) = s p(1 - s).
Each step takes the p that minimises max |1 - f(s)| over the current interval: with r = 1 - s in
[a, b] and q(r) = 1 - f = 1 - (1 - r) p(r), the condition f(0) = 0 is q(1) = 1, and the polynomial
of degree d + 1 least in magnitude on [a, b] with q(1) = 1 is the scaled Chebyshev polynomial
q(r) = T_{d+1}((2r - a - b) / (b - a)) / T_{d+1}((2 - a - b) / (b - a)). It maps the interval onto
[1 - E, 1 + E] with E = 1 / T_{d+1}((2 - a - b) / (b - a)), the next step's interval. Small
eigenvalues grow by a factor of about 2 (d + 1)^2 per step instead of d + 1 (from lower = 1e-6,
degree 1: 7 steps instead of 20 to reach the quadratic phase). Once E < 1e-3 the steps
are classical (q = r^(d+1), which keeps inv(A) a fixed point: no bias at rounding level). This is
the greedy per-step minimax design of Polar Express (Amsel, Persson, Musco and Gower, arXiv
2505.16932) and CANS (Grishina, Smirnov and Rakhuba, arXiv 2506.10935), here for the inverse;
SchulzNN (OpenReview WNrJUUuHBT) learns such Schulz-iteration parameters instead (see
``learned-ns``).

``lower``: a lower bound on the spectrum of A X0 (that is, on sigma_min(A)^2 / (||A||_1
||A||_inf)); by default estimated in ``fit`` as half the smallest value over a train split of the
dataset (a fixed collection without ``lower`` is skipped). Eigenvalues below it still converge,
more slowly (f'(0) > 0).

``init=base``: X0 = inv(A0); the spectrum of A X0 lies in the disk |1 - s| <= ||X0 (A - A0)||,
on which the classical polynomial is already the minimax one (q = r^(d+1) is optimal on a disk
centred at r = 0), so the steps are classical.
"""

from __future__ import annotations

import numpy as np
from numpy.polynomial import Chebyshev, Polynomial

from matinv_bench.solvers._hyperpower import HyperpowerSolver, check_degree, hyperpower
from matinv_bench.solvers.base import register
from matinv_bench.solvers.flops import routines

SWITCH = 1e-3  # below this half-width of the spectrum around 1, classical steps
SAFETY = 0.5  # the estimated lower bound is this times the smallest value seen on the train split


def chebyshev_step(lo: float, hi: float, degree: int) -> tuple[np.ndarray, float, float]:
    """Coefficients c_0..c_d of p (in r = 1 - s) minimising max |1 - s p(1 - s)| over s in [lo, hi],
    and the interval [1 - E, 1 + E] the step maps [lo, hi] onto. Requires 0 < lo <= hi."""
    if not 0 < lo <= hi:
        raise ValueError(f"the spectral interval must satisfy 0 < lo <= hi, got [{lo}, {hi}]")
    a, b = 1.0 - hi, 1.0 - lo
    if b - a < 1e-300:  # a single point: p = 1 / lo maps it to 1 exactly
        return np.r_[1.0 / lo, np.zeros(degree)], 1.0, 1.0
    T = Chebyshev.basis(degree + 1, domain=[a, b])
    at_one = T(1.0)
    q = T.convert(kind=Polynomial) / at_one
    p, _ = divmod(Polynomial([1.0]) - q, Polynomial([1.0, -1.0]))  # exact: 1 - q vanishes at r = 1
    coef = np.zeros(degree + 1)
    coef[:len(p.coef)] = p.coef
    E = 1.0 / abs(at_one)
    return coef, 1.0 - E, 1.0 + E


def design(steps: int, degree: int, lower: float) -> np.ndarray:
    """The (steps, degree + 1) coefficients for the scaled start: Chebyshev steps from [lower, 1]
    while the interval is wider than 1 +- SWITCH, classical steps after."""
    coefs = np.ones((steps, degree + 1))
    lo, hi = float(lower), 1.0
    for k in range(steps):
        half = max(1.0 - lo, hi - 1.0)
        if half < SWITCH:
            break  # classical from here: q = r^(d+1)
        coefs[k], lo, hi = chebyshev_step(lo, hi, degree)
    return coefs


def scaled_spectrum_min(A: np.ndarray, sigma_min: np.ndarray) -> np.ndarray:
    """Per matrix: the smallest eigenvalue of A X0 for the scaled start, sigma_min^2 / (||A||_1 ||A||_inf),
    computed on A scaled to max |a_ij| = 1 (the ratio is scale-free)."""
    m = np.abs(A).max(axis=(1, 2))
    As = A / m[:, None, None]
    norms = np.abs(As).sum(axis=1).max(axis=1) * np.abs(As).sum(axis=2).max(axis=1)
    return (sigma_min / m) ** 2 / norms


@register("minimax-ns")
class MinimaxNS(HyperpowerSolver):
    """Hyperpower steps X <- X p_k(I - AX) with per-step Chebyshev (minimax) coefficients for the
    spectrum of A X0 in [lower, 1] (given, or estimated from the train split); O(n^3) per step."""

    test_spec = "minimax-ns[steps=12]"
    flops_formula = "2 (degree + 1) n^3 steps"
    flops_source = "hyperpower step X p(I - A X): A X, degree - 1 Horner products for p, then X p; the coefficients are O(1)"

    def __init__(self, steps: int = 12, degree: int = 1, init: str = "scaled", lower: float | None = None,
                 tol: float = 1e-2, device: str = "auto"):
        super().__init__(steps, init, tol, device)
        self.degree = check_degree(degree)
        if lower is not None and not (isinstance(lower, (int, float)) and not isinstance(lower, bool)
                                      and 0 < lower <= 1):
            raise ValueError(f"lower must be a number in (0, 1], got {lower!r}")
        self.lower = None if lower is None else float(lower)

    def skip(self, data) -> str | None:
        reason = super().skip(data)
        if reason is None and self.init == "scaled" and self.lower is None and not data.source.trainable:
            reason = (f"{data.spec!r} is a fixed collection: no train split to estimate the spectrum from; "
                      f"give lower=...")
        return reason

    def fit(self, data) -> MinimaxNS:
        super().fit(data)
        if self.init == "base":
            self.lower_ = None
            self.coefs_ = np.ones((self.steps, self.degree + 1))
            return self
        lower = self.lower
        if lower is None:
            train = data.draw_train(max(64, min(1024, 2**20 // data.n**3)))
            lower = SAFETY * float(scaled_spectrum_min(train.A, train.sigma_min).min())
        self.lower_ = lower
        self.coefs_ = design(self.steps, self.degree, lower)
        return self

    def invert(self):
        return hyperpower(self._A, self.start(), self.coefs_.tolist())

    def flops(self, n: int) -> float:
        return routines("gemm") * (self.degree + 1) * n**3 * self.steps
