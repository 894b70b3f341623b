"""The newsvendor decision (``gluonts_iqf.decision.newsvendor``): the
critical ratio, and the optimal stock and its expected cost against
quadrature (IQF), Monte Carlo (independent total) and numpy (samples)."""

import math

import numpy as np
import pytest
from gluonts.model.forecast import SampleForecast

from gluonts_iqf.decision import OptimalStock, newsvendor_level, optimal_stock


def test_newsvendor_level_values():
    assert newsvendor_level(3.0, 1.0) == 0.75
    assert newsvendor_level(1, 1) == 0.5
    assert newsvendor_level(19, 1) == 0.95
    assert newsvendor_level(1, 19) == 0.05
    assert newsvendor_level(np.float32(2), 6) == 0.25
    assert newsvendor_level(1e308, 1e308) == 0.5  # no overflow


def test_optimal_stock_iqf_against_quadrature(hand, fc):
    cu, co = 4.0, 1.0  # critical ratio 0.8, inside the piece [0.5, 0.9]
    opt = optimal_stock(fc, cu, co, lead_time=3, dependence="both")
    assert isinstance(opt, OptimalStock)
    assert opt.level == 0.8 and opt.lead_time == 3
    assert list(opt.stock.index) == hand.labels
    np.testing.assert_array_equal(opt.stock.to_numpy(), fc.quantile(0.8))
    for t in range(hand.H):
        s = opt.stock.iloc[t]
        ref = hand.cost(t, s, cu, co)
        assert opt.expected_cost.iloc[t] == pytest.approx(ref, rel=1e-9), t
        # it is the minimum: moving the stock either way costs more
        for ds in (-0.05, 0.05):
            assert hand.cost(t, s + ds, cu, co) > ref
    assert opt.total_stock["comonotone"] == pytest.approx(opt.stock.iloc[:3].sum(), rel=1e-14)
    assert opt.total_expected_cost["comonotone"] == pytest.approx(
        opt.expected_cost.iloc[:3].sum(), rel=1e-14)
    assert set(opt.approximate) == {"total_independent", "total_cost_independent"}
    frame = opt.to_frame()
    assert list(frame.index) == hand.labels + ["total_comonotone", "total_independent"]
    assert list(frame.columns) == ["stock", "expected_cost"]


@pytest.mark.parametrize("cu, co", [(1.0, 9.0), (99.0, 1.0)])
def test_optimal_stock_expected_cost_in_the_tails(hand, fc, cu, co):
    opt = optimal_stock(fc, cu, co)  # critical ratios 0.1 (knot) and 0.99 (tail)
    for t in range(hand.H):
        ref = hand.cost(t, opt.stock.iloc[t], cu, co)
        assert opt.expected_cost.iloc[t] == pytest.approx(ref, rel=1e-9)


def test_optimal_stock_independent_total_against_monte_carlo(fc, mc_paths, mc_se):
    n = mc_paths.shape[0]
    cu, co = 9.0, 1.0
    opt = optimal_stock(fc, cu, co, dependence="independent")
    assert list(opt.total_stock) == ["independent"]
    totals = np.sort(mc_paths.sum(axis=1))
    s_mc = np.quantile(totals, 0.9)
    assert abs(opt.total_stock["independent"] - s_mc) < 5 * mc_se(totals, 0.9, n)
    s = opt.total_stock["independent"]
    losses = cu * np.maximum(totals - s, 0) + co * np.maximum(s - totals, 0)
    se = losses.std() / math.sqrt(n)
    assert abs(opt.total_expected_cost["independent"] - losses.mean()) < 5 * se
    # pooling: the independent total needs less cost than the comonotone one
    como = optimal_stock(fc, cu, co)
    assert opt.total_expected_cost["independent"] < como.total_expected_cost["comonotone"]


def test_sample_forecast_optimal_stock_is_empirical(hand):
    rng = np.random.default_rng(5)
    samples = rng.gamma(2.0, 3.0, size=(1000, 3))
    sf = SampleForecast(samples=samples, start_date=hand.start)
    cu, co = 3.0, 1.0
    opt = optimal_stock(sf, cu, co, dependence="both")
    np.testing.assert_array_equal(opt.stock, sf.quantile(0.75))
    direct = np.mean(cu * np.maximum(samples - opt.stock.to_numpy(), 0)
                     + co * np.maximum(opt.stock.to_numpy() - samples, 0), axis=0)
    np.testing.assert_allclose(opt.expected_cost, direct, rtol=1e-12)
    totals = np.sort(samples.sum(axis=1))
    assert opt.total_stock["joint"] == totals[int(round(999 * 0.75))]
    assert set(opt.total_stock) == {"comonotone", "independent", "joint"}


def test_optimal_stock_multivariate(joint):
    fc, samples = joint.forecast, joint.samples
    cu, co = 3.0, 1.0
    opt = optimal_stock(fc, cu, co, lead_time=4)
    q = fc.quantile(0.75)
    assert opt.stock.index.names == ["series", "step"]
    for k in range(joint.dim):
        np.testing.assert_array_equal(opt.stock.loc[str(k)].to_numpy(), q[:, k])
        direct = np.mean(cu * np.maximum(samples[:, :, k] - q[:, k], 0)
                         + co * np.maximum(q[:, k] - samples[:, :, k], 0), axis=0)
        np.testing.assert_allclose(opt.expected_cost.loc[str(k)].to_numpy(), direct, rtol=1e-12)
    assert set(opt.total_stock) == {"joint:0", "joint:1", "joint:2", "joint:sum"}
    tot = samples[:, :4].sum((1, 2))
    s = joint.rule(tot, 0.75)
    assert opt.total_stock["joint:sum"] == s
    cost = np.mean(cu * np.maximum(tot - s, 0) + co * np.maximum(s - tot, 0))
    assert opt.total_expected_cost["joint:sum"] == pytest.approx(cost, rel=1e-12)
    assert opt.approximate == ()
    assert len(opt.to_frame()) == joint.dim * joint.H + 4
