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
eigenvalues grow by a factor of about (d + 1)^2 per step (2 (d + 1)^2 in the first) instead of
d + 1 (from lower = 1e-6 to within 1e-3 of 1: 12 steps instead of 23 at degree 1, 8 instead of 15
at degree 2). Once E < 1e-3 the steps
are classical (q = r^(d+1), which keeps inv(A) a fixed point: no bias at rounding level). This is
the greedy per-step minimax design of Polar Express (Amsel, Persson, Musco and Gower, arXiv
2505.16932) and CANS (Grishina, Smirnov and Rakhuba, arXiv 2506.10935), here for the inverse;
SchulzNN (OpenReview WNrJUUuHBT) learns such Schulz-iteration parameters instead (see
``learned-ns``).

``lower``: a lower bound l on the spectrum of A X0 (that is, on sigma_min(A)^2 / (||A||_1
||A||_inf)); the steps are designed for [l, 1]. Eigenvalues below l still grow at every step
(f(s) > 0 for s > 0) but may not converge within the steps: those matrices are failures whose
reason names l. Where it comes from:

- given: ``lower=l``;
- a box (a base matrix A0 and a train split), by default: half the smallest value over a train
  split of the box (:data:`SAFETY`), as estimated in ``fit``;
- any other dataset (random families, fixed collections, files), by default, as Polar Express
  does without spectral bounds (scale by a cheap upper bound on the norm, here ||A||_1 ||A||_inf
  >= ||A||_2^2, and design for [l, 1] with a safe l): l = :func:`reach` of (steps, degree), the
  smallest l from which the designed steps bring the whole of [l, 1] to float64 rounding level,
  within 1 +- 1e-15 (:data:`CONVERGED`; 12 steps of degree 1 reach l = 5e-5, 16 steps 1e-7, 20
  steps 5e-10). Quadratic convergence makes that margin cheap (about one step), and it lets
  eigenvalues a little below l still converge to ``tol``. A smaller l would not be safer: the
  designed polynomials equioscillate over the whole interval, so a wider one leaves no matrix
  converged after the same steps, the well-conditioned ones included. l never
  goes below 1e-16 (:data:`FLOOR`, about the float64 unit roundoff, under which eigenvalues of
  A X0 drown in the rounding of A X).

``init=base``: X0 = inv(A0); the spectrum of A X0 lies in the disk |1 - s| <= ||X0 (A - A0)||,
on which the classical polynomial is already the minimax one (q = r^(d+1) is optimal on a disk
centred at r = 0), so the steps are classical.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from numpy.polynomial import Chebyshev, Polynomial

from matinv_bench.solvers._hyperpower import HyperpowerSolver, check_degree, hyperpower
from matinv_bench.solvers.base import Inversion, register
from matinv_bench.solvers.flops import routines

SWITCH = 1e-3  # below this half-width of the spectrum around 1, classical steps
SAFETY = 0.5  # the estimated lower bound is this times the smallest value seen on a box's train split
CONVERGED = 1e-15  # reach(): the half-width the steps must bring [l, 1] within (float64 rounding level)
FLOOR = 1e-16  # reach() never designs below this (about the float64 unit roundoff)
# the lower bounds reach() chooses from: 1, 2 and 5 times the powers of ten, from FLOOR to 1/2
GRID = tuple(float(f"{m}e{e}") for e in range(round(np.log10(FLOOR)), 0) for m in (1, 2, 5))


def chebyshev_step(lo: float, hi: float, degree: int) -> tuple[np.ndarray, float, float]:
    """Coefficients c_0..c_d of p (in r = 1 - s) minimising max |1 - s p(1 - s)| over s in [lo, hi],
    and the interval [1 - E, 1 + E] the step maps [lo, hi] onto. Requires 0 < lo <= hi.

    1 - E is computed as f(lo) = lo p(1 - lo), not as 1 minus E: for a tiny lo, E is within
    rounding of 1 and the difference would be 0."""
    if not 0 < lo <= hi:
        raise ValueError(f"the spectral interval must satisfy 0 < lo <= hi, got [{lo}, {hi}]")
    a, b = 1.0 - hi, 1.0 - lo
    if b - a < 1e-300:  # a single point: p = 1 / lo maps it to 1 exactly
        return np.r_[1.0 / lo, np.zeros(degree)], 1.0, 1.0
    T = Chebyshev.basis(degree + 1, domain=[a, b])
    q = T.convert(kind=Polynomial) / T(1.0)
    p, _ = divmod(Polynomial([1.0]) - q, Polynomial([1.0, -1.0]))  # exact: 1 - q vanishes at r = 1
    coef = np.zeros(degree + 1)
    coef[:len(p.coef)] = p.coef
    new_lo = lo * float(np.polynomial.polynomial.polyval(1.0 - lo, coef))
    return coef, new_lo, 2.0 - new_lo


