"""``gluonts.shell``'s inference server (the SageMaker-style Flask app of
``gluonts.shell.serve``) over our predictors, through Flask's test client
(no sockets): MQ-CNN (IQF head, a ``QuantileFunctionForecast`` per series),
MQF² (joint sample paths) and GluonTS's DeepAR with ``IQFOutput`` (sample
paths) answer ``mean``, ``quantiles`` and ``samples`` requests, in the
real-time and in the batch-transform mode, with what the predictor gives
locally."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from gluonts.dataset.jsonl import encode_json
from gluonts.model.forecast_generator import DistributionForecastGenerator
from gluonts.model.predictor import Predictor
from gluonts.shell.env import ServeEnv
from gluonts.shell.serve import Settings, make_flask_app
from gluonts.torch.model.predictor import PyTorchPredictor

from gluonts_iqf import QuantileFunctionForecast
from gluonts_iqf.forecast import DEFAULT_NUM_SAMPLES, QuantileFunctionForecastGenerator

from shell_helpers import FREQ, H, make_estimator, make_series

NAMES = ["mqcnn", "mqf2", "deepar"]
LEVELS = ["0.1", "0.5", "0.9"]
ALL_OUTPUTS = ["mean", "quantiles", "samples"]


def serve_app(predictor, base: Path):
    """The Flask app ``gluonts.shell`` serves for ``predictor`` saved in
    ``base/model`` (the static-predictor mode), as a test client."""
    predictor.serialize(ServeEnv(base).path.model)
    return make_flask_app(ServeEnv(base), None, Settings()).test_client()


def invoke(client, entries, configuration):
    """POST ``/invocations`` (real-time mode) with ``configuration`` (plus
    ``freq``); the predictions, one per entry."""
    body = {"instances": [encode_json(e) for e in entries], "configuration": {"freq": FREQ, **configuration}}
    response = client.post("/invocations", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    predictions = response.get_json()["predictions"]
    assert len(predictions) == len(entries)
    return predictions


def expected_rows(predictor, asked):
    """Rows of ``samples`` the shell returns for ``asked`` samples: the
    request's count, except where the predictor's generator is GluonTS's
    ``DistributionForecastGenerator``, which drops it (then the forecasts'
    documented default, ``DEFAULT_NUM_SAMPLES``)."""
    if type(predictor.forecast_generator) is DistributionForecastGenerator:
        return DEFAULT_NUM_SAMPLES
    return asked


@pytest.fixture(scope="module")
def series():
    return make_series()


@pytest.fixture(scope="module", params=NAMES)
def served(request, series, tmp_path_factory):
    """(name, predictor, client): a tiny trained predictor (seeded) and the
    shell's app serving it from its saved copy."""
    name = request.param
    root = tmp_path_factory.mktemp(name)
    torch.manual_seed(0)
    predictor = make_estimator(name, root / "fit").train(series)
    return name, predictor, serve_app(predictor, root / "serve")


def test_ping_and_execution_parameters(served):
    _, _, client = served
    assert client.get("/ping").status_code == 200
    params = client.get("/execution-parameters").get_json()
    assert params["BatchStrategy"] == "SINGLE_RECORD" and params["MaxPayloadInMB"] == 6


def check_prediction(prediction, num_rows):
    """Shapes and order of one JSON prediction: ``mean`` (H,), quantiles
    0.1 <= 0.5 <= 0.9 each (H,), ``samples`` (num_rows, H), all finite.
    Returns them as arrays."""
    assert set(prediction) == set(ALL_OUTPUTS)
    mean = np.array(prediction["mean"])
    q = np.array([prediction["quantiles"][k] for k in LEVELS])
    samples = np.array(prediction["samples"])
    assert mean.shape == (H,) and q.shape == (3, H) and samples.shape == (num_rows, H)
    assert np.isfinite(mean).all() and np.isfinite(q).all() and np.isfinite(samples).all()
    assert np.all(np.diff(q, axis=0) >= 0)
    return mean, q, samples


def test_all_output_types_match_local_forecasts(served, series):
    """A request for ``mean``, ``quantiles`` and ``samples`` (40 asked)
    answers with what ``predictor.predict`` gives locally under the same
    torch seed: for MQ-CNN the exact mean and quantiles of the quantile
    functions and inverse-cdf samples (100, the documented default, while
    its generator is GluonTS's ``DistributionForecastGenerator``, which does
    not pass the count on; see the xfail below), whose average lies within
    5 standard errors of the exact mean; for MQF² and DeepAR the requested
    40 sample paths and their mean and quantiles."""
    name, predictor, client = served
    config = {"num_samples": 40, "output_types": ALL_OUTPUTS, "quantiles": LEVELS}
    torch.manual_seed(5)
    local = list(predictor.predict(series, num_samples=40))
    local_samples = [f.samples for f in local]  # drawn in the server's order
    torch.manual_seed(5)
    predictions = invoke(client, series, config)
    rows = expected_rows(predictor, 40)
    for f, f_samples, prediction in zip(local, local_samples, predictions, strict=True):
        mean, q, samples = check_prediction(prediction, rows)
        np.testing.assert_allclose(mean, f.mean, rtol=1e-6)
        np.testing.assert_allclose(q, np.stack([f.quantile(k) for k in LEVELS]), rtol=1e-6)
        np.testing.assert_allclose(samples, f_samples, rtol=1e-6)
        if name == "mqcnn":
            assert isinstance(f, QuantileFunctionForecast)
            np.testing.assert_array_equal(mean, f.distribution.mean.numpy())
            se = samples.std(axis=0, ddof=1) / np.sqrt(rows)
            assert np.all(np.abs(samples.mean(axis=0) - mean) < 5 * se)
        else:
            np.testing.assert_allclose(mean, samples.mean(axis=0), rtol=1e-5)


