"""The Theta method (Assimakopoulos & Nikolopoulos 2000) for a batch of
series in one pass: simple exponential smoothing with drift on the
seasonally adjusted series (Hyndman & Billah 2003), as R's
``forecast::thetaf``.

Series arrive as the networks' prediction inputs: left-padded windows
``(B, C)`` with an observed mask (padding and missing values 0). Each step
is a small pure function over the whole batch, so the forecaster runs
inside the prediction network, next to the network's own forecast (see
:func:`~gluonts_iqf.model.mqcnn.statistical.mix_statistical`).

Steps per series (``n`` values from its first observation on):

1. seasonal adjustment (:mod:`gluonts_iqf.nn.seasonal`);
2. simple exponential smoothing of the adjusted series ``x`` with the
   smoothing weight of least one-step squared error on a grid, started at
   the first value;
3. forecasts ``l_n + b/2 ((h - 1) + (1 - (1 - a)^n) / a)``, ``b`` the
   least-squares slope of ``x`` over time, times the seasonal index;
4. standard deviations from SES's variance ``s^2 (1 + a^2 (h - 1))``
   (``s^2`` the mean squared one-step error), times the seasonal index.
"""

from typing import List, Sequence, Tuple

import torch
from torch import Tensor

from .seasonal import Adjusted, check_origins, horizon_indices, seasonally_adjusted, stack_origins

#: Smoothing weights searched per series (thetaf's optimiser ranges over
#: (0, 1); a grid keeps the batch in one pass).
DEFAULT_ALPHAS = (0.01, 0.03, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.99)


def ses_grid(
    x: Tensor, valid: Tensor, alphas: Sequence[float], ends: Sequence[int] = ()
) -> Tuple[Tensor, Tensor, Tensor, List[Tuple[Tensor, Tensor]]]:
    """Simple exponential smoothing of every row for every weight of
    ``alphas``, started at the row's first valid value (a least-squares
    initial level, as ``ses`` estimates it, was worse on the validation
    windows of the yearly and quarterly data: RESULTS.md).

    x : (B, C), valid : (B, C) bool (a suffix per row) ->
    ``level`` (B, A) after the last value, ``sse`` (B, A) the sum of
    squared one-step errors, ``count`` (B,) the number of those errors, and
    per position ``e`` of ``ends`` (each in 1..C) the ``(level, sse)`` after
    the values before ``e``: the same pass filters every prefix.
    """
    B, C = x.shape
    a = torch.as_tensor(alphas, dtype=x.dtype, device=x.device)  # (A,)
    first = torch.argmax(valid.to(torch.int8), dim=-1)  # first valid position (0 if none)
    level = torch.gather(x, -1, first.unsqueeze(-1)).expand(B, a.numel()).clone()
    sse = torch.zeros_like(level)
    pos = torch.arange(C, device=x.device)
    mask = (valid & (pos > first.unsqueeze(-1))).to(x.dtype)  # the steps that update a row
    start = int(first.min()) if B else C  # columns before every row's start change nothing
    at = {e: (level, sse.clone()) for e in ends if e <= start + 1}
    for t in range(start + 1, C):
        err = (x[:, t : t + 1] - level).mul_(mask[:, t : t + 1])
        sse.addcmul_(err, err)
        level = level.addcmul(a, err)
        if t + 1 in ends:
            at[t + 1] = (level, sse.clone())
    count = (valid.sum(-1) - 1).clamp(min=0)
    return level, sse, count, [at[e] for e in ends]


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
    return theta_adjusted(seasonally_adjusted(y, observed, season), prediction_length, alphas)


def theta_adjusted(
    adjusted: Adjusted, prediction_length: int, alphas: Sequence[float] = DEFAULT_ALPHAS
) -> Tuple[Tensor, Tensor]:
    """:func:`theta_forecast` of windows already seasonally adjusted."""
    mean, std, _ = theta_backtested(adjusted, prediction_length, (), alphas)
    return mean, std


def theta_backtested(
    adjusted: Adjusted, prediction_length: int, ends: Sequence[int], alphas: Sequence[float] = DEFAULT_ALPHAS
) -> Tuple[Tensor, Tensor, Tensor]:
    """:func:`theta_adjusted`'s ``mean``, ``std`` (B, H), and the mean
    forecasts (J, B, H) from each position of ``ends`` (J of them, each in
    1..C): the forecast of the values before it, from the same smoothing
    pass, with the window's seasonal indices (a rolling-origin backtest at
    the cost of one forecast)."""
    x, started, index = adjusted
    C, H = x.shape[-1], prediction_length
    check_origins(ends, C)
    level, sse, count, at = ses_grid(x, started, alphas, ends)
    mean, a, best_sse = _theta_mean(level, sse, x, started, alphas, H)
    sigma2 = best_sse / count.clamp(min=1).to(x.dtype)
    h = torch.arange(1, H + 1, dtype=x.dtype, device=x.device)  # (H,)
    std = torch.sqrt(sigma2.unsqueeze(-1) * (1 + (a.unsqueeze(-1) ** 2) * (h - 1)))
    s = horizon_indices(index, H)
    origins = [_theta_mean(lev, err, x[:, :e], started[:, :e], alphas, H)[0] * horizon_indices(index, H, C - e)
               for e, (lev, err) in zip(ends, at)]
    return mean * s, std * s, stack_origins(origins, x, H)


def _theta_mean(
    level: Tensor, sse: Tensor, x: Tensor, started: Tensor, alphas: Sequence[float], H: int
) -> Tuple[Tensor, Tensor, Tensor]:
    """The adjusted mean forecast (B, H) of windows ``x``, ``started`` (B,
    C') from the grid's levels and errors (B, A) after their last value,
    with the chosen weight and its squared error (B,)."""
    best = sse.argmin(-1, keepdim=True)  # the first of equal errors: the smallest weight
    a = torch.as_tensor(alphas, dtype=x.dtype, device=x.device).expand_as(sse).gather(-1, best).squeeze(-1)
    lev = level.gather(-1, best).squeeze(-1)
    n = started.sum(-1).to(x.dtype)
    b = slope(x, started)
    h = torch.arange(1, H + 1, dtype=x.dtype, device=x.device)  # (H,)
    drift = (h - 1).unsqueeze(0) + ((1 - (1 - a) ** n) / a).unsqueeze(-1)  # (B, H)
    return lev.unsqueeze(-1) + 0.5 * b.unsqueeze(-1) * drift, a, sse.gather(-1, best).squeeze(-1)
