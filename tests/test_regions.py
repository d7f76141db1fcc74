"""Activation regions and LP/MILP deviation bounds on hand-built and tiny random ReLU nets."""

import numpy as np
import pytest
import torch
from torch import nn

from matinv_bench.analysis import regions as R
from matinv_bench.datasets.boxes import BASES, box_sample


def hand_net() -> list:
    """y = relu(x1 - 0.5) + 2 relu(x2) with x uniform in [-1, 1]^2: four regions, fractions known."""
    W1, b1 = np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([-0.5, 0.0])
    W2, b2 = np.array([[1.0, 2.0]]), np.array([0.0])
    return [(W1, b1), (W2, b2)]


def test_census_on_hand_built_net_matches_known_region_volumes():
    X = np.random.default_rng(0).uniform(-1, 1, size=(400_000, 2))
    df = R.census(hand_net(), X)
    frac = dict(zip(df.pattern, df.fraction))
    # unit 1 on iff x1 > 0.5 (probability 1/4), unit 2 on iff x2 > 0 (1/2)
    expected = {"00": 0.375, "01": 0.375, "10": 0.125, "11": 0.125}
    assert set(frac) == set(expected)
    for k, v in expected.items():
        assert abs(frac[k] - v) < 4 * np.sqrt(v * (1 - v) / len(X)), (k, frac[k])
    assert df["count"].sum() == len(X) and list(df.fraction) == sorted(df.fraction, reverse=True)


def test_region_map_reproduces_the_net_inside_each_region():
    layers = hand_net()
    m = R.region_map(layers, "11")
    np.testing.assert_allclose(m.J, [[1.0, 2.0]])
    np.testing.assert_allclose(m.c, [-0.5])
    rng = np.random.default_rng(1)
    big = [(rng.standard_normal((6, 3)), rng.standard_normal(6)), (rng.standard_normal((5, 6)), rng.standard_normal(5)),
           (rng.standard_normal((2, 5)), rng.standard_normal(2))]
    X = rng.uniform(-1, 1, size=(200, 3))
    Y, on = R.forward(big, X)
    for x, y, p in zip(X, Y, on):
        mp = R.region_map(big, p)
        np.testing.assert_allclose(mp.J @ x + mp.c, y, atol=1e-12)
        pre = mp.G @ x + mp.g
        assert np.all((pre > 0) == p)


def test_relu_layers_reads_torch_nets_and_rejects_others():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8, dtype=torch.float64), nn.ReLU(), nn.Linear(8, 4, dtype=torch.float64))
    layers = R.relu_layers(net)
    X = np.random.default_rng(0).uniform(-1, 1, (50, 4))
    with torch.no_grad():
        ref = net(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(R.forward(layers, X)[0], ref, atol=1e-12)
    with pytest.raises(ValueError, match="expected Linear, ReLU"):
        R.relu_layers(nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 4)))
    with pytest.raises(ValueError, match="pattern has 3 units"):
        R.region_map(layers, "101")


def test_linear_approx_map_is_the_first_order_formula():
    A0, eps = BASES["paper-3x3"], 0.01
    J, c = R.linear_approx_map(A0, eps)
    T = np.random.default_rng(2).uniform(-1, 1, (3, 3))
    P = np.linalg.inv(A0)
    np.testing.assert_allclose(J @ T.ravel() + c, (P - P @ (eps * T) @ P).ravel(), atol=1e-13)


def _tiny(seed: int, widths: list[int]) -> list:
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((b, a)), 0.3 * rng.standard_normal(b)) for a, b in zip(widths[:-1], widths[1:])]


