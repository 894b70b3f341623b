"""Forecast-quality checks that GluonTS's evaluator does not provide:
quantile crossings, coverage curves and probability integral transform
(PIT) values. Energy scores of joint forecasts:
:func:`gluonts_iqf.distributions.convex.energy_score_samples`; closed-form
CRPS: ``IQF.crps`` / ``QuantileFunctionForecast.crps``."""

from typing import Iterable, List, Sequence, Tuple

import numpy as np

from gluonts.model.forecast import Forecast, QuantileForecast, SampleForecast

from .forecast import QuantileFunctionForecast
from .levels import check_levels

#: Dense default grid of levels on which crossings are counted.
CROSSING_LEVELS = tuple(np.round(np.linspace(0.005, 0.995, 199), 6))


def crossing_rate(
    forecasts: Iterable[Forecast], levels: Sequence[float] = CROSSING_LEVELS
) -> float:
    """Share of (forecast, step, neighbouring level pair) where the higher
    level's quantile is strictly below the lower level's: 0 for a
    crossing-free model.

    ``levels`` must be strictly increasing. Returns a float in [0, 1].
    """
    levels = check_levels(levels).tolist()
    crossed = total = 0
    for f in forecasts:
        q = forecast_quantiles(f, levels)
        diffs = np.diff(q, axis=0)
        crossed += int((diffs < 0).sum())
        total += diffs.size
    if total == 0:
        raise ValueError("crossing_rate needs at least one forecast")
    return crossed / total


# ---------------------------------------------------------------------- #
# calibration: PIT values and coverage (the plots in plot/ draw these)
# ---------------------------------------------------------------------- #
_PIT_GRID = (np.arange(1000) + 0.5) / 1000


def _prediction_length(forecast: Forecast) -> int:
    return int(forecast.prediction_length)


def _check_forecast(forecast, what: str = "forecast") -> Forecast:
    if not isinstance(forecast, Forecast):
        raise ValueError(
            f"{what} must be a GluonTS Forecast (QuantileFunctionForecast, "
            f"SampleForecast, QuantileForecast, ...), got {type(forecast).__name__}"
        )
    if isinstance(forecast, SampleForecast) and np.ndim(forecast.samples) != 2:
        raise ValueError(
            f"{what} is a multivariate SampleForecast with samples of shape "
            f"{np.shape(forecast.samples)}; pick one dimension with "
            "forecast.copy_dim(i) first"
        )
    if isinstance(forecast, QuantileForecast) and np.ndim(forecast.forecast_array) != 2:
        raise ValueError(
            f"{what} is a multivariate QuantileForecast with forecast_array of "
            f"shape {np.shape(forecast.forecast_array)}; pick one dimension "
            "with forecast.copy_dim(i) first"
        )
    return forecast


def forecast_quantiles(forecast: Forecast, levels: Sequence[float]) -> np.ndarray:
    """Quantiles at ``levels``, shape (len(levels), prediction_length):
    exact (one vectorised call) for QuantileFunctionForecast, otherwise the
    forecast's own ``quantile(level)``."""
    levels = [float(a) for a in levels]
    if isinstance(forecast, QuantileFunctionForecast):
        q = np.asarray(forecast.quantiles(levels), dtype=float)
    else:
        q = np.stack([np.asarray(forecast.quantile(a), dtype=float) for a in levels])
    H = _prediction_length(forecast)
    if q.shape != (len(levels), H):
        raise ValueError(
            f"forecast quantiles have shape {q.shape}, expected "
            f"({len(levels)}, {H}); is the forecast univariate?"
        )
    return q


