"""Tests of gluonts_iqf.scale.predictor: loading a saved predictor (one-line
errors naming the folder), the frequency check of the input series and
reading them for a predictor (covariates over its horizon)."""

import json

import numpy as np
import pandas as pd
import pytest
from scale_helpers import SAVED

from gluonts_iqf.datasets import DataError
from gluonts_iqf.scale.predictor import (
    PREDICTOR_INFO,
    PredictorError,
    check_frequency,
    load_predictor,
    series_to_forecast,
)


def test_load_saved_predictor_and_info(tmp_path):
    predictor, info = load_predictor(SAVED / "mqcnn_iqf")
    assert predictor.prediction_length == 24 and info == {}
    # the run record next to it is returned
    folder = tmp_path / "p"
    folder.mkdir()
    for f in (SAVED / "mqcnn_iqf").iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    (folder / PREDICTOR_INFO).write_text(json.dumps({"freq": "h"}))
    assert load_predictor(folder)[1] == {"freq": "h"}


@pytest.mark.parametrize("make, part", [
    (lambda p: p / "none", "predictor folder not found"),
    (lambda p: p, "is not a saved predictor"),
])
def test_bad_predictor_folders(tmp_path, make, part):
    with pytest.raises(PredictorError, match=part):
        load_predictor(make(tmp_path))


def test_unreadable_predictor(tmp_path):
    (tmp_path / "gluonts-config.json").write_text("{not json")
    with pytest.raises(PredictorError, match="cannot load the predictor"):
        load_predictor(tmp_path)


def test_check_frequency():
    entries = [{"start": pd.Period("2024-01-01", freq="D")}]
    check_frequency(entries, None, explicit=False)  # unknown: nothing to check
    check_frequency(entries, "D", explicit=False)
    with pytest.raises(DataError, match="frequency 'D' differs from the predictor's 'h'; pass --freq h"):
        check_frequency(entries, "h", explicit=False)
    with pytest.raises(DataError, match=r"differs from the predictor's 'h'$"):
        check_frequency(entries, "h", explicit=True)


def test_series_to_forecast():
    """Without covariates every row is history; with them the last
    prediction_length rows of each series are its horizon (covariates
    only); the frequency is checked against the predictor's."""
    stamps = pd.date_range("2024-01-01", periods=6, freq="h")
    frame = pd.DataFrame({"item_id": "a", "timestamp": stamps, "target": [1.0, 2, 3, 4, np.nan, np.nan],
                          "promo": [0.0, 1, 0, 1, 1, 0]})
    (plain,) = series_to_forecast(frame, 2, "h")
    assert plain["target"].shape == (6,) and "feat_dynamic_real" not in plain
    (known,) = series_to_forecast(frame, 2, "h", covariates=["promo"])
    np.testing.assert_array_equal(known["target"], [1, 2, 3, 4])
    np.testing.assert_array_equal(known["feat_dynamic_real"], [[0, 1, 0, 1, 1, 0]])
    with pytest.raises(DataError, match="differs from the predictor's 'D'; pass --freq D"):
        series_to_forecast(frame, 2, "D", covariates=["promo"])
    with pytest.raises(DataError, match=r"differs from the predictor's 'D'$"):
        series_to_forecast(frame, 2, "D", freq="h")
