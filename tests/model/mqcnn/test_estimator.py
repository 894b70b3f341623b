"""MQCNNEstimator end to end on the embedded M4 hourly data: training lowers
the loss, predict / evaluate / serialize round trip, zero crossings, covariate
handling and bad input."""

import math
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import pytest
import torch

from gluonts.dataset.split import split
from gluonts.ev.metrics import MeanWeightedSumQuantileLoss
from gluonts.evaluation import Evaluator, make_evaluation_predictions
from gluonts.model import Predictor, evaluate_model
from gluonts.torch.distributions import StudentTOutput
from gluonts.torch.model.forecast import DistributionForecast

from gluonts_iqf import MQCNNEstimator, QuantileFunctionForecast, datasets
from gluonts_iqf.metrics import crossing_rate

H = 48
N_SERIES = 30


class LossRecorder(pl.Callback):
    def __init__(self):
        self.losses = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.losses.append(float(outputs["loss"] if isinstance(outputs, dict) else outputs))

    def on_after_backward(self, trainer, pl_module):
        for name, p in pl_module.named_parameters():
            if p.grad is not None and not torch.isfinite(p.grad).all():
                raise AssertionError(f"non-finite gradient in {name}")


def estimator(root, epochs=1, batches=5, callbacks=(), **kw):
    params = dict(
        freq="h",
        prediction_length=H,
        context_length=96,
        num_forking=24,
        channels_seq=[16, 16, 16],
        batch_size=16,
        num_batches_per_epoch=batches,
        trainer_kwargs=dict(
            max_epochs=epochs,
            enable_progress_bar=False,
            enable_model_summary=False,
            logger=False,
            default_root_dir=str(root),
            callbacks=list(callbacks),
        ),
    )
    params.update(kw)
    return MQCNNEstimator(**params)


@pytest.fixture(scope="module")
def m4():
    ds = datasets.load("m4_hourly")
    return list(ds.train)[:N_SERIES], list(ds.test)[:N_SERIES]


@pytest.fixture(scope="module")
def trained(m4, tmp_path_factory):
    pl.seed_everything(0)
    rec = LossRecorder()
    est = estimator(tmp_path_factory.mktemp("mqcnn"), epochs=4, batches=10, callbacks=[rec])
    return est, est.train(m4[0]), rec


def test_training_lowers_the_loss(trained, m4):
    """The forking loss on fixed batches drops after training (seeded)."""
    est, predictor, rec = trained
    assert len(rec.losses) == 40 and np.isfinite(rec.losses).all()
    fresh = est.create_lightning_module()
    trained_net = predictor.prediction_net
    loader = est.create_validation_data_loader(est.create_transformation().apply(m4[0], is_train=True), fresh)
    before = after = 0.0
    with torch.no_grad():
        for batch in loader:
            before += float(fresh._loss(batch))
            after += float(trained_net._loss(batch))
    # the fresh model already starts at the seasonal-naive forecast with a
    # narrow IQF head (a strong start: 40 steps lower the loss by ~2.5% here,
    # seeded); 1% is far above any rounding difference
    assert after < 0.99 * before


def test_predict_evaluate_zero_crossings(trained, m4):
    _, predictor, _ = trained
    fc_it, ts_it = make_evaluation_predictions(m4[1], predictor)
    forecasts, series = list(fc_it), list(ts_it)
    assert len(forecasts) == N_SERIES and isinstance(forecasts[0], QuantileFunctionForecast)
    assert forecasts[0].prediction_length == H
    agg, _ = Evaluator(num_workers=0)(series, forecasts)
    assert np.isfinite(agg["mean_wQuantileLoss"]) and agg["mean_wQuantileLoss"] < 0.5
    assert crossing_rate(forecasts) == 0.0
    _, template = split(m4[1], offset=-H)
    ev = evaluate_model(
        predictor,
        test_data=template.generate_instances(prediction_length=H),
        metrics=[MeanWeightedSumQuantileLoss(quantile_levels=[0.1, 0.5, 0.9])],
        axis=None,
    )
    assert np.isfinite(ev.to_numpy()).all()


