"""Per-step views of GluonTS forecasts (``gluonts_iqf.decision.marginals``):
``SampleForecast`` (empirical quantiles, secant slopes, joint totals),
``QuantileForecast`` (GluonTS's interpolant) and the rejected types."""

import math

import numpy as np
import pytest
import torch
from gluonts.model.forecast import QuantileForecast, SampleForecast
from gluonts.torch.model.forecast import DistributionForecast

from gluonts_iqf.decision import lead_time_quantiles, optimal_stock, service_level_tradeoff
from gluonts_iqf.decision.marginals import QuantileTableMarginals, SampleMarginals


# ----- GluonTS SampleForecast ---------------------------------------------- #
def test_sample_forecast_independent_paths(hand, fc, mc_se):
    torch.manual_seed(7)
    n = 200_000
    samples = fc.distribution.sample((n,)).numpy()
    sf = SampleForecast(samples=samples, start_date=hand.start)
    levels = [0.3, 0.7, 0.95]
    labels = hand.labels
    tab = service_level_tradeoff(sf, levels)
    targets = labels + ["total_comonotone", "total_independent", "total_joint"]
    assert list(tab["stock"].columns) == targets
    for a in levels:
        np.testing.assert_array_equal(tab.loc[a, "stock"][labels], sf.quantile(a))
    # comonotone total = sum of sample quantiles, exactly the definition
    np.testing.assert_allclose(
        tab[("stock", "total_comonotone")], tab["stock"][labels].sum(axis=1), rtol=1e-14)
    # joint = empirical quantile of path totals (GluonTS's rounding rule)
    totals = np.sort(samples.sum(axis=1))
    for a in levels:
        assert tab.loc[a, ("stock", "total_joint")] == totals[int(round((n - 1) * a))]
        # the paths are independent draws: joint ~ independent convolution
        se = mc_se(totals, a, n)
        assert abs(tab.loc[a, ("stock", "total_joint")]
                   - tab.loc[a, ("stock", "total_independent")]) < 5 * se
    # marginal stock: secant over +-1 point, flagged approximate; at 0.3 and
    # 0.7 the secant stays inside one linear piece, so it estimates the exact
    # slope up to sampling noise (~2% here)
    exact = 0.01 * np.array([[hand.slope(t, a) for t in range(hand.H)] for a in (0.3, 0.7)])
    np.testing.assert_allclose(tab["stock_per_pp"].loc[[0.3, 0.7], labels], exact, rtol=0.1)
    assert ("stock_per_pp", labels[0]) in tab.attrs["approximate"]
    assert ("stock_per_pp", "total_joint") in tab.attrs["approximate"]
    assert ("stock", "total_joint") not in tab.attrs["approximate"]


def test_sample_forecast_comonotone_paths_joint_equals_comonotone(hand):
    """Paths driven by one uniform per path are comonotone: the quantile of
    their total is the sum of the step quantiles."""
    rng = np.random.default_rng(3)
    u = rng.uniform(size=(5000, 1))
    samples = np.concatenate([np.vectorize(hand.quantile)(t, u) for t in range(hand.H)], axis=1)
    sf = SampleForecast(samples=samples, start_date=hand.start)
    tab = lead_time_quantiles(sf, "0.05:0.95:0.05")
    np.testing.assert_allclose(tab["total_joint"], tab["total_comonotone"], rtol=1e-13)


def test_degenerate_samples_give_an_atom(hand):
    """All-zero demand (e.g. an intermittent item): every total is 0."""
    sf = SampleForecast(samples=np.zeros((50, 3)), start_date=hand.start)
    tab = service_level_tradeoff(sf, [0.5, 0.99])
    assert (tab["stock"] == 0).all().all()
    assert (tab["stock_per_pp"] == 0).all().all()


def test_sample_cdf_of_a_set_of_steps(hand):
    """cdf(steps, values (m, s)): column j is the empirical cdf of step
    steps[j] (fraction of samples <= value)."""
    rng = np.random.default_rng(2)
    samples = rng.integers(0, 10, size=(40, 3)).astype(float)
    marg = SampleMarginals(SampleForecast(samples=samples, start_date=hand.start))
    values = np.array([[-1.0, 0.0], [3.0, 4.5], [9.0, 20.0]])
    got = marg.cdf(np.array([2, 0]), values)
    for j, t in enumerate([2, 0]):
        np.testing.assert_array_equal(got[:, j], [(samples[:, t] <= v).mean() for v in values[:, j]])


# ----- GluonTS QuantileForecast -------------------------------------------- #
def matched_tail_forecast(hand):
    """An IQF whose tails are the exponentials GluonTS's QuantileForecast
    fits through the two outermost of the levels 0.1, 0.5, 0.9 on each side:
    then the QuantileForecast at those levels has the same quantile function."""
    vals = np.array(hand.knot_values)
    beta_l = math.log(5) / (vals[:, 1] - vals[:, 0])
    beta_r = math.log(5) / (vals[:, 2] - vals[:, 1])
    return hand.forecast(beta_l=beta_l.tolist(), beta_r=beta_r.tolist())


