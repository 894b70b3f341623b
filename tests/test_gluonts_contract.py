"""GluonTS's estimator contract (the cases of GluonTS's own
``test/torch/model/test_estimators.py`` and its incremental-training test),
run over our estimators and GluonTS's torch estimators with ``IQFOutput``.

Every estimator must: train on GluonTS's artificial ``constant`` dataset,
with and without validation data; train on the covariate-rich toy entries of
that test (static categorical and real features, dynamic real features, and
fields no model reads), here also with past-only dynamic features; survive
serialize -> deserialize with ``predictor == copy`` and identical weights;
predict from the copy; and warm-start with ``train_from``. Networks are tiny
and trained for 3 batches: the contract is about plumbing, not accuracy.
"""

import tempfile
from itertools import islice
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from gluonts.dataset.repository import get_dataset
from gluonts.model.forecast import SampleForecast
from gluonts.model.predictor import Predictor
from gluonts.torch import (
    DeepAREstimator,
    PatchTSTEstimator,
    TemporalFusionTransformerEstimator,
    TiDEEstimator,
)
from gluonts.torch.model.forecast import DistributionForecast

from gluonts_iqf import IQFOutput, MQCNNEstimator, MQF2Estimator, QuantileFunctionForecast

ESTIMATORS = ["mqcnn", "mqf2", "deepar", "tft", "patchtst", "tide"]

#: Covariate kinds of the toy entries, and the data field each one lives in.
KINDS = {
    "static_cat": "feat_static_cat",
    "static_real": "feat_static_real",
    "dynamic_real": "feat_dynamic_real",
    "past_dynamic_real": "past_feat_dynamic_real",
}

#: Covariate kinds an estimator cannot take, with the limitation that stops it.
UNSUPPORTED = {
    "deepar": {"past_dynamic_real": "DeepAREstimator has no past-only dynamic features"},
    "tide": {"past_dynamic_real": "TiDEEstimator has no past-only dynamic features"},
    "patchtst": {
        "static_cat": "PatchTSTEstimator has no static features",
        "static_real": "PatchTSTEstimator has no static features",
        "past_dynamic_real": "PatchTSTEstimator has no past-only dynamic features",
    },
}

FEATURES_FREQ = "1h"
FEATURES_H = 12


def trainer_kwargs(root):
    return dict(
        max_epochs=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        logger=False,
        default_root_dir=str(root),
    )


def make_estimator(name, freq, prediction_length, root, features=False, **overrides):
    """A tiny estimator ``name`` (3 batches of 4 windows, small network);
    with ``features``, every covariate kind it supports is declared as the
    toy entries hold them: 2 static categories of cardinality 2, 1 static
    real, 3 dynamic real, 2 past-only dynamic real."""
    common = dict(
        prediction_length=prediction_length,
        batch_size=4,
        num_batches_per_epoch=3,
        trainer_kwargs=trainer_kwargs(root),
    )
    common.update(overrides)
    if name in ("mqcnn", "mqf2"):
        cov = dict(cardinality=[2, 2], num_feat_static_real=1, num_feat_dynamic_real=3,
                   num_past_feat_dynamic_real=2) if features else {}
        forking = dict(freq=freq, context_length=2 * prediction_length, channels_seq=[8, 8, 8],
                       decoder_mlp_dim_seq=[8], num_seasonal_lags=1, **cov, **common)
        if name == "mqcnn":
            return MQCNNEstimator(local_context_dim=8, agnostic_context_dim=8, local_mlp_dim_seq=[8],
                                  seasonal_loc_fit_batches=2, **forking)
        return MQF2Estimator(hidden_dim=8, context_dim=8, es_num_samples=8, num_parallel_samples=20,
                             **forking)
    common["distr_output"] = IQFOutput()
    if name == "deepar":
        cov = dict(num_feat_static_cat=2, cardinality=[2, 2], num_feat_static_real=1,
                   num_feat_dynamic_real=3) if features else {}
        return DeepAREstimator(freq=freq, num_layers=1, hidden_size=8, dropout_rate=0.0, num_parallel_samples=20,
                               **cov, **common)
    if name == "tft":
        cov = dict(static_cardinalities=[2, 2], static_dims=[1], dynamic_dims=[3],
                   past_dynamic_dims=[2]) if features else {}
        return TemporalFusionTransformerEstimator(freq=freq, hidden_dim=8, variable_dim=8, num_heads=2,
                                                  **cov, **common)
    if name == "patchtst":
        cov = dict(num_feat_dynamic_real=3) if features else {}
        return PatchTSTEstimator(patch_len=4, stride=4, context_length=4 * prediction_length, d_model=8,
                                 nhead=2, dim_feedforward=16, num_encoder_layers=1, **cov, **common)
    if name == "tide":
        cov = dict(num_feat_static_cat=2, cardinality=[2, 2], num_feat_static_real=1,
                   num_feat_dynamic_real=3) if features else {}
        return TiDEEstimator(freq=freq, feat_proj_hidden_dim=4, encoder_hidden_dim=8, decoder_hidden_dim=8,
                             temporal_hidden_dim=8, distr_hidden_dim=4, decoder_output_dim=4, **cov, **common)
    raise KeyError(name)


