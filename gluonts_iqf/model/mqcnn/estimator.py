"""``MQCNNEstimator``: MQ-CNN as a GluonTS ``PyTorchLightningEstimator``."""

from typing import Any, Dict, List, Optional

import numpy as np
import pandas as pd
import torch

from gluonts.core import serde
from gluonts.core.component import validated
from gluonts.dataset.common import Dataset
from gluonts.dataset.field_names import FieldName
from gluonts.dataset.loader import as_stacked_batches
from gluonts.itertools import Cached, Cyclic
from gluonts.time_feature import TimeFeature, get_seasonality, time_features_from_frequency_str
from gluonts.torch.distributions import DistributionOutput
from gluonts.torch.model.estimator import PyTorchLightningEstimator
from gluonts.torch.model.predictor import PyTorchPredictor
from gluonts.transform import (
    AddAgeFeature,
    AddConstFeature,
    AddObservedValuesIndicator,
    AddTimeFeatures,
    AsNumpyArray,
    Chain,
    ExpectedNumInstanceSampler,
    FlatMapTransformation,
    InstanceSampler,
    MapTransformation,
    RemoveFields,
    SetField,
    TestSplitSampler,
    Transformation,
    ValidationSplitSampler,
    VstackFeatures,
)
from gluonts.transform.feature import target_transformation_length
from gluonts.transform.split import TFTInstanceSplitter

from ...distributions.iqf import IQFOutput
from .lightning_module import (
    LR_SCHEDULES,
    TARGET_INPUTS,
    MQCNNLightningModule,
    check_choice,
    check_fit_batches,
)
from .module import LOSS_UNITS, SEASONAL_LOC_INITS, check_seasonal_lags, check_spread_exponent
from .windows import TrainingWindows, uniform_window_sampler

PREDICTION_INPUTS = [
    "feat_static_cat",
    "feat_static_real",
    "past_target",
    "past_observed_values",
    "feat_dynamic_real",
]


class CheckCovariates(MapTransformation):
    """Reject entries whose covariates do not match what the estimator was
    told: a ``ValueError`` naming the field and the item.

    Checks that declared dynamic covariates are present, have the declared
    number of rows, cover the target (and, at prediction time, the horizon
    for known covariates) and contain no NaN; that undeclared dynamic
    covariates are absent; and that static features have the declared size
    and categories lie in ``[0, cardinality)``.
    """

    @validated()
    def __init__(
        self,
        prediction_length: int,
        num_feat_dynamic_real: int,
        num_past_feat_dynamic_real: int,
        num_feat_static_real: int,
        cardinality: List[int],
    ) -> None:
        self.prediction_length = prediction_length
        self.dynamic = {
            FieldName.FEAT_DYNAMIC_REAL: num_feat_dynamic_real,
            FieldName.PAST_FEAT_DYNAMIC_REAL: num_past_feat_dynamic_real,
        }
        self.num_feat_static_real = num_feat_static_real
        self.cardinality = list(cardinality)

    def map_transform(self, data: Dict[str, Any], is_train: bool) -> Dict[str, Any]:
        item = data.get(FieldName.ITEM_ID, "<no item_id>")
        T = np.shape(data[FieldName.TARGET])[-1]
        for field, n in self.dynamic.items():
            value = data.get(field)
            if n == 0:
                if value is not None and np.size(value) > 0:
                    raise ValueError(
                        f"item {item}: field '{field}' is present but the "
                        f"estimator declares {field} = 0; pass "
                        f"num_{field}={np.atleast_2d(value).shape[0]} or drop the field"
                    )
                continue
            if value is None:
                raise ValueError(
                    f"item {item}: the estimator declares num_{field}={n} but "
                    f"the entry has no '{field}'"
                )
            arr = np.atleast_2d(np.asarray(value, dtype=np.float32))
            if arr.shape[0] != n:
                raise ValueError(
                    f"item {item}: '{field}' has {arr.shape[0]} rows, the "
                    f"estimator declares num_{field}={n}"
                )
            need = T + (self.prediction_length if field == FieldName.FEAT_DYNAMIC_REAL and not is_train else 0)
            if arr.shape[1] < need:
                raise ValueError(
                    f"item {item}: '{field}' has length {arr.shape[1]} but "
                    f"needs {need} (target length {T}"
                    + (f" + prediction_length {self.prediction_length})" if need > T else ")")
                )
            if np.isnan(arr).any():
                raise ValueError(f"item {item}: '{field}' contains NaN values")
        static_real = data.get(FieldName.FEAT_STATIC_REAL)
        if self.num_feat_static_real:
            size = 0 if static_real is None else np.size(static_real)
            if size != self.num_feat_static_real:
                raise ValueError(
                    f"item {item}: '{FieldName.FEAT_STATIC_REAL}' has {size} "
                    f"values, the estimator declares {self.num_feat_static_real}"
                )
            if np.isnan(np.asarray(static_real, dtype=float)).any():
                raise ValueError(f"item {item}: '{FieldName.FEAT_STATIC_REAL}' contains NaN")
        if self.cardinality:
            cats = data.get(FieldName.FEAT_STATIC_CAT)
            cats = [] if cats is None else list(np.atleast_1d(cats))
            if len(cats) != len(self.cardinality):
                raise ValueError(
                    f"item {item}: '{FieldName.FEAT_STATIC_CAT}' has {len(cats)} "
                    f"values, the estimator declares cardinality {self.cardinality}"
                )
            for c, card in zip(cats, self.cardinality):
                if not 0 <= int(c) < card:
                    raise ValueError(
                        f"item {item}: '{FieldName.FEAT_STATIC_CAT}' value {c} "
                        f"outside [0, {card})"
                    )
        return data


