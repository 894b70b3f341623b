"""Per-series weights of the statistical members from a backtest on each
series' own recent past.

The members' weights of :mod:`~gluonts_iqf.model.mqcnn.calibration` are one
per dataset. Which member forecasts a series best varies from series to
series (a near-periodic series is seasonal naive's, a trending one the
damped trend's), so at prediction each window's last ``cuts`` horizons are
forecast by every member from the window's values before them (a
rolling-origin backtest inside the prediction window, with no training and
no state: any series, seen in training or not, gets its own), and each
member's weight is multiplied by its mean absolute error there to the power
``-power`` (:func:`recent_weights`), so the members keep their total and
the network its share. The errors are absolute, not squared: a member is
judged by the error of its median, as MASE judges a forecast.
"""

import math
from typing import Sequence

import torch
from torch import Tensor

#: Horizons at the end of each prediction window that its members forecast
#: (the estimator's default ``member_recent_cuts``; chosen with the power on
#: both validation windows, RESULTS.md). Each cut costs one more fit of the
#: members at prediction.
RECENT_CUTS = 4

#: Exponent of :func:`recent_weights` (the estimator's default
#: ``member_recent_power``; chosen on both validation windows, RESULTS.md).
RECENT_POWER = 4.0

#: Observed values a cut needs before it (as the members' calibration): with
#: fewer the members' forecasts are too unlike those they make at prediction.
MIN_RECENT_VALUES = 5


def recent_errors(
    past_target: Tensor, past_observed: Tensor, prediction_length: int, cuts: int, forecaster
) -> Tensor:
    """Each member's mean absolute error over the last ``cuts`` horizons of
    each window, (M, B); NaN for a series with no scored value (no cut with
    :data:`MIN_RECENT_VALUES` observed values before it and an observed
    value after it).

    past_target, past_observed : (B, C); ``forecaster(target, observed, H)``
    returns M ``(mean, std)`` pairs of (B', H) for left-padded windows
    (B', C') (the active members of
    :func:`~gluonts_iqf.model.mqcnn.statistical.statistical_forecasts`,
    whose forecasts of a row do not depend on its batch or its padding).
    The cuts' windows, each left-padded to ``C - H``, go to the forecaster
    as one batch: the members' filters step through time with the whole
    batch at once, so ``cuts`` windows cost about one.
    """
    B, C = past_target.shape
    H = prediction_length
    ends = [C - j * H for j in range(1, cuts + 1) if C - j * H >= MIN_RECENT_VALUES]
    if not ends:
        return past_target.new_full((0, B), math.nan)
    width = ends[0]
    target = past_target.new_zeros(len(ends), B, width)
    observed = past_observed.new_zeros(len(ends), B, width)
    for i, end in enumerate(ends):
        target[i, :, width - end :] = past_target[:, :end]
        observed[i, :, width - end :] = past_observed[:, :end]
    means = torch.stack([mean for mean, _ in forecaster(target.view(-1, width), observed.view(-1, width), H)])
    means = means.view(-1, len(ends), B, H)  # (M, cuts, B, H)
    future = torch.stack([past_target[:, end : end + H] for end in ends])  # (cuts, B, H)
    scored = torch.stack([past_observed[:, end : end + H] > 0 for end in ends])
    scored = scored & (observed.sum(-1, keepdim=True) >= MIN_RECENT_VALUES)
    error = torch.where(scored, (future - means).abs(), torch.zeros_like(means)).sum((1, 3))  # (M, B)
    count = scored.sum((0, 2)).to(error.dtype)  # (B,)
    return torch.where(count > 0, error / count.clamp(min=1), torch.full_like(error, math.nan))


def recent_weights(weights: Sequence[float], errors: Tensor, power: float = RECENT_POWER) -> Tensor:
    """The members' ``weights`` (M,) per series, (M, B): ``w_k e_k^-power``
    rescaled to the weights' total, ``e`` the members' recent ``errors``
    (M, B) (:func:`recent_errors`), computed in logs so any power is finite.
    A series keeps the weights as given where some member's error is not
    positive and finite (too short a window, or a constant one)."""
    w = torch.as_tensor(list(weights), dtype=errors.dtype, device=errors.device).unsqueeze(-1)  # (M, 1)
    ok = (torch.isfinite(errors) & (errors > 0)).all(0)  # (B,)
    tiny = torch.finfo(errors.dtype).tiny
    logs = torch.log(w.clamp(min=tiny)) - power * torch.log(torch.where(ok, errors, torch.ones_like(errors)).clamp(min=tiny))
    moved = torch.softmax(logs, dim=0) * w.sum()
    return torch.where(ok, moved, w.expand_as(errors))
