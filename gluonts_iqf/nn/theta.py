"""The Theta method (Assimakopoulos & Nikolopoulos 2000) for a batch of
series in one pass: simple exponential smoothing with drift on the
seasonally adjusted series (Hyndman & Billah 2003), as R's
``forecast::thetaf``.

Series arrive as the networks' prediction inputs: left-padded windows
``(B, C)`` with an observed mask (padding and missing values 0). Each step
is a small pure function over the whole batch, so the forecaster runs
inside the prediction network, next to the network's own forecast (see
:meth:`~gluonts_iqf.model.mqcnn.module.MQCNNModel.mix_theta`).

Steps per series (``n`` observed values from its first observation on,
missing values inside carried forward from the last observation):

1. seasonality: with season ``m > 1``, ``n >= 2 m`` and positive values,
   the series is seasonal when its autocorrelation at lag ``m`` exceeds
   ``1.645 sqrt((1 + 2 sum_{k<m} r_k^2) / n)`` (the 90 % test of
   ``thetaf``); its multiplicative indices come from a classical
   decomposition (centred moving average of order m);
2. simple exponential smoothing of the adjusted series ``x`` with the
   smoothing weight of least one-step squared error on a grid, started at
   the first value;
3. forecasts ``l_n + b/2 ((h - 1) + (1 - (1 - a)^n) / a)``, ``b`` the
   least-squares slope of ``x`` over time, times the seasonal index;
4. Gaussian quantiles with SES's variance ``s^2 (1 + a^2 (h - 1))`` (``s^2``
   the mean squared one-step error), times the seasonal index.
"""

import math
from typing import Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

#: Smoothing weights searched per series (thetaf's optimiser ranges over
#: (0, 1); a grid keeps the batch in one pass).
DEFAULT_ALPHAS = (0.01, 0.03, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.99)

#: Critical value of thetaf's seasonality test (the 90 % two-sided normal quantile).
SEASONALITY_Z = 1.645


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


def seasonal_indices(x: Tensor, valid: Tensor, season: int) -> Tensor:
    """Multiplicative seasonal indices of a classical decomposition, one per
    phase counted back from the last position (phase ``j`` holds positions
    ``C - 1 - j, C - 1 - j - m, ...``), normalised to mean 1.

    x : (B, C) positive where valid, valid : (B, C) bool -> (B, season).
    Rows with no full moving-average window get indices 1.
    """
    B, C = x.shape
    m = season
    if m % 2:
        kernel = x.new_full((m,), 1.0 / m)
    else:  # the 2 x m moving average
        kernel = x.new_full((m + 1,), 1.0 / m)
        kernel[0] = kernel[-1] = 0.5 / m
    width = kernel.numel()
    if C < width:
        return x.new_ones(B, m)
    v = valid.to(x.dtype)
    trend = F.conv1d((x * v).unsqueeze(1), kernel.view(1, 1, -1)).squeeze(1)  # (B, C - width + 1)
    full = F.conv1d(v.unsqueeze(1), x.new_ones(1, 1, width)).squeeze(1) >= width - 0.5
    half = width // 2
    centre = x[:, half : C - half]
    ok = full & (trend > 0)
    ratio = torch.where(ok, centre / torch.where(ok, trend, torch.ones_like(trend)), torch.zeros_like(trend))
    phase = (C - 1 - torch.arange(half, C - half, device=x.device)) % m  # (C - width + 1,)
    onehot = F.one_hot(phase, m).to(x.dtype)  # (P, m)
    sums = (ratio * ok) @ onehot
    counts = ok.to(x.dtype) @ onehot
    idx = torch.where(counts > 0, sums / counts.clamp(min=1.0), torch.ones_like(sums))
    idx = idx / idx.mean(-1, keepdim=True)
    have = (counts > 0).all(-1, keepdim=True)
    return torch.where(have, idx, torch.ones_like(idx))


def ses_grid(x: Tensor, valid: Tensor, alphas: Sequence[float]) -> Tuple[Tensor, Tensor, Tensor]:
    """Simple exponential smoothing of every row for every weight of
    ``alphas``, started at the row's first valid value (a least-squares
    initial level, as ``ses`` estimates it, was worse on the validation
    windows of the yearly and quarterly data: RESULTS.md).

    x : (B, C), valid : (B, C) bool (a suffix per row) ->
    ``level`` (B, A) after the last value, ``sse`` (B, A) the sum of
    squared one-step errors, ``count`` (B,) the number of those errors.
    """
    B, C = x.shape
    a = torch.as_tensor(alphas, dtype=x.dtype, device=x.device)  # (A,)
    first = torch.argmax(valid.to(torch.int8), dim=-1)  # first valid position (0 if none)
    level = torch.gather(x, -1, first.unsqueeze(-1)).expand(B, a.numel()).clone()
    sse = torch.zeros_like(level)
    zero = torch.zeros_like(level)
    start = int(first.min()) if B else C  # columns before every row's start change nothing
    for t in range(start + 1, C):
        upd = (valid[:, t] & (first < t)).unsqueeze(-1)  # (B, 1)
        err = x[:, t : t + 1] - level
        sse = sse + torch.where(upd, err * err, zero)
        level = level + torch.where(upd, a * err, zero)
    count = (valid.sum(-1) - 1).clamp(min=0)
    return level, sse, count


