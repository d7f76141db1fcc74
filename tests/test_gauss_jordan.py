from pathlib import Path

import numpy as np
import pytest
import torch

from matinv_bench.datasets import make_dataset
from matinv_bench.solvers import SOLVERS
from matinv_bench.solvers.gauss_jordan import gauss_jordan_inplace

BACKENDS = ["gauss-jordan", "gauss-jordan[backend=torch,device=cpu]",
            "gauss-jordan[block=2]", "gauss-jordan[backend=torch,device=cpu,block=2]"]


def _invert(spec, A):
    s = SOLVERS.build(spec)
    s.prepare(A)
    return s.collect(s.invert())


@pytest.mark.parametrize("spec", BACKENDS)
def test_zero_leading_entry_needs_pivoting(spec):
    A = np.array([[[0.0, 1.0, 2.0], [1.0, 0.0, 3.0], [4.0, -3.0, 8.0]]])
    res = _invert(spec, A)
    assert not res.failed.any()
    np.testing.assert_allclose(res.X, np.linalg.inv(A), rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("spec", BACKENDS)
def test_permutation_matrices_invert_exactly(spec, rng):
    P = np.stack([np.eye(7)[rng.permutation(7)] for _ in range(20)])
    res = _invert(spec, P)
    np.testing.assert_array_equal(res.X, P.swapaxes(1, 2))


@pytest.mark.parametrize("spec", BACKENDS)
def test_matches_lapack_on_ill_conditioned_matrices(spec):
    data = make_dataset("randsvd[n=24,cond=1e10]", n_test=16, seed=3)
    res = _invert(spec, data.A)
    rel = np.linalg.norm(res.X - data.inv_ref, axis=(1, 2)) / np.linalg.norm(data.inv_ref, axis=(1, 2))
    lapack = np.linalg.inv(data.A)
    rel_lapack = np.linalg.norm(lapack - data.inv_ref, axis=(1, 2)) / np.linalg.norm(data.inv_ref, axis=(1, 2))
    # forward errors of a backward-stable inverse are O(kappa u); GE-based and LU-based agree in order
    assert rel.max() < 1e-3 and rel.max() < 100 * max(rel_lapack.max(), 1e-15)


def test_numpy_and_torch_backends_agree(rng):
    A = rng.standard_normal((32, 9, 9))
    X_np, s_np, _ = gauss_jordan_inplace(A.copy())
    X_t, s_t, _ = gauss_jordan_inplace(torch.from_numpy(A.copy()))
    np.testing.assert_allclose(X_t.numpy(), X_np, rtol=1e-12, atol=1e-12)
    assert not s_np.any() and not s_t.any()


@pytest.mark.parametrize("spec", BACKENDS)
def test_singular_pivot_is_a_failure_not_a_nan(spec):
    A = np.stack([np.eye(3), np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.0, 0.0, 0.0]])])
    res = _invert(spec, A)
    assert res.failed.tolist() == [False, True]
    assert "singular pivot" in res.reason and "1 of 2" in res.reason and "overflow" not in res.reason
    np.testing.assert_array_equal(res.X[0], np.eye(3))


@pytest.mark.parametrize("spec", BACKENDS)
def test_overflow_is_reported_as_overflow_not_as_a_singular_pivot(spec):
    # 1e308 * [[1, 1], [1, -1]] is non-singular, but its update -1e308 - 1e308 overflows to -Inf
    A = np.stack([np.eye(2), 1e308 * np.array([[1.0, 1.0], [1.0, -1.0]])])
    res = _invert(spec, A)
    assert res.failed.tolist() == [False, True]
    assert "overflow during elimination" in res.reason and "1 of 2" in res.reason
    assert "singular pivot" not in res.reason


