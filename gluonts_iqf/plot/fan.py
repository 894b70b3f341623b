"""Fan chart: history, nested central prediction intervals, median and
observed values of one univariate forecast (:func:`fan_chart`)."""

from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np
import pandas as pd

from gluonts.model.forecast import Forecast

from ..levels import check_levels
from ..metrics import _check_forecast, _prediction_length, forecast_quantiles
from .figure import _as_time, _check_path, _finish, _level_label, _new_figure

__all__ = ["HistoryLike", "fan_chart"]

# figure size (inches); at DPI 120: 1200 x 540 pixels
_FAN_SIZE = (10.0, 4.5)

HistoryLike = Union[pd.Series, dict, np.ndarray, Sequence[float]]


def _history_series(history: HistoryLike, forecast: Forecast) -> pd.Series:
    """History as a float Series with a PeriodIndex in the forecast's freq."""
    freq = forecast.start_date.freq
    if isinstance(history, dict):
        if "target" not in history or "start" not in history:
            raise ValueError(
                "history given as a data entry needs 'start' and 'target' keys, "
                f"got keys {sorted(history)}"
            )
        target = np.asarray(history["target"], dtype=float)
        if target.ndim != 1:
            raise ValueError(
                f"history['target'] must be 1-D (univariate), got shape {target.shape}"
            )
        start = pd.Period(history["start"], freq=freq)
        index = pd.period_range(start, periods=len(target), freq=freq)
        return pd.Series(target, index=index)
    if isinstance(history, pd.Series):
        index = history.index
        if isinstance(index, pd.DatetimeIndex):
            index = index.to_period(freq)
        if not isinstance(index, pd.PeriodIndex):
            raise ValueError(
                "history Series needs a PeriodIndex (or DatetimeIndex), got "
                f"{type(history.index).__name__}"
            )
        if index.freq != freq:
            raise ValueError(
                f"history frequency {index.freqstr!r} differs from the "
                f"forecast's {forecast.start_date.freqstr!r}"
            )
        return pd.Series(np.asarray(history.values, dtype=float), index=index)
    values = np.asarray(history, dtype=float)
    if values.ndim != 1:
        raise ValueError(
            f"history array must be 1-D, got shape {values.shape}"
        )
    # aligned to end one period before the forecast start
    index = pd.period_range(end=forecast.start_date, periods=len(values) + 1, freq=freq)[:-1]
    return pd.Series(values, index=index)


