"""The GluonTS estimator base of the forking models (MQ-CNN, MQF²): settings
they share, the input pipeline, the training and validation loaders and the
predictor. Subclasses add their model's settings, the lightning module and
the forecast generator."""

from typing import Any, Dict, List, Optional

import numpy as np
import torch

from gluonts.core import serde
from gluonts.dataset.common import Dataset
from gluonts.dataset.field_names import FieldName
from gluonts.dataset.loader import as_stacked_batches
from gluonts.itertools import Cached, Cyclic
from gluonts.model.forecast_generator import ForecastGenerator
from gluonts.time_feature import TimeFeature, get_seasonality, time_features_from_frequency_str
from gluonts.torch.model.estimator import PyTorchLightningEstimator
from gluonts.torch.model.predictor import PyTorchPredictor
from gluonts.transform import (
    AddConstFeature,
    AddObservedValuesIndicator,
    AsNumpyArray,
    Chain,
    ExpectedNumInstanceSampler,
    InstanceSampler,
    RemoveFields,
    SetField,
    TestSplitSampler,
    Transformation,
    ValidationSplitSampler,
    VstackFeatures,
)
from gluonts.transform.split import TFTInstanceSplitter

from .checks import check_at_least, check_choice, check_num_forking
from .lightning_module import LR_SCHEDULES, TARGET_INPUTS, ForkingLightningModule
from .prediction import PredictionWindows
from .transform import (
    AddOffsetAgeFeature,
    CalendarTimeFeatures,
    CheckCovariates,
    FusedTransformation,
    TrimHistory,
)
from .windows import TrainingWindows, uniform_window_sampler

#: Batch fields of every forking model's prediction network.
PREDICTION_INPUTS = [
    "feat_static_cat",
    "feat_static_real",
    "past_target",
    "past_observed_values",
    "feat_dynamic_real",
]


#: Smallest default encoder window (past values seen at each forecast
#: creation time), see :func:`default_context_length`.
MIN_CONTEXT_LENGTH = 100


def default_context_length(prediction_length: int, season_length: int, num_seasonal_lags: int) -> int:
    """The forking models' default encoder window: ``max(2 H, num_seasonal_lags
    x season_length, MIN_CONTEXT_LENGTH)``, so that every seasonal lag lies
    in the window and the scales and the encoder see at least 100 past
    values (shorter series are padded and masked)."""
    return max(2 * prediction_length, num_seasonal_lags * season_length, MIN_CONTEXT_LENGTH)


