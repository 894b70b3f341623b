"""Tests for the local-data loaders of gluonts_iqf.datasets:
load_long_frame (CSV / Parquet, long format), load_jsonl_dir (GluonTS JSON
lines), load_any (names, folders, files) and backtest_split.

Every bad input must raise DataError (a ValueError) whose one-line message
names the problem and, where there is one, the item.
"""

from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
import pytest

from gluonts_iqf import datasets as D
from gluonts_iqf.datasets import DataError


def _frame(n_a=6, n_b=5, freq="D"):
    """Two series 'a' (from 2021-01-01) and 'b' (from 2021-01-03)."""
    ts_a = pd.date_range("2021-01-01", periods=n_a, freq=freq)
    ts_b = pd.date_range("2021-01-03", periods=n_b, freq=freq)
    return pd.DataFrame(
        {
            "item_id": ["a"] * n_a + ["b"] * n_b,
            "timestamp": [str(t) for t in ts_a] + [str(t) for t in ts_b],
            "target": np.arange(n_a + n_b, dtype=float),
            "price": np.linspace(1.0, 2.0, n_a + n_b),
            "store": ["s1"] * n_a + ["s2"] * n_b,
            "size": [3.0] * n_a + [4.0] * n_b,
        }
    )


def _write_csv(tmp_path, frame, name="data.csv"):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def _raises(match_parts, fn, *args, **kwargs):
    with pytest.raises(DataError) as info:
        fn(*args, **kwargs)
    msg = str(info.value)
    assert "\n" not in msg
    for part in match_parts:
        assert part in msg, f"{part!r} not in {msg!r}"
    return msg


# ---------------------------------------------------------------------- #
# load_long_frame: good input
# ---------------------------------------------------------------------- #
def test_csv_basic_entries(tmp_path):
    path = _write_csv(tmp_path, _frame())
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
    frame = _frame(freq="h")
    csv = D.load_long_frame(_write_csv(tmp_path, frame))
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
    frame = _frame().rename(columns={"item_id": "sku", "timestamp": "date", "target": "sales"})
    frame.loc[2, "sales"] = np.nan  # empty cell -> NaN
    frame = frame.sample(frac=1.0, random_state=0)  # any row order
    entries = D.load_long_frame(
        _write_csv(tmp_path, frame), item_id="sku", timestamp="date", target="sales"
    )
    a = next(e for e in entries if e["item_id"] == "a")
    assert np.isnan(a["target"][2])
    np.testing.assert_array_equal(a["target"][[0, 1, 3, 4, 5]], [0, 1, 3, 4, 5])


