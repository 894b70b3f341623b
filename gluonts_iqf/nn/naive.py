"""The seasonal naive forecast for a batch of left-padded windows ``(B, C)``
with an observed mask (padding and missing values 0): each step repeats the
value one season before it, with the textbook interval (Hyndman &
Athanasopoulos, *Forecasting: Principles and Practice*, 5.5): standard
deviation ``s sqrt(k + 1)`` at step ``h``, ``k = floor((h - 1) / m)`` the
seasons the forecast reaches back past its last data, ``s`` the root mean
square of the window's seasonal changes ``y_t - y_{t-m}``.

A series with at most ``m`` values (or season 1) gets the naive forecast
(the last value, changes over one step). Missing values inside a series are
carried forward from the last observation, as for the other statistical
members.
"""

from typing import Sequence, Tuple

import torch
from torch import Tensor

from .seasonal import check_origins, fill_forward, stack_origins


def seasonal_naive_forecast(
    y: Tensor, observed: Tensor, prediction_length: int, season: int = 1
) -> Tuple[Tensor, Tensor]:
    """Seasonal naive forecasts: mean and standard deviation per step.

    y, observed : (B, C) -> ``mean`` (B, H), ``std`` (B, H). A row with one
    observation forecasts it with zero spread; a row with none forecasts 0.
    """
    H = prediction_length
    x, started = fill_forward(y, observed)
    B, C = x.shape
    n = started.sum(-1)
    m = torch.where(n > season, torch.full_like(n, max(season, 1)), torch.ones_like(n))  # (B,)
    h = torch.arange(H, device=x.device)
    # step h (0-based) repeats position C - m + (h mod m)
    mean = torch.gather(x, 1, C - m.unsqueeze(-1) + h.unsqueeze(0) % m.unsqueeze(-1))
    pos = torch.arange(C, device=x.device).unsqueeze(0)
    lag = (pos - m.unsqueeze(-1)).clamp(min=0)
    has_change = started & torch.gather(started, 1, lag) & (pos >= m.unsqueeze(-1))
    change = torch.where(has_change, x - torch.gather(x, 1, lag), torch.zeros_like(x))
    s2 = (change * change).sum(-1) / has_change.sum(-1).clamp(min=1).to(x.dtype)
    seasons_back = torch.div(h.unsqueeze(0), m.unsqueeze(-1), rounding_mode="floor") + 1  # k + 1
    std = torch.sqrt(s2.unsqueeze(-1) * seasons_back.to(x.dtype))
    return mean, std


def seasonal_naive_backtested(
    y: Tensor, observed: Tensor, prediction_length: int, ends: Sequence[int], season: int = 1
) -> Tuple[Tensor, Tensor, Tensor]:
    """:func:`seasonal_naive_forecast`'s ``mean``, ``std`` (B, H), and the
    mean forecasts (J, B, H) from each position of ``ends`` (each in 1..C),
    of the values before it."""
    check_origins(ends, y.shape[-1])
    mean, std = seasonal_naive_forecast(y, observed, prediction_length, season)
    origins = [seasonal_naive_forecast(y[:, :e], observed[:, :e], prediction_length, season)[0] for e in ends]
    return mean, std, stack_origins(origins, y, prediction_length)