def _plan(steps: int, degree: int, lower: float) -> tuple[np.ndarray, float]:
    """The (steps, degree + 1) coefficients for the scaled start (Chebyshev steps from [lower, 1]
    while the interval is wider than 1 +- SWITCH, classical steps after) and the half-width E of
    the interval [1 - E, 1 + E] onto which they map [lower, 1]."""
    coefs = np.ones((steps, degree + 1))
    lo, hi = float(lower), 1.0
    half = max(1.0 - lo, hi - 1.0)
    for k in range(steps):
        if half < SWITCH:  # classical from here: q = r^(d+1) maps |r| <= E into |r| <= E^(d+1)
            half **= degree + 1
        else:
            coefs[k], lo, hi = chebyshev_step(lo, hi, degree)
            half = max(1.0 - lo, hi - 1.0)
    return coefs, half


def design(steps: int, degree: int, lower: float) -> np.ndarray:
    """The (steps, degree + 1) coefficients for the scaled start: Chebyshev steps from [lower, 1]
    while the interval is wider than 1 +- SWITCH, classical steps after."""
    return _plan(steps, degree, lower)[0]


@cache
def reach(steps: int, degree: int) -> float:
    """The smallest lower bound l in :data:`GRID` (1, 2 or 5 times a power of ten, from
    :data:`FLOOR` to 1/2) from which ``steps`` designed steps of ``degree`` map all of [l, 1]
    within 1 +- :data:`CONVERGED`; 1/2 if none does (too few steps for any)."""
    def reached(i: int) -> bool:
        return _plan(steps, degree, GRID[i])[1] <= CONVERGED

    if reached(0):
        return GRID[0]
    if not reached(len(GRID) - 1):
        return GRID[-1]
    lo, hi = 0, len(GRID) - 1
    while hi - lo > 1:  # invariant: GRID[lo] is not reached, GRID[hi] is (a wider interval needs more steps)
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if reached(mid) else (mid, hi)
    return GRID[hi]


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
    spectrum of A X0 in [lower, 1]; O(n^3) per step. ``lower`` by default: on a box, half the
    smallest value on its train split; on any other dataset, the widest interval the steps bring
    to rounding level (12 steps of degree 1: 5e-5), as Polar Express designs without spectral
    bounds. Matrices whose spectrum reaches below ``lower`` may not converge: failures, with a reason."""

    test_spec = "minimax-ns[steps=12]"
    flops_formula = "2 (degree + 1) n^3 steps"
    flops_source = (
        "hyperpower step X p(I - A X): A X, degree - 1 Horner products for p, then X p; the coefficients are O(1)"
    )

    def __init__(self, steps: int = 12, degree: int = 1, init: str = "scaled", lower: float | None = None,
                 tol: float = 1e-2, device: str = "auto"):
        super().__init__(steps, init, tol, device)
        self.degree = check_degree(degree)
        if lower is not None and not (isinstance(lower, (int, float)) and not isinstance(lower, bool)
                                      and 0 < lower <= 1):
            raise ValueError(f"lower must be a number in (0, 1], got {lower!r}")
        self.lower = None if lower is None else float(lower)

    def fit(self, data) -> MinimaxNS:
        super().fit(data)
        if self.init == "base":
            self.lower_, self.lower_from_ = None, None
            self.coefs_ = np.ones((self.steps, self.degree + 1))
            return self
        self.lower_, self.lower_from_ = self._lower(data)
        self.coefs_ = design(self.steps, self.degree, self.lower_)
        return self

    def _lower(self, data) -> tuple[float, str]:
        """The lower bound the steps are designed for, and where it comes from (for the reason)."""
        if self.lower is not None:
            return self.lower, "given"
        if data.base is not None and data.source.trainable:
            train = data.draw_train(max(64, min(1024, 2**20 // data.n**3)))
            estimate = SAFETY * float(scaled_spectrum_min(train.A, train.sigma_min).min())
            if estimate > 0:  # 0: a singular training matrix, no bound to design for
                return estimate, "estimated on the box's train split"
        return reach(self.steps, self.degree), f"the widest {self.steps} steps reach"

    def invert(self):
        return hyperpower(self._A, self.start(), self.coefs_.tolist())

    def collect(self, out) -> Inversion:
        result = super().collect(out)
        if result.failed.any() and self.init == "scaled":
            result.reason += (f"; the steps were designed for sigma_min(A)^2 / (||A||_1 ||A||_inf) >= {self.lower_:.2g}"
                              f" ({self.lower_from_}): more steps or a smaller lower=... widen that")
        return result

    def flops(self, n: int) -> float:
        return routines("gemm") * (self.degree + 1) * n**3 * self.steps
