"""Accuracy metrics, per matrix and aggregated (see DESIGN.md, "Metrics").

Per matrix, for a computed inverse X of A with reference X*:
- ``mae``: mean |X - X*| over entries (the paper's metric); ``max_abs_err``: max |X - X*|;
- ``rel_fro_err``: ||X - X*||_F / ||X*||_F, and ``rel_err_over_kappa_u`` = that / (kappa_2 u);
- ``residual_ratio``: LAPACK's test ratio ||I - X A||_1 / (n ||A||_1 ||X||_1 u) (a backward
  stable inverse scores below 30), and ``residual_ratio_right`` for ||I - A X||_1.

Aggregation over the matrices that did not fail: the worst case (max) for ``max_abs_err`` and
the residual ratios, the mean for the others. ``failure_rate`` is the fraction
that failed (flagged by the solver, or with any non-finite entry). u is the unit roundoff of
the dtype the solver computed in.
"""

from __future__ import annotations

import numpy as np

METRICS = (
    "mae",
    "max_abs_err",
    "rel_fro_err",
    "rel_err_over_kappa_u",
    "residual_ratio",
    "residual_ratio_right",
)

WORST_CASE = ("max_abs_err", "residual_ratio", "residual_ratio_right")


def unit_roundoff(dtype) -> float:
    """u = eps / 2 of a floating dtype."""
    return float(np.finfo(dtype).eps) / 2


def per_matrix(X: np.ndarray, A: np.ndarray, inv_ref: np.ndarray, kappa: np.ndarray, u: float) -> dict[str, np.ndarray]:
    """Every metric for every matrix, as arrays of shape (B,). Inputs are float64 stacks."""
    X = np.asarray(X, dtype=np.float64)
    n = A.shape[-1]
    D = X - inv_ref
    eye = np.eye(n)
    norm1 = lambda M: np.abs(M).sum(axis=1).max(axis=1)  # noqa: E731  (max column sum)
    with np.errstate(all="ignore"):
        rel = np.linalg.norm(D, axis=(1, 2)) / np.linalg.norm(inv_ref, axis=(1, 2))
        denom = n * norm1(A) * norm1(X) * u
        return {
            "mae": np.abs(D).mean(axis=(1, 2)),
            "max_abs_err": np.abs(D).max(axis=(1, 2)),
            "rel_fro_err": rel,
            "rel_err_over_kappa_u": rel / (kappa * u),
            "residual_ratio": norm1(eye - X @ A) / denom,
            "residual_ratio_right": norm1(eye - A @ X) / denom,
        }


def summarize(
    X: np.ndarray, A: np.ndarray, inv_ref: np.ndarray, kappa: np.ndarray, u: float, failed: np.ndarray | None = None,
    references: bool = True,
) -> dict[str, float]:
    """Aggregate metrics for one cell over its non-failed matrices (see the module docstring),
    the failure rate, and NaN for every metric when all matrices failed.

    ``references=False``: the dataset has no reference inverses by design (too large to refine
    within budget, see :func:`matinv_bench.scoring.reference.reference_inverse`): the
    forward-error metrics are NaN and the residual ratios are over the non-failed matrices that
    are not singular (finite ``kappa``)."""
    finite = np.isfinite(X).all(axis=(1, 2))
    solved = finite if failed is None else finite & ~failed
    out: dict[str, float] = {"failure_rate": float(1.0 - solved.mean()) if len(solved) else float("nan")}
    if not references:
        ok = solved & np.isfinite(kappa)
        if not ok.any():
            return {**dict.fromkeys(METRICS, float("nan")), **out}
        per = per_matrix(X[ok], A[ok], np.full_like(A[ok], np.nan), kappa[ok], u)
        return {**dict.fromkeys(METRICS, float("nan")), **out,
                **{name: float(per[name].max()) for name in ("residual_ratio", "residual_ratio_right")}}
    ok = solved & np.isfinite(inv_ref).all(axis=(1, 2))  # singular matrices have no reference
    if not ok.any():
        return {**dict.fromkeys(METRICS, float("nan")), **out}
    per = per_matrix(X[ok], A[ok], inv_ref[ok], kappa[ok], u)
    for name, values in per.items():
        out[name] = float(values.max() if name in WORST_CASE else values.mean())
    return out
