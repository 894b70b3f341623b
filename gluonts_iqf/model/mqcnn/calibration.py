"""Calibration of the statistical members on a backtest of the training series.

The members' Gaussian intervals rest on their in-sample one-step errors and
their model's assumptions; on much business data they extrapolate less
growth than the series then show, so their medians sit low and their
intervals are too narrow. Before training, each training series is cut at
``T - j H`` for ``j = 1 .. CALIBRATION_ORIGINS`` (8; a rolling-origin
backtest of the training data only); the members are fitted on the
``context_length`` values before each cut, as at prediction, and scored on
the ``H`` values after it. Each member's standardized errors
``(y - mean) / std`` are pooled over series, cuts and steps, and their
empirical quantiles at the knot levels replace the standard normal's in
that member's forecasts: one correction per dataset of its bias and width,
which :func:`~gluonts_iqf.model.mqcnn.statistical.mix_statistical` applies.
The network needs none: its training loss calibrates it.
"""

from typing import Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from .statistical import MEMBERS, MIN_CALIBRATION_VALUES, statistical_forecasts

#: Cuts per training series (the estimator's default ``calibration_origins``):
#: the last ``CALIBRATION_ORIGINS`` windows of H values. One cut is one
#: calendar period shared by every series (a common shock moves all of
#: them); eight average over several periods.
CALIBRATION_ORIGINS = 8

#: Series the backtest reads at most (evenly spaced through the training
#: data): the pooled quantiles of 8 x 2,000 x H errors are stable, and the
#: backtest's cost stays a few seconds on any dataset.
MAX_CALIBRATION_SERIES = 2000

#: Standardized errors a member's calibration needs; with fewer it keeps
#: its Gaussian quantiles (the outer knots' empirical quantiles would rest
#: on a handful of errors).
MIN_CALIBRATION_ERRORS = 100

#: Windows per batch of the members' fits (CES fits every window on its
#: whole parameter grid at once).
CALIBRATION_BATCH = 512