def test_per_step_location_round_trips(m4, tmp_path):
    """A predictor with seasonal_loc_per_step (StepwiseLinear), a
    non-default num_recent_lags, a fixed spread exponent and a custom
    predict_batch_size serializes and deserializes to identical forecasts."""
    pl.seed_everything(0)
    predictor = estimator(tmp_path / "fit", batches=3, seasonal_loc_per_step=True, num_recent_lags=1,
                          spread_exponent=0.25, learn_spread_exponent=False,
                          predict_batch_size=4).train(m4[0][:12])
    assert predictor.prediction_net.model.lag_loc.weight.shape[0] == H and predictor.batch_size == 4
    predictor.serialize(Path(tmp_path))
    loaded = Predictor.deserialize(Path(tmp_path))
    assert loaded.batch_size == 4
    assert loaded.prediction_net.model.num_recent_lags == 1
    assert float(loaded.prediction_net.model.spread_exponent) == 0.25
    assert torch.equal(loaded.prediction_net.model.lag_offsets, predictor.prediction_net.model.lag_offsets)
    for fa, fb in zip(predictor.predict(m4[0][:6]), loaded.predict(m4[0][:6])):
        np.testing.assert_array_equal(fa.quantiles([0.05, 0.5, 0.95]), fb.quantiles([0.05, 0.5, 0.95]))


@pytest.mark.parametrize("fit_batches", [0, 2])
def test_seasonal_location_fit_before_training(m4, tmp_path, fit_batches):
    """With lr = 0 the trained weights are the starting ones: the seasonal
    location is the seasonal-naive map without the fit, and the median
    regression's weights (a different map, fitted on 2 training batches)
    with it."""
    pl.seed_everything(0)
    predictor = estimator(tmp_path, batches=2, lr=0.0, seasonal_loc_fit_batches=fit_batches).train(m4[0][:12])
    loc = predictor.prediction_net.model.lag_loc
    naive = torch.zeros_like(loc.weight)  # (H, 2J) per step (the default), (1, 2J) shared
    naive[:, 0] = 1.0
    if fit_batches:
        assert not torch.equal(loc.weight, naive) and torch.isfinite(loc.weight).all()
    else:
        assert torch.equal(loc.weight, naive) and (loc.bias == 0).all()


def test_serialize_deserialize_identical_forecasts(trained, m4, tmp_path):
    _, predictor, _ = trained
    predictor.serialize(Path(tmp_path))
    loaded = Predictor.deserialize(Path(tmp_path))
    # the learned spread exponent (started at 0.5) is restored, not re-initialised
    learned = predictor.prediction_net.model.spread_exponent
    assert float(learned) != 0.5
    assert torch.equal(loaded.prediction_net.model.spread_exponent, learned)
    # so is the members' calibration fitted before training
    assert loaded.prediction_net.model.member_calibration == predictor.prediction_net.model.member_calibration
    assert predictor.prediction_net.model.member_calibration is not None
    a = list(predictor.predict(m4[0][:6]))
    b = list(loaded.predict(m4[0][:6]))
    levels = [0.01, 0.1, 0.5, 0.9, 0.99]
    for fa, fb in zip(a, b):
        assert fa.item_id == fb.item_id and fa.start_date == fb.start_date
        np.testing.assert_array_equal(fa.quantiles(levels), fb.quantiles(levels))
        np.testing.assert_array_equal(fa.mean, fb.mean)


def _entry(target, item, start="2020-01-01 00:00", **extra):
    import pandas as pd

    return {"target": np.asarray(target, dtype=np.float32), "start": pd.Period(start, freq="h"), "item_id": item, **extra}


def test_short_nan_zero_and_constant_series(tmp_path):
    """Shorter than the context (padded and masked), 20 % NaN, all-zero and
    constant series: finite losses and finite forecasts."""
    rng = np.random.default_rng(0)
    base = 50 + 10 * np.sin(np.arange(400) * 2 * np.pi / 24)
    noisy = base + rng.normal(0, 2, 400)
    noisy[rng.random(400) < 0.2] = np.nan
    data = [
        _entry(base[:30], "short"),
        _entry(noisy, "nan"),
        _entry(np.zeros(300), "zero"),
        _entry(np.full(300, 7.0), "const"),
        _entry(base[:300], "normal"),
    ]
    rec = LossRecorder()
    pl.seed_everything(0)
    predictor = estimator(tmp_path, epochs=1, batches=6, callbacks=[rec]).train(data)
    assert np.isfinite(rec.losses).all()
    forecasts = list(predictor.predict(data))
    for f in forecasts:
        q = f.quantiles([0.05, 0.5, 0.95])
        assert np.isfinite(q).all() and np.isfinite(f.mean).all(), f.item_id
        assert np.all(np.diff(q, axis=0) >= 0)
    zero = forecasts[2]
    assert np.abs(zero.quantiles([0.05, 0.95])).max() < 1e-6


