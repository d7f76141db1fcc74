"""``torch-inv``: torch.linalg.inv (LU with partial pivoting, then a solve against the identity:
getrf + getrs, 8/3 n^3 flops) on CPU or CUDA."""

from __future__ import annotations

import numpy as np
import torch
from torch.torch_version import TorchVersion

from matinv_bench.solvers._torch import TorchSolver, to_numpy
from matinv_bench.solvers.base import Inversion, mark_failed, register
from matinv_bench.solvers.flops import routines

CPU_BATCHED_LU_MAX_N = 128  # from this size up, affected CPU batches are inverted one matrix at a time
# The first torch release expected to carry the fix of batched LU (pytorch/pytorch PR #181570,
# not merged when this was written): check it once that release ships, and move this on if the
# fix is not in it.
FIXED_IN = "2.14"


def batched_lu_is_affected(version: str | None = None) -> bool:
    """Whether this torch (or ``version``) has the CPU batched-LU bug: releases before FIXED_IN
    (known affected: up to 2.13).

    torch's CPU batched LU (``apply_lu_factor``) computes a grain size of 0 for matrices larger
    than about 14 x 14, which ``at::parallel_for`` reads as "always parallelise": after
    ``torch.set_num_threads(k >= 2)`` (which the clock's thread pinning calls), several threads
    call MKL's getrf at once, and MKL's DLASWP is not safe under that: "Parameter 6 was
    incorrect on entry to DLASWP", then wrong inverses or "Pivots given to lu_solve must all be
    greater or equal to 1" (pytorch/pytorch issues #142815 and #141358). PR #181570 fixes the
    grain size, which keeps such batches on one thread. With torch 2.13 we saw wrong results
    from n = 160 up (README, "Known problems").
    """
    return TorchVersion(torch.__version__ if version is None else version) < FIXED_IN


@register("torch-inv")
class TorchInv(TorchSolver):
    """torch.linalg.inv_ex, batched (on the CPU with an affected torch, one matrix at a time from
    n = 128 up: see :func:`batched_lu_is_affected`); matrices with a zero pivot (info > 0) are
    failures. ``invert`` returns ``(X, info)``."""

    family = "direct"
    flops_formula = "8/3 n^3"
    flops_source = "getrf + getrs with the n columns of I (torch.linalg.inv_ex solves A X = I); LAWN 41"

    def batch_scratch(self, A: np.ndarray) -> dict:
        # decided here, untimed: the timed call only follows the decision
        one_at_a_time = (self.device == "cpu" and len(A) > 1 and A.shape[-1] >= CPU_BATCHED_LU_MAX_N
                         and batched_lu_is_affected())
        return {"_one_at_a_time": one_at_a_time}

    def invert(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._one_at_a_time:
            pairs = [torch.linalg.inv_ex(a) for a in self._A]
            return torch.stack([x for x, _ in pairs]), torch.stack([i for _, i in pairs])
        X, info = torch.linalg.inv_ex(self._A)
        return X, info

    def collect(self, out) -> Inversion:
        X, info = out
        singular = to_numpy(info) != 0
        result = super().collect(mark_failed(to_numpy(X).copy(), singular))  # a copy: out stays as it was
        if singular.any():
            result.failed |= singular
            result.reason = f"singular matrix (zero pivot): {singular.sum()} of {len(singular)} matrices"
        return result

    def flops(self, n: int) -> float:
        return routines("getrf", "getrs") * n**3