def test_covariates_and_static_covariates(tmp_path):
    frame = _frame()
    entries = D.load_long_frame(
        _write_csv(tmp_path, frame),
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
    frame = _frame().drop(index=[2, 3])  # 'a' misses 2021-01-03 and -04
    path = _write_csv(tmp_path, frame)
    a = D.load_long_frame(path, freq="D")[0]
    assert len(a["target"]) == 6
    assert np.isnan(a["target"][[2, 3]]).all()
    # without freq the other series ('b', regular) fixes the grid: same result
    a2 = D.load_long_frame(path)[0]
    np.testing.assert_array_equal(np.isnan(a2["target"]), np.isnan(a["target"]))


def test_monthly_month_end_and_month_start(tmp_path):
    for stamps in (["2020-01-31", "2020-02-29", "2020-03-31"], ["2020-01-01", "2020-02-01", "2020-03-01"]):
        frame = pd.DataFrame({"item_id": "x", "timestamp": stamps, "target": [1, 2, 3]})
        e = D.load_long_frame(_write_csv(tmp_path, frame))[0]
        assert e["start"] == pd.Period("2020-01", freq="M")


def test_single_series_without_item_column(tmp_path):
    frame = _frame().drop(columns=["item_id"]).iloc[:6]
    e = D.load_long_frame(_write_csv(tmp_path, frame), item_id=None)
    assert len(e) == 1 and e[0]["item_id"] == "0"


def test_item_ids_stay_strings(tmp_path):
    frame = pd.DataFrame(
        {"item_id": ["007"] * 3, "timestamp": ["2020-01-01", "2020-01-02", "2020-01-03"], "target": [1, 2, 3]}
    )
    assert D.load_long_frame(_write_csv(tmp_path, frame))[0]["item_id"] == "007"


# ---------------------------------------------------------------------- #
# load_long_frame: bad input
# ---------------------------------------------------------------------- #
def test_missing_file(tmp_path):
    _raises(["not found", "nope.csv"], D.load_long_frame, tmp_path / "nope.csv")


def test_unsupported_suffix(tmp_path):
    p = tmp_path / "data.xlsx"
    p.write_text("x")
    _raises(["unsupported file type", "data.xlsx"], D.load_long_frame, p)


def test_empty_file(tmp_path):
    p = tmp_path / "empty.csv"
    p.write_text("")
    _raises(["empty"], D.load_long_frame, p)


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
    msg = _raises(
        [f"missing {role} column {col!r}", "available columns", "'item_id'", "'timestamp'", "'target'"],
        D.load_long_frame, _write_csv(tmp_path, _frame()), **kwargs,
    )
    assert "'price'" in msg


def test_unparsable_timestamp_names_item_and_value(tmp_path):
    frame = _frame()
    frame.loc[7, "timestamp"] = "not-a-date"
    _raises(["item 'b'", "unparsable timestamp", "'not-a-date'"], D.load_long_frame, _write_csv(tmp_path, frame))


def test_numeric_timestamps_rejected(tmp_path):
    frame = _frame()
    frame["timestamp"] = np.arange(len(frame))
    frame.to_parquet(tmp_path / "n.parquet")
    _raises(["holds numbers, not timestamps", "item 'a'"], D.load_long_frame, tmp_path / "n.parquet")
    # in a CSV they are text: reported as unparsable
    _raises(["item 'a'", "unparsable timestamp '0'"], D.load_long_frame, _write_csv(tmp_path, frame))


def test_duplicate_timestamp_names_item_and_timestamp(tmp_path):
    frame = _frame()
    frame.loc[8, "timestamp"] = frame.loc[7, "timestamp"]  # within 'b'
    _raises(["item 'b'", "duplicate timestamp", "2021-01-04"], D.load_long_frame, _write_csv(tmp_path, frame))


def test_non_numeric_target(tmp_path):
    frame = _frame()
    frame["target"] = frame["target"].astype(object)
    frame.loc[1, "target"] = "lots"
    _raises(["item 'a'", "non-numeric value 'lots'", "'target'"], D.load_long_frame, _write_csv(tmp_path, frame))


def test_irregular_timestamps_name_item(tmp_path):
    frame = _frame()
    frame.loc[8, "timestamp"] = "2021-01-05 06:00"  # 'b' off the daily grid
    _raises(["item 'b'", "irregular"], D.load_long_frame, _write_csv(tmp_path, frame))


def test_irregular_everywhere_cannot_infer(tmp_path):
    frame = pd.DataFrame(
        {"item_id": "z", "timestamp": ["2020-01-01", "2020-01-02", "2020-01-04", "2020-01-07"], "target": range(4)}
    )
    _raises(["item 'z'", "irregular", "cannot infer the frequency"], D.load_long_frame, _write_csv(tmp_path, frame))


def test_frequencies_disagree(tmp_path):
    a = _frame(freq="D").iloc[:6]
    b = _frame(freq="h").iloc[6:]
    msg = _raises(["disagree", "item 'a'", "item 'b'"], D.load_long_frame, _write_csv(tmp_path, pd.concat([a, b])))
    assert "'D'" in msg and "'h'" in msg


def test_too_few_timestamps_to_infer(tmp_path):
    frame = _frame().iloc[:2]
    _raises(["item 'a'", "cannot infer the frequency from 2"], D.load_long_frame, _write_csv(tmp_path, frame))


def test_unknown_frequency():
    with pytest.raises(DataError, match="unknown frequency 'fortnightly-ish'"):
        D.load_long_frame(_frame(), freq="fortnightly-ish")


def test_explicit_freq_coarser_than_data(tmp_path):
    frame = _frame(freq="h")
    _raises(["item 'a'", "same 'D' period"], D.load_long_frame, _write_csv(tmp_path, frame), freq="D")


def test_series_shorter_than_minimum(tmp_path):
    _raises(
        ["item 'b'", "5 time step(s)", "minimum of 6"],
        D.load_long_frame, _write_csv(tmp_path, _frame()), min_length=6,
    )


def test_nan_in_covariate(tmp_path):
    frame = _frame()
    frame.loc[7, "price"] = np.nan
    _raises(["item 'b'", "NaN in covariate 'price'", "2021-01-04"],
            D.load_long_frame, _write_csv(tmp_path, frame), covariates=["price"])


def test_covariate_missing_row_is_nan(tmp_path):
    frame = _frame().drop(index=[2])
    _raises(["item 'a'", "NaN in covariate 'price'", "missing row"],
            D.load_long_frame, _write_csv(tmp_path, frame), covariates=["price"], freq="D")


def test_static_covariate_varies(tmp_path):
    frame = _frame()
    frame.loc[1, "store"] = "s9"
    _raises(["item 'a'", "static covariate 'store' varies"],
            D.load_long_frame, _write_csv(tmp_path, frame), static_covariates=["store"])


def test_missing_item_id(tmp_path):
    frame = _frame()
    frame.loc[3, "item_id"] = np.nan
    _raises(["missing item id", "row 4"], D.load_long_frame, _write_csv(tmp_path, frame))


def test_all_missing_target(tmp_path):
    frame = _frame()
    frame.loc[:5, "target"] = np.nan
    _raises(["item 'a'", "no observed target values"], D.load_long_frame, _write_csv(tmp_path, frame))


def test_data_error_is_value_error():
    assert issubclass(DataError, ValueError)
    assert str(DataError("two\nlines")) == "two lines"


# ---------------------------------------------------------------------- #
# load_jsonl_dir
# ---------------------------------------------------------------------- #
def _jsonl(path, records, gz=False):
    text = "\n".join(json.dumps(r) for r in records) + "\n"
    if gz:
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)