def test_covariates_all_kinds(tmp_path):
    rng = np.random.default_rng(1)
    T = 300
    data = []
    for i in range(8):
        known = rng.normal(size=(2, T + H)).astype(np.float32)
        past = rng.normal(size=(1, T)).astype(np.float32)
        target = 100 + 10 * known[0, :T] + rng.normal(size=T)
        data.append(
            _entry(
                target, f"s{i}",
                feat_dynamic_real=known, past_feat_dynamic_real=past,
                feat_static_real=[float(i)], feat_static_cat=[i % 3],
            )
        )
    est = estimator(
        tmp_path, num_feat_dynamic_real=2, num_past_feat_dynamic_real=1,
        num_feat_static_real=1, cardinality=[3],
    )
    pl.seed_everything(0)
    predictor = est.train([{**d, "feat_dynamic_real": d["feat_dynamic_real"][:, :T]} for d in data])
    forecasts = list(predictor.predict(data))
    assert len(forecasts) == 8 and all(np.isfinite(f.mean).all() for f in forecasts)


@pytest.mark.parametrize(
    "declared, entry_extra, message",
    [
        (dict(num_feat_dynamic_real=2), {}, "no 'feat_dynamic_real'"),
        (dict(num_feat_dynamic_real=2), dict(feat_dynamic_real=np.zeros((1, 300))), "has 1 rows"),
        (dict(), dict(feat_dynamic_real=np.zeros((1, 300))), "is present but"),
        (dict(num_feat_dynamic_real=1), dict(feat_dynamic_real=np.full((1, 300), np.nan)), "contains NaN"),
        (dict(num_past_feat_dynamic_real=1), dict(past_feat_dynamic_real=np.zeros((1, 100))), "has length 100"),
        (dict(cardinality=[3]), dict(feat_static_cat=[5]), r"outside \[0, 3\)"),
        (dict(num_feat_static_real=2), dict(feat_static_real=[1.0]), "has 1 values"),
    ],
)
def test_covariate_mismatch_names_the_field(declared, entry_extra, message, tmp_path):
    data = [_entry(np.arange(300.0), "bad-item", **entry_extra)]
    est = estimator(tmp_path, **declared)
    with pytest.raises(ValueError, match=message) as err:
        est.train(data)
    assert "bad-item" in str(err.value)


def test_statistical_weight_defaults(tmp_path):
    """The defaults with the default plain IQF head, 0 (the network alone)
    with a head whose quantile functions cannot be mixed into an IQF; the
    settings reach the prediction network."""
    from gluonts_iqf import IQFOutput
    from gluonts_iqf.model.mqcnn.estimator import (
        DEFAULT_CES_WEIGHT, DEFAULT_DAMPED_WEIGHT, DEFAULT_NAIVE_WEIGHT, DEFAULT_THETA_WEIGHT)
    from gluonts_iqf.model.mqcnn.recent import RECENT_CUTS, RECENT_POWER

    defaults = (DEFAULT_THETA_WEIGHT, DEFAULT_DAMPED_WEIGHT, DEFAULT_CES_WEIGHT, DEFAULT_NAIVE_WEIGHT)
    est = estimator(tmp_path)
    assert est._prior_weights() == list(defaults)
    assert min(defaults[:3]) > 0 and DEFAULT_NAIVE_WEIGHT == 0 and sum(defaults) < 1
    for head in (StudentTOutput(), IQFOutput(num_pieces=3)):
        est = estimator(tmp_path, distr_output=head)
        assert est._prior_weights() == [0.0, 0.0, 0.0, 0.0]
    assert estimator(tmp_path, theta_weight=0.0).theta_weight == 0.0
    module = estimator(tmp_path, theta_weight=0.5, damped_weight=0.25, ces_weight=0.1,
                       naive_weight=0.05).create_lightning_module()
    model = module.model
    assert (model.theta_weight, model.damped_weight, model.ces_weight, model.naive_weight) == (0.5, 0.25, 0.1, 0.05)
    assert (model.member_recent_cuts, model.member_recent_power) == (RECENT_CUTS, RECENT_POWER)
    model = estimator(tmp_path, member_recent_cuts=2, member_recent_power=1.5).create_lightning_module().model
    assert (model.member_recent_cuts, model.member_recent_power) == (2, 1.5)
    assert model.network_outlier_z == 0.0
    est = estimator(tmp_path, network_outlier_z=3.0)
    assert est.create_lightning_module().model.network_outlier_z == 3.0
    from gluonts.core import serde
    assert serde.decode(serde.encode(est)).network_outlier_z == 3.0
    for bad in (dict(member_recent_cuts=-1), dict(member_recent_power=-1.0), dict(member_recent_power=math.inf),
                dict(network_outlier_z=-1.0), dict(network_outlier_z=math.nan)):
        with pytest.raises(ValueError, match=next(iter(bad))):
            estimator(tmp_path, **bad)
    assert module.model.statistical_combination == "inverse_variance"
    assert estimator(tmp_path, statistical_combination="fixed").create_lightning_module().model.statistical_combination == "fixed"