def default_embedding_dimension(cardinality: List[int]) -> List[int]:
    """GluonTS's rule for categorical embeddings: ``min(50, (c + 1) // 2)``."""
    return [min(50, (c + 1) // 2) for c in cardinality]


class ForkingEstimator(PyTorchLightningEstimator):
    """Shared base of :class:`~gluonts_iqf.MQCNNEstimator` and
    :class:`~gluonts_iqf.MQF2Estimator` (not an estimator of its own).

    Parameters
    ----------
    freq, prediction_length
        Data frequency (for time features and the default season) and
        horizon ``H``.
    context_length, num_forking
        Encoder window and creation times per training window (resolved by
        the subclass).
    num_feat_dynamic_real, num_past_feat_dynamic_real
        Dataset covariates known in the future / only in the past.
    num_feat_static_real, cardinality, embedding_dimension
        Static features (default embedding size ``min(50, (c + 1) // 2)``).
    time_features, use_age_feature
        Calendar features (default from ``freq``; ``[]`` for none) and
        GluonTS's log-age feature.
    season_length
        Period of the seasonal-lag features (default ``get_seasonality(freq)``).
    lr, weight_decay, patience, lr_schedule, batch_size, num_batches_per_epoch,
    trainer_kwargs
        Training loop (``trainer_kwargs`` default ``max_epochs=100``).
    train_sampler, validation_sampler
        GluonTS instance samplers (default training sampler
        ``ExpectedNumInstanceSampler(num_instances=1, min_future=H)``).
    cache_data
        Keep the transformed series in memory after their first pass, so the
        whole-series transformations run once per series; with the default
        kind of training sampler, training windows are then cut by
        :class:`~gluonts_iqf.model._forking.windows.TrainingWindows`.
    predict_batch_size
        Series per batch at prediction time.
    """

    #: 1 for univariate targets (T,); multivariate subclasses use 2 (dim, T).
    _target_ndim = 1

    #: Draw training batches with :class:`TrainingWindows` where the sampler
    #: allows (see :meth:`create_training_data_loader`).
    training_windows = True

    def __init__(
        self,
        freq: str,
        prediction_length: int,
        context_length: int,
        num_forking: int,
        num_feat_dynamic_real: int = 0,
        num_past_feat_dynamic_real: int = 0,
        num_feat_static_real: int = 0,
        cardinality: Optional[List[int]] = None,
        embedding_dimension: Optional[List[int]] = None,
        time_features: Optional[List[TimeFeature]] = None,
        use_age_feature: bool = True,
        season_length: Optional[int] = None,
        lr: float = 1e-3,
        weight_decay: float = 1e-8,
        patience: int = 10,
        lr_schedule: str = "cosine",
        batch_size: int = 32,
        num_batches_per_epoch: int = 50,
        trainer_kwargs: Optional[Dict[str, Any]] = None,
        train_sampler: Optional[InstanceSampler] = None,
        validation_sampler: Optional[InstanceSampler] = None,
        cache_data: bool = True,
        predict_batch_size: int = 256,
    ) -> None:
        super().__init__(trainer_kwargs={"max_epochs": 100, **(trainer_kwargs or {})})
        check_at_least("prediction_length", prediction_length, 1)
        check_num_forking(num_forking, context_length)
        check_choice("lr_schedule", lr_schedule, LR_SCHEDULES)
        check_at_least("predict_batch_size", predict_batch_size, 1)
        self.freq = freq
        self.prediction_length = prediction_length
        self.context_length = context_length
        self.num_forking = num_forking
        self.num_feat_dynamic_real = num_feat_dynamic_real
        self.num_past_feat_dynamic_real = num_past_feat_dynamic_real
        self.num_feat_static_real = num_feat_static_real
        self.cardinality = list(cardinality or [])
        self.embedding_dimension = list(embedding_dimension or default_embedding_dimension(self.cardinality))
        if len(self.embedding_dimension) != len(self.cardinality):
            raise ValueError(
                f"embedding_dimension {self.embedding_dimension} does not match "
                f"cardinality {self.cardinality}"
            )
        self.time_features = (
            time_features_from_frequency_str(freq) if time_features is None else list(time_features)
        )
        self.use_age_feature = use_age_feature
        self.season_length = get_seasonality(freq) if season_length is None else season_length
        self.lr = lr
        self.weight_decay = weight_decay
        self.patience = patience
        self.lr_schedule = lr_schedule
        self.batch_size = batch_size
        self.num_batches_per_epoch = num_batches_per_epoch
        self.cache_data = cache_data
        self.predict_batch_size = predict_batch_size
        self.train_sampler = train_sampler or ExpectedNumInstanceSampler(
            num_instances=1.0, min_future=prediction_length
        )
        self.validation_sampler = validation_sampler or ValidationSplitSampler(
            min_future=prediction_length
        )

    # ------------------------------------------------------------------ #
    # what subclasses provide
    def create_lightning_module(self) -> ForkingLightningModule:
        raise NotImplementedError

    def forecast_generator(self) -> ForecastGenerator:
        """How the predictor turns network outputs into forecasts."""
        raise NotImplementedError

    def _training_kwargs(self) -> Dict[str, Any]:
        """Keyword arguments of the lightning module's training loop."""
        return dict(
            input_names=self.input_names(),
            lr=self.lr,
            weight_decay=self.weight_decay,
            patience=self.patience,
            lr_schedule=self.lr_schedule,
            num_batches_per_epoch=self.num_batches_per_epoch,
        )

    # ------------------------------------------------------------------ #
    @property
    def _num_known(self) -> int:
        """Known covariate rows: time features (or one constant), age,
        dataset covariates."""
        return max(len(self.time_features), 1) + int(self.use_age_feature) + self.num_feat_dynamic_real

    def input_names(self) -> List[str]:
        names = list(PREDICTION_INPUTS)
        if self.num_past_feat_dynamic_real:
            names.append(FieldName.PAST_FEAT_DYNAMIC_REAL)
        return names

    def create_transformation(self) -> Transformation:
        remove = []
        if not self.num_feat_static_real:
            remove.append(FieldName.FEAT_STATIC_REAL)
        if not self.cardinality:
            remove.append(FieldName.FEAT_STATIC_CAT)
        remove.append(FieldName.FEAT_DYNAMIC_CAT)
        remove.append(FieldName.PAST_FEAT_DYNAMIC_CAT)
        steps: List[Transformation] = [
            CheckCovariates(
                prediction_length=self.prediction_length,
                num_feat_dynamic_real=self.num_feat_dynamic_real,
                num_past_feat_dynamic_real=self.num_past_feat_dynamic_real,
                num_feat_static_real=self.num_feat_static_real,
                cardinality=self.cardinality,
            ),
            TrimHistory(keep=self.context_length),
            RemoveFields(field_names=remove),
            AsNumpyArray(field=FieldName.TARGET, expected_ndim=self._target_ndim),
            AddObservedValuesIndicator(
                target_field=FieldName.TARGET, output_field=FieldName.OBSERVED_VALUES
            ),
        ]
        if self.time_features:
            steps.append(
                CalendarTimeFeatures(
                    start_field=FieldName.START,
                    target_field=FieldName.TARGET,
                    output_field=FieldName.FEAT_TIME,
                    time_features=self.time_features,
                    pred_length=self.prediction_length,
                )
            )
        else:
            steps.append(
                AddConstFeature(
                    output_field=FieldName.FEAT_TIME,
                    target_field=FieldName.TARGET,
                    pred_length=self.prediction_length,
                    const=0.0,
                )
            )
        known = [FieldName.FEAT_TIME]
        if self.use_age_feature:
            steps.append(
                AddOffsetAgeFeature(
                    target_field=FieldName.TARGET,
                    output_field=FieldName.FEAT_AGE,
                    pred_length=self.prediction_length,
                    log_scale=True,
                )
            )
            known.append(FieldName.FEAT_AGE)
        if self.num_feat_dynamic_real:
            known.append(FieldName.FEAT_DYNAMIC_REAL)
        steps.append(VstackFeatures(output_field=FieldName.FEAT_DYNAMIC_REAL, input_fields=known))
        if self.num_past_feat_dynamic_real:
            steps.append(AsNumpyArray(field=FieldName.PAST_FEAT_DYNAMIC_REAL, expected_ndim=2))
        if not self.num_feat_static_real:
            steps.append(SetField(output_field=FieldName.FEAT_STATIC_REAL, value=[0.0]))
        steps.append(AsNumpyArray(field=FieldName.FEAT_STATIC_REAL, expected_ndim=1))
        if not self.cardinality:
            steps.append(SetField(output_field=FieldName.FEAT_STATIC_CAT, value=[0]))
        steps.append(AsNumpyArray(field=FieldName.FEAT_STATIC_CAT, expected_ndim=1, dtype=np.int64))
        return Chain(steps)

    def _splitter(self, mode: str) -> TFTInstanceSplitter:
        sampler = {
            "training": self.train_sampler,
            "validation": self.validation_sampler,
            "test": TestSplitSampler(),
        }[mode]
        return TFTInstanceSplitter(
            instance_sampler=sampler,
            past_length=self.context_length,
            future_length=self.prediction_length,
            time_series_fields=[FieldName.FEAT_DYNAMIC_REAL],
            past_time_series_fields=(
                [FieldName.PAST_FEAT_DYNAMIC_REAL] if self.num_past_feat_dynamic_real else []
            ),
        )

    def _prediction_transform(self, transformation: Transformation) -> Transformation:
        """The predictor's input pipeline: :class:`PredictionWindows` (equal
        output, one short pass per entry) when ``transformation`` is this
        estimator's own, else ``transformation`` + the test splitter as
        given."""
        pipeline = FusedTransformation([transformation, self._splitter("test")])
        if serde.encode(transformation) != serde.encode(self.create_transformation()):
            return pipeline
        return PredictionWindows(
            pipeline=pipeline,
            context_length=self.context_length,
            prediction_length=self.prediction_length,
            target_ndim=self._target_ndim,
            time_features=self.time_features,
            use_age_feature=self.use_age_feature,
            num_feat_dynamic_real=self.num_feat_dynamic_real,
            num_past_feat_dynamic_real=self.num_past_feat_dynamic_real,
            num_feat_static_real=self.num_feat_static_real,
            cardinality=self.cardinality,
        )

    def _cached(self, data: Dataset) -> Dataset:
        """The transformed series, kept in memory after their first pass
        when ``cache_data``."""
        return Cached(data) if self.cache_data and not isinstance(data, Cached) else data

    def create_training_data_loader(
        self, data: Dataset, module: ForkingLightningModule, shuffle_buffer_length: Optional[int] = None, **kwargs
    ):
        """Training batches: :class:`TrainingWindows` (the same windows as
        GluonTS's splitter, drawn independently, in a few array operations)
        when the sampler is GluonTS's default kind and ``cache_data`` allows
        holding the series in memory; else GluonTS's splitter stream, with
        ``shuffle_buffer_length`` (TrainingWindows' draws are independent
        already)."""
        if self.training_windows and self.cache_data and uniform_window_sampler(self.train_sampler):
            return TrainingWindows(
                self._cached(data),
                context_length=self.context_length,
                prediction_length=self.prediction_length,
                batch_size=self.batch_size,
                field_names=self.input_names() + TARGET_INPUTS,
                min_past=self.train_sampler.min_past,
                min_future=self.train_sampler.min_future,
                num_batches_per_epoch=self.num_batches_per_epoch,
                max_history=getattr(self.train_sampler, "max_history", None),
            )
        instances = self._splitter("training").apply(Cyclic(self._cached(data)).stream(), is_train=True)
        return as_stacked_batches(
            instances,
            batch_size=self.batch_size,
            shuffle_buffer_length=shuffle_buffer_length,
            field_names=self.input_names() + TARGET_INPUTS,
            output_type=torch.tensor,
            num_batches_per_epoch=self.num_batches_per_epoch,
        )

    def create_validation_data_loader(self, data: Dataset, module: ForkingLightningModule, **kwargs):
        instances = self._splitter("validation").apply(self._cached(data), is_train=True)
        return as_stacked_batches(
            instances,
            batch_size=self.batch_size,
            field_names=self.input_names() + TARGET_INPUTS,
            output_type=torch.tensor,
        )

    def create_predictor(
        self, transformation: Transformation, module: ForkingLightningModule
    ) -> PyTorchPredictor:
        return PyTorchPredictor(
            input_transform=self._prediction_transform(transformation),
            input_names=self.input_names(),
            prediction_net=module,
            batch_size=self.predict_batch_size,
            prediction_length=self.prediction_length,
            device="auto",
            forecast_generator=self.forecast_generator(),
        )
