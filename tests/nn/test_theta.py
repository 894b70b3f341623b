"""The batched Theta method against independent oracles: statsmodels'
``SimpleExpSmoothing``, numpy's least squares, and a per-series reference
built from statsmodels' ``acf``, ``seasonal_decompose`` and
``SimpleExpSmoothing`` (the batch, its left padding and its missing values
must not change a row's forecast)."""


import numpy as np
import pytest
import torch

from gluonts_iqf.nn.theta import DEFAULT_ALPHAS, ses_grid, slope, theta_adjusted, theta_backtested, theta_forecast

from statistical_helpers import check_backtest_of_prefixes, padded, reference_adjustment, seasonal_series, with_gaps

sm_holtwinters = pytest.importorskip("statsmodels.tsa.holtwinters")


def test_ses_grid_equals_statsmodels_simple_exp_smoothing():
    """float64, 1e-10: for every weight, the final level and the sum of
    squared one-step errors of SimpleExpSmoothing started at the first value,
    with a padded row in the batch."""
    rows = [seasonal_series(40, 1, 0, amplitude=0.0, noise=0.2), seasonal_series(15, 1, 1, amplitude=0.0, noise=0.3)]
    y, obs = padded(rows, 50)
    alphas = (0.05, 0.3, 0.9)
    level, sse, count, _ = ses_grid(y, obs > 0, alphas)
    for i, row in enumerate(rows):
        assert int(count[i]) == len(row) - 1
        for j, a in enumerate(alphas):
            fit = sm_holtwinters.SimpleExpSmoothing(row, initialization_method="known", initial_level=row[0]).fit(
                smoothing_level=a, optimized=False)
            np.testing.assert_allclose(float(level[i, j]), fit.forecast(1)[0], rtol=1e-10)
            np.testing.assert_allclose(float(sse[i, j]), fit.sse, rtol=1e-10)


def test_slope_equals_least_squares():
    rows = [seasonal_series(30, 1, 0, amplitude=0.0), [3.0, 5.0], [7.0]]
    y, obs = padded(rows, 40)
    b = slope(y, obs > 0).numpy()
    np.testing.assert_allclose(b[0], np.polyfit(np.arange(30), rows[0], 1)[0], rtol=1e-10)
    assert b[1] == pytest.approx(2.0) and b[2] == 0.0


def reference_theta(row, H, m, alphas=DEFAULT_ALPHAS):
    """One series, thetaf's recipe from the oracles above (numpy/statsmodels)."""
    x, index = reference_adjustment(row, H, m)
    n = len(x)
    best = None
    for a in alphas:
        fit = sm_holtwinters.SimpleExpSmoothing(x, initialization_method="known", initial_level=x[0]).fit(
            smoothing_level=a, optimized=False)
        if best is None or fit.sse < best[1] - 1e-12 * abs(best[1]):
            best = (a, fit.sse, fit.forecast(1)[0])
    a, sse, level = best
    b = np.polyfit(np.arange(n), x, 1)[0] if n > 1 else 0.0
    h = np.arange(1, H + 1)
    mean = level + 0.5 * b * (h - 1 + (1 - (1 - a) ** n) / a)
    std = np.sqrt(sse / max(n - 1, 1) * (1 + a * a * (h - 1)))
    return mean * index, std * index


@pytest.mark.parametrize("m", [1, 12])
def test_theta_forecast_equals_the_per_series_reference(m):
    """float64, 1e-8 relative: seasonal, non-seasonal, short, padded rows and
    a row with missing values (carried forward, as the reference is given)."""
    H = 18
    rows = [seasonal_series(96, 12, 0), seasonal_series(50, 12, 1, amplitude=0.0, noise=0.1),
            seasonal_series(30, 12, 2), seasonal_series(120, 12, 3)[-100:]]
    gappy, filled = with_gaps(seasonal_series(80, 12, 4), [10, 11, 40])
    y, obs = padded(rows + [gappy], 100)
    mean, std = theta_forecast(y, obs, H, m)
    for i, row in enumerate(rows + [filled]):
        want_mean, want_std = reference_theta(row, H, m)
        np.testing.assert_allclose(mean[i].numpy(), want_mean, rtol=1e-8)
        np.testing.assert_allclose(std[i].numpy(), want_std, rtol=1e-8)


def test_theta_forecast_degenerate_rows_are_finite():
    """No observation, one observation, a constant series, zeros: finite
    forecasts, the last value with zero spread where nothing varies."""
    y, obs = padded([[np.nan] * 3, [5.0], [2.0] * 30, [0.0] * 40], 48)
    for dtype in (torch.float32, torch.float64):
        mean, std = theta_forecast(y.to(dtype), obs.to(dtype), 6, 12)
        assert torch.isfinite(mean).all() and torch.isfinite(std).all()
        assert mean[1].tolist() == [5.0] * 6 and mean[2].tolist() == [2.0] * 6 and (std[1:] == 0).all()




def test_backtest_is_the_forecast_of_each_prefix_with_the_windows_indices():
    """Seasonal, short, padded rows and one with missing values; cuts
    anywhere from the first position to the end (see the helper)."""
    m = 12
    rows = [seasonal_series(96, m, 0), seasonal_series(30, m, 2), seasonal_series(120, m, 3)[-100:]]
    gappy, _ = with_gaps(seasonal_series(80, m, 4), [10, 11, 60])
    y, obs = padded(rows + [gappy], 100)
    check_backtest_of_prefixes(theta_backtested, theta_adjusted, y, obs, m, 18, [82, 64, 71, 1])
