"""Drop-in proof: GluonTS's own torch estimators train, predict, evaluate and
round-trip through serialization with ``distr_output=IQFOutput(...)`` and no
change to GluonTS. Data: the embedded M4 hourly (first 40 series)."""

from pathlib import Path

import numpy as np
import pytest
import torch

from gluonts.dataset.split import split
from gluonts.ev.metrics import MASE, MeanWeightedSumQuantileLoss
from gluonts.evaluation import Evaluator, make_evaluation_predictions
from gluonts.model import Predictor, evaluate_model
from gluonts.model.forecast import SampleForecast

from gluonts_iqf import IQFOutput, QuantileFunctionForecast, datasets
from gluonts_iqf.metrics import crossing_rate

from distribution_helpers import FiniteTraining, make_estimator

N_SERIES = 40
LEVELS = [0.1, 0.5, 0.9]


ESTIMATORS = ["deepar", "sff", "tft", "patchtst", "dlinear", "tide"]
# every estimator with each head shape: IQF (11 knots) and ISQF (5 x 3)
OUTPUTS = {
    "iqf": dict(),
    "isqf": dict(knot_levels=[0.05, 0.25, 0.5, 0.75, 0.95], num_pieces=3),
}


@pytest.fixture(scope="module")
def m4():
    ds = datasets.load("m4_hourly")
    return list(ds.train)[:N_SERIES], list(ds.test)[:N_SERIES]


@pytest.fixture(scope="module", params=[(e, o) for e in ESTIMATORS for o in OUTPUTS], ids=lambda p: f"{p[0]}-{p[1]}")
def trained(request, m4, tmp_path_factory):
    est_name, out_name = request.param
    root = tmp_path_factory.mktemp(f"{est_name}-{out_name}")
    check = FiniteTraining()
    torch.manual_seed(0)
    est = make_estimator(est_name, IQFOutput(**OUTPUTS[out_name]), root, [check])
    predictor = est.train(m4[0])
    return est_name, predictor, check, root


def predict(predictor, test, seed=1):
    torch.manual_seed(seed)
    fc_it, ts_it = make_evaluation_predictions(test, predictor, num_samples=100)
    return list(fc_it), list(ts_it)


def test_trains_with_finite_losses(trained):
    _, _, check, _ = trained
    assert len(check.losses) == 6
    assert np.isfinite(check.losses).all()


def test_predict_and_evaluate(trained, m4):
    est_name, predictor, _, _ = trained
    forecasts, series = predict(predictor, m4[1])
    assert len(forecasts) == N_SERIES
    if est_name == "deepar":  # autoregressive sampling -> sample paths
        assert isinstance(forecasts[0], SampleForecast)
    else:
        assert isinstance(forecasts[0], QuantileFunctionForecast)
    agg, per_item = Evaluator(quantiles=LEVELS, num_workers=0)(series, forecasts)
    assert len(per_item) == N_SERIES
    for key in ["mean_wQuantileLoss", "MASE", "Coverage[0.9]", "MSE"]:
        assert np.isfinite(agg[key]), key
    assert 0.0 <= agg["Coverage[0.1]"] <= agg["Coverage[0.5]"] <= agg["Coverage[0.9]"] <= 1.0
    assert crossing_rate(forecasts) == 0.0

    # the gluonts.ev path: evaluate_model on the same test window
    _, template = split(m4[1], offset=-48)
    test_data = template.generate_instances(prediction_length=48)
    torch.manual_seed(1)
    metrics = evaluate_model(
        predictor,
        test_data=test_data,
        metrics=[MeanWeightedSumQuantileLoss(quantile_levels=LEVELS), MASE()],
        axis=None,
        seasonality=24,
    )
    wql = float(metrics.iloc[0, 0])
    assert np.isfinite(metrics.to_numpy()).all()
    if est_name != "deepar":  # deterministic forecasts: both evaluators agree
        assert wql == pytest.approx(agg["mean_wQuantileLoss"], rel=1e-5)


def test_any_level_is_exact_and_monotone(trained, m4):
    est_name, predictor, _, _ = trained
    if est_name == "deepar":
        pytest.skip("DeepAR returns sample paths, not a quantile function")
    forecasts, _ = predict(predictor, m4[1][:5])
    levels = np.array([1e-4, 0.0123, 0.05, 0.333, 0.5, 0.77777, 0.95, 0.999, 1 - 1e-4])
    for f in forecasts:
        q = np.stack([f.quantile(a) for a in levels])
        assert np.all(np.diff(q, axis=0) >= 0)
        np.testing.assert_array_equal(q, f.quantiles(levels))
        # exact: the cdf maps each quantile back to its level
        np.testing.assert_allclose(f.cdf(q), np.broadcast_to(levels[:, None], q.shape), atol=2e-5)
        np.testing.assert_array_equal(f.quantile("p95"), f.quantile(0.95))
        np.testing.assert_array_equal(f.quantile("0.5"), f.median)


def test_serialization_round_trip(trained, m4, tmp_path):
    est_name, predictor, _, _ = trained
    predictor.serialize(Path(tmp_path))
    loaded = Predictor.deserialize(Path(tmp_path))
    test = m4[1][:8]
    a, _ = predict(predictor, test, seed=7)
    b, _ = predict(loaded, test, seed=7)
    assert type(loaded) is type(predictor)
    for fa, fb in zip(a, b):
        assert type(fa) is type(fb)
        if isinstance(fa, SampleForecast):
            np.testing.assert_array_equal(fa.samples, fb.samples)
        else:
            np.testing.assert_array_equal(fa.quantiles(LEVELS), fb.quantiles(LEVELS))
            np.testing.assert_array_equal(fa.mean, fb.mean)


@pytest.mark.parametrize("est_name", ["deepar", "sff", "tide"])
def test_nan_targets_are_masked(est_name, m4, tmp_path):
    """10 % of the training targets missing: GluonTS's observed-values mask
    keeps every loss and gradient finite."""
    rng = np.random.default_rng(0)
    train = []
    for entry in m4[0]:
        target = entry["target"].copy()
        target[rng.random(target.shape) < 0.1] = np.nan
        train.append({**entry, "target": target})
    check = FiniteTraining()
    torch.manual_seed(0)
    est = make_estimator(est_name, IQFOutput(loss="crps"), tmp_path, [check], batches=4)
    predictor = est.train(train)
    assert len(check.losses) == 4 and np.isfinite(check.losses).all()
    forecasts, _ = predict(predictor, m4[1][:4])
    assert all(np.isfinite(f.mean).all() for f in forecasts)


@pytest.mark.parametrize("loss", ["nll", "quantile"])
def test_other_losses_train(loss, m4, tmp_path):
    kw = dict(tails="fitted") if loss == "quantile" else {}
    check = FiniteTraining()
    torch.manual_seed(0)
    est = make_estimator("sff", IQFOutput(loss=loss, **kw), tmp_path, [check], batches=4)
    predictor = est.train(m4[0])
    assert np.isfinite(check.losses).all()
    forecasts, _ = predict(predictor, m4[1][:4])
    assert crossing_rate(forecasts) == 0.0
