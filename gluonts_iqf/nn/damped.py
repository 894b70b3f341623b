"""Damped-trend exponential smoothing, ETS(A,Ad,N) (Gardner & McKenzie
1985), for a batch of series in one pass, on the seasonally adjusted
windows of :mod:`gluonts_iqf.nn.seasonal`.

In error-correction form, with one-step error ``e_t = x_t - (l + phi b)``:
``l_t = l_{t-1} + phi b_{t-1} + alpha e_t`` and ``b_t = phi b_{t-1} + beta
e_t``; forecasts ``l_n + (phi + ... + phi^h) b_n``; variances ``s^2 (1 +
sum_{j<h} c_j^2)`` with ``c_j = alpha + beta phi (1 - phi^j) / (1 - phi)``
(Hyndman et al. 2008, class 1), ``s^2`` the mean squared one-step error.
The parameters of least one-step squared error come from a grid
(``beta = alpha x`` a trend share, so ``0 < beta < alpha``), the level
starts at the first value and the trend at 0. The damped trend extrapolates
a recent slope but flattens it, which on short yearly and quarterly
histories is safer than the Theta method's straight drift.
"""

import itertools
from typing import List, Sequence, Tuple

import torch
from torch import Tensor

from .seasonal import Adjusted, check_origins, horizon_indices, seasonally_adjusted, stack_origins

#: Grids of the smoothing parameters: level weights, trend shares
#: (``beta / alpha``) and damping factors.
DEFAULT_ALPHAS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.8)
DEFAULT_TREND_SHARES = (0.01, 0.1, 0.3)
DEFAULT_PHIS = (0.8, 0.9, 0.98)


def damped_grid(
    x: Tensor, valid: Tensor, alpha: Tensor, beta: Tensor, phi: Tensor, ends: Sequence[int] = ()
) -> Tuple[Tensor, Tensor, Tensor, Tensor, List[Tuple[Tensor, Tensor, Tensor]]]:
    """ETS(A,Ad,N) filtering of every row for every parameter triple.

    x : (B, C), valid : (B, C) bool (a suffix per row), alpha, beta, phi :
    (P,) -> ``level``, ``trend`` (B, P) after the last value, ``sse`` (B, P)
    the sum of squared one-step errors, ``count`` (B,) their number, and
    per position ``e`` of ``ends`` (each in 1..C) the ``(level, trend,
    sse)`` after the values before ``e``.
    """
    B, C = x.shape
    first = torch.argmax(valid.to(torch.int8), dim=-1)  # first valid position (0 if none)
    level = torch.gather(x, -1, first.unsqueeze(-1)).expand(B, alpha.numel()).clone()
    trend = torch.zeros_like(level)
    sse = torch.zeros_like(level)
    # the steps that update a row: its valid values after the first; before a row
    # starts its trend is 0, so its one-step forecast is its level and a masked
    # error leaves both unchanged
    pos = torch.arange(C, device=x.device)
    mask = (valid & (pos > first.unsqueeze(-1))).to(x.dtype)
    start = int(first.min()) if B else C  # columns before every row's start change nothing
    at = {e: (level, trend, sse.clone()) for e in ends if e <= start + 1}
    for t in range(start + 1, C):
        pred = torch.addcmul(level, phi, trend)
        err = (x[:, t : t + 1] - pred).mul_(mask[:, t : t + 1])
        sse.addcmul_(err, err)
        level = pred.addcmul_(alpha, err)
        trend = trend.mul(phi).addcmul_(beta, err)
        if t + 1 in ends:
            at[t + 1] = (level, trend, sse.clone())
    count = (valid.sum(-1) - 1).clamp(min=0)
    return level, trend, sse, count, [at[e] for e in ends]


