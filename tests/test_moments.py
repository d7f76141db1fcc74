"""The stratified moment estimator near singular matrices, on cases with known answers."""

import numpy as np
import pytest

from matinv_bench.analysis import moments as M


def zero(A):
    return np.zeros_like(A)


@pytest.mark.parametrize("K", [0.25, 0.5, 0.75])
def test_scalar_case_matches_the_closed_form(K):
    # n = 1, A_s = 0: inv(a) = 1/a with a uniform in [-r, r]; E |1/a|^K = r^-K / (1 - K) for K < 1
    r = 0.1
    df = M.error_moments(np.zeros((1, 1)), zero, [r], [K], t_min=1e-10, size=4000, replicates=1)
    est, sem = df.contribution.sum(), np.sqrt((df.stderr**2).sum())
    exact = r**-K / (1 - K)
    assert abs(est - exact) < 4 * sem + 1e-3 * exact, (est, exact, sem)
    # every stratum's share is also known: r^-K (hi^(1-K) - lo^(1-K)) / (1 - K), lo, hi clipped to 1
    # (the innermost [0, t_min] is left out: there |1/a|^K has infinite variance for K >= 1/2)
    df = df[df.stratum > 0]
    hi, lo = np.minimum(df.t_hi, 1), np.minimum(df.t_lo, 1)
    np.testing.assert_allclose(df.contribution, r**-K * (hi ** (1 - K) - lo ** (1 - K)) / (1 - K),
                               rtol=0.05, atol=1e-12)


def test_scalar_case_at_k_equal_one_diverges_logarithmically():
    # E[|1/a|; |a| >= r delta] = ln(1/delta) / r: each decade of strata adds ln(10) / r, forever
    r = 0.5
    df = M.error_moments(np.zeros((1, 1)), zero, [r], [1.0], t_min=1e-12, size=2000, replicates=1)
    decades = df[(df.stratum > 0) & (df.t_hi <= 1)]
    np.testing.assert_allclose(decades.contribution, np.log(10) / r, rtol=0.05)


def test_ball_sampling_and_strata_weights_are_exact_in_dimension_four():
    # n = 2 (d = 4): E ||Z||^2 = d / (d + 2) and E t^2 = 1 / (d + 2) for Z uniform in the unit ball
    A_s = np.array([[0.6, 0.3], [0.4, 0.2]])
    basis = M.orthonormal_basis(*M.null_vectors(A_s))
    np.testing.assert_allclose(basis.T @ basis, np.eye(4), atol=1e-12)
    edges = M.strata_edges(1e-6)
    df = M.stratified_means(lambda Z, t, dt: np.stack([(Z * Z).sum(1), t * t], 1), basis,
                            M.singular_point(A_s, 0.1, basis), edges, 20000, np.random.default_rng(0))
    est = df.groupby("k").contribution.sum()
    sem = np.sqrt((df.stderr**2).groupby(df.k).sum())
    for k, exact in ((0, 4 / 6), (1, 1 / 6)):
        assert abs(est[k] - exact) < 4 * sem[k], (k, est[k], exact)
    np.testing.assert_allclose(df[df.k == 0].p.sum(), 1.0, atol=1e-12)


def test_strata_are_strata_of_sigma_min_and_the_moments_split_at_k_one():
    A_s = np.array([[0.6, 0.3], [0.4, 0.2]])
    r = 0.01
    df = M.error_moments(A_s, zero, [r], [0.5, 2.0], t_min=1e-6, size=300, replicates=1)
    inner = df[(df.K == 0.5) & (df.stratum > 0) & (df.t_hi <= 1)].sort_values("stratum")
    # sigma_min grows by about 10x per decade of |t - t*|
    ratio = np.diff(np.log10(inner.sigma_min_median.to_numpy()))
    assert np.all(np.abs(ratio - 1) < 0.3), ratio
    # contributions shrink towards the singular set for K = 0.5 and grow for K = 2
    c05 = df[(df.K == 0.5) & (df.stratum > 0) & (df.t_hi <= 0.01)].sort_values("stratum").contribution.to_numpy()
    c2 = df[(df.K == 2.0) & (df.stratum > 0) & (df.t_hi <= 0.01)].sort_values("stratum").contribution.to_numpy()
    assert np.all(np.diff(c05) > 0) and np.all(np.diff(c2) < 0)


def test_rank_check_is_a_clear_error():
    with pytest.raises(ValueError, match="rank n-1"):
        M.null_vectors(np.eye(2))
    with pytest.raises(ValueError, match="rank n-1"):
        M.null_vectors(np.zeros((2, 2)))
