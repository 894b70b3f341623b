"""Plots for probabilistic forecasts: fan chart, quantile function,
calibration (PIT histogram + coverage) and cross-horizon correlation.

Every plotting function draws into the ``ax`` (or ``fig``) it is given, or
into a new figure, and returns the matplotlib ``Figure``; nothing is ever
shown. With ``path="name.png"`` the figure is saved as PNG at
:data:`DPI` dots per inch and then closed; the file is written to a temporary
name first and renamed, so a failure leaves no partial file behind. All input
checks run before anything is drawn or written, and bad input raises
``ValueError`` naming the problem.

Forecasts may be :class:`~gluonts_iqf.forecast.QuantileFunctionForecast`
(exact quantiles and CDF), GluonTS ``SampleForecast`` (samples of shape
``(num_samples, prediction_length)``) or GluonTS ``QuantileForecast`` (and
any univariate GluonTS forecast with ``quantile(level)``).

The numbers behind the calibration and correlation plots are public pure
functions: :func:`pit_values`, :func:`coverage_curve`,
:func:`sample_correlation`.
"""

from __future__ import annotations

import os
import uuid
from typing import Any, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd

from gluonts.model.forecast import Forecast, QuantileForecast, SampleForecast

from .forecast import QuantileFunctionForecast
from .levels import check_levels
from .metrics import (  # noqa: F401  (pit_values, coverage_curve: public here too)
    _PIT_GRID,
    _check_forecast,
    _pairs,
    _prediction_length,
    coverage_curve,
    forecast_quantiles,
    pit_values,
)

__all__ = [
    "DPI",
    "QUANTILE_GRID",
    "fan_chart",
    "quantile_function",
    "calibration",
    "correlation_matrix",
    "pit_values",
    "coverage_curve",
    "sample_correlation",
]

#: Resolution of PNG files written with ``path=``.
DPI = 120

#: Level grid on which :func:`quantile_function` draws q(alpha): 999 points.
QUANTILE_GRID = np.round(np.linspace(0.001, 0.999, 999), 6)

#: Level grid used to invert forecasts that have neither a CDF nor samples
#: (e.g. ``QuantileForecast``) in :func:`pit_values`: midpoints of 1000 equal
#: cells, so the PIT is exact up to +-0.0005 plus the forecast's own
#: interpolation between its quantiles.

# figure sizes (inches); at DPI 120 these give the PNG pixel sizes
_FAN_SIZE = (10.0, 4.5)  # 1200 x 540
_QF_SIZE = (7.0, 4.5)  # 840 x 540
_CAL_SIZE = (11.0, 4.5)  # 1320 x 540
_CORR_SIZE = (6.5, 5.5)  # 780 x 660
_CAL_RATIOS = (1.45, 1.0)  # wide PIT panel, square coverage panel

#: Diverging colormap of :func:`correlation_matrix` (blue < 0 < red).
_CORR_CMAP = "RdBu_r"

HistoryLike = Union[pd.Series, dict, np.ndarray, Sequence[float]]


# ---------------------------------------------------------------------- #
# input checks and helpers
# ---------------------------------------------------------------------- #
def _check_path(path) -> Optional[str]:
    if path is None:
        return None
    path = os.fspath(path)
    if os.path.splitext(path)[1].lower() != ".png":
        raise ValueError(f"path must name a .png file, got {path!r}")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise ValueError(f"directory of path does not exist: {parent!r}")
    return path


def _new_figure(figsize, ncols: int = 1, **kwargs):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        1, ncols, figsize=figsize, layout="constrained", **kwargs
    )
    return fig, axes


def _close(fig) -> None:
    import matplotlib.pyplot as plt

    plt.close(fig)


def _save(fig, path: Optional[str]) -> None:
    """Write ``fig`` to ``path`` as PNG via a temporary file in the same
    directory (renamed into place, so no partial file survives an error),
    then close it. The file gets the usual umask-based permissions."""
    if path is None:
        return
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(
        directory, f".{os.path.basename(path)}.{uuid.uuid4().hex}.tmp"
    )
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as fh:
            fig.savefig(fh, format="png", dpi=DPI)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _close(fig)


