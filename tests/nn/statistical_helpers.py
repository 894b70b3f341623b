"""Series, windows, the reference seasonal adjustment and the backtest
oracle shared by the statistical members' tests."""

import math

import numpy as np
import torch


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




def reference_adjustment(row, H, m):
    """thetaf's seasonal adjustment of one series from statsmodels' ``acf``
    and ``seasonal_decompose``: (adjusted values, the index of each of the H
    forecast steps)."""
    from statsmodels.tsa.seasonal import seasonal_decompose
    from statsmodels.tsa.stattools import acf

    x = np.asarray(row, dtype=float)
    n = len(x)
    index = np.ones(H)
    if m > 1 and n >= 2 * m and (x > 0).all():
        r = acf(x, nlags=m, fft=False, adjusted=False)[1:]
        if abs(r[m - 1]) > 1.645 * math.sqrt((1 + 2 * np.sum(r[: m - 1] ** 2)) / n):
            seasonal = seasonal_decompose(x, model="multiplicative", period=m).seasonal
            x = x / seasonal
            index = seasonal[n - m + (np.arange(H) % m)]  # step h repeats position n - m + (h - 1) % m
    return x, index


def with_gaps(row, positions):
    """``row`` with NaN at ``positions``, and the row the references get:
    each gap filled with the last value before it (as the members fill it)."""
    gappy = np.asarray(row, dtype=float).copy()
    gappy[list(positions)] = np.nan
    filled = gappy.copy()
    for t in range(1, len(filled)):
        if np.isnan(filled[t]):
            filled[t] = filled[t - 1]
    return gappy, filled


def check_backtest_of_prefixes(backtested, adjusted_forecast, y, obs, m, H, ends):
    """float64, 1e-10: the backtest from each cut of ``ends`` is
    ``adjusted_forecast`` of the adjusted window's values before it, with the
    window's seasonal indices (their phases counted back from the cut), for
    every row with a value before the cut; the window's own forecast is
    ``adjusted_forecast``'s, exactly."""
    from gluonts_iqf.nn.seasonal import Adjusted, seasonally_adjusted

    adjusted = seasonally_adjusted(y, obs, m)
    C = y.shape[-1]
    mean, std, origins = backtested(adjusted, H, ends)
    assert origins.shape == (len(ends), y.shape[0], H)
    for got, want in zip((mean, std), adjusted_forecast(adjusted, H)):
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    for j, end in enumerate(ends):
        rolled = adjusted.index[:, (torch.arange(m) + C - end) % m]
        want, _ = adjusted_forecast(Adjusted(adjusted.values[:, :end], adjusted.started[:, :end], rolled), H)
        ok = adjusted.started[:, end - 1]
        torch.testing.assert_close(origins[j][ok], want[ok], rtol=1e-10, atol=1e-10)
