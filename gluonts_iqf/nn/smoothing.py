"""Exponential-smoothing and trend features of the past before each forecast
creation time: what a statistical forecaster would estimate there, offered to
the seasonal location and the decoder as extra lag features, so the location
can combine them like an exponential-smoothing (Theta-like) forecast and the
network learns the rest.

* simple exponential smoothing (SES) levels at fixed smoothing constants, and
  the level at the constant with the lowest in-sample one-step squared error
  of each series up to the creation time (a per-series SES fit, as
  statsforecast's AutoETS / Theta choose it, over a grid);
* for seasonal data, the smoothed change over a season;
* a local least-squares slope and the slope over all the past (Theta's
  drift is half of the latter).

Everything is causal, in the target's units divided by the creation time's
scale, and computed for the whole window in a few tensor passes (a blocked
scan in float64).
"""

from typing import Sequence, Tuple

import torch
from torch import Tensor

from .forking import forking_history

#: Smoothing constants of the SES scan: the grid of the per-series fit.
SES_GRID = (0.05, 0.1, 0.2, 0.3, 0.45, 0.6, 0.8)

#: Grid entries whose levels are features themselves (slow, medium, fast).
LEVEL_ALPHAS = (0.1, 0.3, 0.6)

#: Smoothing constants of the seasonal-change features (seasonal data only).
CHANGE_ALPHAS = (0.1, 0.3)

#: The grid entry used while fewer than two one-step errors have been seen.
DEFAULT_ALPHA = 0.3

#: Positions per block of the scan: ``(1 - alpha) ** -BLOCK`` stays far below
#: the float64 range for every alpha of the grid (0.2 ** -32 ~ 2e22).
BLOCK = 32


def ses_scan(values: Tensor, observed: Tensor, alphas: Sequence[float]) -> Tuple[Tensor, Tensor, Tensor]:
    """SES levels at every position for several smoothing constants, and the
    cumulative in-sample squared one-step error of each.

    The level at ``s`` is the exponentially weighted mean ``sum_k (1 - a) **
    (s - k) o_k y_k / sum_k (1 - a) ** (s - k) o_k`` over positions ``k <= s``
    (missing values and the start of the series need no initial state); the
    one-step error at ``s`` is ``y_s - level_{s-1}`` where both exist.

    Parameters
    ----------
    values, observed : Tensor, shape (B, T)
    alphas : sequence of A floats in (0, 1)

    Returns
    -------
    level : Tensor, shape (B, T, A), float64
        0 before the first observed value.
    sse : Tensor, shape (B, T, A), float64
        Sum of the squared one-step errors at positions ``<= s``.
    count : Tensor, shape (B, T), float64
        How many one-step errors those sums hold.
    """
    B, T = values.shape
    x = (values * observed).double().unsqueeze(-1)  # (B, T, 1)
    o = observed.double().unsqueeze(-1)
    r = 1.0 - torch.tensor(list(alphas), dtype=torch.float64, device=values.device)  # (A,)
    num_carry = x.new_zeros(B, 1, r.shape[0])
    den_carry = x.new_zeros(B, 1, r.shape[0])
    nums, dens = [], []
    for p0 in range(0, T, BLOCK):
        L = min(BLOCK, T - p0)
        k = torch.arange(L, dtype=torch.float64, device=values.device).unsqueeze(-1)  # (L, 1)
        grow, shrink = r ** -k, r ** k  # (L, A)
        num = shrink * (torch.cumsum(x[:, p0 : p0 + L] * grow, 1) + r * num_carry)
        den = shrink * (torch.cumsum(o[:, p0 : p0 + L] * grow, 1) + r * den_carry)
        nums.append(num)
        dens.append(den)
        num_carry, den_carry = num[:, -1:], den[:, -1:]
    num, den = torch.cat(nums, 1), torch.cat(dens, 1)
    seen = den > 0
    level = torch.where(seen, num / torch.where(seen, den, torch.ones_like(den)), torch.zeros_like(num))
    # one-step errors: y_s - level_{s-1} where s is observed and s-1 had a level
    usable = o[:, 1:] * seen[:, :-1]
    err = (x[:, 1:] - level[:, :-1]) * usable
    zero = x.new_zeros(B, 1, r.shape[0])
    sse = torch.cumsum(torch.cat([zero, err * err], 1), 1)
    count = torch.cumsum(torch.cat([zero[..., 0], usable[..., 0]], 1), 1)
    return level, sse, count