def test_network_share_values_shrinks_the_network_by_the_training_size(tmp_path):
    """With network_share_values = N0 the estimator counts the observed
    training values N (missing ones not counted) and trains a module whose
    network share is the prior's times min(1, N / N0), the members keeping
    their proportions; off (0) and at N >= N0 the weights are the
    estimator's (the default N0, 5,000, would shrink it here); the setting round-trips through serde; bad values are
    named."""
    from gluonts.core import serde

    from gluonts_iqf.model.mqcnn.estimator import DEFAULT_SHARE_VALUES, observed_values

    rng = np.random.default_rng(0)
    data = [{"start": pd.Period("2020-01-01 00:00", freq="h"), "target": 10 + rng.standard_normal(200)}
            for _ in range(3)]
    data[0]["target"][:50] = np.nan
    n = observed_values(data)
    assert n == 550
    assert observed_values(data, at_most=100) == 150  # stops after the entry that reaches it
    est = estimator(tmp_path, batches=1, network_share_values=2200)
    assert serde.decode(serde.encode(est)).network_share_values == 2200
    model = est.train(data).prediction_net.model
    members = [model.theta_weight, model.damped_weight, model.ces_weight]
    # the skill weights move the members' split; the network's share is
    # the default's 0.4 times 550 / 2200
    assert 1 - sum(members) - model.naive_weight == pytest.approx(0.4 * 0.25, abs=1e-12)
    assert estimator(tmp_path).network_share_values == DEFAULT_SHARE_VALUES == 5000
    same = estimator(tmp_path, batches=1, network_share_values=0).train(data).prediction_net.model
    ratio = [a / b for a, b in zip(members, [same.theta_weight, same.damped_weight, same.ces_weight])]
    assert ratio == pytest.approx([ratio[0]] * 3, rel=1e-12)  # the members keep their proportions
    full = estimator(tmp_path, batches=1, network_share_values=550).train(data).prediction_net.model
    assert [full.theta_weight, full.damped_weight, full.ces_weight] == \
        [same.theta_weight, same.damped_weight, same.ces_weight]
    assert est._training_values is None  # counted for one training only
    with pytest.raises(ValueError, match="network_share_values"):
        estimator(tmp_path, network_share_values=-1)


def test_loss_units_default(tmp_path):
    """The estimator trains with the MASE loss unit unless told otherwise
    (the module's own default stays "scaled"), and the setting reaches the
    network."""
    assert estimator(tmp_path).loss_units == "mase"
    assert estimator(tmp_path).create_lightning_module().model.loss_units == "mase"
    assert estimator(tmp_path, loss_units="volume").create_lightning_module().model.loss_units == "volume"