class FusedTransformation(Transformation):
    """A chain of per-entry transformations run in one loop per entry.

    GluonTS's ``Chain`` nests one generator per transformation and each
    ``MapTransformation`` copies the entry dict before it runs: ~10 layers
    and copies per entry in this pipeline, about a sixth of the prediction
    pipeline's time at 100 sample paths. Here the entry is copied once and
    every ``MapTransformation``'s ``map_transform`` runs in turn; an optional
    final ``FlatMapTransformation`` (the instance splitter) is expanded
    with its ``flatmap_transform``. The output entries are the same as
    ``Chain(transformations)`` gives (tested); transformations of any other
    kind, or a flat map that is not last, fall back to ``Chain``.
    """

    @validated()
    def __init__(self, transformations: List[Transformation]) -> None:
        self.transformations = list(Chain(transformations).transformations)
        maps = self.transformations
        last = maps[-1] if maps and isinstance(maps[-1], FlatMapTransformation) else None
        if last is not None:
            maps = maps[:-1]
        fusable = all(isinstance(t, MapTransformation) for t in maps)
        self._maps = [t.map_transform for t in maps] if fusable else None
        self._flat = last.flatmap_transform if (fusable and last is not None) else None

    def __call__(self, data_it, is_train: bool):
        if self._maps is None:
            yield from Chain(self.transformations)(data_it, is_train)
            return
        maps, flat = self._maps, self._flat
        for entry in data_it:
            data = entry.copy()
            for f in maps:
                data = f(data, is_train)
            if flat is None:
                yield data
            else:
                yield from flat(data, is_train)


#: Field holding how many leading values :class:`TrimHistory` dropped.
AGE_OFFSET_FIELD = "age_offset"


class TrimHistory(MapTransformation):
    """At prediction time, drop the history the network never sees.

    The predictor only reads the last ``keep`` (= ``context_length``) target
    values, yet GluonTS's whole-series transformations (time features, age,
    observed indicator) would run over the entire history of each series:
    for a 1,000-step series and a 96-step window that is ~10x the work. This
    keeps the last ``keep`` values of the target and of the dynamic
    covariates (plus the horizon for known ones), moves ``start`` forward by
    the number of dropped values, and records that number in
    ``age_offset`` so :class:`AddOffsetAgeFeature` gives the same age values.
    Forecasts are identical to those from the untrimmed series (tested).
    Training entries (``is_train=True``) pass unchanged; the input entry is
    never modified in place.
    """

    @validated()
    def __init__(self, keep: int) -> None:
        if keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep}")
        self.keep = keep

    def map_transform(self, data: Dict[str, Any], is_train: bool) -> Dict[str, Any]:
        if is_train:
            return data
        target = np.asarray(data[FieldName.TARGET])
        cut = target.shape[-1] - self.keep
        if cut <= 0:
            return data
        out = dict(data)
        out[FieldName.TARGET] = target[..., cut:]
        out[FieldName.START] = data[FieldName.START] + cut
        for field in (FieldName.FEAT_DYNAMIC_REAL, FieldName.PAST_FEAT_DYNAMIC_REAL):
            value = data.get(field)
            if value is not None and np.size(value):
                out[field] = np.asarray(value)[..., cut:]
        out[AGE_OFFSET_FIELD] = cut + int(data.get(AGE_OFFSET_FIELD, 0))
        return out


