"""Complex exponential smoothing (CES; Svetunkov, Kourentzes & Ord 2022)
for a batch of series in one pass, with statsforecast's ``AutoCES`` model
choice: non-seasonal, partial and full seasonality, picked per series by
AICc.

CES tracks a level ``l`` and an "imaginary" companion ``c`` with a complex
smoothing parameter ``a0 + i a1``; the one-step forecast is ``l`` (plus a
seasonal state ``s`` of the same phase), and with ``e`` the one-step error

    l' = l - (1 - a1) c + (a0 - a1) e,     c' = l + (1 - a0) c + (a0 + a1) e.

Partial seasonality adds ``s' = s + b e`` per phase; full seasonality a
second complex pair ``(s, s2)`` updated as ``(l, c)`` with ``b0 + i b1``
at the seasonal lag. Every kind is written here in the full form: partial
is full with ``b1 = 1`` (``s2`` never reaches ``s``) and ``b0 = 1 + b``,
and the non-seasonal kind is full with ``b0 = b1 = 1`` and zero seasonal
states, so one filter runs every parameter set of the grid at once.

Per series: states start as statsforecast's (the level the mean of the
first 10 values, or of the first season with seasonality; ``c = l / 1.1``;
the seasonal states an additive classical decomposition), are refined by
its backcast (forward, backward, forward), and the parameters of least
squared one-step error come from a grid. AICc = ``n log SSE + 2 k + 2 k (k
+ 1) / (n - k - 1)`` (``k`` = 3, 4, 5 for none, partial, full) picks the
kind; seasonal kinds need ``n >= 2 m``. A series too short for any kind
(``n <= k + 1``) gets the naive forecast. Forecast variances are those of
the single-source-of-error model, ``s^2 (1 + sum_{j<h} c_j^2)`` with ``c_j``
the response of step ``j + 1`` to a unit error and ``s^2 = SSE / (n - k -
1)``.
"""

import itertools
from typing import List, NamedTuple, Optional, Sequence, Tuple

import torch
from torch import Tensor

from .seasonal import check_origins, fill_forward, seasonal_indices, stack_origins

#: Smoothing parameters searched for the non-seasonal kind ((a0, a1), around
#: statsforecast's start at (1.3, 1) and its bounds; the grids were chosen on
#: the validation windows, RESULTS.md).
NONSEASONAL_A0 = (1.0, 1.4, 1.8)
NONSEASONAL_A1 = (0.9, 0.95, 1.0, 1.05, 1.1)
#: ... and with seasonality, a1 fixed at statsforecast's start (the seasonal
#: parameters multiply this grid).
SEASONAL_A0 = (1.2, 1.5, 1.8)
SEASONAL_A1 = (1.0,)
#: Seasonal smoothing of the partial kind (``b``).
PARTIAL_B = (0.05, 0.2, 0.5)
#: Seasonal complex parameters (b0, b1) of the full kind.
FULL_B = ((1.0, 0.9), (1.0, 1.1), (1.3, 0.9), (1.3, 1.1))

#: Parameters counted by AICc per kind (statsforecast: components + 1).
PARAMETERS = {"none": 3, "partial": 4, "full": 5}

#: Values that start the non-seasonal level (statsforecast: the first 10).
LEVEL_START = 10

#: The companion state starts at the level divided by this (statsforecast's start).
COMPANION_START = 1.1


class CESGrid(NamedTuple):
    """Parameter sets of the filter, all in the full form, each (P,)."""

    a0: Tensor
    a1: Tensor
    b0: Tensor
    b1: Tensor
    #: AICc parameter count of each set's kind
    k: Tensor
    #: True for the seasonal kinds (their states start from the decomposition)
    seasonal: Tensor


def ces_grid(season: int, dtype: torch.dtype = torch.float64, device=None) -> CESGrid:
    """The non-seasonal sets, and with ``season > 1`` the partial and full
    ones, in the full form (see the module docstring)."""
    rows = [(a0, a1, 1.0, 1.0, PARAMETERS["none"], 0.0)
            for a0, a1 in itertools.product(NONSEASONAL_A0, NONSEASONAL_A1)]
    if season > 1:
        for a0, a1 in itertools.product(SEASONAL_A0, SEASONAL_A1):
            rows += [(a0, a1, 1.0 + b, 1.0, PARAMETERS["partial"], 1.0) for b in PARTIAL_B]
            rows += [(a0, a1, b0, b1, PARAMETERS["full"], 1.0) for b0, b1 in FULL_B]
    t = torch.tensor(rows, dtype=dtype, device=device).T
    return CESGrid(t[0], t[1], t[2], t[3], t[4], t[5] > 0)