def test_member_backtest_is_fitted_on_the_training_series(trained, m4, tmp_path):
    """The trained network carries the members' calibration that
    member_backtest computes from the training series (exact), one per
    active member, and the members' weights moved by their backtest losses
    (skill_weights of the priors, exact); no calibration with
    calibrate_members=False (the weights still move), no backtest without
    members or with neither; the estimator keeps no fitted state after
    training."""
    from gluonts_iqf.model.mqcnn.calibration import CALIBRATION_ORIGINS, member_backtest, skill_weights

    est, predictor, _ = trained
    model = predictor.prediction_net.model
    targets = [e["target"] for e in m4[0]]
    want = member_backtest(targets, est.context_length, H, est.statistical_season_length,
                           est.distr_output.knot_levels, [True, True, True, False], num_series=len(m4[0]),
                           origins=CALIBRATION_ORIGINS)
    assert model.member_calibration == want.calibration
    assert all(len(z) == len(est.distr_output.knot_levels) for z in want.calibration[:3])
    priors = est._prior_weights()
    weights = [model.theta_weight, model.damped_weight, model.ces_weight, model.naive_weight]
    assert weights == skill_weights(priors, want.loss, 8.0) != priors
    assert sum(weights) == pytest.approx(sum(priors), rel=1e-12)
    assert est._member_backtest is None
    gaussian = estimator(tmp_path, calibrate_members=False).fit_member_backtest(m4[0])
    assert gaussian.calibration is None and all(v is not None and v > 0 for v in gaussian.loss[:3])
    assert estimator(tmp_path, calibrate_members=False, member_skill_power=0).fit_member_backtest(m4[0]) is None
    assert estimator(tmp_path, theta_weight=0, damped_weight=0, ces_weight=0,
                     naive_weight=0).fit_member_backtest(m4[0]) is None
    theta_only = estimator(tmp_path, damped_weight=0, ces_weight=0, naive_weight=0).fit_member_backtest(m4[0])
    assert theta_only.calibration == [want.calibration[0], None, None, None]
    # series of 2,100 values: the spread cuts step by (2100 - 5 - H) // 16 = 127 values, not H
    long = [dict(e, target=np.tile(e["target"], 3)) for e in m4[0][:10]]
    spread = estimator(tmp_path, calibration_spread=True).fit_member_backtest(long)
    assert spread == member_backtest([e["target"] for e in long], est.context_length, H,
                                     est.statistical_season_length, est.distr_output.knot_levels,
                                     [True, True, True, False], num_series=len(long), origins=CALIBRATION_ORIGINS,
                                     spread=True) != estimator(tmp_path).fit_member_backtest(long)
    assert theta_only.loss == [want.loss[0], None, None, None]
    two = estimator(tmp_path, calibration_origins=2).fit_member_backtest(m4[0])
    assert two == member_backtest(targets, est.context_length, H, est.statistical_season_length,
                                  est.distr_output.knot_levels, [True, True, True, False], num_series=len(m4[0]),
                                  origins=2) != want
    with_naive = estimator(tmp_path, naive_weight=0.1).fit_member_backtest(m4[0])
    assert with_naive == member_backtest(targets, est.context_length, H, est.statistical_season_length,
                                         est.distr_output.knot_levels, [True] * 4, num_series=len(m4[0]))
    assert with_naive.calibration[:3] == want.calibration[:3] and with_naive.calibration[3] is not None
    assert want.calibration[3] is None and want.loss[3] is None
    ensemble = estimator(tmp_path, members=[{"loss_units": "mase"}, {"loss_units": "volume"}]).train(m4[0][:8])
    for member in ensemble.prediction_net.members:
        assert member.model.member_calibration is not None


def test_member_weights_from_the_backtest(tmp_path):
    """member_skill_power 0 keeps the priors; otherwise skill_weights of the
    priors and the backtest's losses reach the network; without a backtest
    the priors; a negative or infinite power fails at construction."""
    from gluonts_iqf.model.mqcnn.calibration import MemberBacktest, skill_weights

    backtest = MemberBacktest(None, [0.1, 0.2, 0.05, 0.15])
    est = estimator(tmp_path)
    priors = est._prior_weights()
    assert est.member_weights(None) == priors
    assert est.member_weights(backtest) == skill_weights(priors, backtest.loss, 8.0)
    assert estimator(tmp_path, member_skill_power=0).member_weights(backtest) == priors
    est = estimator(tmp_path, member_skill_power=1)
    est._member_backtest = backtest
    model = est.create_lightning_module().model
    assert [model.theta_weight, model.damped_weight, model.ces_weight, model.naive_weight] == skill_weights(
        priors, backtest.loss, 1)
    for bad in (-1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="member_skill_power"):
            estimator(tmp_path, member_skill_power=bad)


