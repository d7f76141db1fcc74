"""What a ReLU MLP computes: activation regions, their affine maps, and exact deviation bounds.

A ReLU net is affine on each activation region (the set of inputs with one on/off pattern of its
hidden units). This module

- takes a trained ``nn.Sequential`` of Linear/ReLU layers apart into float64 ``(W, b)`` pairs;
- counts the activation patterns over sampled inputs (:func:`census`);
- gives each region's affine map y = J x + c (:func:`region_map`) to compare with the first-order
  (linear) approximation of the inverse on a box (:func:`linear_approx_map`);
- bounds max |f(x) - lin(x)| over a box exactly: per region with a linear program
  (:func:`region_lp_bound`, HiGHS via ``scipy.optimize.linprog``), or over all regions at once
  with a mixed-integer program (:func:`milp_bound`, ``scipy.optimize.milp``), for nets too wide
  to enumerate;
- bounds the linear approximation's own distance to the true inverse (:func:`taylor_remainder_bound`),
  so that LP bound + remainder bounds |f(A) - inv(A)| on the whole box.

Inputs x are the network's inputs (for the paper's boxes: T = (A - A0) / eps, in [-1, 1]^{n^2}),
outputs are the flattened inverse (row-major).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

Layer = tuple[np.ndarray, np.ndarray]  # (W of shape (out, in), b of shape (out,)), float64


def relu_layers(model) -> list[Layer]:
    """The ``(W, b)`` pairs of an ``nn.Sequential`` alternating Linear and ReLU, ending in Linear.

    Raises ValueError for any other architecture (the analysis is exact only for this form).
    """
    from torch import nn

    mods = list(model)
    kinds = ["linear" if isinstance(m, nn.Linear) else "relu" if isinstance(m, nn.ReLU) else type(m).__name__
             for m in mods]
    expected = ["linear", "relu"] * (len(mods) // 2) + ["linear"]
    if kinds != expected:
        raise ValueError(f"expected Linear, ReLU, ..., Linear layers, got {', '.join(kinds)}")
    return [(m.weight.detach().cpu().double().numpy().copy(), m.bias.detach().cpu().double().numpy().copy())
            for m in mods if isinstance(m, nn.Linear)]


def forward(layers: list[Layer], X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Outputs (B, n_out) and activation patterns (B, n_hidden) bool (hidden layers concatenated)."""
    h = np.asarray(X, dtype=np.float64)
    on = []
    for W, b in layers[:-1]:
        z = h @ W.T + b
        on.append(z > 0)
        h = np.maximum(z, 0.0)
    W, b = layers[-1]
    return h @ W.T + b, np.concatenate(on, axis=1) if on else np.zeros((len(h), 0), bool)


def pattern_key(p: np.ndarray) -> str:
    """A pattern as a string of 0/1, hidden layers separated by nothing (unit order)."""
    return "".join("1" if v else "0" for v in p)


def census(layers: list[Layer], X: np.ndarray, chunk: int = 200_000) -> pd.DataFrame:
    """Activation patterns over the inputs X: columns ``pattern``, ``count``, ``fraction``,
    most frequent first (ties broken by pattern, so the order is deterministic)."""
    counts: dict[bytes, int] = {}
    n_hidden = sum(W.shape[0] for W, _ in layers[:-1])
    for s in range(0, len(X), chunk):
        _, on = forward(layers, X[s:s + chunk])
        packed = np.packbits(on, axis=1)
        uniq, cnt = np.unique(packed, axis=0, return_counts=True)
        for u, c in zip(uniq, cnt):
            counts[u.tobytes()] = counts.get(u.tobytes(), 0) + int(c)
    rows = []
    for key, c in counts.items():
        bits = np.unpackbits(np.frombuffer(key, np.uint8))[:n_hidden].astype(bool)
        rows.append({"pattern": pattern_key(bits), "count": c})
    df = pd.DataFrame(rows, columns=["pattern", "count"])
    df["fraction"] = df["count"] / len(X)
    return df.sort_values(["count", "pattern"], ascending=[False, True], ignore_index=True)


def parse_pattern(pattern: str | np.ndarray) -> np.ndarray:
    if isinstance(pattern, str):
        if set(pattern) - {"0", "1"}:
            raise ValueError(f"a pattern is a string of 0 and 1, got {pattern!r}")
        return np.array([c == "1" for c in pattern])
    return np.asarray(pattern, dtype=bool)


