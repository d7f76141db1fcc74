"""``torch-inv`` on the CPU: the workaround for torch's batched LU bug under pinned threads."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from matinv_bench.solvers import SOLVERS, torch_linalg
from matinv_bench.system import pinned_threads


def _batch(n: int, size: int = 3) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.standard_normal((size, n, n)) + 2 * np.sqrt(n) * np.eye(n)  # well conditioned


@pytest.mark.parametrize("n", [8, 160])
def test_batches_are_right_after_the_threads_were_pinned(n):
    # torch 2.13 (MKL) returns wrong batched inverses for n >= 160 once set_num_threads(2) ran
    A = _batch(n)
    with pinned_threads(2):
        solver = SOLVERS.build("torch-inv[device=cpu]")
        solver.prepare(A)
        res = solver.collect(solver.invert())
    assert not res.failed.any(), res.reason
    rel = np.linalg.norm(res.X - np.linalg.inv(A), axis=(1, 2)) / np.linalg.norm(np.linalg.inv(A), axis=(1, 2))
    assert rel.max() < 1e-12


def test_singular_matrices_are_still_flagged_one_at_a_time():
    A = _batch(torch_linalg.CPU_BATCHED_LU_MAX_N)
    A[1, :, 0] = 0.0  # a zero column: singular
    solver = SOLVERS.build("torch-inv[device=cpu]")
    solver.prepare(A)
    res = solver.collect(solver.invert())
    assert res.failed.tolist() == [False, True, False] and "1 of 3" in res.reason


@pytest.mark.parametrize(("version", "affected"), [("2.13.0+cpu", True), ("2.9.1", True), ("2.14.0a0+git1234", True),
                                                   ("2.14.0", False), ("2.15.1+cu128", False), ("3.0", False)])
def test_the_workaround_lifts_itself_from_the_release_with_the_fix(monkeypatch, version, affected):
    monkeypatch.setattr(torch, "__version__", version)
    assert torch_linalg.batched_lu_is_affected() is affected
    n = torch_linalg.CPU_BATCHED_LU_MAX_N
    shapes = []
    inv_ex = torch.linalg.inv_ex
    monkeypatch.setattr(torch.linalg, "inv_ex", lambda A: shapes.append(tuple(A.shape)) or inv_ex(A))
    A = _batch(n)
    with pinned_threads(1):  # one thread: the batched call is right on any torch
        solver = SOLVERS.build("torch-inv[device=cpu]")
        solver.prepare(A)
        res = solver.collect(solver.invert())
    assert shapes == ([(n, n)] * 3 if affected else [(3, n, n)])
    assert not res.failed.any(), res.reason
