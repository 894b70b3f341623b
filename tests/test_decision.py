"""Tests for ``gluonts_iqf.decision``.

The reference numbers are computed here from the knot values, tail rates,
loc and scale of hand-built IQFs (closed forms written out independently of
the package), by scipy quadrature, by exact Gaussian sums and by seeded
Monte Carlo with tolerances of five standard errors.
"""

import doctest
import math

import numpy as np
import pandas as pd
import pytest
import torch
from gluonts.model.forecast import QuantileForecast, SampleForecast
from gluonts.torch.model.forecast import DistributionForecast
from scipy import integrate, optimize, stats

from gluonts_iqf import IQF, QuantileFunctionForecast
from gluonts_iqf import decision
from gluonts_iqf.decision import (
    OptimalStock,
    lead_time_quantiles,
    newsvendor_level,
    optimal_stock,
    service_level_tradeoff,
)

START = pd.Period("2020-01-01", freq="D")
KNOT_LEVELS = [0.1, 0.5, 0.9]
# per step t: knot values (before loc/scale), tail rates, loc, scale
KNOT_VALUES = [[0.0, 1.0, 2.0], [1.0, 3.0, 4.0], [2.0, 2.5, 5.0], [0.0, 4.0, 6.0]]
BETA_L = [1.0, 2.0, 0.5, 1.5]
BETA_R = [0.5, 1.0, 2.0, 0.25]
LOC = [10.0, 0.0, -5.0, 3.0]
SCALE = [2.0, 1.0, 0.5, 3.0]
H = len(KNOT_VALUES)
LABELS = [str(p) for p in pd.period_range(START, periods=H, freq="D")]
MC_DRAWS = 10**6


def make_forecast(dtype=torch.float64, values=KNOT_VALUES, beta_l=BETA_L,
                  beta_r=BETA_R, loc=LOC, scale=SCALE):
    t = lambda v: torch.tensor(v, dtype=dtype)  # noqa: E731
    distr = IQF(KNOT_LEVELS, t(values), t(beta_l), t(beta_r), loc=t(loc), scale=t(scale))
    return QuantileFunctionForecast(distr, start_date=START, item_id="x")


# ----- the fixture's distribution written out by hand ---------------------- #
def ref_quantile(t, a):
    v0, v1, v2 = KNOT_VALUES[t]
    if a < 0.1:
        z = v0 + math.log(a / 0.1) / BETA_L[t]
    elif a <= 0.5:
        z = v0 + (v1 - v0) * (a - 0.1) / 0.4
    elif a <= 0.9:
        z = v1 + (v2 - v1) * (a - 0.5) / 0.4
    else:
        z = v2 - math.log((1 - a) / 0.1) / BETA_R[t]
    return LOC[t] + SCALE[t] * z


def ref_slope(t, a):
    """Right derivative dq/da of step t."""
    v0, v1, v2 = KNOT_VALUES[t]
    if a < 0.1:
        s = 1 / (BETA_L[t] * a)
    elif a < 0.5:
        s = (v1 - v0) / 0.4
    elif a < 0.9:
        s = (v2 - v1) / 0.4
    else:
        s = 1 / (BETA_R[t] * (1 - a))
    return SCALE[t] * s


def ref_cdf(t, y):
    v0, v1, v2 = KNOT_VALUES[t]
    z = (y - LOC[t]) / SCALE[t]
    if z < v0:
        return 0.1 * math.exp(BETA_L[t] * (z - v0))
    if z <= v1:
        return 0.1 + 0.4 * (z - v0) / (v1 - v0)
    if z <= v2:
        return 0.5 + 0.4 * (z - v1) / (v2 - v1)
    return 1 - 0.1 * math.exp(-BETA_R[t] * (z - v2))


