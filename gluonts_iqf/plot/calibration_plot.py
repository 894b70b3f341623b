"""Calibration plot: PIT histogram and coverage vs nominal level
(:func:`calibration`). The numbers come from
:func:`gluonts_iqf.metrics.pit_values` and
:func:`gluonts_iqf.metrics.coverage_curve`."""

from __future__ import annotations

import numpy as np

from ..levels import check_levels
from ..metrics import _pairs, coverage_curve, pit_values
from .figure import _check_path, _finish, _new_figure

__all__ = ["calibration"]

# figure size (inches); at DPI 120: 1320 x 540 pixels
_CAL_SIZE = (11.0, 4.5)
_CAL_RATIOS = (1.45, 1.0)  # wide PIT panel, square coverage panel


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
