"""``gluonts.shell``'s train job (``run_train_and_test`` with a ``TrainEnv``)
with our estimator class and flat string hyperparameters, as SageMaker
passes them: it trains, saves a model folder, evaluates the test channel,
and the saved model loads and forecasts."""

import json
import logging
import math

import numpy as np
import torch

from gluonts.dataset.jsonl import encode_json
from gluonts.model.predictor import Predictor
from gluonts.shell.env import TrainEnv
from gluonts.shell.sagemaker.params import encode_sagemaker_parameters
from gluonts.shell.sagemaker.train import TrainPaths
from gluonts.shell.train import run_train_and_test

from gluonts_iqf import MQCNNEstimator, QuantileFunctionForecast

from shell_helpers import FREQ, H, MQCNN_SETTINGS, make_series, trainer_kwargs


def write_lines(path, entries):
    path.mkdir(parents=True)
    with (path / "data.json").open("w") as fp:
        for entry in entries:
            print(json.dumps(encode_json({k: entry[k] for k in ("start", "target", "item_id")})), file=fp)


def make_train_env(base, hyperparameters, series, test_series):
    """The layout the shell reads under ``base``: ``input/config/
    hyperparameters.json`` (every value a string), and the channels
    ``input/data/metadata/metadata.json``, ``input/data/train`` and
    ``input/data/test`` (JSON lines)."""
    paths = TrainPaths(base)
    paths.hyperparameters.write_text(json.dumps(encode_sagemaker_parameters(hyperparameters)))
    (paths.data / "metadata").mkdir()
    (paths.data / "metadata" / "metadata.json").write_text(json.dumps({"freq": FREQ, "prediction_length": H}))
    write_lines(paths.data / "train", series)
    write_lines(paths.data / "test", test_series)
    return TrainEnv(base)


def test_train_job_with_mqcnn(tmp_path, caplog):
    """``run_train_and_test(env, MQCNNEstimator)`` with string
    hyperparameters ("6", "[8, 8, 8]", a JSON trainer dict): the estimator
    gets typed settings, the model folder holds a predictor that loads and
    gives ``QuantileFunctionForecast`` s with H steps, and the test channel's
    metrics are logged and saved (finite)."""
    full = make_series(length=96 + H)
    train = [{**e, "target": e["target"][:-H]} for e in full]
    hyperparameters = {"prediction_length": H, "trainer_kwargs": trainer_kwargs(tmp_path / "fit"),
                       **MQCNN_SETTINGS}
    encoded = encode_sagemaker_parameters(hyperparameters)
    assert all(isinstance(v, str) for v in encoded.values())
    env = make_train_env(tmp_path / "job", hyperparameters, train, full)
    assert env.hyperparameters["freq"] == FREQ  # from the metadata channel
    assert set(env.datasets) == {"train", "test"}

    torch.manual_seed(0)
    # The shell logs the scores on its own logger. Another library imported
    # earlier in the session may have configured logging with
    # ``disable_existing_loggers`` or turned propagation off, so the capture
    # handler is attached to that logger directly and the logger re-enabled.
    shell_logger = logging.getLogger("gluonts.shell.train")
    saved = shell_logger.disabled, shell_logger.level
    shell_logger.disabled = False
    shell_logger.setLevel(logging.INFO)
    shell_logger.addHandler(caplog.handler)
    try:
        run_train_and_test(env, MQCNNEstimator)
    finally:
        shell_logger.removeHandler(caplog.handler)
        shell_logger.disabled, _ = saved
        shell_logger.setLevel(saved[1])

    model = env.path.model
    assert (model / "predictor.json").exists()
    predictor = Predictor.deserialize(model)
    settings = predictor.prediction_net.__init_args__["model_kwargs"]  # parsed from the strings
    assert predictor.prediction_length == H
    assert settings["channels_seq"] == [8, 8, 8] and settings["context_length"] == 24
    forecasts = list(predictor.predict(train))
    assert len(forecasts) == len(train)
    for f in forecasts:
        assert isinstance(f, QuantileFunctionForecast)
        assert f.mean.shape == (H,) and np.isfinite(f.mean).all()
        assert np.all(np.diff(f.quantiles([0.1, 0.5, 0.9]), axis=0) > 0)

    metrics = json.loads((model / "agg_metrics.json").read_text())
    for key in ["MSE", "mean_wQuantileLoss", "Coverage[0.5]"]:
        assert math.isfinite(metrics[key]), key
    assert (model / "item_metrics.csv").exists()
    logged = [r.getMessage() for r in caplog.records if "#test_score" in r.getMessage()]
    assert any("mean_wQuantileLoss" in line for line in logged)
