"""Per-step queries of a ``QuantileFunctionForecast``
(``gluonts_iqf.decision.iqf_marginals``) against the hand-written IQF:
stock, exact right slopes (plain and spline pieces), cdf and range."""

import numpy as np
import pytest
import torch

from gluonts_iqf import IQF, QuantileFunctionForecast
from gluonts_iqf.decision import service_level_tradeoff
from gluonts_iqf.decision.convolution import TAIL_LEVEL
from gluonts_iqf.decision.iqf_marginals import IQFMarginals

LEVELS_BY_REGION = [0.02, 0.07, 0.1, 0.3, 0.45, 0.5, 0.6, 0.85, 0.9, 0.93, 0.99, 0.9995]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_stock_equals_forecast_quantile_exactly(hand, dtype):
    fc = hand.forecast(dtype)
    levels = [0.01, 0.05, 0.3, 0.5, 0.77, 0.9, 0.95, 0.999]
    tab = service_level_tradeoff(fc, levels)
    for a in levels:
        got = tab.loc[a, "stock"][hand.labels].to_numpy()
        np.testing.assert_array_equal(got, fc.quantile(a).astype(np.float64))
        expected = [hand.quantile(t, a) for t in range(hand.H)]
        tol = 1e-12 if dtype == torch.float64 else 1e-5
        np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)


def test_marginal_stock_is_exact_slope(hand, fc):
    tab = service_level_tradeoff(fc, LEVELS_BY_REGION)
    got = tab["stock_per_pp"][hand.labels].to_numpy()  # (n, H)
    expected = 0.01 * np.array([[hand.slope(t, a) for t in range(hand.H)] for a in LEVELS_BY_REGION])
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    # ... which is 0.01 / f(q(alpha)) through the IQF's own log_prob
    # (away from the knots, where f jumps)
    inner = [i for i, a in enumerate(LEVELS_BY_REGION) if a not in hand.knot_levels]
    u = torch.tensor([LEVELS_BY_REGION[i] for i in inner], dtype=torch.float64)
    with torch.no_grad():
        q = fc.distribution.icdf(u.unsqueeze(-1))
        via_density = 0.01 * torch.exp(-fc.distribution.log_prob(q)).numpy()
    np.testing.assert_allclose(got[inner], via_density, rtol=1e-10)


def test_marginal_stock_matches_finite_differences(hand, fc):
    """Central differences of forecast.quantile: exact (to rounding) inside a
    linear piece, O(h^2) in the exponential tails."""
    h = 1e-5
    tab = service_level_tradeoff(fc, [0.03, 0.2, 0.7, 0.97])
    for a in [0.2, 0.7]:  # linear pieces: the slope is constant there
        fd = (fc.quantile(a + h) - fc.quantile(a - h)) / (2 * h)
        np.testing.assert_allclose(tab.loc[a, "stock_per_pp"][hand.labels], 0.01 * fd, rtol=1e-6)
    for a in [0.03, 0.97]:  # tails: s / a and s / (1 - a)
        fd = (fc.quantile(a + h) - fc.quantile(a - h)) / (2 * h)
        np.testing.assert_allclose(tab.loc[a, "stock_per_pp"][hand.labels], 0.01 * fd, rtol=1e-6)


def test_marginal_stock_with_spline_pieces(hand):
    """ISQF (2 pieces per interval): the slope on a piece is scale * height
    share * value gap / (width share * level gap)."""
    widths = torch.tensor([[[0.25, 0.75], [0.5, 0.5]]], dtype=torch.float64)
    heights = torch.tensor([[[0.6, 0.4], [0.1, 0.9]]], dtype=torch.float64)
    distr = IQF(hand.knot_levels, torch.tensor([[0.0, 2.0, 3.0]], dtype=torch.float64),
                torch.tensor([1.0], dtype=torch.float64), torch.tensor([1.0], dtype=torch.float64),
                piece_widths=widths, piece_heights=heights,
                scale=torch.tensor([4.0], dtype=torch.float64))
    fc = QuantileFunctionForecast(distr, hand.start)
    # pieces: [0.1, 0.2) slope 2*0.6/0.1, [0.2, 0.5) 2*0.4/0.3,
    #         [0.5, 0.7) 1*0.1/0.2, [0.7, 0.9) 1*0.9/0.2
    levels = [0.15, 0.2, 0.4, 0.6, 0.8]
    expected = 0.01 * 4.0 * np.array([12.0, 0.8 / 0.3, 0.8 / 0.3, 0.5, 4.5])
    tab = service_level_tradeoff(fc, levels)
    np.testing.assert_allclose(tab["stock_per_pp"][str(hand.start)], expected, rtol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_cdf_and_support_are_the_forecasts_own(hand, dtype):
    """The cdf of any set of steps (one column each) is the IQF's cdf,
    evaluated in float64: the hand-written cdf for float64 parameters; the
    range is the quantiles at TAIL_LEVEL and 1 - TAIL_LEVEL, also for float32
    parameters (where 1 - TAIL_LEVEL rounds to 1)."""
    fc = hand.forecast(dtype)
    marg = IQFMarginals(fc)
    lo, hi = marg.support()
    tol = 1e-6 if dtype == torch.float32 else 1e-14
    np.testing.assert_allclose(lo, [hand.quantile(t, TAIL_LEVEL) for t in range(hand.H)], rtol=tol)
    np.testing.assert_allclose(hi, [hand.quantile(t, 1 - TAIL_LEVEL) for t in range(hand.H)], rtol=tol)
    steps = np.array([2, 0, 3])
    values = np.linspace(lo[steps] - 1.0, hi[steps] + 1.0, 301)  # (301, 3)
    got = marg.cdf(steps, values)
    assert got.shape == values.shape and got.dtype == np.float64
    with torch.no_grad():
        own = fc.distribution.cdf(torch.as_tensor(values[:, :, None].repeat(4, axis=2), dtype=dtype))
    for j, t in enumerate(steps):
        np.testing.assert_allclose(got[:, j], own[:, j, t].double().numpy(), atol=1e-6)
        if dtype == torch.float64:
            expected = [hand.cdf(t, y) for y in values[:, j]]
            np.testing.assert_allclose(got[:, j], expected, rtol=1e-12, atol=1e-15)
