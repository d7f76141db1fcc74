"""The matmul-only solvers: linear approximation, Neumann series, Newton-Schulz."""

from __future__ import annotations

import numpy as np
import pytest

from matinv_bench.datasets import make_dataset
from matinv_bench.solvers import SOLVERS, InputError


def _run(spec: str, data):
    solver = SOLVERS.build(spec).fit(data)
    solver.prepare(data.A)
    return solver.collect(solver.invert())


@pytest.fixture(scope="module")
def box():
    return make_dataset("paper-2x2-1st", n_test=256, seed=3)


def test_linear_approx_is_order_one_neumann_and_one_newton_schulz_step(box):
    X0 = np.linalg.inv(box.base)
    by_hand = X0 - X0 @ (box.A - box.base) @ X0
    linear = _run("linear-approx", box).X
    np.testing.assert_allclose(linear, by_hand, rtol=1e-13, atol=0)
    np.testing.assert_allclose(_run("neumann[order=1]", box).X, linear, rtol=1e-13, atol=0)
    np.testing.assert_allclose(_run("newton-schulz[init=base,steps=1]", box).X, linear, rtol=1e-12, atol=1e-15)
    assert np.abs(linear - box.inv_ref).mean() > 1e-5  # the approximation is not the inverse


@pytest.mark.parametrize("dataset", ["paper-2x2-1st", "paper-3x3", "paper-16x16"])
def test_neumann_error_falls_with_order_when_theta_below_one(dataset):
    data = make_dataset(dataset, n_test=64, seed=0)
    assert data.theta < 1
    errs = [np.abs(_run(f"neumann[order={k}]", data).X - data.inv_ref).max() for k in range(5)]
    assert all(b < a / 3 for a, b in zip(errs, errs[1:])), errs
    assert np.abs(_run("neumann[order=0]", data).X - np.linalg.inv(data.base)).max() == 0


def test_newton_schulz_scaled_converges_without_a_base():
    data = make_dataset("randsvd[n=16,cond=1e3]", n_test=32, seed=0)
    res = _run("newton-schulz[init=scaled,steps=40]", data)
    assert not res.failed.any()
    assert np.abs(res.X - data.inv_ref).max() / np.abs(data.inv_ref).max() < 1e-10


def test_newton_schulz_reports_non_convergence_as_failures():
    data = make_dataset("randsvd[n=16,cond=1e3]", n_test=8, seed=0)
    res = _run("newton-schulz[init=scaled,steps=3]", data)
    assert res.failed.all() and np.isnan(res.X).all()
    assert "did not converge in 3 steps" in res.reason and "8 of 8" in res.reason


def test_newton_schulz_from_a_far_base_diverges_into_failures_not_garbage():
    data = make_dataset("box[base=paper-2x2-2nd,eps=2]", n_test=64, seed=0)  # theta >> 1
    res = _run("newton-schulz[init=base,steps=30]", data)
    assert res.failed.any() and np.isnan(res.X[res.failed]).all()
    ok = ~res.failed
    assert np.abs(res.X[ok] - data.inv_ref[ok]).max() < 1e-8 * np.abs(data.inv_ref[ok]).max()


@pytest.mark.parametrize("spec", ["linear-approx", "neumann[order=3]", "newton-schulz[init=base]"])
def test_solvers_from_the_base_skip_datasets_without_one(spec):
    reason = SOLVERS.build(spec).skip(make_dataset("spd[n=4,cond=10]", n_test=4))
    assert "needs a base matrix A0" in reason and "spd" in reason
    assert SOLVERS.build("newton-schulz[init=scaled]").skip(make_dataset("spd[n=4,cond=10]", n_test=4)) is None


def test_prepare_before_fit_or_on_the_wrong_size_is_a_clear_error(box):
    with pytest.raises(InputError, match="call fit"):
        SOLVERS.build("linear-approx").prepare(box.A)
    with pytest.raises(InputError, match="base matrix is 2 x 2"):
        SOLVERS.build("neumann").fit(box).prepare(np.eye(3)[None])


@pytest.mark.parametrize("spec, words", [("neumann[order=-1]", "order must be"),
                                         ("newton-schulz[init=ones]", "init must be one of base, scaled"),
                                         ("newton-schulz[tol=2]", "tol must be")])
def test_bad_parameters_are_spec_errors(spec, words):
    from matinv_bench.specs import SpecError

    with pytest.raises(SpecError, match=words):
        SOLVERS.build(spec)


def test_float32_runs_in_float32(box):
    solver = SOLVERS.build("neumann[order=2]").fit(box)
    solver.prepare(box.A.astype(np.float32))
    X = solver.collect(solver.invert()).X
    assert X.dtype == np.float32 and np.abs(X - box.inv_ref).max() < 1e-4


@pytest.mark.parametrize("spec", ["linear-approx[device=cpu]", "neumann[order=2,device=cpu]",
                                  "mlp-2fc[recipe=none,device=cpu]"])
def test_a_minus_a0_is_computed_inside_the_timed_call(spec, box):
    """The paper compares the MLPs with the linear approximation: both pay for A - A0 in invert."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    solver = SOLVERS.build(spec).fit(box)
    solver.prepare(box.A)
    np.testing.assert_array_equal(solver._A.numpy(), box.A, err_msg="prepare must keep A itself")
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        solver.invert()
    assert "aten::sub" in {e.name for e in prof.events()}
    assert isinstance(solver._A0, torch.Tensor)


def test_the_mlp_computes_its_training_features_inside_invert(box):
    # the same map as the numpy features used in training, to the last bit in float64
    import torch

    solver = SOLVERS.build("mlp-2fc[recipe=none,device=cpu]").fit(box)
    solver.prepare(box.A)
    X = solver.collect(solver.invert()).X
    with torch.no_grad():
        ref = solver.model_(torch.from_numpy(solver.features(box.A))).numpy().reshape(X.shape)
    np.testing.assert_array_equal(X, ref)
