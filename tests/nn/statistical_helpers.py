"""Series and windows shared by the statistical members' tests."""

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


