"""Batched damped-trend smoothing, ETS(A,Ad,N), against statsmodels:
``Holt(damped_trend=True)`` for the filtering and forecasts, ``ETSModel``'s
relative forecast variances for the spread, and a per-series reference that
searches the same grid with them (padded, batched, with missing values)."""

import itertools

import numpy as np
import pytest
import torch

from gluonts_iqf.nn.damped import (
    DEFAULT_ALPHAS,
    DEFAULT_PHIS,
    DEFAULT_TREND_SHARES,
    damped_adjusted,
    damped_backtested,
    damped_grid,
    damped_trend_forecast,
)

from statistical_helpers import check_backtest_of_prefixes, padded, reference_adjustment, seasonal_series, with_gaps

sm_holtwinters = pytest.importorskip("statsmodels.tsa.holtwinters")
sm_ets = pytest.importorskip("statsmodels.tsa.exponential_smoothing.ets")


def holt(row, alpha, share, phi):
    return sm_holtwinters.Holt(row, damped_trend=True, initialization_method="known", initial_level=row[0],
                               initial_trend=0.0).fit(smoothing_level=alpha, smoothing_trend=share,
                                                      damping_trend=phi, optimized=False)


def test_damped_grid_equals_statsmodels_holt():
    """float64, 1e-10: level + trend forecasts and the sum of squared
    one-step errors for each parameter triple, a padded row in the batch
    (statsmodels' ``smoothing_trend`` is the trend share: beta = alpha x share)."""
    rows = [seasonal_series(40, 1, 0, amplitude=0.0, noise=0.1), seasonal_series(12, 1, 1, amplitude=0.0)]
    y, obs = padded(rows, 48)
    triples = [(0.3, 0.1, 0.9), (0.8, 0.3, 0.98), (0.05, 0.01, 0.8)]
    t = torch.tensor(triples, dtype=torch.float64)
    level, trend, sse, count, _ = damped_grid(y, obs > 0, t[:, 0], t[:, 0] * t[:, 1], t[:, 2])
    for i, row in enumerate(rows):
        assert int(count[i]) == len(row) - 1
        for j, (a, share, phi) in enumerate(triples):
            fit = holt(row, a, share, phi)
            np.testing.assert_allclose(float(level[i, j] + phi * trend[i, j]), fit.forecast(1)[0], rtol=1e-10)
            np.testing.assert_allclose(float(sse[i, j]), fit.sse, rtol=1e-10)


def reference_damped(row, H, m):
    """One series: the grid search with statsmodels, the variance from
    ETSModel's relative forecast variance, seasonal adjustment as thetaf."""
    x, index = reference_adjustment(row, H, m)
    n = len(x)
    best = None
    for a, share, phi in itertools.product(DEFAULT_ALPHAS, DEFAULT_TREND_SHARES, DEFAULT_PHIS):
        fit = holt(x, a, share, phi)
        if best is None or fit.sse < best[0] - 1e-12 * abs(best[0]):
            best = (fit.sse, a, share, phi, fit.forecast(H))
    sse, a, share, phi, mean = best
    ets = sm_ets.ETSModel(x, error="add", trend="add", damped_trend=True, initialization_method="known",
                          initial_level=x[0], initial_trend=0.0).smooth([a, a * share, phi])
    rel = np.array([float(np.atleast_1d(ets._relative_forecast_variance(h))[-1]) for h in range(1, H + 1)])
    std = np.sqrt(sse / max(n - 1, 1) * rel)
    return mean * index, std * index


@pytest.mark.parametrize("m", [1, 4])
def test_damped_trend_forecast_equals_the_per_series_reference(m):
    """float64, 1e-8 relative, seasonal and trending rows of several lengths
    and a row with missing values (carried forward, as the reference is given)."""
    H = 8
    rows = [seasonal_series(60, 4, 0, trend=1.0), seasonal_series(9, 4, 1, amplitude=0.0, noise=0.1),
            seasonal_series(30, 4, 2, trend=-0.5)]
    gappy, filled = with_gaps(seasonal_series(40, 4, 3), [5, 20, 21])
    y, obs = padded(rows + [gappy], 64)
    mean, std = damped_trend_forecast(y, obs, H, m)
    for i, row in enumerate(rows + [filled]):
        want_mean, want_std = reference_damped(row, H, m)
        np.testing.assert_allclose(mean[i].numpy(), want_mean, rtol=1e-8)
        np.testing.assert_allclose(std[i].numpy(), want_std, rtol=1e-8)


def test_damped_trend_degenerate_rows_are_finite():
    y, obs = padded([[np.nan] * 3, [5.0], [2.0] * 30, [0.0] * 40], 48)
    for dtype in (torch.float32, torch.float64):
        mean, std = damped_trend_forecast(y.to(dtype), obs.to(dtype), 6, 12)
        assert torch.isfinite(mean).all() and torch.isfinite(std).all()
        assert mean[1].tolist() == [5.0] * 6 and mean[2].tolist() == [2.0] * 6 and (std[1:] == 0).all()


def test_backtest_is_the_forecast_of_each_prefix_with_the_windows_indices():
    """Trending rows of two lengths and one with missing values; cuts
    anywhere from the first position to the end (see the helper)."""
    m = 4
    rows = [seasonal_series(60, m, 0, trend=1.0), seasonal_series(20, m, 2, trend=-0.5)]
    gappy, _ = with_gaps(seasonal_series(40, m, 3), [5, 30, 31])
    y, obs = padded(rows + [gappy], 64)
    check_backtest_of_prefixes(damped_backtested, damped_adjusted, y, obs, m, 8, [56, 47, 30, 1])
