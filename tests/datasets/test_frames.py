"""Tests for gluonts_iqf.datasets.frames: long-format CSV / Parquet tables
(load_long_frame, read_frame, frequency inference).

Every bad input must raise DataError (a ValueError) whose one-line message
names the problem and, where there is one, the item.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from dataset_helpers import make_frame, raises_data_error, write_csv

from gluonts_iqf import datasets as D
from gluonts_iqf.datasets import DataError


# ---------------------------------------------------------------------- #
# load_long_frame: good input
# ---------------------------------------------------------------------- #
def test_csv_basic_entries(tmp_path):
    path = write_csv(tmp_path, make_frame())
    entries = D.load_long_frame(path)
    assert [e["item_id"] for e in entries] == ["a", "b"]
    a, b = entries
    assert a["start"] == pd.Period("2021-01-01", freq="D")
    assert b["start"] == pd.Period("2021-01-03", freq="D")
    assert a["target"].dtype == np.float32 and a["target"].shape == (6,)
    np.testing.assert_array_equal(a["target"], np.arange(6, dtype=np.float32))
    np.testing.assert_array_equal(b["target"], np.arange(6, 11, dtype=np.float32))
    assert "feat_dynamic_real" not in a
    assert a["start"].freqstr == "D"


def test_parquet_equals_csv(tmp_path):
    frame = make_frame(freq="h")
    csv = D.load_long_frame(write_csv(tmp_path, frame))
    pq_frame = frame.copy()
    pq_frame["timestamp"] = pd.to_datetime(pq_frame["timestamp"])
    pq_path = tmp_path / "data.parquet"
    pq_frame.to_parquet(pq_path)
    pq = D.load_long_frame(pq_path)
    assert len(pq) == len(csv) == 2
    for x, y in zip(csv, pq):
        assert x["start"] == y["start"] and x["start"].freqstr == "h"
        assert x["item_id"] == y["item_id"]
        np.testing.assert_array_equal(x["target"], y["target"])


def test_custom_columns_rows_unsorted_and_missing_values(tmp_path):
    frame = make_frame().rename(columns={"item_id": "sku", "timestamp": "date", "target": "sales"})
    frame.loc[2, "sales"] = np.nan  # empty cell -> NaN
    frame = frame.sample(frac=1.0, random_state=0)  # any row order
    entries = D.load_long_frame(
        write_csv(tmp_path, frame), item_id="sku", timestamp="date", target="sales"
    )
    a = next(e for e in entries if e["item_id"] == "a")
    assert np.isnan(a["target"][2])
    np.testing.assert_array_equal(a["target"][[0, 1, 3, 4, 5]], [0, 1, 3, 4, 5])


def test_covariates_and_static_covariates(tmp_path):
    frame = make_frame()
    entries = D.load_long_frame(
        write_csv(tmp_path, frame),
        covariates=["price", "size"],
        static_covariates=["store", "size"],
    )
    a, b = entries
    assert a["feat_dynamic_real"].shape == (2, 6)
    assert a["feat_dynamic_real"].dtype == np.float32
    np.testing.assert_allclose(a["feat_dynamic_real"][0], frame["price"][:6], rtol=1e-6)
    np.testing.assert_array_equal(a["feat_static_cat"], [0])  # 's1'
    np.testing.assert_array_equal(b["feat_static_cat"], [1])  # 's2'
    np.testing.assert_array_equal(b["feat_static_real"], [4.0])


def test_explicit_freq_fills_gaps_with_nan(tmp_path):
    frame = make_frame().drop(index=[2, 3])  # 'a' misses 2021-01-03 and -04
    path = write_csv(tmp_path, frame)
    a = D.load_long_frame(path, freq="D")[0]
    assert len(a["target"]) == 6
    assert np.isnan(a["target"][[2, 3]]).all()
    # without freq the other series ('b', regular) fixes the grid: same result
    a2 = D.load_long_frame(path)[0]
    np.testing.assert_array_equal(np.isnan(a2["target"]), np.isnan(a["target"]))


def test_monthly_month_end_and_month_start(tmp_path):
    for stamps in (["2020-01-31", "2020-02-29", "2020-03-31"], ["2020-01-01", "2020-02-01", "2020-03-01"]):
        frame = pd.DataFrame({"item_id": "x", "timestamp": stamps, "target": [1, 2, 3]})
        e = D.load_long_frame(write_csv(tmp_path, frame))[0]
        assert e["start"] == pd.Period("2020-01", freq="M")


def test_single_series_without_item_column(tmp_path):
    frame = make_frame().drop(columns=["item_id"]).iloc[:6]
    e = D.load_long_frame(write_csv(tmp_path, frame), item_id=None)
    assert len(e) == 1 and e[0]["item_id"] == "0"


def test_item_ids_stay_strings(tmp_path):
    frame = pd.DataFrame(
        {"item_id": ["007"] * 3, "timestamp": ["2020-01-01", "2020-01-02", "2020-01-03"], "target": [1, 2, 3]}
    )
    assert D.load_long_frame(write_csv(tmp_path, frame))[0]["item_id"] == "007"


# ---------------------------------------------------------------------- #
# load_long_frame: bad input
# ---------------------------------------------------------------------- #
def test_missing_file(tmp_path):
    raises_data_error(["not found", "nope.csv"], D.load_long_frame, tmp_path / "nope.csv")


def test_unsupported_suffix(tmp_path):
    p = tmp_path / "data.xlsx"
    p.write_text("x")
    raises_data_error(["unsupported file type", "data.xlsx"], D.load_long_frame, p)


def test_empty_file(tmp_path):
    p = tmp_path / "empty.csv"
    p.write_text("")
    raises_data_error(["empty"], D.load_long_frame, p)


@pytest.mark.parametrize(
    "kwargs, role, col",
    [
        ({"target": "sales"}, "target", "sales"),
        ({"timestamp": "date"}, "timestamp", "date"),
        ({"item_id": "sku"}, "item id", "sku"),
        ({"covariates": ["promo"]}, "covariate", "promo"),
    ],
)
def test_missing_column_lists_available(tmp_path, kwargs, role, col):
    msg = raises_data_error(
        [f"missing {role} column {col!r}", "available columns", "'item_id'", "'timestamp'", "'target'"],
        D.load_long_frame, write_csv(tmp_path, make_frame()), **kwargs,
    )
    assert "'price'" in msg


def test_unparsable_timestamp_names_item_and_value(tmp_path):
    frame = make_frame()
    frame.loc[7, "timestamp"] = "not-a-date"
    raises_data_error(["item 'b'", "unparsable timestamp", "'not-a-date'"], D.load_long_frame, write_csv(tmp_path, frame))


def test_numeric_timestamps_rejected(tmp_path):
    frame = make_frame()
    frame["timestamp"] = np.arange(len(frame))
    frame.to_parquet(tmp_path / "n.parquet")
    raises_data_error(["holds numbers, not timestamps", "item 'a'"], D.load_long_frame, tmp_path / "n.parquet")
    # in a CSV they are text: reported as unparsable
    raises_data_error(["item 'a'", "unparsable timestamp '0'"], D.load_long_frame, write_csv(tmp_path, frame))


def test_duplicate_timestamp_names_item_and_timestamp(tmp_path):
    frame = make_frame()
    frame.loc[8, "timestamp"] = frame.loc[7, "timestamp"]  # within 'b'
    raises_data_error(["item 'b'", "duplicate timestamp", "2021-01-04"], D.load_long_frame, write_csv(tmp_path, frame))


def test_non_numeric_target(tmp_path):
    frame = make_frame()
    frame["target"] = frame["target"].astype(object)
    frame.loc[1, "target"] = "lots"
    raises_data_error(["item 'a'", "non-numeric value 'lots'", "'target'"], D.load_long_frame, write_csv(tmp_path, frame))


def test_irregular_timestamps_name_item(tmp_path):
    frame = make_frame()
    frame.loc[8, "timestamp"] = "2021-01-05 06:00"  # 'b' off the daily grid
    raises_data_error(["item 'b'", "irregular"], D.load_long_frame, write_csv(tmp_path, frame))


def test_irregular_everywhere_cannot_infer(tmp_path):
    frame = pd.DataFrame(
        {"item_id": "z", "timestamp": ["2020-01-01", "2020-01-02", "2020-01-04", "2020-01-07"], "target": range(4)}
    )
    raises_data_error(["item 'z'", "irregular", "cannot infer the frequency"], D.load_long_frame, write_csv(tmp_path, frame))


def test_frequencies_disagree(tmp_path):
    a = make_frame(freq="D").iloc[:6]
    b = make_frame(freq="h").iloc[6:]
    msg = raises_data_error(["disagree", "item 'a'", "item 'b'"], D.load_long_frame, write_csv(tmp_path, pd.concat([a, b])))
    assert "'D'" in msg and "'h'" in msg


def test_too_few_timestamps_to_infer(tmp_path):
    frame = make_frame().iloc[:2]
    raises_data_error(["item 'a'", "cannot infer the frequency from 2"], D.load_long_frame, write_csv(tmp_path, frame))


def test_unknown_frequency():
    with pytest.raises(DataError, match="unknown frequency 'fortnightly-ish'"):
        D.load_long_frame(make_frame(), freq="fortnightly-ish")


def test_explicit_freq_coarser_than_data(tmp_path):
    frame = make_frame(freq="h")
    raises_data_error(["item 'a'", "same 'D' period"], D.load_long_frame, write_csv(tmp_path, frame), freq="D")


def test_series_shorter_than_minimum(tmp_path):
    raises_data_error(
        ["item 'b'", "5 time step(s)", "minimum of 6"],
        D.load_long_frame, write_csv(tmp_path, make_frame()), min_length=6,
    )


def test_nan_in_covariate(tmp_path):
    frame = make_frame()
    frame.loc[7, "price"] = np.nan
    raises_data_error(["item 'b'", "NaN in covariate 'price'", "2021-01-04"],
            D.load_long_frame, write_csv(tmp_path, frame), covariates=["price"])


def test_covariate_missing_row_is_nan(tmp_path):
    frame = make_frame().drop(index=[2])
    raises_data_error(["item 'a'", "NaN in covariate 'price'", "missing row"],
            D.load_long_frame, write_csv(tmp_path, frame), covariates=["price"], freq="D")


def test_static_covariate_varies(tmp_path):
    frame = make_frame()
    frame.loc[1, "store"] = "s9"
    raises_data_error(["item 'a'", "static covariate 'store' varies"],
            D.load_long_frame, write_csv(tmp_path, frame), static_covariates=["store"])


def test_missing_item_id(tmp_path):
    frame = make_frame()
    frame.loc[3, "item_id"] = np.nan
    raises_data_error(["missing item id", "row 4"], D.load_long_frame, write_csv(tmp_path, frame))


def test_all_missing_target(tmp_path):
    frame = make_frame()
    frame.loc[:5, "target"] = np.nan
    raises_data_error(["item 'a'", "no observed target values"], D.load_long_frame, write_csv(tmp_path, frame))
