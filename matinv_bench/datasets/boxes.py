"""Boxes A0 + eps * T, T uniform in [-1, 1]^{n x n}: the paper's "where can" regions.

The four paper datasets use eps = 0.01 around the paper's base matrices. ``box[base=...,eps=...]``
puts a box of any radius around any named base (see ``BASES``); ``test_scale=c`` draws its test
split from the c times larger box while training stays on the eps box (out of the training box).
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from matinv_bench.datasets.base import DATASETS, Dataset, Sample, box_theta, check_fits, register
from matinv_bench.specs import SpecError, check_int, parse_spec

PAPER_EPS = 0.01
PAPER_16_SEED = 16  # seed of the draw for the 16 x 16 integer base matrix
SPD_BOX_SEED = 2025  # seed of the spd-box base matrices (with n)


def _paper_16x16() -> np.ndarray:
    """A 16 x 16 base with integer entries in {-2..2}, like the paper's (which it did not print).

    Drawn from a fixed seed; draws are repeated until the box of radius 0.01 around the base
    provably holds no singular matrix (theta < 1), which also proves the base non-singular.
    """
    rng = np.random.default_rng(PAPER_16_SEED)
    while True:
        A0 = rng.integers(-2, 3, size=(16, 16)).astype(np.float64)
        smin = np.linalg.svd(A0, compute_uv=False)[-1]
        if 16 * PAPER_EPS < smin:
            return A0


BASES: dict[str, np.ndarray] = {
    "paper-2x2-1st": np.array([[2.0, 2.0], [2.0, 3.0]]),
    "paper-2x2-2nd": np.array([[2.0, 1.0], [0.0, -1.0]]),
    "paper-3x3": np.array([[1.0, 1.0, 1.0], [1.0, 2.0, 3.0], [1.0, 2.0, 4.0]]),
    "paper-16x16": _paper_16x16(),
}


def paper_box(spec: str) -> bool:
    """Whether a dataset spec is one of the paper's boxes: a box around one of its base matrices
    (``paper-2x2-1st``, ``box[base=paper-3x3,eps=0.5]``) or the authors' released data
    (``paper-dir:PATH``). Tables and figures keep the paper's metric, the MAE, there alone."""
    try:
        name = parse_spec(str(spec), DATASETS.prefixes)[0]
    except SpecError:
        return False
    return name in BASES or name in ("box", "paper-dir")


def box_sample(base: np.ndarray, eps: float, rng: np.random.Generator, size: int) -> Sample:
    """``size`` matrices base + eps * T with T uniform in [-1, 1] entrywise."""
    n = base.shape[-1]
    T = rng.uniform(-1.0, 1.0, size=(size, n, n))
    return Sample(base[None] + eps * T, T)


@register("box")
class Box(Dataset):
    """The box ``base + eps * [-1, 1]^{n x n}`` around a named base matrix (see BASES).

    ``test_scale=c`` (default 1): the test split comes from the box of radius c eps, while the
    training split, and all a method knows of the box (A0, ``eps``), stay those of the eps box: a
    network trained on the eps box is tested on the larger (or smaller) one, with inputs
    T = (A - A0) / eps in [-c, c]. ``theta`` is the tested box's, n c eps / sigma_min(A0).
    """

    family = "box"

    def __init__(self, base: str = "paper-2x2-1st", eps: float = PAPER_EPS, test_scale: float = 1.0):
        if base not in BASES:
            raise SpecError(f"unknown base {base!r}; known: {', '.join(BASES)}")
        if not (eps > 0 and np.isfinite(eps)):
            raise SpecError(f"eps must be a positive number, got {eps!r}")
        if not (test_scale > 0 and np.isfinite(test_scale)):
            raise SpecError(f"test_scale must be a positive number, got {test_scale!r}")
        self.base_name = base
        self.base = BASES[base]
        self.eps = float(eps)
        self.test_scale = float(test_scale)
        self.n = self.base.shape[0]

    @property
    def theta(self) -> float:
        """theta of the tested box: n * test_scale * eps / sigma_min(A0)."""
        return box_theta(self.base, self.eps * self.test_scale)

    def sample(self, rng: np.random.Generator, size: int) -> Sample:
        if self.test_scale == 1.0:
            return box_sample(self.base, self.eps, rng, size)
        s = box_sample(self.base, self.eps * self.test_scale, rng, size)
        return Sample(s.A, self.test_scale * s.T)  # T = (A - A0) / eps, in [-c, c]

    def sample_train(self, rng: np.random.Generator, size: int) -> Sample:
        """The training split: always from the eps box, whatever ``test_scale``."""
        return box_sample(self.base, self.eps, rng, size)

    def train_box(self) -> tuple[np.ndarray, float]:
        """(A0, eps): the training split is uniform on ``A0 + eps [-1, 1]^{n x n}`` (training may draw
        it on its device)."""
        return self.base, self.eps


def _paper_box(base_name: str) -> type[Box]:
    class PaperBox(Box):
        __doc__ = f"The paper's box around {base_name}: A0 + 0.01 * T."

        def __init__(self):
            super().__init__(base=base_name, eps=PAPER_EPS)

    PaperBox.__name__ = PaperBox.__qualname__ = "Box_" + base_name.replace("-", "_")
    return register(base_name)(PaperBox)


for _name in BASES:
    _paper_box(_name)


@register("spd-box")
class SPDBox(Dataset):
    """A symmetric box A0 + eps * (T + T^T) / 2 around a seeded SPD base of any size n.

    A0 = Q diag(lambda) Q^T (Haar Q, eigenvalues geometric from 1 down to 1/cond, one fixed
    draw per n). eps = theta * lambda_min / n, so with theta < 1 every matrix of the box is
    SPD and none is singular. One set that every solver accepts: Cholesky (SPD), the
    base-matrix methods (A0 and eps are known) and the networks (their input is the box's T).
    """

    family = "box"

    def __init__(self, n: int = 32, cond: float = 10.0, theta: float = 0.5):
        from matinv_bench.datasets.synthetic import _check_cond

        self.n, self.cond = check_int("n", n, 1), _check_cond(cond)
        if not 0 < theta < 1:
            raise SpecError(f"theta must be in (0, 1) so that the box holds no singular matrix, got {theta!r}")
        self._theta = float(theta)

    @cached_property
    def base(self) -> np.ndarray:
        """The seeded SPD base, drawn on first use so that building the spec stays cheap."""
        from matinv_bench.datasets.synthetic import haar_orthogonal

        check_fits(1, self.n, copies=4)  # Q, its product with lambda, A0 and its transpose
        rng = np.random.default_rng([SPD_BOX_SEED, self.n])  # geometric eigenvalues draw nothing from it
        Q = haar_orthogonal(rng, 1, self.n)
        A0 = ((Q * self._eigenvalues[:, None, :]) @ Q.swapaxes(1, 2))[0]
        return (A0 + A0.T) / 2

    @cached_property
    def _eigenvalues(self) -> np.ndarray:
        from matinv_bench.datasets.synthetic import randsvd_singular_values

        rng = np.random.default_rng([SPD_BOX_SEED, self.n])
        return randsvd_singular_values(self.n, self.cond, 3, rng, 1)

    @property
    def eps(self) -> float:
        return float(self._theta * self._eigenvalues.min() / self.n)

    def sample(self, rng: np.random.Generator, size: int) -> Sample:
        s = box_sample(self.base, self.eps, rng, size)
        T = (s.T + s.T.swapaxes(1, 2)) / 2
        return Sample(self.base[None] + self.eps * T, T)
