"""Random matrices with prescribed singular values, SPD matrices, and wide uniform regions."""

from __future__ import annotations

import numpy as np

from matinv_bench.datasets.base import Dataset, Sample, register
from matinv_bench.specs import SpecError, check_int

MODES = (1, 2, 3, 4, 5)


def haar_orthogonal(rng: np.random.Generator, size: int, n: int) -> np.ndarray:
    """Haar-distributed orthogonal matrices: QR of a Gaussian with R's signs moved into Q (Mezzadri)."""
    Q, R = np.linalg.qr(rng.standard_normal((size, n, n)))
    return Q * np.sign(np.diagonal(R, axis1=1, axis2=2))[:, None, :]


def randsvd_singular_values(n: int, cond: float, mode: int, rng: np.random.Generator, size: int) -> np.ndarray:
    """Singular values in [1/cond, 1] following Higham's randsvd modes (descending, (size, n)).

    1: one small (1, ..., 1, 1/cond); 2: one large (1, 1/cond, ..., 1/cond);
    3: geometric; 4: arithmetic; 5: random with log-uniform distribution.
    """
    if n == 1:
        return np.ones((size, 1))
    i = np.arange(n)
    if mode == 1:
        s = np.where(i == n - 1, 1.0 / cond, 1.0)
    elif mode == 2:
        s = np.where(i == 0, 1.0, 1.0 / cond)
    elif mode == 3:
        s = cond ** (-i / (n - 1))
    elif mode == 4:
        s = 1.0 - (1.0 - 1.0 / cond) * i / (n - 1)
    else:
        s = np.exp(-rng.uniform(0, np.log(cond), size=(size, n)))
        s[:, 0], s[:, -1] = 1.0, 1.0 / cond
        return -np.sort(-s, axis=1)
    return np.broadcast_to(s, (size, n)).copy()


def _check_cond(cond: float) -> float:
    if not (np.isfinite(cond) and cond >= 1):
        raise SpecError(f"cond must be a finite number >= 1, got {cond!r}")
    return float(cond)


@register("randsvd")
class RandSVD(Dataset):
    """U diag(s) V^T with Haar U, V and singular values from 1 down to 1/cond (see ``mode``)."""

    def __init__(self, n: int = 32, cond: float = 1e6, mode: int = 3):
        self.n, self.cond = check_int("n", n, 1), _check_cond(cond)
        if mode not in MODES:
            raise SpecError(f"mode must be one of {MODES}, got {mode!r}")
        self.mode = mode

    def sample(self, rng: np.random.Generator, size: int) -> Sample:
        s = randsvd_singular_values(self.n, self.cond, self.mode, rng, size)
        U = haar_orthogonal(rng, size, self.n)
        V = haar_orthogonal(rng, size, self.n)
        return Sample((U * s[:, None, :]) @ V.swapaxes(1, 2))


@register("spd")
class SPD(Dataset):
    """Q diag(lambda) Q^T with Haar Q and eigenvalues geometric from 1 down to 1/cond.

    Exactly symmetric (symmetrised after the product), so Cholesky applies.
    """

    def __init__(self, n: int = 32, cond: float = 1e3):
        self.n, self.cond = check_int("n", n, 1), _check_cond(cond)

    def sample(self, rng: np.random.Generator, size: int) -> Sample:
        lam = randsvd_singular_values(self.n, self.cond, 3, rng, size)
        Q = haar_orthogonal(rng, size, self.n)
        A = (Q * lam[:, None, :]) @ Q.swapaxes(1, 2)
        return Sample((A + A.swapaxes(1, 2)) / 2)


@register("near-singular")
class NearSingular(Dataset):
    """Matrices at 2-norm distance ``sigma_min`` from the singular set.

    Singular values: n - 1 of them uniform in [0.5, 1], and the smallest equal to sigma_min.
    """

    def __init__(self, n: int = 16, sigma_min: float = 1e-8):
        self.n = check_int("n", n, 1)
        if not (0 < sigma_min < 0.5):
            raise SpecError(f"sigma_min must lie in (0, 0.5), got {sigma_min!r}")
        self.sigma_min = float(sigma_min)

    def sample(self, rng: np.random.Generator, size: int) -> Sample:
        s = rng.uniform(0.5, 1.0, size=(size, self.n))
        s[:, -1] = self.sigma_min
        U = haar_orthogonal(rng, size, self.n)
        V = haar_orthogonal(rng, size, self.n)
        return Sample((U * s[:, None, :]) @ V.swapaxes(1, 2))


@register("uniform")
class Uniform(Dataset):
    """Entries uniform in [low, high]: a wide region that contains singular matrices."""

    family = "region"

    def __init__(self, n: int = 2, low: float = -1.0, high: float = 1.0):
        self.n = check_int("n", n, 1)
        if not (np.isfinite(low) and np.isfinite(high) and low < high and np.isfinite(high - low)):
            raise SpecError(f"need finite low < high with a finite high - low, got low={low!r}, high={high!r}")
        self.low, self.high = float(low), float(high)

    def sample(self, rng: np.random.Generator, size: int) -> Sample:
        return Sample(rng.uniform(self.low, self.high, size=(size, self.n, self.n)))