class AddOffsetAgeFeature(AddAgeFeature):
    """GluonTS's ``AddAgeFeature`` counted from the series' true start:
    ``log10(2 + age_offset + i)`` where ``age_offset`` (default 0) is the
    number of leading values :class:`TrimHistory` dropped. The float32
    values equal those of the untrimmed series exactly (integers below 2**24
    are exact in float32)."""

    def map_transform(self, data: Dict[str, Any], is_train: bool) -> Dict[str, Any]:
        data = super().map_transform(data, is_train)
        offset = int(data.pop(AGE_OFFSET_FIELD, 0))
        if offset:
            length = data[self.feature_name].shape[-1]
            idx = np.arange(length, dtype=self.dtype) + self.dtype(offset)
            age = np.log10(2.0 + idx) if self.log_scale else idx
            data[self.feature_name] = age.reshape((1, length))
        return data


#: Largest calendar (time steps) :class:`CalendarTimeFeatures` keeps per
#: frequency; requests beyond it are computed directly (memory bound).
MAX_CALENDAR_LENGTH = 2_000_000


class CalendarTimeFeatures(AddTimeFeatures):
    """GluonTS's ``AddTimeFeatures`` served from a cached calendar.

    GluonTS builds a pandas ``period_range`` and evaluates every time feature
    on it for each entry: ~1 ms of pandas overhead per series, most of the
    prediction pipeline's time. Time features are element-wise functions of
    the timestamp, so this computes them once over a calendar (per
    frequency) spanning every requested range, grown as needed, and returns
    slices: the same float values as ``AddTimeFeatures`` (tested).
    """

    def _calendar(self, start, length: int) -> Optional[np.ndarray]:
        cache = self.__dict__.setdefault("_calendars", {})
        # ordinals count base units (minutes for "15min"): work in steps of
        # the frequency's multiple, one calendar per phase
        mult = max(int(getattr(start.freq, "n", 1)), 1)
        phase = start.ordinal % mult
        key = (start.freqstr, phase)
        s = start.ordinal // mult
        lo, arr = cache.get(key, (s, None))
        if arr is not None and lo <= s and s + length <= lo + arr.shape[1]:
            return arr[:, s - lo : s - lo + length]
        if arr is None:
            lo, hi = s, s + length
        else:  # cover old and new ranges, grown by half on each side that grew
            old_lo, old_hi, pad = lo, lo + arr.shape[1], arr.shape[1] // 2
            lo = min(old_lo, s - pad) if s < old_lo else old_lo
            hi = max(old_hi, s + length + pad) if s + length > old_hi else old_hi
        if hi - lo > MAX_CALENDAR_LENGTH:
            return None
        first = pd.Period(ordinal=lo * mult + phase, freq=start.freq)
        index = pd.period_range(first, periods=hi - lo, freq=start.freq)
        arr = np.vstack([feat(index) for feat in self.date_features]).astype(self.dtype)
        cache[key] = (lo, arr)
        return arr[:, s - lo : s - lo + length]

    def map_transform(self, data: Dict[str, Any], is_train: bool) -> Dict[str, Any]:
        start = data[self.start_field]
        if not self.date_features or not isinstance(start, pd.Period):
            return super().map_transform(data, is_train)
        length = target_transformation_length(data[self.target_field], self.pred_length, is_train=is_train)
        feats = self._calendar(start, length)
        if feats is None:
            return super().map_transform(data, is_train)
        data[self.output_field] = feats.copy()
        return data