def quad_cost(t, s, cu, co):
    """E[cu (Y - s)+ + co (s - Y)+] = int_0^1 of the loss at q(a), by quad."""

    def loss(a):
        d = ref_quantile(t, a) - s
        return cu * max(d, 0.0) + co * max(-d, 0.0)

    points = sorted({0.1, 0.5, 0.9, min(max(ref_cdf(t, s), 1e-12), 1 - 1e-12)})
    value, err = integrate.quad(loss, 0.0, 1.0, points=points, limit=500,
                                epsabs=1e-13, epsrel=1e-12)
    assert err < 1e-9
    return value


def mc_se(totals_sorted, a, n):
    """Standard error of the empirical a-quantile: sqrt(a(1-a)/n) / density,
    with the density from the Monte Carlo quantiles 0.005 apart."""
    q_hi, q_lo = np.quantile(totals_sorted, [min(a + 0.005, 1), max(a - 0.005, 0)])
    return math.sqrt(a * (1 - a) / n) * (q_hi - q_lo) / 0.01


@pytest.fixture(scope="module")
def fc():
    return make_forecast()


@pytest.fixture(scope="module")
def mc_paths(fc):
    torch.manual_seed(1234)
    with torch.no_grad():
        return fc.distribution.sample((MC_DRAWS,)).numpy()  # (n, H)


# ----- levels ------------------------------------------------------------- #
def test_level_strings_give_exact_decimal_floats():
    tab = service_level_tradeoff(make_forecast(), "0.90:0.99")
    assert tab.index.name == "level"
    assert tab.index.tolist() == [0.9, 0.91, 0.92, 0.93, 0.94, 0.95, 0.96, 0.97, 0.98, 0.99]
    tab = service_level_tradeoff(make_forecast(), "0.90:0.92:0.005")
    assert tab.index.tolist() == [0.9, 0.905, 0.91, 0.915, 0.92]
    tab = service_level_tradeoff(make_forecast(), (0.5, 0.8))
    assert tab.index.tolist() == [0.5, 0.8]
    tab = service_level_tradeoff(make_forecast(), 0.9)
    assert tab.index.tolist() == [0.9]


# ----- the trade-off table on an IQF ------------------------------------- #
def test_layout(fc):
    tab = service_level_tradeoff(fc, [0.5, 0.9], lead_time=3)
    assert tab.columns.names == ["quantity", "target"]
    assert list(tab.columns.get_level_values(0).unique()) == [
        "stock", "extra_stock", "stock_per_pp"]
    targets = LABELS + ["total_comonotone", "total_independent"]
    for q in ("stock", "extra_stock", "stock_per_pp"):
        assert list(tab[q].columns) == targets
    assert tab.shape == (2, 3 * (H + 2))
    assert tab.attrs["lead_time"] == 3
    assert tab.attrs["steps"] == LABELS[:3]
    assert tab.attrs["forecast"] == "QuantileFunctionForecast"
    # only the numerically convolved total is approximate for an IQF
    assert tab.attrs["approximate"] == sorted(
        (q, "total_independent") for q in ("stock", "extra_stock", "stock_per_pp"))
    assert set(tab.attrs["methods"]) >= {"stock", "stock_per_pp", "total_independent"}
    only = service_level_tradeoff(fc, [0.5], dependence="comonotone")
    assert list(only["stock"].columns) == LABELS + ["total_comonotone"]
    only = service_level_tradeoff(fc, [0.5], dependence="independent")
    assert list(only["stock"].columns) == LABELS + ["total_independent"]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_stock_equals_forecast_quantile_exactly(dtype):
    fc = make_forecast(dtype)
    levels = [0.01, 0.05, 0.3, 0.5, 0.77, 0.9, 0.95, 0.999]
    tab = service_level_tradeoff(fc, levels)
    for a in levels:
        got = tab.loc[a, "stock"][LABELS].to_numpy()
        np.testing.assert_array_equal(got, fc.quantile(a).astype(np.float64))
        expected = [ref_quantile(t, a) for t in range(H)]
        tol = 1e-12 if dtype == torch.float64 else 1e-5
        np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)


