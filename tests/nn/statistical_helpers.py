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
