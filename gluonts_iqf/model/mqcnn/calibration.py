"""Calibration of the statistical members on a backtest of the training series.

The members' Gaussian intervals rest on their in-sample one-step errors and
their model's assumptions; on much business data they extrapolate less
growth than the series then show, so their medians sit low and their
intervals are too narrow. Before training, each training series is cut at
``T - j H`` for ``j = 1 .. CALIBRATION_ORIGINS`` (16; a rolling-origin
backtest of the training data only); the members are fitted on the
``context_length`` values before each cut, as at prediction, and scored on
the ``H`` values after it. Each member's standardized errors
``(y - mean) / std`` are pooled over series, cuts and steps, and their
empirical quantiles at the knot levels replace the standard normal's in
that member's forecasts: one correction per dataset of its bias and width,
which :func:`~gluonts_iqf.model.mqcnn.statistical.mix_statistical` applies.
The network needs none: its training loss calibrates it.

The same backtest scores each member (:func:`backtest_loss`: its
volume-weighted quantile loss with those quantiles), and
:func:`skill_weights` moves the members' prior weights toward the members
that forecast this dataset's series best.
"""

import math
from typing import Iterable, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from .statistical import MEMBERS, MIN_CALIBRATION_VALUES, statistical_forecasts

#: Cuts per training series (the estimator's default ``calibration_origins``):
#: the last ``CALIBRATION_ORIGINS`` windows of H values. One cut is one
#: calendar period shared by every series (a common shock moves all of
#: them); sixteen average over several periods (chosen on both validation
#: windows, RESULTS.md; series too short for a cut skip it).
CALIBRATION_ORIGINS = 16

#: Series the backtest reads at most (evenly spaced through the training
#: data): the pooled quantiles of 16 x 2,000 x H errors are stable, and the
#: backtest's cost stays a few seconds on any dataset.
MAX_CALIBRATION_SERIES = 2000

#: Standardized errors a member's calibration needs; with fewer it keeps
#: its Gaussian quantiles (the outer knots' empirical quantiles would rest
#: on a handful of errors).
MIN_CALIBRATION_ERRORS = 100