def slope(x: Tensor, valid: Tensor) -> Tensor:
    """Least-squares slope of each row's valid values against time (B,);
    0 with fewer than two values."""
    v = valid.to(x.dtype)
    t = torch.arange(x.shape[-1], dtype=x.dtype, device=x.device).expand_as(x)
    n = v.sum(-1).clamp(min=1.0)
    tm = (t * v).sum(-1) / n
    xm = (x * v).sum(-1) / n
    stt = (((t - tm.unsqueeze(-1)) ** 2) * v).sum(-1)
    stx = ((t - tm.unsqueeze(-1)) * (x - xm.unsqueeze(-1)) * v).sum(-1)
    return torch.where(stt > 0, stx / stt.clamp(min=torch.finfo(x.dtype).tiny), torch.zeros_like(stx))


def theta_forecast(
    y: Tensor,
    observed: Tensor,
    prediction_length: int,
    season: int = 1,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
) -> Tuple[Tensor, Tensor]:
    """Theta forecasts: mean and standard deviation per step.

    y, observed : (B, C) (padding and missing values have observed 0) ->
    ``mean`` (B, H), ``std`` (B, H). A row with one observation forecasts
    it with zero spread; a row with none forecasts 0.
    """
    H = prediction_length
    x, started = fill_forward(y, observed)
    index = x.new_ones(x.shape[0], max(season, 1))
    if season > 1:
        seasonal = is_seasonal(x, started, season)
        idx = seasonal_indices(x, started, season)
        index = torch.where(seasonal.unsqueeze(-1), idx, index)
        phase = (x.shape[-1] - 1 - torch.arange(x.shape[-1], device=x.device)) % season
        x = torch.where(started, x / index[:, phase], x)
    level, sse, count = ses_grid(x, started, alphas)
    best = sse.argmin(-1, keepdim=True)  # the first of equal errors: the smallest weight
    a = torch.as_tensor(alphas, dtype=x.dtype, device=x.device).expand_as(sse).gather(-1, best).squeeze(-1)
    lev = level.gather(-1, best).squeeze(-1)
    sigma2 = sse.gather(-1, best).squeeze(-1) / count.clamp(min=1).to(x.dtype)
    n = started.sum(-1).to(x.dtype)
    b = slope(x, started)
    h = torch.arange(1, H + 1, dtype=x.dtype, device=x.device)  # (H,)
    drift = (h - 1).unsqueeze(0) + ((1 - (1 - a) ** n) / a).unsqueeze(-1)  # (B, H)
    mean = lev.unsqueeze(-1) + 0.5 * b.unsqueeze(-1) * drift
    std = torch.sqrt(sigma2.unsqueeze(-1) * (1 + (a.unsqueeze(-1) ** 2) * (h - 1)))
    # step h lies at position C - 1 + h: its phase (counted back from C - 1) is -h mod m
    s = index[:, (-h.long()) % index.shape[-1]]
    return mean * s, std * s


def gaussian_plain_iqf(
    mean: Tensor, std: Tensor, knot_levels: Sequence[float]
) -> Tuple[Tensor, Tensor, Tensor]:
    """A plain IQF through a Gaussian's quantiles at ``knot_levels``, its
    exponential tails with the Gaussian's slope at the outer knots
    (``q'(a) = std / phi(z_a)``, so the tail scale is ``a std / phi(z_a)``).

    mean, std : (*b) -> ``knot_values`` (*b, K), ``beta_l``, ``beta_r`` (*b)
    in data units. ``std`` is floored at the dtype's ``eps`` times the
    mean's magnitude (plus ``tiny``) so the knots stay strictly increasing.
    """
    levels = torch.as_tensor(knot_levels, dtype=mean.dtype, device=mean.device)
    z = math.sqrt(2.0) * torch.erfinv(2 * levels - 1)  # (K,)
    eps = torch.finfo(mean.dtype).eps
    std = torch.maximum(std, eps * mean.abs() + torch.finfo(mean.dtype).tiny / eps)
    knots = mean.unsqueeze(-1) + std.unsqueeze(-1) * z
    pdf = torch.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    a_l, a_r = levels[0], 1 - levels[-1]
    tail_l = a_l * std / pdf[0]
    tail_r = a_r * std / pdf[-1]
    return knots, 1.0 / tail_l, 1.0 / tail_r