def test_calibration_settings_round_trip(tmp_path):
    """GluonTS's serde keeps the calibration settings of the estimator, and
    the fitted table and weights inside the lightning module's
    model_kwargs."""
    from gluonts.core import serde

    from gluonts_iqf.model.mqcnn.calibration import MemberBacktest

    est = estimator(tmp_path, calibrate_members=False, calibration_origins=3, member_skill_power=2.5,
                    calibration_spread=True)
    back = serde.decode(serde.encode(est))
    assert (back.calibrate_members, back.calibration_origins, back.member_skill_power,
            back.calibration_spread) == (False, 3, 2.5, True)
    est = estimator(tmp_path)
    table = [None, [-2.0 + 0.4 * k for k in range(len(est.distr_output.knot_levels))], None, None]
    est._member_backtest = MemberBacktest(table, [0.3, 0.2, 0.25, 0.35])
    model = serde.decode(serde.encode(est.create_lightning_module())).model
    assert model.member_calibration == table
    assert [model.theta_weight, model.damped_weight, model.ces_weight, model.naive_weight] == est.member_weights(
        est._member_backtest)
    assert (model.member_recent_cuts, model.member_recent_power) == (est.member_recent_cuts, est.member_recent_power)


def test_statistical_season_and_context(tmp_path):
    """Weekly data: the statistical members take the yearly season (52) and
    the default window covers three of them; without members the window is
    the network's rule; other frequencies keep their season."""
    from gluonts_iqf.model.mqcnn.estimator import default_statistical_season

    assert default_statistical_season("W", 1) == default_statistical_season("W-MON", 1) == 52
    assert default_statistical_season("2W", 1) == 1 and default_statistical_season("h", 24) == 24
    assert default_statistical_season("D", 7) == 7
    weekly = estimator(tmp_path, freq="W", prediction_length=13, context_length=None)
    assert weekly.statistical_season_length == 52 and weekly.context_length == 156
    alone = estimator(tmp_path, freq="W", prediction_length=13, context_length=None, theta_weight=0, damped_weight=0,
                      ces_weight=0, naive_weight=0)
    assert alone.context_length == 100
    module = weekly.create_lightning_module()
    assert module.model.statistical_season_length == 52 and module.model.season_length == 1
    with pytest.raises(ValueError, match="statistical_season_length"):
        estimator(tmp_path, statistical_season_length=0)


def test_other_distribution_output(tmp_path, m4):
    pl.seed_everything(0)
    predictor = estimator(tmp_path, distr_output=StudentTOutput()).train(m4[0][:10])
    f = next(iter(predictor.predict(m4[0][:1])))
    assert isinstance(f, DistributionForecast) and np.isfinite(f.mean).all()


@pytest.mark.parametrize("cache_data", [True, False])
def test_cached_and_uncached_training_agree(tmp_path, m4, cache_data):
    """Caching the transformed series changes nothing but the speed: the same
    seed gives the same trained weights. (With GluonTS's splitter stream:
    a sampler other than the default kind, as the uncached default runs;
    the cached default draws its windows with TrainingWindows instead,
    tested in test_windows.py.)"""
    from gluonts.transform import ExpectedNumInstanceSampler

    def fit(cache):
        pl.seed_everything(0)
        sampler = ExpectedNumInstanceSampler(num_instances=1.0, min_future=H, min_instances=1)
        pred = estimator(tmp_path / str(cache), epochs=1, batches=4, cache_data=cache,
                         train_sampler=sampler).train(m4[0][:12])
        return [p.detach().clone() for p in pred.prediction_net.parameters()]

    a, b = fit(cache_data), fit(not cache_data)
    assert all(torch.equal(x, y) for x, y in zip(a, b))


