"""``MQCNNEstimator``: MQ-CNN as a GluonTS ``PyTorchLightningEstimator``."""

import math
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
from gluonts.core.component import validated
from gluonts.dataset.common import Dataset
from gluonts.model.forecast_generator import ForecastGenerator
from gluonts.torch.model.estimator import TrainOutput
from gluonts.time_feature import TimeFeature, get_seasonality
from gluonts.torch.distributions import DistributionOutput
from gluonts.transform import InstanceSampler

from ...distributions.iqf import IQFOutput
from ...nn.lags import check_seasonal_lags
from ...nn.location import SEASONAL_LOC_INITS
from .._forking.checks import check_at_least, check_choice
from .._forking.estimator import PREDICTION_INPUTS, ForkingEstimator, default_context_length  # noqa: F401
from .._forking.windows import RecentInstanceSampler
from .calibration import CALIBRATION_ORIGINS, MEMBER_SKILL_POWER, MemberBacktest, member_backtest, skill_weights
from .recent import RECENT_CUTS, RECENT_POWER
from .ensemble import train_ensemble
from .lightning_module import MQCNNLightningModule
from .module import LOSS_UNITS, check_spread_exponent
from .statistical import (  # noqa: F401 (the defaults are also read from here)
    COMBINATIONS,
    DEFAULT_CES_WEIGHT,
    DEFAULT_DAMPED_WEIGHT,
    DEFAULT_NAIVE_WEIGHT,
    DEFAULT_SHARE_VALUES,
    DEFAULT_THETA_WEIGHT,
    WEEKS_PER_YEAR,
    check_outlier_z,
    check_share_values,
    check_statistical_weights,
    data_share_factor,
    default_statistical_season,
    shrink_network,
)

# Predictors saved before 0.2 name these classes by their path in this module.
from .._forking.prediction import PredictionWindows  # noqa: F401,E402
from .._forking.transform import (  # noqa: F401,E402
    AddOffsetAgeFeature,
    CalendarTimeFeatures,
    CheckCovariates,
    FusedTransformation,
    TrimHistory,
)


#: Default forecast creation times per training window.
DEFAULT_NUM_FORKING = 4


def observed_values(training_data: Dataset, at_most: Optional[int] = None) -> int:
    """The number of observed (finite) target values over the entries of
    ``training_data``; with ``at_most``, the reading stops once that many are
    counted (a large dataset read lazily is not read through for a count
    that would change nothing)."""
    total = 0
    for entry in training_data:
        total += int(np.isfinite(np.asarray(entry["target"], dtype=float)).sum())
        if at_most is not None and total >= at_most:
            break
    return total


#: Series per batch at prediction: the statistical members step through time
#: with the whole batch at once, so a larger batch spreads each step's fixed
#: cost over more series (throughput by batch size: benchmarks/RESULTS.md).
PREDICT_BATCH_SIZE = 1024

#: Settings an ensemble member may not override: they shape the data
#: pipeline or the head that all members share.
SHARED_SETTINGS = frozenset({
    "freq", "prediction_length", "members", "distr_output", "num_feat_dynamic_real",
    "num_past_feat_dynamic_real", "num_feat_static_real", "cardinality", "embedding_dimension",
    "time_features", "use_age_feature", "predict_batch_size",
})


