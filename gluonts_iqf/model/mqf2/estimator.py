"""``MQF2Estimator``: joint forecasts across the horizon of each series, and
across series when the target is multivariate (GluonTS ``MultivariateGrouper``
layout, target shape (dim, T))."""

from typing import Any, Dict, List, Optional

from gluonts.core.component import validated
from gluonts.time_feature import TimeFeature
from gluonts.torch.model.predictor import PyTorchPredictor
from gluonts.transform import InstanceSampler, Transformation

from ...distributions.convex import ConvexQuantileOutput
from ...forecast import JointSampleForecastGenerator
from ..mqcnn.estimator import MQCNNEstimator
from .lightning_module import MQF2LightningModule
from .module import JOINT


class MQF2Estimator(MQCNNEstimator):
    """MQF² (Kan et al., AISTATS 2022) with MQ-CNN's causal encoder.

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
        Encoder window (default ``2 H``) and creation times per window
        (default ``H``).
    hidden_dim, num_layers, context_dim
        PICNN width, depth and context size.
    loss
        ``"energy"`` (energy score, default) or ``"nll"`` (maximum
        likelihood through the inverted map).
    es_num_samples, beta
        Energy-score samples per window and exponent.
    num_parallel_samples
        Joint sample paths per forecast.
    channels_seq, dilation_seq, kernel_size_seq
        Encoder convolutions.
    num_feat_dynamic_real, time_features, use_age_feature
        Known covariates.
    season_length, num_seasonal_lags, seasonal_loc
        Seasonal location of the joint map, as :class:`MQCNNEstimator` (the
        map is shifted by a learned combination of each step's seasonal lags;
        default on, 3 lags, season from ``freq``).
    seasonal_loc_init
        ``"mean"`` (default here): the location starts as the mean of the
        seasonal lags; ``"last"``: as the seasonal-naive value. In the MQF²
        benchmark (150 steps) "mean" beat GluonTS's MQF² on all three
        datasets, "last" lost on the synthetic one (independent weekly
        blocks, where the last season is noise).
    lr_schedule
        ``"plateau"`` (default: ReduceLROnPlateau with ``patience``) or
        ``"cosine"`` (as :class:`MQCNNEstimator`). Plateau is the default
        here: with the cosine decay the AR(1) test (tests/model/mqf2) recovers the
        horizon correlation less well in 1500 steps (max error 0.21 vs 0.11).
    lr, weight_decay, patience, batch_size, num_batches_per_epoch, trainer_kwargs,
    train_sampler, validation_sampler, predict_batch_size
        Training loop and prediction batches, as :class:`MQCNNEstimator`.
    """

    #: MQF2 keeps GluonTS's splitter stream for its training batches: with
    #: TrainingWindows' draws, the cross-series correlation test
    #: (tests/model/mqf2) gave max errors 0.025, 0.495, 0.108, 0.046, 0.027,
    #: 0.055 over training seeds 0-5 (tolerance 0.15; 0.008-0.082 with the
    #: splitter), so the switch waits for a study of MQF2's robustness to
    #: the window stream.
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
        loss: str = "energy",
        es_num_samples: int = 50,
        beta: float = 1.0,
        num_parallel_samples: int = 100,
        channels_seq: Optional[List[int]] = None,
        dilation_seq: Optional[List[int]] = None,
        kernel_size_seq: Optional[List[int]] = None,
        decoder_mlp_dim_seq: Optional[List[int]] = None,
        num_feat_dynamic_real: int = 0,
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
        predict_batch_size: int = 256,
    ) -> None:
        context_length = context_length or 2 * prediction_length
        super().__init__(
            freq=freq,
            prediction_length=prediction_length,
            context_length=context_length,
            num_forking=num_forking or min(prediction_length, context_length),
            channels_seq=channels_seq,
            dilation_seq=dilation_seq,
            kernel_size_seq=kernel_size_seq,
            decoder_mlp_dim_seq=decoder_mlp_dim_seq or [64],
            num_feat_dynamic_real=num_feat_dynamic_real,
            season_length=season_length,
            num_seasonal_lags=num_seasonal_lags,
            seasonal_loc=seasonal_loc,
            seasonal_loc_init=seasonal_loc_init,
            seasonal_loc_per_step=False,  # the joint map has one shared location
            time_features=time_features,
            use_age_feature=use_age_feature,
            lr=lr,
            weight_decay=weight_decay,
            patience=patience,
            lr_schedule=lr_schedule,
            batch_size=batch_size,
            num_batches_per_epoch=num_batches_per_epoch,
            trainer_kwargs=trainer_kwargs,
            train_sampler=train_sampler,
            validation_sampler=validation_sampler,
            predict_batch_size=predict_batch_size,
        )
        if target_dim < 1:
            raise ValueError(f"target_dim must be >= 1, got {target_dim}")
        joint = joint or ("horizon" if target_dim == 1 else "all")
        if joint not in JOINT:
            raise ValueError(f"joint must be one of {JOINT}, got {joint!r}")
        if (joint == "horizon") != (target_dim == 1):
            raise ValueError(
                f"joint={joint!r} does not fit target_dim={target_dim}: use "
                "'horizon' for one series and 'all' or 'step' for several"
            )
        self.target_dim = target_dim
        self.joint = joint
        self.context_dim = context_dim
        self.num_parallel_samples = num_parallel_samples
        event_dim = {"horizon": prediction_length, "all": prediction_length * target_dim, "step": target_dim}[joint]
        self.convex_output = ConvexQuantileOutput(
            dim=event_dim, hidden_dim=hidden_dim, num_layers=num_layers,
            context_hidden_dim=context_dim, loss=loss, es_num_samples=es_num_samples, beta=beta,
        )

    @property
    def _target_ndim(self) -> int:  # type: ignore[override]
        return 1 if self.target_dim == 1 else 2

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
            input_names=self.input_names(),
            lr=self.lr,
            weight_decay=self.weight_decay,
            patience=self.patience,
            lr_schedule=self.lr_schedule,
            num_batches_per_epoch=self.num_batches_per_epoch,
        )

    def create_predictor(self, transformation: Transformation, module: MQF2LightningModule) -> PyTorchPredictor:
        return PyTorchPredictor(
            input_transform=self._prediction_transform(transformation),
            input_names=self.input_names(),
            prediction_net=module,
            batch_size=self.predict_batch_size,
            prediction_length=self.prediction_length,
            device="auto",
            forecast_generator=JointSampleForecastGenerator(),
        )
