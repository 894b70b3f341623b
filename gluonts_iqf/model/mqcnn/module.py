"""MQ-CNN network (Wen et al. 2017) in PyTorch, with forking sequences.

Encoder: a stack of dilated causal 1-D convolutions over the past (scaled
target, observed indicator, log scale, known and past-only covariates, static
features). Decoder: a global MLP that turns the encoding at a forecast
creation time plus all the horizon's known covariates into one context per
horizon step and one horizon-agnostic context; a local MLP, shared across
steps, maps each step's context, the agnostic context and the step's
covariates to the parameters of any GluonTS ``DistributionOutput``.

Forking sequences: in training the decoder runs at each of the last
``num_forking`` positions of the window (every forecast creation time), so
one window yields many examples. The scale of each creation time is the
mean absolute observed value *before* it (a causal, expanding mean), so no
fork ever sees the values it is scored on; the last fork is exactly the
prediction path. The predictive distribution's own scale (its spread unit)
can lean from that level scale towards the mean absolute one-step change of
the series (:func:`spread_scale`), which tracks how much a series moves
rather than how large it is.
"""

import math
from typing import Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from gluonts.core.component import validated
from gluonts.torch.distributions import DistributionOutput
from gluonts.torch.modules.feature import FeatureEmbedder
from gluonts.torch.util import weighted_average

from ...distributions.iqf import IQFOutput

#: Smallest scale (GluonTS's MeanScaler default): an all-zero series gets
#: this scale, so scaled inputs are 0 and forecasts stay finite.
MIN_SCALE = 1e-10

#: Initial IQF quantile slope in scaled units per unit of level: a 0.1-0.9
#: interval of ~0.16 x the scale at the start of training.
INIT_IQF_SLOPE = 0.2


def causal_mean_abs_scale(
    target: Tensor, observed: Tensor, minimum_scale: float = MIN_SCALE
) -> Tuple[Tensor, Tensor]:
    """Expanding mean of ``|target|`` over observed values up to each position.

    Parameters
    ----------
    target, observed : Tensor, shape (B, T)

    Returns
    -------
    scale : Tensor, shape (B, T)
        ``scale[:, s]`` uses positions ``0..s`` only; 1 where nothing has been
        observed yet, floored at ``minimum_scale``.
    informative : Tensor, shape (B, T), bool
        Some non-zero value has been observed up to each position: before
        that the scale carries no information (1 or the floor), so creation
        times there are left out of the losses.
    """
    count = torch.cumsum(observed, dim=1)
    total = torch.cumsum(target.abs() * observed, dim=1)
    scale = torch.where(count > 0, total / count.clamp_min(1.0), torch.ones_like(total))
    return scale.clamp_min(minimum_scale), total > 0


def causal_mean_abs_change(target: Tensor, observed: Tensor) -> Tuple[Tensor, Tensor]:
    """Expanding mean of ``|target[s] - target[s-1]|`` over the positions
    ``s`` observed together with ``s - 1``.

    Parameters
    ----------
    target, observed : Tensor, shape (B, T)
        Target (already masked) and observed flags.

    Returns
    -------
    change : Tensor, shape (B, T)
        ``change[:, s]`` uses positions ``0..s`` only; 0 where no observed
        pair has been seen yet.
    has_change : Tensor, shape (B, T), bool
        Some observed pair has been seen up to each position.
    """
    both = observed[:, 1:] * observed[:, :-1]
    diffs = (target[:, 1:] - target[:, :-1]).abs() * both
    zero = target.new_zeros(target.shape[0], 1)
    count = torch.cumsum(torch.cat([zero, both], 1), dim=1)
    total = torch.cumsum(torch.cat([zero, diffs], 1), dim=1)
    return total / count.clamp_min(1.0), count > 0


#: Floor of the ratio change / level in :func:`spread_scale`: a series that
#: has not changed (constant, or all zero) would get a spread of zero width;
#: the floor keeps it at least ``MIN_CHANGE_RATIO ** exponent`` times the
#: level scale (and ``log`` of the ratio finite).
MIN_CHANGE_RATIO = 1e-2


def spread_scale(level: Tensor, change: Tensor, has_change: Tensor, exponent: Tensor) -> Tensor:
    """Scale of the predictive distribution: ``level ** (1 - a) * change ** a``.

    ``level`` is the mean absolute value (:func:`causal_mean_abs_scale`),
    ``change`` the mean absolute one-step change
    (:func:`causal_mean_abs_change`); ``a = 0`` gives the level scale, ``a
    = 1`` the change scale. Computed as ``level * exp(a * log(ratio))`` with
    ``ratio = change / level`` floored at :data:`MIN_CHANGE_RATIO` (and 1
    where no change has been observed yet), so it is finite for any inputs
    and ``a = 0`` returns ``level`` exactly.

    Parameters
    ----------
    level, change : Tensor, shape (B, T)
    has_change : Tensor, shape (B, T), bool
    exponent : Tensor, shape ()
        ``a``, in [0, 1].

    Returns
    -------
    Tensor, shape (B, T)
    """
    ratio = torch.where(has_change, change / level, torch.ones_like(level))
    return level * torch.exp(exponent * torch.log(ratio.clamp_min(MIN_CHANGE_RATIO)))


#: Smallest residual (in scaled units) in the weights of
#: :func:`fit_l1_linear`'s reweighting: a residual of zero would give an
#: infinite weight; below the floor the fit is a weighted least-squares one.
L1_RESIDUAL_FLOOR = 0.05


