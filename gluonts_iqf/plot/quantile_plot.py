"""The quantile function ``q(alpha)`` of one forecast step, with the
forecast's knots and optionally an empirical quantile function of samples
and an observed value (:func:`quantile_function`)."""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from gluonts.model.forecast import Forecast, QuantileForecast, SampleForecast

from ..forecast import QuantileFunctionForecast
from ..metrics import _check_forecast, _prediction_length, forecast_quantiles
from .figure import _check_path, _finish, _new_figure

__all__ = ["QUANTILE_GRID", "quantile_function"]

#: Level grid on which :func:`quantile_function` draws q(alpha): 999 points.
QUANTILE_GRID = np.round(np.linspace(0.001, 0.999, 999), 6)

# figure size (inches); at DPI 120: 840 x 540 pixels
_QF_SIZE = (7.0, 4.5)


def _knots(forecast: Forecast, step: int) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """(levels, values) of the forecast's own knots at ``step``, or None."""
    if isinstance(forecast, QuantileFunctionForecast):
        d = forecast.distribution
        levels = d.knot_levels.detach().cpu().numpy().astype(float)
        values = (
            d.loc[step] + d.scale[step] * d.knot_values[step]
        ).detach().cpu().numpy().astype(float)
        return levels, values
    if isinstance(forecast, QuantileForecast):
        pairs = sorted(
            (float(k), np.asarray(forecast.forecast_array[i])[step])
            for i, k in enumerate(forecast.forecast_keys)
            if k != "mean"
        )
        if not pairs:
            return None
        return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs], dtype=float)
    return None


def _step_samples(samples, step: int, H: int) -> np.ndarray:
    if isinstance(samples, SampleForecast):
        samples = samples.samples
    arr = np.asarray(samples, dtype=float)
    if arr.ndim == 2:
        if arr.shape[1] != H:
            raise ValueError(
                f"samples of shape {arr.shape} must have prediction_length = "
                f"{H} columns (or be 1-D draws of step {step})"
            )
        arr = arr[:, step]
    elif arr.ndim != 1:
        raise ValueError(
            f"samples must be 1-D draws for the step (or (n, {H})), got shape "
            f"{arr.shape}"
        )
    arr = arr[~np.isnan(arr)]
    if arr.size == 0:
        raise ValueError("samples holds no (non-NaN) draws")
    return arr


def quantile_function(
    forecast: Forecast,
    step: int = 0,
    samples=None,
    observed: Optional[float] = None,
    ax=None,
    path=None,
):
    """The quantile function ``q(alpha)`` of one forecast step.

    Drawn on :data:`QUANTILE_GRID` (999 levels 0.001..0.999): exact for a
    QuantileFunctionForecast (with its knots ``(knot_levels, loc + scale *
    knot_values[step])`` marked), the forecast's ``quantile`` otherwise
    (QuantileForecast keys marked as knots).

    Parameters
    ----------
    forecast : QuantileFunctionForecast, SampleForecast or QuantileForecast
    step : int
        Forecast step, ``0 <= step < prediction_length``.
    samples : array, shape (n,) or (n, prediction_length), or SampleForecast, optional
        Draws (of another model, say) whose empirical quantile function
        (``numpy.quantile(..., method="inverted_cdf")`` on the same grid) is
        drawn as a step line for comparison.
    observed : float, optional
        Observed value, drawn as a horizontal line (with its PIT level
        ``F(y)`` as a vertical line for a QuantileFunctionForecast).
    ax, path
        As in :func:`fan_chart`.

    Returns
    -------
    matplotlib.figure.Figure
        ``ax.lines[0]`` is the model's quantile function (x = levels).
    """
    forecast = _check_forecast(forecast)
    path = _check_path(path)
    H = _prediction_length(forecast)
    if isinstance(step, bool) or int(step) != step or not 0 <= step < H:
        raise ValueError(f"step must be an integer in [0, {H}), got {step!r}")
    step = int(step)
    draws = None if samples is None else _step_samples(samples, step, H)
    if observed is not None:
        observed = float(np.asarray(observed, dtype=float).reshape(()))
    grid = QUANTILE_GRID
    qf = forecast_quantiles(forecast, grid)[:, step]
    knots = _knots(forecast, step)
    pit = None
    if observed is not None and isinstance(forecast, QuantileFunctionForecast):
        y = np.full(H, observed)
        pit = float(np.asarray(forecast.cdf(y))[step])
    emp = None if draws is None else np.quantile(draws, grid, method="inverted_cdf")

    created = ax is None
    if created:
        fig, ax = _new_figure(_QF_SIZE)
    fig = ax.figure

    def draw():
        name = "quantile function" if isinstance(
            forecast, QuantileFunctionForecast
        ) else "forecast quantiles"
        ax.plot(grid, qf, color="tab:blue", lw=1.8, label=name, zorder=3)
        if knots is not None:
            ax.plot(
                knots[0], knots[1], "o", color="tab:blue", mfc="white", mew=1.5,
                ms=6, label="knots", zorder=4,
            )
        if emp is not None:
            ax.plot(
                grid, emp, color="tab:orange", lw=1.2, drawstyle="steps-post",
                label=f"empirical ({len(draws)} samples)", zorder=2,
            )
        if observed is not None:
            ax.axhline(observed, color="tab:red", lw=1.0, ls="--", label="observed", zorder=1)
            if pit is not None and np.isfinite(pit):
                ax.axvline(
                    pit, color="tab:red", lw=0.8, ls=":",
                    label=f"PIT = F(y) = {pit:.3f}", zorder=1,
                )
        ax.set_xlim(0, 1)
        ax.set_xlabel(r"level $\alpha$")
        ax.set_ylabel(r"value $q(\alpha)$")
        period = forecast.index[step]
        ax.set_title(f"Quantile function, step {step + 1} of {H} ({period})")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize="small", framealpha=0.85)

    return _finish(fig, created, path, draw)