class CESStates(NamedTuple):
    """Filter states: ``level``, ``companion`` (B, P) and the seasonal pair
    ``seasonal``, ``seasonal2`` (m, B, P), phase ``p mod m`` of position
    ``p`` first (a phase is one contiguous slice)."""

    level: Tensor
    companion: Tensor
    seasonal: Tensor
    seasonal2: Tensor


class CESCoefficients(NamedTuple):
    """The update's coefficients of a grid, each (P,) (or (B,) for one set
    per row): ``l' = l - lc c + le e``, ``c' = l + cc c + ce e``, ``s' = s -
    ss s2 + se e``, ``s2' = s + s2s s2 + s2e e``."""

    lc: Tensor
    le: Tensor
    cc: Tensor
    ce: Tensor
    ss: Tensor
    se: Tensor
    s2s: Tensor
    s2e: Tensor


def coefficients(grid: CESGrid) -> CESCoefficients:
    """The coefficients of :class:`CESCoefficients` from the parameters."""
    a0, a1, b0, b1 = grid.a0, grid.a1, grid.b0, grid.b1
    return CESCoefficients(1 - a1, a0 - a1, 1 - a0, a0 + a1, 1 - b1, b0 - b1, 1 - b0, b0 + b1)


def ces_step(
    level: Tensor, companion: Tensor, seasonal: Tensor, seasonal2: Tensor, error: Tensor, k: CESCoefficients
) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """One update of the level pair and of one phase's seasonal pair (each
    (B, P) or (B,)) by the one-step errors ``error``: the new four, the
    inputs untouched."""
    new_l = torch.addcmul(torch.addcmul(level, k.lc, companion, value=-1.0), k.le, error)
    new_c = torch.addcmul(torch.addcmul(level, k.cc, companion), k.ce, error)
    new_s = torch.addcmul(torch.addcmul(seasonal, k.ss, seasonal2, value=-1.0), k.se, error)
    new_s2 = torch.addcmul(torch.addcmul(seasonal, k.s2s, seasonal2), k.s2e, error)
    return new_l, new_c, new_s, new_s2


def initial_states(x: Tensor, started: Tensor, season: int, grid: CESGrid) -> CESStates:
    """statsforecast's starting states per row and parameter set.

    x : (B, C) filled values, started : (B, C) bool (a suffix per row).
    """
    B, C = x.shape
    m = max(season, 1)
    first = torch.argmax(started.to(torch.int8), dim=-1)
    pos = torch.arange(C, device=x.device)
    since = pos - first.unsqueeze(-1)  # position counted from each row's start

    def head_mean(width: int) -> Tensor:
        head = (started & (since < width)).to(x.dtype)
        return (x * head).sum(-1) / head.sum(-1).clamp(min=1.0)

    level = torch.where(grid.seasonal, head_mean(m).unsqueeze(-1), head_mean(LEVEL_START).unsqueeze(-1))
    seas = x.new_zeros(m, B, grid.a0.numel())
    if season > 1:
        back = seasonal_indices(x, started, season, additive=True)  # phase counted back from C - 1
        slots = torch.arange(m, device=x.device)
        by_slot = back[:, (C - 1 - slots) % m].T  # (m, B), phase p mod m
        seas = torch.where(grid.seasonal, by_slot.unsqueeze(-1), seas)
    return CESStates(level, level / COMPANION_START, seas, seas / COMPANION_START)


def turned(states: CESStates, k: CESCoefficients, go: Tensor) -> CESStates:
    """The states a backcast pass starts from: those of the pass before,
    advanced by one zero-error step (the level pair) and one zero-error
    update of every phase (the seasonal pair), as statsforecast's filter
    extends its states by a season of forecasts before reversing; rows where
    ``go`` (B, 1) is False are left as they are."""
    l, c, S, S2 = states
    zero = torch.zeros_like(l)
    new_l, new_c, new_s, new_s2 = ces_step(l, c, S, S2, zero, k)
    return CESStates(torch.where(go, new_l, l), torch.where(go, new_c, c),
                     torch.where(go, new_s, S), torch.where(go, new_s2, S2))