def fit_l1_linear(
    features: Tensor,
    target: Tensor,
    weights: Tensor,
    start: Tensor,
    ridge: float = 100.0,
    iterations: int = 8,
    residual_floor: float = L1_RESIDUAL_FLOOR,
) -> Tensor:
    """Weighted least-absolute-deviations (median) regression with an
    intercept, pulled toward ``start``, by iteratively reweighted least
    squares (IRLS).

    Minimises ``sum_i w_i |x_i . b + c - y_i|`` approximately: each
    iteration solves ``min sum_i v_i (x_i . b + c - y_i)^2 + ridge
    |(b, c) - start|^2`` with ``v_i = w_i / max(|r_i|, residual_floor)``,
    ``r`` the residuals of the previous solution (the first from
    ``start``). Computed in float64.

    Parameters
    ----------
    features : Tensor, shape (N, P)
    target, weights : Tensor, shape (N,)
        Weights >= 0 (0 leaves a row out).
    start : Tensor, shape (P + 1,)
        Starting coefficients and intercept (last), also the ridge's centre.

    Returns
    -------
    Tensor, shape (P + 1,), float64
    """
    X = torch.cat([features.double(), features.new_ones(features.shape[0], 1, dtype=torch.float64)], 1)
    y, w, start = target.double(), weights.double(), start.double()
    eye = ridge * torch.eye(X.shape[1], dtype=torch.float64, device=X.device)
    sol = start
    for _ in range(iterations):
        v = w / (X @ sol - y).abs().clamp_min(residual_floor)
        sol = torch.linalg.solve(X.T @ (X * v[:, None]) + eye, X.T @ (v * y) + ridge * start)
    return sol


class ForkingOutputs(NamedTuple):
    """What :meth:`MQCNNModel.forking_outputs` returns (F creation times)."""

    #: distribution arguments, each (B, F, H, ...)
    args: Tuple[Tensor, ...]
    #: location (B, F, H), or None without a seasonal location
    loc: Optional[Tensor]
    #: the distribution's scale (B, F, 1)
    scale: Tensor
    #: some non-zero value observed before the creation time (B, F), bool
    informative: Tensor
    #: level scale of the inputs (B, F, 1), the unit of ``loss_units``
    level_scale: Tensor


#: Units of the training loss (see :class:`MQCNNModel`).
LOSS_UNITS = ("scaled", "volume", "data")


def _batch_mean_scale(fork_scale: Tensor, weights: Tensor) -> Tensor:
    """Mean scale of the creation times that carry loss weight, as a constant
    (no gradient). fork_scale (B, F, 1), weights (B, F, H) -> scalar tensor;
    1 when no creation time carries weight."""
    w = (weights.sum(-1, keepdim=True) > 0).to(fork_scale.dtype)
    total = w.sum()
    mean = (fork_scale * w).sum() / total.clamp_min(1.0)
    return torch.where(total > 0, mean, torch.ones_like(mean)).detach()


def check_spread_exponent(value: float) -> None:
    """ValueError unless ``0 <= value <= 1``."""
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"spread_exponent must be in [0, 1], got {value}")


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