class PredictionWindows(Transformation):
    """The estimators' prediction pipeline (``create_transformation()`` +
    the test splitter) computed in one short pass per entry.

    At prediction the pipeline's ~12 GluonTS steps do little work each
    (the last ``context_length`` values, their observed mask, calendar and
    age features, padding of short series) but cost ~50 us per entry in
    Python overhead: for small models that is about as much as the network
    itself. This builds the same fields directly: it reuses the pipeline's
    own objects for the per-entry pieces (``CheckCovariates``, time and age
    features, ``AsNumpyArray`` of the static fields, so errors are the
    same), and does the trimming, imputation, stacking, padding and layout
    in a few numpy operations. The output entries equal those of
    ``pipeline`` field by field, values and dtypes (tested over short,
    NaN, covariate-rich and multivariate entries). Training
    (``is_train=True``) runs ``pipeline`` itself.

    Parameters
    ----------
    pipeline
        The reference: ``FusedTransformation([create_transformation(),
        test splitter])`` of the estimator.
    context_length, prediction_length, target_ndim, time_features,
    use_age_feature, num_feat_dynamic_real, num_past_feat_dynamic_real,
    num_feat_static_real, cardinality
        The estimator's settings that shaped ``pipeline``.
    """

    @validated()
    def __init__(
        self,
        pipeline: Transformation,
        context_length: int,
        prediction_length: int,
        target_ndim: int,
        time_features: List[TimeFeature],
        use_age_feature: bool,
        num_feat_dynamic_real: int,
        num_past_feat_dynamic_real: int,
        num_feat_static_real: int,
        cardinality: List[int],
    ) -> None:
        self.pipeline = pipeline
        self.C, self.H = context_length, prediction_length
        self.target_ndim = target_ndim
        self.num_feat_dynamic_real = num_feat_dynamic_real
        self.num_past_feat_dynamic_real = num_past_feat_dynamic_real
        self._check = CheckCovariates(
            prediction_length=prediction_length,
            num_feat_dynamic_real=num_feat_dynamic_real,
            num_past_feat_dynamic_real=num_past_feat_dynamic_real,
            num_feat_static_real=num_feat_static_real,
            cardinality=cardinality,
        )
        self._as_target = AsNumpyArray(field=FieldName.TARGET, expected_ndim=target_ndim)
        if time_features:
            self._time = CalendarTimeFeatures(
                start_field=FieldName.START, target_field=FieldName.TARGET,
                output_field=FieldName.FEAT_TIME, time_features=time_features,
                pred_length=prediction_length,
            )
        else:
            self._time = AddConstFeature(
                output_field=FieldName.FEAT_TIME, target_field=FieldName.TARGET,
                pred_length=prediction_length, const=0.0,
            )
        self._age = AddOffsetAgeFeature(
            target_field=FieldName.TARGET, output_field=FieldName.FEAT_AGE,
            pred_length=prediction_length, log_scale=True,
        ) if use_age_feature else None
        self._past = AsNumpyArray(field=FieldName.PAST_FEAT_DYNAMIC_REAL, expected_ndim=2)
        self._static_real = AsNumpyArray(field=FieldName.FEAT_STATIC_REAL, expected_ndim=1)
        self._static_cat = AsNumpyArray(field=FieldName.FEAT_STATIC_CAT, expected_ndim=1, dtype=np.int64)
        self._default_real = None if num_feat_static_real else [0.0]
        self._default_cat = None if cardinality else [0]

    def __call__(self, data_it, is_train: bool):
        if is_train:
            yield from self.pipeline(data_it, is_train)
            return
        for entry in data_it:
            yield self._window(entry)

    @staticmethod
    def _left_pad(x: np.ndarray, pad: int) -> np.ndarray:
        """The splitter's padding: ``pad`` zeros (x's dtype) before the last axis."""
        if pad <= 0:
            return x
        return np.concatenate([np.zeros(x.shape[:-1] + (pad,), dtype=x.dtype), x], axis=-1)

    def _window(self, entry: Dict[str, Any]) -> Dict[str, Any]:
        C, H = self.C, self.H
        self._check.map_transform(entry, False)  # raises on covariate mismatches
        target = np.asarray(entry[FieldName.TARGET], dtype=np.float32)
        if target.ndim != self.target_ndim:  # GluonTS's own error
            self._as_target.transform({FieldName.TARGET: entry[FieldName.TARGET]})
        T = target.shape[-1]
        L = min(T, C)
        cut, pad = T - L, C - L
        tail = target[..., cut:]
        nan = np.isnan(tail)
        values = tail
        if nan.any():  # AddObservedValuesIndicator's dummy-value imputation
            values = tail.copy()
            values[nan] = 0.0
        observed = np.invert(nan).astype(np.float32, copy=False)
        start = entry[FieldName.START]
        trimmed_start = start + cut if cut > 0 else start
        part = {FieldName.START: trimmed_start, FieldName.TARGET: tail}
        known = [self._time.map_transform(dict(part), False)[FieldName.FEAT_TIME]]
        if self._age is not None:
            aged = dict(part)
            if cut > 0:  # as TrimHistory records it
                aged[AGE_OFFSET_FIELD] = cut
            known.append(self._age.map_transform(aged, False)[FieldName.FEAT_AGE])
        if self.num_feat_dynamic_real:
            dyn = entry[FieldName.FEAT_DYNAMIC_REAL]
            known.append(np.asarray(dyn)[..., cut:] if cut > 0 else dyn)
        known = np.vstack(known)  # (n_known, L + H)
        out = {
            FieldName.FEAT_STATIC_CAT: self._static_cat.transform({
                FieldName.FEAT_STATIC_CAT: entry.get(FieldName.FEAT_STATIC_CAT)
                if self._default_cat is None else self._default_cat
            })[FieldName.FEAT_STATIC_CAT],
            FieldName.FEAT_STATIC_REAL: self._static_real.transform({
                FieldName.FEAT_STATIC_REAL: entry.get(FieldName.FEAT_STATIC_REAL)
                if self._default_real is None else self._default_real
            })[FieldName.FEAT_STATIC_REAL],
            f"past_{FieldName.TARGET}": self._left_pad(values, pad).transpose(),
            f"past_{FieldName.OBSERVED_VALUES}": self._left_pad(observed, pad).transpose(),
            FieldName.FEAT_DYNAMIC_REAL: np.concatenate(
                [self._left_pad(known[..., :L], pad), known[..., L : L + H]], axis=-1
            ).transpose(),
        }
        if self.num_past_feat_dynamic_real:
            past = entry[FieldName.PAST_FEAT_DYNAMIC_REAL]
            past = self._past.transform({FieldName.PAST_FEAT_DYNAMIC_REAL: np.asarray(past)[..., cut:]
                                         if cut > 0 else past})[FieldName.PAST_FEAT_DYNAMIC_REAL]
            out[FieldName.PAST_FEAT_DYNAMIC_REAL] = self._left_pad(past[..., :L], pad).transpose()
        out[FieldName.FORECAST_START] = trimmed_start + L
        for field in (FieldName.ITEM_ID, "info"):
            if field in entry:
                out[field] = entry[field]
        return out