def test_planner_question_94_to_95(fc):
    """"95% instead of 94%": the extra stock is q(0.95) - q(0.94) per step;
    both levels lie in the right tail, where it is s_R * ln(0.06 / 0.05)."""
    tab = service_level_tradeoff(fc, "0.94:0.95")
    assert tab.index.tolist() == [0.94, 0.95]
    assert tab["extra_stock"].loc[0.94].isna().all()
    extra = tab.loc[0.95, "extra_stock"][LABELS].to_numpy()
    np.testing.assert_array_equal(extra, fc.quantile(0.95) - fc.quantile(0.94))
    analytic = [SCALE[t] / BETA_R[t] * math.log(0.06 / 0.05) for t in range(H)]
    np.testing.assert_allclose(extra, analytic, rtol=1e-12)
    # totals: extra stock is the difference of the total column too
    for name in ("total_comonotone", "total_independent"):
        col = tab[("stock", name)]
        assert tab.loc[0.95, ("extra_stock", name)] == col[0.95] - col[0.94]
    assert tab.loc[0.95, ("extra_stock", "total_comonotone")] == pytest.approx(
        sum(analytic), rel=1e-12)


LEVELS_BY_REGION = [0.02, 0.07, 0.1, 0.3, 0.45, 0.5, 0.6, 0.85, 0.9, 0.93, 0.99, 0.9995]


def test_marginal_stock_is_exact_slope(fc):
    tab = service_level_tradeoff(fc, LEVELS_BY_REGION)
    got = tab["stock_per_pp"][LABELS].to_numpy()  # (n, H)
    expected = 0.01 * np.array([[ref_slope(t, a) for t in range(H)] for a in LEVELS_BY_REGION])
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    # ... which is 0.01 / f(q(alpha)) through the IQF's own log_prob
    # (away from the knots, where f jumps)
    inner = [i for i, a in enumerate(LEVELS_BY_REGION) if a not in KNOT_LEVELS]
    u = torch.tensor([LEVELS_BY_REGION[i] for i in inner], dtype=torch.float64)
    with torch.no_grad():
        q = fc.distribution.icdf(u.unsqueeze(-1))
        via_density = 0.01 * torch.exp(-fc.distribution.log_prob(q)).numpy()
    np.testing.assert_allclose(got[inner], via_density, rtol=1e-10)


def test_marginal_stock_matches_finite_differences(fc):
    """Central differences of forecast.quantile: exact (to rounding) inside a
    linear piece, O(h^2) in the exponential tails."""
    h = 1e-5
    tab = service_level_tradeoff(fc, [0.03, 0.2, 0.7, 0.97])
    for a in [0.2, 0.7]:  # linear pieces: the slope is constant there
        fd = (fc.quantile(a + h) - fc.quantile(a - h)) / (2 * h)
        np.testing.assert_allclose(tab.loc[a, "stock_per_pp"][LABELS], 0.01 * fd, rtol=1e-6)
    for a in [0.03, 0.97]:  # tails: s / a and s / (1 - a)
        fd = (fc.quantile(a + h) - fc.quantile(a - h)) / (2 * h)
        np.testing.assert_allclose(tab.loc[a, "stock_per_pp"][LABELS], 0.01 * fd, rtol=1e-6)