def _pairs(forecasts, targets) -> Tuple[List[Forecast], List[np.ndarray]]:
    """Materialise and check aligned (forecast, target) pairs."""
    fs = list(forecasts) if not isinstance(forecasts, Forecast) else [forecasts]
    ts = list(targets)
    if isinstance(forecasts, Forecast) and np.ndim(targets) == 1:
        ts = [np.asarray(targets)]
    if len(fs) == 0:
        raise ValueError("forecasts is empty")
    if len(fs) != len(ts):
        raise ValueError(
            f"targets must be aligned with forecasts: got {len(fs)} forecasts "
            f"and {len(ts)} targets"
        )
    out = []
    for i, (f, y) in enumerate(zip(fs, ts)):
        _check_forecast(f, f"forecasts[{i}]")
        y = np.asarray(y, dtype=float)
        H = _prediction_length(f)
        if y.shape != (H,):
            raise ValueError(
                f"targets[{i}] must have shape (prediction_length,) = ({H},), "
                f"got {y.shape}"
            )
        out.append(y)
    return fs, out


def _pit_one(forecast: Forecast, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    ok = ~np.isnan(y)
    if isinstance(forecast, SampleForecast):
        s = np.asarray(forecast.samples, dtype=float)  # (n, H)
        below = (s < y).mean(axis=0)
        ties = (s == y).mean(axis=0)
        u = rng.random(y.shape)
        pit = below + u * ties
    elif callable(getattr(forecast, "cdf", None)):
        pit = np.asarray(forecast.cdf(np.where(ok, y, 0.0)), dtype=float)
    else:
        q = forecast_quantiles(forecast, _PIT_GRID)  # (G, H)
        pit = (q <= y).mean(axis=0)
    return np.clip(pit[ok], 0.0, 1.0)


def pit_values(forecasts, targets, seed: int = 0) -> np.ndarray:
    """Probability integral transform ``F_t(y_t)`` of every observed value.

    Parameters
    ----------
    forecasts : iterable of Forecast
    targets : iterable of arrays, shape (prediction_length,)
        Future values aligned with ``forecasts``; NaNs are skipped.
    seed : int
        Seed of the ``numpy.random.Generator`` that randomises ties.

    Returns
    -------
    numpy.ndarray, shape (number of non-NaN target values,)
        In [0, 1], forecast by forecast, step by step. Exact (``forecast.cdf``)
        for QuantileFunctionForecast; for SampleForecast the randomised
        empirical CDF ``#{s < y}/n + U * #{s == y}/n`` with ``U ~ U(0, 1)``
        (uniform under calibration even for discrete samples); for other
        forecasts the share of 1000 mid-cell levels whose quantile is <= y.
    """
    fs, ys = _pairs(forecasts, targets)
    rng = np.random.default_rng(seed)
    parts = [_pit_one(f, y, rng) for f, y in zip(fs, ys)]
    return np.concatenate(parts) if parts else np.empty(0)


def coverage_curve(forecasts, targets, levels) -> np.ndarray:
    """Empirical share of observed values at or below ``q(level)``.

    Parameters
    ----------
    forecasts : iterable of Forecast
    targets : iterable of arrays, shape (prediction_length,)
        Aligned with ``forecasts``; NaNs are skipped.
    levels : sequence of float in (0, 1)

    Returns
    -------
    numpy.ndarray, shape (len(levels),)
        In the order of ``levels``; equals ``levels`` for a calibrated
        forecast (up to sampling noise).
    """
    lv = check_levels(levels, increasing=False)
    fs, ys = _pairs(forecasts, targets)
    hits = np.zeros(len(lv))
    total = 0
    cache = {}  # the same forecast object may be paired with many targets
    for f, y in zip(fs, ys):
        ok = ~np.isnan(y)
        if id(f) not in cache:
            cache[id(f)] = forecast_quantiles(f, lv)
        q = cache[id(f)]  # (L, H)
        hits += (y[ok] <= q[:, ok]).sum(axis=1)
        total += int(ok.sum())
    if total == 0:
        raise ValueError("targets hold no observed (non-NaN) values")
    return hits / total



def coverage(forecasts, targets, level: float) -> float:
    """Share of observed future values at or below the forecast quantile at
    ``level`` (a calibrated forecast gives ``level``): one level of
    :func:`coverage_curve`."""
    return float(coverage_curve(forecasts, targets, [level])[0])
