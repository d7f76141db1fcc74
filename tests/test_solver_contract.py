"""Contract tests generated over every registered solver (benchopt style): nobody writes
per-solver tests for the lifecycle. Solvers may set ``test_spec`` to a cheap variant."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from matinv_bench.datasets import make_dataset
from matinv_bench.scoring import metrics
from matinv_bench.solvers import FAMILIES, SOLVERS, InputError, Trainable

SPECS = [getattr(SOLVERS.get(name), "test_spec", None) or name for name in SOLVERS]
SPECS += ["mlp-2fc[init=linear]"]  # a network whose weights are built, not trained or drawn
# small, well-conditioned sets: a box with a base matrix (for approximations), and an SPD set
CONTRACT_DATA = ["paper-3x3", "spd[n=8,cond=10]"]


@pytest.fixture(scope="module", params=CONTRACT_DATA)
def data(request):
    return make_dataset(request.param, n_test=64, seed=0)


@pytest.mark.parametrize("spec", SPECS)
def test_contract(spec, data):
    solver = SOLVERS.build(spec)
    assert solver.family in FAMILIES
    reason = solver.skip(data)
    if reason is not None:
        assert isinstance(reason, str) and reason.strip(), "a skip needs a readable reason"
        return
    assert solver.flops(data.n) > 0  # a count for every size the solver takes
    solver.fit(data)
    A = data.A.copy()
    solver.prepare(A)
    first = solver.collect(solver.invert())
    second = solver.collect(solver.invert())
    np.testing.assert_array_equal(A, data.A, err_msg="prepare/invert modified the caller's array")
    assert first.X.shape == data.A.shape and first.failed.shape == (len(data),)
    assert not first.failed.any(), first.reason
    np.testing.assert_allclose(second.X, first.X, rtol=0, atol=0, err_msg="invert is not repeatable")
    m = metrics.summarize(first.X, data.A, data.inv_ref, data.kappa, metrics.unit_roundoff(np.float64))
    if solver.family == "direct":
        assert m["residual_ratio"] < 30, m
        assert m["rel_err_over_kappa_u"] < 100, m


@pytest.mark.parametrize("spec", SPECS)
def test_prepare_rejects_bad_input(spec):
    solver = SOLVERS.build(spec)
    good = np.eye(3)[None].repeat(2, axis=0)
    cases = {
        "square": np.ones((2, 3, 4)),
        "shape": np.ones((3, 3)),
        "NaN or Inf": np.where(np.eye(3, dtype=bool), np.nan, 0.0)[None],
        "empty batch": np.ones((0, 3, 3)),
        "dtype": good.astype(np.int64),
    }
    for words, bad in cases.items():
        with pytest.raises(InputError, match=words):
            solver.prepare(bad)


N = 4  # the direct solvers' batches: every one takes 4 x 4 (closed-form stops there)


def _singular_batch() -> np.ndarray:
    A = np.random.default_rng(0).standard_normal((4, N, N))
    A[2, :, 3] = 0.0  # exactly singular: a zero column
    return A


DIRECT = [s for s in SPECS if SOLVERS.get(s.split("[")[0]).family == "direct"]


def _batches(spec: str) -> tuple[np.ndarray, np.ndarray]:
    """A batch of 4 invertible N x N matrices and one whose matrix 2 is singular (SPD for Cholesky)."""
    good, bad = np.random.default_rng(1).standard_normal((4, N, N)) + 5 * np.eye(N), _singular_batch()
    if spec == "cholesky":
        good, bad = good @ good.swapaxes(1, 2), bad @ bad.swapaxes(1, 2)  # SPD except the singular one (rank N - 1)
        bad[2] = 0.0
    return good, bad


@pytest.mark.parametrize("spec", DIRECT)
def test_direct_solvers_flag_singular_matrices(spec):
    solver = SOLVERS.build(spec)
    A = _batches(spec)[1]
    solver.prepare(A)
    res = solver.collect(solver.invert())
    assert res.failed.tolist() == [False, False, True, False]
    assert np.isnan(res.X[2]).all(), "a failed matrix must be NaN, not a finite guess"
    assert res.reason and "1 of 4" in res.reason
    good = np.delete(A, 2, axis=0)
    np.testing.assert_allclose(np.delete(res.X, 2, axis=0), np.linalg.inv(good), rtol=1e-8, atol=1e-10)


def test_cholesky_skips_non_spd_with_a_reason():
    solver = SOLVERS.build("cholesky")
    assert "not symmetric" in solver.skip(make_dataset("paper-3x3", n_test=4))
    indefinite = make_dataset("npy:" + _save_tmp(np.diag([1.0, -1.0])[None]))
    assert "not positive definite" in solver.skip(indefinite)
    assert solver.skip(make_dataset("spd[n=4,cond=10]", n_test=4)) is None


def _save_tmp(arr: np.ndarray) -> str:
    import tempfile

    f = tempfile.NamedTemporaryFile(suffix=".npy", delete=False)
    np.save(f, arr)
    f.close()
    return f.name


def test_cuda_request_without_cuda_is_a_clear_error():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    from matinv_bench.specs import SpecError

    with pytest.raises(SpecError, match="torch.cuda.is_available"):
        SOLVERS.build("torch-inv[device=cuda]")


@pytest.mark.parametrize("spec", DIRECT)
def test_collect_reads_what_invert_returned_not_what_a_later_invert_left(spec):
    # invert returns all that collect needs: an output collected after another batch's invert
    # (and a fresh prepare of its own batch, whose scratch collect may read) is unchanged
    good, bad = _batches(spec)
    solver = SOLVERS.build(spec)
    for A, other in ((good, bad), (bad, good)):
        solver.prepare(A)
        out = solver.invert()
        expected = solver.collect(out)
        solver.prepare(other)
        solver.invert()
        solver.prepare(A)
        res = solver.collect(out)
        assert res.failed.tolist() == expected.failed.tolist() and res.reason == expected.reason
        np.testing.assert_array_equal(res.X, expected.X)


def _equal(a, b) -> bool:
    if isinstance(a, torch.nn.Module):
        sa, sb = a.state_dict(), b.state_dict()
        return sa.keys() == sb.keys() and all(
            sa[k].dtype == sb[k].dtype and sa[k].device == sb[k].device and torch.equal(sa[k], sb[k]) for k in sa)
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    return a == b


@pytest.mark.parametrize("spec", SPECS)
def test_learned_state_and_scratch_are_told_apart_by_name(spec, data):
    """fit sets names ending in '_', prepare names starting with '_'; invert and collect set
    nothing; and nothing after fit (not even a float32 batch) changes the learned state."""
    solver = SOLVERS.build(spec)
    if solver.skip(data) is not None:
        pytest.skip(solver.skip(data))
    config = set(vars(solver))
    solver.fit(data)
    learned = {k: v for k, v in vars(solver).items() if k not in config}
    assert all(k.endswith("_") and not k.startswith("_") for k in learned), sorted(learned)
    kept = copy.deepcopy(learned)
    for dtype in (np.float32, np.float64):
        solver.prepare(data.A.astype(dtype))
        scratch = set(vars(solver)) - config - set(learned)
        assert "_A" in scratch and all(k.startswith("_") and not k.endswith("_") for k in scratch), sorted(scratch)
        before = dict(vars(solver))
        solver.collect(solver.invert())
        after = vars(solver)
        assert after.keys() == before.keys(), f"invert or collect set {sorted(after.keys() - before.keys())}"
        assert all(after[k] is before[k] for k in before), "invert or collect replaced an attribute"
    changed = [k for k in learned if not _equal(kept[k], getattr(solver, k))]
    assert not changed, f"prepare/invert/collect changed the learned state {changed}"


def test_the_networks_are_the_trainable_solvers():
    assert {spec for spec in SPECS if isinstance(SOLVERS.build(spec), Trainable)} == {
        SOLVERS.get("mlp-2fc").test_spec, SOLVERS.get("mlp-3fc").test_spec, "mlp-2fc[init=linear]"}


@pytest.mark.parametrize("spec", [s for s in SPECS if isinstance(SOLVERS.build(s), Trainable)])
def test_a_trainable_solver_hands_over_its_network_and_sets_nothing(spec, data):
    """``trainee`` sets no attribute (learned state is fit's alone) and builds the network fit
    starts from: its width, layers, seed and weight bytes, and untrained, fit's very weights."""
    solver = SOLVERS.build(spec)
    if solver.skip(data) is not None:
        pytest.skip(solver.skip(data))
    before = dict(vars(solver))
    net = solver.trainee(data)
    assert vars(solver).keys() == before.keys() and all(vars(solver)[k] is before[k] for k in before)
    assert (net.layers, net.hidden, net.seed) == (solver.layers, solver.width(data.n), solver.seed)
    assert solver.param_bytes(data.n) == sum(p.numel() * p.element_size() for p in net.model.parameters())
    if solver.recipe == "none":
        for a, b in zip(net.model.state_dict().values(), solver.fit(data).model_.state_dict().values()):
            torch.testing.assert_close(a, b.cpu(), rtol=0, atol=0)


@pytest.mark.parametrize("spec", ["lu", "numpy-inv", "cholesky", "qr"])
def test_the_per_matrix_pass_after_a_batched_error_runs_in_collect_not_in_the_timed_call(spec):
    solver = SOLVERS.build(spec)
    calls: list[int] = []
    batched = solver._batched
    solver._batched = lambda A: calls.append(len(A)) or batched(A)
    solver.prepare(_batches(spec)[1])
    out = solver.invert()
    assert calls == [4], f"the timed call ran {calls}: one batched call, and nothing per matrix"
    res = solver.collect(out)
    assert calls == [4, 1, 1, 1, 1]
    assert res.failed.tolist() == [False, False, True, False] and "per-matrix pass" in res.reason