@dataclass
class RegionMap:
    """On the region of one pattern: outputs J x + c; hidden pre-activations G x + g.

    The region is {x : (G x + g)_i >= 0 where the unit is on, <= 0 where it is off}.
    """

    J: np.ndarray
    c: np.ndarray
    G: np.ndarray
    g: np.ndarray
    on: np.ndarray


def region_map(layers: list[Layer], pattern: str | np.ndarray) -> RegionMap:
    """The affine map of the net and of its hidden pre-activations on one activation region."""
    on = parse_pattern(pattern)
    n_hidden = sum(W.shape[0] for W, _ in layers[:-1])
    if on.shape != (n_hidden,):
        raise ValueError(f"pattern has {on.size} units, the net has {n_hidden} hidden units")
    n_in = layers[0][0].shape[1]
    M, m = np.eye(n_in), np.zeros(n_in)  # the current layer's input as M x + m
    Gs, gs, start = [], [], 0
    for W, b in layers[:-1]:
        Z, z = W @ M, W @ m + b
        Gs.append(Z)
        gs.append(z)
        mask = on[start:start + W.shape[0]].astype(np.float64)
        M, m = Z * mask[:, None], z * mask
        start += W.shape[0]
    W, b = layers[-1]
    G = np.vstack(Gs) if Gs else np.zeros((0, n_in))
    g = np.concatenate(gs) if gs else np.zeros(0)
    return RegionMap(W @ M, W @ m + b, G, g, on)