def fan_chart(
    forecast: Forecast,
    history: Optional[HistoryLike] = None,
    levels: Sequence[float] = (0.5, 0.8, 0.95),
    history_length: Optional[int] = None,
    ax=None,
    path=None,
    title: Optional[str] = None,
    observed=None,
):
    """Fan chart: history, nested central prediction intervals and median.

    Parameters
    ----------
    forecast : QuantileFunctionForecast, SampleForecast or QuantileForecast
        A univariate forecast of ``H = prediction_length`` steps.
    history : pandas.Series, data entry dict or array, optional
        Past values: a Series with a PeriodIndex (or DatetimeIndex) in the
        forecast's frequency; a GluonTS data entry with ``start`` and
        ``target`` (a test entry that also covers the forecast window is
        drawn through it); or a 1-D array whose last value is the period just
        before ``forecast.start_date``. History after the forecast window is
        dropped.
    levels : sequence of float in (0, 1)
        Central interval coverages; level ``c`` is the band between
        ``q((1 - c) / 2)`` and ``q((1 + c) / 2)``.
    history_length : int, optional
        Show only the last ``history_length`` history points before the
        forecast start (plus any inside the forecast window).
    ax : matplotlib Axes, optional
    path : str or PathLike, optional
        Save a PNG there and close the figure.
    title : str, optional
        Default: ``"item <item_id>"`` when the forecast has an item id.
    observed : array, shape (H,), optional
        Observed future values, drawn as points (NaNs skipped).

    Returns
    -------
    matplotlib.figure.Figure
        The x axis holds timestamps (period starts, ``Period.to_timestamp``),
        with matplotlib's concise date labels. Bands are ``PolyCollection`` s labelled ``"<c>% interval"``, widest
        first (lightest) so narrower bands lie on top.
    """
    forecast = _check_forecast(forecast)
    lv = np.unique(check_levels(levels, increasing=False))  # sorted, no repeats
    path = _check_path(path)
    H = _prediction_length(forecast)
    if history_length is not None and (
        isinstance(history_length, bool)
        or int(history_length) != history_length
        or history_length < 0
    ):
        raise ValueError(
            f"history_length must be a non-negative integer, got {history_length!r}"
        )
    obs = None
    if observed is not None:
        obs = np.asarray(observed, dtype=float)
        if obs.shape != (H,):
            raise ValueError(
                f"observed must have shape (prediction_length,) = ({H},), got "
                f"{obs.shape}"
            )
    hist = None
    if history is not None:
        hist = _history_series(history, forecast)
        end = forecast.index[-1]
        before = hist[hist.index < forecast.start_date]
        during = hist[(hist.index >= forecast.start_date) & (hist.index <= end)]
        if history_length is not None:
            before = before.iloc[len(before) - min(int(history_length), len(before)):]
        hist = pd.concat([before, during])

    # quantiles: lower ends, median, upper ends in one call
    lower = (1.0 - lv) / 2.0
    upper = (1.0 + lv) / 2.0
    q = forecast_quantiles(forecast, list(lower) + [0.5] + list(upper))
    n = len(lv)
    q_lo, q_med, q_hi = q[:n], q[n], q[n + 1:]
    x = _as_time(forecast.index)

    created = ax is None
    if created:
        fig, ax = _new_figure(_FAN_SIZE)
    fig = ax.figure

    def draw():
        import matplotlib.dates as mdates
        from matplotlib import colormaps

        cmap = colormaps["Blues"]
        # widest band lightest, narrowest darkest
        shades = np.linspace(0.22, 0.62, n) if n > 1 else np.array([0.45])
        handles = {}
        if hist is not None and len(hist):
            (h_line,) = ax.plot(
                _as_time(hist.index), hist.values, color="0.15", lw=1.2,
                label="history", zorder=n + 2.5,
            )
            handles["history"] = h_line
        for i in range(n - 1, -1, -1):  # widest first
            band = ax.fill_between(
                x, q_lo[i], q_hi[i], color=cmap(shades[n - 1 - i]), lw=0,
                label=_level_label(lv[i]), zorder=1 + (n - i),
            )
            band.set_gid(f"interval-{lv[i]:g}")
            handles[_level_label(lv[i])] = band
        (m_line,) = ax.plot(
            x, q_med, color=cmap(0.95), lw=1.8, label="median", zorder=n + 2
        )
        handles["median"] = m_line
        if obs is not None:
            ok = ~np.isnan(obs)
            pts = ax.scatter(
                x[ok], obs[ok], s=16, color="tab:red", edgecolor="white",
                linewidth=0.5, label="observed", zorder=n + 3,
            )
            handles["observed"] = pts
        ax.axvline(x[0], color="0.6", lw=0.8, ls=":", zorder=0)
        order = (
            ["history", "median"]
            + [_level_label(a) for a in lv]
            + ["observed"]
        )
        keys = [k for k in order if k in handles]
        # outside the axes, right: never hides data
        ax.legend(
            [handles[k] for k in keys], keys, loc="upper left",
            bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize="small",
        )
        locator = mdates.AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        ax.set_ylabel("value")
        ax.grid(alpha=0.3)
        t = title
        if t is None and getattr(forecast, "item_id", None) is not None:
            t = f"item {forecast.item_id}"
        if t is not None:
            ax.set_title(t)

    return _finish(fig, created, path, draw)