def expanding_slope(values: Tensor, observed: Tensor) -> Tensor:
    """Least-squares slope per position over all observed values up to each
    position (0 until two are observed).

    values, observed : Tensor, shape (B, T) -> Tensor, shape (B, T), float64.
    """
    o = observed.double()
    y = values.double() * o
    t = torch.arange(values.shape[1], dtype=torch.float64, device=values.device)
    n, sx, sy = torch.cumsum(o, 1), torch.cumsum(o * t, 1), torch.cumsum(y, 1)
    sxx, sxy = torch.cumsum(o * t * t, 1), torch.cumsum(y * t, 1)
    var = n * sxx - sx * sx
    ok = (n >= 2) & (var > 0)
    return torch.where(ok, (n * sxy - sx * sy) / torch.where(ok, var, torch.ones_like(var)), torch.zeros_like(var))


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
    return len(LEVEL_ALPHAS) + 1 + (len(CHANGE_ALPHAS) if season_length > 1 else 0) + 2


def smoothing_features(
    target: Tensor, observed: Tensor, scale: Tensor, start: int, season_length: int, slope_length: int
) -> Tensor:
    """The smoothing features at creation times ``t = start + 1 .. start +
    F``, from the positions before each, divided by its scale.

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
        The local slope is fitted over the last ``slope_length`` positions.

    Returns
    -------
    Tensor, shape (B, F, 2 K)
        K values: the SES levels at :data:`LEVEL_ALPHAS`, the level of the
        series' own best grid constant, for ``m > 1`` the smoothed seasonal
        changes at :data:`CHANGE_ALPHAS`, the local slope and the slope over
        all the past (both per position); then K flags (some value observed
        for each).
    """
    F_ = scale.shape[1]
    B, C = target.shape
    dtype = target.dtype
    pos = slice(start, start + F_)  # position t - 1 of each creation time
    level, sse, count = ses_scan(target, observed, SES_GRID)
    level, sse, count = level[:, pos], sse[:, pos], count[:, pos]  # (B, F, A), (B, F)
    seen = (level != 0).any(-1) | (torch.cumsum(observed, 1)[:, pos] > 0)
    values = [level[..., SES_GRID.index(a)] for a in LEVEL_ALPHAS]
    best = torch.where(count >= 2, sse.argmin(-1), torch.full_like(count, SES_GRID.index(DEFAULT_ALPHA), dtype=torch.long))
    values.append(level.gather(-1, best.unsqueeze(-1)).squeeze(-1))
    flags = [seen] * (len(LEVEL_ALPHAS) + 1)
    if season_length > 1:
        m = season_length
        both = observed[:, m:] * observed[:, :-m]
        pad = target.new_zeros(B, min(m, C))
        change = torch.cat([pad, (target[:, m:] - target[:, :-m]) * both], 1)
        both = torch.cat([pad, both], 1)
        clevel, _, _ = ses_scan(change, both, CHANGE_ALPHAS)
        cseen = torch.cumsum(both, 1)[:, pos] > 0
        values += [clevel[:, pos, i] for i in range(len(CHANGE_ALPHAS))]
        flags += [cseen] * len(CHANGE_ALPHAS)
    L = min(slope_length, C)
    window_y = forking_history(target[:, : start + F_], F_, L)  # (B, F, L): positions t-L .. t-1
    window_o = forking_history(observed[:, : start + F_], F_, L)
    values.append(ols_slope(window_y, window_o))
    flags.append(window_o.sum(-1) >= 2)
    values.append(expanding_slope(target, observed)[:, pos])
    flags.append(torch.cumsum(observed, 1)[:, pos] >= 2)
    out = torch.stack([v.to(dtype) for v in values], -1) / scale
    return torch.cat([out, torch.stack([f.to(dtype) for f in flags], -1)], -1)
