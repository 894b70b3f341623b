"""``MQF2Estimator``: joint forecasts across the horizon of each series, and
across series when the target is multivariate (GluonTS ``MultivariateGrouper``
layout, target shape (dim, T))."""

from typing import Any, Dict, List, Optional

from gluonts.core.component import validated
from gluonts.model.forecast_generator import ForecastGenerator
from gluonts.time_feature import TimeFeature, get_seasonality
from gluonts.transform import InstanceSampler

from ...distributions.convex import ConvexQuantileOutput
from ...forecast import JointSampleForecastGenerator
from ...nn.lags import check_seasonal_lags
from ...nn.location import SEASONAL_LOC_INITS
from .._forking.checks import check_at_least, check_choice
from .._forking.estimator import ForkingEstimator, default_context_length
from .lightning_module import MQF2LightningModule
from .module import JOINT


class MQF2Estimator(ForkingEstimator):
    """MQF² (Kan et al., AISTATS 2022) with MQ-CNN's causal encoder.

    The measurements behind the defaults are in ``benchmarks/RESULTS.md``
    ("Defaults of MQF²").

    Parameters
    ----------
    freq, prediction_length
        Data frequency and horizon ``H``.
    target_dim
        Series modelled jointly: 1 (univariate data) or the ``dim`` of a
        multivariate dataset whose targets have shape (dim, T).
    joint
        ``"horizon"`` (default for ``target_dim=1``: joint over the H steps),
        ``"all"`` (default for ``target_dim>1``: joint over dim x H values)
        or ``"step"`` (joint over the dim series at each step).
    context_length, num_forking
        Encoder window (default :func:`~gluonts_iqf.model._forking.estimator.default_context_length`:
        ``max(2 H, num_seasonal_lags x season_length, 100)``, as MQ-CNN's)
        and creation times per window (default ``H``).
    hidden_dim, num_layers, context_dim
        PICNN width, depth and context size.
    quadratic_share
        Share of the map's initial slope given to the PICNN's low-rank
        quadratic term, which carries the linear dependence across the
        event (see :class:`~gluonts_iqf.nn.PICNN`); with the small start of
        earlier versions (0) the energy score learned the dependence slowly.
    loss
        ``"energy"`` (energy score, default) or ``"nll"`` (maximum
        likelihood through the inverted map).
    es_num_samples, beta
        Energy-score samples per window and exponent.
    num_parallel_samples
        Joint sample paths per forecast.
    channels_seq, dilation_seq, kernel_size_seq
        Encoder convolutions.
    decoder_mlp_dim_seq
        Hidden sizes of the MLP that makes the PICNN's context.
    num_feat_dynamic_real, num_past_feat_dynamic_real
        Dataset covariates known in the future / only in the past.
    num_feat_static_real, cardinality, embedding_dimension
        Static features (as GluonTS's ``MQF2MultiHorizonEstimator``; default
        embedding size ``min(50, (c + 1) // 2)``); encoder inputs at every
        position.
    time_features, use_age_feature
        Known calendar and age features.
    season_length, num_seasonal_lags, seasonal_loc
        Seasonal location of the joint map: it is shifted by a learned
        combination of each step's seasonal lags (a shift keeps it the
        gradient of a convex potential; default on, 3 lags, season from
        ``freq``).
    seasonal_loc_init
        ``"mean"`` (default here): the location starts as the mean of the
        seasonal lags, steadier than the last season (``"last"``) where
        that season is noise.
    lr_schedule
        ``"plateau"`` (default: ReduceLROnPlateau with ``patience``) or
        ``"cosine"``.
    lr, weight_decay, patience, batch_size, num_batches_per_epoch, trainer_kwargs,
    train_sampler, validation_sampler, cache_data, predict_batch_size
        Training loop and prediction batches, as
        :class:`~gluonts_iqf.MQCNNEstimator`.
    """

    #: MQF² keeps GluonTS's splitter stream for its training batches: the
    #: cross-series correlation test was less robust across training seeds
    #: with independent window draws (see RESULTS.md).
    training_windows = False

    @validated()
    def __init__(
        self,
        freq: str,
        prediction_length: int,
        target_dim: int = 1,
        joint: Optional[str] = None,
        context_length: Optional[int] = None,
        num_forking: Optional[int] = None,
        hidden_dim: int = 32,
        num_layers: int = 2,
        context_dim: int = 32,
        quadratic_share: float = 0.8,
        loss: str = "energy",
        es_num_samples: int = 50,
        beta: float = 1.0,
        num_parallel_samples: int = 100,
        channels_seq: Optional[List[int]] = None,
        dilation_seq: Optional[List[int]] = None,
        kernel_size_seq: Optional[List[int]] = None,
        decoder_mlp_dim_seq: Optional[List[int]] = None,
        num_feat_dynamic_real: int = 0,
        num_past_feat_dynamic_real: int = 0,
        num_feat_static_real: int = 0,
        cardinality: Optional[List[int]] = None,
        embedding_dimension: Optional[List[int]] = None,
        season_length: Optional[int] = None,
        num_seasonal_lags: int = 3,
        seasonal_loc: bool = True,
        seasonal_loc_init: str = "mean",
        time_features: Optional[List[TimeFeature]] = None,
        use_age_feature: bool = True,
        lr: float = 1e-3,
        weight_decay: float = 1e-8,
        patience: int = 10,
        lr_schedule: str = "plateau",
        batch_size: int = 32,
        num_batches_per_epoch: int = 50,
        trainer_kwargs: Optional[Dict[str, Any]] = None,
        train_sampler: Optional[InstanceSampler] = None,
        validation_sampler: Optional[InstanceSampler] = None,
        cache_data: bool = True,
        predict_batch_size: int = 256,
    ) -> None:
        check_at_least("prediction_length", prediction_length, 1)
        check_at_least("target_dim", target_dim, 1)
        joint = joint or ("horizon" if target_dim == 1 else "all")
        check_choice("joint", joint, JOINT)
        if (joint == "horizon") != (target_dim == 1):
            raise ValueError(
                f"joint={joint!r} does not fit target_dim={target_dim}: use "
                "'horizon' for one series and 'all' or 'step' for several"
            )
        season = get_seasonality(freq) if season_length is None else season_length
        check_seasonal_lags(season, num_seasonal_lags)
        check_choice("seasonal_loc_init", seasonal_loc_init, SEASONAL_LOC_INITS)
        context_length = context_length or default_context_length(prediction_length, season, num_seasonal_lags)
        super().__init__(
            freq=freq,
            prediction_length=prediction_length,
            context_length=context_length,
            num_forking=num_forking or min(prediction_length, context_length),
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
        self.target_dim = target_dim
        self.joint = joint
        self.context_dim = context_dim
        self.num_parallel_samples = num_parallel_samples
        self.channels_seq = list(channels_seq or [30, 30, 30])
        self.dilation_seq = list(dilation_seq or [1, 3, 9])
        self.kernel_size_seq = list(kernel_size_seq or [7, 3, 3])
        self.decoder_mlp_dim_seq = list(decoder_mlp_dim_seq or [64])
        self.num_seasonal_lags = num_seasonal_lags
        self.seasonal_loc = seasonal_loc
        self.seasonal_loc_init = seasonal_loc_init
        event_dim = {"horizon": prediction_length, "all": prediction_length * target_dim, "step": target_dim}[joint]
        self.convex_output = ConvexQuantileOutput(
            dim=event_dim, hidden_dim=hidden_dim, num_layers=num_layers,
            context_hidden_dim=context_dim, loss=loss, es_num_samples=es_num_samples, beta=beta,
            quadratic_share=quadratic_share,
        )

    @property
    def _target_ndim(self) -> int:  # type: ignore[override]
        return 1 if self.target_dim == 1 else 2

    def forecast_generator(self) -> ForecastGenerator:
        return JointSampleForecastGenerator()

    def create_lightning_module(self) -> MQF2LightningModule:
        return MQF2LightningModule(
            model_kwargs=dict(
                prediction_length=self.prediction_length,
                context_length=self.context_length,
                num_forking=self.num_forking,
                target_dim=self.target_dim,
                joint=self.joint,
                convex_output=self.convex_output,
                num_feat_dynamic_real=self._num_known,
                num_past_feat_dynamic_real=self.num_past_feat_dynamic_real,
                num_feat_static_real=self.num_feat_static_real,
                cardinality=self.cardinality,
                embedding_dimension=self.embedding_dimension,
                channels_seq=self.channels_seq,
                dilation_seq=self.dilation_seq,
                kernel_size_seq=self.kernel_size_seq,
                context_dim=self.context_dim,
                decoder_mlp_dim_seq=self.decoder_mlp_dim_seq,
                num_parallel_samples=self.num_parallel_samples,
                season_length=self.season_length,
                num_seasonal_lags=self.num_seasonal_lags,
                seasonal_loc=self.seasonal_loc,
                seasonal_loc_init=self.seasonal_loc_init,
            ),
            **self._training_kwargs(),
        )
