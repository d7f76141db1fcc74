"""Datasets: seeded generators of matrices, and the MatrixSet they produce.

A :class:`Dataset` describes a distribution (or a fixed collection) of n x n matrices.
:func:`make_dataset` draws a test split (and optionally a train split) from it with a seed,
computes trustworthy reference inverses and per-matrix conditioning, and returns a
:class:`MatrixSet`. The same spec and seed give bit-identical matrices.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from matinv_bench.errors import SpecError, TooLargeError
from matinv_bench.scoring import reference
from matinv_bench.specs import Registry
from matinv_bench.system import available_memory

DEFAULT_TEST_BUDGET = 2**21  # about n_test * n^3 flops worth of matrices by default


@dataclass
class Sample:
    """Matrices drawn from a dataset; ``T`` is the normalised perturbation for boxes."""

    A: np.ndarray
    T: np.ndarray | None = None


class Dataset(ABC):
    """A named matrix distribution. Subclasses implement :meth:`sample` and set ``family``.

    Attributes: ``n`` (matrix size), ``base`` (A0) and ``eps`` for boxes (else None),
    ``fixed`` (a fixed collection that ignores sizes and seeds, such as a file).
    The registry sets ``spec`` and ``params``.
    """

    name: ClassVar[str] = "?"
    family: ClassVar[str] = "random"
    fixed: ClassVar[bool] = False
    n: int
    base: np.ndarray | None = None
    eps: float | None = None

    @abstractmethod
    def sample(self, rng: np.random.Generator, size: int) -> Sample:
        """Draw ``size`` matrices (ignored by fixed collections, which return all of theirs)."""

    @property
    def trainable(self) -> bool:
        """Whether :meth:`sample_train` can draw training matrices (fixed collections cannot)."""
        return not self.fixed

    def sample_train(self, rng: np.random.Generator, size: int) -> Sample:
        """Draw a training split; by default from the same distribution as :meth:`sample`."""
        if not self.trainable:
            raise SpecError(f"dataset {self.spec!r} is a fixed collection with no training distribution")
        return self.sample(rng, size)

    def exact_inverse(self, A: np.ndarray) -> tuple[np.ndarray, str] | None:
        """An exact (then rounded) inverse of the stored matrices, where one is known."""
        return None

    def default_size(self) -> int:
        """Default test-split size: many small matrices, few large ones."""
        return int(min(1000, max(8, DEFAULT_TEST_BUDGET // self.n**3)))

    @property
    def theta(self) -> float | None:
        """n * eps / sigma_min(A0): below 1, the box holds no singular matrix."""
        if self.base is None or self.eps is None:
            return None
        return box_theta(self.base, self.eps)


def box_theta(base: np.ndarray, eps: float) -> float:
    """theta = n * eps / sigma_min(A0) for the box A0 + eps * [-1, 1]^{n x n}.

    Any E with |E_ij| <= eps has ||E||_2 <= ||E||_F <= n * eps, so theta < 1 means every
    matrix of the box keeps sigma_min > 0 (Weyl's inequality).
    """
    n = base.shape[-1]
    smin = np.linalg.svd(np.asarray(base, dtype=np.float64), compute_uv=False)[-1]
    return float(np.inf if smin == 0 else n * eps / smin)


@dataclass
class MatrixSet:
    """A batch of matrices with reference inverses and the metadata metrics need.

    ``A`` and ``inv_ref`` are float64 (B, n, n). ``kappa`` and ``sigma_min`` are per matrix.
    ``base``/``eps``/``theta`` describe a box (None otherwise); ``T`` is the normalised
    perturbation (A - base) / eps, the input the paper's networks see. ``train`` is the
    training split (its references are plain LAPACK: targets, not scores).
    """

    spec: str
    A: np.ndarray
    inv_ref: np.ndarray
    kappa: np.ndarray
    sigma_min: np.ndarray
    ref_method: str
    seed: int
    source: Dataset
    T: np.ndarray | None = None
    train: MatrixSet | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return self.A.shape[-1]

    @property
    def base(self) -> np.ndarray | None:
        return self.source.base

    @property
    def eps(self) -> float | None:
        return self.source.eps

    @property
    def theta(self) -> float | None:
        return self.source.theta

    def __len__(self) -> int:
        return len(self.A)

    def draw_train(self, size: int) -> MatrixSet:
        """A training split of ``size`` matrices from the dataset's distribution.

        Independent of the test split (its own seeded stream), the same for the same seed.
        Its reference inverses are plain float64 LAPACK: they are targets, not scores.
        """
        ds = self.source
        check_fits(size, ds.n)
        return _matrix_set(ds, ds.sample_train(split_rng(self.seed, "train"), int(size)), self.seed, "lapack")


DATASETS: Registry[Dataset] = Registry("dataset", prefixes=("npy", "paper-dir"), plugins="matinv_bench.datasets")
register = DATASETS.register


def split_rng(seed: int, split: str) -> np.random.Generator:
    """Independent, reproducible streams for the test and train splits of one seed."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), {"test": 0, "train": 1}[split]]))


def _matrix_set(ds: Dataset, s: Sample, seed: int, ref: str) -> MatrixSet:
    A = np.ascontiguousarray(s.A, dtype=np.float64)
    sv = reference.singular_values(A)
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = np.where(sv[:, -1] > 0, sv[:, 0] / sv[:, -1], np.inf)
    exact = ds.exact_inverse(A) if ref == "auto" else None
    if exact is not None:
        inv_ref, method = exact
    else:
        inv_ref, method = reference.reference_inverse(A, kappa, ref)
    return MatrixSet(ds.spec, A, inv_ref, kappa, sv[:, -1], method, seed, ds, s.T)


def make_dataset(
    spec: str | Dataset, n_train: int = 0, n_test: int | None = None, seed: int = 0, ref: str = "auto"
) -> MatrixSet:
    """Draw the test split (and a train split of ``n_train`` matrices) of a dataset spec.

    Fixed collections (files, Pascal, Hilbert) have no training distribution: ``train`` is None.
    ``n_test=None`` uses the dataset's default size. ``ref`` chooses how reference inverses
    are computed (see :func:`matinv_bench.scoring.reference.reference_inverse`); training targets
    always use plain float64 LAPACK.
    """
    ds = DATASETS.build(spec) if isinstance(spec, str) else spec
    size = ds.default_size() if n_test is None else int(n_test)
    if size < 1 and not ds.fixed:
        raise SpecError(f"n_test must be at least 1, got {size}")
    check_fits(size, ds.n)
    test = _matrix_set(ds, ds.sample(split_rng(seed, "test"), size), seed, ref)
    if n_train and ds.trainable:
        test.train = test.draw_train(n_train)
    return test


def check_fits(size: int, n: int, copies: int = 8, itemsize: int = 8) -> None:
    """Raise :class:`TooLargeError` if ``size`` n x n matrices (times the working copies that
    generation, references and metrics hold at once) exceed the available memory."""
    need = int(size) * int(n) ** 2 * itemsize * copies
    have = available_memory()
    if need > have:
        raise TooLargeError(
            f"{size} matrices of size {n} x {n} need about {need / 2**30:.1f} GiB "
            f"({need} bytes); only {have / 2**30:.1f} GiB is available"
        )
