"""Tests for gluonts_iqf.datasets.resolve: where :func:`load` finds the raw
files (explicit ``data_dir``, else ``$GLUONTS_IQF_DATA_DIR``, the embedded
m4_hourly from the package, never the working directory), :func:`load_any`
(names, folders, files), :func:`backtest_split` and :func:`rolling_origin_split`."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
from dataset_helpers import RAW, make_frame, needs_raw, raises_data_error, write_csv, write_jsonl

from gluonts_iqf import datasets as D


# --------------------------------------------------------------------------
# the data directory


def test_embedded_files_ship_with_the_package():
    embedded_dir = D.default_data_dir("m4_hourly")
    assert (embedded_dir / "Hourly-train.csv.gz").is_file()
    assert (embedded_dir / "Hourly-test.csv.gz").is_file()


def test_default_data_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv(D.DATA_DIR_ENV, str(tmp_path))
    assert D.default_data_dir() == tmp_path
    assert D.default_data_dir("m4_weekly") == tmp_path
    # the embedded dataset ignores the environment variable
    assert D.default_data_dir("m4_hourly") != tmp_path


def _check_no_data_dir_message(msg, name):
    assert repr(name) in msg
    assert "data_dir=" in msg and "--data-dir" in msg and D.DATA_DIR_ENV in msg
    assert "shared" not in msg


@pytest.mark.parametrize("unset", ["delete", "empty"])
def test_no_data_dir_is_a_clear_error(monkeypatch, tmp_path, unset):
    # the former fallback, a raw-data folder beside the working directory,
    # is not looked at
    raw = tmp_path / "shared" / "data" / "raw"
    raw.mkdir(parents=True)
    (raw / "AirPassengers.csv.gz").write_bytes(b"")
    (tmp_path / "repo").mkdir()
    monkeypatch.chdir(tmp_path / "repo")
    if unset == "delete":
        monkeypatch.delenv(D.DATA_DIR_ENV, raising=False)
    else:
        monkeypatch.setenv(D.DATA_DIR_ENV, "")
    with pytest.raises(FileNotFoundError) as err:
        D.default_data_dir("airpassengers")
    _check_no_data_dir_message(str(err.value), "airpassengers")
    assert "AirPassengers.csv.gz" in str(err.value)
    with pytest.raises(FileNotFoundError) as err:
        D.load("airpassengers")
    _check_no_data_dir_message(str(err.value), "airpassengers")
    with pytest.raises(FileNotFoundError, match=D.DATA_DIR_ENV):
        D.default_data_dir()
    # load_any turns it into a one-line DataError
    msg = raises_data_error(["'m4_weekly'", "--data-dir", D.DATA_DIR_ENV], D.load_any, "m4_weekly")
    assert "shared" not in msg
    # the embedded dataset needs no directory
    assert len(D.load("m4_hourly").train) == 414


def test_unknown_name_raises_value_error():
    with pytest.raises(ValueError) as err:
        D.load("m4_nonexistent")
    msg = str(err.value)
    assert "m4_nonexistent" in msg
    for name in D.DATASETS:
        assert name in msg


def test_missing_directory_raises_file_not_found(tmp_path):
    missing = tmp_path / "no_such_dir"
    with pytest.raises(FileNotFoundError) as err:
        D.load("m4_weekly", data_dir=missing)
    msg = str(err.value)
    assert "Weekly-train.csv.gz" in msg
    assert str(missing) in msg
    assert "data_dir" in msg


def test_missing_file_in_env_dir_names_env_var(monkeypatch, tmp_path):
    monkeypatch.setenv(D.DATA_DIR_ENV, str(tmp_path))
    with pytest.raises(FileNotFoundError) as err:
        D.load("airpassengers")
    msg = str(err.value)
    assert "AirPassengers.csv.gz" in msg
    assert str(tmp_path) in msg
    assert D.DATA_DIR_ENV in msg


@pytest.mark.parametrize("bad", [0, -5, 2.5, True])
def test_invalid_prediction_length(bad):
    with pytest.raises(ValueError):
        D.load("m4_hourly", prediction_length=bad)


def test_explicit_data_dir_for_embedded():
    ds = D.load("m4_hourly", data_dir=D.default_data_dir("m4_hourly"))
    assert len(ds.train) == 414


@needs_raw
def test_uncompressed_files_are_accepted(tmp_path):
    with gzip.open(RAW / "AirPassengers.csv.gz", "rb") as src:
        (tmp_path / "AirPassengers.csv").write_bytes(src.read())
    ds = D.load("airpassengers", data_dir=tmp_path)
    ref = D.load("airpassengers", data_dir=RAW)
    np.testing.assert_array_equal(
        ds.test[0]["target"], ref.test[0]["target"]
    )


@needs_raw
def test_env_dir_is_used(monkeypatch):
    monkeypatch.setenv(D.DATA_DIR_ENV, str(RAW))
    ds = D.load("airpassengers")
    assert len(ds.test[0]["target"]) == 144


# --------------------------------------------------------------------------
# load_any


def test_load_any_embedded_name():
    ds = D.load_any("m4_hourly")
    assert len(ds.train) == len(ds.test) == 414
    assert ds.metadata.freq == "h" and ds.metadata.prediction_length == 48


def test_load_any_unknown_name_lists_known():
    raises_data_error(["unknown dataset 'm5_daily'", "m4_hourly", "tourism_monthly"], D.load_any, "m5_daily")


def test_load_any_missing_file_and_raw_files(tmp_path):
    raises_data_error(["not found", "gone.csv"], D.load_any, str(tmp_path / "gone.csv"))
    raises_data_error(["m4_weekly", "not found"], D.load_any, "m4_weekly", data_dir=tmp_path)


def test_load_any_csv_parquet_and_columns(tmp_path):
    frame = make_frame().rename(columns={"target": "y"})
    ds = D.load_any(str(write_csv(tmp_path, frame)), target="y")
    assert ds.test is None and ds.metadata.freq == "D" and len(ds.train) == 2
    frame.to_parquet(tmp_path / "f.parquet")
    assert len(D.load_any(tmp_path / "f.parquet", target="y").train) == 2


def test_load_any_gluonts_layout(tmp_path):
    root = tmp_path / "ds"
    (root / "train").mkdir(parents=True)
    (root / "test").mkdir()
    (root / "metadata.json").write_text(json.dumps({"freq": "D", "prediction_length": 2}))
    write_jsonl(root / "train" / "data.json", [{"start": "2020-01-01", "target": [1, 2, 3], "item_id": "u"}])
    write_jsonl(root / "test" / "data.json", [{"start": "2020-01-01", "target": [1, 2, 3, 4, 5], "item_id": "u"}])
    ds = D.load_any(root)
    assert ds.metadata.freq == "D" and ds.metadata.prediction_length == 2
    assert len(ds.train[0]["target"]) == 3 and len(ds.test[0]["target"]) == 5
    # a plain JSON-lines folder: no test split
    flat = D.load_any(root / "train", freq="D")
    assert flat.test is None and flat.train[0]["item_id"] == "u"


# --------------------------------------------------------------------------
# backtest_split


def test_backtest_split_without_test(tmp_path):
    ds = D.load_any(str(write_csv(tmp_path, make_frame(), )), covariates=["price"])
    train, test = D.backtest_split(ds, 2)
    assert [len(e["target"]) for e in train] == [4, 3]
    assert [len(e["target"]) for e in test] == [6, 5]
    assert train[0]["feat_dynamic_real"].shape == (1, 4)
    assert test[0]["feat_dynamic_real"].shape == (1, 6)
    raises_data_error(["item 'b'", "prediction_length 5"], D.backtest_split, ds, 5)


def test_backtest_split_with_test_split():
    ds = D.load_any("m4_hourly")
    train, test = D.backtest_split(ds, 48)
    assert all(len(tr["target"]) + 48 == len(te["target"]) for tr, te in zip(train, test))
    train, test = D.backtest_split(ds, 60)  # longer horizon: train cut further
    assert all(len(tr["target"]) + 60 == len(te["target"]) for tr, te in zip(train, test))
    train, _ = D.backtest_split(ds, 24)  # shorter horizon: stored train kept
    assert all(len(tr["target"]) + 48 == len(te["target"]) for tr, te in zip(train, test))


def test_backtest_split_unobserved_window(tmp_path):
    frame = make_frame()
    frame.loc[9:10, "target"] = np.nan  # last two of 'b'
    ds = D.load_any(str(write_csv(tmp_path, frame)))
    raises_data_error(["item 'b'", "all missing"], D.backtest_split, ds, 2)


# --------------------------------------------------------------------------
# rolling_origin_split


def _series_dataset(lengths, test=None):
    import pandas as pd
    from gluonts.dataset.common import MetaData, TrainDatasets

    train = [{"item_id": f"s{i}", "start": pd.Period("2024-01-01", freq="D"),
              "target": np.arange(100.0 * i, 100.0 * i + n)} for i, n in enumerate(lengths)]
    return TrainDatasets(metadata=MetaData(freq="D", prediction_length=2), train=train, test=test)


def test_rolling_origin_split_one_window_is_backtest_split():
    ds = D.load_any("m4_hourly")
    train, test = D.backtest_split(ds, 48)
    split = D.rolling_origin_split(ds, 48, 1)
    assert split.skipped == [0] and len(split.windows) == 1
    assert all(np.array_equal(a["target"], b["target"]) for a, b in zip(split.train, train))
    assert all(np.array_equal(a["target"], b["target"]) for a, b in zip(split.windows[0], test))


def test_rolling_origin_split_windows_and_training_end():
    # series of 9, 5 and 3 values, H = 2, three windows: window k (1 = the last) ends k - 1
    # horizons before the end and needs H + 1 values; training ends before the earliest window
    ds = _series_dataset([9, 5, 3])
    split = D.rolling_origin_split(ds, 2, 3)
    ends = [[len(e["target"]) for e in w] for w in split.windows]
    assert ends == [[9, 5, 3], [7, 3], [5]] and split.skipped == [0, 1, 2]
    for w in split.windows:  # each entry is its series' first values
        for e in w:
            i = int(e["item_id"][1:])
            n = len(e["target"])
            np.testing.assert_array_equal(e["target"], np.arange(100.0 * i, 100.0 * i + n))
    # training: 9 - 6 = 3 values of s0; s1 and s2 have none left before the earliest window
    assert [(e["item_id"], len(e["target"])) for e in split.train] == [("s0", 3)]
    # the windows never overlap and tile the last K * H values of the longest series
    last = [e["target"][-2:] for w in split.windows for e in w if e["item_id"] == "s0"]
    np.testing.assert_array_equal(np.concatenate(last[::-1]), np.arange(3.0, 9.0))


def test_rolling_origin_split_skips_unobserved_windows():
    ds = _series_dataset([8, 8])
    ds.train[1]["target"][-4:-2] = np.nan  # s1's second window is all missing
    split = D.rolling_origin_split(ds, 2, 2)
    assert [[e["item_id"] for e in w] for w in split.windows] == [["s0", "s1"], ["s0"]]
    assert split.skipped == [0, 1]


def test_rolling_origin_split_errors():
    ds = _series_dataset([9, 5])
    raises_data_error(["windows must be >= 1"], D.rolling_origin_split, ds, 2, 0)
    raises_data_error(["no series", "before the earliest of 5 windows"], D.rolling_origin_split, ds, 2, 5)
    # a test split with several windows per series (as exchange_rate_nips): its own windows
    several = _series_dataset([9, 5], test=[*_series_dataset([11, 7]).train, *_series_dataset([13, 9]).train])
    raises_data_error(["several test windows per series"], D.rolling_origin_split, several, 2, 2)
    assert len(D.rolling_origin_split(several, 2, 1).windows[0]) == 4