@pytest.mark.parametrize("outputs", [["mean"], ["quantiles"], ["samples"]])
def test_each_output_type_alone(served, series, outputs):
    """Each output type on its own answers with exactly that key; the
    shell's default ``num_samples`` (100) gives 100 rows everywhere."""
    _, _, client = served
    predictions = invoke(client, series[:2], {"output_types": outputs, "quantiles": LEVELS})
    for prediction in predictions:
        assert set(prediction) == set(outputs)
        if outputs == ["samples"]:
            assert np.array(prediction["samples"]).shape == (100, H)


def test_batch_transform_mode(served, series, tmp_path, monkeypatch):
    """SageMaker batch transform (``SAGEMAKER_BATCH``, the configuration in
    ``INFERENCE_CONFIG``, JSON lines in and out) serves all output types."""
    _, predictor, _ = served
    monkeypatch.setenv("SAGEMAKER_BATCH", "true")
    monkeypatch.setenv("INFERENCE_CONFIG", json.dumps(
        {"freq": FREQ, "num_samples": 30, "output_types": ALL_OUTPUTS, "quantiles": LEVELS}
    ))
    client = serve_app(predictor, tmp_path)
    lines = "\n".join(json.dumps(encode_json(e)) for e in series[:3])
    response = client.post("/invocations", data=lines)
    assert response.status_code == 200, response.get_data(as_text=True)
    predictions = [json.loads(line) for line in response.get_data(as_text=True).splitlines()]
    assert len(predictions) == 3
    for prediction in predictions:
        check_prediction(prediction, expected_rows(predictor, 30))


def with_generator(predictor: PyTorchPredictor) -> PyTorchPredictor:
    """The same predictor with :class:`QuantileFunctionForecastGenerator`,
    which passes ``predict``'s ``num_samples`` on to the forecasts."""
    return PyTorchPredictor(
        input_names=predictor.input_names,
        prediction_net=predictor.prediction_net,
        batch_size=predictor.batch_size,
        prediction_length=predictor.prediction_length,
        input_transform=predictor.input_transform,
        forecast_generator=QuantileFunctionForecastGenerator(predictor.forecast_generator.distr_output),
        device="cpu",
    )


@pytest.fixture(scope="module")
def mqcnn(series, tmp_path_factory):
    root = tmp_path_factory.mktemp("mqcnn-generator")
    torch.manual_seed(0)
    return make_estimator("mqcnn", root).train(series)


def test_request_num_samples_with_quantile_function_generator(mqcnn, series, tmp_path):
    """With :class:`QuantileFunctionForecastGenerator` (saved and loaded by
    the shell) the request's ``num_samples`` sets the rows of ``samples``;
    mean and quantiles are the exact ones of the stock predictor."""
    predictor = with_generator(mqcnn)
    client = serve_app(predictor, tmp_path)
    loaded = Predictor.deserialize(ServeEnv(tmp_path).path.model)
    assert isinstance(loaded.forecast_generator, QuantileFunctionForecastGenerator)
    config = {"num_samples": 37, "output_types": ALL_OUTPUTS, "quantiles": LEVELS}
    predictions = invoke(client, series, config)
    for f, prediction in zip(mqcnn.predict(series), predictions, strict=True):
        mean, q, _ = check_prediction(prediction, 37)
        np.testing.assert_array_equal(mean, f.mean)
        np.testing.assert_array_equal(q, np.stack([f.quantile(k) for k in LEVELS]))
    default = invoke(client, series[:1], {"output_types": ["samples"]})
    assert np.array(default[0]["samples"]).shape == (DEFAULT_NUM_SAMPLES, H)


def test_stock_mqcnn_predictor_honours_request_num_samples(mqcnn, series, tmp_path):
    """The MQ-CNN predictor as ``MQCNNEstimator`` builds it (its
    ``IQFOutput``'s forecast generator) answers a request for 37 samples
    with 37 rows."""
    client = serve_app(mqcnn, tmp_path)
    predictions = invoke(client, series[:1], {"num_samples": 37, "output_types": ["samples"]})
    assert np.array(predictions[0]["samples"]).shape == (37, H)
