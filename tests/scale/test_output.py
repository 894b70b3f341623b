"""Tests of gluonts_iqf.scale.output: tables streamed into one Parquet
file (row groups) or one CSV read back as their concatenation; a staged
folder published by one rename; failures leave nothing behind."""

import os

import numpy as np
import pandas as pd
import pytest

from gluonts_iqf.scale import output
from gluonts_iqf.scale.output import staged_folder, write_tables


def tables(n=5, rows=7):
    """``n`` tables in the forecast layout, ``rows`` rows each."""
    out = []
    for k in range(n):
        out.append(pd.DataFrame({
            "item_id": [f"s{k}"] * rows,
            "timestamp": pd.date_range("2024-01-01", periods=rows, freq="h") + pd.Timedelta(hours=k),
            "step": np.arange(1, rows + 1),
            "mean": np.linspace(0, 1, rows) + k,
            "0.5": np.linspace(0, 1, rows) + k,
        }))
    return out


def test_parquet_in_row_groups_reads_back_as_the_concatenation(tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    monkeypatch.setattr(output, "ROW_GROUP_ROWS", 10)
    out = tmp_path / "fc.parquet"
    assert write_tables(iter(tables()), out) == 35
    pd.testing.assert_frame_equal(pd.read_parquet(out), pd.concat(tables(), ignore_index=True))
    assert pq.ParquetFile(out).metadata.num_row_groups == 3  # 14, 14, 7 rows
    assert os.listdir(tmp_path) == ["fc.parquet"]


def test_csv_is_one_table(tmp_path):
    out = tmp_path / "fc.csv"
    assert write_tables(tables(2), out) == 14
    expected = pd.concat(tables(2), ignore_index=True)
    got = pd.read_csv(out, parse_dates=["timestamp"])
    pd.testing.assert_frame_equal(got, expected)


def test_failure_leaves_no_file(tmp_path):
    def failing():
        yield tables(1)[0]
        raise RuntimeError("boom")

    out = tmp_path / "fc.parquet"
    with pytest.raises(RuntimeError, match="boom"):
        write_tables(failing(), out)
    assert os.listdir(tmp_path) == []


def test_staged_folder_publishes_at_the_end(tmp_path):
    out = tmp_path / "out"
    with staged_folder(out, overwrite=False) as staging:
        (staging / "a.txt").write_text("x")
        assert not out.exists() and staging.parent == tmp_path
    assert (out / "a.txt").read_text() == "x"
    assert sorted(os.listdir(tmp_path)) == ["out"]
    # an existing folder: refused, then replaced with overwrite
    with pytest.raises(FileExistsError, match="already exists"):
        with staged_folder(out, overwrite=False):
            pass
    with staged_folder(out, overwrite=True) as staging:
        (staging / "b.txt").write_text("y")
    assert os.listdir(out) == ["b.txt"]
    assert sorted(os.listdir(tmp_path)) == ["out"]


def test_staged_folder_failure_leaves_nothing(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="bad"):
        with staged_folder(out, overwrite=False) as staging:
            (staging / "part.parquet").write_text("partial")
            raise ValueError("bad")
    assert os.listdir(tmp_path) == []
    with pytest.raises(FileNotFoundError, match="parent folder"):
        with staged_folder(tmp_path / "missing" / "out", overwrite=False):
            pass
