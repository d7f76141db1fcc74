"""The architecture of the learned solvers: ReLU MLPs from n^2 inputs to n^2 outputs, their
widths, flop counts and parameter counts."""

from __future__ import annotations

import torch
from torch import nn

from matinv_bench.solvers._torch import TORCH_DTYPES  # noqa: F401  (the one dtype mapping, re-exported)
from matinv_bench.solvers.flops import mlp_count

mlp_flops = mlp_count  # the networks' flops per matrix, under the name the learned modules use


def default_hidden(n: int) -> int:
    """The paper's widths: 8 n^2 (32 for 2x2, 72 for 3x3, 2048 for 16x16)."""
    return 8 * n * n


def build_mlp(n: int, hidden: int, layers: int, dtype: torch.dtype = torch.float64) -> nn.Sequential:
    """n^2 -> hidden -> ... -> n^2 with ``layers`` linear layers and ReLU between them."""
    if layers < 2:
        raise ValueError(f"an MLP here has at least 2 layers, got {layers}")
    widths = [n * n] + [hidden] * (layers - 1) + [n * n]
    mods: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        mods.append(nn.Linear(a, b, dtype=dtype))
        if i < layers - 1:  # a ReLU after every layer but the last
            mods.append(nn.ReLU())
    return nn.Sequential(*mods)


def mlp_param_count(n: int, hidden: int, layers: int) -> int:
    widths = [n * n] + [hidden] * (layers - 1) + [n * n]
    return int(sum(a * b + b for a, b in zip(widths[:-1], widths[1:])))
