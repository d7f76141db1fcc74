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
