"""Tests of gluonts_iqf.scale.batch: the tables built batch by batch equal
the per-series table of ``gluonts_iqf.cli.forecast.forecast_frame`` over
``predictor.predict``, for an MQ-CNN-IQF predictor (batched IQF), a DeepAR
with the IQF head and an MQF² predictor (sample forecasts, drawn after
``torch.manual_seed(0)`` on both sides), on real m4_hourly series.

Tolerance: none, the frames are equal (same float32 computations in the
same batches, same column dtypes); across other batch sizes IQF tables
agree to rtol 1e-6 (float32 rounding of vectorised kernels can differ in
the last bit with a series' position in the batch).
"""

import numpy as np
import pandas as pd
import pytest
import torch
from gluonts.model import Predictor
from gluonts.model.forecast import QuantileForecast
from scale_helpers import LEVELS, SAVED

from gluonts_iqf.cli.forecast import forecast_frame
from gluonts_iqf.scale import batch
from gluonts_iqf.scale.batch import (
    forecast_tables,
    forecast_timestamps,
    level_name,
    table_columns,
)


@pytest.mark.parametrize("name", ["mqcnn_iqf", "deepar_iqf", "mqf2_horizon"])
def test_tables_equal_the_per_series_frame(name, m4_series):
    """Same batches as ``predict`` (the predictor's batch size), so the
    sample paths are drawn in the same order."""
    predictor = Predictor.deserialize(SAVED / name, device="cpu")
    torch.manual_seed(0)
    expected = forecast_frame(list(predictor.predict(m4_series)), LEVELS)
    torch.manual_seed(0)
    tables = list(forecast_tables(predictor, m4_series, LEVELS))
    assert len(tables) == -(-len(m4_series) // predictor.batch_size)  # one table per batch
    got = pd.concat(tables, ignore_index=True)
    pd.testing.assert_frame_equal(got, expected)
    assert list(got.columns) == table_columns(LEVELS)
    assert len(got) == 40 * 24 and list(got["item_id"].unique()) == [e["item_id"] for e in m4_series]


def test_iqf_tables_do_not_depend_on_the_batch_size(m4_series):
    """IQF quantiles are exact functions of the network output: other
    batches give the same table (to float32 rounding: rtol 1e-6)."""
    predictor = Predictor.deserialize(SAVED / "mqcnn_iqf", device="cpu")
    expected = forecast_frame(list(predictor.predict(m4_series)), LEVELS)
    tables = list(forecast_tables(predictor, m4_series, LEVELS, batch_size=16))
    assert [len(t) for t in tables] == [16 * 24, 16 * 24, 8 * 24]
    got = pd.concat(tables, ignore_index=True)
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-6)


def test_predictor_batch_size_and_entries_without_item_id(m4_series):
    predictor = Predictor.deserialize(SAVED / "mqcnn_iqf", device="cpu")
    series = [{k: v for k, v in e.items() if k != "item_id"} for e in m4_series[:5]]
    got = pd.concat(forecast_tables(predictor, series, [0.5]), ignore_index=True)
    expected = forecast_frame(list(predictor.predict(series)), [0.5])
    pd.testing.assert_frame_equal(got, expected)
    assert list(got["item_id"].unique()) == ["0", "1", "2", "3", "4"]  # running numbers


@pytest.mark.parametrize("freq", ["h", "2h", "15min", "D", "W-SUN", "M", "Q-DEC", "Y-DEC", "B"])
def test_forecast_timestamps_match_period_ranges(freq):
    base = pd.Period("2021-01-04", freq=freq)
    starts = [base + k for k in (0, 3, 11)]
    expected = np.concatenate([np.asarray(pd.period_range(p, periods=5).to_timestamp()) for p in starts])
    got = forecast_timestamps(starts, 5)
    np.testing.assert_array_equal(np.asarray(got), expected)


def test_forecast_timestamps_of_mixed_frequencies():
    starts = [pd.Period("2021-01-04", freq="D"), pd.Period("2021-01-04 05:00", freq="h")]
    got = np.asarray(forecast_timestamps(starts, 3))
    expected = np.concatenate([np.asarray(pd.period_range(p, periods=3).to_timestamp()) for p in starts])
    np.testing.assert_array_equal(got, expected)


def test_other_forecast_types_are_read_one_by_one():
    """A forecast that is neither an IQF nor a sample forecast (a GluonTS
    QuantileForecast) goes through its own ``quantile``; quantiles (L, B, H)
    and means (B, H) stack the per-forecast values."""
    start = pd.Period("2021-01-01", freq="h")
    forecasts = [
        QuantileForecast(np.array([[1.0, 2.0], [3.0, 4.0], [2.0, 3.0]]) + k, start + k,
                         forecast_keys=["0.1", "0.9", "mean"], item_id=f"x{k}")
        for k in range(3)
    ]
    quantiles, mean = batch._forecast_arrays(forecasts, [0.1, 0.9])
    assert quantiles.shape == (2, 3, 2) and mean.shape == (3, 2)
    np.testing.assert_array_equal(quantiles[:, 1], [[2.0, 3.0], [4.0, 5.0]])
    np.testing.assert_array_equal(mean[2], [4.0, 5.0])


def test_level_names():
    assert [level_name(a) for a in (0.05, 0.5, 0.9, 0.995)] == ["0.05", "0.5", "0.9", "0.995"]
    assert level_name(1 / 3) == "0.333333"