def linear_approx_map(A0: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """The first-order approximation inv(A0) - inv(A0) (eps T) inv(A0) as J vec(T) + c.

    Row-major vec: vec(P T Q) = (P kron Q^T) vec(T), so J = -eps * kron(inv(A0), inv(A0)^T).
    """
    P = np.linalg.inv(np.asarray(A0, dtype=np.float64))
    return -eps * np.kron(P, P.T), P.reshape(-1)


def taylor_remainder_bound(A0: np.ndarray, eps: float) -> float:
    """Bound on max |inv(A) - lin(A)| (entrywise) over the box A0 + eps [-1, 1]^{n x n}.

    inv(A0 + E) - lin = sum_{k>=2} (-inv(A0) E)^k inv(A0), so with s = sigma_min(A0) and
    theta = n eps / s >= ||E||_2 / s its 2-norm (and every entry) is at most theta^2 / ((1 - theta) s).
    Infinite when theta >= 1 (the box may hold a singular matrix).
    """
    A0 = np.asarray(A0, dtype=np.float64)
    s = np.linalg.svd(A0, compute_uv=False)[-1]
    theta = A0.shape[0] * eps / s
    return float(np.inf) if theta >= 1 else float(theta**2 / ((1 - theta) * s))


def _lp(cost: np.ndarray, A_ub: np.ndarray, b_ub: np.ndarray, lo: float, hi: float):
    return linprog(cost, A_ub=A_ub if len(A_ub) else None, b_ub=b_ub if len(b_ub) else None,
                   bounds=[(lo, hi)] * len(cost), method="highs")


def region_lp_bound(layers: list[Layer], pattern: str | np.ndarray, J_ref: np.ndarray, c_ref: np.ndarray,
                    lo: float = -1.0, hi: float = 1.0) -> np.ndarray | None:
    """Per output k: max over the region (within the box [lo, hi]^d) of |(f(x) - (J_ref x + c_ref))_k|.

    Two LPs per output (max and min of the affine difference); None if the region does not meet
    the box. Raises RuntimeError if HiGHS reports anything but optimal or infeasible.
    """
    R = region_map(layers, pattern)
    sign = np.where(R.on, -1.0, 1.0)  # on: -(Gx+g) <= 0 ; off: (Gx+g) <= 0
    A_ub, b_ub = sign[:, None] * R.G, -sign * R.g
    D, d = R.J - J_ref, R.c - c_ref
    feas = _lp(np.zeros(D.shape[1]), A_ub, b_ub, lo, hi)
    if feas.status == 2:
        return None
    out = np.empty(len(D))
    for k in range(len(D)):
        hi_k, lo_k = _lp(-D[k], A_ub, b_ub, lo, hi), _lp(D[k], A_ub, b_ub, lo, hi)
        for res in (hi_k, lo_k):
            if res.status != 0:
                raise RuntimeError(f"linprog failed on region {pattern_key(R.on)}, output {k}: {res.message}")
        out[k] = max(abs(-hi_k.fun + d[k]), abs(lo_k.fun + d[k]))
    return out


def interval_bounds(layers: list[Layer], lo: float, hi: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """Pre-activation bounds (L, U) of every hidden layer over the box, by interval arithmetic."""
    d = layers[0][0].shape[1]
    c, r = np.full(d, (lo + hi) / 2), np.full(d, (hi - lo) / 2)
    out = []
    for W, b in layers[:-1]:
        zc, zr = W @ c + b, np.abs(W) @ r
        L, U = zc - zr, zc + zr
        out.append((L, U))
        hl, hu = np.maximum(L, 0), np.maximum(U, 0)
        c, r = (hl + hu) / 2, (hu - hl) / 2
    return out


def milp_bound(layers: list[Layer], J_ref: np.ndarray, c_ref: np.ndarray, lo: float = -1.0, hi: float = 1.0,
               time_limit: float = 60.0) -> np.ndarray:
    """Per output k: max over the box [lo, hi]^d of |(f(x) - (J_ref x + c_ref))_k|, over all regions.

    Exact big-M MILP (one binary per unstable hidden unit, bounds from interval arithmetic):
    variables are x, then per hidden layer its post-activations h and on/off indicators delta.
    Raises RuntimeError if HiGHS does not prove optimality within ``time_limit`` seconds.
    """
    d = layers[0][0].shape[1]
    bounds = interval_bounds(layers, lo, hi)
    sizes = [W.shape[0] for W, _ in layers[:-1]]
    n_var = d + 2 * sum(sizes)
    lb, ub = np.full(n_var, float(lo)), np.full(n_var, float(hi))
    integrality = np.zeros(n_var)
    rows, row_lo, row_hi = [], [], []
    prev, start = slice(0, d), d
    for (W, b), (L, U), m in zip(layers[:-1], bounds, sizes):
        h, dl = slice(start, start + m), slice(start + m, start + 2 * m)
        lb[h], ub[h] = 0.0, np.maximum(U, 0.0)
        lb[dl], ub[dl], integrality[dl] = 0.0, 1.0, 1
        # stable units: fix the indicator (a unit with L = U = 0, e.g. a dead one, is off: h = z = 0)
        lb[dl] = np.where((L >= 0) & (U > 0), 1.0, 0.0)
        ub[dl] = np.where(U <= 0, 0.0, 1.0)
        for i in range(m):
            z = np.zeros(n_var)
            z[prev] = W[i]
            hi_row = z.copy()
            hi_row[h.start + i] = -1.0  # z - h <= -b  (h >= z)
            rows.append(hi_row)
            row_lo.append(-np.inf)
            row_hi.append(-b[i])
            r2 = -z
            r2[h.start + i] = 1.0
            r2[dl.start + i] = -L[i]  # h - z - L delta <= b - L  (h <= z - L (1 - delta))
            rows.append(r2)
            row_lo.append(-np.inf)
            row_hi.append(b[i] - L[i])
            r3 = np.zeros(n_var)
            r3[h.start + i] = 1.0
            r3[dl.start + i] = -max(U[i], 0.0)  # h <= U delta
            rows.append(r3)
            row_lo.append(-np.inf)
            row_hi.append(0.0)
        prev, start = h, start + 2 * m
    cons = LinearConstraint(np.array(rows), np.array(row_lo), np.array(row_hi)) if rows else []
    W, b = layers[-1]
    out = np.empty(W.shape[0])
    for k in range(W.shape[0]):
        obj = np.zeros(n_var)
        obj[prev] = W[k]
        obj[:d] -= J_ref[k]
        const = b[k] - c_ref[k]
        vals = []
        for sgn in (-1.0, 1.0):  # maximise, then minimise
            res = milp(sgn * obj, constraints=cons, integrality=integrality, bounds=Bounds(lb, ub),
                       options={"time_limit": time_limit})
            if res.status != 0:
                raise RuntimeError(f"milp did not prove optimality for output {k}: {res.message}")
            vals.append(sgn * res.fun + const)
        out[k] = max(abs(vals[0]), abs(vals[1]))
    return out