def test_float32_runs_in_float32():
    A = make_dataset("paper-3x3", n_test=8).A.astype(np.float32)
    res = _invert("gauss-jordan", A)
    assert res.X.dtype == np.float32
    np.testing.assert_allclose(res.X, np.linalg.inv(A.astype(np.float64)), rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("block", [1, 3, 8, 16])
@pytest.mark.parametrize("n", [1, 7, 33, 70])
def test_blocked_matches_unblocked_and_lapack(block, n, rng):
    # odd sizes exercise uneven recursive splits; random matrices pivot at most steps
    A = rng.standard_normal((5, n, n))
    X0, s0, _ = gauss_jordan_inplace(A.copy())
    X1, s1, _ = gauss_jordan_inplace(A.copy(), block)
    assert not s0.any() and not s1.any()
    scale = np.abs(X0).max(axis=(1, 2), keepdims=True)
    # same pivots, same arithmetic regrouped: agreement to rounding, relative to the inverse's size
    assert (np.abs(X1 - X0) / scale).max() < 1e-11
    assert (np.abs(X1 - np.linalg.inv(A)) / scale).max() < 1e-11


def test_blocked_pivots_across_panels():
    # a permutation that needs interchanges spanning every panel, and a zero leading block
    n = 40
    P = np.eye(n)[np.r_[n - 1:-1:-1]][None]
    A = P + 1e-3 * np.random.default_rng(1).standard_normal((1, n, n))
    X, singular, _ = gauss_jordan_inplace(A.copy(), 4)
    assert not singular.any()
    np.testing.assert_allclose(X, np.linalg.inv(A), rtol=1e-12, atol=1e-12)


def test_blocked_flags_only_the_singular_matrix(rng):
    A = rng.standard_normal((3, 24, 24))
    A[1, :, 17] = 0.0  # singular in a late panel
    X, singular, _ = gauss_jordan_inplace(A.copy(), 4)
    assert singular.tolist() == [False, True, False]
    np.testing.assert_allclose(X[[0, 2]], np.linalg.inv(A[[0, 2]]), rtol=1e-10, atol=1e-10)


def test_blocked_torch_matches_numpy(rng):
    A = rng.standard_normal((4, 37, 37))
    X_np, _, _ = gauss_jordan_inplace(A.copy(), 8)
    X_t, _, _ = gauss_jordan_inplace(torch.from_numpy(A.copy()), 8)
    np.testing.assert_allclose(X_t.numpy(), X_np, rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("bad", [-1, 1.5, "big"])
def test_block_must_be_a_non_negative_integer(bad):
    from matinv_bench.specs import SpecError

    with pytest.raises(SpecError, match="block must be an integer"):
        SOLVERS.build(f"gauss-jordan[block={bad}]")


@pytest.mark.parametrize("block", [0, 2])
def test_single_matrix_path_pivots_and_flags(block):
    # a batch of one takes the plain-index row swaps: pivoting and singular flags still hold
    A = np.array([[[0.0, 2.0, 1.0], [1.0, 1.0, 0.0], [3.0, 0.0, 1.0]]])
    X, singular, _ = gauss_jordan_inplace(A.copy(), block)
    assert not singular.any()
    np.testing.assert_allclose(X, np.linalg.inv(A), rtol=1e-14, atol=1e-14)
    S = np.array([[[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]]])
    assert gauss_jordan_inplace(S.copy(), block)[1].tolist() == [True]


def test_the_numpy_backend_is_a_numpy_solver_and_the_torch_backend_a_torch_one():
    from matinv_bench.solvers._torch import TorchSolver
    from matinv_bench.solvers.gauss_jordan import GaussJordan

    numpy_gj, torch_gj = SOLVERS.build("gauss-jordan[block=2]"), SOLVERS.build("gauss-jordan[backend=torch,device=cpu]")
    assert not isinstance(numpy_gj, TorchSolver) and isinstance(torch_gj, TorchSolver)
    assert isinstance(numpy_gj, GaussJordan) and isinstance(torch_gj, GaussJordan)
    assert (numpy_gj.library, numpy_gj.device, torch_gj.library) == ("numpy", "cpu", "torch")
    assert (numpy_gj.name, numpy_gj.spec, numpy_gj.block) == ("gauss-jordan", "gauss-jordan[block=2]", 2)
    assert torch_gj.spec == "gauss-jordan[backend=torch,device=cpu]"
    numpy_gj.prepare(np.eye(3)[None])
    torch_gj.prepare(np.eye(3)[None])
    assert isinstance(numpy_gj._A, np.ndarray) and isinstance(torch_gj._A, torch.Tensor)


# --- the blocked variant's two paths: batched (row interchanges) and column-major (numpy, one
# matrix at a time: a single matrix, or a batch of n >= COLUMNS_PATH_MIN_N) ----------------------

@pytest.mark.parametrize("B, n", [(1, 5), (1, 40), (1, 130), (2, 130)])
@pytest.mark.parametrize("block", [1, 8, 64, 1000])
def test_column_major_path_matches_lapack_and_the_unblocked_variant(B, n, block, rng):
    from matinv_bench.solvers import gauss_jordan as gj

    A = rng.standard_normal((B, n, n))
    assert gj._columns_path(A, block)
    X, singular, overflow = gj.gauss_jordan(A, block)
    X0, _, _ = gauss_jordan_inplace(A.copy())
    assert not singular.any() and not overflow.any()
    scale = np.abs(X0).max(axis=(1, 2), keepdims=True)
    assert (np.abs(X - X0) / scale).max() < 1e-11
    assert (np.abs(X - np.linalg.inv(A)) / scale).max() < 1e-11


def test_column_major_path_in_float32_stays_float32(rng):
    # laswp, ger and gemm are picked by dtype: float32 runs the single-precision BLAS and LAPACK
    from matinv_bench.solvers import gauss_jordan as gj

    A = rng.standard_normal((2, 130, 130)).astype(np.float32)
    assert gj._columns_path(A, 16)
    X, singular, _ = gj.gauss_jordan(A, 16)
    X0, _, _ = gauss_jordan_inplace(A.copy())  # unblocked, batched
    assert X.dtype == np.float32 and X.flags.c_contiguous and not singular.any()
    scale = np.abs(X0).max(axis=(1, 2), keepdims=True)
    assert (np.abs(X - X0) / scale).max() < 1e-4
    assert (np.abs(X - np.linalg.inv(A.astype(np.float64))) / scale).max() < 1e-4


def test_column_major_path_on_ill_conditioned_matrices():
    data = make_dataset("randsvd[n=60,cond=1e12]", n_test=3, seed=5)
    for i in range(3):  # one matrix at a time: the column-major path
        s = SOLVERS.build("gauss-jordan[block=16]")
        s.prepare(data.A[i:i + 1])
        res = s.collect(s.invert())
        rel = np.linalg.norm(res.X[0] - data.inv_ref[i]) / np.linalg.norm(data.inv_ref[i])
        rel_lapack = np.linalg.norm(np.linalg.inv(data.A[i]) - data.inv_ref[i]) / np.linalg.norm(data.inv_ref[i])
        assert rel < 1e-2 and rel < 100 * max(rel_lapack, 1e-15)


def test_column_major_path_pivots_where_the_diagonal_is_zero():
    # a permutation of a diagonal: every pivot must come from another row
    n = 50
    P = np.eye(n)[np.random.default_rng(3).permutation(n)] * np.arange(1.0, n + 1)[:, None]
    X, singular, _ = gauss_jordan_inplace(P[None].copy(), 8)
    assert not singular.any()
    np.testing.assert_allclose(X[0], np.linalg.inv(P), rtol=0, atol=1e-15)


@pytest.mark.parametrize("block", [4, 64])
def test_column_major_path_flags_singular_and_overflowing_matrices(block, rng):
    A = rng.standard_normal((2, 130, 130))
    A[1, :, 97] = 0.0  # singular, found in a late panel
    X, singular, overflow = gauss_jordan_inplace(A.copy(), block)
    assert singular.tolist() == [False, True] and not overflow.any()
    np.testing.assert_allclose(X[0], np.linalg.inv(A[0]), rtol=1e-9, atol=1e-9)
    big = 1e308 * np.array([[[1.0, 1.0], [1.0, -1.0]]])  # the update -1e308 - 1e308 overflows to -Inf
    _, singular, overflow = gauss_jordan_inplace(big.copy(), block)
    assert overflow.tolist() == [True] and not singular.any()
    nan = np.eye(6)[None].copy()
    nan[0, 2, 4] = np.nan
    assert gauss_jordan_inplace(nan, block)[2].tolist() == [True]


def test_the_solver_leaves_its_input_as_it_was(rng):
    A = rng.standard_normal((1, 20, 20))
    s = SOLVERS.build("gauss-jordan[block=4]")
    s.prepare(A)
    before = s._A.copy()
    s.invert()
    np.testing.assert_array_equal(s._A, before)


def test_unblocked_elimination_keeps_its_memory_flat():
    # a fresh (B, n, n) temporary at each of the n steps let glibc's heap grow to O(n^3) bytes
    # (21 GiB at n = 2048 in float32 on torch; the OOM killer ended the cells): one buffer now
    import subprocess
    import sys

    code = """
import resource, numpy as np, torch
from matinv_bench.solvers.gauss_jordan import gauss_jordan_inplace
torch.set_num_threads(1)
n = 768
A = torch.from_numpy((np.random.default_rng(0).standard_normal((1, n, n)) + 60 * np.eye(n)).astype(np.float32))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
gauss_jordan_inplace(A.clone(), 0)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
"""
    grown_mib = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                     cwd=Path(__file__).resolve().parents[1]).stdout)
    assert grown_mib < 64, f"peak memory grew by {grown_mib:.0f} MiB for a 2.25 MiB matrix"
