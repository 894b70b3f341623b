"""GluonTS transformations of the forking pipelines: the fused chain,
the calendar features, the history trim and its age feature."""

import numpy as np
import pandas as pd
import pytest

from gluonts_iqf import MQCNNEstimator, datasets
from gluonts_iqf.model._forking.transform import (
    AddOffsetAgeFeature,
    CalendarTimeFeatures,
    FusedTransformation,
    TrimHistory,
)

H = 48


@pytest.fixture(scope="module")
def m4():
    ds = datasets.load("m4_hourly")
    return list(ds.train)[:6], list(ds.test)[:6]


@pytest.mark.parametrize("is_train", [False, True])
def test_fused_transformation_equals_chain(m4, is_train):
    """FusedTransformation (one loop, one copy per entry) gives the same
    entries as GluonTS's Chain of the same steps, for the prediction
    pipeline and for a training splitter with a fixed sampler; the caller's
    entries are not modified; a chain with a non-map step in the middle
    falls back to Chain; it survives serde."""
    from gluonts.core import serde
    from gluonts.transform import Chain, SelectFields


    est = MQCNNEstimator(freq="h", prediction_length=H, num_feat_dynamic_real=0)
    steps = [est.create_transformation(), est._splitter("validation" if is_train else "test")]
    entries = [dict(e) for e in m4[0][:6]]
    lengths = [len(e["target"]) for e in entries]
    chained = list(Chain(steps)(iter(entries), is_train=is_train))
    fused_t = FusedTransformation(steps)
    fused = list(fused_t(iter(entries), is_train=is_train))
    assert fused_t._maps is not None and len(chained) == len(fused) == 6
    for a, b in zip(chained, fused):
        assert a.keys() == b.keys()
        for k in a:
            if isinstance(a[k], np.ndarray):
                np.testing.assert_array_equal(a[k], b[k])
            else:
                assert a[k] == b[k]
    assert [len(e["target"]) for e in entries] == lengths and "past_target" not in entries[0]
    prepared = list(steps[0](iter(entries[:2]), is_train=is_train))
    mixed = FusedTransformation([steps[1], SelectFields(["past_target"], allow_missing=True)])
    assert mixed._maps is None  # the splitter is not last: Chain's behaviour
    out = list(mixed(iter(prepared), is_train=is_train))
    assert [set(e) for e in out] == [{"past_target"}] * 2
    np.testing.assert_array_equal(out[0]["past_target"], chained[0]["past_target"])
    again = serde.decode(serde.encode(fused_t))
    assert isinstance(again, FusedTransformation) and len(again.transformations) == len(fused_t.transformations)


@pytest.mark.parametrize("freq", ["h", "D", "W", "M", "Q", "15min", "2h", "5min"])
def test_calendar_time_features_equal_gluonts(freq):
    """CalendarTimeFeatures (cached calendar, sliced) returns exactly what
    GluonTS's AddTimeFeatures computes per entry, for ranges before, inside,
    after and around the cached calendar, in training and prediction mode."""
    from gluonts.time_feature import time_features_from_frequency_str
    from gluonts.transform import AddTimeFeatures


    kw = dict(start_field="start", target_field="target", output_field="time",
              time_features=time_features_from_frequency_str(freq), pred_length=7)
    ours, ref = CalendarTimeFeatures(**kw), AddTimeFeatures(**kw)
    bases = [pd.Period("2015-03-01 00:00", freq=freq)]
    if "min" in freq:  # a start off the multiple's grid: its own calendar
        bases.append(pd.Period("2015-03-01 00:07", freq=freq))
    rng = np.random.default_rng(0)
    cases = [(0, 50), (10, 20), (-30, 40), (60, 100), (-200, 500), *zip(rng.integers(-300, 300, 20), rng.integers(1, 400, 20))]
    for base, (offset, length) in [(b, c) for c in cases for b in bases]:
        entry = {"start": base + int(offset), "target": np.zeros(int(length), dtype=np.float32)}
        for is_train in (True, False):
            got = ours.map_transform(dict(entry), is_train)["time"]
            want = ref.map_transform(dict(entry), is_train)["time"]
            assert got.dtype == want.dtype and got.shape == want.shape
            np.testing.assert_array_equal(got, want)


def test_trim_history_keeps_the_age_feature():
    """TrimHistory keeps the last ``keep`` values, moves the start and
    records the cut; AddOffsetAgeFeature then gives the untrimmed entry's
    age values; training entries pass unchanged; keep < 1 fails."""


    age = AddOffsetAgeFeature(target_field="target", output_field="age", pred_length=H)
    e = {"target": np.arange(500, dtype=np.float32), "start": pd.Period("2020-01-01 00:00", freq="h")}
    full_age = age.map_transform(dict(e), is_train=False)["age"]
    cut = TrimHistory(keep=96).map_transform(dict(e), is_train=False)
    assert cut["age_offset"] == 404 and len(cut["target"]) == 96 and cut["start"] == e["start"] + 404
    np.testing.assert_array_equal(age.map_transform(cut, is_train=False)["age"], full_age[:, 404:])
    assert TrimHistory(keep=96).map_transform(dict(e), is_train=True)["target"].shape == (500,)
    with pytest.raises(ValueError, match="keep"):
        TrimHistory(keep=0)