def damped_trend_forecast(
    y: Tensor,
    observed: Tensor,
    prediction_length: int,
    season: int = 1,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    trend_shares: Sequence[float] = DEFAULT_TREND_SHARES,
    phis: Sequence[float] = DEFAULT_PHIS,
) -> Tuple[Tensor, Tensor]:
    """Damped-trend forecasts: mean and standard deviation per step.

    y, observed : (B, C) (padding and missing values have observed 0) ->
    ``mean`` (B, H), ``std`` (B, H). A row with one observation forecasts
    it with zero spread; a row with none forecasts 0.
    """
    return damped_adjusted(
        seasonally_adjusted(y, observed, season), prediction_length, alphas, trend_shares, phis
    )


def damped_adjusted(
    adjusted: Adjusted,
    prediction_length: int,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    trend_shares: Sequence[float] = DEFAULT_TREND_SHARES,
    phis: Sequence[float] = DEFAULT_PHIS,
) -> Tuple[Tensor, Tensor]:
    """:func:`damped_trend_forecast` of windows already seasonally adjusted."""
    mean, std, _ = damped_backtested(adjusted, prediction_length, (), alphas, trend_shares, phis)
    return mean, std


def damped_backtested(
    adjusted: Adjusted,
    prediction_length: int,
    ends: Sequence[int],
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    trend_shares: Sequence[float] = DEFAULT_TREND_SHARES,
    phis: Sequence[float] = DEFAULT_PHIS,
) -> Tuple[Tensor, Tensor, Tensor]:
    """:func:`damped_adjusted`'s ``mean``, ``std`` (B, H), and the mean
    forecasts (J, B, H) from each position of ``ends`` (each in 1..C): the
    forecast of the values before it, from the same filter pass, with the
    window's seasonal indices."""
    x, started, index = adjusted
    C, H = x.shape[-1], prediction_length
    check_origins(ends, C)
    grid = torch.tensor(list(itertools.product(alphas, trend_shares, phis)), dtype=x.dtype, device=x.device)
    alpha, beta, phi = grid[:, 0], grid[:, 0] * grid[:, 1], grid[:, 2]
    level, trend, sse, count, at = damped_grid(x, started, alpha, beta, phi, ends)
    mean, best = _damped_mean(level, trend, sse, phi, H)
    a, b, p = alpha[best], beta[best], phi[best]
    sigma2 = sse.gather(-1, best.unsqueeze(-1)) / count.clamp(min=1).to(x.dtype).unsqueeze(-1)
    powers = p.unsqueeze(-1) ** torch.arange(1, H + 1, dtype=x.dtype, device=x.device)  # (B, H): phi^1 .. phi^H
    # c_j = alpha + beta phi (1 - phi^j) / (1 - phi), j = 1 .. H - 1 (phi < 1 on the grid)
    c = a.unsqueeze(-1) + (b * p / (1 - p)).unsqueeze(-1) * (1 - powers[:, :-1])
    spread = torch.cat([torch.zeros_like(mean[:, :1]), torch.cumsum(c * c, -1)], -1)  # (B, H)
    std = torch.sqrt(sigma2 * (1 + spread))
    s = horizon_indices(index, H)
    origins = [_damped_mean(*state, phi, H)[0] * horizon_indices(index, H, C - e) for e, state in zip(ends, at)]
    return mean * s, std * s, stack_origins(origins, x, H)


def _damped_mean(level: Tensor, trend: Tensor, sse: Tensor, phi: Tensor, H: int) -> Tuple[Tensor, Tensor]:
    """The adjusted mean forecast (B, H) from the grid's states and errors
    (B, P) after a window's last value, and the chosen set (B,)."""
    best = sse.argmin(-1)  # (B,); the first of equal errors
    lev, tr = level.gather(-1, best.unsqueeze(-1)), trend.gather(-1, best.unsqueeze(-1))
    powers = phi[best].unsqueeze(-1) ** torch.arange(1, H + 1, dtype=level.dtype, device=level.device)
    return lev + torch.cumsum(powers, -1) * tr, best
