"""MQ-CNN ensembles: members trained with their own settings, forecasts
that average the members' quantile functions exactly, serialization, warm
start and bad settings."""

from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import pytest
import torch

from gluonts.model import Predictor
from gluonts.torch.distributions import StudentTOutput

from gluonts_iqf import MQCNNEstimator, QuantileFunctionForecast, datasets
from gluonts_iqf.model.mqcnn.ensemble import MQCNNEnsemble

H = 24
MEMBERS = [{"loss_units": "volume"}, {"loss_units": "mase", "context_length": 60, "num_seasonal_lags": 2}]


def estimator(root, **kw):
    params = dict(
        freq="h", prediction_length=H, context_length=96, channels_seq=[8, 8, 8], batch_size=16,
        num_batches_per_epoch=5, members=MEMBERS,
        trainer_kwargs=dict(max_epochs=1, enable_progress_bar=False, enable_model_summary=False,
                            logger=False, default_root_dir=str(root)),
    )
    params.update(kw)
    return MQCNNEstimator(**params)


@pytest.fixture(scope="module")
def data():
    ds = datasets.load("m4_hourly")
    return [dict(e, target=e["target"][-300:]) for e in list(ds.train)[:12]]


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    pl.seed_everything(0)
    est = estimator(tmp_path_factory.mktemp("ens"))
    return est, est.train_model(data)


def test_forecast_is_the_average_of_the_members(trained, data):
    """Each member keeps its own settings (loss units, context, lags); the
    ensemble forecast's quantiles at any level are the mean of the members'
    own forecasts (relative 1e-5, float32), and it is a quantile-function
    forecast without crossings."""
    est, out = trained
    net = out.trained_net
    assert isinstance(net, MQCNNEnsemble) and len(net.members) == 2
    assert [m.model.loss_units for m in net.members] == ["volume", "mase"]
    assert [m.model.context_length for m in net.members] == [96, 60]
    assert net.context_length == 96
    forecasts = list(out.predictor.predict(data[:5]))
    assert all(isinstance(f, QuantileFunctionForecast) for f in forecasts)
    members = est._member_estimators()
    alone = [list(e.create_predictor(e.create_transformation(), m).predict(data[:5]))
             for e, m in zip(members, net.members)]
    levels = [0.01, 0.1, 0.37, 0.5, 0.9, 0.99]
    for i, f in enumerate(forecasts):
        want = np.mean([a[i].quantiles(levels) for a in alone], axis=0)
        np.testing.assert_allclose(f.quantiles(levels), want, rtol=1e-5, atol=1e-3)
        assert (np.diff(f.quantiles(levels), axis=0) >= 0).all()


def test_round_trip_and_warm_start(trained, data, tmp_path):
    """serialize -> deserialize gives identical forecasts; train_from an
    ensemble predictor starts each member from its counterpart (lr 0: the
    weights stay as they were)."""
    est, out = trained
    out.predictor.serialize(Path(tmp_path))
    loaded = Predictor.deserialize(Path(tmp_path))
    for a, b in zip(out.predictor.predict(data[:4]), loaded.predict(data[:4])):
        np.testing.assert_array_equal(a.quantiles([0.1, 0.5, 0.9]), b.quantiles([0.1, 0.5, 0.9]))
    frozen = estimator(tmp_path / "again", lr=0.0, members=[dict(m, lr=0.0) for m in MEMBERS])
    again = frozen.train_from(loaded, data)
    for a, b in zip(again.prediction_net.members, out.trained_net.members):
        for (k, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
            assert torch.equal(x, y), k


def test_bad_ensembles_are_rejected(tmp_path, data):
    with pytest.raises(ValueError, match="cannot override"):
        estimator(tmp_path, members=[{"freq": "D"}])
    with pytest.raises(ValueError, match="loss_units"):
        estimator(tmp_path, members=[{"loss_units": "percent"}])
    with pytest.raises(ValueError, match="plain IQF"):
        estimator(tmp_path, distr_output=StudentTOutput())
    with pytest.raises(ValueError, match="ckpt_path"):
        estimator(tmp_path).train(data, ckpt_path="x.ckpt")
    with pytest.raises(ValueError, match="ensemble of 2"):
        single = estimator(tmp_path / "one", members=None).train(data[:4])
        estimator(tmp_path).train_from(single, data)


def test_members_share_one_backtest(tmp_path, data, monkeypatch):
    """Members whose backtest settings agree (the loss units do not enter
    them) fit the statistical members' backtest once, and each trained
    member carries what it would have fitted alone (calibration and
    weights, the network's share shrunk by the training size, exact); a member with other cuts fits its own; nothing shared
    is kept after training."""
    from gluonts_iqf.model.mqcnn.calibration import skill_weights
    from gluonts_iqf.model.mqcnn.estimator import observed_values
    from gluonts_iqf.model.mqcnn.statistical import data_share_factor, shrink_network

    calls = []
    fit = MQCNNEstimator.fit_member_backtest

    def counting(self, training_data):
        calls.append(self.backtest_settings())
        return fit(self, training_data)

    monkeypatch.setattr(MQCNNEstimator, "fit_member_backtest", counting)
    pl.seed_everything(0)
    est = estimator(tmp_path, members=[{"loss_units": "volume"}, {"loss_units": "mase"}])
    net = est.train(data[:6]).prediction_net
    assert len(calls) == 1 and est._backtests is None
    for member_est, member in zip(est._member_estimators(), net.members):
        alone = fit(member_est, data[:6])
        model = member.model
        assert model.member_calibration == alone.calibration is not None
        priors = member_est._prior_weights()
        share = data_share_factor(observed_values(data[:6]), member_est.network_share_values)
        assert [model.theta_weight, model.damped_weight, model.ces_weight, model.naive_weight] == shrink_network(
            skill_weights(priors, alone.loss, member_est.member_skill_power), share)
    calls.clear()
    est = estimator(tmp_path / "two", members=[{"loss_units": "volume"}, {"calibration_origins": 2}])
    net = est.train(data[:6]).prediction_net
    assert len(calls) == 2 and calls[0] != calls[1]
    assert net.members[0].model.member_calibration != net.members[1].model.member_calibration
