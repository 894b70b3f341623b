"""Tests for gluonts_iqf.datasets.recipes: each benchmark dataset built as
GluonTS's dataset repository builds it.

The embedded ``m4_hourly`` tests always run. The others need the raw
benchmark files in ``$GLUONTS_IQF_DATA_DIR`` and skip when it is unset.
"""

from __future__ import annotations

import csv
import gzip

import numpy as np
import pandas as pd
import pytest
from dataset_helpers import RAW, needs_raw
from pandas.tseries.frequencies import to_offset

from gluonts_iqf import datasets as D
from gluonts_iqf.datasets import recipes

ignore_bday = pytest.mark.filterwarnings(
    "ignore:Period with BDay freq:FutureWarning"
)


def _check_entries(entries, freqstr, with_cat=True):
    for e in entries:
        assert isinstance(e["target"], np.ndarray)
        assert e["target"].dtype == np.float32 and e["target"].ndim == 1
        assert not np.isnan(e["target"]).any()
        assert isinstance(e["start"], pd.Period)
        assert e["start"].freqstr == freqstr
        assert "item_id" in e
        if with_cat:
            assert e["feat_static_cat"].dtype == np.int32
            assert e["feat_static_cat"].shape == (1,)
        else:
            assert "feat_static_cat" not in e


def _check_single_window(ds, horizon):
    """test = train + `horizon` values, identical on the shared prefix."""
    assert len(ds.train) == len(ds.test)
    for tr, te in zip(ds.train, ds.test):
        n = len(tr["target"])
        assert len(te["target"]) == n + horizon
        np.testing.assert_array_equal(te["target"][:n], tr["target"])
        assert te["start"] == tr["start"]
        assert te["item_id"] == tr["item_id"]


def _cardinality(meta):
    assert len(meta.feat_static_cat) == 1
    assert meta.feat_static_cat[0].name == "feat_static_cat_0"
    return int(meta.feat_static_cat[0].cardinality)


# --------------------------------------------------------------------------
# registry


def test_constants():
    assert set(D.DATASETS) == {
        "m4_hourly",
        "m4_weekly",
        "tourism_monthly",
        "tourism_quarterly",
        "tourism_yearly",
        "m1_monthly",
        "m1_quarterly",
        "m1_yearly",
        "ett_small_1h",
        "exchange_rate",
        "exchange_rate_nips",
        "airpassengers",
    }
    assert D.EMBEDDED == ("m4_hourly",)
    assert set(D.EMBEDDED) <= set(D.DATASETS)
    assert set(recipes.RAW_FILES) == set(D.DATASETS)


# --------------------------------------------------------------------------
# embedded m4_hourly


def test_m4_hourly_embedded():
    ds = D.load("m4_hourly")
    assert ds.metadata.prediction_length == 48
    assert to_offset(ds.metadata.freq) == to_offset("h")
    assert _cardinality(ds.metadata) == 414

    assert len(ds.train) == 414 and len(ds.test) == 414
    assert {len(e["target"]) for e in ds.train} == {700, 960}
    _check_entries(ds.train, "h")
    _check_entries(ds.test, "h")
    _check_single_window(ds, 48)

    start = pd.Period("1750-01-01 00:00", freq="h")
    assert all(e["start"] == start for e in ds.train + ds.test)
    assert [e["item_id"] for e in ds.train] == list(range(414))
    assert [int(e["feat_static_cat"][0]) for e in ds.test] == list(range(414))


def test_m4_hourly_values_match_csv():
    data = D.default_data_dir("m4_hourly")
    with gzip.open(data / "Hourly-train.csv.gz", "rt") as fh:
        rows = csv.reader(fh)
        next(rows)
        first = next(rows)
    with gzip.open(data / "Hourly-test.csv.gz", "rt") as fh:
        rows = csv.reader(fh)
        next(rows)
        first_test = next(rows)
    assert first[0] == "H1" and first_test[0] == "H1"
    train_vals = np.array([float(v) for v in first[1:] if v not in ("", "NA")])
    test_vals = np.array([float(v) for v in first_test[1:]])

    ds = D.load("m4_hourly")
    np.testing.assert_array_equal(
        ds.train[0]["target"], train_vals.astype(np.float32)
    )
    np.testing.assert_array_equal(
        ds.test[0]["target"][-48:], test_vals.astype(np.float32)
    )


