"""``torch-inv``: torch.linalg.inv (LU with partial pivoting) on CPU or CUDA."""

from __future__ import annotations

import torch

from matinv_bench.solvers._torch import TorchSolver, to_numpy
from matinv_bench.solvers.base import Inversion, mark_failed, register

CPU_BATCHED_LU_MAX_N = 128  # from this size up, CPU batches are inverted one matrix at a time


@register("torch-inv")
class TorchInv(TorchSolver):
    """torch.linalg.inv_ex, batched (on the CPU, one matrix at a time from n = 128 up, to avoid a
    torch bug); matrices with a zero pivot (info > 0) are failures."""

    family = "direct"

    def invert(self):
        A = self.A_
        if A.device.type == "cpu" and len(A) > 1 and A.shape[-1] >= CPU_BATCHED_LU_MAX_N:
            # torch 2.13's CPU build (MKL): once torch.set_num_threads(k >= 2) has been called, as
            # the clock's thread pinning does, batched LU inverses of n >= 160 come back wrong or
            # raise "Pivots given to lu_solve must all be greater or equal to 1"; one matrix at a
            # time is right. See the README, "Known problems".
            pairs = [torch.linalg.inv_ex(a) for a in A]
            X, self.info_ = torch.stack([x for x, _ in pairs]), torch.stack([i for _, i in pairs])
            return X
        X, self.info_ = torch.linalg.inv_ex(A)
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