def test_marginal_stock_with_spline_pieces():
    """ISQF (2 pieces per interval): the slope on a piece is scale * height
    share * value gap / (width share * level gap)."""
    widths = torch.tensor([[[0.25, 0.75], [0.5, 0.5]]], dtype=torch.float64)
    heights = torch.tensor([[[0.6, 0.4], [0.1, 0.9]]], dtype=torch.float64)
    distr = IQF(KNOT_LEVELS, torch.tensor([[0.0, 2.0, 3.0]], dtype=torch.float64),
                torch.tensor([1.0], dtype=torch.float64), torch.tensor([1.0], dtype=torch.float64),
                piece_widths=widths, piece_heights=heights,
                scale=torch.tensor([4.0], dtype=torch.float64))
    fc = QuantileFunctionForecast(distr, START)
    # pieces: [0.1, 0.2) slope 2*0.6/0.1, [0.2, 0.5) 2*0.4/0.3,
    #         [0.5, 0.7) 1*0.1/0.2, [0.7, 0.9) 1*0.9/0.2
    levels = [0.15, 0.2, 0.4, 0.6, 0.8]
    expected = 0.01 * 4.0 * np.array([12.0, 0.8 / 0.3, 0.8 / 0.3, 0.5, 4.5])
    tab = service_level_tradeoff(fc, levels)
    np.testing.assert_allclose(tab["stock_per_pp"][str(START)], expected, rtol=1e-12)


def test_comonotone_total_is_sum_of_step_quantiles(fc):
    tab = service_level_tradeoff(fc, "0.50:0.99", lead_time=3)
    np.testing.assert_allclose(
        tab[("stock", "total_comonotone")], tab["stock"][LABELS[:3]].sum(axis=1), rtol=1e-14)
    np.testing.assert_allclose(
        tab[("stock_per_pp", "total_comonotone")],
        tab["stock_per_pp"][LABELS[:3]].sum(axis=1), rtol=1e-14)
    full = service_level_tradeoff(fc, "0.50:0.99")  # default: whole horizon
    assert full.attrs["lead_time"] == H
    np.testing.assert_allclose(
        full[("stock", "total_comonotone")], full["stock"][LABELS].sum(axis=1), rtol=1e-14)


MC_LEVELS = [0.05, 0.2, 0.5, 0.8, 0.9, 0.95, 0.99]


def test_independent_total_matches_monte_carlo(fc, mc_paths):
    """10**6 seeded draws from forecast.distribution, independent across
    steps: every quantile within 5 Monte Carlo standard errors."""
    for L in (2, H):
        tab = lead_time_quantiles(fc, MC_LEVELS, lead_time=L)
        totals = np.sort(mc_paths[:, :L].sum(axis=1))
        mc = np.quantile(totals, MC_LEVELS)
        for a, got, ref in zip(MC_LEVELS, tab["total_independent"], mc):
            assert abs(got - ref) < 5 * mc_se(totals, a, MC_DRAWS), (L, a, got, ref)


def test_independent_total_of_two_steps_matches_quadrature(fc):
    """P(Y_0 + Y_1 <= s) = int_0^1 F_0(s - q_1(u)) du by quad; its root in s
    for each level is the reference quantile (error < 1e-5 sd of the sum)."""

    def G(s):
        return integrate.quad(lambda u: ref_cdf(0, s - ref_quantile(1, u)), 0, 1,
                              points=[0.1, 0.5, 0.9], limit=500, epsabs=1e-13)[0]

    levels = [0.01, 0.25, 0.5, 0.9, 0.99]
    tab = lead_time_quantiles(fc, levels, lead_time=2, dependence="independent")
    sd = math.sqrt(float(fc.distribution.variance[:2].sum()))
    for a, got in zip(levels, tab["total_independent"]):
        ref = optimize.brentq(lambda s: G(s) - a, -100, 200, xtol=1e-12)
        assert abs(got - ref) < 1e-5 * sd, (a, got, ref)


def test_independent_sum_of_gaussians_is_exact_to_1e5_sd():
    """The convolution engine on Gaussians, whose sum is known exactly."""
    rng = np.random.default_rng(0)
    levels = np.array([1e-4, 0.01, 0.1, 0.5, 0.9, 0.95, 0.99, 0.9999])
    for L in (1, 3, 30):
        mu, sd = rng.normal(10, 3, L), rng.uniform(0.5, 3, L)
        lo = stats.norm.ppf(decision.TAIL_LEVEL, mu, sd)
        hi = stats.norm.isf(decision.TAIL_LEVEL, mu, sd)
        hist = decision._SumHistogram(lambda t, v: stats.norm.cdf(v, mu[t], sd[t]), lo, hi)
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