def test_quantile_forecast_reproduces_gluonts_interpolation(hand):
    fc = matched_tail_forecast(hand)
    labels = hand.labels
    qf = fc.to_quantile_forecast([0.1, 0.5, 0.9])
    levels = [0.02, 0.1, 0.25, 0.5, 0.8, 0.95, 0.99]
    tab = service_level_tradeoff(qf, levels)
    exact = service_level_tradeoff(fc, levels)
    for a in levels:
        np.testing.assert_array_equal(tab.loc[a, "stock"][labels], qf.quantile(a))
    # same quantile function (GluonTS's tail has a 1e-8 tolerance in its logs)
    cols = labels + ["total_comonotone"]
    np.testing.assert_allclose(tab["stock"][cols], exact["stock"][cols], rtol=1e-6, atol=1e-6)
    # the independent total convolves cdfs read off GluonTS's interpolant
    sd = math.sqrt(float(fc.distribution.variance.sum()))
    np.testing.assert_allclose(tab[("stock", "total_independent")],
                               exact[("stock", "total_independent")], rtol=0, atol=5e-5 * sd)
    # slopes by a one-sided difference: exact in the linear pieces, 1e-5 in tails
    np.testing.assert_allclose(tab["stock_per_pp"].loc[[0.25, 0.5, 0.8], labels],
                               exact["stock_per_pp"].loc[[0.25, 0.5, 0.8], labels], rtol=1e-6)
    np.testing.assert_allclose(tab["stock_per_pp"][cols], exact["stock_per_pp"][cols], rtol=1e-5)
    # d / pmf of the convolution grid: ~1e-3
    np.testing.assert_allclose(tab[("stock_per_pp", "total_independent")],
                               exact[("stock_per_pp", "total_independent")], rtol=5e-3)
    assert ("stock_per_pp", labels[0]) in tab.attrs["approximate"]
    # costs by the trapezoid rule on the level table
    for cu in (4.0, 99.0):  # critical ratios 0.8 (linear piece), 0.99 (tail)
        opt_q = optimal_stock(qf, cu, 1.0, dependence="both")
        opt_e = optimal_stock(fc, cu, 1.0, dependence="both")
        np.testing.assert_allclose(opt_q.expected_cost, opt_e.expected_cost, rtol=1e-4)
        for key in ("comonotone", "independent"):
            assert opt_q.total_stock[key] == pytest.approx(opt_e.total_stock[key], abs=5e-5 * sd)
            assert opt_q.total_expected_cost[key] == pytest.approx(
                opt_e.total_expected_cost[key], rel=1e-4)
        assert {"expected_cost", "total_cost_comonotone"} <= set(opt_q.approximate)


def test_quantile_table_cdf_inverts_the_interpolant(hand):
    """cdf(steps, values) of the level table at the table's own quantiles
    gives back their levels (column j for step steps[j])."""
    qf = matched_tail_forecast(hand).to_quantile_forecast([0.1, 0.5, 0.9])
    marg = QuantileTableMarginals(qf)
    levels = np.array([1e-6, 0.02, 0.3, 0.5, 0.8, 0.97, 1 - 1e-6])
    steps = np.array([3, 1])
    values = np.stack([qf.quantile(a)[steps] for a in levels])  # (7, 2)
    got = marg.cdf(steps, values)
    np.testing.assert_allclose(got, np.repeat(levels[:, None], 2, axis=1), rtol=1e-5)


def test_quantile_forecast_needs_two_levels(hand):
    qf = QuantileForecast(np.ones((1, 3)), hand.start, ["0.5"])
    with pytest.raises(ValueError, match="at least 2 stored quantile levels"):
        service_level_tradeoff(qf, [0.5])


# ----- rejected forecasts -------------------------------------------------- #
def test_unsupported_forecasts_raise_type_error(hand, fc):
    normal = DistributionForecast(
        torch.distributions.Normal(torch.zeros(3), torch.ones(3)), start_date=hand.start)
    for bad in (normal, np.zeros((10, 3)), fc.distribution, None):
        with pytest.raises(TypeError, match="QuantileFunctionForecast, a GluonTS"):
            service_level_tradeoff(bad, [0.5])
        with pytest.raises(TypeError, match="forecast must be"):
            optimal_stock(bad, 1.0, 1.0)


def test_multivariate_quantile_and_non_finite_forecasts_are_rejected(hand):
    # (multivariate SampleForecasts are supported: test_totals.py, test_tradeoff.py)
    qf = QuantileForecast(np.zeros((2, 3, 2)), hand.start, ["0.1", "0.9"])
    with pytest.raises(ValueError, match="only univariate"):
        service_level_tradeoff(qf, [0.5])
    bad = np.ones((10, 3))
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        service_level_tradeoff(SampleForecast(samples=bad, start_date=hand.start), [0.5])
