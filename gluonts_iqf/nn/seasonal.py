"""Seasonal adjustment for the statistical members of a forecast, batched
over left-padded windows ``(B, C)`` with an observed mask (padding and
missing values 0), as R's ``forecast::thetaf`` does it: a seasonality test
on the autocorrelation at the seasonal lag, then multiplicative indices from
a classical decomposition.

Per series, ``n`` observed values from its first observation on, missing
values inside carried forward from the last observation. With season
``m > 1``, ``n >= 2 m`` and positive values, a series is seasonal when its
autocorrelation at lag ``m`` exceeds ``1.645 sqrt((1 + 2 sum_{k<m} r_k^2) /
n)``; its indices come from the centred moving average of order m (2 x m
for even m), normalised to mean 1. Other series get indices 1.
"""

from numbers import Integral
from typing import List, NamedTuple, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

#: Critical value of thetaf's seasonality test (the one-sided 95 % normal quantile).
SEASONALITY_Z = 1.645


class Adjusted(NamedTuple):
    """A batch of windows ready for a statistical member."""

    #: seasonally adjusted values, missing ones carried forward (B, C); 0 before a series starts
    values: Tensor
    #: True from each series' first observation on (B, C)
    started: Tensor
    #: multiplicative index per phase counted back from the last position (B, m); ones if not seasonal
    index: Tensor


def fill_forward(y: Tensor, observed: Tensor) -> Tuple[Tensor, Tensor]:
    """Missing values carried forward from the last observation.

    y, observed : (B, C) -> filled (B, C), ``started`` (B, C) bool: True
    from each series' first observation on (before it ``filled`` is 0).
    """
    obs = observed > 0
    C = y.shape[-1]
    pos = torch.arange(C, device=y.device).expand_as(y)
    last = torch.where(obs, pos, torch.full_like(pos, -1)).cummax(dim=-1).values
    started = last >= 0
    filled = torch.gather(torch.where(obs, y, torch.zeros_like(y)), -1, last.clamp(min=0))
    return torch.where(started, filled, torch.zeros_like(y)), started


def autocorrelation(x: Tensor, valid: Tensor, max_lag: int) -> Tensor:
    """Sample autocorrelations r_1 .. r_max_lag over each row's valid values
    (a suffix of the row), as ``acf``: lagged products over the overlap
    divided by the whole sum of squares.

    x : (B, C), valid : (B, C) bool -> (B, max_lag).
    """
    v = valid.to(x.dtype)
    n = v.sum(-1, keepdim=True).clamp(min=1.0)
    d = (x - (x * v).sum(-1, keepdim=True) / n) * v
    denom = (d * d).sum(-1)
    tiny = torch.finfo(x.dtype).tiny  # constant rows: r = 0, not NaN
    return torch.stack(
        [(d[:, k:] * d[:, :-k]).sum(-1) / denom.clamp(min=tiny) for k in range(1, max_lag + 1)], dim=-1
    )


def is_seasonal(x: Tensor, valid: Tensor, season: int) -> Tensor:
    """thetaf's seasonality test per row (B,) bool; False where fewer than
    ``2 season`` values or any value is not positive (multiplicative
    decomposition)."""
    n = valid.sum(-1)
    r = autocorrelation(x, valid, season)
    limit = SEASONALITY_Z * torch.sqrt((1 + 2 * (r[:, :-1] ** 2).sum(-1)) / n.clamp(min=1).to(x.dtype))
    positive = ((x > 0) | ~valid).all(-1)
    return (r[:, -1].abs() > limit) & (n >= 2 * season) & positive


