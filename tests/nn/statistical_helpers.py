"""Series, windows and the reference seasonal adjustment shared by the
statistical members' tests."""

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