def test_jsonl_dir_with_metadata(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    (d / "metadata.json").write_text(json.dumps({"freq": "h", "prediction_length": 3}))
    _jsonl(d / "a.json", [{"start": "2020-01-01 00:00", "target": [1, 2, None, 4], "item_id": "x"}])
    _jsonl(d / "b.jsonl.gz", [{"start": "2020-01-02 05:00", "target": [5.0, "NaN", 7],
                                "feat_dynamic_real": [[1, 2, 3]], "feat_static_cat": [2]}], gz=True)
    _jsonl(d / "c.jsonl", [{"start": "2020-01-03", "target": [8, 9]}])
    (d / ".hidden.json").write_text("garbage")
    entries = D.load_jsonl_dir(d)
    assert [e["item_id"] for e in entries] == ["x", "1", "2"]
    assert entries[0]["start"] == pd.Period("2020-01-01 00:00", freq="h")
    assert entries[0]["target"].dtype == np.float32 and np.isnan(entries[0]["target"][2])
    assert np.isnan(entries[1]["target"][1])
    assert entries[1]["feat_dynamic_real"].shape == (1, 3)
    assert entries[1]["feat_static_cat"].dtype == np.int32


def test_jsonl_matches_gluonts_filedataset(tmp_path):
    from gluonts.dataset.common import FileDataset

    d = tmp_path / "data"
    d.mkdir()
    _jsonl(d / "data.json", [{"start": "2020-01-01", "target": [1.0, 2.0, 3.0]},
                             {"start": "2020-02-01", "target": [4.0, 5.0]}])
    ours = D.load_jsonl_dir(d, freq="D")
    theirs = list(FileDataset(d, freq="D"))
    assert len(ours) == len(theirs)
    for x, y in zip(ours, theirs):
        assert x["start"] == y["start"]
        np.testing.assert_array_equal(x["target"], y["target"])


def test_jsonl_errors(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    _raises(["no frequency"], D.load_jsonl_dir, d)
    _raises(["no JSON-lines files"], D.load_jsonl_dir, d, freq="D")
    (d / "a.json").write_text('{"start": "2020-01-01", "target": [1, 2]}\n{not json}\n')
    _raises(["a.json line 2", "invalid JSON"], D.load_jsonl_dir, d, freq="D")
    _jsonl(d / "a.json", [{"start": "2020-01-01", "item_id": "q"}])
    _raises(["a.json line 1", "item 'q'", "missing field 'target'"], D.load_jsonl_dir, d, freq="D")
    _jsonl(d / "a.json", [{"start": "yesterday-ish", "target": [1], "item_id": "q"}])
    _raises(["item 'q'", "unparsable start"], D.load_jsonl_dir, d, freq="D")
    _jsonl(d / "a.json", [{"start": "2020-01-01", "target": [1, 2], "item_id": "q"}])
    _raises(["item 'q'", "minimum of 3"], D.load_jsonl_dir, d, freq="D", min_length=3)
    _jsonl(d / "a.json", [{"start": "2020-01-01", "target": [1, 2], "item_id": "q",
                           "feat_dynamic_real": [[1, None]]}])
    _raises(["item 'q'", "NaN in covariate 'feat_dynamic_real'"], D.load_jsonl_dir, d, freq="D")
    _raises(["not found"], D.load_jsonl_dir, tmp_path / "missing", freq="D")


# ---------------------------------------------------------------------- #
# load_any and backtest_split
# ---------------------------------------------------------------------- #
def test_load_any_embedded_name():
    ds = D.load_any("m4_hourly")
    assert len(ds.train) == len(ds.test) == 414
    assert ds.metadata.freq == "h" and ds.metadata.prediction_length == 48


def test_load_any_unknown_name_lists_known():
    _raises(["unknown dataset 'm5_daily'", "m4_hourly", "tourism_monthly"], D.load_any, "m5_daily")


def test_load_any_missing_file_and_raw_files(tmp_path):
    _raises(["not found", "gone.csv"], D.load_any, str(tmp_path / "gone.csv"))
    _raises(["m4_weekly", "not found"], D.load_any, "m4_weekly", data_dir=tmp_path)


def test_load_any_csv_parquet_and_columns(tmp_path):
    frame = _frame().rename(columns={"target": "y"})
    ds = D.load_any(str(_write_csv(tmp_path, frame)), target="y")
    assert ds.test is None and ds.metadata.freq == "D" and len(ds.train) == 2
    frame.to_parquet(tmp_path / "f.parquet")
    assert len(D.load_any(tmp_path / "f.parquet", target="y").train) == 2


def test_load_any_gluonts_layout(tmp_path):
    root = tmp_path / "ds"
    (root / "train").mkdir(parents=True)
    (root / "test").mkdir()
    (root / "metadata.json").write_text(json.dumps({"freq": "D", "prediction_length": 2}))
    _jsonl(root / "train" / "data.json", [{"start": "2020-01-01", "target": [1, 2, 3], "item_id": "u"}])
    _jsonl(root / "test" / "data.json", [{"start": "2020-01-01", "target": [1, 2, 3, 4, 5], "item_id": "u"}])
    ds = D.load_any(root)
    assert ds.metadata.freq == "D" and ds.metadata.prediction_length == 2
    assert len(ds.train[0]["target"]) == 3 and len(ds.test[0]["target"]) == 5
    # a plain JSON-lines folder: no test split
    flat = D.load_any(root / "train", freq="D")
    assert flat.test is None and flat.train[0]["item_id"] == "u"


def test_backtest_split_without_test(tmp_path):
    ds = D.load_any(str(_write_csv(tmp_path, _frame(), )), covariates=["price"])
    train, test = D.backtest_split(ds, 2)
    assert [len(e["target"]) for e in train] == [4, 3]
    assert [len(e["target"]) for e in test] == [6, 5]
    assert train[0]["feat_dynamic_real"].shape == (1, 4)
    assert test[0]["feat_dynamic_real"].shape == (1, 6)
    _raises(["item 'b'", "prediction_length 5"], D.backtest_split, ds, 5)


def test_backtest_split_with_test_split():
    ds = D.load_any("m4_hourly")
    train, test = D.backtest_split(ds, 48)
    assert all(len(tr["target"]) + 48 == len(te["target"]) for tr, te in zip(train, test))
    train, test = D.backtest_split(ds, 60)  # longer horizon: train cut further
    assert all(len(tr["target"]) + 60 == len(te["target"]) for tr, te in zip(train, test))
    train, _ = D.backtest_split(ds, 24)  # shorter horizon: stored train kept
    assert all(len(tr["target"]) + 48 == len(te["target"]) for tr, te in zip(train, test))


def test_backtest_split_unobserved_window(tmp_path):
    frame = _frame()
    frame.loc[9:10, "target"] = np.nan  # last two of 'b'
    ds = D.load_any(str(_write_csv(tmp_path, frame)))
    _raises(["item 'b'", "all missing"], D.backtest_split, ds, 2)