def seasonal_indices(x: Tensor, valid: Tensor, season: int, additive: bool = False) -> Tensor:
    """Multiplicative seasonal indices of a classical decomposition, one per
    phase counted back from the last position (phase ``j`` holds positions
    ``C - 1 - j, C - 1 - j - m, ...``), normalised to mean 1; with
    ``additive``, statsmodels' additive ``seasonal_decompose`` components
    (value minus trend, averaged per phase, normalised to mean 0).

    x : (B, C) (positive where valid unless ``additive``), valid : (B, C)
    bool -> (B, season). Rows with no full moving-average window get
    indices 1 (0 if ``additive``).
    """
    B, C = x.shape
    m = season
    if m % 2:
        kernel = x.new_full((m,), 1.0 / m)
    else:  # the 2 x m moving average
        kernel = x.new_full((m + 1,), 1.0 / m)
        kernel[0] = kernel[-1] = 0.5 / m
    width = kernel.numel()
    neutral = 0.0 if additive else 1.0
    if C < width:
        return x.new_full((B, m), neutral)
    v = valid.to(x.dtype)
    trend = F.conv1d((x * v).unsqueeze(1), kernel.view(1, 1, -1)).squeeze(1)  # (B, C - width + 1)
    full = F.conv1d(v.unsqueeze(1), x.new_ones(1, 1, width)).squeeze(1) >= width - 0.5
    half = width // 2
    centre = x[:, half : C - half]
    if additive:
        ok = full
        ratio = torch.where(ok, centre - trend, torch.zeros_like(trend))
    else:
        ok = full & (trend > 0)
        ratio = torch.where(ok, centre / torch.where(ok, trend, torch.ones_like(trend)), torch.zeros_like(trend))
    phase = (C - 1 - torch.arange(half, C - half, device=x.device)) % m  # (C - width + 1,)
    onehot = F.one_hot(phase, m).to(x.dtype)  # (P, m)
    sums = (ratio * ok) @ onehot
    counts = ok.to(x.dtype) @ onehot
    idx = torch.where(counts > 0, sums / counts.clamp(min=1.0), torch.full_like(sums, neutral))
    idx = idx - idx.mean(-1, keepdim=True) if additive else idx / idx.mean(-1, keepdim=True)
    have = (counts > 0).all(-1, keepdim=True)
    return torch.where(have, idx, torch.full_like(idx, neutral))


def seasonally_adjusted(y: Tensor, observed: Tensor, season: int) -> Adjusted:
    """Missing values filled (:func:`fill_forward`), then divided by the
    seasonal indices of the series that pass :func:`is_seasonal`.

    y, observed : (B, C) -> :class:`Adjusted`.
    """
    x, started = fill_forward(y, observed)
    index = x.new_ones(x.shape[0], max(season, 1))
    if season > 1:
        seasonal = is_seasonal(x, started, season)
        index = torch.where(seasonal.unsqueeze(-1), seasonal_indices(x, started, season), index)
        phase = (x.shape[-1] - 1 - torch.arange(x.shape[-1], device=x.device)) % season
        x = torch.where(started, x / index[:, phase], x)
    return Adjusted(x, started, index)


def check_origins(ends: Sequence[int], length: int) -> None:
    """Backtest origins must be window positions 1..C (the forecast from
    ``e`` is of the values before it): a clear error otherwise."""
    bad = [e for e in ends if not (isinstance(e, Integral) and 1 <= e <= length)]
    if bad:
        raise ValueError(f"backtest origins must be positions in 1..{length} of the window, got {bad}")


def stack_origins(origins: List[Tensor], x: Tensor, prediction_length: int) -> Tensor:
    """A member's mean forecasts from J backtest origins, each (B, H), as
    one (J, B, H) tensor (J may be 0; ``x`` gives batch, dtype and device)."""
    return torch.stack(origins) if origins else x.new_zeros(0, x.shape[0], prediction_length)


def horizon_indices(index: Tensor, prediction_length: int, back: int = 0) -> Tensor:
    """The seasonal index of each forecast step (B, H) of a forecast made
    ``back`` positions before the window's end: step h lies at position C -
    1 - back + h, whose phase counted back from C - 1 is (back - h) mod m."""
    h = torch.arange(1, prediction_length + 1, device=index.device)
    return index[:, (back - h) % index.shape[-1]]
