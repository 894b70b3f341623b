"""The forking estimators' prediction pipeline in one short pass per entry."""

from typing import Any, Dict, List

import numpy as np

from gluonts.core.component import validated
from gluonts.dataset.field_names import FieldName
from gluonts.time_feature import TimeFeature
from gluonts.transform import AddConstFeature, AsNumpyArray, Transformation

from .transform import AGE_OFFSET_FIELD, AddOffsetAgeFeature, CalendarTimeFeatures, CheckCovariates


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