def test_prediction_length_override_is_metadata_only():
    base = D.load("m4_hourly")
    ds = D.load("m4_hourly", prediction_length=24)
    assert ds.metadata.prediction_length == 24
    assert ds.metadata.freq == base.metadata.freq
    assert ds.metadata.feat_static_cat == base.metadata.feat_static_cat
    for a, b in zip(ds.test, base.test):
        np.testing.assert_array_equal(a["target"], b["target"])
    for a, b in zip(ds.train, base.train):
        np.testing.assert_array_equal(a["target"], b["target"])


def test_fresh_arrays_each_call():
    ds1 = D.load("m4_hourly")
    # train and test targets never alias each other
    assert not np.shares_memory(ds1.train[0]["target"], ds1.test[0]["target"])
    original = ds1.train[0]["target"][0]
    ds1.train[0]["target"][0] = -1.0
    ds1.test[0]["target"][0] = -1.0
    ds2 = D.load("m4_hourly")
    assert ds2.train[0]["target"][0] == original
    assert ds2.test[0]["target"][0] == original


# --------------------------------------------------------------------------
# datasets that need the raw benchmark files


@needs_raw
def test_m4_weekly():
    ds = D.load("m4_weekly", data_dir=RAW)
    assert ds.metadata.prediction_length == 13
    assert to_offset(ds.metadata.freq) == to_offset("W")
    assert _cardinality(ds.metadata) == 359
    assert len(ds.train) == 359
    lengths = [len(e["target"]) for e in ds.train]
    assert min(lengths) == 80 and max(lengths) == 2597
    _check_entries(ds.train, "W-SUN")
    _check_entries(ds.test, "W-SUN")
    _check_single_window(ds, 13)
    start = ds.train[0]["start"]
    assert start == pd.Period("1750-01-01", freq="W")
    assert str(start) == "1749-12-29/1750-01-04"


@needs_raw
@pytest.mark.parametrize(
    "name, freq, freqstr, horizon, count, shortest, longest, prefix",
    [
        ("tourism_monthly", "M", "M", 24, 366, 91, 333, "M"),
        ("tourism_quarterly", "Q", "Q-DEC", 8, 427, 30, 130, "Q"),
        ("tourism_yearly", "Y", "Y-DEC", 4, 518, 11, 47, "Y"),
    ],
)
def test_tourism(
    name, freq, freqstr, horizon, count, shortest, longest, prefix
):
    ds = D.load(name, data_dir=RAW)
    assert ds.metadata.prediction_length == horizon
    assert pd.Period("1970-01-01", freq=ds.metadata.freq).freqstr == freqstr
    assert _cardinality(ds.metadata) == count
    assert len(ds.train) == count and len(ds.test) == count
    _check_entries(ds.train, freqstr)
    _check_entries(ds.test, freqstr)
    _check_single_window(ds, horizon)
    full = [len(e["target"]) for e in ds.test]
    assert min(full) == shortest and max(full) == longest
    assert all(
        e["start"] == pd.Period("1970-01-01", freq=freq) for e in ds.test
    )
    assert ds.train[0]["item_id"] == f"{prefix}1"
    assert len({e["item_id"] for e in ds.train}) == count
    assert all(e["item_id"].startswith(prefix) for e in ds.train)
    cats = [int(e["feat_static_cat"][0]) for e in ds.train]
    assert cats == list(range(count))


@needs_raw
@pytest.mark.parametrize(
    "name, freqstr, horizon, count, shortest, longest, first_id",
    [
        ("m1_monthly", "M", 18, 617, 30, 132, "MRF1"),
        ("m1_quarterly", "Q-DEC", 8, 203, 10, 106, "QRF1"),
        ("m1_yearly", "Y-DEC", 6, 181, 9, 52, "YAF2"),
    ],
)
def test_m1(name, freqstr, horizon, count, shortest, longest, first_id):
    """The counts and train lengths of the data README; test = train + the
    horizon's values; the series names as item ids; mock start 1970."""
    ds = D.load(name, data_dir=RAW)
    assert ds.metadata.prediction_length == horizon
    assert _cardinality(ds.metadata) == count
    assert len(ds.train) == count and len(ds.test) == count
    _check_entries(ds.train, freqstr)
    _check_entries(ds.test, freqstr)
    _check_single_window(ds, horizon)
    lengths = [len(e["target"]) for e in ds.train]
    assert min(lengths) == shortest and max(lengths) == longest
    assert ds.train[0]["item_id"] == first_id
    assert all(e["start"].year == 1970 for e in ds.train)
    assert [int(e["feat_static_cat"][0]) for e in ds.train] == list(range(count))