def ces_filter(
    x: Tensor,
    observed: Tensor,
    started: Tensor,
    season: int,
    grid: CESGrid,
    backcast: bool = True,
    ends: Sequence[int] = (),
) -> Tuple[CESStates, Tensor, List[Tuple[CESStates, Tensor]]]:
    """Every parameter set filtered over every row: the states after the
    last value and the sum of squared one-step errors of the final pass
    (B, P). With ``backcast``, statsforecast's forward, backward and forward
    passes, the starting states of the last pass those the backward pass
    ends with. Missing values (``observed`` False) leave a zero error; a
    row's states stay put before it starts. Per position ``e`` of ``ends``
    (each in 1..C), the states and squared errors of the first forward pass
    after the values before ``e``: each prefix filtered without a backcast,
    from the window's starting states.

    x : (B, C) filled values; observed, started : (B, C) bool.
    """
    B, C = x.shape
    m = max(season, 1)
    k = coefficients(grid)
    l, c, S, S2 = initial_states(x, started, season, grid)  # fresh tensors: S, S2 are updated in place
    start = int(torch.argmax(started.to(torch.int8), dim=-1).min()) if B else C
    gated = not bool(started[:, start:].all())  # some rows start later: hold their states until then
    forward = range(start, C)
    passes = [forward, range(C - 1, start - 1, -1), forward] if backcast else [forward]
    sse = x.new_zeros(B, grid.a0.numel())
    at = {e: (CESStates(l, c, S.clone(), S2.clone()), sse.clone()) for e in ends if e <= start}
    for i, order in enumerate(passes):
        if i:  # statsforecast turns around from states one zero-error step past the end
            l, c, S, S2 = turned(CESStates(l, c, S, S2), k, started[:, -1:])  # every row with a value
        sse = x.new_zeros(B, grid.a0.numel())
        for t in order:
            slot = t % m
            s, s2 = S[slot], S2[slot]
            error = torch.where(observed[:, t : t + 1], x[:, t : t + 1] - (l + s), 0.0)
            sse.addcmul_(error, error)
            new_l, new_c, new_s, new_s2 = ces_step(l, c, s, s2, error, k)
            if gated:
                go = started[:, t : t + 1]
                new_l, new_c = torch.where(go, new_l, l), torch.where(go, new_c, c)
                new_s, new_s2 = torch.where(go, new_s, s), torch.where(go, new_s2, s2)
            l, c = new_l, new_c
            S[slot], S2[slot] = new_s, new_s2
            if i == 0 and t + 1 in ends:
                at[t + 1] = (CESStates(l, c, S.clone(), S2.clone()), sse.clone())
    return CESStates(l, c, S, S2), sse, [at[e] for e in ends]


def ces_choice(sse: Tensor, n: Tensor, season: int, grid: CESGrid) -> Tuple[Tensor, Tensor]:
    """The parameter set of least AICc per row (B,), and whether the row has
    one (False: too few values for any kind). sse : (B, P) squared one-step
    errors over ``n`` (B, 1) observed values; a set whose filter overflowed
    (NaN or inf) is not a candidate."""
    m = max(season, 1)
    sse = torch.nan_to_num(sse, nan=float("inf"), posinf=float("inf"))
    k = grid.k.unsqueeze(0)
    free = n - k - 1
    eligible = (free > 0) & (~grid.seasonal | (n >= 2 * m))
    tiny = torch.finfo(sse.dtype).tiny  # a perfect fit: log of the smallest SSE, not -inf
    aicc = n * torch.log(sse.clamp(min=tiny)) + 2 * k + 2 * k * (k + 1) / free.clamp(min=1.0)
    aicc = torch.where(eligible, aicc, torch.full_like(aicc, float("inf")))
    best = aicc.argmin(-1)  # (B,)
    return best, torch.isfinite(aicc.gather(-1, best.unsqueeze(-1))).squeeze(-1)


def chosen_states(states: CESStates, best: Tensor) -> CESStates:
    """Each row's states of its chosen set: level pair (B,), seasonal pair
    (m, B) (copies)."""
    rows = torch.arange(best.shape[0], device=best.device)
    return CESStates(states.level[rows, best], states.companion[rows, best],
                     states.seasonal[:, rows, best], states.seasonal2[:, rows, best])


def ces_path(states: CESStates, k: CESCoefficients, position: int, steps: int, season: int) -> Tensor:
    """The zero-error path (B, steps) of one set per row (``states`` as
    :func:`chosen_states`, updated in place), its first step at window
    position ``position``: the mean forecast from there."""
    m = max(season, 1)
    l, c, S, S2 = states
    zero = torch.zeros_like(l)
    path = []
    for h in range(steps):
        slot = (position + h) % m
        path.append(l + S[slot])
        l, c, S[slot], S2[slot] = ces_step(l, c, S[slot], S2[slot], zero, k)
    return torch.stack(path, -1) if path else l.new_zeros(l.shape[0], 0)


