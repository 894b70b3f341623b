"""Seasonal-lag features: for every horizon step, the values of the same
seasonal phase observed before the forecast creation time (the
seasonal-naive forecasts of that step), and the most recent values."""

import torch
from torch import Tensor


def check_seasonal_lags(season_length: int, num_lags: int, num_recent: int = 0) -> None:
    """ValueError unless ``season_length >= 1``, ``num_lags >= 0`` and
    ``num_recent >= 0``."""
    if season_length < 1 or num_lags < 0:
        raise ValueError(
            f"season_length must be >= 1 and num_seasonal_lags >= 0, got "
            f"{season_length} and {num_lags}"
        )
    if num_recent < 0:
        raise ValueError(f"num_recent_lags must be >= 0, got {num_recent}")


def seasonal_lag_offsets(prediction_length: int, season_length: int, num_lags: int) -> Tensor:
    """How far before a creation time each horizon step's seasonal lags lie.

    Step ``h`` (0-based) forecast at creation time ``t`` falls on position
    ``t + h``; its ``j``-th seasonal lag is the ``j``-th most recent position
    of the same seasonal phase already observed at ``t``:
    ``t + h - m * (h // m + 1 + j)`` with ``m = season_length``. The offset
    ``m * (h // m + 1 + j) - h`` is always >= 1, so no lag is ever a value the
    creation time is scored on. With ``m = 1`` every step's lags are the last
    ``num_lags`` values (the naive forecast).

    Returns
    -------
    Tensor, shape (H, J), int64
        Offsets back from the creation time (``pos = t - offset``).

    Raises
    ------
    ValueError
        For ``season_length < 1`` or ``num_lags < 0``.
    """
    check_seasonal_lags(season_length, num_lags)
    h = torch.arange(prediction_length).unsqueeze(1)
    j = torch.arange(num_lags).unsqueeze(0)
    return season_length * (h // season_length + 1 + j) - h


def recent_lag_offsets(prediction_length: int, season_length: int, num_recent: int) -> Tensor:
    """Offsets of the ``num_recent`` most recent values before a creation
    time and of the same positions one season earlier, the same for every
    horizon step: ``[1, 1 + m, 2, 2 + m, ...]``.

    Appended to a step's seasonal lags they let a linear location form the
    seasonal-naive value corrected by the latest change over a season,
    ``y[t+h-m] + (y[t-1] - y[t-1-m])`` (the level of a trending or shifted
    series, which the seasonal lags alone lag behind by up to a season).
    With ``season_length = 1`` the seasonal lags already are the most recent
    values, so there are none (shape (H, 0)).

    Returns
    -------
    Tensor, shape (H, 2 R) (R = ``num_recent``, 0 when ``season_length = 1``), int64

    Raises
    ------
    ValueError
        For ``season_length < 1`` or ``num_recent < 0``.
    """
    check_seasonal_lags(season_length, 0, num_recent)
    if season_length == 1:
        num_recent = 0
    r = torch.arange(1, num_recent + 1)
    row = torch.stack([r, r + season_length], 1).reshape(-1)  # 1, 1+m, 2, 2+m, ...
    return row.unsqueeze(0).expand(prediction_length, -1).contiguous()


def last_observed(target: Tensor, observed: Tensor) -> Tensor:
    """The value at the last observed position up to each position (the
    naive forecast made there), 0 before the first observed one.

    target, observed : Tensor, shape (B, T) -> Tensor, shape (B, T).
    """
    positions = torch.arange(target.shape[1], device=target.device).expand_as(target)
    idx = torch.where(observed > 0, positions, torch.full_like(positions, -1)).cummax(dim=1).values
    values = target.gather(1, idx.clamp_min(0))
    return torch.where(idx >= 0, values, torch.zeros_like(values))


def gather_seasonal_lags(
    target: Tensor, observed: Tensor, scale: Tensor, start: int, offsets: Tensor, impute: bool = False
) -> Tensor:
    """Seasonal lags of every horizon step at creation times
    ``t = start + 1 .. start + F``, divided by the scale at ``t - 1``.

    Parameters
    ----------
    target, observed : Tensor, shape (B, C)
        Window values (already masked) and observed flags.
    scale : Tensor, shape (B, F, 1)
        Scale of each creation time.
    start : int
        Creation times are ``start + 1 .. start + F``.
    offsets : Tensor, shape (H, J), int64
        From :func:`seasonal_lag_offsets`.
    impute : bool
        Give unobserved lags (missing values, positions before the series
        or the window) the last value observed before the creation time
        instead of 0: "no information" then reads as persistence, not as a
        value of zero, so a short series' linear location is not pulled to
        zero. Their flags stay 0.

    Returns
    -------
    Tensor, shape (B, F, H, 2 J)
        J scaled values then J observed flags.
    """
    B, F_ = scale.shape[:2]
    H, J = offsets.shape
    if J == 0:
        return target.new_zeros(B, F_, H, 0)
    P = int(offsets.max())
    t = torch.arange(start + 1, start + 1 + F_, device=target.device)
    idx = t.view(-1, 1, 1) - offsets + P  # (F, H, J), into the padded window
    pad = target.new_zeros(B, P)
    y = torch.cat([pad, target], 1)[:, idx]  # (B, F, H, J)
    o = torch.cat([pad, observed], 1)[:, idx]
    if impute:
        naive = last_observed(target, observed)[:, start : start + F_]  # (B, F), at t - 1
        y = torch.where(o > 0, y, naive[:, :, None, None])
    return torch.cat([y / scale.unsqueeze(-1), o], dim=-1)
