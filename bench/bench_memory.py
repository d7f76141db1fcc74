"""peakmem_* and a weight count: where memory is the point, the paper's networks against n.

A 2-FC network of width 8 n^2 holds about 16 n^4 weights (O(n^4), against the n^2 of the
matrix it inverts). ``peakmem_*`` is asv's peak resident size of the benchmark process
(imports and setup included, so the small sizes share one floor); ``track_weight_bytes`` is
the exact size of the weights.
"""

from __future__ import annotations

from ._cells import Pinned, build, ready, timing_data
from .names import MEMORY_BATCH, MEMORY_N, MEMORY_SOLVER


class MLPMemory(Pinned):
    """Build a seeded network of width 8 n^2 for n x n matrices and run one forward pass."""

    params = (list(MEMORY_N),)
    param_names = ("n",)

    def setup(self, n):
        self._pin()
        self.data = timing_data(f"randsvd[n={n},cond=10]", MEMORY_BATCH)

    def peakmem_fit_and_forward(self, n):
        ready(build(MEMORY_SOLVER), self.data, "float64").invert()

    def track_weight_bytes(self, n):
        model = build(MEMORY_SOLVER).fit(self.data).model_
        return sum(p.numel() * p.element_size() for p in model.parameters())

    track_weight_bytes.unit = "bytes"
