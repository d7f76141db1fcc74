"""The Newton-Schulz family: hyperpower steps with designed (minimax-ns) and trained (learned-ns)
coefficients, and the scaled start's invariance to the scale of A."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from matinv_bench.datasets import make_dataset
from matinv_bench.errors import UserError
from matinv_bench.solvers import SOLVERS
from matinv_bench.solvers._hyperpower import hyperpower, scaled_start
from matinv_bench.solvers.minimax_ns import (
    CONVERGED,
    GRID,
    SAFETY,
    _plan,
    chebyshev_step,
    design,
    reach,
    scaled_spectrum_min,
)


def _run(solver, A):
    solver.prepare(A)
    return solver.collect(solver.invert())


@pytest.fixture(scope="module")
def spd():
    return make_dataset("spd[n=8,cond=10]", n_test=256, seed=0)


def _mae(spec, data):
    res = _run(SOLVERS.build(spec).fit(data), data.A)
    assert not res.failed.any(), (spec, res.reason)
    return np.abs(res.X - data.inv_ref).mean()


# ------------------------------------------------------------------------------ the scaled start

SCALED = ["newton-schulz[init=scaled]", "minimax-ns[steps=12]", "learned-ns[steps=14,train_iters=3]"]


@pytest.mark.parametrize("spec", SCALED)
def test_the_scaled_start_survives_matrices_near_underflow_and_overflow(spec, spd):
    solver = SOLVERS.build(spec).fit(spd)
    ref = _run(solver, spd.A)
    assert not ref.failed.any()
    for k in (-960, 960):  # entries about 1e-289 and 1e289: the product of the two norms does not fit
        res = _run(solver, np.ldexp(spd.A, k))
        assert not res.failed.any(), res.reason
        np.testing.assert_array_equal(np.ldexp(res.X, k), ref.X)  # scaling by 2^k is exact, and so is the iteration
    res = _run(solver, spd.A * 1e-289)
    assert not res.failed.any(), res.reason
    np.testing.assert_allclose(res.X * 1e-289, ref.X, rtol=0, atol=1e-12 * np.abs(ref.X).max())


def test_the_scaled_start_is_the_textbook_formula_where_that_fits():
    A = torch.from_numpy(np.random.default_rng(0).standard_normal((5, 6, 6)))
    textbook = A.mT / (A.abs().sum(-2).amax(-1) * A.abs().sum(-1).amax(-1))[:, None, None]
    torch.testing.assert_close(scaled_start(A), textbook, rtol=1e-14, atol=0)
    big = A.clone()
    big[0] *= 2.0**1020  # max |a| near the largest float: 2^e itself would overflow
    torch.testing.assert_close(scaled_start(big)[0] * 2.0**1020, textbook[0], rtol=1e-14, atol=0)


# ------------------------------------------------------------------------------ the minimax design

@pytest.mark.parametrize("lo, hi, degree", [(1e-6, 1.0, 1), (1e-3, 1.0, 2), (0.2, 0.9, 3), (0.99, 1.01, 1)])
def test_a_chebyshev_step_equioscillates_and_beats_the_classical_one(lo, hi, degree):
    coef, new_lo, new_hi = chebyshev_step(lo, hi, degree)
    s = np.concatenate([np.geomspace(lo, hi, 20001), np.linspace(lo, hi, 20001)])
    f = s * np.polynomial.polynomial.polyval(1 - s, coef)
    E = np.abs(1 - f).max()
    assert E == pytest.approx(new_hi - 1, rel=1e-6) and 1 - new_lo == pytest.approx(E, rel=1e-6)
    assert f.min() == pytest.approx(new_lo, rel=1e-6) and f.max() == pytest.approx(new_hi, rel=1e-6)
    classical = s * sum((1 - s) ** j for j in range(degree + 1))
    assert E < np.abs(1 - classical).max()


@pytest.mark.parametrize("degree", [1, 2])
def test_the_minimax_design_needs_fewer_steps_than_classical(degree):
    s = np.geomspace(1e-6, 1.0, 4001)

    def steps_to_converge(coefs):
        f = s.copy()
        for k, c in enumerate(coefs, 1):
            f = f * np.polynomial.polynomial.polyval(1 - f, c)
            if np.abs(1 - f).max() < 1e-12:
                return k
        return np.inf

    minimax = steps_to_converge(design(40, degree, 1e-6))
    classical = steps_to_converge(np.ones((40, degree + 1)))
    assert minimax <= 0.6 * classical, (minimax, classical)  # 14 against 25 (degree 1), 9 against 16 (degree 2)


def test_a_tiny_lower_bound_keeps_a_positive_interval():
    """1 - E would round to 0 below lo ~ 1e-16 (the design then raised on [0, 2]): the step's image
    starts at f(lo) = lo p(1 - lo), which grows by 2 (d + 1)^2 in the first step."""
    for degree in (1, 2):
        _, new_lo, new_hi = chebyshev_step(1e-20, 1.0, degree)
        assert new_lo == pytest.approx(2 * (degree + 1) ** 2 * 1e-20, rel=1e-6) and new_hi == 2.0
        coefs, half = _plan(40, degree, 1e-20)
        assert np.isfinite(coefs).all() and half < 1  # still contracting, nowhere near converged


@pytest.mark.parametrize("degree", [1, 2, 3])
def test_reach_is_the_widest_interval_the_steps_bring_to_rounding_level(degree):
    for steps in (4, 8, 12, 16, 20):
        lower = reach(steps, degree)
        assert _plan(steps, degree, lower)[1] <= CONVERGED or lower == GRID[-1]
        if lower > GRID[0]:  # the next wider interval of the grid is not reached
            assert _plan(steps, degree, GRID[GRID.index(lower) - 1])[1] > CONVERGED
    assert [reach(k, 1) for k in (12, 16, 20)] == [5e-5, 1e-7, 5e-10]  # the figures the docstring gives
    assert reach(2, 1) == GRID[-1] == 0.5 and reach(60, 1) == GRID[0]


def test_minimax_ns_converges_in_fewer_steps_than_newton_schulz():
    data = make_dataset("randsvd[n=16,cond=1e3]", n_test=64, seed=0)
    classical = _run(SOLVERS.build("newton-schulz[steps=16]").fit(data), data.A)
    solver = SOLVERS.build("minimax-ns[steps=16]").fit(data)
    minimax = _run(solver, data.A)
    assert classical.failed.all() and not minimax.failed.any()
    assert np.abs(minimax.X - data.inv_ref).max() < 1e-8 * np.abs(data.inv_ref).max()
    # not a box: designed for the widest interval 16 steps reach, not for a train split
    assert solver.lower_ == reach(16, 1) and "16 steps reach" in solver.lower_from_


def test_minimax_ns_on_a_box_designs_for_its_train_split():
    data = make_dataset("paper-3x3", n_test=256, seed=0)
    solver = SOLVERS.build("minimax-ns").fit(data)
    train = data.draw_train(1024)
    assert solver.lower_ == SAFETY * scaled_spectrum_min(train.A, train.sigma_min).min()
    assert solver.lower_ <= scaled_spectrum_min(data.A, data.sigma_min).min()  # the estimate holds on the test split
    assert not _run(solver, data.A).failed.any()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_minimax_ns_without_bounds_fails_with_a_reason(dtype):
    """An ill-conditioned set without a box: no ValueError, matrices outside the designed interval
    are failures whose reason names the interval."""
    data = make_dataset("near-singular[n=16,sigma_min=1e-10]", n_test=8, seed=0)
    res = _run(SOLVERS.build("minimax-ns[steps=16]").fit(data), data.A.astype(dtype))
    assert res.failed.all() and np.isnan(res.X).all()
    assert "did not converge in 16 steps" in res.reason
    assert ">= 1e-07 (the widest 16 steps reach): more steps or a smaller lower=" in res.reason


def test_minimax_ns_from_the_base_is_classical():
    data = make_dataset("paper-3x3", n_test=32)
    solver = SOLVERS.build("minimax-ns[init=base,steps=2,degree=2]").fit(data)
    assert (solver.coefs_ == 1).all()
    A = torch.from_numpy(data.A)
    X0 = torch.from_numpy(np.linalg.inv(data.base)).expand_as(A)
    np.testing.assert_array_equal(_run(solver, data.A).X, hyperpower(A, X0, np.ones((2, 3))).numpy())


def test_minimax_ns_on_a_fixed_collection_runs_and_takes_a_lower_bound():
    data = make_dataset("pascal[n=5]")
    lam = scaled_spectrum_min(data.A, data.sigma_min).min()  # 7.4e-9: below what 12 steps reach, above 20 steps'
    default = SOLVERS.build("minimax-ns")
    assert default.skip(data) is None
    res = _run(default.fit(data), data.A)
    assert res.failed.all() and "the widest 12 steps reach" in res.reason
    assert reach(20, 1) < lam and not _run(SOLVERS.build("minimax-ns[steps=20]").fit(data), data.A).failed.any()
    solver = SOLVERS.build(f"minimax-ns[lower={lam / 2:.3g},steps=20]")
    res = _run(solver.fit(data), data.A)
    assert not res.failed.any() and solver.lower_ == float(f"{lam / 2:.3g}") and solver.lower_from_ == "given"


# ------------------------------------------------------------------------------ learned coefficients

def test_learned_ns_untrained_is_newton_schulz(spd):
    solver = SOLVERS.build("learned-ns[steps=12,train_iters=0]").fit(spd)
    assert (solver.coefs_ == 1).all() and solver.fit_info_["train_selected"] == "classical"
    np.testing.assert_allclose(_run(solver, spd.A).X, _run(SOLVERS.build("newton-schulz[steps=12]").fit(spd), spd.A).X,
                               rtol=1e-12, atol=0)


@pytest.mark.parametrize("dataset, init, steps, degree", [("spd[n=8,cond=10]", "scaled", 11, 1),
                                                          ("spd[n=8,cond=10]", "scaled", 7, 2),
                                                          ("spd-box[n=8]", "base", 2, 1)])
def test_learned_ns_on_a_tiny_budget_is_no_worse_than_classical(dataset, init, steps, degree):
    data = make_dataset(dataset, n_test=256, seed=0)
    learned = SOLVERS.build(f"learned-ns[steps={steps},degree={degree},init={init},train_iters=20]").fit(data)
    assert learned.coefs_.shape == (steps, degree + 1)  # parameters: steps x (degree + 1), whatever n
    classical = _mae(f"learned-ns[steps={steps},degree={degree},init={init},train_iters=0]", data)
    assert _mae(learned.spec, data) <= classical
    if degree == 1:  # the same classical steps, computed as X + X R: equal up to rounding
        assert classical == pytest.approx(_mae(f"newton-schulz[steps={steps},init={init}]", data), rel=1e-6)


def test_learned_ns_learns_where_classical_has_not_converged():
    data = make_dataset("paper-3x3", n_test=256, seed=0)
    learned = SOLVERS.build("learned-ns[steps=10]").fit(data)
    assert learned.fit_info_["train_selected"] == "trained"
    assert _run(SOLVERS.build("newton-schulz[steps=10]").fit(data), data.A).failed.all()
    assert _mae(learned.spec, data) < 1e-4


def test_learned_ns_comes_from_the_cache_the_second_time(spd):
    first = SOLVERS.build("learned-ns[steps=9,train_iters=5]").fit(spd)
    again = SOLVERS.build("learned-ns[steps=9,train_iters=5]").fit(spd)
    assert first.fit_info_["train_cache_hit"] is False and again.fit_info_["train_cache_hit"] is True
    np.testing.assert_array_equal(first.coefs_, again.coefs_)


@pytest.mark.parametrize("spec, words", [("learned-ns[degree=0]", "degree must be"),
                                         ("learned-ns[train_iters=-1]", "train_iters must be"),
                                         ("minimax-ns[lower=0]", "lower must be"),
                                         ("minimax-ns[lower=2]", "lower must be"),
                                         ("minimax-ns[init=ones]", "init must be one of base, scaled")])
def test_bad_parameters_are_spec_errors(spec, words):
    with pytest.raises(UserError, match=words):
        SOLVERS.build(spec)


def test_learned_ns_skips_what_it_cannot_learn_from():
    assert "fixed collection" in SOLVERS.build("learned-ns").skip(make_dataset("pascal[n=5]"))
    assert "needs a base matrix" in SOLVERS.build("learned-ns[init=base]").skip(
        make_dataset("spd[n=4,cond=10]", n_test=4)
    )


@pytest.mark.parametrize("spec", ["learned-ns[steps=4,degree=3]", "minimax-ns[steps=4,degree=3]"])
def test_flops_count_the_matrix_products(spec):
    # per step: A X, d - 1 products in Horner's rule, X p(R): d + 1 products of 2 n^3 flops
    assert SOLVERS.build(spec).flops(10) == 4 * 4 * 2 * 1000
