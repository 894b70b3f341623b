"""Tests of the output handling (gluonts_iqf.cli.staging): output folders
and files are checked before any work, a run writes into a staging folder
renamed into place at the end, and a failed run leaves nothing behind."""

from __future__ import annotations

import pandas as pd
import pytest
from cli_helpers import TINY, assert_one_line_error, main_in_process, no_leftovers

from gluonts_iqf.cli import CLIError, backtest, staging


def test_output_folder_checks(tmp_path, capsys):
    existing = tmp_path / "exists"
    existing.mkdir()
    code, _, err = main_in_process(["backtest", "--output", str(existing)], capsys)
    assert code == 2
    assert_one_line_error(err, "already exists", "--overwrite")
    assert existing.is_dir() and not list(existing.iterdir())
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    code, _, err = main_in_process(["backtest", "--output", str(blocker / "out")], capsys)
    assert code == 2
    assert_one_line_error(err, "cannot write output folder", "does not exist")
    code, _, err = main_in_process(["backtest", "--output", str(blocker), "--overwrite"], capsys)
    assert code == 2
    assert_one_line_error(err, "not a folder")


def test_failure_after_training_leaves_nothing(tmp_path, capsys, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(backtest, "_plots", boom)
    code, _, err = main_in_process(["backtest", *TINY, "--batches-per-epoch", "1", "--max-series", "2",
                                    "--output", str(tmp_path / "out")], capsys)
    assert code == 1
    assert_one_line_error(err, "disk on fire")
    no_leftovers(tmp_path, "out")


def test_check_output_file(tmp_path):
    assert staging.check_output_file(None, False, (".csv",)) is None
    assert staging.check_output_file(str(tmp_path / "a.CSV"), False, (".csv",)) == tmp_path / "a.CSV"
    with pytest.raises(CLIError, match="extensions .csv, .parquet"):
        staging.check_output_file(str(tmp_path / "a.txt"), False, (".csv", ".parquet"))
    (tmp_path / "b.csv").write_text("x")
    with pytest.raises(CLIError, match="already exists; pass --overwrite"):
        staging.check_output_file(str(tmp_path / "b.csv"), False, (".csv",))
    assert staging.check_output_file(str(tmp_path / "b.csv"), True, (".csv",)) == tmp_path / "b.csv"
    with pytest.raises(CLIError, match="does not exist"):
        staging.check_output_file(str(tmp_path / "no" / "c.csv"), False, (".csv",))


def test_publish_dir_replaces_the_old_folder(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    new = staging.make_staging_dir(out)
    (new / "new.txt").write_text("new")
    staging.publish_dir(new, out)
    assert sorted(p.name for p in out.iterdir()) == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_write_frame_atomic(tmp_path):
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    staging.write_frame_atomic(frame, tmp_path / "f.parquet")
    staging.write_frame_atomic(frame, tmp_path / "f.csv")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "f.parquet"), frame)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "f.csv"), frame)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.csv", "f.parquet"]
