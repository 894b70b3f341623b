"""Series with a known forecast dependence: AR(1) noise around a daily
profile, and the correlation of its future given the past. The reference of
MQF²'s dependence checks (its tests and the ``ar1_daily`` set of
``benchmarks/bench_mqf2.py``)."""

from typing import List, Tuple

import numpy as np
import pandas as pd


def ar1_forecast_correlation(rho: float, horizon: int) -> np.ndarray:
    """Correlation of the errors of the optimal ``1..horizon``-step
    forecasts of a stationary AR(1) ``x_t = rho x_{t-1} + eps_t``, given
    its past: the correlation of the future values given the past.

    The step-``h`` error is ``e_h = sum_{j<h} rho^j eps_{t+h-j}``, so
    ``cov(e_h, e_k) = rho^(k-h) (1 - rho^(2h)) / (1 - rho^2)`` for
    ``h <= k`` and ``corr(e_h, e_k) = rho^(k-h) sqrt((1 - rho^(2h)) /
    (1 - rho^(2k)))``, lower than the stationary ``rho^(k-h)``. Computed
    as ``A A^T`` with ``A[h, m] = rho^(h-m)`` (m <= h), then normalised.

    Returns a (horizon, horizon) float64 array.
    """
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    if not -1.0 < rho < 1.0:
        raise ValueError(f"rho must lie in (-1, 1), got {rho}")
    h = np.arange(horizon)
    lag = np.subtract.outer(h, h)
    A = np.where(lag >= 0, float(rho) ** np.maximum(lag, 0), 0.0)
    cov = A @ A.T
    sd = np.sqrt(np.diag(cov))
    return cov / np.outer(sd, sd)


def daily_profile(hour) -> np.ndarray:
    """``1 + 0.3 sin(2 pi hour / 24) + 0.1 cos(4 pi hour / 24)`` at hour(s)
    of the day."""
    a = 2 * np.pi * np.asarray(hour) / 24
    return 1 + 0.3 * np.sin(a) + 0.1 * np.cos(2 * a)


def ar1_daily(
    seed: int,
    num_series: int,
    num_days: int = 28,
    horizon: int = 12,
    rho: float = 0.8,
    noise: float = 0.1,
) -> Tuple[List[dict], List[dict]]:
    """Hourly series ``y = L_i (p(hour) + noise x_t)``: a level ``L_i``
    (log-uniform on [1, 100]) times :func:`daily_profile`, plus stationary
    AR(1) noise ``x`` (unit innovations) scaled by the level, from a random
    start hour. The noise scales with the level, so in mean-scaled units
    every series is alike and the correlation of the ``horizon`` values after
    the training part, given the past, is
    ``ar1_forecast_correlation(rho, horizon)``.

    Returns ``(train, test)`` GluonTS entries (``target`` float32, ``start``
    an hourly ``pandas.Period``, ``item_id``): ``train`` holds ``num_days``
    days, ``test`` the same plus the ``horizon`` hours to forecast.
    """
    if num_series < 1 or num_days < 1 or horizon < 1:
        raise ValueError(
            f"num_series, num_days and horizon must be >= 1, got {num_series}, {num_days}, {horizon}"
        )
    if not -1.0 < rho < 1.0:
        raise ValueError(f"rho must lie in (-1, 1), got {rho}")
    rng = np.random.default_rng(seed)
    T = 24 * num_days + horizon
    base = pd.Period("2021-01-04 00:00", freq="h")
    train, test = [], []
    for i in range(num_series):
        level = float(np.exp(rng.uniform(0.0, np.log(100.0))))
        hour0 = int(rng.integers(24))
        eps = rng.standard_normal(T)
        x = np.empty(T)
        x[0] = eps[0] / np.sqrt(1 - rho**2)  # stationary start
        for t in range(1, T):
            x[t] = rho * x[t - 1] + eps[t]
        y = (level * (daily_profile(hour0 + np.arange(T)) + noise * x)).astype(np.float32)
        start = base + hour0
        train.append({"target": y[:-horizon], "start": start, "item_id": f"s{i}"})
        test.append({"target": y, "start": start, "item_id": f"s{i}"})
    return train, test