#: Smallest default encoder window (past values seen at each forecast
#: creation time), see ``MQCNNEstimator``'s ``context_length``.
MIN_CONTEXT_LENGTH = 100


class MQCNNEstimator(PyTorchLightningEstimator):
    """MQ-CNN (Wen et al. 2017) with a distribution head, default IQF.

    Parameters
    ----------
    freq
        Pandas frequency of the data (for time features).
    prediction_length
        Horizon ``H``.
    context_length
        Encoder window (default ``max(2 * H, num_seasonal_lags *
        season_length, MIN_CONTEXT_LENGTH)``: every seasonal lag lies in the
        window, and the level and change scales and the encoder see at least
        100 past values; shorter series are padded and masked). Measured at
        400 steps (4 seeds, wQL / best baseline) with the spread scale: 100
        instead of 2H or the seasonal lags gave tourism_monthly 0.90 vs 0.92
        (context 60), tourism_quarterly 1.09 vs 1.12 (20), m4_weekly 0.95 vs
        1.01 (26), at ~0-15 % more time per step; 150 (2 seeds) was no better.
    num_forking
        Forecast creation times per training window: the last
        ``num_forking`` positions (default ``min(context_length, 4)``; set it
        to ``context_length`` for every position, as the MXNet MQ-CNN, at a
        proportional cost per step. Measured at 400 steps: 8 creation times
        gave a lower test wQL than 24 on M4 hourly and tourism monthly; over
        2 seeds x 5 benchmark datasets, the geometric mean of wQL / best
        baseline was 1.091 with 2, 1.090 with 4 and 1.101 with 8, and a
        step with 4 took ~30 % less time than with 8 on tourism monthly).
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
    num_feat_dynamic_real
        Dataset covariates known in the future (``feat_dynamic_real``).
    num_past_feat_dynamic_real
        Dataset covariates known only in the past.
    num_feat_static_real
        Static real features.
    cardinality, embedding_dimension
        Static categorical features (default embedding size
        ``min(50, (c + 1) // 2)``).
    time_features
        GluonTS time features (default: from ``freq``; ``[]`` for none).
    use_age_feature
        Add GluonTS's log-age feature.
    scaling
        Causal mean-absolute scaling.
    loss_units
        ``"volume"`` (default): the loss is divided by the batch's mean
        scale, so series weigh in proportion to their scale, as in the
        weighted quantile loss, with an O(1) loss for the optimiser (measured
        at 400 steps: lower wQL than "scaled" on 4 of 5 benchmark datasets);
        ``"scaled"``: the loss of each creation time is divided by its scale
        so every series weighs alike, as a likelihood does; ``"data"``: loss
        in the target's units (large series dominate, loss magnitude varies
        by batch).
    history_window
        Recent target values the decoder sees directly before each creation
        time (default ``context_length``; 0 = only the encoding, as the MXNet
        MQ-CNN).
    season_length
        Seasonal period used for the seasonal-lag inputs (default: GluonTS's
        ``get_seasonality(freq)``: 24 hourly, 12 monthly, 4 quarterly, 1 for
        daily and weekly data, where the lags are the most recent values).
        Weekly data with a yearly season: on M4 weekly at 400 steps (wQL /
        AutoETS) the default season of 1 is the better choice: 0.95 with the
        current defaults (4 seeds), against 1.17 and 1.29 (2 seeds) for
        ``season_length=52`` with ``num_seasonal_lags=1`` at contexts 60 and
        104. (Before the spread scale and the 100-value context, season 52
        with one seasonal lag had been slightly better than season 1: 1.06-1.09
        against 1.10.)
    num_seasonal_lags
        Each horizon step's local MLP sees the values of its seasonal phase in
        the last ``num_seasonal_lags`` seasons before the creation time
        (scaled, with observed flags; default 12; 0 = off). Lags older than
        the context window count as unobserved. Measured at 400 steps with
        the per-step fitted location (wQL / best baseline; 4 seeds for 5, 8
        and 12 lags, 2 for the others): tourism_quarterly 1.016 (5 lags),
        0.991 (8), 0.990 (10), 0.977 (12), 0.985 (16), 0.972 (24);
        ett_small_1h 1.085, 1.048, 1.047, 1.034, 1.053, 1.064; m4_hourly
        0.820, 0.826, 0.867, 0.861, 0.868; tourism_monthly 0.894, 0.905,
        0.924, 0.902, 0.906, 0.960; m4_weekly 0.958, 0.949, 0.968, 0.964,
        0.953. 12 lags are the best on the two datasets where a baseline is
        closest (every seed below AutoETS on tourism_quarterly); m4_hourly,
        far ahead of every baseline, loses ~5 %. (Before the spread scale and
        the fitted location, 2 seeds: 3 lags 1.128, 5 lags 1.106, 7 lags
        1.118.)
    num_recent_lags
        Each step's seasonal lags are extended by the ``num_recent_lags`` most
        recent values before the creation time and the values one season
        before those (scaled, with observed flags; default 2; 0 = off; none
        when ``season_length`` is 1, where the seasonal lags already are the
        most recent values), so the seasonal location can add the latest
        change over a season to the seasonal-naive value (a trend or level
        shift). Measured at 400 steps (4 seeds x 5 datasets, wQL / best
        baseline, geometric mean): 1.080 without, 1.055 with 1, 1.046 with 2
        (ett_small_1h 1.22 -> 1.11, m4_hourly 0.97 -> 0.94, tourism_monthly
        0.96 -> 0.95, tourism_quarterly 1.17 -> 1.16, m4_weekly unchanged).
    seasonal_loc
        Shift each step's distribution by a learned linear combination of its
        seasonal lags (times the scale), started at the seasonal-naive value
        (weight 1 on the most recent lag): the network learns the residual to
        the seasonal-naive forecast (default True; needs
        ``num_seasonal_lags >= 1``).
    seasonal_loc_init
        ``"last"`` (default): the location starts as the seasonal-naive value;
        ``"mean"``: as the mean of the seasonal lags. Measured at 400 steps
        (2 seeds x 5 datasets), "last" gave the lower wQL here.
    seasonal_loc_per_step
        One combination of the seasonal and recent lags per horizon step
        instead of one shared by all steps (default True): the first steps
        can lean on the latest values, the later ones on the seasonal lags.
        Measured with the fitted start (``seasonal_loc_fit_batches``) at 400
        steps (4 seeds x 5 datasets, wQL / best baseline): geometric mean
        0.950 per step vs 0.979 shared; m4_hourly 0.820 vs 0.884,
        tourism_monthly 0.894 vs 0.918, ett_small_1h 1.085 vs 1.135,
        tourism_quarterly 1.016 vs 1.010 and m4_weekly 0.958 vs 0.968 (within
        the seeds' spread).
    seasonal_loc_fit_batches
        Before the first training step the seasonal location (its weights on
        the lags and its bias) is fitted by a median regression of the scaled
        targets on the scaled lag features of this many training batches
        (every creation time and horizon step), pulled toward the
        seasonal-naive start (``MQCNNModel.fit_seasonal_location``); the
        network then learns the residual of that fit. 0 keeps the
        seasonal-naive start. Measured at 400 steps (4 seeds, wQL / best
        baseline) with 20 batches: tourism_quarterly 1.01 vs 1.09, m4_hourly
        0.88 vs 0.90, tourism_monthly 0.92 vs 0.90, m4_weekly 0.97 vs 0.95,
        ett_small_1h 1.13 vs 1.13 (geometric mean 0.979 vs 0.989); a
        least-squares fit instead was much worse on m4_weekly and ett
        (heavy-tailed residuals).
    spread_exponent, learn_spread_exponent
        The forecast distribution's scale (its unit of spread) is
        ``level ** (1 - a) * change ** a``: ``level`` the mean absolute value
        before the creation time (the scale of the inputs), ``change`` the
        mean absolute one-step change there, ``a = spread_exponent`` in
        [0, 1], learned from that start when ``learn_spread_exponent``
        (default 0.5, learned). Two series of equal size can move very
        differently; with the change in the scale the network's outputs are
        relative to how much a series moves, not only to how large it is.
        ``spread_exponent=0, learn_spread_exponent=False`` gives the level
        scale alone. Measured at 400 steps (4 seeds x the 5 benchmark
        datasets, wQL / best baseline, geometric mean; with the earlier
        default context ``max(2H, seasonal lags)``): 1.010 learned from
        0.5 (fixed 0.5: 1.010) vs 1.046 with the level scale (m4_hourly 0.90
        vs 0.94, tourism_monthly 0.92 vs 0.95, tourism_quarterly 1.12 vs
        1.16, m4_weekly 1.01 vs 1.10, ett_small_1h 1.13 vs 1.11); the change
        scale alone (``a = 1``, 2 seeds) 1.026.
    lr_schedule
        ``"cosine"`` (default; decays to 1% of ``lr`` over the planned steps)
        or ``"plateau"`` (ReduceLROnPlateau with ``patience``). With the
        cosine schedule and no validation data the trained predictor keeps
        the final weights, not GluonTS's epoch of lowest training loss (a
        noisy in-sample pick; see ``MQCNNLightningModule.on_train_end``).
    lr, weight_decay, patience
        Optimiser settings (default lr 3e-3: the forking loss averages many
        creation times, so its gradients are less noisy than one window's).
    batch_size, num_batches_per_epoch
        Training loop.
    predict_batch_size
        Series per batch at prediction time (default 256). Independent of
        the training batch: inference keeps no activations for a backward
        pass, and fewer, larger batches cut the per-batch overhead (the
        network's ~100 small operations, the batch assembly); forecasts do
        not depend on it except through the random stream of sample paths.
    trainer_kwargs
        Passed to ``lightning.Trainer`` (default ``max_epochs=100``).
    cache_data
        Keep the transformed training (and validation) series in memory after
        their first pass (default True), so time features and the other
        whole-series transformations run once per series instead of once per
        sampled window (GluonTS's ``train(cache_data=...)`` does the same, off
        by default). Set False for datasets too large to hold in memory.
        With the default kind of training sampler, cached training windows
        are cut by :class:`~gluonts_iqf.model.mqcnn.windows.TrainingWindows`
        (the splitter's windows, drawn independently, in a few array
        operations per batch instead of ~2 ms of Python per batch of 32).
    train_sampler, validation_sampler
        GluonTS instance samplers (default training sampler GluonTS's
        ``ExpectedNumInstanceSampler(num_instances=1, min_future=H)``).
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
        loss_units: str = "volume",
        season_length: Optional[int] = None,
        num_seasonal_lags: int = 12,
        num_recent_lags: int = 2,
        seasonal_loc: bool = True,
        seasonal_loc_init: str = "last",
        seasonal_loc_per_step: bool = True,
        seasonal_loc_fit_batches: int = 20,
        spread_exponent: float = 0.5,
        learn_spread_exponent: bool = True,
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
        predict_batch_size: int = 256,
    ) -> None:
        trainer_kwargs = {"max_epochs": 100, **(trainer_kwargs or {})}
        super().__init__(trainer_kwargs=trainer_kwargs)
        if prediction_length < 1:
            raise ValueError(f"prediction_length must be >= 1, got {prediction_length}")
        self.freq = freq
        self.prediction_length = prediction_length
        self.season_length = get_seasonality(freq) if season_length is None else season_length
        self.num_seasonal_lags = num_seasonal_lags
        check_seasonal_lags(self.season_length, num_seasonal_lags, num_recent_lags)
        self.num_recent_lags = num_recent_lags
        self.context_length = context_length or max(
            2 * prediction_length, num_seasonal_lags * self.season_length, MIN_CONTEXT_LENGTH
        )
        self.num_forking = num_forking or min(self.context_length, 4)
        if not 1 <= self.num_forking <= self.context_length:
            raise ValueError(
                f"num_forking must be in [1, context_length={self.context_length}], "
                f"got {self.num_forking}"
            )
        self.distr_output = distr_output if distr_output is not None else IQFOutput()
        self.channels_seq = list(channels_seq or [30, 30, 30])
        self.dilation_seq = list(dilation_seq or [1, 3, 9])
        self.kernel_size_seq = list(kernel_size_seq or [7, 3, 3])
        self.use_residual = use_residual
        self.decoder_mlp_dim_seq = list(decoder_mlp_dim_seq or [30])
        self.local_context_dim = local_context_dim
        self.agnostic_context_dim = agnostic_context_dim
        self.local_mlp_dim_seq = list(local_mlp_dim_seq or [30])
        self.num_feat_dynamic_real = num_feat_dynamic_real
        self.num_past_feat_dynamic_real = num_past_feat_dynamic_real
        self.num_feat_static_real = num_feat_static_real
        self.cardinality = list(cardinality or [])
        self.embedding_dimension = list(
            embedding_dimension or [min(50, (c + 1) // 2) for c in self.cardinality]
        )
        if len(self.embedding_dimension) != len(self.cardinality):
            raise ValueError(
                f"embedding_dimension {self.embedding_dimension} does not match "
                f"cardinality {self.cardinality}"
            )
        self.time_features = (
            time_features_from_frequency_str(freq) if time_features is None else list(time_features)
        )
        self.use_age_feature = use_age_feature
        self.scaling = scaling
        self.history_window = self.context_length if history_window is None else history_window
        self.loss_units = loss_units
        self.seasonal_loc = seasonal_loc
        self.seasonal_loc_init = seasonal_loc_init
        self.seasonal_loc_per_step = seasonal_loc_per_step
        check_fit_batches(seasonal_loc_fit_batches)
        self.seasonal_loc_fit_batches = seasonal_loc_fit_batches
        check_spread_exponent(spread_exponent)
        self.spread_exponent = spread_exponent
        self.learn_spread_exponent = learn_spread_exponent
        self.lr = lr
        self.weight_decay = weight_decay
        self.patience = patience
        self.lr_schedule = lr_schedule
        # fail at construction, not at the start of training
        check_choice("loss_units", loss_units, LOSS_UNITS)
        check_choice("seasonal_loc_init", seasonal_loc_init, SEASONAL_LOC_INITS)
        check_choice("lr_schedule", lr_schedule, LR_SCHEDULES)
        self.batch_size = batch_size
        self.num_batches_per_epoch = num_batches_per_epoch
        self.cache_data = cache_data
        if predict_batch_size < 1:
            raise ValueError(f"predict_batch_size must be >= 1, got {predict_batch_size}")
        self.predict_batch_size = predict_batch_size
        self.train_sampler = train_sampler or ExpectedNumInstanceSampler(
            num_instances=1.0, min_future=prediction_length
        )
        self.validation_sampler = validation_sampler or ValidationSplitSampler(
            min_future=prediction_length
        )

    #: 1 for univariate targets (T,); multivariate subclasses use 2 (dim, T)
    _target_ndim = 1

    #: Draw training batches with :class:`TrainingWindows` where the sampler
    #: allows (see :meth:`create_training_data_loader`); subclasses may keep
    #: GluonTS's splitter stream.
    training_windows = True

    # number of known covariate rows: time features, age, dataset covariates
    @property
    def _num_known(self) -> int:
        return max(len(self.time_features), 1) + int(self.use_age_feature) + self.num_feat_dynamic_real

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

    def input_names(self) -> List[str]:
        names = list(PREDICTION_INPUTS)
        if self.num_past_feat_dynamic_real:
            names.append(FieldName.PAST_FEAT_DYNAMIC_REAL)
        return names

    def create_lightning_module(self) -> MQCNNLightningModule:
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
            ),
            input_names=self.input_names(),
            lr=self.lr,
            weight_decay=self.weight_decay,
            patience=self.patience,
            lr_schedule=self.lr_schedule,
            num_batches_per_epoch=self.num_batches_per_epoch,
            seasonal_loc_fit_batches=self.seasonal_loc_fit_batches if self.seasonal_loc else 0,
        )

    def _cached(self, data: Dataset) -> Dataset:
        """The transformed series, kept in memory after their first pass
        when ``cache_data`` (see the class docstring)."""
        return Cached(data) if self.cache_data and not isinstance(data, Cached) else data

    def create_training_data_loader(
        self, data: Dataset, module: MQCNNLightningModule, shuffle_buffer_length: Optional[int] = None, **kwargs
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

    def create_validation_data_loader(self, data: Dataset, module: MQCNNLightningModule, **kwargs):
        instances = self._splitter("validation").apply(self._cached(data), is_train=True)
        return as_stacked_batches(
            instances,
            batch_size=self.batch_size,
            field_names=self.input_names() + TARGET_INPUTS,
            output_type=torch.tensor,
        )

    def create_predictor(
        self, transformation: Transformation, module: MQCNNLightningModule
    ) -> PyTorchPredictor:
        return PyTorchPredictor(
            input_transform=self._prediction_transform(transformation),
            input_names=self.input_names(),
            prediction_net=module,
            batch_size=self.predict_batch_size,
            prediction_length=self.prediction_length,
            device="auto",
            forecast_generator=self.distr_output.forecast_generator,
        )
