"""The training sets of networks, drawn from a dataset's train stream.

A training set is ``train_size`` matrices of the dataset's train split
(``split_rng(data.seed, "train")``, independent of the test split), drawn in chunks, with their
float64 LAPACK inverses as targets, kept on the training device: batches are sliced from it (no
DataLoader). On the host, numpy draws them; on a device type in :data:`DEVICE_DRAWS`, a box is
drawn on the device itself by torch's generator (:func:`training_set`). :class:`TrainingSets`
holds the sets of a stack of networks trained together, each from its own stream.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from matinv_bench.datasets.base import split_rng
from matinv_bench.solvers.learned.recipes import Recipe
from matinv_bench.solvers.learned.standardization import scalings
from matinv_bench.solvers.learned.trainee import Trainee

CHUNK = 1 << 16  # matrices drawn per call when building a training set

# devices whose training sets of a box are drawn on the device itself (torch's generator) rather than
# by numpy on the host; the CPU draws with numpy, so CPU training is what it always was
DEVICE_DRAWS = ("cuda",)


def draws_on_device(data, device: str) -> bool:
    """Whether :func:`training_set` draws ``data``'s training matrices on ``device`` (a box on a
    device type in :data:`DEVICE_DRAWS`) instead of with numpy on the host."""
    return torch.device(device).type in DEVICE_DRAWS and hasattr(data.source, "train_box")


def draws_label(data, device: str) -> str:
    """``train_draws``: where :func:`training_set` draws ``data``'s matrices, ``device`` or ``host``."""
    return "device" if draws_on_device(data, device) else "host"


def training_set(net: Trainee, data, size: int, device: str, dtype: torch.dtype,
                 rng: np.random.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Features and flattened float64 inverses of ``size`` train-split matrices, on the device.

    ``rng`` continues a train stream (for fresh draws); by default the stream starts anew. On the
    host (numpy), the matrices come from the dataset's ``sample_train`` and the inverses from
    LAPACK. Where :func:`draws_on_device`, the box ``A0 + eps [-1, 1]^{n x n}`` is drawn on the
    device by torch's generator, seeded by one number from ``rng`` (so the stream still fixes
    every set), and inverted there in float64: no host work and no copy per fresh epoch. The two
    draws follow the same distribution, not the same numbers.
    """
    rng = split_rng(data.seed, "train") if rng is None else rng
    n2 = data.n * data.n
    X = torch.empty(size, n2, dtype=dtype, device=device)
    Y = torch.empty(size, n2, dtype=dtype, device=device)
    if draws_on_device(data, device):
        base, eps = data.source.train_box()
        A0 = torch.as_tensor(base, dtype=torch.float64, device=device)
        gen = torch.Generator(device=device).manual_seed(int(rng.integers(2**63 - 1)))
        for start in range(0, size, CHUNK):
            k = min(CHUNK, size - start)
            T = torch.rand((k, data.n, data.n), generator=gen, dtype=torch.float64, device=device) * 2.0 - 1.0
            A = A0 + eps * T
            X[start:start + k] = net.features(A).to(dtype)
            Y[start:start + k] = torch.linalg.inv(A).reshape(k, n2).to(dtype)
        return X, Y
    for start in range(0, size, CHUNK):
        A = data.source.sample_train(rng, min(CHUNK, size - start)).A.astype(np.float64)
        stop = start + len(A)
        X[start:stop] = torch.from_numpy(net.features(A)).to(device, dtype)
        Y[start:stop] = torch.from_numpy(np.linalg.inv(A).reshape(len(A), n2)).to(device, dtype)
    return X, Y


class TrainingSets:
    """The training sets of S networks trained together, each from its own train stream, scaled
    by its own first draw (:func:`.standardization.scalings`). With a thread pool, the draws of
    all networks run in parallel (numpy releases the GIL) and the next epoch's fresh sets are
    drawn while this epoch trains; each stream is still drawn from in order, so the sets are the
    same with or without the pool."""

    def __init__(self, nets: list[Trainee], datas: list, recipe: Recipe, device: str, dtype: torch.dtype,
                 pool: ThreadPoolExecutor | None):
        self.nets, self.datas, self.recipe, self.device, self.dtype, self.pool = (
            nets,
            datas,
            recipe,
            device,
            dtype,
            pool,
        )
        # drawn on the device: in this thread (the device queue is ordered), no host pool needed
        self.on_device = all(draws_on_device(data, device) for data in datas)
        if self.on_device:
            self.pool = None
        self.rngs = [split_rng(data.seed, "train") for data in datas]
        self.pending: list | None = None
        self.scalings: list[tuple[torch.Tensor, ...]] = []

    def first(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The first sets of every network, stacked and scaled; they fix the scalings."""
        sets = [(X.to(self.device), Y.to(self.device)) for X, Y in self._map(self._draw)]
        self.scalings = [scalings(X, Y, self.recipe, data) for (X, Y), data in zip(sets, self.datas)]
        return self._stack(sets)

    def _draw(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        # on the host, a worker thread must not queue copies on the device (the caller moves them)
        where = self.device if self.on_device else "cpu"
        return training_set(self.nets[i], self.datas[i], self.recipe.train_size, where, self.dtype, self.rngs[i])

    def _map(self, fn) -> list:
        if self.pool is None:
            return [fn(i) for i in range(len(self.nets))]
        return list(self.pool.map(fn, range(len(self.nets))))

    def _stack(self, sets) -> tuple[torch.Tensor, torch.Tensor]:
        """(S, N, n^2) scaled inputs and targets: network s's set scaled by its own scalings."""
        scaled = [((X - xm) / xs, (Y - ym) / ys) for (X, Y), (xm, xs, ym, ys) in zip(sets, self.scalings)]
        return torch.stack([X for X, _ in scaled]), torch.stack([Y for _, Y in scaled])

    def prefetch(self) -> None:
        """Start drawing the next fresh sets (they are needed: another epoch follows)."""
        if self.pool is not None and self.pending is None:
            self.pending = [self.pool.submit(self._draw, i) for i in range(len(self.nets))]

    def fresh(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next fresh sets of every network, stacked and scaled."""
        if self.pending is None:
            sets = self._map(self._draw)
        else:
            sets, self.pending = [f.result() for f in self.pending], None
        return self._stack([(X.to(self.device), Y.to(self.device)) for X, Y in sets])
