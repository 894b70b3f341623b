"""GluonTS transformations of the forking estimators' pipelines, usable with
any GluonTS estimator: covariate checks, the history trim and the age feature
that survives it, calendar time features from a cached calendar, and a fused
chain of per-entry transformations."""

from typing import Any, Dict, List, Optional

import numpy as np
import pandas as pd

from gluonts.core.component import validated
from gluonts.dataset.field_names import FieldName
from gluonts.transform import (
    AddAgeFeature,
    AddTimeFeatures,
    Chain,
    FlatMapTransformation,
    MapTransformation,
    Transformation,
)
from gluonts.transform.feature import target_transformation_length


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