def _finish(fig, created: bool, path: Optional[str], draw) -> Any:
    """Run ``draw()``; on failure close a figure we created; then save."""
    try:
        draw()
        _save(fig, path)
    except BaseException:
        if created:
            _close(fig)
        raise
    return fig


def _level_label(level: float) -> str:
    return f"{100 * level:.4g}% interval"


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


def _as_time(index: pd.PeriodIndex) -> pd.DatetimeIndex:
    return index.to_timestamp(how="start")


# ---------------------------------------------------------------------- #
# fan chart
# ---------------------------------------------------------------------- #
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


# ---------------------------------------------------------------------- #
# quantile function of one step
# ---------------------------------------------------------------------- #
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


# ---------------------------------------------------------------------- #
# calibration
# ---------------------------------------------------------------------- #
def calibration(
    forecasts,
    targets,
    levels=np.linspace(0.05, 0.95, 19),
    bins: int = 10,
    fig=None,
    path=None,
    seed: int = 0,
):
    """Two panels: PIT histogram and coverage vs nominal level.

    Left: density histogram of :func:`pit_values` on ``bins`` equal bins of
    [0, 1] with the uniform density 1 and its pointwise 95% binomial band.
    Right: :func:`coverage_curve` against ``levels`` with the diagonal.

    Parameters
    ----------
    forecasts, targets, seed
        As in :func:`pit_values`.
    levels : sequence of float in (0, 1)
    bins : int >= 1
    fig : matplotlib Figure without axes, optional
        Drawn into (two new axes); default a new figure.
    path : str or PathLike, optional
        Save a PNG there and close the figure.

    Returns
    -------
    matplotlib.figure.Figure
    """
    lv = np.sort(check_levels(levels, increasing=False))
    if isinstance(bins, bool) or int(bins) != bins or bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}")
    bins = int(bins)
    path = _check_path(path)
    if fig is not None and fig.axes:
        raise ValueError("fig must be an empty Figure (it already holds axes)")
    fs, ys = _pairs(forecasts, targets)
    pit = pit_values(fs, ys, seed=seed)
    if pit.size == 0:
        raise ValueError("targets hold no observed (non-NaN) values")
    cov = coverage_curve(fs, ys, lv)

    created = fig is None
    if created:
        fig, (ax_pit, ax_cov) = _new_figure(_CAL_SIZE, ncols=2, width_ratios=_CAL_RATIOS)
    else:
        ax_pit, ax_cov = fig.subplots(1, 2, width_ratios=_CAL_RATIOS)

    def draw():
        n = pit.size
        edges = np.linspace(0.0, 1.0, bins + 1)
        ax_pit.hist(
            pit, bins=edges, density=True, color="tab:blue", alpha=0.75,
            edgecolor="white", label="PIT",
        )
        p = 1.0 / bins
        half = 1.96 * np.sqrt(n * p * (1 - p)) / (n * p)  # in density units
        ax_pit.axhspan(1 - half, 1 + half, color="0.5", alpha=0.2, lw=0,
                       label="95% band (uniform)", zorder=0)
        ax_pit.axhline(1.0, color="k", lw=1.2, ls="--", label="uniform")
        ax_pit.set_xlim(0, 1)
        ax_pit.set_xlabel("PIT = F(y)")
        ax_pit.set_ylabel("density")
        ax_pit.set_title(f"PIT histogram (n = {n})")
        # one-row legend in the headroom above the tallest bar
        ax_pit.legend(loc="upper center", ncol=3, fontsize="small", framealpha=0.85)
        top = max(np.histogram(pit, edges, density=True)[0].max(), 1 + half)
        ax_pit.set_ylim(0, 1.3 * top)

        ax_cov.plot([0, 1], [0, 1], color="k", lw=1.0, ls="--", label="ideal")
        ax_cov.plot(lv, cov, "o-", color="tab:blue", ms=4, label="empirical")
        ax_cov.set_xlim(0, 1)
        ax_cov.set_ylim(0, 1)
        ax_cov.set_aspect("equal", adjustable="box")
        ax_cov.set_xlabel("nominal level")
        ax_cov.set_ylabel("share of targets <= q(level)")
        ax_cov.set_title("Coverage")
        ax_cov.grid(alpha=0.3)
        ax_cov.legend(loc="upper left", fontsize="small")

    return _finish(fig, created, path, draw)


