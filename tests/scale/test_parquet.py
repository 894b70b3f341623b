"""Tests of gluonts_iqf.scale.parquet: the files and read pieces of a
Parquet source, and the reading of grouped input piece by piece.

Oracle of the grouped reading: over all pieces of a grouped file, the
pieces' rows concatenated are the file's rows, in order, each read once,
and no item is in two pieces; for every cut of the file into pieces and
row groups (items spanning several row groups and pieces included).
"""

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scale_helpers import write_files

from gluonts_iqf.datasets import DataError
from gluonts_iqf.scale.parquet import (
    check_consecutive,
    leading_run,
    parquet_files,
    parquet_pieces,
    read_grouped_piece,
)

COLUMNS = [("item id", "item_id"), ("timestamp", "timestamp"), ("target", "target")]
NAMES = [c for _, c in COLUMNS]


def grouped_frame(lengths, seed=0):
    """Items of the given lengths, each item's rows consecutive (ids in no
    sorted order), hourly timestamps, random targets."""
    rng = np.random.default_rng(seed)
    ids = [f"item-{k}" for k in rng.permutation(len(lengths))]
    parts = [pd.DataFrame({"item_id": i, "timestamp": pd.date_range("2024-01-01", periods=n, freq="h"),
                           "target": rng.normal(size=n)}) for i, n in zip(ids, lengths)]
    return pd.concat(parts, ignore_index=True)


def read_all(files, rows_per_piece):
    pieces = parquet_pieces(files, COLUMNS, rows_per_piece)
    return pieces, [read_grouped_piece(p["file"], p["row_groups"], NAMES, "item_id") for p in pieces]


def test_parquet_files_and_pieces(m4_long, tmp_path):
    folder = write_files(m4_long, tmp_path / "in", parts=2, row_group_size=1000)
    files = parquet_files(folder)
    assert [f.name for f in files] == ["part-0.parquet", "part-1.parquet"]
    assert parquet_files(str(folder / "part-*.parquet")) == files
    assert parquet_files(files[0]) == [files[0]]
    pieces = parquet_pieces(files, COLUMNS, rows_per_piece=2500)
    assert sum(p["rows"] for p in pieces) == len(m4_long)
    assert all(p["rows"] <= 2500 for p in pieces)  # row groups of 1000: 2 per piece
    assert [p["row_groups"] for p in pieces if p["file"] == str(files[0])] == [[0, 1], [2]]  # 2928 rows
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no Parquet files"):
        parquet_files(tmp_path / "empty")
    with pytest.raises(DataError, match="no files match"):
        parquet_files(str(tmp_path / "nothing-*.parquet"))
    with pytest.raises(DataError, match="file not found"):
        parquet_files(tmp_path / "none.parquet")


def test_missing_column_names_the_file(m4_long, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    m4_long.to_parquet(folder / "a.parquet", index=False)
    m4_long.rename(columns={"target": "sales"}).to_parquet(folder / "b.parquet", index=False)
    with pytest.raises(DataError, match=r"file .*b\.parquet: missing target column 'target'; "
                                        r"available columns: 'item_id', 'timestamp', 'sales'"):
        parquet_pieces(parquet_files(folder), COLUMNS, 1000)


@pytest.mark.parametrize("row_group_size", [1, 5, 7, 64])
@pytest.mark.parametrize("rows_per_piece", [1, 6, 20, 10_000])
def test_grouped_pieces_read_every_row_once_and_every_item_in_one_piece(tmp_path, row_group_size, rows_per_piece):
    """Items of 1 to 40 rows (some spanning several row groups and pieces)
    in two files; every cut gives the files' rows back, in order."""
    frames = [grouped_frame([3, 1, 40, 7, 2, 12, 1, 25], seed=1), grouped_frame([9, 30, 1, 4], seed=2)]
    frames[1]["item_id"] = "other-" + frames[1]["item_id"]  # an item is in one file
    files = []
    for k, frame in enumerate(frames):
        files.append(tmp_path / f"part-{k}.parquet")
        frame.to_parquet(files[-1], index=False, row_group_size=row_group_size)
    pieces, got = read_all(files, rows_per_piece)
    whole = pd.concat(frames, ignore_index=True)
    pd.testing.assert_frame_equal(pd.concat(got, ignore_index=True), whole)
    owners = pd.Series([k for k, g in enumerate(got) for _ in g["item_id"].unique()],
                       index=[i for g in got for i in g["item_id"].unique()])
    assert owners.index.is_unique and set(owners.index) == set(whole["item_id"])
    if rows_per_piece < 40:  # some item spans pieces: its first piece reads beyond its row groups
        assert any(len(g) > p["rows"] for g, p in zip(got, pieces))
    if row_group_size <= 7 and rows_per_piece <= 20:  # pieces of <= 20 rows: one lies inside the 40-row item
        assert any(len(g) == 0 for g in got)


def test_rows_out_of_order_stop_the_grouped_reading(tmp_path):
    """A file sorted by time (items interleaved) and a run of an item that
    comes back after another item: DataError naming the file, its row
    groups and the item."""
    frame = grouped_frame([4, 4, 4]).sort_values(["timestamp", "item_id"], kind="stable")
    path = tmp_path / "by-time.parquet"
    frame.to_parquet(path, index=False, row_group_size=6)
    first = frame["item_id"].iloc[0]
    with pytest.raises(DataError, match=rf"by-time\.parquet \(row groups 0-0\): the rows of item '{first}' are "
                                        r"not consecutive \(row 3 of the piece .*sort the files by item"):
        read_grouped_piece(path, [0], NAMES, "item_id")
    with pytest.raises(DataError, match=r"row groups 0-1\): the rows of item 'b' .*row 5"):
        check_consecutive(pa.array(["a", "b", "b", "b", "c", "b"]), "x.parquet (row groups 0-1)")
    check_consecutive(pa.chunked_array([["a", "a", None], ["b", None, "b"]]), "nulls are left to the frame checks")
    check_consecutive(pa.array([7, 7, 8, 9, 9]), "integer ids")


def test_leading_run():
    ids = pa.array(["a"] * 1500 + ["b"] * 3)
    assert leading_run(ids, pa.scalar("a")) == 1500  # beyond the first heads of 64 and 1024
    assert leading_run(ids, pa.scalar("b")) == 0
    assert leading_run(pa.array(["a"] * 5), pa.scalar("a")) == 5
    assert leading_run(pa.array([None, "a"]), pa.scalar("a")) == 0
    assert leading_run(pa.array(["a"]), pa.scalar(None, pa.string())) == 0
    assert leading_run(pa.array([], pa.string()), pa.scalar("a")) == 0