def gather_seasonal_lags(
    target: Tensor, observed: Tensor, scale: Tensor, start: int, offsets: Tensor
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

    Returns
    -------
    Tensor, shape (B, F, H, 2 J)
        J scaled values then J observed flags; positions before the window
        count as unobserved zeros.
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
    return torch.cat([y / scale.unsqueeze(-1), o], dim=-1)


#: Starting points of the seasonal location (see :func:`seasonal_naive_linear`).
SEASONAL_LOC_INITS = ("last", "mean")


def seasonal_naive_linear(
    num_lags: int, init: str = "last", num_seasonal: Optional[int] = None
) -> nn.Linear:
    """A linear map of ``(J values, J flags)`` lag features to a location.

    The first ``num_seasonal`` (default all J) values are seasonal lags, most
    recent first; any further ones (e.g. :func:`recent_lag_offsets`) start
    with weight 0. ``init="last"`` starts it as the seasonal-naive forecast
    (weight 1 on the most recent same-phase value); ``"mean"`` as the mean of
    the seasonal lags (weights 1 / num_seasonal), a steadier start for noisy
    series. Flags and bias start at 0.
    """
    if init not in SEASONAL_LOC_INITS:
        raise ValueError(f"seasonal_loc_init must be one of {SEASONAL_LOC_INITS}, got {init!r}")
    num_seasonal = num_lags if num_seasonal is None else num_seasonal
    if not 1 <= num_seasonal <= num_lags:
        raise ValueError(f"num_seasonal must be in [1, num_lags={num_lags}], got {num_seasonal}")
    layer = nn.Linear(2 * num_lags, 1)
    with torch.no_grad():
        layer.weight.zero_()
        if init == "last":
            layer.weight[0, 0] = 1.0
        else:
            layer.weight[0, :num_seasonal] = 1.0 / num_seasonal
        layer.bias.zero_()
    return layer


class StepwiseLinear(nn.Module):
    """One linear map per horizon step: (..., H, n) -> (..., H, 1).

    The per-step version of :func:`seasonal_naive_linear`: step ``h``'s
    location is its own combination of its seasonal lags, so the weights
    can extrapolate a trend over the horizon (e.g. ``lag_1 + h (lag_1 -
    lag_2)`` for ``season_length = 1``), which one map shared by all steps
    cannot. Every step starts as ``seasonal_naive_linear(num_lags, init,
    num_seasonal)``.
    """

    def __init__(
        self,
        prediction_length: int,
        num_lags: int,
        init: str = "last",
        num_seasonal: Optional[int] = None,
    ) -> None:
        super().__init__()
        base = seasonal_naive_linear(num_lags, init, num_seasonal)
        self.weight = nn.Parameter(base.weight.detach().repeat(prediction_length, 1))  # (H, 2J)
        self.bias = nn.Parameter(base.bias.detach().repeat(prediction_length))  # (H,)

    def forward(self, x: Tensor) -> Tensor:
        return ((x * self.weight).sum(-1) + self.bias).unsqueeze(-1)


#: :meth:`CausalConvEncoder.positions` evaluates only the rows the kept
#: outputs depend on when they are at most this fraction of the full
#: convolutions' rows (summed over layers); above it the dense convolutions,
#: one optimised kernel per layer, are faster than gathering the taps.
SPARSE_MAX_ROW_FRACTION = 0.5


class CausalConvEncoder(nn.Module):
    """Dilated causal convolutions with ReLU.

    Input (B, T, C_in) -> output (B, T, channels[-1]); position ``s`` of the
    output depends on input positions ``<= s`` only.
    """

    def __init__(
        self,
        in_channels: int,
        channels: Sequence[int],
        dilations: Sequence[int],
        kernel_sizes: Sequence[int],
    ) -> None:
        super().__init__()
        if not (len(channels) == len(dilations) == len(kernel_sizes)):
            raise ValueError(
                "channels_seq, dilation_seq and kernel_size_seq must have the "
                f"same length, got {len(channels)}, {len(dilations)}, "
                f"{len(kernel_sizes)}"
            )
        layers = []
        c_in = in_channels
        for c, d, k in zip(channels, dilations, kernel_sizes):
            layers.append(nn.ConstantPad1d(((k - 1) * d, 0), 0.0))
            layers.append(nn.Conv1d(c_in, c, kernel_size=k, dilation=d))
            layers.append(nn.ReLU())
            c_in = c
        self.net = nn.Sequential(*layers)
        self.receptive_field = 1 + sum((k - 1) * d for d, k in zip(dilations, kernel_sizes))

        self._taps = [(d, k) for d, k in zip(dilations, kernel_sizes)]
        self._plans: Dict[Tuple[int, int, torch.device], Tuple[List[Tuple[Tensor, int]], int]] = {}

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.transpose(1, 2)).transpose(1, 2)

    def positions(self, x: Tensor, first: int) -> Tensor:
        """Encodings of positions ``first .. T - 1`` of x (B, T, C_in) ->
        (B, T - first, channels[-1]), equal (up to float rounding) to
        ``forward(x)[:, first:]``.

        The window is first cropped to positions from ``first -
        (receptive_field - 1)`` (every kept output sees the inputs it sees in
        the full window; the zero padding at the cropped start reaches
        earlier outputs only). When few positions are kept (the forking
        creation times of training, the last position of prediction), each
        layer is then evaluated only at the positions the kept outputs
        depend on (:meth:`_sparse`): with the default dilations 1, 3, 9 and
        4 kept positions that is 28 + 12 + 4 rows instead of 3 x 34, about
        half the time of the full convolutions for a training step's
        forward and backward on CPU (measured at batch 32); otherwise the
        full convolutions run over the cropped window.
        """
        T = x.shape[1]
        start = max(0, first - (self.receptive_field - 1))
        x = x[:, start:]
        plan = self._sparse_plan(T - start, first - start, x.device)
        if plan is None:
            return self(x)[:, first - start :]
        return self._sparse(x, plan)

    def last(self, x: Tensor) -> Tensor:
        """The encoding of the last position only: x (B, T, C_in) -> (B, 1,
        channels[-1]), equal (up to float rounding) to ``forward(x)[:, -1:]``
        (:meth:`_sparse` over the positions it depends on)."""
        T = x.shape[1]
        return self._sparse(x, self._plan(T, T - 1, x.device)[0])

    def _sparse_plan(self, T: int, first: int, device: torch.device) -> Optional[List[Tuple[Tensor, int]]]:
        """:meth:`_plan` for the outputs ``first .. T - 1`` when its rows (all
        layers together) are at most ``SPARSE_MAX_ROW_FRACTION`` of the full
        convolutions' ``num_layers x T`` rows, else None (use the full
        convolutions)."""
        plan, rows = self._plan(T, first, device)
        return plan if rows <= SPARSE_MAX_ROW_FRACTION * len(self._taps) * T else None

    def _plan(self, T: int, first: int, device: torch.device) -> Tuple[List[Tuple[Tensor, int]], int]:
        """Sparse evaluation plan for the outputs at positions ``first ..
        T - 1`` of a window of T positions: per layer, the input rows each
        needed output reads (an index tensor (P_l, k) into the previous
        layer's kept rows plus one zero row at index ``num_rows`` for
        positions before the window) and the number of kept input rows; and
        the number of output rows all layers evaluate. Cached per
        ``(T, first, device)``."""
        key = (T, first, device)
        cached = self._plans.get(key)
        if cached is not None:
            return cached
        needed = [list(range(first, T))]  # output positions per layer, last layer first
        for d, k in reversed(self._taps):
            nxt = sorted({p - j * d for p in needed[0] for j in range(k) if p - j * d >= 0})
            needed.insert(0, nxt)
        plan = []
        for l, (d, k) in enumerate(self._taps):
            rows = needed[l]  # kept rows of this layer's input (layer 0: all T positions)
            if l == 0:
                rows = list(range(T))
            where = {p: i for i, p in enumerate(rows)}
            zero = len(rows)
            idx = [[where.get(p - (k - 1 - j) * d, zero) for j in range(k)] for p in needed[l + 1]]
            plan.append((torch.tensor(idx, dtype=torch.long, device=device), len(rows)))
        self._plans[key] = (plan, sum(len(n) for n in needed[1:]))
        return self._plans[key]

    def _sparse(self, x: Tensor, plan: List[Tuple[Tensor, int]]) -> Tensor:
        """Evaluate the layers at the rows of ``plan`` (:meth:`_plan`):
        x (B, T, C_in) -> (B, P, channels[-1]), P = the plan's kept outputs.

        Each layer is one product of the gathered taps (B P_l, k C) with the
        flattened kernel (k C, C_out)."""
        B = x.shape[0]
        h = x
        convs = [m for m in self.net if isinstance(m, nn.Conv1d)]
        for (idx, n_rows), conv in zip(plan, convs):
            assert h.shape[1] == n_rows
            c_in = h.shape[-1]
            h = torch.cat([h, h.new_zeros(B, 1, c_in)], 1)  # row n_rows: the causal zero padding
            P, k = idx.shape
            taps = h[:, idx.reshape(-1)].reshape(B * P, k * c_in)
            W = conv.weight.permute(2, 1, 0).reshape(k * c_in, -1)  # (k C_in, C_out), tap-major
            out = taps @ W if conv.bias is None else torch.addmm(conv.bias, taps, W)
            h = torch.relu(out).reshape(B, P, -1)
        return h


