"""``torch-inv``: torch.linalg.inv (LU with partial pivoting) on CPU or CUDA."""

from __future__ import annotations

import torch

from matinv_bench.solvers._torch import TorchSolver, to_numpy
from matinv_bench.solvers.base import Inversion, mark_failed, register


@register("torch-inv")
class TorchInv(TorchSolver):
    """torch.linalg.inv_ex, batched; matrices with a zero pivot (info > 0) are failures."""

    family = "direct"

    def invert(self):
        X, self.info_ = torch.linalg.inv_ex(self.A_)
        return X

    def collect(self, out) -> Inversion:
        result = super().collect(out)
        singular = to_numpy(self.info_) != 0
        if singular.any():
            mark_failed(result.X, singular)
            result.failed |= singular
            result.reason = f"singular matrix (zero pivot): {singular.sum()} of {len(singular)} matrices"
        return result

    def flops(self, n: int) -> float:
        return 2.0 * n**3
