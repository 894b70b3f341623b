"""MQF2Estimator as a GluonTS estimator of its own: it accepts exactly the
settings its model uses, and the static and past-only covariates GluonTS's
``MQF2MultiHorizonEstimator`` accepts, which reach the network, train,
predict and serialize."""

import inspect
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import pytest
import torch

from gluonts.model import Predictor

from gluonts_iqf import MQCNNEstimator, MQF2Estimator

H = 6


def trainer_kwargs(root, epochs=1):
    return dict(max_epochs=epochs, enable_progress_bar=False, enable_model_summary=False,
                logger=False, default_root_dir=str(root))


def test_accepts_only_its_own_settings():
    """MQ-CNN's head settings are not MQF²'s: passing one is a TypeError;
    the GluonTS covariate settings are there."""
    params = set(inspect.signature(MQF2Estimator.__init__).parameters)
    mqcnn_only = {"distr_output", "spread_exponent", "learn_spread_exponent", "loss_units", "history_window",
                  "use_residual", "num_recent_lags", "seasonal_loc_per_step", "seasonal_loc_fit_batches",
                  "local_context_dim", "agnostic_context_dim", "local_mlp_dim_seq", "scaling"}
    assert not params & mqcnn_only
    assert {"num_feat_static_real", "cardinality", "embedding_dimension", "num_past_feat_dynamic_real",
            "num_feat_dynamic_real"} <= params
    assert mqcnn_only <= set(inspect.signature(MQCNNEstimator.__init__).parameters) | {"scaling"}
    with pytest.raises(TypeError, match="distr_output"):
        MQF2Estimator(freq="h", prediction_length=H, distr_output=None)
    est = MQF2Estimator(freq="h", prediction_length=H)
    assert not hasattr(est, "distr_output")
    with pytest.raises(ValueError, match="embedding_dimension"):
        MQF2Estimator(freq="h", prediction_length=H, cardinality=[3, 4], embedding_dimension=[2])


def _entries(n=8, T=120, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        level = 10.0 * (1 + i % 3)  # the static category says the level
        out.append({
            "target": (level + rng.normal(size=T)).astype(np.float32),
            "start": pd.Period("2021-01-01 00:00", freq="h"),
            "item_id": f"s{i}",
            "feat_static_cat": [i % 3],
            "feat_static_real": [float(i % 3), 1.0],
            "past_feat_dynamic_real": rng.normal(size=(2, T)).astype(np.float32),
        })
    return out


def test_static_and_past_covariates_train_predict_and_round_trip(tmp_path):
    """With feat_static_cat (embedded), feat_static_real and
    past_feat_dynamic_real declared, the network's encoder takes them, the
    loss is finite, prediction gives finite joint paths, the serialized
    predictor forecasts identically (same seed), and the static inputs
    change the forecast."""
    entries = _entries()
    pl.seed_everything(0)
    est = MQF2Estimator(
        freq="h", prediction_length=H, cardinality=[3], num_feat_static_real=2, num_past_feat_dynamic_real=2,
        hidden_dim=8, context_dim=8, es_num_samples=8, num_parallel_samples=20, batch_size=8,
        num_batches_per_epoch=5, trainer_kwargs=trainer_kwargs(tmp_path / "fit"),
    )
    assert "past_feat_dynamic_real" in est.input_names()
    predictor = est.train(entries)
    model = predictor.prediction_net.model
    assert model.embedder is not None and model.num_feat_static_real == 2 and model.num_past_feat_dynamic_real == 2
    # encoder inputs: 3 per series + known (4 time features + age) + past (2) + embedding (2) + static real (2)
    assert model.encoder.net[1].in_channels == 3 + 5 + 2 + 2 + 2
    torch.manual_seed(0)
    forecasts = list(predictor.predict(entries[:4]))
    assert all(f.samples.shape == (20, H) and np.isfinite(f.samples).all() for f in forecasts)
    (tmp_path / "saved").mkdir()
    predictor.serialize(Path(tmp_path / "saved"))
    loaded = Predictor.deserialize(Path(tmp_path / "saved"))
    torch.manual_seed(0)
    again = list(loaded.predict(entries[:4]))
    for a, b in zip(forecasts, again):
        np.testing.assert_array_equal(a.samples, b.samples)
    # the static inputs reach the forecast
    moved = [dict(e, feat_static_cat=[(e["feat_static_cat"][0] + 1) % 3], feat_static_real=[5.0, -1.0])
             for e in entries[:4]]
    torch.manual_seed(0)
    other = list(predictor.predict(moved))
    assert any(not np.array_equal(a.samples, b.samples) for a, b in zip(forecasts, other))


def test_static_covariates_are_checked(tmp_path):
    """A declared static feature missing from an entry is a clear error."""
    est = MQF2Estimator(freq="h", prediction_length=H, cardinality=[3], trainer_kwargs=trainer_kwargs(tmp_path))
    bad = [{k: v for k, v in e.items() if k not in ("feat_static_cat", "past_feat_dynamic_real")} for e in _entries(2)]
    with pytest.raises(ValueError, match="feat_static_cat"):
        est.train(bad)
