"""Exponential-smoothing and trend features of the past before each forecast
creation time: the level and trend a statistical forecaster would estimate
(SES at several smoothing constants, the smoothed seasonal change, a local
least-squares slope), offered to the seasonal location and the decoder as
extra lag features, so the location can combine them like an
exponential-smoothing forecast and the network learns the rest.

All are linear in the (scaled) target given the observed mask, causal, and
computed for every creation time in a few tensor operations.
"""


import torch
from torch import Tensor

from .forking import forking_history

#: Smoothing constants of the level features (slow, medium, fast).
LEVEL_ALPHAS = (0.1, 0.3, 0.6)

#: Smoothing constants of the seasonal-change features (seasonal data only).
CHANGE_ALPHAS = (0.1, 0.3)


def ewma(values: Tensor, observed: Tensor, alpha: float) -> Tensor:
    """Exponentially weighted mean over the observed values of each row,
    weight ``(1 - alpha) ** age`` (the last position has age 0): the simple
    exponential-smoothing level, normalised so that missing values and a
    short history neither bias it towards 0 nor need an initial state.

    values, observed : Tensor, shape (..., W), oldest first -> Tensor, shape
    (...,): 0 where nothing is observed.
    """
    W = values.shape[-1]
    age = torch.arange(W - 1, -1, -1, dtype=values.dtype, device=values.device)
    w = (1.0 - alpha) ** age * observed
    return (w * values).sum(-1) / w.sum(-1).clamp_min(torch.finfo(values.dtype).tiny)


def ols_slope(values: Tensor, observed: Tensor) -> Tensor:
    """Least-squares slope per position over the observed values of each row.

    values, observed : Tensor, shape (..., W) -> Tensor, shape (...,): 0
    where fewer than two values are observed.
    """
    x = torch.arange(values.shape[-1], dtype=values.dtype, device=values.device)
    n = observed.sum(-1, keepdim=True)
    safe = n.clamp_min(1.0)
    xm = (observed * x).sum(-1, keepdim=True) / safe
    ym = (observed * values).sum(-1, keepdim=True) / safe
    sxx = (observed * (x - xm) ** 2).sum(-1)
    sxy = (observed * (x - xm) * (values - ym)).sum(-1)
    return torch.where(n.squeeze(-1) >= 2, sxy / sxx.clamp_min(1e-12), torch.zeros_like(sxy))


def num_smoothing_features(season_length: int) -> int:
    """How many features :func:`smoothing_features` gives."""
    return len(LEVEL_ALPHAS) + (len(CHANGE_ALPHAS) if season_length > 1 else 0) + 1


def smoothing_features(
    target: Tensor, observed: Tensor, scale: Tensor, start: int, season_length: int, slope_length: int
) -> Tensor:
    """Level, seasonal-change and slope features at creation times ``t =
    start + 1 .. start + F``, from the positions before each, divided by
    its scale.

    Parameters
    ----------
    target, observed : Tensor, shape (B, C)
        Window values (already masked) and observed flags.
    scale : Tensor, shape (B, F, 1)
    start : int
    season_length : int
        ``m``; with ``m > 1`` the smoothed change over a season
        ``y[s] - y[s - m]`` is included.
    slope_length : int
        The slope is fitted over the last ``slope_length`` positions.

    Returns
    -------
    Tensor, shape (B, F, 2 K)
        K values (:data:`LEVEL_ALPHAS` levels, then :data:`CHANGE_ALPHAS`
        seasonal changes for ``m > 1``, then the slope per position) and K
        flags (some value observed for it).
    """
    F_ = scale.shape[1]
    target, observed = target[:, : start + F_], observed[:, : start + F_]  # up to the last creation time
    C = target.shape[1]
    y = forking_history(target, F_, C)  # (B, F, C), positions before each creation time
    o = forking_history(observed, F_, C)
    seen = (o.sum(-1) > 0).to(target.dtype)
    values, flags = [], []
    for a in LEVEL_ALPHAS:
        values.append(ewma(y, o, a))
        flags.append(seen)
    if season_length > 1:
        m = season_length
        both = observed[:, m:] * observed[:, :-m]
        change = torch.cat([target.new_zeros(target.shape[0], min(m, C)), (target[:, m:] - target[:, :-m]) * both], 1)
        both = torch.cat([target.new_zeros(target.shape[0], min(m, C)), both], 1)
        dy, do = forking_history(change, F_, C), forking_history(both, F_, C)
        dseen = (do.sum(-1) > 0).to(target.dtype)
        for a in CHANGE_ALPHAS:
            values.append(ewma(dy, do, a))
            flags.append(dseen)
    L = min(slope_length, C)
    values.append(ols_slope(y[..., -L:], o[..., -L:]))
    flags.append((o[..., -L:].sum(-1) >= 2).to(target.dtype))
    return torch.cat([torch.stack(values, -1) / scale, torch.stack(flags, -1)], -1)
