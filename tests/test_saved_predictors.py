"""Users' saved models keep working: predictors serialized by an earlier
version (``tests/fixtures/saved_predictors``, written at the commit their
README names by ``tests/fixtures/make_saved_predictors.py``) deserialize
with this version and give the forecasts they gave when saved.

Tolerances: IQF quantiles and means to a relative 1e-5 (float32 rounding of
a reordered computation); sample paths (MQF², DeepAR with the IQF head)
drawn after ``torch.manual_seed(0)`` to a relative 1e-4.
"""

from pathlib import Path

import numpy as np
import pytest
import torch

from gluonts.model import Predictor

from gluonts_iqf import datasets

FIXTURES = Path(__file__).parent / "fixtures" / "saved_predictors"


@pytest.fixture(scope="module")
def series():
    data = datasets.load("m4_hourly")
    return [dict(e, target=e["target"][-200:]) for e in list(data.train)[:4]]


@pytest.mark.parametrize("name", ["mqcnn_iqf", "mqcnn_members", "mqcnn_recent", "mqf2_horizon", "deepar_iqf"])
def test_saved_predictor_loads_and_forecasts_as_saved(name, series):
    path = FIXTURES / name
    expected = np.load(path / "expected.npz")
    predictor = Predictor.deserialize(path, device="cpu")
    torch.manual_seed(0)
    forecasts = list(predictor.predict(series))
    assert len(forecasts) == 4
    if "samples" in expected:
        got = np.stack([f.samples for f in forecasts])
        np.testing.assert_allclose(got, expected["samples"], rtol=1e-4, atol=1e-4 * np.abs(got).mean())
    else:
        levels = list(expected["levels"])
        got = np.stack([f.quantiles(levels) for f in forecasts])
        np.testing.assert_allclose(got, expected["quantiles"], rtol=1e-5)
        np.testing.assert_allclose(np.stack([f.mean for f in forecasts]), expected["mean"], rtol=1e-5)
