"""Moments of the error near a singular matrix: an empirical check of the paper's Theorem 3.2.

We estimate M_K(r) = E ||inv(A) - F(A)||_F^K for A uniform in the Frobenius ball B(A_s, r)
around a rank n-1 matrix A_s, for any approximation F (a trained network, LU, zero).

Plain Monte Carlo cannot show a divergence: it always returns a finite number, dominated by
the few draws that happen to land closest to the singular set. So we stratify on the distance to
the singular set. With u, v the left and right null vectors of A_s, write
A = A_s + r (W + t e), where e = vec(u v^T) is a unit direction, W is orthogonal to it and
(W, t) is uniform in the unit ball of R^{n^2}. Along the line t -> A, det(A) is affine in t
(a rank-one update), so each line meets the singular set in exactly one point t*(W), and
sigma_min(A) is proportional to |t - t*| near it. Given W, t is uniform on the chord
|t| <= sqrt(1 - |W|^2). We cut |t - t*| into strata [0, t_min], [t_min, ...], ..., [.., 2]
(geometric), compute each stratum's conditional probability P_j(W) exactly (a length on the
chord) and draw t uniformly inside it. Then E h = sum_j E_W[P_j(W) h(W, t_j)], each term
estimated without bias from the same draws of W.

A stratum's contribution, plotted against its range of |t - t*|, shows what the integral does
near the singular set: contributions that shrink geometrically mean a finite moment, contributions
that stay level or grow mean a divergent one, independently of sampling noise. Replicates with
independent seeds give the estimator's spread.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from matinv_bench.scoring import reference


def null_vectors(A_s: np.ndarray, rtol: float = 1e-12) -> tuple[np.ndarray, np.ndarray]:
    """Unit left and right null vectors (u, v) of a rank n-1 matrix; ValueError for any other rank."""
    A_s = np.asarray(A_s, dtype=np.float64)
    if A_s.ndim != 2 or A_s.shape[0] != A_s.shape[1]:
        raise ValueError(f"A_s must be a square matrix, got shape {A_s.shape}")
    U, s, Vt = np.linalg.svd(A_s)
    n = len(s)
    scale = max(s[0], 1.0)
    if s[-1] > rtol * scale or (n > 1 and s[-2] <= rtol * scale):
        raise ValueError(f"A_s must have rank n-1 = {n - 1}; its singular values are {s}")
    return U[:, -1], Vt[-1]


def strata_edges(t_min: float = 1e-8, per_decade: int = 1) -> np.ndarray:
    """Edges of the |t - t*| strata: 0, then geometric from t_min up to 2 (a chord's length)."""
    if not (0 < t_min < 1) or per_decade < 1:
        raise ValueError(f"need 0 < t_min < 1 and per_decade >= 1, got {t_min}, {per_decade}")
    k = int(np.ceil(-np.log10(t_min) * per_decade))
    return np.concatenate([[0.0], np.logspace(np.log10(t_min), 0.0, k + 1), [2.0]])


def orthonormal_basis(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """A (d, d) orthonormal basis of R^{n^2} whose first column is e = vec(u v^T)."""
    e = np.outer(u, v).ravel()
    d = e.size
    Q, _ = np.linalg.qr(np.column_stack([e, np.eye(d)]))
    Q = Q[:, :d]
    return Q * np.sign(Q[:, 0] @ e)  # keep the first column +e (QR may flip its sign)


def uniform_ball(rng: np.random.Generator, size: int, d: int) -> np.ndarray:
    """``size`` points uniform in the unit ball of R^d."""
    g = rng.standard_normal((size, d))
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    return g * rng.uniform(0, 1, (size, 1)) ** (1 / d)


def _pieces(t_star: np.ndarray, half: np.ndarray, lo: float, hi: float) -> tuple[np.ndarray, ...]:
    """The two intervals {lo <= |t - t*| <= hi} cut to the chord [-half, half]: (a1, b1, a2, b2)."""
    a1, b1 = np.maximum(t_star + lo, -half), np.minimum(t_star + hi, half)
    a2, b2 = np.maximum(t_star - hi, -half), np.minimum(t_star - lo, half)
    return a1, np.maximum(b1, a1), a2, np.maximum(b2, a2)


def stratified_means(h: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray], basis: np.ndarray,
                     t_star: Callable[[np.ndarray], np.ndarray], edges: np.ndarray, size: int,
                     rng: np.random.Generator) -> pd.DataFrame:
    """Stratified estimate of E h(Z, t, t - t*) for Z uniform in the unit ball of R^d (as vectors),
    t = Z . basis[:, 0] and t*(W) the singular point of the line through W along basis[:, 0].

    ``size`` draws of W are shared by all strata. One row per (stratum, column ``k`` of h):
    ``p`` (the stratum's probability), ``contribution`` (its share of E h) and ``stderr`` (its
    standard error). The estimate of E h is ``contribution.sum()`` over the strata.
    """
    d = basis.shape[0]
    Z0 = uniform_ball(rng, size, d)
    W = Z0 - np.outer(Z0 @ basis[:, 0], basis[:, 0])
    half = np.sqrt(np.clip(1 - (W * W).sum(axis=1), 0, None))
    ts = np.asarray(t_star(W), dtype=np.float64)
    rows, m = [], 1
    for j, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
        a1, b1, a2, b2 = _pieces(ts, half, lo, hi)
        L1, L2 = b1 - a1, b2 - a2
        P = (L1 + L2) / (2 * half)
        live = P > 0
        vals = None
        if live.any():
            pick1 = rng.uniform(0, 1, size) * (L1 + L2) < L1
            t = np.where(pick1, a1 + L1 * rng.uniform(0, 1, size), a2 + L2 * rng.uniform(0, 1, size))
            Z = W[live] + np.outer(t[live], basis[:, 0])
            v = np.asarray(h(Z, t[live], t[live] - ts[live]), dtype=np.float64)
            vals = np.zeros((size,) + v.shape[1:])
            vals[live] = v * P[live].reshape((-1,) + (1,) * (v.ndim - 1))
        if vals is not None:  # a stratum no line reaches keeps the previous column count
            vals = vals.reshape(size, -1)
            m = vals.shape[1]
        vals = np.zeros((size, m)) if vals is None else vals
        contrib, sem = vals.mean(axis=0), vals.std(axis=0, ddof=1) / np.sqrt(size)
        for k in range(m):
            rows.append({"stratum": j, "t_lo": lo, "t_hi": hi, "p": float(P.mean()), "k": k,
                         "contribution": contrib[k], "stderr": sem[k]})
    return pd.DataFrame(rows)


def singular_point(A_s: np.ndarray, r: float, basis: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """t*(W): where the line A_s + r (W + t e) meets the singular set (det is affine in t)."""
    n = A_s.shape[0]
    E = basis[:, 0].reshape(n, n)

    def t_star(W: np.ndarray) -> np.ndarray:
        M = A_s + r * W.reshape(-1, n, n)
        alpha = np.linalg.det(M)
        beta = np.linalg.det(M + r * E) - alpha
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(beta != 0, -alpha / beta, np.inf)

    return t_star


def error_moments(A_s: np.ndarray, F: Callable[[np.ndarray], np.ndarray], radii: list[float], Ks: list[float],
                  t_min: float = 1e-8, per_decade: int = 1, size: int = 1000, replicates: int = 5,
                  seed: int = 0) -> pd.DataFrame:
    """Stratified estimates of E ||inv(A) - F(A)||_F^K over the Frobenius ball B(A_s, r).

    ``F`` maps a (B, n, n) stack to approximate inverses. inv(A) is the package's trustworthy
    reference inverse (refined or mpmath), so the error is F's, not rounding's.
    One row per (r, K, replicate, stratum of |t - t*|): ``t_lo``, ``t_hi``, ``p``,
    ``contribution``, ``stderr`` and ``sigma_min_median`` (median sigma_min of the stratum's matrices,
    which shows that the strata are strata of the distance to the singular set).
    """
    A_s = np.asarray(A_s, dtype=np.float64)
    n = A_s.shape[0]
    basis = orthonormal_basis(*null_vectors(A_s))
    edges = strata_edges(t_min, per_decade)
    Ks = [float(K) for K in Ks]
    frames = []
    for i, r in enumerate(radii):
        for rep in range(replicates):
            rng = np.random.default_rng(np.random.SeedSequence([seed, i, rep]))
            smin: dict[int, float] = {}

            def h(Z: np.ndarray, t: np.ndarray, dt: np.ndarray) -> np.ndarray:
                A = A_s + r * Z.reshape(-1, n, n)
                sv = reference.singular_values(A)
                j = int(np.searchsorted(edges, np.median(np.abs(dt)), side="right")) - 1
                smin[j] = float(np.median(sv[:, -1]))
                with np.errstate(divide="ignore"):
                    inv, _ = reference.reference_inverse(A, sv[:, 0] / sv[:, -1])
                err = np.linalg.norm(inv - F(A), axis=(1, 2))
                return np.stack([err**K for K in Ks], axis=1)

            df = stratified_means(h, basis, singular_point(A_s, r, basis), edges, size, rng)
            df["K"] = [Ks[k] for k in df["k"]]
            df["sigma_min_median"] = [smin.get(j, np.nan) for j in df["stratum"]]
            df["r"], df["replicate"] = r, rep
            frames.append(df.drop(columns="k"))
    return pd.concat(frames, ignore_index=True)


def summarize_moments(df: pd.DataFrame) -> pd.DataFrame:
    """Per (r, K): the stratified estimate over all strata (median, min and max over replicates),
    the same without the innermost stratum [0, t_min], and the innermost stratum's share.

    A moment that converges has replicates that agree and a tiny innermost share; a divergent one
    has an innermost stratum that dominates, and replicates that disagree."""
    per = df.groupby(["r", "K", "replicate"]).apply(
        lambda g: pd.Series({"estimate": g["contribution"].sum(),
                             "without_innermost": g.loc[g["stratum"] > 0, "contribution"].sum()}),
        include_groups=False).reset_index()
    per["innermost_share"] = 1 - per["without_innermost"] / per["estimate"]
    out = per.groupby(["r", "K"]).agg(
        estimate_median=("estimate", "median"), estimate_min=("estimate", "min"), estimate_max=("estimate", "max"),
        without_innermost=("without_innermost", "median"), innermost_share=("innermost_share", "median"),
        replicates=("estimate", "size")).reset_index()
    out["spread"] = (out["estimate_max"] - out["estimate_min"]) / out["estimate_median"]
    return out