#: Exponent ``p`` of :func:`skill_weights` (the estimator's default
#: ``member_skill_power``): each member's prior weight is multiplied by its
#: backtest loss to the power ``-p``. The members' losses differ by a few
#: to some tens of percent, so a large power is needed for the weights to
#: move; chosen on the validation windows (RESULTS.md).
MEMBER_SKILL_POWER = 8.0

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
    spread: bool = False,
) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """The backtest windows of ``targets`` (1-D arrays, NaN where missing).

    Each series of length ``T`` is cut at ``T - j s``, ``j = 1 .. origins``,
    with the step ``s = H`` (its last ``origins`` horizons) or, with
    ``spread``, ``s = max(H, (T - min_values - H) // origins)`` (the cuts
    spread over its whole history): the window is the ``context_length``
    values before the cut (left-padded with unobserved zeros), the future
    the ``H`` values after it. Cuts with
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
        step = max(H, (len(y) - min_values - H) // origins) if spread else H
        for j in range(1, origins + 1):
            cut = len(y) - j * step
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


def backtest_loss(
    mean: Tensor, std: Tensor, z: Sequence[float], levels: Sequence[float], future: Tensor, observed: Tensor
) -> Tuple[float, float]:
    """The summed quantile (pinball) loss, averaged over ``levels``, of the
    forecasts ``mean + std z_k`` of the observed future values, and the sum
    of those values' magnitudes: their ratio is the volume-weighted
    quantile loss (wQL up to a factor 2). mean, std, future, observed
    (N, H); z the standard quantiles at ``levels`` (K,). Forecasts that are
    not finite are left out."""
    zt = torch.as_tensor(z, dtype=mean.dtype)
    tau = torch.as_tensor(levels, dtype=mean.dtype)
    keep = (observed > 0) & torch.isfinite(mean) & torch.isfinite(std)
    q = mean[keep].unsqueeze(-1) + std[keep].unsqueeze(-1) * zt  # (n, K)
    e = future[keep].unsqueeze(-1) - q
    pinball = torch.maximum(tau * e, (tau - 1) * e).mean(-1)
    return float(pinball.sum()), float(future[keep].abs().sum())


class MemberBacktest(NamedTuple):
    """What :func:`member_backtest` fits, per member in
    :data:`~gluonts_iqf.model.mqcnn.statistical.MEMBERS` order."""

    #: the standard quantiles at the knot levels, None for an inactive
    #: member or one with too few errors; None when no member has any
    calibration: Optional[List[Optional[List[float]]]]
    #: the volume-weighted quantile loss on the backtest (with the
    #: calibrated quantiles, else the normal's), None for an inactive member
    #: or one with no scored value
    loss: List[Optional[float]]


def member_backtest(
    targets: Iterable[np.ndarray],
    context_length: int,
    prediction_length: int,
    season: int,
    knot_levels: Sequence[float],
    active: Sequence[bool],
    num_series: Optional[int] = None,
    origins: int = CALIBRATION_ORIGINS,
    spread: bool = False,
) -> MemberBacktest:
    """Each active member's standard quantiles at ``knot_levels`` and its
    loss (:func:`backtest_loss`) on the backtest windows of ``targets``
    (:func:`backtest_windows`, ``origins`` cuts per series, ``spread`` or
    not)."""
    past, past_obs, fut, fut_obs = backtest_windows(
        targets, context_length, prediction_length, origins=origins, num_series=num_series, spread=spread
    )
    forecasts: List[List[Tuple[Tensor, Tensor]]] = [[] for _ in MEMBERS]
    with torch.no_grad():
        for start in range(0, past.shape[0], CALIBRATION_BATCH):
            rows = slice(start, start + CALIBRATION_BATCH)
            batch, _ = statistical_forecasts(past[rows], past_obs[rows], prediction_length, season, active)
            for m, forecast in enumerate(batch):
                if forecast is not None:
                    forecasts[m].append(forecast[:2])
    normal = torch.special.ndtri(torch.as_tensor(knot_levels, dtype=torch.float64)).tolist()
    table: List[Optional[List[float]]] = []
    loss: List[Optional[float]] = []
    for on, member in zip(active, forecasts):
        if not (on and member):
            table.append(None)
            loss.append(None)
            continue
        mean, std = (torch.cat(parts) for parts in zip(*member))
        z = standard_quantiles(standardized_errors(mean, std, fut, fut_obs), knot_levels)
        table.append(z)
        total, volume = backtest_loss(mean, std, normal if z is None else z, knot_levels, fut, fut_obs)
        loss.append(total / volume if volume > 0 and math.isfinite(total) else None)
    return MemberBacktest(table if any(t is not None for t in table) else None, loss)


def skill_weights(
    weights: Sequence[float], losses: Sequence[Optional[float]], power: float = MEMBER_SKILL_POWER
) -> List[float]:
    """The members' prior ``weights`` moved toward the members with the
    lower backtest ``losses``: ``w_k loss_k^-power``, rescaled to the priors'
    total, for the members with a positive weight. The priors unchanged
    when ``power`` is 0 or some weighted member has no positive, finite
    loss (computed in logs, so any power is finite). ValueError for a
    negative or infinite power, or one loss per weight missing."""
    if not (math.isfinite(power) and power >= 0):
        raise ValueError(f"power must be finite and >= 0, got {power}")
    if len(losses) != len(weights):
        raise ValueError(f"one loss per weight: got {len(losses)} losses for {len(weights)} weights")
    on = [k for k, w in enumerate(weights) if w > 0]
    ok = all(losses[k] is not None and 0 < losses[k] < math.inf for k in on)
    if power == 0 or not on or not ok:
        return [float(w) for w in weights]
    logs = [math.log(weights[k]) - power * math.log(losses[k]) for k in on]
    top = max(logs)
    raw = [math.exp(v - top) for v in logs]
    total = sum(weights[k] for k in on)
    out = [0.0] * len(weights)
    for k, r in zip(on, raw):
        out[k] = total * r / sum(raw)
    return out


def check_member_calibration(calibration, knot_levels: Sequence[float]) -> None:
    """A calibration is None or one entry per member of ``MEMBERS`` (or per
    its first members), each None or len(knot_levels) finite, strictly
    increasing values."""
    if calibration is None:
        return
    if not 1 <= len(calibration) <= len(MEMBERS):
        raise ValueError(
            f"member_calibration needs one entry per member {MEMBERS} (or per the first ones, as saved before "
            f"the later were added), got {len(calibration)}"
        )
    for name, z in zip(MEMBERS, calibration):
        if z is None:
            continue
        a = np.asarray(z, dtype=np.float64)
        if a.shape != (len(knot_levels),) or not np.isfinite(a).all() or not (np.diff(a) > 0).all():
            raise ValueError(
                f"member_calibration[{name!r}] must be {len(knot_levels)} finite, strictly increasing "
                f"standard quantiles (one per knot level), got {list(z)}"
            )