# ---------------------------------------------------------------------- #
# correlation across the horizon
# ---------------------------------------------------------------------- #
def sample_correlation(samples) -> np.ndarray:
    """Empirical (Pearson) correlation between the columns of joint samples.

    Parameters
    ----------
    samples : array, shape (n, H)
        ``n >= 2`` finite joint sample paths over ``H`` horizon steps.

    Returns
    -------
    numpy.ndarray, shape (H, H)
        Symmetric, in [-1, 1], ones on the diagonal; rows/columns of a
        constant step are NaN (correlation undefined).
    """
    x = np.asarray(samples, dtype=float)
    if x.ndim != 2:
        raise ValueError(
            f"samples must have shape (num_samples, H), got {x.shape}"
        )
    if x.shape[0] < 2:
        raise ValueError(f"need at least 2 sample paths, got {x.shape[0]}")
    if not np.isfinite(x).all():
        raise ValueError("samples contain NaN or infinite values")
    xc = x - x.mean(axis=0)
    cov = xc.T @ xc / (x.shape[0] - 1)  # (H, H)
    sd = np.sqrt(np.diag(cov))
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = cov / np.outer(sd, sd)
    const = sd == 0
    corr[const, :] = np.nan
    corr[:, const] = np.nan
    np.fill_diagonal(corr, np.where(const, np.nan, 1.0))
    return np.clip(corr, -1.0, 1.0)


def _joint_samples(forecast_or_samples) -> np.ndarray:
    obj = forecast_or_samples
    if isinstance(obj, QuantileFunctionForecast):
        raise ValueError(
            "a QuantileFunctionForecast (IQF) is marginal: it holds one "
            "quantile function per step and no dependence across steps, so "
            "its correlation matrix is not defined (its samples are independent "
            "across steps). Pass joint sample paths instead, e.g. a "
            "SampleForecast from a joint (MQF²) model or an (n, H) array."
        )
    if isinstance(obj, SampleForecast):
        samples = np.asarray(obj.samples)
        if samples.ndim != 2:
            raise ValueError(
                f"SampleForecast samples have shape {samples.shape}; pass an "
                "(n, H) array (e.g. samples.reshape(n, -1) for steps x series)"
            )
        return samples
    if isinstance(obj, Forecast):
        raise ValueError(
            f"{type(obj).__name__} carries no joint sample paths; pass a "
            "SampleForecast from a joint (MQF²) model or an (n, H) array"
        )
    return np.asarray(obj, dtype=float)


def correlation_matrix(
    forecast_or_samples, ax=None, path=None, title: Optional[str] = None
):
    """Heatmap of the empirical correlation between forecast steps.

    Parameters
    ----------
    forecast_or_samples : SampleForecast or array, shape (n, H)
        Joint sample paths (e.g. from an MQF² model). A
        QuantileFunctionForecast is rejected (``ValueError``): IQF forecasts
        are marginal.
    ax, path
        As in :func:`fan_chart`.
    title : str, optional
        Default ``"Correlation across the forecast horizon"``.

    Returns
    -------
    matplotlib.figure.Figure
        ``ax.images[0]`` holds :func:`sample_correlation` with a diverging
        colormap fixed to [-1, 1]; a colorbar sits next to it. Steps are
        numbered 1..H on both axes.
    """
    samples = _joint_samples(forecast_or_samples)
    path = _check_path(path)
    corr = sample_correlation(samples)
    H = corr.shape[0]

    created = ax is None
    if created:
        fig, ax = _new_figure(_CORR_SIZE)
    fig = ax.figure

    def draw():
        from matplotlib.ticker import MaxNLocator

        im = ax.imshow(
            corr, cmap=_CORR_CMAP, vmin=-1.0, vmax=1.0, interpolation="nearest",
            origin="upper", extent=(0.5, H + 0.5, H + 0.5, 0.5),
        )
        cbar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
        cbar.set_label("correlation")
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_locator(MaxNLocator(nbins=8, integer=True, min_n_ticks=1))
        ax.set_xlabel("horizon step")
        ax.set_ylabel("horizon step")
        ax.set_title(
            title if title is not None
            else f"Correlation across the forecast horizon ({samples.shape[0]} paths)"
        )

    return _finish(fig, created, path, draw)