def mlp(in_dim: int, hidden: Sequence[int], out_dim: Optional[int] = None) -> nn.Sequential:
    """Dense ReLU layers ``hidden`` and an optional linear output layer."""
    layers: List[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(in_dim, h), nn.ReLU()]
        in_dim = h
    if out_dim is not None:
        layers.append(nn.Linear(in_dim, out_dim))
    return nn.Sequential(*layers)


class MQCNNModel(nn.Module):
    """MQ-CNN with a distribution head.

    Parameters
    ----------
    prediction_length
        Horizon ``H``.
    context_length
        Encoder window ``C``.
    num_forking
        Forecast creation times per training window (``1 <= F <= C``): the
        last ``F`` positions of the window.
    distr_output
        Any GluonTS ``DistributionOutput`` with ``event_shape == ()``.
    num_feat_dynamic_real
        Known covariates per step (time features, age and the dataset's
        ``feat_dynamic_real``), available for past and future.
    num_past_feat_dynamic_real
        Covariates known only in the past.
    num_feat_static_real
        Static real features.
    cardinality, embedding_dimension
        Static categorical features and their embedding sizes.
    channels_seq, dilation_seq, kernel_size_seq
        Encoder convolutions.
    use_residual
        Append the encoder's inputs to its output.
    decoder_mlp_dim_seq
        Hidden sizes of the global MLP.
    local_context_dim, agnostic_context_dim
        Sizes of the per-step and horizon-agnostic contexts.
    local_mlp_dim_seq
        Hidden sizes of the local MLP (last one feeds the distribution head).
    scaling
        Divide by the causal mean absolute value (else scale 1).
    loss_units
        ``"scaled"`` (default): each creation time's loss is divided by its
        scale, so every series weighs alike (as a likelihood does);
        ``"volume"``: divided by the batch's mean scale instead (a constant
        per batch), so series weigh in proportion to their scale, as in the
        weighted quantile loss, while the loss stays O(1) for the optimiser;
        ``"data"``: loss in the target's units, dominated by large series.
    history_window
        The global MLP also sees the last ``history_window`` target values
        before each creation time, divided by that creation time's scale (0
        disables): a direct view of e.g. the same hour on previous days,
        beyond the convolutions' receptive field.
    season_length, num_seasonal_lags
        The local MLP of horizon step ``h`` also sees the ``num_seasonal_lags``
        most recent observed-in-time values of the same seasonal phase (see
        :func:`seasonal_lag_offsets`), divided by the creation time's scale,
        and their observed flags: the seasonal-naive forecasts of that step,
        handed to the step that needs them (0 disables).
    num_recent_lags
        Append the ``num_recent_lags`` most recent values before the creation
        time and the values one season before those (see
        :func:`recent_lag_offsets`) to every step's seasonal lags (values and
        flags, scaled alike), for the local MLP and the seasonal location:
        the location can then add the latest change over a season to the
        seasonal-naive value. Needs ``num_seasonal_lags >= 1``; none for
        ``season_length = 1`` (default 0).
    seasonal_loc, seasonal_loc_init
        Shift each step's distribution by a learned linear combination of its
        seasonal lags times the scale, started as the seasonal-naive value
        (``"last"``) or the lags' mean (``"mean"``); see
        :func:`seasonal_naive_linear`.
    seasonal_loc_per_step
        One combination per horizon step (:class:`StepwiseLinear`) instead of
        one shared by all steps.
    spread_exponent
        ``a`` in [0, 1]: the distribution's scale is
        ``level ** (1 - a) * change ** a`` (:func:`spread_scale`), with
        ``level`` the scale of the inputs and ``change`` the causal mean
        absolute one-step change; 0 (default) uses the level scale. Needs
        ``scaling`` (without it the scale is 1).
    learn_spread_exponent
        Learn ``a`` (a parameter started at ``spread_exponent`` and clamped to
        [0, 1]) instead of keeping it fixed.
    """

    def __init__(
        self,
        prediction_length: int,
        context_length: int,
        num_forking: int,
        distr_output: DistributionOutput,
        num_feat_dynamic_real: int = 0,
        num_past_feat_dynamic_real: int = 0,
        num_feat_static_real: int = 0,
        cardinality: Sequence[int] = (),
        embedding_dimension: Sequence[int] = (),
        channels_seq: Sequence[int] = (30, 30, 30),
        dilation_seq: Sequence[int] = (1, 3, 9),
        kernel_size_seq: Sequence[int] = (7, 3, 3),
        use_residual: bool = True,
        decoder_mlp_dim_seq: Sequence[int] = (30,),
        local_context_dim: int = 30,
        agnostic_context_dim: int = 30,
        local_mlp_dim_seq: Sequence[int] = (30,),
        scaling: bool = True,
        history_window: int = 0,
        loss_units: str = "scaled",
        season_length: int = 1,
        num_seasonal_lags: int = 0,
        num_recent_lags: int = 0,
        seasonal_loc: bool = False,
        seasonal_loc_init: str = "last",
        seasonal_loc_per_step: bool = False,
        spread_exponent: float = 0.0,
        learn_spread_exponent: bool = False,
    ) -> None:
        super().__init__()
        check_spread_exponent(spread_exponent)
        if not local_mlp_dim_seq:
            raise ValueError("local_mlp_dim_seq needs at least one hidden layer")
        self.season_length = season_length
        self.num_seasonal_lags = num_seasonal_lags
        offsets = seasonal_lag_offsets(prediction_length, season_length, num_seasonal_lags)
        recent = recent_lag_offsets(prediction_length, season_length, num_recent_lags)
        if num_seasonal_lags:
            offsets = torch.cat([offsets, recent], dim=1)  # (H, J) with J = J_s + 2 R
        self.num_recent_lags = num_recent_lags
        self.register_buffer("lag_offsets", offsets, persistent=False)
        num_lags = offsets.shape[1]
        if loss_units not in LOSS_UNITS:
            raise ValueError(f"loss_units must be one of {LOSS_UNITS}, got {loss_units!r}")
        self.loss_units = loss_units
        if not 0 <= history_window <= context_length:
            raise ValueError(
                f"history_window must be in [0, context_length={context_length}], "
                f"got {history_window}"
            )
        self.history_window = history_window
        if not 1 <= num_forking <= context_length:
            raise ValueError(
                f"num_forking must be in [1, context_length={context_length}], "
                f"got {num_forking}"
            )
        if distr_output.event_shape != ():
            raise ValueError("MQ-CNN needs a univariate distr_output (event_shape ())")
        if len(cardinality) != len(embedding_dimension):
            raise ValueError(
                "cardinality and embedding_dimension must have the same length, "
                f"got {list(cardinality)} and {list(embedding_dimension)}"
            )
        self.prediction_length = prediction_length
        self.context_length = context_length
        self.num_forking = num_forking
        self.distr_output = distr_output
        self.num_feat_dynamic_real = num_feat_dynamic_real
        self.num_past_feat_dynamic_real = num_past_feat_dynamic_real
        self.num_feat_static_real = num_feat_static_real
        self.scaling = scaling
        self.local_context_dim = local_context_dim
        self.agnostic_context_dim = agnostic_context_dim

        self.embedder = (
            FeatureEmbedder(list(cardinality), list(embedding_dimension))
            if cardinality
            else None
        )
        static_dim = sum(embedding_dimension) + num_feat_static_real
        # scaled target, observed indicator, log scale, covariates, static
        enc_in = 3 + num_feat_dynamic_real + num_past_feat_dynamic_real + static_dim
        self.encoder = CausalConvEncoder(enc_in, channels_seq, dilation_seq, kernel_size_seq)
        self.use_residual = use_residual
        enc_out = channels_seq[-1] + (enc_in if use_residual else 0)
        H = prediction_length
        self.global_mlp = mlp(
            enc_out + static_dim + 1 + H * num_feat_dynamic_real + 2 * history_window,
            decoder_mlp_dim_seq,
            H * local_context_dim + agnostic_context_dim,
        )
        # The local MLP's first layer on [step context, agnostic context, step
        # covariates, seasonal lags], split so the agnostic part (the same for
        # every step) is computed once per creation time, not H times.
        step_in = local_context_dim + num_feat_dynamic_real + 2 * num_lags
        self.local_step = nn.Linear(step_in, local_mlp_dim_seq[0])
        self.local_agnostic = nn.Linear(agnostic_context_dim, local_mlp_dim_seq[0], bias=False)
        self.local_mlp = mlp(local_mlp_dim_seq[0], local_mlp_dim_seq[1:])
        self.args_proj = distr_output.get_args_proj(local_mlp_dim_seq[-1])
        self._init_iqf_head()
        exponent = torch.tensor(float(spread_exponent))
        if learn_spread_exponent:
            self.spread_exponent = nn.Parameter(exponent)
        else:
            self.register_buffer("spread_exponent", exponent, persistent=False)
        self.learn_spread_exponent = learn_spread_exponent
        # the level scale as it is (no change statistics computed)
        self._level_spread = not learn_spread_exponent and spread_exponent == 0.0
        # the location starts as the seasonal-naive forecast; the network
        # learns the residual
        if not (seasonal_loc and num_seasonal_lags):
            self.lag_loc = None
        elif seasonal_loc_per_step:
            self.lag_loc = StepwiseLinear(
                prediction_length, num_lags, seasonal_loc_init, num_seasonal_lags
            )
        else:
            self.lag_loc = seasonal_naive_linear(num_lags, seasonal_loc_init, num_seasonal_lags)

    def _init_iqf_head(self) -> None:
        """Start an IQF head as a narrow distribution centred on zero.

        With the default initialisation the IQF slopes start at
        ``softplus(0) = 0.69`` scaled units per unit of level (a 0.1-0.9
        interval of ~0.55 x the scale) and the median at ~0.33 x the scale:
        the first hundreds of steps only shrink and re-centre it. Here the
        slope biases start at ``INIT_IQF_SLOPE`` and the first knot's bias so
        that the median knot (or the middle of the knots) is at 0; weights
        are left as they are. Other distribution outputs are untouched.
        """
        if not isinstance(self.distr_output, IQFOutput):
            return
        proj = self.args_proj.proj[0]  # the knot-values projection
        levels = torch.tensor(self.distr_output.knot_levels, dtype=torch.float64)
        slope = INIT_IQF_SLOPE
        raw = math.log(math.expm1(slope - self.distr_output.min_slope))  # inverse softplus
        mid = float(levels[torch.argmin((levels - 0.5).abs())])
        with torch.no_grad():
            proj.bias[1:] = raw
            proj.bias[0] = -slope * (mid - float(levels[0]))

    # ------------------------------------------------------------------ #
    def _static(self, feat_static_cat: Tensor, feat_static_real: Tensor) -> Tensor:
        """(B, n_cat), (B, n_real) -> (B, static_dim)."""
        parts = []
        if self.embedder is not None:
            parts.append(self.embedder(feat_static_cat))
        if self.num_feat_static_real:
            parts.append(feat_static_real)
        if not parts:
            return feat_static_real.new_zeros(feat_static_real.shape[0], 0)
        return torch.cat(parts, dim=-1)

    def encode(
        self,
        past_target: Tensor,
        past_observed_values: Tensor,
        feat_dynamic_real: Tensor,
        past_feat_dynamic_real: Optional[Tensor],
        static: Tensor,
        first: int = 0,
    ) -> Tuple[Tensor, Tensor, Tensor]:
        """Run the causal encoder over the past window.

        Shapes: past_target, past_observed_values (B, C); feat_dynamic_real
        (B, C + H, n_known); past_feat_dynamic_real (B, C, n_past) or None;
        static (B, n_static). Returns encodings of positions ``first .. C-1``
        (B, C - first, E), scales (B, C) and whether the scale is informative
        (B, C), all causal in the position.

        Only the encodings from ``first`` on are needed (the forking creation
        times): :meth:`CausalConvEncoder.positions` evaluates just those.
        """
        observed = past_observed_values
        target = past_target * observed  # imputed values never enter
        scale, informative = self.level_scale(target, observed)
        C = self.context_length
        inputs = [
            (target / scale).unsqueeze(-1),
            observed.unsqueeze(-1),
            torch.log(scale).unsqueeze(-1),
            feat_dynamic_real[:, :C],
        ]
        if self.num_past_feat_dynamic_real:
            inputs.append(past_feat_dynamic_real)
        if static.shape[-1]:
            inputs.append(static.unsqueeze(1).expand(-1, C, -1))
        x = torch.cat(inputs, dim=-1)
        enc = self.encoder.positions(x, first)
        if self.use_residual:
            enc = torch.cat([enc, x[:, first:]], dim=-1)
        return enc, scale, informative

    def level_scale(self, target: Tensor, observed: Tensor) -> Tuple[Tensor, Tensor]:
        """Scale of the inputs at every position and whether it is
        informative: :func:`causal_mean_abs_scale` with ``scaling``, else 1
        (informative once something has been observed).

        target, observed : (B, T) (target already masked) -> (B, T), (B, T) bool.
        """
        if self.scaling:
            return causal_mean_abs_scale(target, observed)
        return torch.ones_like(target), torch.cumsum(observed, dim=1) > 0

    def distribution_scale(self, target: Tensor, observed: Tensor, level: Tensor) -> Tensor:
        """Scale of the predictive distribution at every position.

        target, observed, level : (B, T) (target already masked, level from
        :meth:`encode`) -> (B, T): :func:`spread_scale` with the (clamped)
        spread exponent; ``level`` itself when the exponent is fixed at 0 or
        without ``scaling``.
        """
        if not self.scaling or self._level_spread:
            return level
        change, has_change = causal_mean_abs_change(target, observed)
        return spread_scale(level, change, has_change, self.spread_exponent.clamp(0.0, 1.0))

    def history(self, target: Tensor, observed: Tensor, scale: Tensor, start: int) -> Tensor:
        """The last ``history_window`` values and observed flags before each
        creation time ``t = start + 1 .. C``, the values divided by the scale
        at ``t - 1``.

        target, observed : (B, C) (target already masked); scale : (B, F, 1)
        -> (B, F, 2 W), positions before the window are zero (unobserved).
        """
        W = self.history_window
        if W == 0:
            return target.new_zeros(*scale.shape[:2], 0)
        pad = target.new_zeros(target.shape[0], W)
        y = torch.cat([pad, target], 1)[:, start + 1 :].unfold(1, W, 1)  # (B, F, W)
        o = torch.cat([pad, observed], 1)[:, start + 1 :].unfold(1, W, 1)
        return torch.cat([y / scale, o], dim=-1)

    def seasonal_lags(self, target: Tensor, observed: Tensor, scale: Tensor, start: int) -> Tensor:
        """Seasonal lags of every horizon step at creation times
        ``t = start + 1 .. C``, divided by the scale at ``t - 1``.

        target, observed : (B, C) (target already masked); scale : (B, F, 1)
        -> (B, F, H, 2 J): J values then J observed flags, the seasonal lags
        then the recent ones (J = ``lag_offsets.shape[1]``); positions before
        the window count as unobserved zeros.
        """
        return gather_seasonal_lags(target, observed, scale, start, self.lag_offsets)

    def decode(
        self,
        enc: Tensor,
        static: Tensor,
        log_scale: Tensor,
        covariates: Tensor,
        history: Tensor,
        lags: Optional[Tensor] = None,
    ) -> Tuple[Tensor, ...]:
        """Decoder at F creation times.

        Shapes: enc (B, F, E); static (B, n_static); log_scale (B, F, 1);
        covariates (B, F, H, n_known) (the known covariates of the F
        horizons); history (B, F, 2 W) from :meth:`history`; lags
        (B, F, H, 2 J) from :meth:`seasonal_lags` (None when J = 0). Returns
        the distribution arguments, each (B, F, H, ...).
        """
        B, F_, H, n = covariates.shape
        glob_in = torch.cat(
            [enc, static.unsqueeze(1).expand(-1, F_, -1), log_scale, covariates.reshape(B, F_, H * n), history],
            dim=-1,
        )
        ctx = torch.relu(self.global_mlp(glob_in))
        local = ctx[..., : H * self.local_context_dim].reshape(B, F_, H, self.local_context_dim)
        agnostic = self.local_agnostic(ctx[..., H * self.local_context_dim :])  # (B, F, hidden)
        step = [local, covariates] + ([lags] if lags is not None and lags.shape[-1] else [])
        hidden = torch.relu(self.local_step(torch.cat(step, dim=-1)) + agnostic.unsqueeze(2))
        args = self.args_proj(self.local_mlp(hidden))
        if self.lag_loc is None:
            return args, None
        return args, self.lag_loc(lags).squeeze(-1)

    def _encode_inputs(
        self, feat_static_cat, feat_static_real, past_target, past_observed_values,
        feat_dynamic_real, past_feat_dynamic_real, first: int = 0,
    ) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """Static features (B, n_static) and :meth:`encode`'s outputs."""
        static = self._static(feat_static_cat, feat_static_real)
        enc, scale, informative = self.encode(
            past_target, past_observed_values, feat_dynamic_real, past_feat_dynamic_real, static,
            first=first,
        )
        return static, enc, scale, informative

    # ------------------------------------------------------------------ #
    def forward(
        self,
        feat_static_cat: Tensor,
        feat_static_real: Tensor,
        past_target: Tensor,
        past_observed_values: Tensor,
        feat_dynamic_real: Tensor,
        past_feat_dynamic_real: Optional[Tensor] = None,
    ) -> Tuple[Tuple[Tensor, ...], Tensor, Tensor]:
        """Prediction at the end of the window.

        Returns ``(distr_args, loc, scale)`` with distr_args each (B, H, ...),
        loc (B, H) (or (B, 1) zeros without a seasonal location) and scale
        (B, 1) (:meth:`distribution_scale`), as GluonTS's
        ``DistributionForecastGenerator`` expects.
        """
        C, H = self.context_length, self.prediction_length
        static, enc, scale, _ = self._encode_inputs(
            feat_static_cat, feat_static_real, past_target, past_observed_values,
            feat_dynamic_real, past_feat_dynamic_real, first=C - 1,
        )
        last_scale = scale[:, -1:]  # (B, 1)
        target = past_target * past_observed_values
        args = self.decode(
            enc,
            static,
            torch.log(last_scale).unsqueeze(-1),
            feat_dynamic_real[:, C : C + H].unsqueeze(1),
            self.history(target, past_observed_values, last_scale.unsqueeze(-1), C - 1),
            self.seasonal_lags(target, past_observed_values, last_scale.unsqueeze(-1), C - 1),
        )
        args, base = args
        args = tuple(a.squeeze(1) for a in args)
        loc = torch.zeros_like(last_scale) if base is None else base.squeeze(1) * last_scale
        spread = self.distribution_scale(target, past_observed_values, scale)[:, -1:]
        return args, loc, spread

    def forking_outputs(
        self,
        feat_static_cat: Tensor,
        feat_static_real: Tensor,
        past_target: Tensor,
        past_observed_values: Tensor,
        feat_dynamic_real: Tensor,
        past_feat_dynamic_real: Optional[Tensor] = None,
    ) -> "ForkingOutputs":
        """Distribution arguments at every creation time of the window.

        Creation time ``t`` (``C - F < t <= C``) has seen positions ``< t``
        and forecasts positions ``t .. t + H - 1`` of the window
        ``[past | future]``. Returns :class:`ForkingOutputs`: distr_args each
        (B, F, H, ...), loc (B, F, H) or None, the distribution's scale
        (B, F, 1), whether each creation time's level scale is informative
        (B, F) and the level scale (B, F, 1).
        """
        C, H, F_ = self.context_length, self.prediction_length, self.num_forking
        static, enc, scale, informative = self._encode_inputs(
            feat_static_cat, feat_static_real, past_target, past_observed_values,
            feat_dynamic_real, past_feat_dynamic_real, first=C - F_,
        )
        # covariates of positions t .. t + H - 1 for t = C - F + 1 .. C
        cov = feat_dynamic_real[:, C - F_ + 1 : C + H].unfold(1, H, 1)  # (B, F, n, H)
        fork_scale = scale[:, C - F_ :].unsqueeze(-1)  # (B, F, 1)
        target = past_target * past_observed_values
        history = self.history(target, past_observed_values, fork_scale, C - F_)
        lags = self.seasonal_lags(target, past_observed_values, fork_scale, C - F_)
        args, base = self.decode(
            enc, static, torch.log(fork_scale), cov.transpose(-1, -2), history, lags
        )
        loc = None if base is None else base * fork_scale
        spread = self.distribution_scale(target, past_observed_values, scale)[:, C - F_ :]
        return ForkingOutputs(args, loc, spread.unsqueeze(-1), informative[:, C - F_ :], fork_scale)

    def forking_targets(
        self,
        past_target: Tensor,
        past_observed_values: Tensor,
        future_target: Tensor,
        future_observed_values: Tensor,
        informative: Tensor,
    ) -> Tuple[Tensor, Tensor]:
        """Targets of every creation time and horizon step and their loss
        weights (observed, and some non-zero value observed before the
        creation time).

        past_* (B, C), future_* (B, H), informative (B, F) ->
        target, weights (B, F, H).
        """
        C, H, F_ = self.context_length, self.prediction_length, self.num_forking
        target = torch.cat([past_target, future_target], dim=1)[:, C - F_ + 1 :]
        observed = torch.cat([past_observed_values, future_observed_values], dim=1)[:, C - F_ + 1 :]
        target = target.unfold(1, H, 1)  # (B, F, H)
        weights = observed.unfold(1, H, 1) * informative.unsqueeze(-1).to(observed.dtype)
        return target, weights

    @torch.no_grad()
    def fit_seasonal_location(self, batches: Iterable[Dict[str, Tensor]], **fit_kwargs) -> None:
        """Start the seasonal location at the median regression of the
        scaled targets on the scaled lag features (:func:`fit_l1_linear`,
        pulled toward the current weights), over every creation time and
        horizon step of ``batches`` (training batches: dicts with
        ``past_target``, ``past_observed_values``, ``future_target`` and
        ``future_observed_values``). One regression for the shared map, one
        per horizon step for :class:`StepwiseLinear`. Nothing to do without
        a seasonal location.
        """
        if self.lag_loc is None:
            return
        C, F_ = self.context_length, self.num_forking
        X, Y, W = [], [], []
        for b in batches:
            observed = b["past_observed_values"]
            target = b["past_target"] * observed
            scale, informative = self.level_scale(target, observed)
            fork_scale = scale[:, C - F_ :].unsqueeze(-1)  # (B, F, 1)
            lags = self.seasonal_lags(target, observed, fork_scale, C - F_)  # (B, F, H, 2J)
            y, w = self.forking_targets(
                b["past_target"], observed, b["future_target"], b["future_observed_values"],
                informative[:, C - F_ :],
            )
            X.append(lags.flatten(0, 1))  # (B F, H, 2J)
            Y.append((y / fork_scale).flatten(0, 1))  # (B F, H)
            W.append(w.flatten(0, 1))
        X, Y, W = torch.cat(X), torch.cat(Y), torch.cat(W)
        weight, bias = self.lag_loc.weight, self.lag_loc.bias
        if isinstance(self.lag_loc, StepwiseLinear):  # weight (H, 2J), bias (H,)
            for h in range(X.shape[1]):
                start = torch.cat([weight[h], bias[h : h + 1]])
                sol = fit_l1_linear(X[:, h], Y[:, h], W[:, h], start, **fit_kwargs)
                weight[h].copy_(sol[:-1])
                bias[h].copy_(sol[-1])
        else:  # weight (1, 2J), bias (1,)
            start = torch.cat([weight[0], bias])
            sol = fit_l1_linear(X.flatten(0, 1), Y.flatten(), W.flatten(), start, **fit_kwargs)
            weight[0].copy_(sol[:-1])
            bias.copy_(sol[-1:])

    def loss(
        self,
        feat_static_cat: Tensor,
        feat_static_real: Tensor,
        past_target: Tensor,
        past_observed_values: Tensor,
        feat_dynamic_real: Tensor,
        future_target: Tensor,
        future_observed_values: Tensor,
        past_feat_dynamic_real: Optional[Tensor] = None,
    ) -> Tensor:
        """Forking-sequence loss, shape (B,): the ``distr_output`` loss over
        every creation time and horizon step, averaged with weight = target
        observed and some non-zero value observed before the creation time.
        Steps beyond the window never occur (creation times end at ``C``)."""
        args, loc, spread, informative, fork_scale = self.forking_outputs(
            feat_static_cat, feat_static_real, past_target, past_observed_values,
            feat_dynamic_real, past_feat_dynamic_real,
        )
        target, weights = self.forking_targets(
            past_target, past_observed_values, future_target, future_observed_values, informative
        )
        values = self.distr_output.loss(target=target, distr_args=args, loc=loc, scale=spread)
        if self.loss_units == "scaled":
            values = values / fork_scale
        elif self.loss_units == "volume":
            values = values / _batch_mean_scale(fork_scale, weights)
        return weighted_average(values.flatten(1), weights=weights.flatten(1), dim=1)
