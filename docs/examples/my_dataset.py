"""A dataset plugin: random tridiagonal matrices with a dominant diagonal (non-singular by construction)."""

import numpy as np

from matinv_bench.datasets import Dataset, Sample, register
from matinv_bench.specs import check_int


@register("tridiag")  # the name in specs: tridiag, tridiag[n=64,dominance=1.5]
class Tridiagonal(Dataset):
    """Off-diagonals uniform in [-1, 1]; each diagonal entry is +-(dominance x its row's sum + 1)."""

    def __init__(self, n: int = 32, dominance: float = 2.0):  # keyword parameters are the spec's
        self.n = check_int("n", n, 2)  # every dataset sets n; a bad value is a one-line SpecError
        self.dominance = float(dominance)

    def sample(self, rng, size):  # `size` matrices from the seeded generator: the same seed, the same matrices
        i = np.arange(self.n - 1)
        A = np.zeros((size, self.n, self.n))
        A[:, i, i + 1] = rng.uniform(-1, 1, (size, self.n - 1))
        A[:, i + 1, i] = rng.uniform(-1, 1, (size, self.n - 1))
        diag = self.dominance * np.abs(A).sum(axis=2) + 1
        A[:, np.arange(self.n), np.arange(self.n)] = diag * rng.choice([-1.0, 1.0], (size, self.n))
        return Sample(A)
