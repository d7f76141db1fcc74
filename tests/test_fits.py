"""The slope fitter and the crossover finder on synthetic data with known answers."""

import numpy as np
import pytest

from matinv_bench.analysis.fits import asymptotic_sizes, crossover, fit_slope

NS = np.array([2, 4, 8, 16, 32, 64, 128, 256, 512])


@pytest.mark.parametrize("exponent", [3.0, 4.0, 2.5])
def test_recovers_known_exponent_with_noise(exponent):
    rng = np.random.default_rng(0)
    # 15 repeats per size, 5 % multiplicative noise, and a constant overhead that only
    # matters at small n: the asymptotic range must see through it
    t = [1e-9 * n**exponent * rng.lognormal(0, 0.05, 15) + 1e-6 for n in NS]
    fit = fit_slope(NS, t, n_min=64, n_resamples=999)
    assert fit.n_lo == 64 and fit.n_hi == 512 and fit.n_points == 4
    assert fit.lo <= exponent <= fit.hi
    assert abs(fit.slope - exponent) < 0.05
    assert fit.hi - fit.lo < 0.2


def test_overhead_bends_the_full_range_fit():
    t = [1e-9 * n**3 + 1e-4 for n in NS]
    assert fit_slope(NS, t, n_min=2).slope < 2.0  # the flat part drags the slope down
    assert abs(fit_slope(NS, t, n_min=128).slope - 3.0) < 0.15


def test_exact_power_law_has_a_tight_interval():
    t = [2.0 * n**4 * np.array([1.0, 1.0, 1.0]) for n in NS.astype(float)]
    fit = fit_slope(NS, t)
    assert fit.slope == pytest.approx(4.0, abs=1e-9)
    assert fit.lo == pytest.approx(4.0, abs=1e-6) and fit.hi == pytest.approx(4.0, abs=1e-6)
    np.testing.assert_allclose(fit.predict(NS), 2.0 * NS.astype(float) ** 4, rtol=1e-9)


def test_a_single_timing_per_size_gives_no_interval_and_says_so():
    # never a silent switch to resampling the sizes themselves
    fit = fit_slope(NS, 2.0 * NS.astype(float) ** 4, what="repetition medians")
    assert fit.slope == pytest.approx(4.0, abs=1e-9) and np.isnan(fit.lo) and np.isnan(fit.hi)
    assert fit.ci_method == "none: a size has a single timing (repetition medians)" and fit.min_sample == 1


def test_the_interval_is_scipy_s_bootstrap_over_each_size_s_sample(monkeypatch):
    from scipy import stats

    calls = []
    real = stats.bootstrap

    def spy(data, statistic, **kw):
        calls.append((len(data), kw))
        return real(data, statistic, **kw)

    monkeypatch.setattr(stats, "bootstrap", spy)
    rng = np.random.default_rng(2)
    t = [n**3 * rng.lognormal(0, 0.05, 3) for n in NS]
    fit = fit_slope(NS, t, sizes=[64, 128, 256, 512], what="repetition medians", n_resamples=999)
    assert calls == [(4, {"n_resamples": 999, "confidence_level": 0.95, "method": "percentile", "vectorized": True,
                          "paired": False, "rng": calls[0][1]["rng"]})]
    assert fit.ci_method == "scipy.stats.bootstrap percentile, 999 resamples of repetition medians within each size"
    assert (fit.n_lo, fit.n_hi, fit.n_points, fit.min_sample) == (64, 512, 4, 3)
    # the statistic fits the median of each size's sample
    med = np.log([np.median(t[list(NS).index(n)]) for n in (64, 128, 256, 512)])
    assert fit.slope == pytest.approx(np.polyfit(np.log([64, 128, 256, 512]), med, 1)[0])


def test_noisier_timings_give_wider_intervals():
    rng = np.random.default_rng(1)
    quiet = [n**3 * rng.lognormal(0, 0.01, 9) for n in NS]
    noisy = [n**3 * rng.lognormal(0, 0.3, 9) for n in NS]
    wq, wn = (f.hi - f.lo for f in (fit_slope(NS, quiet), fit_slope(NS, noisy)))
    assert wn > 5 * wq


def test_too_few_sizes_or_bad_times_give_none():
    assert fit_slope([8, 16], [1.0, 8.0]) is None
    assert fit_slope([8, 16, 32], [1.0, np.nan, 8.0]) is None
    assert fit_slope([8, 16, 32], [1.0, 0.0, 8.0]) is None


def test_default_asymptotic_range_is_the_larger_half():
    assert asymptotic_sizes([2, 4, 8, 16, 32, 64]).tolist() == [16, 32, 64]
    assert asymptotic_sizes([2, 4, 8, 16]).tolist() == [4, 8, 16]
    assert asymptotic_sizes([2, 4, 8, 16], n_min=8).tolist() == [8, 16]


def test_crossover_of_n4_against_n3():
    n = NS.astype(float)
    # a = n^4 / 100 overtakes b = n^3 at exactly n = 100
    c = crossover(n, n**4 / 100, n**3)
    assert c.kind == "crosses" and c.n == pytest.approx(100, rel=1e-9)


def test_crossover_kinds_and_missing_values():
    n = NS.astype(float)
    assert crossover(n, 2 * n**3, n**3).kind == "always"
    assert crossover(n, n**3, 2 * n**3).kind == "never"
    assert crossover(n, np.full(len(n), np.nan), n).kind == "no data"
    # a is slower at small n, faster in the middle, slower again from 64 on: the last crossing counts
    a = n**3 * np.where((n >= 8) & (n < 64), 0.5, 2.0)
    c = crossover(n, a, n**3)
    assert c.kind == "crosses" and 32 < c.n < 64
    # a size missing for a (skipped for memory) does not count against it
    t = n**4 / 100
    t[-1] = np.nan
    assert crossover(n, t, n**3).n == pytest.approx(100, rel=1e-9)
