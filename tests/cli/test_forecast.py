"""Tests of ``gluonts-iqf forecast`` (gluonts_iqf.cli.forecast) with the
predictor saved by the tiny backtest (``run_dir``) on a CSV written from
real m4_hourly values (``user_csv``)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_helpers import COLS, H, assert_one_line_error, main_in_process, run_cli

from gluonts_iqf.cli.forecast import level_name


def test_level_names():
    assert [level_name(a) for a in (0.05, 0.5, 0.9, 0.995)] == ["0.05", "0.5", "0.9", "0.995"]
    assert level_name(1 / 3) == "0.333333"


@pytest.mark.slow
def test_forecast_through_installed_script(run_dir, user_csv, tmp_path):
    # the script installed next to this interpreter, else one on PATH
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    exe = shutil.which("gluonts-iqf", path=search)
    if exe is None:
        pytest.skip("the gluonts-iqf console script is not on PATH")
    out = tmp_path / "fc.csv"
    proc = run_cli(["forecast", "--predictor", str(run_dir["out"] / "predictor"), "--input", str(user_csv),
                    *COLS, "--levels", "0.5,0.9,0.95", "--output", str(out), "--quiet"], exe=exe)
    assert proc.returncode == 0, proc.stderr[-3000:]
    fc = pd.read_csv(out, parse_dates=["timestamp"])
    assert list(fc.columns) == ["item_id", "timestamp", "step", "mean", "0.5", "0.9", "0.95"]
    assert list(fc["item_id"].unique()) == ["store-0", "store-1", "store-2"]
    assert len(fc) == 3 * H
    q = fc[["0.5", "0.9", "0.95"]].to_numpy()
    assert np.isfinite(q).all() and (np.diff(q, axis=1) >= 0).all()
    # each forecast starts one hour after the series' last timestamp
    data = pd.read_csv(user_csv, parse_dates=["time"])
    for item, g in fc.groupby("item_id"):
        last = data.loc[data["series"] == item, "time"].max()
        assert g["timestamp"].iloc[0] == last + pd.Timedelta(hours=1)
        assert list(g["step"]) == list(range(1, H + 1))


@pytest.mark.slow
def test_forecast_parquet_and_stdout_in_process(run_dir, user_csv, tmp_path, capsys):
    pdir = str(run_dir["out"] / "predictor")
    out = tmp_path / "fc.parquet"
    code, _, err = main_in_process(["forecast", "--predictor", pdir, "--input", str(user_csv), *COLS,
                                    "--output", str(out), "--quiet"], capsys)
    assert code == 0, err
    fc = pd.read_parquet(out)
    assert len(fc) == 3 * H and {"0.5", "0.9", "0.95"} <= set(fc.columns)
    # existing file: refused without --overwrite, replaced with it
    code, _, err = main_in_process(["forecast", "--predictor", pdir, "--input", str(user_csv), *COLS,
                                    "--output", str(out)], capsys)
    assert code == 2
    assert_one_line_error(err, "already exists", "--overwrite")
    code, _, err = main_in_process(["forecast", "--predictor", pdir, "--input", str(user_csv), *COLS,
                                    "--output", str(out), "--overwrite", "--levels", "0.2", "--quiet"], capsys)
    assert code == 0, err
    assert "0.2" in pd.read_parquet(out).columns
    # no --output: CSV on stdout
    code, out_text, err = main_in_process(["forecast", "--predictor", pdir, "--input", str(user_csv), *COLS,
                                           "--levels", "0.1,0.9"], capsys)
    assert code == 0, err
    lines = out_text.strip().splitlines()
    assert lines[0] == "item_id,timestamp,step,mean,0.1,0.9" and len(lines) == 1 + 3 * H


@pytest.mark.slow
def test_forecast_bad_input(run_dir, user_csv, tmp_path, capsys):
    pdir = str(run_dir["out"] / "predictor")
    cases = [
        (["forecast", "--predictor", str(tmp_path / "none"), "--input", str(user_csv), *COLS],
         ["predictor folder not found"]),
        (["forecast", "--predictor", str(tmp_path), "--input", str(user_csv), *COLS],
         ["not a saved predictor"]),
        (["forecast", "--predictor", pdir, "--input", str(tmp_path / "missing.csv"), *COLS],
         ["not found", "missing.csv"]),
        (["forecast", "--predictor", pdir, "--input", str(user_csv), *COLS, "--levels", "0,0.5"],
         ["strictly inside (0, 1)"]),
        (["forecast", "--predictor", pdir, "--input", str(user_csv), *COLS, "--output", str(tmp_path / "x.txt")],
         ["extensions"]),
        (["forecast", "--predictor", pdir, "--input", str(user_csv), *COLS, "--freq", "D"],
         ["same 'D' period"]),
    ]
    for argv, parts in cases:
        code, out, err = main_in_process(argv, capsys)
        assert code == 2, (argv, err)
        assert_one_line_error(err, *parts)
    assert not list(tmp_path.glob("x.txt*"))


@pytest.mark.slow
def test_daily_input_for_hourly_predictor(run_dir, tmp_path, capsys):
    daily = pd.DataFrame({"item_id": "d", "timestamp": pd.date_range("2024-01-01", periods=30, freq="D"),
                          "target": np.arange(30.0)})
    path = tmp_path / "daily.parquet"
    daily.to_parquet(path)
    code, _, err = main_in_process(["forecast", "--predictor", str(run_dir["out"] / "predictor"),
                                    "--input", str(path)], capsys)
    assert code == 2
    assert_one_line_error(err, "frequency 'D' differs from the predictor's 'h'")
