"""Per-series weights of the statistical members from a backtest on each
series' own recent past.

The members' weights of :mod:`~gluonts_iqf.model.mqcnn.calibration` are one
per dataset. Which member forecasts a series best varies from series to
series (a near-periodic series is seasonal naive's, a trending one the
damped trend's), so at prediction each window's last ``cuts`` horizons are
forecast by every member from the window's values before them (a
rolling-origin backtest inside the prediction window, with no training and
no state: any series, seen in training or not, gets its own). The
backtest comes from the members' own fit of the window, at the cost of
about one forecast: each cut is forecast from the filter's states after the
values before it, with the parameters of least error up to it (exactly a fit
of that prefix, except that the seasonal indices, and CES's starting
states, are the whole window's, and CES skips its backcast there). Each
member's weight is multiplied by its mean absolute error there to the power
``-power`` (:func:`recent_weights`), so the members keep their total and
the network its share. The errors are absolute, not squared: a member is
judged by the error of its median, as MASE judges a forecast.
"""

import math
from typing import List, Sequence

import torch
from torch import Tensor

#: Horizons at the end of each prediction window that its members forecast
#: (the estimator's default ``member_recent_cuts``; chosen with the power on
#: both validation windows, RESULTS.md).
RECENT_CUTS = 4

#: Exponent of :func:`recent_weights` (the estimator's default
#: ``member_recent_power``; chosen on both validation windows, RESULTS.md).
RECENT_POWER = 4.0

#: Observed values a cut needs before it (as the members' calibration): with
#: fewer the members' forecasts are too unlike those they make at prediction.
MIN_RECENT_VALUES = 5


def recent_ends(context_length: int, prediction_length: int, cuts: int) -> List[int]:
    """The cuts' positions in a window of ``context_length`` values: the
    starts of its last ``cuts`` horizons, latest first, each with at least
    :data:`MIN_RECENT_VALUES` positions before it."""
    C, H = context_length, prediction_length
    return [C - j * H for j in range(1, cuts + 1) if C - j * H >= MIN_RECENT_VALUES]


def recent_errors(past_target: Tensor, past_observed: Tensor, ends: Sequence[int], origins: Tensor) -> Tensor:
    """Each member's mean absolute error over the horizons that start at
    ``ends`` (:func:`recent_ends`), (M, B); NaN for a series with no scored
    value (no cut with :data:`MIN_RECENT_VALUES` observed values before it
    and an observed value after it).

    past_target, past_observed : (B, C); origins : (M, J, B, H), the
    members' mean forecasts from each of the J ``ends`` of the values before
    it (the members' backtests of
    :func:`~gluonts_iqf.model.mqcnn.statistical.statistical_forecasts`).
    """
    H = origins.shape[-1]
    future = torch.stack([past_target[:, e : e + H] for e in ends])  # (J, B, H)
    scored = torch.stack([past_observed[:, e : e + H] > 0 for e in ends])
    before = torch.stack([past_observed[:, :e].sum(-1) for e in ends])  # (J, B)
    scored = scored & (before >= MIN_RECENT_VALUES).unsqueeze(-1)
    error = torch.where(scored, (future - origins).abs(), torch.zeros_like(origins)).sum((1, 3))  # (M, B)
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
