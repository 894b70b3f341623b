"""Correlation across the forecast horizon of joint sample paths: the
numbers (:func:`sample_correlation`) and their heatmap
(:func:`correlation_matrix`)."""

from __future__ import annotations

from typing import Optional

import numpy as np

from gluonts.model.forecast import Forecast, SampleForecast

from ..forecast import QuantileFunctionForecast
from .figure import _check_path, _finish, _new_figure

__all__ = ["sample_correlation", "correlation_matrix"]

# figure size (inches); at DPI 120: 780 x 660 pixels
_CORR_SIZE = (6.5, 5.5)

#: Diverging colormap of :func:`correlation_matrix` (blue < 0 < red).
_CORR_CMAP = "RdBu_r"


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
