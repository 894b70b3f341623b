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
can lean from that level scale towards the mean absolute change of the
series over one step or a season (:func:`spread_scale`), which tracks how
much a series moves rather than how large it is.

The module is one class of about 700 lines, a fifth of them its parameter
documentation: the network's two paths, the prediction (``forward``) and the
forking loss, share every causal feature computation. The reusable blocks
live in :mod:`gluonts_iqf.nn`, the seasonal location's start in
:mod:`~gluonts_iqf.model.mqcnn.location_fit`.
"""

import math
from typing import NamedTuple, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from gluonts.torch.distributions import DistributionOutput
from gluonts.torch.util import weighted_average

from ...distributions.iqf import IQFOutput
from ...levels import median_index
from ...nn.attention import HorizonAttention
from ...nn.encoder import CausalConvEncoder
from ...nn.forking import forking_history, forking_targets, forking_windows
from ...nn.lags import gather_seasonal_lags, recent_lag_offsets, seasonal_lag_offsets
from ...nn.location import StepwiseLinear, seasonal_naive_linear
from ...nn.mlp import mlp
from ...nn.smoothing import num_smoothing_features, smoothing_features
from ...nn.static import static_embedder, static_features
from ...nn.scaler import CausalMeanScaler, CausalNOPScaler, causal_mean_abs_change, spread_scale
from .._forking.checks import check_at_least, check_choice
from .calibration import check_member_calibration
from .recent import RECENT_POWER
from .statistical import COMBINATIONS, check_outlier_z, check_statistical_weights, mix_statistical

#: Initial IQF quantile slope in scaled units per unit of level: a 0.1-0.9
#: interval of ~0.16 x the scale at the start of training.
INIT_IQF_SLOPE = 0.2


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
LOSS_UNITS = ("scaled", "volume", "data", "mase")


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
        ``"data"``: loss in the target's units, dominated by large series;
        ``"mase"``: divided by the series' mean absolute seasonal change
        before the creation time (the MASE denominator, lag
        ``season_length``), so every series weighs alike in the units of its
        own seasonal-naive error.
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
    seasonal_spread
        ``change`` in the spread scale is the mean absolute change over a
        season (lag ``season_length``, the seasonal-naive error) instead of
        over one step (default False, the behaviour of networks saved before
        it existed): a regular seasonal series moves a lot from step to step
        but little from season to season.
    smoothing_features
        Extend every step's lags by exponential-smoothing levels, smoothed
        seasonal changes and a local slope of the past
        (:func:`~gluonts_iqf.nn.smoothing.smoothing_features`), so the
        seasonal location can combine them as an exponential-smoothing
        forecast does (needs ``num_seasonal_lags >= 1``; default False).
    impute_lags
        Unobserved lags (before a short series' start, missing values) take
        the last value observed before the creation time instead of 0 (see
        :func:`~gluonts_iqf.nn.lags.gather_seasonal_lags`; default False,
        the behaviour of networks saved before it existed).
    theta_weight, damped_weight
        Forecast the level-wise mix ``(1 - w_t - w_d) Q_net + w_t Q_theta +
        w_d Q_damped`` of the network's quantile function and the Theta and
        damped-trend forecasts of the same window
        (:func:`~gluonts_iqf.model.mqcnn.statistical.mix_statistical`): again a plain
        IQF. Prediction only; the training loss is the network's own.
        Needs a plain IQF head (defaults 0, the behaviour of networks saved
        before they existed).
    statistical_season_length
        Season of the statistical members (default ``season_length``).
    statistical_combination
        ``"fixed"`` (default, the behaviour of networks saved before it
        existed): the weights above; ``"inverse_variance"``: they are prior
        weights, divided per series and step by each member's squared
        spread, the mix stretched by the members' disagreement
        (:func:`~gluonts_iqf.model.mqcnn.statistical.mix_statistical`).
    ces_weight
        Weight of a complex exponential smoothing member
        (:mod:`gluonts_iqf.nn.ces`) in the same mix (default 0, the
        behaviour of networks saved before it existed).
    member_calibration
        Per statistical member (Theta, damped trend, CES, seasonal naive),
        None or its standard quantiles at the knot levels, fitted on a
        backtest of the training series
        (:mod:`~gluonts_iqf.model.mqcnn.calibration`; default None: Gaussian
        members, the behaviour of networks saved before it existed; one
        saved with the first three members leaves the seasonal naive
        Gaussian).
    naive_weight
        Weight of a seasonal naive member (:mod:`gluonts_iqf.nn.naive`) in
        the same mix (default 0, the behaviour of networks saved before it
        existed).
    member_recent_cuts, member_recent_power
        With ``member_recent_cuts >= 1``, the members' weights are moved per
        series by their errors on the last ``member_recent_cuts`` horizons
        of the window (:mod:`~gluonts_iqf.model.mqcnn.recent`, to the power
        ``-member_recent_power``; default 0: the weights as given, the
        behaviour of networks saved before it existed). Since 2026-12-06 the
        cuts are forecast from the members' fit of the whole window, not
        refitted: networks saved with cuts before then forecast slightly
        differently (measured in RESULTS.md).
    network_outlier_z
        With a value ``z0 > 0``, the network's weight in that mix is
        multiplied per series by ``min(1, (z0 / z)^2)``, ``z`` its median's
        distance from the members' forecasts in their standard deviations
        (:func:`~gluonts_iqf.model.mqcnn.statistical.outlier_factor`; default
        0: off, the behaviour of networks saved before it existed).
    attention_heads, attention_dim
        With ``attention_heads >= 1``, every horizon step's local MLP also
        reads MQ-Transformer's horizon-specific decoder-encoder attention
        over the encodings of the observed past
        (:class:`~gluonts_iqf.nn.attention.HorizonAttention`, the known
        covariates as position features; ``attention_dim`` per head). The
        encoder then runs over every window position. Default 0: none (the
        behaviour of networks saved before it existed).
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
        impute_lags: bool = False,
        smoothing_features: bool = False,
        seasonal_spread: bool = False,
        theta_weight: float = 0.0,
        damped_weight: float = 0.0,
        statistical_season_length: Optional[int] = None,
        statistical_combination: str = "fixed",
        ces_weight: float = 0.0,
        member_calibration: Optional[Sequence[Optional[Sequence[float]]]] = None,
        attention_heads: int = 0,
        attention_dim: int = 16,
        naive_weight: float = 0.0,
        member_recent_cuts: int = 0,
        member_recent_power: float = RECENT_POWER,
        network_outlier_z: float = 0.0,
    ) -> None:
        super().__init__()
        check_spread_exponent(spread_exponent)
        check_statistical_weights(theta_weight, damped_weight, distr_output, ces_weight, naive_weight)
        check_at_least("member_recent_cuts", member_recent_cuts, 0)
        if not (math.isfinite(member_recent_power) and member_recent_power >= 0):
            raise ValueError(f"member_recent_power must be finite and >= 0, got {member_recent_power}")
        self.naive_weight = float(naive_weight)
        self.member_recent_cuts = int(member_recent_cuts)
        self.member_recent_power = float(member_recent_power)
        check_outlier_z(network_outlier_z)
        self.network_outlier_z = float(network_outlier_z)
        if member_calibration is not None:
            check_member_calibration(member_calibration, getattr(distr_output, "knot_levels", ()))
        self.member_calibration = (
            None if member_calibration is None else [None if z is None else [float(v) for v in z] for z in member_calibration]
        )
        self.theta_weight = float(theta_weight)
        self.damped_weight = float(damped_weight)
        self.ces_weight = float(ces_weight)
        self.statistical_season_length = season_length if statistical_season_length is None else statistical_season_length
        check_choice("statistical_combination", statistical_combination, COMBINATIONS)
        self.statistical_combination = statistical_combination
        check_at_least("statistical_season_length", self.statistical_season_length, 1)
        if not local_mlp_dim_seq:
            raise ValueError("local_mlp_dim_seq needs at least one hidden layer")
        self.season_length = season_length
        self.num_seasonal_lags = num_seasonal_lags
        offsets = seasonal_lag_offsets(prediction_length, season_length, num_seasonal_lags)
        recent = recent_lag_offsets(prediction_length, season_length, num_recent_lags)
        if num_seasonal_lags:
            offsets = torch.cat([offsets, recent], dim=1)  # (H, J) with J = J_s + 2 R
        self.num_recent_lags = num_recent_lags
        self.impute_lags = impute_lags
        self.seasonal_spread = seasonal_spread
        self.use_smoothing = smoothing_features and num_seasonal_lags > 0
        self.slope_length = 2 * max(prediction_length, season_length)
        self.register_buffer("lag_offsets", offsets, persistent=False)
        num_lags = offsets.shape[1] + (num_smoothing_features(season_length) if self.use_smoothing else 0)
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
        self.prediction_length = prediction_length
        self.context_length = context_length
        self.num_forking = num_forking
        self.distr_output = distr_output
        self.num_feat_dynamic_real = num_feat_dynamic_real
        self.num_past_feat_dynamic_real = num_past_feat_dynamic_real
        self.num_feat_static_real = num_feat_static_real
        self.scaling = scaling
        self.scaler = CausalMeanScaler() if scaling else CausalNOPScaler()
        self.local_context_dim = local_context_dim
        self.agnostic_context_dim = agnostic_context_dim

        self.embedder = static_embedder(cardinality, embedding_dimension)
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
        check_at_least("attention_heads", attention_heads, 0)
        check_at_least("attention_dim", attention_dim, 1)
        self.attention = (
            HorizonAttention(enc_out, num_feat_dynamic_real, H, attention_heads, attention_dim)
            if attention_heads else None
        )
        if self.attention is not None:
            step_in += self.attention.output_dim
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
        levels = [float(a) for a in self.distr_output.knot_levels]
        slope = INIT_IQF_SLOPE
        raw = math.log(math.expm1(slope - self.distr_output.min_slope))  # inverse softplus
        mid = levels[median_index(levels)]
        with torch.no_grad():
            proj.bias[1:] = raw
            proj.bias[0] = -slope * (mid - levels[0])

    # ------------------------------------------------------------------ #
    def encode(
        self,
        past_target: Tensor,
        past_observed_values: Tensor,
        feat_dynamic_real: Tensor,
        past_feat_dynamic_real: Optional[Tensor],
        static: Optional[Tensor],
        first: int = 0,
    ) -> Tuple[Tensor, Tensor, Tensor]:
        """Run the causal encoder over the past window.

        Shapes: past_target, past_observed_values (B, C); feat_dynamic_real
        (B, C + H, n_known); past_feat_dynamic_real (B, C, n_past) or None;
        static (B, n_static) or None. Returns encodings of positions ``first .. C-1``
        (B, C - first, E), scales (B, C) and whether the scale is informative
        (B, C), all causal in the position.

        Only the encodings from ``first`` on are needed (the forking creation
        times): :meth:`CausalConvEncoder.positions` evaluates just those.
        """
        observed = past_observed_values
        target = past_target * observed  # imputed values never enter
        scaled, scale, informative = self.scaler(target, observed)
        C = self.context_length
        inputs = [
            scaled.unsqueeze(-1),
            observed.unsqueeze(-1),
            torch.log(scale).unsqueeze(-1),
            feat_dynamic_real[:, :C],
        ]
        if self.num_past_feat_dynamic_real:
            inputs.append(past_feat_dynamic_real)
        if static is not None:
            inputs.append(static.unsqueeze(1).expand(-1, C, -1))
        x = torch.cat(inputs, dim=-1)
        enc = self.encoder.positions(x, first)
        if self.use_residual:
            enc = torch.cat([enc, x[:, first:]], dim=-1)
        return enc, scale, informative

    def distribution_scale(self, target: Tensor, observed: Tensor, level: Tensor) -> Tensor:
        """Scale of the predictive distribution at every position.

        target, observed, level : (B, T) (target already masked, level from
        :meth:`encode`) -> (B, T): :func:`spread_scale` with the (clamped)
        spread exponent; ``level`` itself when the exponent is fixed at 0 or
        without ``scaling``.
        """
        if not self.scaling or self._level_spread:
            return level
        lag = self.season_length if self.seasonal_spread else 1
        change, has_change = causal_mean_abs_change(target, observed, lag)
        return spread_scale(level, change, has_change, self.spread_exponent.clamp(0.0, 1.0))

    def seasonal_error_scale(self, past_target: Tensor, past_observed_values: Tensor, level: Tensor) -> Tensor:
        """The MASE denominator of each creation time: the mean absolute
        change over ``season_length`` observed before it, floored (and where
        no such pair has been observed replaced) by the level, as
        :func:`spread_scale` with exponent 1.

        past_target, past_observed_values (B, C); level (B, F, 1), the level
        scale of the creation times -> (B, F, 1).
        """
        F_ = level.shape[1]
        target = past_target * past_observed_values
        change, has_change = causal_mean_abs_change(target, past_observed_values, self.season_length)
        change, has_change = change[:, -F_:].unsqueeze(-1), has_change[:, -F_:].unsqueeze(-1)
        return spread_scale(level, change, has_change, level.new_ones(()))

    def history(self, target: Tensor, observed: Tensor, scale: Tensor, start: int) -> Tensor:
        """The last ``history_window`` values and observed flags before each
        creation time ``t = start + 1 .. C``, the values divided by the scale
        at ``t - 1``.

        target, observed : (B, C) (target already masked); scale : (B, F, 1)
        -> (B, F, 2 W), positions before the window are zero (unobserved).
        """
        W, F_ = self.history_window, scale.shape[1]
        if W == 0:
            return target.new_zeros(*scale.shape[:2], 0)
        y = forking_history(target, F_, W)  # (B, F, W)
        o = forking_history(observed, F_, W)
        return torch.cat([y / scale, o], dim=-1)

    def seasonal_lags(self, target: Tensor, observed: Tensor, scale: Tensor, start: int) -> Tensor:
        """Seasonal lags of every horizon step at creation times
        ``t = start + 1 .. C``, divided by the scale at ``t - 1``.

        target, observed : (B, C) (target already masked); scale : (B, F, 1)
        -> (B, F, H, 2 J): J values then J observed flags, the seasonal lags
        then the recent ones (J = ``lag_offsets.shape[1]``); positions before
        the window are unobserved: zeros, or with ``impute_lags`` the last
        value observed before the creation time. With ``smoothing_features``
        their K level / change / slope values follow the J lag values, and
        their K flags the J lag flags (J + K in all).
        """
        lags = gather_seasonal_lags(target, observed, scale, start, self.lag_offsets, self.impute_lags)
        if not self.use_smoothing:
            return lags
        feats = smoothing_features(  # (B, F, 2K), the same for every step
            target, observed, scale, start, self.season_length, self.slope_length
        ).unsqueeze(2).expand(-1, -1, lags.shape[2], -1)
        J, K = lags.shape[-1] // 2, feats.shape[-1] // 2
        return torch.cat([lags[..., :J], feats[..., :K], lags[..., J:], feats[..., K:]], -1)

    def decode(
        self,
        enc: Tensor,
        static: Optional[Tensor],
        log_scale: Tensor,
        covariates: Tensor,
        history: Tensor,
        lags: Optional[Tensor] = None,
        attention: Optional[Tensor] = None,
    ) -> Tuple[Tensor, ...]:
        """Decoder at F creation times.

        Shapes: enc (B, F, E); static (B, n_static) or None; log_scale (B, F, 1);
        covariates (B, F, H, n_known) (the known covariates of the F
        horizons); history (B, F, 2 W) from :meth:`history`; lags
        (B, F, H, 2 J) from :meth:`seasonal_lags` (None when J = 0);
        attention (B, F, H, A) from :meth:`attention_context` (None without
        attention). Returns the distribution arguments, each (B, F, H, ...).
        """
        B, F_, H, n = covariates.shape
        parts = [enc] + ([] if static is None else [static.unsqueeze(1).expand(-1, F_, -1)])
        glob_in = torch.cat(parts + [log_scale, covariates.reshape(B, F_, H * n), history], dim=-1)
        ctx = torch.relu(self.global_mlp(glob_in))
        local = ctx[..., : H * self.local_context_dim].reshape(B, F_, H, self.local_context_dim)
        agnostic = self.local_agnostic(ctx[..., H * self.local_context_dim :])  # (B, F, hidden)
        step = [local, covariates] + ([lags] if lags is not None and lags.shape[-1] else [])
        if attention is not None:
            step.append(attention)
        hidden = torch.relu(self.local_step(torch.cat(step, dim=-1)) + agnostic.unsqueeze(2))
        args = self.args_proj(self.local_mlp(hidden))
        if self.lag_loc is None:
            return args, None
        return args, self.lag_loc(lags).squeeze(-1)

    def attention_context(
        self, enc: Tensor, feat_dynamic_real: Tensor, past_observed_values: Tensor, covariates: Tensor,
    ) -> Optional[Tensor]:
        """The decoder-encoder attention of the last F creation times (None
        without attention). enc (B, C, E), the encodings of every window
        position; feat_dynamic_real (B, C + H, n_known); past_observed_values
        (B, C); covariates (B, F, H, n_known), the known covariates of the F
        horizons -> (B, F, H, A)."""
        if self.attention is None:
            return None
        C = self.context_length
        return self.attention(enc, feat_dynamic_real[:, :C], past_observed_values, covariates, C - covariates.shape[1])

    def _encode_inputs(
        self, feat_static_cat, feat_static_real, past_target, past_observed_values,
        feat_dynamic_real, past_feat_dynamic_real, first: int = 0,
    ) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """Static features (B, n_static) or None and :meth:`encode`'s outputs."""
        static = static_features(self.embedder, feat_static_cat, feat_static_real, self.num_feat_static_real)
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
        # the attention reads every position's encoding, the decoder the last
        static, enc, scale, _ = self._encode_inputs(
            feat_static_cat, feat_static_real, past_target, past_observed_values,
            feat_dynamic_real, past_feat_dynamic_real, first=0 if self.attention is not None else C - 1,
        )
        last_scale = scale[:, -1:]  # (B, 1)
        target = past_target * past_observed_values
        covariates = feat_dynamic_real[:, C : C + H].unsqueeze(1)
        args = self.decode(
            enc[:, -1:],
            static,
            torch.log(last_scale).unsqueeze(-1),
            covariates,
            self.history(target, past_observed_values, last_scale.unsqueeze(-1), C - 1),
            self.seasonal_lags(target, past_observed_values, last_scale.unsqueeze(-1), C - 1),
            self.attention_context(enc, feat_dynamic_real, past_observed_values, covariates),
        )
        args, base = args
        args = tuple(a.squeeze(1) for a in args)
        loc = torch.zeros_like(last_scale) if base is None else base.squeeze(1) * last_scale
        spread = self.distribution_scale(target, past_observed_values, scale)[:, -1:]
        if self.theta_weight > 0 or self.damped_weight > 0 or self.ces_weight > 0 or self.naive_weight > 0:
            return mix_statistical(
                args, loc, spread, past_target, past_observed_values, self.distr_output.knot_levels,
                self.statistical_season_length, self.theta_weight, self.damped_weight,
                self.statistical_combination, self.ces_weight, self.member_calibration,
                naive_weight=self.naive_weight, recent_cuts=self.member_recent_cuts,
                recent_power=self.member_recent_power,
                network_outlier_z=self.network_outlier_z,
            )
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
            feat_dynamic_real, past_feat_dynamic_real, first=0 if self.attention is not None else C - F_,
        )
        # covariates of positions t .. t + H - 1 for t = C - F + 1 .. C
        cov = forking_windows(feat_dynamic_real, C - F_ + 1, F_, H)  # (B, F, H, n)
        fork_scale = scale[:, C - F_ :].unsqueeze(-1)  # (B, F, 1)
        target = past_target * past_observed_values
        history = self.history(target, past_observed_values, fork_scale, C - F_)
        lags = self.seasonal_lags(target, past_observed_values, fork_scale, C - F_)
        attention = self.attention_context(enc, feat_dynamic_real, past_observed_values, cov)
        args, base = self.decode(
            enc[:, -F_:], static, torch.log(fork_scale), cov, history, lags, attention
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
        F_ = self.num_forking
        target = forking_targets(past_target, future_target, F_)  # (B, F, H)
        observed = forking_targets(past_observed_values, future_observed_values, F_)
        return target, observed * informative.unsqueeze(-1).to(observed.dtype)

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
        elif self.loss_units == "mase":
            values = values / self.seasonal_error_scale(past_target, past_observed_values, fork_scale)
        return weighted_average(values.flatten(1), weights=weights.flatten(1), dim=1)
