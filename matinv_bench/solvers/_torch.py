"""Shared plumbing for solvers whose timed call runs in torch (CPU or CUDA)."""

from __future__ import annotations

import numpy as np
import torch

from matinv_bench.errors import SpecError
from matinv_bench.solvers.base import Inversion, Solver, check_stack

DEVICES = ("auto", "cpu", "cuda")


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

    ``prepare`` copies the batch onto the device (untimed); ``sync`` waits for CUDA so that
    the clock measures finished work; ``collect`` brings the result back to numpy.
    """

    library = "torch"

    def __init__(self, device: str = "auto"):
        self.device = resolve_device(device)

    def prepare(self, A: np.ndarray) -> None:
        self.A_ = torch.from_numpy(check_stack(A).copy()).to(self.device)
        self.sync()

    def sync(self) -> None:
        if self.device.startswith("cuda"):
            torch.cuda.synchronize(self.device)

    def collect(self, out) -> Inversion:
        return super().collect(to_numpy(out))