def backtest_windows(
    targets: Iterable[np.ndarray],
    context_length: int,
    prediction_length: int,
    origins: int = CALIBRATION_ORIGINS,
    max_series: Optional[int] = MAX_CALIBRATION_SERIES,
    num_series: Optional[int] = None,
    min_values: int = MIN_CALIBRATION_VALUES,
) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """The backtest windows of ``targets`` (1-D arrays, NaN where missing).

    Each series is cut at ``T - j H``, ``j = 1 .. origins``: the window is
    the ``context_length`` values before the cut (left-padded with
    unobserved zeros), the future the ``H`` values after it. Cuts with
    fewer than ``min_values`` observed values before them or no observed
    value after them are left out. Of ``num_series`` series (when known),
    every ``ceil(num_series / max_series)``-th is read; without
    ``num_series`` the first ``max_series``.

    Returns float64 ``past_target``, ``past_observed`` (N, C) and
    ``future_target``, ``future_observed`` (N, H).
    """
    C, H = context_length, prediction_length
    stride = 1
    if max_series is not None and num_series is not None and num_series > max_series:
        stride = -(-num_series // max_series)
    past, past_obs, fut, fut_obs = [], [], [], []
    read = 0
    for i, target in enumerate(targets):
        if i % stride:
            continue
        if max_series is not None and read == max_series:
            break
        read += 1
        y = np.asarray(target, dtype=np.float64)
        for j in range(1, origins + 1):
            cut = len(y) - j * H
            if cut < min_values:
                break
            before, after = y[max(0, cut - C):cut], y[cut:cut + H]
            seen = ~np.isnan(before)
            if seen.sum() < min_values or np.isnan(after).all():
                continue
            window = np.zeros(C)
            observed = np.zeros(C)
            window[C - len(before):] = np.where(seen, before, 0.0)
            observed[C - len(before):] = seen
            past.append(window)
            past_obs.append(observed)
            fut.append(np.nan_to_num(after))
            fut_obs.append(~np.isnan(after))
    if not past:
        return (torch.zeros(0, C, dtype=torch.float64), torch.zeros(0, C, dtype=torch.float64),
                torch.zeros(0, H, dtype=torch.float64), torch.zeros(0, H, dtype=torch.float64))
    return tuple(torch.from_numpy(np.stack(a).astype(np.float64)) for a in (past, past_obs, fut, fut_obs))


def standardized_errors(mean: Tensor, std: Tensor, future: Tensor, observed: Tensor) -> Tensor:
    """``(y - mean) / std`` of the observed future values (n,), from (N, H)
    inputs. Forecasts with no spread (a constant window: ``std`` at most
    the dtype's ``eps`` times the mean's magnitude) have no standardized
    error and are left out."""
    floor = torch.finfo(std.dtype).eps * mean.abs()
    keep = (observed > 0) & (std > floor) & torch.isfinite(mean) & torch.isfinite(std)
    return ((future - mean) / std)[keep]


def standard_quantiles(errors: Tensor, knot_levels: Sequence[float]) -> Optional[List[float]]:
    """The empirical quantiles of pooled standardized ``errors`` at
    ``knot_levels`` (linear interpolation), made strictly increasing by
    the least step that float64 resolves; None with fewer than
    :data:`MIN_CALIBRATION_ERRORS` errors."""
    if errors.numel() < MIN_CALIBRATION_ERRORS:
        return None
    levels = torch.as_tensor(knot_levels, dtype=torch.float64)
    z = torch.quantile(errors.to(torch.float64), levels).tolist()
    for k in range(1, len(z)):
        z[k] = max(z[k], np.nextafter(z[k - 1], np.inf))
    return z


def fit_member_calibration(
    targets: Iterable[np.ndarray],
    context_length: int,
    prediction_length: int,
    season: int,
    knot_levels: Sequence[float],
    active: Sequence[bool],
    num_series: Optional[int] = None,
    origins: int = CALIBRATION_ORIGINS,
) -> Optional[List[Optional[List[float]]]]:
    """Each active member's standard quantiles at ``knot_levels`` on the
    backtest windows of ``targets`` (:func:`backtest_windows`, ``origins``
    cuts per series), in
    :data:`~gluonts_iqf.model.mqcnn.statistical.MEMBERS` order (None for an
    inactive member or one with too few errors); None when no member has a
    calibration."""
    past, past_obs, fut, fut_obs = backtest_windows(
        targets, context_length, prediction_length, origins=origins, num_series=num_series
    )
    errors: List[List[Tensor]] = [[] for _ in MEMBERS]
    with torch.no_grad():
        for start in range(0, past.shape[0], CALIBRATION_BATCH):
            rows = slice(start, start + CALIBRATION_BATCH)
            forecasts, _ = statistical_forecasts(past[rows], past_obs[rows], prediction_length, season, active)
            for m, forecast in enumerate(forecasts):
                if forecast is not None:
                    errors[m].append(standardized_errors(*forecast, fut[rows], fut_obs[rows]))
    table = [
        standard_quantiles(torch.cat(e), knot_levels) if on and e else None
        for on, e in zip(active, errors)
    ]
    return table if any(t is not None for t in table) else None


def check_member_calibration(calibration, knot_levels: Sequence[float]) -> None:
    """A calibration is None or one entry per member of ``MEMBERS``, each
    None or len(knot_levels) finite, strictly increasing values."""
    if calibration is None:
        return
    if len(calibration) != len(MEMBERS):
        raise ValueError(f"member_calibration needs one entry per member {MEMBERS}, got {len(calibration)}")
    for name, z in zip(MEMBERS, calibration):
        if z is None:
            continue
        a = np.asarray(z, dtype=np.float64)
        if a.shape != (len(knot_levels),) or not np.isfinite(a).all() or not (np.diff(a) > 0).all():
            raise ValueError(
                f"member_calibration[{name!r}] must be {len(knot_levels)} finite, strictly increasing "
                f"standard quantiles (one per knot level), got {list(z)}"
            )
