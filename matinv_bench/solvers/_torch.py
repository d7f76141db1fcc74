"""Shared plumbing for solvers whose timed call runs in torch (CPU or CUDA), and the one
mapping from numpy dtypes (and their names) to torch dtypes that every solver uses."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from matinv_bench.errors import SpecError
from matinv_bench.solvers.base import Inversion, Solver

DEVICES = ("auto", "cpu", "cuda")
TORCH_DTYPES = {"float64": torch.float64, "float32": torch.float32}


def torch_dtype(dtype: Any) -> torch.dtype:
    """The torch dtype for a numpy dtype or its name (``np.float32``, ``"float64"``, ...)."""
    name = np.dtype(dtype).name
    if name not in TORCH_DTYPES:
        raise SpecError(f"dtype must be one of {', '.join(TORCH_DTYPES)}, got {name!r}")
    return TORCH_DTYPES[name]


def resolve_device(device: str) -> str:
    """Map ``auto`` to ``cuda`` when available, else ``cpu``; reject CUDA where there is none."""
    if device not in DEVICES and not str(device).startswith("cuda:"):
        raise SpecError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise SpecError(f"device {device!r} requested but torch.cuda.is_available() is False")
    return str(device)


def to_numpy(x) -> np.ndarray:
    """A torch tensor (any device) or array as a numpy array."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


class TorchSolver(Solver):
    """A solver whose ``invert`` runs torch ops on ``self.device``.

    ``prepare`` copies the batch (and any further scratch) onto the device as torch tensors
    (untimed); ``sync`` waits for CUDA so that the clock measures finished work; ``collect``
    brings the result back to numpy.
    """

    library = "torch"

    def __init__(self, device: str = "auto"):
        self.device = resolve_device(device)

    def place(self, x: np.ndarray, dtype: Any = None) -> torch.Tensor:
        """A copy of ``x`` as a torch tensor on the device, in ``dtype`` (default: its own)."""
        x = np.ascontiguousarray(x)
        return torch.tensor(x, dtype=torch_dtype(x.dtype if dtype is None else dtype), device=self.device)

    def sync(self) -> None:
        if self.device.startswith("cuda"):
            torch.cuda.synchronize(self.device)

    def collect(self, out) -> Inversion:
        return super().collect(to_numpy(out))