def round_trip(predictor):
    """Serialize -> deserialize; the copy equals the original (GluonTS's
    structural ``==``, constructor arguments) and holds the same weights."""
    with tempfile.TemporaryDirectory() as td:
        predictor.serialize(Path(td))
        copy = Predictor.deserialize(Path(td))
    assert predictor == copy
    assert type(copy.prediction_net) is type(predictor.prediction_net)
    state, state_copy = predictor.prediction_net.state_dict(), copy.prediction_net.state_dict()
    assert state.keys() == state_copy.keys()
    for key in state:
        torch.testing.assert_close(state_copy[key], state[key], rtol=0, atol=0, msg=key)
    return copy


def check_forecasts(forecasts, entries, prediction_length):
    """Each forecast starts right after its series, has finite mean and
    ordered 10/50/90 % quantiles of length ``prediction_length``, and a
    distribution forecast converts to samples (as GluonTS's test does)."""
    count = 0
    for f, entry in zip(forecasts, entries, strict=True):
        count += 1
        start = pd.Period(entry["start"], freq=f.start_date.freq)
        assert f.start_date == start + len(entry["target"])
        assert f.mean.shape == (prediction_length,) and np.isfinite(f.mean).all()
        q = np.stack([f.quantile(a) for a in (0.1, 0.5, 0.9)])
        assert np.isfinite(q).all() and np.all(np.diff(q, axis=0) >= 0)
        if isinstance(f, DistributionForecast):
            sf = f.to_sample_forecast()
            assert isinstance(sf, SampleForecast) and sf.samples.shape == (200, prediction_length)
            assert np.isfinite(sf.mean).all()
    assert count == len(entries)


def forecast_type(name):
    """MQF² gives joint sample paths, DeepAR autoregressive ones; the others
    give a quantile function per step."""
    return SampleForecast if name in ("mqf2", "deepar") else QuantileFunctionForecast


# --------------------------------------------------------------------------- #
# the constant dataset
# --------------------------------------------------------------------------- #
@pytest.fixture(scope="module")
def constant(tmp_path_factory):
    """GluonTS's artificial ``constant`` dataset (10 hourly series of 24
    training values, horizon 6), generated into a temporary folder."""
    return get_dataset("constant", path=tmp_path_factory.mktemp("datasets"))


@pytest.fixture(scope="module", params=ESTIMATORS)
def constant_trained(request, constant, tmp_path_factory):
    """(name, predictor) trained on ``constant.train`` without validation
    data (seeded)."""
    name, md = request.param, constant.metadata
    torch.manual_seed(0)
    est = make_estimator(name, md.freq, md.prediction_length, tmp_path_factory.mktemp(name))
    return name, est.train(training_data=constant.train)


def test_constant_dataset(constant_trained, constant):
    """Trained without validation data: round trip, then the copy predicts
    the test series (the first 5, as GluonTS's test)."""
    name, predictor = constant_trained
    copy = round_trip(predictor)
    test = list(islice(constant.test, 5))
    forecasts = list(copy.predict(test))
    assert all(isinstance(f, forecast_type(name)) for f in forecasts)
    check_forecasts(forecasts, test, constant.metadata.prediction_length)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_constant_dataset_with_validation_data(name, constant, tmp_path):
    """Trained with validation data (``val_loss`` drives the checkpoint and
    schedule): round trip, then the copy predicts."""
    md = constant.metadata
    torch.manual_seed(0)
    est = make_estimator(name, md.freq, md.prediction_length, tmp_path)
    predictor = est.train(training_data=constant.train, validation_data=constant.train)
    copy = round_trip(predictor)
    test = list(islice(constant.test, 5))
    check_forecasts(copy.predict(test), test, md.prediction_length)


