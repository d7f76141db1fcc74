"""A solver plugin: Newton-Schulz in numpy (run it with: matinv-bench --plugin my_solver.py run --solver my-solver)."""

import numpy as np

from matinv_bench.solvers import Solver, register


@register("my-solver")  # the name in specs: my-solver, my-solver[steps=60]
class MySolver(Solver):
    """Newton-Schulz iteration X <- X (2I - A X) from X0 = A^T / (||A||_1 ||A||_inf)."""

    family = "iterative"  # one of matinv_bench.solvers.FAMILIES: direct, iterative, approximation, learned

    def __init__(self, steps: int = 40):  # keyword parameters are the spec's parameters
        self.steps = steps

    def skip(self, data):  # a reason skips the dataset (a "skipped" row), None runs it
        if np.max(data.kappa) > 1e4:
            return f"kappa up to {np.max(data.kappa):.1e}: {self.steps} steps converge only below 1e4"
        return None

    def invert(self):  # the one timed call: prepare() left the (B, n, n) batch in self._A
        A = self._A
        X = np.swapaxes(A, 1, 2) / (np.abs(A).sum(1).max(1) * np.abs(A).sum(2).max(1))[:, None, None]
        for _ in range(self.steps):
            X = 2 * X - X @ A @ X
        return X  # collect() turns it into numpy and flags non-finite matrices as failures

    def flops(self, n):  # model flops per matrix (for GFLOP/s and the scaling plots)
        return 4.0 * self.steps * n**3