class MQCNNEstimator(ForkingEstimator):
    """MQ-CNN (Wen et al. 2017) with a distribution head, default IQF.

    The measurements behind the defaults are in ``benchmarks/RESULTS.md``
    (the accuracy sections: every setting chosen on validation windows).

    Which settings for which data (measured on the validation windows of
    nine public datasets, RESULTS.md):

    ==============================================  ==================================================
    goal / data                                     settings
    ==============================================  ==================================================
    volume-weighted (wQL) and per-series (MASE,     the defaults: the network (trained with every
    sMAPE) accuracy                                 series alike, in units of its seasonal-naive
                                                    error), a Theta, a damped-trend and a CES
                                                    forecast, each calibrated and weighted by its
                                                    loss on a backtest of the training series and
                                                    per series by its errors on the series' last
                                                    horizons, combined per series by their
                                                    inverse variances; the network's share
                                                    shrinks below 5,000 training values
    small training sets (a few hundred values)      the defaults (``network_share_values=5000``);
                                                    ``network_share_values=0`` keeps the
                                                    network's full share however little data
    near-periodic series (next season repeats the   ``naive_weight=0.15`` (a seasonal naive member;
    last)                                           not a default: it did not improve both
                                                    validation windows)
    the statistical members' Gaussian intervals     ``calibrate_members=False``
    as fitted (series whose recent windows are
    unlike the next one)
    a network that weighs series by volume, as      ``loss_units="volume"``
    the weighted quantile loss does
    the network's forecast alone (or a head other   ``theta_weight=0, damped_weight=0,
    than a plain IQF)                               ces_weight=0, naive_weight=0``
    the members at fixed weights                    ``statistical_combination="fixed"``
    the members' weights as given, not moved by     ``member_skill_power=0,
    their backtest losses                           member_recent_cuts=0``
    slightly faster prediction (the members'        ``member_recent_cuts=0``
    backtest and per-series weights)
    known covariates (events, holidays) that fixed  ``attention_heads=2`` (MQ-Transformer's
    seasonal lags cannot align                      decoder-encoder attention; ~3x the training
                                                    time; no gain on the nine datasets)
    weekly data with a yearly season                the defaults (lags of season 1 for the network,
                                                    season 52 for the statistical members)
    a second network trained on a volume-weighted   ``members=[{"loss_units": "mase"},
    loss                                            {"loss_units": "volume"}]`` (about 2x the
                                                    training time; no gain measured with the
                                                    statistical members in the mix)
    the training length the accuracy benchmark      ``trainer_kwargs={"max_epochs": 8}`` (with the
    measured (400 steps of batch 32); on a few      default 50 batches per epoch; the default is
    thousand values or fewer, longer training       100 epochs)
    made the network vary widely between seeds
    datasets too large for memory                   ``cache_data=False``
    several GPUs or nodes                           ``trainer_kwargs={"strategy": "ddp", ...}``
    ==============================================  ==================================================

    Parameters
    ----------
    freq
        Pandas frequency of the data (for time features).
    prediction_length
        Horizon ``H``.
    context_length
        Encoder window (default :func:`~gluonts_iqf.model._forking.estimator.default_context_length`:
        ``max(2 * H, num_seasonal_lags * season_length, 100)``).
    num_forking
        Forecast creation times per training window: the last
        ``num_forking`` positions (default ``min(context_length, 4)``; set it
        to ``context_length`` for every position, as the MXNet MQ-CNN, at a
        proportional cost per step).
    distr_output
        Any GluonTS ``DistributionOutput``; default ``IQFOutput()`` whose
        training loss is the closed-form CRPS.
    channels_seq, dilation_seq, kernel_size_seq
        Encoder convolutions (defaults of the MXNet MQ-CNN: 30,30,30 /
        1,3,9 / 7,3,3).
    use_residual
        Append the encoder inputs to its output.
    decoder_mlp_dim_seq, local_context_dim, agnostic_context_dim, local_mlp_dim_seq
        Decoder sizes.
    num_feat_dynamic_real, num_past_feat_dynamic_real
        Dataset covariates known in the future / only in the past.
    num_feat_static_real, cardinality, embedding_dimension
        Static features (default embedding size ``min(50, (c + 1) // 2)``).
    time_features
        GluonTS time features (default: from ``freq``; ``[]`` for none).
    use_age_feature
        Add GluonTS's log-age feature.
    scaling
        Causal mean-absolute scaling.
    loss_units
        ``"mase"`` (default): the loss of each creation time is divided by
        the series' mean absolute seasonal change before it (the MASE
        denominator), every series alike in units of its own seasonal-naive
        error; ``"volume"``: divided by the batch's mean scale, so series
        weigh in proportion to their scale, as in the weighted quantile
        loss, with an O(1) loss for the optimiser; ``"scaled"``: divided by
        its scale so every series weighs alike, as a likelihood does;
        ``"data"``: loss in the target's units.
    history_window
        Recent target values the decoder sees directly before each creation
        time (default ``context_length``; 0 = only the encoding, as the MXNet
        MQ-CNN).
    season_length
        Period of the seasonal-lag inputs (default GluonTS's
        ``get_seasonality(freq)``: 24 hourly, 12 monthly, 4 quarterly, 1 for
        daily and weekly data, where the lags are the most recent values;
        on weekly data the default beats a yearly season of 52).
    num_seasonal_lags
        Each horizon step sees the values of its seasonal phase in the last
        ``num_seasonal_lags`` seasons before the creation time (scaled, with
        observed flags; default 12; 0 = off). Lags older than the context
        window count as unobserved.
    num_recent_lags
        Each step's seasonal lags are extended by the ``num_recent_lags``
        most recent values and the values one season before those (default
        2; none when ``season_length`` is 1), so the seasonal location can
        add the latest change over a season to the seasonal-naive value.
    seasonal_loc
        Shift each step's distribution by a learned linear combination of its
        lags (times the scale): the network learns the residual to that
        location (default True; needs ``num_seasonal_lags >= 1``).
    seasonal_loc_init
        ``"last"`` (default): the location starts as the seasonal-naive value;
        ``"mean"``: as the mean of the seasonal lags.
    seasonal_loc_per_step
        One combination of the lags per horizon step instead of one shared by
        all steps (default True): the first steps can lean on the latest
        values, the later ones on the seasonal lags.
    seasonal_loc_fit_batches
        Before the first step, fit the seasonal location by a median
        regression of the scaled targets on the lag features of this many
        training batches, pulled toward the seasonal-naive start (default 20;
        0 keeps the seasonal-naive start). A median, not a least-squares,
        fit: the residuals are heavy-tailed.
    spread_exponent, learn_spread_exponent
        The forecast distribution's scale is ``level ** (1 - a) * change **
        a``: ``level`` the mean absolute value before the creation time,
        ``change`` the mean absolute one-step change there, ``a`` in [0, 1]
        (default 0.5, learned). Two series of equal size can move very
        differently; with the change in the scale the network's outputs are
        relative to how much a series moves. ``0`` and not learned gives the
        level scale alone.
    impute_lags
        Lags the series has no value for (before a short series' start,
        missing values) read as the last value observed before the creation
        time, not as 0 (their observed flags stay 0; default False: no
        gain on the validation windows, see RESULTS.md).
    lr_schedule
        ``"cosine"`` (default; decays to 1% of ``lr`` over the planned steps;
        without validation data the final weights are kept, see
        :meth:`~gluonts_iqf.model._forking.lightning_module.ForkingLightningModule.on_train_end`)
        or ``"plateau"`` (ReduceLROnPlateau with ``patience``).
    lr, weight_decay, patience
        Optimiser settings (default lr 3e-3: the forking loss averages many
        creation times, so its gradients are less noisy than one window's).
    batch_size, num_batches_per_epoch, trainer_kwargs
        Training loop (``trainer_kwargs`` default ``max_epochs=100``).
    train_sampler, validation_sampler
        GluonTS instance samplers (default training sampler
        ``ExpectedNumInstanceSampler(num_instances=1, min_future=H)``, or
        the recent-history one of ``training_history``).
    seasonal_spread
        The change statistic of the spread scale is taken over a season
        (the seasonal-naive error, as MASE's denominator) instead of over
        one step (default True; the same for ``season_length`` 1): a regular
        seasonal series moves a lot from hour to hour but little from day to
        day. Chosen on the validation windows (RESULTS.md).
    smoothing_features
        Each step's lags also carry exponential-smoothing levels, smoothed
        seasonal changes and a local slope of the past, for the seasonal
        location to combine (default False).
    training_history
        Training windows end within the last ``training_history x
        prediction_length`` values of each series (N-BEATS's ``L_H``: the
        dynamics near the end of a series are the ones its forecast needs);
        None (default): anywhere. Ignored when ``train_sampler`` is given.
    cache_data
        Keep the transformed series in memory after their first pass
        (default True), so whole-series transformations run once per series;
        training windows are then cut in a few array operations. Set False
        for datasets too large to hold in memory.
    predict_batch_size
        Series per batch at prediction time (default ``PREDICT_BATCH_SIZE``,
        1024; forecasts do not depend on it).
    theta_weight, damped_weight
        The forecast is the level-wise mix ``(1 - w_t - w_d) Q_net + w_t
        Q_theta + w_d Q_damped`` of the network's quantile function and two
        statistical forecasts of the context window, fitted per series at
        prediction with no training (:mod:`gluonts_iqf.model.mqcnn.statistical`): the
        Theta method (simple exponential smoothing with drift on the
        seasonally adjusted series) and damped-trend exponential smoothing.
        A statistical anchor for series the network fits poorly (defaults
        ``DEFAULT_THETA_WEIGHT`` and ``DEFAULT_DAMPED_WEIGHT`` with a plain
        IQF head, else 0; all four member weights 0 = the network alone).
    statistical_season_length
        Season of the statistical members (default
        :func:`~gluonts_iqf.model.mqcnn.statistical.default_statistical_season`: 52 for weekly data, else
        ``season_length``). With statistical members the default
        ``context_length`` also covers three of its seasons, so that a
        seasonal pattern can be tested and estimated.
    ces_weight
        Weight of a third statistical member in the same mix: complex
        exponential smoothing (:mod:`gluonts_iqf.nn.ces`, statsforecast's
        ``AutoCES`` choice of no, partial or full seasonality per series),
        which models the season itself (default ``DEFAULT_CES_WEIGHT`` with
        a plain IQF head, else 0).
    naive_weight
        Weight of a fourth: the seasonal naive forecast
        (:mod:`gluonts_iqf.nn.naive`; default ``DEFAULT_NAIVE_WEIGHT``, 0).
    statistical_combination
        ``"inverse_variance"`` (default): the weights above (and the
        network's ``1 - w_t - w_d - w_c``) are prior weights, divided per series
        and step by each member's squared 10-90 % interval width, so the
        member that is sure of a series leads it (Bates & Granger's
        combination), and the mix is stretched about its median by the
        members' disagreement; ``"fixed"``: the weights as they are.
    calibrate_members
        Before training, fit each statistical member's standard quantiles
        (its bias and width) on a backtest of the training series' last
        windows, in place of the Gaussian's
        (:mod:`~gluonts_iqf.model.mqcnn.calibration`; default True; False:
        Gaussian members).
    calibration_origins
        Cuts per training series of that backtest: its last
        ``calibration_origins`` windows of ``prediction_length`` values
        (default ``CALIBRATION_ORIGINS``, 16).
    calibration_spread
        Spread those cuts evenly over each series' whole history instead
        (:func:`~gluonts_iqf.model.mqcnn.calibration.backtest_windows`; the
        same on series shorter than ``calibration_origins + 1`` horizons), so
        that the calibration measures the members' bias over the history
        rather than over its last windows (default False).
    member_skill_power
        The members' weights above are multiplied by their quantile loss on
        that backtest to the power ``-member_skill_power`` and rescaled to
        the same total (:func:`~gluonts_iqf.model.mqcnn.calibration.skill_weights`),
        so the members that forecast this dataset best weigh more; the
        network's share is unchanged (default ``MEMBER_SKILL_POWER``, 8; 0:
        the weights as given).
    member_recent_cuts, member_recent_power
        At prediction, each series' members forecast the last
        ``member_recent_cuts`` horizons of its window from the values before
        them (from their fit of the window, at the cost of about one
        forecast), and their weights are multiplied per series by their mean
        absolute errors there to the power ``-member_recent_power``
        (:mod:`~gluonts_iqf.model.mqcnn.recent`; defaults ``RECENT_CUTS``, 4,
        and ``RECENT_POWER``, 4; 0 cuts: the same weights for every series).
    network_outlier_z
        With ``z0 > 0``, the network's weight is multiplied per series by
        ``min(1, (z0 / z)^2)``, ``z`` the distance of its median from the
        members' forecasts in their standard deviations
        (:func:`~gluonts_iqf.model.mqcnn.statistical.outlier_factor`): a
        network that leaves the series' range (on little training data it
        can extrapolate a trend into a flat series) gives way to the
        members. Default 0: off.
    network_share_values
        With ``N0 > 0``, the network's prior share is multiplied by ``min(1,
        N / N0)``, ``N`` the observed target values of the training data,
        and the members share the rest
        (:func:`~gluonts_iqf.model.mqcnn.statistical.data_share_factor`): a
        network trained on a few hundred values weighs little (on a few
        hundred yearly values it can extrapolate a trend into flat series).
        Default ``DEFAULT_SHARE_VALUES``, 5,000; 0: off.
    attention_heads, attention_dim
        With ``attention_heads >= 1``, MQ-Transformer's horizon-specific
        decoder-encoder attention (:class:`~gluonts_iqf.nn.attention.HorizonAttention`):
        each horizon step also reads an attention over the encodings of the
        observed past, its query built from the known covariates of the
        step's target time (``attention_dim`` per head; default 0: none).
    members
        Train an ensemble: one network per entry, each entry's settings
        overriding this estimator's (e.g. ``[{"loss_units": "volume"},
        {"loss_units": "mase"}]``; any setting but the data pipeline's and
        the head's, see ``SHARED_SETTINGS``), trained one after the other;
        the predictor forecasts the level-wise average of their quantile
        functions, again an IQF (needs a plain IQF head). None (default)
        trains one network.
    """

    @validated()
    def __init__(
        self,
        freq: str,
        prediction_length: int,
        context_length: Optional[int] = None,
        num_forking: Optional[int] = None,
        distr_output: Optional[DistributionOutput] = None,
        channels_seq: Optional[List[int]] = None,
        dilation_seq: Optional[List[int]] = None,
        kernel_size_seq: Optional[List[int]] = None,
        use_residual: bool = True,
        decoder_mlp_dim_seq: Optional[List[int]] = None,
        local_context_dim: int = 30,
        agnostic_context_dim: int = 30,
        local_mlp_dim_seq: Optional[List[int]] = None,
        num_feat_dynamic_real: int = 0,
        num_past_feat_dynamic_real: int = 0,
        num_feat_static_real: int = 0,
        cardinality: Optional[List[int]] = None,
        embedding_dimension: Optional[List[int]] = None,
        time_features: Optional[List[TimeFeature]] = None,
        use_age_feature: bool = True,
        scaling: bool = True,
        history_window: Optional[int] = None,
        loss_units: str = "mase",
        season_length: Optional[int] = None,
        num_seasonal_lags: int = 12,
        num_recent_lags: int = 2,
        seasonal_loc: bool = True,
        seasonal_loc_init: str = "last",
        seasonal_loc_per_step: bool = True,
        seasonal_loc_fit_batches: int = 20,
        spread_exponent: float = 0.5,
        learn_spread_exponent: bool = True,
        impute_lags: bool = False,
        smoothing_features: bool = False,
        seasonal_spread: bool = True,
        training_history: Optional[float] = None,
        lr: float = 3e-3,
        weight_decay: float = 1e-8,
        patience: int = 10,
        lr_schedule: str = "cosine",
        batch_size: int = 32,
        num_batches_per_epoch: int = 50,
        trainer_kwargs: Optional[Dict[str, Any]] = None,
        train_sampler: Optional[InstanceSampler] = None,
        validation_sampler: Optional[InstanceSampler] = None,
        cache_data: bool = True,
        predict_batch_size: int = PREDICT_BATCH_SIZE,
        members: Optional[List[Dict[str, Any]]] = None,
        theta_weight: Optional[float] = None,
        damped_weight: Optional[float] = None,
        statistical_season_length: Optional[int] = None,
        statistical_combination: str = "inverse_variance",
        ces_weight: Optional[float] = None,
        calibrate_members: bool = True,
        calibration_origins: int = CALIBRATION_ORIGINS,
        calibration_spread: bool = False,
        member_skill_power: float = MEMBER_SKILL_POWER,
        attention_heads: int = 0,
        attention_dim: int = 16,
        naive_weight: Optional[float] = None,
        member_recent_cuts: int = RECENT_CUTS,
        member_recent_power: float = RECENT_POWER,
        network_outlier_z: float = 0.0,
        network_share_values: int = DEFAULT_SHARE_VALUES,
    ) -> None:
        check_at_least("prediction_length", prediction_length, 1)
        season = get_seasonality(freq) if season_length is None else season_length
        check_seasonal_lags(season, num_seasonal_lags, num_recent_lags)
        head = distr_output if distr_output is not None else IQFOutput()
        plain = isinstance(head, IQFOutput) and head.num_pieces == 1
        theta_weight = (DEFAULT_THETA_WEIGHT if plain else 0.0) if theta_weight is None else theta_weight
        damped_weight = (DEFAULT_DAMPED_WEIGHT if plain else 0.0) if damped_weight is None else damped_weight
        ces_weight = (DEFAULT_CES_WEIGHT if plain else 0.0) if ces_weight is None else ces_weight
        naive_weight = (DEFAULT_NAIVE_WEIGHT if plain else 0.0) if naive_weight is None else naive_weight
        check_statistical_weights(theta_weight, damped_weight, head, ces_weight, naive_weight)
        stat_season = (default_statistical_season(freq, season) if statistical_season_length is None
                       else statistical_season_length)
        check_at_least("statistical_season_length", stat_season, 1)
        check_choice("statistical_combination", statistical_combination, COMBINATIONS)
        if not context_length:
            context_length = default_context_length(prediction_length, season, num_seasonal_lags)
            if theta_weight + damped_weight + ces_weight + naive_weight > 0:
                context_length = max(context_length, 3 * stat_season)
        if training_history is not None:
            if not training_history > 0:
                raise ValueError(f"training_history must be positive, got {training_history}")
            if train_sampler is None:
                train_sampler = RecentInstanceSampler(
                    num_instances=1.0, min_future=prediction_length,
                    max_history=max(1, int(round(training_history * prediction_length))),
                )
        super().__init__(
            freq=freq,
            prediction_length=prediction_length,
            context_length=context_length,
            num_forking=num_forking or min(context_length, DEFAULT_NUM_FORKING),
            num_feat_dynamic_real=num_feat_dynamic_real,
            num_past_feat_dynamic_real=num_past_feat_dynamic_real,
            num_feat_static_real=num_feat_static_real,
            cardinality=cardinality,
            embedding_dimension=embedding_dimension,
            time_features=time_features,
            use_age_feature=use_age_feature,
            season_length=season,
            lr=lr,
            weight_decay=weight_decay,
            patience=patience,
            lr_schedule=lr_schedule,
            batch_size=batch_size,
            num_batches_per_epoch=num_batches_per_epoch,
            trainer_kwargs=trainer_kwargs,
            train_sampler=train_sampler,
            validation_sampler=validation_sampler,
            cache_data=cache_data,
            predict_batch_size=predict_batch_size,
        )
        check_choice("loss_units", loss_units, LOSS_UNITS)
        check_choice("seasonal_loc_init", seasonal_loc_init, SEASONAL_LOC_INITS)
        check_at_least("seasonal_loc_fit_batches", seasonal_loc_fit_batches, 0)
        check_spread_exponent(spread_exponent)
        self.distr_output = head
        self.theta_weight = theta_weight
        self.damped_weight = damped_weight
        self.statistical_season_length = stat_season
        self.statistical_combination = statistical_combination
        self.ces_weight = ces_weight
        check_at_least("calibration_origins", calibration_origins, 1)
        self.calibrate_members = calibrate_members
        self.calibration_origins = calibration_origins
        self.calibration_spread = bool(calibration_spread)
        if not (math.isfinite(member_skill_power) and member_skill_power >= 0):
            raise ValueError(f"member_skill_power must be finite and >= 0, got {member_skill_power}")
        self.member_skill_power = member_skill_power
        self.naive_weight = naive_weight
        check_at_least("member_recent_cuts", member_recent_cuts, 0)
        if not (math.isfinite(member_recent_power) and member_recent_power >= 0):
            raise ValueError(f"member_recent_power must be finite and >= 0, got {member_recent_power}")
        self.member_recent_cuts = member_recent_cuts
        self.member_recent_power = member_recent_power
        check_outlier_z(network_outlier_z)
        self.network_outlier_z = network_outlier_z
        check_share_values(network_share_values)
        self.network_share_values = network_share_values
        self._training_values: Optional[int] = None  # counted by train_model when network_share_values > 0
        check_at_least("attention_heads", attention_heads, 0)
        check_at_least("attention_dim", attention_dim, 1)
        self.attention_heads = attention_heads
        self.attention_dim = attention_dim
        self._member_backtest: Optional[MemberBacktest] = None  # fitted by train_model on the training series
        #: an ensemble's backtests by setting, shared by its members while they train
        self._backtests: Optional[Dict[Tuple, Optional[MemberBacktest]]] = None
        self.channels_seq = list(channels_seq or [30, 30, 30])
        self.dilation_seq = list(dilation_seq or [1, 3, 9])
        self.kernel_size_seq = list(kernel_size_seq or [7, 3, 3])
        self.use_residual = use_residual
        self.decoder_mlp_dim_seq = list(decoder_mlp_dim_seq or [30])
        self.local_context_dim = local_context_dim
        self.agnostic_context_dim = agnostic_context_dim
        self.local_mlp_dim_seq = list(local_mlp_dim_seq or [30])
        self.scaling = scaling
        self.history_window = self.context_length if history_window is None else history_window
        self.loss_units = loss_units
        self.num_seasonal_lags = num_seasonal_lags
        self.num_recent_lags = num_recent_lags
        self.seasonal_loc = seasonal_loc
        self.seasonal_loc_init = seasonal_loc_init
        self.seasonal_loc_per_step = seasonal_loc_per_step
        self.seasonal_loc_fit_batches = seasonal_loc_fit_batches
        self.spread_exponent = spread_exponent
        self.learn_spread_exponent = learn_spread_exponent
        self.impute_lags = impute_lags
        self.smoothing_features = smoothing_features
        self.seasonal_spread = seasonal_spread
        self.training_history = training_history
        self.members = [dict(m) for m in members] if members else None
        if self.members:
            for overrides in self.members:
                shared = sorted(SHARED_SETTINGS & set(overrides))
                if shared:
                    raise ValueError(f"ensemble members cannot override {shared}: all members share them")
            self._member_estimators()  # every member's settings are checked now
            if not (isinstance(self.distr_output, IQFOutput) and self.distr_output.num_pieces == 1):
                raise ValueError(
                    "members (an ensemble) needs a plain IQF head: distr_output=IQFOutput(num_pieces=1)"
                )

    def _member_estimators(self) -> List["MQCNNEstimator"]:
        """One estimator per ensemble member: this estimator's settings with
        the member's overrides."""
        base = {k: v for k, v in self.__init_args__.items() if k != "members"}
        return [MQCNNEstimator(**{**base, **overrides}) for overrides in self.members]

    def train_model(
        self,
        training_data: Dataset,
        validation_data: Optional[Dataset] = None,
        from_predictor=None,
        **kwargs,
    ) -> TrainOutput:
        """GluonTS's training, once per ensemble member when ``members`` is
        set (then the trained network is an :class:`MQCNNEnsemble` and the
        predictor forecasts the average quantile function); ``from_predictor``
        of an ensemble warm-starts each member from its counterpart."""
        if not self.members:
            self._member_backtest = self._shared_member_backtest(training_data)
            self._training_values = (observed_values(training_data, at_most=self.network_share_values)
                                     if self.network_share_values > 0 else None)
            try:
                return super().train_model(training_data, validation_data, from_predictor=from_predictor, **kwargs)
            finally:
                self._member_backtest = None
                self._training_values = None
        return train_ensemble(self._member_estimators(), training_data, validation_data, from_predictor, **kwargs)

    def fit_member_backtest(self, training_data: Dataset) -> Optional[MemberBacktest]:
        """The statistical members' standard quantiles and losses on a
        backtest of ``training_data``
        (:func:`~gluonts_iqf.model.mqcnn.calibration.member_backtest`; no
        calibration with ``calibrate_members=False``); None without members,
        or when neither the calibration nor the skill weights are wanted."""
        active = [w > 0 for w in self._prior_weights()]
        if not (any(active) and (self.calibrate_members or self.member_skill_power > 0)):
            return None
        try:
            num_series = len(training_data)
        except TypeError:  # a stream without a length: the first series are read
            num_series = None
        fit = member_backtest(
            (entry["target"] for entry in training_data), self.context_length, self.prediction_length,
            self.statistical_season_length, self.distr_output.knot_levels, active, num_series=num_series,
            origins=self.calibration_origins, spread=self.calibration_spread,
        )
        return fit if self.calibrate_members else fit._replace(calibration=None)

    def backtest_settings(self) -> Tuple:
        """What :meth:`fit_member_backtest` depends on besides the data:
        ensemble members that agree on it share one backtest."""
        return (self.context_length, self.prediction_length, self.statistical_season_length,
                tuple(getattr(self.distr_output, "knot_levels", ())), *(w > 0 for w in self._prior_weights()),
                self.calibrate_members, self.member_skill_power > 0, self.calibration_origins,
                self.calibration_spread)

    def _shared_member_backtest(self, training_data: Dataset) -> Optional[MemberBacktest]:
        """:meth:`fit_member_backtest`, looked up first among the backtests
        that an ensemble's members have fitted on the same data."""
        shared = self._backtests
        if shared is None:
            return self.fit_member_backtest(training_data)
        key = self.backtest_settings()
        if key not in shared:
            shared[key] = self.fit_member_backtest(training_data)
        return shared[key]

    def _prior_weights(self) -> List[float]:
        """The members' weights as given, in ``MEMBERS`` order."""
        return [self.theta_weight, self.damped_weight, self.ces_weight, self.naive_weight]

    def member_weights(self, backtest: Optional[MemberBacktest]) -> List[float]:
        """The Theta, damped-trend, CES and seasonal naive weights of the
        network: the estimator's, moved by the members' backtest losses
        (:func:`~gluonts_iqf.model.mqcnn.calibration.skill_weights`) when
        there is a backtest, then with ``network_share_values`` the
        network's share shrunk by the training data's size
        (:func:`~gluonts_iqf.model.mqcnn.statistical.shrink_network`)."""
        weights = self._prior_weights()
        if backtest is not None:
            weights = skill_weights(weights, backtest.loss, self.member_skill_power)
        if self._training_values is not None:
            weights = shrink_network(weights, data_share_factor(self._training_values, self.network_share_values))
        return weights

    def forecast_generator(self) -> ForecastGenerator:
        return self.distr_output.forecast_generator

    def create_lightning_module(self) -> MQCNNLightningModule:
        backtest = self._member_backtest
        theta_weight, damped_weight, ces_weight, naive_weight = self.member_weights(backtest)
        return MQCNNLightningModule(
            model_kwargs=dict(
                prediction_length=self.prediction_length,
                context_length=self.context_length,
                num_forking=self.num_forking,
                distr_output=self.distr_output,
                num_feat_dynamic_real=self._num_known,
                num_past_feat_dynamic_real=self.num_past_feat_dynamic_real,
                num_feat_static_real=self.num_feat_static_real,
                cardinality=self.cardinality,
                embedding_dimension=self.embedding_dimension,
                channels_seq=self.channels_seq,
                dilation_seq=self.dilation_seq,
                kernel_size_seq=self.kernel_size_seq,
                use_residual=self.use_residual,
                decoder_mlp_dim_seq=self.decoder_mlp_dim_seq,
                local_context_dim=self.local_context_dim,
                agnostic_context_dim=self.agnostic_context_dim,
                local_mlp_dim_seq=self.local_mlp_dim_seq,
                scaling=self.scaling,
                history_window=self.history_window,
                loss_units=self.loss_units,
                season_length=self.season_length,
                num_seasonal_lags=self.num_seasonal_lags,
                num_recent_lags=self.num_recent_lags,
                seasonal_loc=self.seasonal_loc,
                seasonal_loc_init=self.seasonal_loc_init,
                seasonal_loc_per_step=self.seasonal_loc_per_step,
                spread_exponent=self.spread_exponent,
                learn_spread_exponent=self.learn_spread_exponent,
                impute_lags=self.impute_lags,
                smoothing_features=self.smoothing_features,
                seasonal_spread=self.seasonal_spread,
                theta_weight=theta_weight,
                damped_weight=damped_weight,
                statistical_season_length=self.statistical_season_length,
                statistical_combination=self.statistical_combination,
                ces_weight=ces_weight,
                member_calibration=None if backtest is None else backtest.calibration,
                attention_heads=self.attention_heads,
                attention_dim=self.attention_dim,
                naive_weight=naive_weight,
                member_recent_cuts=self.member_recent_cuts,
                member_recent_power=self.member_recent_power,
                network_outlier_z=self.network_outlier_z,
            ),
            seasonal_loc_fit_batches=self.seasonal_loc_fit_batches if self.seasonal_loc else 0,
            **self._training_kwargs(),
        )
