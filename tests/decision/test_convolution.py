"""The total of independent steps (``gluonts_iqf.decision.convolution``):
the convolution engine on Gaussians (exact sums), and the independent
lead-time total of the hand-written IQF against Monte Carlo and
quadrature."""

import math

import numpy as np
import pytest
from scipy import integrate, optimize, stats

from gluonts_iqf.decision import convolution, lead_time_quantiles, service_level_tradeoff
from gluonts_iqf.decision.convolution import TAIL_LEVEL, SumHistogram, step_blocks
from gluonts_iqf.decision.iqf_marginals import IQFMarginals

MC_LEVELS = [0.05, 0.2, 0.5, 0.8, 0.9, 0.95, 0.99]


def test_independent_sum_of_gaussians_is_exact_to_1e5_sd():
    """The convolution engine on Gaussians, whose sum is known exactly."""
    rng = np.random.default_rng(0)
    levels = np.array([1e-4, 0.01, 0.1, 0.5, 0.9, 0.95, 0.99, 0.9999])
    for L in (1, 3, 30):
        mu, sd = rng.normal(10, 3, L), rng.uniform(0.5, 3, L)
        lo = stats.norm.ppf(TAIL_LEVEL, mu, sd)
        hi = stats.norm.isf(TAIL_LEVEL, mu, sd)
        hist = SumHistogram(lambda steps, v: stats.norm.cdf(v, mu[steps], sd[steps]), lo, hi)
        S = math.sqrt((sd**2).sum())
        exact = stats.norm.ppf(levels, mu.sum(), S)
        np.testing.assert_allclose(hist.quantile(levels), exact, rtol=0, atol=1e-5 * S)
        dens = stats.norm.pdf(exact, mu.sum(), S)
        np.testing.assert_allclose(hist.slope(levels), 1 / dens, rtol=5e-3)
        assert hist.mean == pytest.approx(mu.sum(), abs=1e-8 * S)
        s, cu, co = exact[5], 3.0, 1.0
        z = (s - mu.sum()) / S
        above = S * (stats.norm.pdf(z) - z * stats.norm.sf(z))
        below = above + s - mu.sum()
        assert hist.expected_cost(s, cu, co) == pytest.approx(cu * above + co * below, rel=1e-6)


def test_step_blocks_cover_every_step_once_within_budget():
    lengths = np.array([5, 1, 40, 3, 3, 0, 12])
    blocks = step_blocks(lengths, 12)
    assert sorted(np.concatenate(blocks).tolist()) == list(range(lengths.size))
    for b in blocks:
        assert len(b) == 1 or len(b) * lengths[b].max() <= 12
    assert [b.tolist() for b in step_blocks(lengths, 10**6)] == [[5, 1, 3, 4, 0, 6, 2]]


def test_the_cdf_blocks_do_not_change_the_sum(fc, monkeypatch):
    """Steps padded into blocks of any size give the same pmf as one step
    per call."""
    marg = IQFMarginals(fc)
    lo, hi = marg.support()
    monkeypatch.setattr(convolution, "CDF_BLOCK_VALUES", 1)  # one step per block
    single = SumHistogram(marg.cdf, lo, hi)
    monkeypatch.setattr(convolution, "CDF_BLOCK_VALUES", 10**9)  # all steps in one block
    together = SumHistogram(marg.cdf, lo, hi)
    assert single.start == together.start and single.step == together.step
    np.testing.assert_array_equal(single.pmf, together.pmf)


def test_independent_total_matches_monte_carlo(fc, mc_paths, mc_se):
    """10**6 seeded draws from forecast.distribution, independent across
    steps: every quantile within 5 Monte Carlo standard errors."""
    n = mc_paths.shape[0]
    for L in (2, fc.prediction_length):
        tab = lead_time_quantiles(fc, MC_LEVELS, lead_time=L)
        totals = np.sort(mc_paths[:, :L].sum(axis=1))
        mc = np.quantile(totals, MC_LEVELS)
        for a, got, ref in zip(MC_LEVELS, tab["total_independent"], mc):
            assert abs(got - ref) < 5 * mc_se(totals, a, n), (L, a, got, ref)


def test_independent_total_of_two_steps_matches_quadrature(hand, fc):
    """P(Y_0 + Y_1 <= s) = int_0^1 F_0(s - q_1(u)) du by quad; its root in s
    for each level is the reference quantile (error < 1e-5 sd of the sum)."""

    def G(s):
        return integrate.quad(lambda u: hand.cdf(0, s - hand.quantile(1, u)), 0, 1,
                              points=[0.1, 0.5, 0.9], limit=500, epsabs=1e-13)[0]

    levels = [0.01, 0.25, 0.5, 0.9, 0.99]
    tab = lead_time_quantiles(fc, levels, lead_time=2, dependence="independent")
    sd = math.sqrt(float(fc.distribution.variance[:2].sum()))
    for a, got in zip(levels, tab["total_independent"]):
        ref = optimize.brentq(lambda s: G(s) - a, -100, 200, xtol=1e-12)
        assert abs(got - ref) < 1e-5 * sd, (a, got, ref)


def test_single_step_independent_total_is_that_step(hand, fc):
    tab = service_level_tradeoff(fc, [0.01, 0.5, 0.95], lead_time=1)
    q = tab["stock"][hand.labels[0]].to_numpy()
    np.testing.assert_allclose(tab[("stock", "total_independent")], q, atol=1e-6)
    np.testing.assert_array_equal(tab[("stock", "total_comonotone")], q)


def test_iid_independent_total_lies_below_comonotone_above_median(hand):
    """Sums of iid steps concentrate: for alpha > 0.5 the independent total
    is below the comonotone one (and above it for alpha < 0.5)."""
    n = 5
    fc = hand.forecast(values=[[0.0, 1.0, 2.0]] * n, beta_l=[1.0] * n, beta_r=[1.0] * n,
                       loc=[0.0] * n, scale=[1.0] * n)
    tab = lead_time_quantiles(fc, "0.01:0.99")
    hi = tab.index > 0.5
    lo = tab.index < 0.5
    assert (tab["total_independent"][hi] < tab["total_comonotone"][hi]).all()
    assert (tab["total_independent"][lo] > tab["total_comonotone"][lo]).all()
    # at the median the symmetric sum's median is n times the step median
    assert tab.loc[0.5, "total_independent"] == pytest.approx(n * 1.0, abs=1e-5)
    # and both totals are non-decreasing in the level
    assert (np.diff(tab["total_independent"]) > 0).all()