def test_train_from_starts_from_the_given_weights(constant_trained, constant, tmp_path):
    """``train_from(predictor, data)`` warm-starts from the predictor's
    network: with the learning rate 0 the warm-started network keeps the
    given weights exactly, where a fresh start of the same estimator keeps
    other ones; and it predicts."""
    name, predictor = constant_trained
    md = constant.metadata
    frozen = make_estimator(name, md.freq, md.prediction_length, tmp_path / "warm", lr=0.0)
    warm = frozen.train_from(predictor, constant.train)
    before, after = predictor.prediction_net.state_dict(), warm.prediction_net.state_dict()
    assert before.keys() == after.keys()
    for key in before:
        torch.testing.assert_close(after[key], before[key], rtol=0, atol=0, msg=key)
    # not vacuous: the same frozen estimator started afresh keeps other weights
    fresh = make_estimator(name, md.freq, md.prediction_length, tmp_path / "fresh", lr=0.0).train(constant.train)
    fresh_state = fresh.prediction_net.state_dict()
    assert any(not torch.equal(fresh_state[k], before[k]) for k in before)
    test = list(islice(constant.test, 3))
    check_forecasts(warm.predict(test), test, md.prediction_length)


# --------------------------------------------------------------------------- #
# the covariate-rich toy entries
# --------------------------------------------------------------------------- #
def toy_entries(prediction_length=0):
    """GluonTS's two toy series (lengths 200 and 100, constant 1): static
    categories and reals, 3 dynamic real rows (``prediction_length`` values
    longer, for prediction), an unused field; plus 2 past-only dynamic rows
    (history length)."""
    entries = []
    for start, length, cat, real, unused in [
        ("2021-01-01 00:00:00", 200, [0, 1], [42.0], 3),
        ("2021-02-01 00:00:00", 100, [1, 0], [1.0], 5),
    ]:
        entries.append({
            "start": pd.Period(start, freq=FEATURES_FREQ),
            "target": np.ones(length, dtype=np.float32),
            "feat_static_cat": np.array(cat, dtype=np.float32),
            "feat_static_real": np.array(real, dtype=np.float32),
            "feat_dynamic_real": np.ones((3, length + prediction_length), dtype=np.float32),
            "past_feat_dynamic_real": np.ones((2, length), dtype=np.float32),
            "__unused__": np.ones(unused, dtype=np.float32),
        })
    return entries


@pytest.fixture(scope="module", params=ESTIMATORS)
def features_trained(request, tmp_path_factory):
    """(name, predictor) trained on the toy entries (as training and
    validation data) with every covariate kind the estimator supports."""
    name = request.param
    torch.manual_seed(0)
    est = make_estimator(name, FEATURES_FREQ, FEATURES_H, tmp_path_factory.mktemp(name), features=True)
    data = toy_entries()
    return name, est.train(training_data=data, validation_data=data)


def test_estimator_with_features(features_trained):
    """Round trip, then the copy predicts the toy entries."""
    name, predictor = features_trained
    copy = round_trip(predictor)
    entries = toy_entries(FEATURES_H)
    forecasts = list(copy.predict(entries))
    assert all(isinstance(f, forecast_type(name)) for f in forecasts)
    check_forecasts(forecasts, entries, FEATURES_H)


def _means(predictor, entries):
    torch.manual_seed(1)  # the same draws for sample-path forecasts
    return np.stack([f.mean for f in predictor.predict(entries)])


def _perturbed(entries, field):
    """The entries with ``field`` changed in every value (categories
    swapped 0 <-> 1, reals scaled and shifted)."""
    out = []
    for e in entries:
        e = dict(e)
        e[field] = 1.0 - e[field] if field == "feat_static_cat" else 3.0 * e[field] + 0.5
        out.append(e)
    return out


@pytest.mark.parametrize("kind", list(KINDS))
def test_declared_covariate_reaches_the_forecast(features_trained, kind):
    """Each declared covariate kind is read: changing its values changes
    the forecast (same seed for sample paths). Kinds the estimator cannot
    take are skipped, naming its limitation."""
    name, predictor = features_trained
    reason = UNSUPPORTED.get(name, {}).get(kind)
    if reason:
        pytest.skip(reason)
    entries = toy_entries(FEATURES_H)
    base = _means(predictor, entries)
    changed = _means(predictor, _perturbed(entries, KINDS[kind]))
    assert np.abs(changed - base).max() > 1e-6


def test_unused_fields_are_ignored(features_trained):
    """A field no model reads (``__unused__``) and, where the estimator has
    no past-only features, ``past_feat_dynamic_real``, do not change the
    forecast (same seed: equal means)."""
    name, predictor = features_trained
    entries = toy_entries(FEATURES_H)
    base = _means(predictor, entries)
    unused = ["__unused__"] + [KINDS[k] for k in UNSUPPORTED.get(name, {})]
    for field in unused:
        np.testing.assert_array_equal(_means(predictor, _perturbed(entries, field)), base, err_msg=field)