@needs_raw
def test_ett_small_1h():
    ds = D.load("ett_small_1h", data_dir=RAW)
    assert ds.metadata.prediction_length == 24
    assert to_offset(ds.metadata.freq) == to_offset("h")
    assert ds.metadata.feat_static_cat == []
    assert len(ds.train) == 14 and len(ds.test) == 14
    assert {len(e["target"]) for e in ds.train} == {17396}
    assert {len(e["target"]) for e in ds.test} == {17420}
    _check_entries(ds.train, "h", with_cat=False)
    _check_entries(ds.test, "h", with_cat=False)
    _check_single_window(ds, 24)
    cols = ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"]
    expected_ids = [f"{c}_{r}" for r in (0, 1) for c in cols]
    assert [e["item_id"] for e in ds.test] == expected_ids
    assert all(
        e["start"] == pd.Period("2016-07-01 00:00", freq="h") for e in ds.test
    )
    # first ETTh1 row: 2016-07-01 00:00:00,5.827000141143799,...
    assert ds.test[0]["target"][0] == np.float32(5.827000141143799)


def _check_rolling(ds, horizon=30, windows=5, n=8, train_len=6071):
    assert len(ds.train) == n
    assert {len(e["target"]) for e in ds.train} == {train_len}
    assert len(ds.test) == n * windows
    for i, e in enumerate(ds.test):
        window = i // n
        assert len(e["target"]) == train_len + horizon * (window + 1)
        tr = ds.train[i % n]["target"]
        np.testing.assert_array_equal(e["target"][:train_len], tr)
        assert int(e["feat_static_cat"][0]) == i % n
    assert [len(e["target"]) for e in ds.test[::n]] == [
        6101,
        6131,
        6161,
        6191,
        6221,
    ]


@needs_raw
@ignore_bday
def test_exchange_rate():
    ds = D.load("exchange_rate", data_dir=RAW)
    assert ds.metadata.prediction_length == 30
    assert to_offset(ds.metadata.freq) == to_offset("B")
    assert _cardinality(ds.metadata) == 8
    _check_entries(ds.train, "B")
    _check_entries(ds.test, "B")
    _check_rolling(ds)
    start = pd.Period("1990-01-01", freq="B")
    assert all(e["start"] == start for e in ds.train + ds.test)
    # LSTNet recipe: item_id is the series index, in train and test
    assert [e["item_id"] for e in ds.test] == list(range(8)) * 5


@needs_raw
@ignore_bday
def test_exchange_rate_nips():
    ds = D.load("exchange_rate_nips", data_dir=RAW)
    assert ds.metadata.prediction_length == 30
    assert to_offset(ds.metadata.freq) == to_offset("B")
    assert _cardinality(ds.metadata) == 8
    _check_entries(ds.train, "B")
    _check_entries(ds.test, "B")
    _check_rolling(ds)
    start = pd.Period("1990-01-01", freq="B")
    assert all(e["start"] == start for e in ds.train + ds.test)
    # gp-copula recipe: item_id is the entry index, cat = index mod 8
    assert [e["item_id"] for e in ds.test] == list(range(40))
    # the data README checked: train equals the first 6071 LSTNet rows
    lstnet = D.load("exchange_rate", data_dir=RAW)
    for a, b in zip(ds.train, lstnet.train):
        np.testing.assert_array_equal(a["target"], b["target"])
    end = ds.train[0]["start"] + 6070
    assert str(end) == "2013-04-08"


@needs_raw
def test_airpassengers():
    ds = D.load("airpassengers", data_dir=RAW)
    assert ds.metadata.prediction_length == 12
    assert pd.Period("1949-01", freq=ds.metadata.freq).freqstr == "M"
    assert ds.metadata.feat_static_cat == []
    assert len(ds.train) == 1 and len(ds.test) == 1
    _check_entries(ds.train, "M", with_cat=False)
    _check_entries(ds.test, "M", with_cat=False)
    _check_single_window(ds, 36)
    train, test = ds.train[0]["target"], ds.test[0]["target"]
    assert len(train) == 108 and len(test) == 144
    assert test[0] == 112 and test[-1] == 432
    assert ds.test[0]["start"] == pd.Period("1949-01", freq="M")