def test_single_step_independent_total_is_that_step(fc):
    tab = service_level_tradeoff(fc, [0.01, 0.5, 0.95], lead_time=1)
    q = tab["stock"][LABELS[0]].to_numpy()
    np.testing.assert_allclose(tab[("stock", "total_independent")], q, atol=1e-6)
    np.testing.assert_array_equal(tab[("stock", "total_comonotone")], q)


def test_iid_independent_total_lies_below_comonotone_above_median():
    """Sums of iid steps concentrate: for alpha > 0.5 the independent total
    is below the comonotone one (and above it for alpha < 0.5)."""
    n = 5
    fc = make_forecast(values=[[0.0, 1.0, 2.0]] * n, beta_l=[1.0] * n, beta_r=[1.0] * n,
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


def test_lead_time_quantiles_agrees_with_tradeoff_table(fc):
    levels = [0.3, 0.9]
    lt = lead_time_quantiles(fc, levels, lead_time=3)
    tab = service_level_tradeoff(fc, levels, lead_time=3)
    assert list(lt.columns) == ["total_comonotone", "total_independent"]
    assert lt.attrs["lead_time"] == 3
    assert lt.attrs["approximate"] == ["total_independent"]
    for name in lt.columns:
        np.testing.assert_array_equal(lt[name], tab[("stock", name)])
    only = lead_time_quantiles(fc, levels, dependence="comonotone")
    assert list(only.columns) == ["total_comonotone"]


# ----- newsvendor ---------------------------------------------------------- #
def test_newsvendor_level_values():
    assert newsvendor_level(3.0, 1.0) == 0.75
    assert newsvendor_level(1, 1) == 0.5
    assert newsvendor_level(19, 1) == 0.95
    assert newsvendor_level(1, 19) == 0.05
    assert newsvendor_level(np.float32(2), 6) == 0.25
    assert newsvendor_level(1e308, 1e308) == 0.5  # no overflow


@pytest.mark.parametrize("cu, co, name", [
    (0.0, 1.0, "underage_cost"), (-1.0, 1.0, "underage_cost"),
    (1.0, 0.0, "overage_cost"), (1.0, float("inf"), "overage_cost"),
    (float("nan"), 1.0, "underage_cost"), (True, 1.0, "underage_cost"),
    ("3", 1.0, "underage_cost"), (1.0, None, "overage_cost"),
])
def test_newsvendor_level_rejects_bad_costs(cu, co, name):
    with pytest.raises(ValueError, match=f"{name} must be a positive finite number"):
        newsvendor_level(cu, co)
    with pytest.raises(ValueError, match=name):
        optimal_stock(make_forecast(), cu, co)


def test_optimal_stock_iqf_against_quadrature(fc):
    cu, co = 4.0, 1.0  # critical ratio 0.8, inside the piece [0.5, 0.9]
    opt = optimal_stock(fc, cu, co, lead_time=3, dependence="both")
    assert isinstance(opt, OptimalStock)
    assert opt.level == 0.8 and opt.lead_time == 3
    assert list(opt.stock.index) == LABELS
    np.testing.assert_array_equal(opt.stock.to_numpy(), fc.quantile(0.8))
    for t in range(H):
        s = opt.stock.iloc[t]
        ref = quad_cost(t, s, cu, co)
        assert opt.expected_cost.iloc[t] == pytest.approx(ref, rel=1e-9), t
        # it is the minimum: moving the stock either way costs more
        for ds in (-0.05, 0.05):
            assert quad_cost(t, s + ds, cu, co) > ref
    assert opt.total_stock["comonotone"] == pytest.approx(opt.stock.iloc[:3].sum(), rel=1e-14)
    assert opt.total_expected_cost["comonotone"] == pytest.approx(
        opt.expected_cost.iloc[:3].sum(), rel=1e-14)
    assert set(opt.approximate) == {"total_independent", "total_cost_independent"}
    frame = opt.to_frame()
    assert list(frame.index) == LABELS + ["total_comonotone", "total_independent"]
    assert list(frame.columns) == ["stock", "expected_cost"]


@pytest.mark.parametrize("cu, co", [(1.0, 9.0), (99.0, 1.0)])
def test_optimal_stock_expected_cost_in_the_tails(fc, cu, co):
    opt = optimal_stock(fc, cu, co)  # critical ratios 0.1 (knot) and 0.99 (tail)
    for t in range(H):
        ref = quad_cost(t, opt.stock.iloc[t], cu, co)
        assert opt.expected_cost.iloc[t] == pytest.approx(ref, rel=1e-9)


def test_optimal_stock_independent_total_against_monte_carlo(fc, mc_paths):
    cu, co = 9.0, 1.0
    opt = optimal_stock(fc, cu, co, dependence="independent")
    assert list(opt.total_stock) == ["independent"]
    totals = np.sort(mc_paths.sum(axis=1))
    s_mc = np.quantile(totals, 0.9)
    assert abs(opt.total_stock["independent"] - s_mc) < 5 * mc_se(totals, 0.9, MC_DRAWS)
    s = opt.total_stock["independent"]
    losses = cu * np.maximum(totals - s, 0) + co * np.maximum(s - totals, 0)
    se = losses.std() / math.sqrt(MC_DRAWS)
    assert abs(opt.total_expected_cost["independent"] - losses.mean()) < 5 * se
    # pooling: the independent total needs less cost than the comonotone one
    como = optimal_stock(fc, cu, co)
    assert opt.total_expected_cost["independent"] < como.total_expected_cost["comonotone"]


# ----- GluonTS SampleForecast ---------------------------------------------- #
def test_sample_forecast_independent_paths(fc):
    torch.manual_seed(7)
    n = 200_000
    samples = fc.distribution.sample((n,)).numpy()
    sf = SampleForecast(samples=samples, start_date=START)
    levels = [0.3, 0.7, 0.95]
    tab = service_level_tradeoff(sf, levels)
    targets = LABELS + ["total_comonotone", "total_independent", "total_joint"]
    assert list(tab["stock"].columns) == targets
    for a in levels:
        np.testing.assert_array_equal(tab.loc[a, "stock"][LABELS], sf.quantile(a))
    # comonotone total = sum of sample quantiles, exactly the definition
    np.testing.assert_allclose(
        tab[("stock", "total_comonotone")], tab["stock"][LABELS].sum(axis=1), rtol=1e-14)
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
    exact = 0.01 * np.array([[ref_slope(t, a) for t in range(H)] for a in (0.3, 0.7)])
    np.testing.assert_allclose(tab["stock_per_pp"].loc[[0.3, 0.7], LABELS], exact, rtol=0.1)
    assert ("stock_per_pp", LABELS[0]) in tab.attrs["approximate"]
    assert ("stock_per_pp", "total_joint") in tab.attrs["approximate"]
    assert ("stock", "total_joint") not in tab.attrs["approximate"]


def test_sample_forecast_comonotone_paths_joint_equals_comonotone():
    """Paths driven by one uniform per path are comonotone: the quantile of
    their total is the sum of the step quantiles."""
    rng = np.random.default_rng(3)
    u = rng.uniform(size=(5000, 1))
    samples = np.concatenate([np.vectorize(ref_quantile)(t, u) for t in range(H)], axis=1)
    sf = SampleForecast(samples=samples, start_date=START)
    tab = lead_time_quantiles(sf, "0.05:0.95:0.05")
    np.testing.assert_allclose(tab["total_joint"], tab["total_comonotone"], rtol=1e-13)


def test_sample_forecast_optimal_stock_is_empirical():
    rng = np.random.default_rng(5)
    samples = rng.gamma(2.0, 3.0, size=(1000, 3))
    sf = SampleForecast(samples=samples, start_date=START)
    cu, co = 3.0, 1.0
    opt = optimal_stock(sf, cu, co, dependence="both")
    np.testing.assert_array_equal(opt.stock, sf.quantile(0.75))
    direct = np.mean(cu * np.maximum(samples - opt.stock.to_numpy(), 0)
                     + co * np.maximum(opt.stock.to_numpy() - samples, 0), axis=0)
    np.testing.assert_allclose(opt.expected_cost, direct, rtol=1e-12)
    totals = np.sort(samples.sum(axis=1))
    assert opt.total_stock["joint"] == totals[int(round(999 * 0.75))]
    assert set(opt.total_stock) == {"comonotone", "independent", "joint"}


def test_degenerate_samples_give_an_atom():
    """All-zero demand (e.g. an intermittent item): every total is 0."""
    sf = SampleForecast(samples=np.zeros((50, 3)), start_date=START)
    tab = service_level_tradeoff(sf, [0.5, 0.99])
    assert (tab["stock"] == 0).all().all()
    assert (tab["stock_per_pp"] == 0).all().all()


# ----- GluonTS QuantileForecast -------------------------------------------- #
def matched_tail_forecast():
    """An IQF whose tails are the exponentials GluonTS's QuantileForecast
    fits through the two outermost of the levels 0.1, 0.5, 0.9 on each side:
    then the QuantileForecast at those levels has the same quantile function."""
    vals = np.array(KNOT_VALUES)
    beta_l = math.log(5) / (vals[:, 1] - vals[:, 0])
    beta_r = math.log(5) / (vals[:, 2] - vals[:, 1])
    return make_forecast(beta_l=beta_l.tolist(), beta_r=beta_r.tolist())


def test_quantile_forecast_reproduces_gluonts_interpolation():
    fc = matched_tail_forecast()
    qf = fc.to_quantile_forecast([0.1, 0.5, 0.9])
    levels = [0.02, 0.1, 0.25, 0.5, 0.8, 0.95, 0.99]
    tab = service_level_tradeoff(qf, levels)
    exact = service_level_tradeoff(fc, levels)
    for a in levels:
        np.testing.assert_array_equal(tab.loc[a, "stock"][LABELS], qf.quantile(a))
    # same quantile function (GluonTS's tail has a 1e-8 tolerance in its logs)
    cols = LABELS + ["total_comonotone"]
    np.testing.assert_allclose(tab["stock"][cols], exact["stock"][cols], rtol=1e-6, atol=1e-6)
    # the independent total convolves cdfs read off GluonTS's interpolant
    sd = math.sqrt(float(fc.distribution.variance.sum()))
    np.testing.assert_allclose(tab[("stock", "total_independent")],
                               exact[("stock", "total_independent")], rtol=0, atol=5e-5 * sd)
    # slopes by a one-sided difference: exact in the linear pieces, 1e-5 in tails
    np.testing.assert_allclose(tab["stock_per_pp"].loc[[0.25, 0.5, 0.8], LABELS],
                               exact["stock_per_pp"].loc[[0.25, 0.5, 0.8], LABELS], rtol=1e-6)
    np.testing.assert_allclose(tab["stock_per_pp"][cols], exact["stock_per_pp"][cols], rtol=1e-5)
    # d / pmf of the convolution grid: ~1e-3
    np.testing.assert_allclose(tab[("stock_per_pp", "total_independent")],
                               exact[("stock_per_pp", "total_independent")], rtol=5e-3)
    assert ("stock_per_pp", LABELS[0]) in tab.attrs["approximate"]
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


def test_quantile_forecast_needs_two_levels():
    qf = QuantileForecast(np.ones((1, 3)), START, ["0.5"])
    with pytest.raises(ValueError, match="at least 2 stored quantile levels"):
        service_level_tradeoff(qf, [0.5])


# ----- bad inputs ---------------------------------------------------------- #
@pytest.mark.parametrize("levels, message", [
    ([0.0, 0.5], r"strictly inside \(0, 1\)"),
    ([0.5, 1.0], r"strictly inside \(0, 1\)"),
    ([-0.1], r"strictly inside \(0, 1\)"),
    ([0.9, 0.5], "unsorted"),
    ([0.5, 0.5], "repeated"),
    ([0.5, float("nan")], "NaN"),
    ([], "empty"),
    (np.array([[0.5, 0.6]]), "one-dimensional"),
    (["a", "b"], "must be numbers"),
    ([True, False], "booleans"),
    ({0.5, 0.6}, "sequence of floats"),
    ("0.90-0.99", "malformed levels string"),
    ("0.90:", "malformed levels string"),
    ("0.9:0.95:0.01:1", "malformed levels string"),
    ("0.9:abc", "decimal numbers"),
    ("0.9:nan", "finite"),
    ("0.99:0.90", "greater than stop"),
    ("0.90:0.99:0", "step must be > 0"),
    ("0.90:0.99:-0.01", "step must be > 0"),
    ("0.90:0.995", "whole number of steps"),
    ("0.90:1.0", r"strictly inside \(0, 1\)"),
])
def test_bad_levels(fc, levels, message):
    with pytest.raises(ValueError, match=message):
        service_level_tradeoff(fc, levels)
    with pytest.raises(ValueError, match=message):
        lead_time_quantiles(fc, levels)


@pytest.mark.parametrize("lead_time", [0, -1, H + 1, 1.5, True, "2"])
def test_bad_lead_time(fc, lead_time):
    with pytest.raises(ValueError, match="lead_time"):
        service_level_tradeoff(fc, [0.5], lead_time=lead_time)
    with pytest.raises(ValueError, match="lead_time"):
        optimal_stock(fc, 1.0, 1.0, lead_time=lead_time)
    with pytest.raises(ValueError, match="lead_time"):
        lead_time_quantiles(fc, [0.5], lead_time=lead_time)


def test_lead_time_accepts_numpy_integers(fc):
    assert service_level_tradeoff(fc, [0.5], lead_time=np.int64(2)).attrs["lead_time"] == 2


@pytest.mark.parametrize("dependence", ["joint", "Both", None])
def test_bad_dependence(fc, dependence):
    for call in (lambda: service_level_tradeoff(fc, [0.5], dependence=dependence),
                 lambda: lead_time_quantiles(fc, [0.5], dependence=dependence),
                 lambda: optimal_stock(fc, 1.0, 1.0, dependence=dependence)):
        with pytest.raises(ValueError, match="dependence must be one of"):
            call()


def test_unsupported_forecasts_raise_type_error(fc):
    normal = DistributionForecast(
        torch.distributions.Normal(torch.zeros(3), torch.ones(3)), start_date=START)
    for bad in (normal, np.zeros((10, 3)), fc.distribution, None):
        with pytest.raises(TypeError, match="QuantileFunctionForecast, a GluonTS"):
            service_level_tradeoff(bad, [0.5])
        with pytest.raises(TypeError, match="forecast must be"):
            optimal_stock(bad, 1.0, 1.0)


def test_multivariate_quantile_and_non_finite_forecasts_are_rejected():
    # (multivariate SampleForecasts are supported: tests/test_decision_multivariate.py)
    qf = QuantileForecast(np.zeros((2, 3, 2)), START, ["0.1", "0.9"])
    with pytest.raises(ValueError, match="only univariate"):
        service_level_tradeoff(qf, [0.5])
    bad = np.ones((10, 3))
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        service_level_tradeoff(SampleForecast(samples=bad, start_date=START), [0.5])


def test_docstring_examples_run():
    result = doctest.testmod(decision, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 10
    assert result.failed == 0