def test_trimmed_history_gives_identical_forecasts(trained, m4):
    """The predictor drops history beyond the context window before its
    transformations (TrimHistory + AddOffsetAgeFeature): the forecasts are
    bit-identical to those from the untrimmed pipeline, and the caller's
    entries are not modified."""
    from gluonts.transform import Chain

    from gluonts_iqf.model._forking.transform import TrimHistory

    est, predictor, _ = trained
    entries = m4[0][:8]
    before = [dict(e) for e in entries]
    trimmed = [f.distribution.icdf(torch.tensor(0.3)) for f in predictor.predict(entries)]
    for e, b in zip(entries, before):
        assert e.keys() == b.keys() and e["start"] == b["start"] and len(e["target"]) == len(b["target"])
    steps = [t for t in est.create_transformation().transformations if not isinstance(t, TrimHistory)]
    assert len(steps) == len(est.create_transformation().transformations) - 1
    untrimmed_pred = est.create_predictor(Chain(steps), predictor.prediction_net)
    full = [f.distribution.icdf(torch.tensor(0.3)) for f in untrimmed_pred.predict(entries)]
    assert all(torch.equal(a, b) for a, b in zip(trimmed, full))


@pytest.mark.parametrize("kwargs, name", [
    (dict(loss_units="percent"), "loss_units"),
    (dict(seasonal_loc_init="median"), "seasonal_loc_init"),
    (dict(lr_schedule="linear"), "lr_schedule"),
    (dict(season_length=0), "season_length"),
    (dict(num_seasonal_lags=-1), "num_seasonal_lags"),
    (dict(num_recent_lags=-1), "num_recent_lags"),
    (dict(predict_batch_size=0), "predict_batch_size"),
    (dict(spread_exponent=1.2), "spread_exponent"),
    (dict(seasonal_loc_fit_batches=-1), "seasonal_loc_fit_batches"),
    (dict(spread_exponent=-0.5), "spread_exponent"),
    (dict(theta_weight=-0.1), "theta_weight"),
    (dict(theta_weight=0.3, distr_output=StudentTOutput()), "theta_weight"),
    (dict(damped_weight=1.2), "damped_weight"),
    (dict(statistical_combination="median"), "statistical_combination"),
    (dict(theta_weight=0.7, damped_weight=0.7), "damped_weight"),
    (dict(ces_weight=-0.2), "ces_weight"),
    (dict(theta_weight=0.3, damped_weight=0.3, ces_weight=0.5), "ces_weight"),
    (dict(calibration_origins=0), "calibration_origins"),
])
def test_bad_settings_fail_at_construction(tmp_path, kwargs, name):
    with pytest.raises(ValueError, match=name):
        estimator(tmp_path, **kwargs)


def test_train_from_keeps_the_loaded_weights(m4, tmp_path):
    """GluonTS's train_from loads the predictor's weights before training:
    the seasonal-location fit (an initialisation) must not overwrite them
    (lr 0: every weight stays as loaded)."""
    pl.seed_everything(0)
    first = estimator(tmp_path / "a", batches=3).train(m4[0][:12])
    again = estimator(tmp_path / "b", batches=3, lr=0.0).train_from(first, m4[0][:12])
    for (k, x), (_, y) in zip(again.prediction_net.state_dict().items(), first.prediction_net.state_dict().items()):
        assert torch.equal(x, y), k


def test_decoder_attention(m4, tmp_path):
    """attention_heads reaches the network (none by default); a network with
    it trains, forecasts finite, non-crossing quantiles and comes back
    identical through serialization; bad sizes fail at construction."""
    from gluonts.core import serde

    assert estimator(tmp_path).create_lightning_module().model.attention is None
    pl.seed_everything(0)
    est = estimator(tmp_path, attention_heads=2, attention_dim=4)
    assert serde.decode(serde.encode(est)).attention_heads == 2
    predictor = est.train(m4[0][:8])
    block = predictor.prediction_net.model.attention
    assert (block.num_heads, block.head_dim) == (2, 4) and block.out.weight.abs().sum() > 0  # it learned
    forecasts = list(predictor.predict(m4[0][:8]))
    q = np.stack([np.stack([f.quantile(level) for level in (0.1, 0.5, 0.9)]) for f in forecasts])
    assert np.isfinite(q).all() and (np.diff(q, axis=1) >= 0).all()
    (tmp_path / "attn").mkdir()
    predictor.serialize(tmp_path / "attn")
    again = Predictor.deserialize(tmp_path / "attn")
    for f, g in zip(again.predict(m4[0][:8]), forecasts):
        np.testing.assert_array_equal(f.quantile(0.5), g.quantile(0.5))
    for bad in (dict(attention_heads=-1), dict(attention_heads=1, attention_dim=0)):
        with pytest.raises(ValueError, match="attention"):
            estimator(tmp_path, **bad)
