"""PredictionWindows, the forking estimators' one-pass prediction input, against
the GluonTS pipeline it replaces."""

import numpy as np
import pandas as pd
import pytest

from gluonts_iqf import MQCNNEstimator, MQF2Estimator
from gluonts_iqf.model._forking.prediction import PredictionWindows
from gluonts_iqf.model._forking.transform import FusedTransformation

H = 48


def _entry(target, item, start="2020-01-01 00:00", **extra):
    return {"target": np.asarray(target, dtype=np.float32), "start": pd.Period(start, freq="h"), "item_id": item, **extra}


def _prediction_cases():
    """(estimator kwargs, entries) covering long, short (padded), NaN, int
    item ids, info, every covariate kind, no time/age features, 2-hourly
    frequency, and a multivariate MQF2 target."""


    rng = np.random.default_rng(5)
    noisy = rng.normal(50, 5, 400).astype(np.float32)
    noisy[rng.random(400) < 0.2] = np.nan
    plain = [_entry(noisy, "nan"), _entry(noisy[:30], 3), _entry(np.arange(96.0), "exact"),
             dict(_entry(noisy[-120:], "info"), info={"k": 1}), _entry(noisy[:1], "one")]
    T = 150
    cov = []
    for i, t in enumerate([T, 40]):
        cov.append(_entry(rng.normal(size=t), f"c{i}", feat_dynamic_real=rng.normal(size=(2, t + H)),
                          past_feat_dynamic_real=rng.normal(size=(1, t)).astype(np.float32),
                          feat_static_real=[float(i), 2], feat_static_cat=[i % 3]))
    multi = [{"target": rng.normal(size=(2, n)).astype(np.float32), "start": pd.Period("2020-01-01", freq="2h"),
              "item_id": f"m{n}"} for n in (200, 20)]
    return [
        (MQCNNEstimator, dict(freq="h", prediction_length=H), plain),
        (MQCNNEstimator, dict(freq="h", prediction_length=H, time_features=[], use_age_feature=False), plain),
        (MQCNNEstimator, dict(freq="h", prediction_length=H, num_feat_dynamic_real=2, num_past_feat_dynamic_real=1,
                              num_feat_static_real=2, cardinality=[3]), cov),
        (MQF2Estimator, dict(freq="2h", prediction_length=6, target_dim=2), multi),
    ]


@pytest.mark.parametrize("case", range(4))
def test_prediction_windows_equal_the_gluonts_pipeline(case):
    """PredictionWindows (the predictor's one-pass input builder) gives the
    entries of the GluonTS pipeline it replaces, field by field, values and
    dtypes; a custom transformation passed to create_predictor is used as
    given; training delegates to the pipeline; serde keeps it."""
    from gluonts.core import serde
    from gluonts.transform import Chain


    cls, kwargs, entries = _prediction_cases()[case]
    est = cls(**kwargs)
    pw = est._prediction_transform(est.create_transformation())
    assert isinstance(pw, PredictionWindows)
    ref = list(Chain([est.create_transformation(), est._splitter("test")])(iter(entries), is_train=False))
    got = list(pw(iter(entries), is_train=False))
    assert len(ref) == len(got) == len(entries)
    keys = set(est.input_names()) | {"forecast_start", "item_id", "info"}
    for a, b in zip(ref, got):
        assert {k for k in a if k in keys} == set(b)
        for k in b:
            if isinstance(a[k], np.ndarray):
                assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
                np.testing.assert_array_equal(a[k], b[k], err_msg=k)
            else:
                assert a[k] == b[k] and type(a[k]) is type(b[k]), k
    # a different transformation is run as given
    steps = est.create_transformation().transformations[1:]
    assert isinstance(est._prediction_transform(Chain(steps)), FusedTransformation)
    if case != 2:  # training entries (covariates as long as the target) come from the pipeline itself
        train_ref = list(Chain([est.create_transformation(), est._splitter("test")])(iter(entries[:2]), is_train=True))
        train_got = list(pw(iter(entries[:2]), is_train=True))
        assert [set(e) for e in train_ref] == [set(e) for e in train_got]
        np.testing.assert_array_equal(train_ref[0]["past_target"], train_got[0]["past_target"])
    again = serde.decode(serde.encode(pw))
    assert [e.keys() for e in again(iter(entries[:2]), is_train=False)] == [e.keys() for e in got[:2]]


def test_prediction_windows_raise_the_pipeline_errors():
    """Bad entries raise the same errors through PredictionWindows."""
    est = MQCNNEstimator(freq="h", prediction_length=H, num_feat_dynamic_real=1)
    pw = est._prediction_transform(est.create_transformation())
    with pytest.raises(ValueError, match="no 'feat_dynamic_real'"):
        list(pw(iter([_entry(np.arange(100.0), "x")]), is_train=False))
    bad = _entry(np.arange(100.0), "y", feat_dynamic_real=np.zeros((1, 100 + H)))
    bad["target"] = np.zeros((2, 100), dtype=np.float32)
    with pytest.raises(Exception) as ref_err:
        list(est.create_transformation()(iter([dict(bad)]), is_train=False))
    with pytest.raises(type(ref_err.value)):
        list(pw(iter([dict(bad)]), is_train=False))