def unit_response(k: CESCoefficients, position: int, steps: int, season: int) -> Tensor:
    """The response (B, steps) of the ``steps`` values after window
    position ``position`` to a unit one-step error there, from zero states,
    one parameter set per row (``k`` each (B,)): the ``c_j`` of the forecast
    variances."""
    m = max(season, 1)
    zero = torch.zeros_like(k.lc)
    level, companion, s, s2 = ces_step(zero, zero, zero, zero, torch.ones_like(zero), k)
    S, S2 = zero.new_zeros(m, zero.shape[0]), zero.new_zeros(m, zero.shape[0])
    S[position % m], S2[position % m] = s, s2
    return ces_path(CESStates(level, companion, S, S2), k, position + 1, steps, season)


def ces_forecast(
    y: Tensor, observed: Tensor, prediction_length: int, season: int = 1, grid: Optional[CESGrid] = None
) -> Tuple[Tensor, Tensor]:
    """CES forecasts: mean and standard deviation per step, the parameter
    set of least AICc per series among ``grid`` (default
    :func:`ces_grid`).

    y, observed : (B, C) (padding and missing values have observed 0) ->
    ``mean`` (B, H), ``std`` (B, H). Series with no CES fit (at most 4
    values) get the naive forecast, spread ``s sqrt(h)`` with ``s`` the
    root mean square of their one-step changes; a row with no observation
    forecasts 0.
    """
    mean, std, _ = ces_backtested(y, observed, prediction_length, (), season, grid)
    return mean, std


def ces_backtested(
    y: Tensor,
    observed: Tensor,
    prediction_length: int,
    ends: Sequence[int],
    season: int = 1,
    grid: Optional[CESGrid] = None,
) -> Tuple[Tensor, Tensor, Tensor]:
    """:func:`ces_forecast`'s ``mean``, ``std`` (B, H), and the mean
    forecasts (J, B, H) from each position of ``ends`` (each in 1..C): the
    forecast of the values before it, its set chosen by their AICc, from
    the filter's first pass (no backcast; starting states of the whole
    window), the naive forecast where no set fits."""
    H = prediction_length
    x, started = fill_forward(y, observed)
    obs = (observed > 0) & started
    B, C = x.shape
    check_origins(ends, C)
    grid = ces_grid(season) if grid is None else grid
    grid = CESGrid(*(v.to(x.device, x.dtype) if v.is_floating_point() else v.to(x.device) for v in grid))
    states, sse, at = ces_filter(x, obs, started, season, grid, ends=ends)
    n = obs.sum(-1, keepdim=True).to(x.dtype)  # (B, 1)
    best, fitted = ces_choice(sse, n, season, grid)
    chosen = CESGrid(*(v[best] for v in grid))  # each (B,)
    k1 = coefficients(chosen)
    mean = ces_path(chosen_states(states, best), k1, C, H, season)
    sigma2 = sse.gather(-1, best.unsqueeze(-1)).squeeze(-1) / (n.squeeze(-1) - chosen.k - 1).clamp(min=1.0)
    coef = unit_response(k1, C, H - 1, season)
    spread = torch.cat([x.new_zeros(B, 1), torch.cumsum(coef * coef, -1)], -1)[:, :H]
    std = torch.sqrt(sigma2.unsqueeze(-1) * (1 + spread))

    # naive fallback: last value, spread of the one-step changes
    last = x[:, -1:]
    change = torch.where(obs[:, 1:] & started[:, :-1], x[:, 1:] - x[:, :-1], torch.zeros_like(x[:, 1:]))
    changes = (obs[:, 1:] & started[:, :-1]).sum(-1, keepdim=True).clamp(min=1).to(x.dtype)
    s = torch.sqrt((change * change).sum(-1, keepdim=True) / changes)
    h = torch.arange(1, H + 1, dtype=x.dtype, device=x.device)
    naive_mean = last.expand(B, H)
    naive_std = s * torch.sqrt(h)
    keep = fitted.unsqueeze(-1)
    origins = []
    for e, (cut_states, cut_sse) in zip(ends, at):
        cut_best, cut_fitted = ces_choice(cut_sse, obs[:, :e].sum(-1, keepdim=True).to(x.dtype), season, grid)
        cut_k = coefficients(CESGrid(*(v[cut_best] for v in grid)))
        path = ces_path(chosen_states(cut_states, cut_best), cut_k, e, H, season)
        origins.append(torch.where(cut_fitted.unsqueeze(-1), path, x[:, e - 1 : e].expand(B, H)))
    return (torch.where(keep, mean, naive_mean), torch.where(keep, std, naive_std), stack_origins(origins, x, H))