def test_lp_bound_matches_brute_force_sampling_on_a_tiny_net():
    layers = _tiny(3, [2, 6, 2])
    J_ref, c_ref = np.array([[0.5, -0.2], [0.1, 0.3]]), np.array([0.05, -0.1])
    g = np.linspace(-1, 1, 801)
    X = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    Y, on = R.forward(layers, X)
    dev = np.abs(Y - (X @ J_ref.T + c_ref))
    patterns = R.census(layers, X).pattern
    per_region = {p: R.region_lp_bound(layers, p, J_ref, c_ref) for p in patterns}
    assert all(v is not None for v in per_region.values())
    lp = np.max(np.stack(list(per_region.values())), axis=0)
    # the LP is exact: never below what sampling finds, and sampling on a fine grid gets close to it
    assert np.all(lp >= dev.max(axis=0) - 1e-12)
    np.testing.assert_allclose(lp, dev.max(axis=0), rtol=5e-3)
    # each region's bound holds for that region's samples
    keys = np.array([R.pattern_key(p) for p in on])
    for p, b in per_region.items():
        assert np.all(dev[keys == p].max(axis=0) <= b + 1e-12)
    # a pattern that never occurs in the box is reported as empty, not as a bound
    empty = next(R.pattern_key(np.array(bits, bool)) for bits in np.ndindex(*(2,) * 6)
                 if R.pattern_key(np.array(bits, bool)) not in set(patterns)
                 and R.region_lp_bound(layers, np.array(bits, bool), J_ref, c_ref) is None)
    assert empty


@pytest.mark.parametrize("widths", [[2, 6, 2], [2, 5, 4, 2]])
def test_milp_bound_equals_the_lp_over_all_regions_and_brute_force(widths):
    layers = _tiny(4, widths)
    J_ref, c_ref = np.zeros((2, 2)), np.zeros(2)
    g = np.linspace(-1, 1, 601)
    X = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    Y, _ = R.forward(layers, X)
    brute = np.abs(Y).max(axis=0)
    milp = R.milp_bound(layers, J_ref, c_ref)
    lp = np.max([R.region_lp_bound(layers, p, J_ref, c_ref) for p in R.census(layers, X).pattern], axis=0)
    np.testing.assert_allclose(milp, lp, rtol=1e-6, atol=1e-9)
    assert np.all(milp >= brute - 1e-9)
    np.testing.assert_allclose(milp, brute, rtol=1e-2)


def test_taylor_remainder_bounds_the_linear_approximation_error():
    A0, eps = BASES["paper-2x2-1st"], 0.05
    bound = R.taylor_remainder_bound(A0, eps)
    J, c = R.linear_approx_map(A0, eps)
    s = box_sample(A0, eps, np.random.default_rng(5), 20000)
    err = np.abs(np.linalg.inv(s.A).reshape(len(s.A), -1) - (s.T.reshape(len(s.A), -1) @ J.T + c)).max()
    assert 0 < err <= bound < 20 * err
    assert R.taylor_remainder_bound(A0, 10.0) == np.inf


def test_mlp_solvers_are_relu_nets_the_analysis_can_read():
    from matinv_bench.datasets import make_dataset
    from matinv_bench.solvers import SOLVERS

    data = make_dataset("paper-2x2-1st", n_test=8)
    for spec, n_layers in (("mlp-2fc[hidden=8,recipe=tiny]", 2), ("mlp-3fc[hidden=8,recipe=tiny]", 3)):
        solver = SOLVERS.build(spec).fit(data)
        layers = R.relu_layers(solver.model_)  # raises unless Linear, ReLU, ..., Linear
        assert [W.shape for W, _ in layers][0] == (8, 4) and len(layers) == n_layers
        Y, _ = R.forward(layers, solver.features(data.A))
        solver.prepare(data.A)
        np.testing.assert_allclose(Y.reshape(-1, 2, 2), solver.collect(solver.invert()).X, atol=1e-12)


def test_milp_bound_takes_dead_units():
    # a unit with zero weights and bias (pre-activation 0 on the whole box, as two of the
    # paper's 4-8-4 net's units) is off: the MILP must not fix its indicator both on and off
    layers = _tiny(5, [2, 6, 2])
    W1, b1 = layers[0]
    W1[2], b1[2] = 0.0, 0.0
    J_ref, c_ref = np.zeros((2, 2)), np.zeros(2)
    g = np.linspace(-1, 1, 601)
    X = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    brute = np.abs(R.forward(layers, X)[0]).max(axis=0)
    milp = R.milp_bound(layers, J_ref, c_ref)
    assert np.all(milp >= brute - 1e-9)
    np.testing.assert_allclose(milp, brute, rtol=1e-2)
