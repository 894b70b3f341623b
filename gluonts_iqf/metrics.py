"""Forecast-quality checks that GluonTS's evaluator does not provide:
quantile crossings, coverage and probability integral transform values."""

from typing import Iterable, Sequence

import numpy as np

from gluonts.model.forecast import Forecast

#: Dense default grid of levels on which crossings are counted.
CROSSING_LEVELS = tuple(np.round(np.linspace(0.005, 0.995, 199), 6))


def forecast_quantiles(forecast: Forecast, levels: Sequence[float]) -> np.ndarray:
    """Quantiles of one forecast at ``levels``, shape (len(levels),
    prediction_length); uses the vectorised ``quantiles`` when available."""
    if hasattr(forecast, "quantiles"):
        return np.asarray(forecast.quantiles(levels))
    return np.stack([np.asarray(forecast.quantile(a)) for a in levels])


def crossing_rate(
    forecasts: Iterable[Forecast], levels: Sequence[float] = CROSSING_LEVELS
) -> float:
    """Share of (forecast, step, neighbouring level pair) where the higher
    level's quantile is strictly below the lower level's: 0 for a
    crossing-free model.

    ``levels`` must be strictly increasing. Returns a float in [0, 1].
    """
    levels = list(levels)
    if any(b <= a for a, b in zip(levels[:-1], levels[1:])):
        raise ValueError(f"levels must be strictly increasing, got {levels}")
    crossed = total = 0
    for f in forecasts:
        q = forecast_quantiles(f, levels)
        diffs = np.diff(q, axis=0)
        crossed += int((diffs < 0).sum())
        total += diffs.size
    if total == 0:
        raise ValueError("crossing_rate needs at least one forecast")
    return crossed / total


def coverage(
    forecasts: Iterable[Forecast], targets: Iterable[np.ndarray], level: float
) -> float:
    """Share of observed future values at or below the forecast quantile at
    ``level`` (a calibrated forecast gives ``level``). ``targets`` are the
    future values aligned with each forecast, shape (prediction_length,);
    NaNs are ignored."""
    hit = n = 0
    for f, y in zip(forecasts, targets):
        y = np.asarray(y, dtype=float)
        ok = ~np.isnan(y)
        hit += int((y[ok] <= np.asarray(f.quantile(level))[ok]).sum())
        n += int(ok.sum())
    if n == 0:
        raise ValueError("coverage needs at least one observed value")
    return hit / n
