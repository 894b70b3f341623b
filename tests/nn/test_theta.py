"""The batched Theta method against independent oracles: statsmodels' ``acf``,
``seasonal_decompose`` and ``SimpleExpSmoothing``, numpy's least squares and
scipy's normal quantiles, and a per-series reference built from them (the
batch, its left padding and its missing values must not change a row's
forecast)."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import norm

from gluonts_iqf import IQF
from gluonts_iqf.nn.theta import (
    DEFAULT_ALPHAS,
    autocorrelation,
    fill_forward,
    gaussian_plain_iqf,
    is_seasonal,
    seasonal_indices,
    ses_grid,
    slope,
    theta_forecast,
)

sm_stattools = pytest.importorskip("statsmodels.tsa.stattools")
sm_seasonal = pytest.importorskip("statsmodels.tsa.seasonal")
sm_holtwinters = pytest.importorskip("statsmodels.tsa.holtwinters")


def seasonal_series(n, m, seed, level=100.0, amplitude=0.3, noise=0.05, trend=0.2):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    season = 1 + amplitude * np.sin(2 * np.pi * t / m)
    return (level + trend * t) * season * np.exp(noise * rng.standard_normal(n))


def padded(rows, C):
    """Left-padded (B, C) float64 windows and observed masks; NaNs unobserved."""
    y = np.zeros((len(rows), C))
    obs = np.zeros_like(y)
    for i, r in enumerate(rows):
        r = np.asarray(r, dtype=float)[-C:]
        y[i, C - len(r):] = np.nan_to_num(r)
        obs[i, C - len(r):] = ~np.isnan(r)
    return torch.tensor(y), torch.tensor(obs)


def test_fill_forward_carries_the_last_observation():
    y, obs = padded([[np.nan, 2.0, np.nan, np.nan, 5.0], [1.0, 2.0, 3.0]], 6)
    filled, started = fill_forward(y, obs)
    assert filled[0].tolist() == [0, 0, 2, 2, 2, 5] and started[0].tolist() == [False, False, True, True, True, True]
    assert filled[1].tolist() == [0, 0, 0, 1, 2, 3] and started[1].sum() == 3


def test_autocorrelation_equals_statsmodels_acf():
    """float64, 1e-12: a padded row gives the acf of its values alone."""
    rows = [seasonal_series(60, 12, 0), seasonal_series(37, 12, 1)]
    y, obs = padded(rows, 70)
    r = autocorrelation(y, obs > 0, 12)
    for i, row in enumerate(rows):
        want = sm_stattools.acf(row, nlags=12, fft=False, adjusted=False)[1:]
        np.testing.assert_allclose(r[i].numpy(), want, rtol=1e-12, atol=1e-12)


def test_seasonality_test():
    m = 12
    rows = [
        seasonal_series(72, m, 0),  # seasonal
        100 + np.random.default_rng(1).standard_normal(72),  # white noise
        seasonal_series(20, m, 2),  # fewer than 2 seasons
        seasonal_series(72, m, 3) - 200,  # not positive: no multiplicative decomposition
    ]
    y, obs = padded(rows, 80)
    assert is_seasonal(y, obs > 0, m).tolist() == [True, False, False, False]


@pytest.mark.parametrize("m", [4, 7, 12])
def test_seasonal_indices_equal_a_classical_decomposition(m):
    """float64, 1e-10: statsmodels' multiplicative ``seasonal_decompose``
    (the 2 x m moving average for even m), row by row, padded and batched;
    phase j holds positions C - 1 - j, C - 1 - j - m, ..."""
    rows = [seasonal_series(5 * m + 3, m, 0), seasonal_series(3 * m, m, 1, amplitude=0.5)]
    C = 6 * m
    y, obs = padded(rows, C)
    idx = seasonal_indices(y, obs > 0, m).numpy()
    for i, row in enumerate(rows):
        want = sm_seasonal.seasonal_decompose(row, model="multiplicative", period=m).seasonal
        n = len(row)
        pos = C - n + np.arange(n)  # positions in the padded window
        np.testing.assert_allclose(idx[i, (C - 1 - pos) % m], want, rtol=1e-10)


def test_ses_grid_equals_statsmodels_simple_exp_smoothing():
    """float64, 1e-10: for every weight, the final level and the sum of
    squared one-step errors of SimpleExpSmoothing started at the first value,
    with a padded row in the batch."""
    rows = [seasonal_series(40, 1, 0, amplitude=0.0, noise=0.2), seasonal_series(15, 1, 1, amplitude=0.0, noise=0.3)]
    y, obs = padded(rows, 50)
    alphas = (0.05, 0.3, 0.9)
    level, sse, count = ses_grid(y, obs > 0, alphas)
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
    x = np.asarray(row, dtype=float)
    n = len(x)
    index = np.ones(H)
    if m > 1 and n >= 2 * m and (x > 0).all():
        r = sm_stattools.acf(x, nlags=m, fft=False, adjusted=False)[1:]
        if abs(r[m - 1]) > 1.645 * math.sqrt((1 + 2 * np.sum(r[: m - 1] ** 2)) / n):
            seasonal = sm_seasonal.seasonal_decompose(x, model="multiplicative", period=m).seasonal
            x = x / seasonal
            index = seasonal[n - m + (np.arange(H) % m)]  # the phase of step h repeats position n - m + (h - 1) % m
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
    gappy = seasonal_series(80, 12, 4)
    gappy_nan = gappy.copy()
    gappy_nan[[10, 11, 40]] = np.nan
    y, obs = padded(rows + [gappy_nan], 100)
    mean, std = theta_forecast(y, obs, H, m)
    filled = gappy.copy()
    filled[[10, 11]] = filled[9]
    filled[40] = filled[39]
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


def test_gaussian_plain_iqf():
    """Knots at the Gaussian's quantiles (scipy, 1e-12), the tails continue
    the Gaussian's slope at the outer knots, and the IQF is monotone for a
    zero spread."""
    levels = [0.025, 0.1, 0.5, 0.9, 0.975]
    mean = torch.tensor([[3.0, -1.0]], dtype=torch.float64)
    std = torch.tensor([[2.0, 0.5]], dtype=torch.float64)
    kv, beta_l, beta_r = gaussian_plain_iqf(mean, std, levels)
    want = mean.unsqueeze(-1).numpy() + std.unsqueeze(-1).numpy() * norm.ppf(levels)
    np.testing.assert_allclose(kv.numpy(), want, rtol=1e-12)
    d = IQF(torch.tensor(levels, dtype=torch.float64), kv, beta_l, beta_r)
    for u, sign in ((0.025, 1), (0.975, -1)):  # one-sided slope just beyond the outer knot
        eps = 1e-7
        v = torch.full_like(mean, u - sign * eps)
        slope_iqf = sign * (d.icdf(torch.full_like(mean, u)) - d.icdf(v)) / eps
        slope_gauss = std / norm.pdf(norm.ppf(u))
        np.testing.assert_allclose(slope_iqf.numpy(), slope_gauss.numpy(), rtol=1e-5)
    kv0, bl0, br0 = gaussian_plain_iqf(torch.tensor([4.0]), torch.tensor([0.0]), levels)
    assert (kv0.diff(dim=-1) > 0).all() and torch.isfinite(bl0).all() and torch.isfinite(br0).all()
