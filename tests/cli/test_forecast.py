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
from cli_helpers import COLS, H, assert_one_line_error, main_in_process, no_leftovers, run_cli

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


# ---------------------------------------------------------------------- #
# the batch path (--engine local) and --engine ray
# ---------------------------------------------------------------------- #
SAVED = Path(__file__).resolve().parents[1] / "fixtures" / "saved_predictors" / "mqcnn_iqf"


@pytest.fixture(scope="module")
def m4_parquet(tmp_path_factory):
    """30 real m4_hourly series (one of 5 values: padded) in long format,
    rows shuffled; the saved MQ-CNN-IQF fixture forecasts them (H=24)."""
    from gluonts_iqf import datasets

    test = list(datasets.load("m4_hourly").test)[:30]
    parts = []
    for k, e in enumerate(test):
        y = e["target"][-5:] if k == 4 else e["target"][-130:]
        ts = pd.date_range("2024-03-01", periods=len(y), freq="h") + pd.Timedelta(hours=3 * k)
        parts.append(pd.DataFrame({"item_id": f"s{k:02d}", "timestamp": ts, "target": np.asarray(y, float)}))
    frame = pd.concat(parts, ignore_index=True).sample(frac=1.0, random_state=0)
    path = tmp_path_factory.mktemp("m4") / "series.parquet"
    frame.to_parquet(path, index=False)
    return path


def _per_series_table(path, levels):
    """The table of the per-series path: forecast objects, one frame each."""
    from gluonts.model import Predictor

    from gluonts_iqf.cli.forecast import forecast_frame
    from gluonts_iqf.datasets import load_long_frame

    predictor = Predictor.deserialize(SAVED, device="cpu")
    return forecast_frame(list(predictor.predict(load_long_frame(path))), levels)


def test_forecast_table_equals_the_per_series_table(m4_parquet, tmp_path, capsys):
    """Exact: same batches, same float32 computations, same dtypes; the
    CSV on stdout is the per-series table's CSV text."""
    out = tmp_path / "fc.parquet"
    code, _, err = main_in_process(["forecast", "--predictor", str(SAVED), "--input", str(m4_parquet),
                                    "--levels", "0.1,0.5,0.9", "--output", str(out), "--quiet"], capsys)
    assert code == 0, err
    expected = _per_series_table(m4_parquet, [0.1, 0.5, 0.9])
    pd.testing.assert_frame_equal(pd.read_parquet(out), expected)
    assert (pd.read_parquet(out)["item_id"] == "s04").sum() == 24  # the 5-value series, padded
    code, text, err = main_in_process(["forecast", "--predictor", str(SAVED), "--input", str(m4_parquet),
                                       "--levels", "0.1,0.5,0.9"], capsys)
    assert code == 0, err
    assert text == expected.to_csv(index=False)


def test_engine_options_are_checked(m4_parquet, tmp_path, capsys):
    cases = [
        (["--num-workers", "2"], ["--num-workers needs --engine ray"]),
        (["--grouped-input"], ["--grouped-input needs --engine ray"]),
        (["--engine", "ray"], ["--engine ray writes a folder", "--output DIR"]),
        (["--engine", "ray", "--num-workers", "0", "--output", str(tmp_path / "o")], ["--num-workers must be a positive integer"]),
        (["--engine", "spark"], ["invalid choice: 'spark'"]),
    ]
    for extra, parts in cases:
        code, _, err = main_in_process(["forecast", "--predictor", str(SAVED), "--input", str(m4_parquet), *extra],
                                       capsys)
        assert code == 2, (extra, err)
        assert_one_line_error(err, *parts)
    csv = tmp_path / "x.csv"
    pd.read_parquet(m4_parquet).to_csv(csv, index=False)
    code, _, err = main_in_process(["forecast", "--predictor", str(SAVED), "--input", str(csv), "--engine", "ray",
                                    "--output", str(tmp_path / "o")], capsys)
    assert code == 2
    assert_one_line_error(err, "--engine ray reads Parquet files", "--engine local for CSV")
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_engine_ray_through_the_command(m4_parquet, tmp_path):
    """``--engine ray --num-workers 2`` in a subprocess (its own local Ray
    instance), with and without ``--grouped-input``: the folder of Parquet
    files holds the local table's rows
    (rtol 1e-6: float32 rounding may differ in the last bit across
    batches); bad input: one line on stderr, exit 2, no output folder (the
    engine's own checks of bad rows, duplicates among them, are tested in
    process in tests/scale/test_ray_engine.py; each run here starts Ray)."""
    pytest.importorskip("ray.data")
    out = tmp_path / "fc"
    proc = run_cli(["forecast", "--engine", "ray", "--num-workers", "2", "--predictor", str(SAVED),
                    "--input", str(m4_parquet), "--levels", "0.1,0.5,0.9", "--output", str(out)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr.strip() == "", proc.stderr[-3000:]
    assert "30 series" in proc.stdout
    got = pd.read_parquet(out).sort_values(["item_id", "step"]).reset_index(drop=True)
    expected = _per_series_table(m4_parquet, [0.1, 0.5, 0.9]).sort_values(["item_id", "step"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-6)
    grouped = tmp_path / "sorted.parquet"  # each item's rows together (the fixture's rows are shuffled)
    pd.read_parquet(m4_parquet).sort_values(["item_id", "timestamp"]).to_parquet(grouped, index=False)
    proc = run_cli(["forecast", "--engine", "ray", "--num-workers", "2", "--grouped-input", "--predictor",
                    str(SAVED), "--input", str(grouped), "--levels", "0.1,0.5,0.9", "--output", str(out),
                    "--overwrite"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = pd.read_parquet(out).sort_values(["item_id", "step"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-6)
    proc = run_cli(["forecast", "--engine", "ray", "--grouped-input", "--predictor", str(SAVED),
                    "--input", str(m4_parquet), "--output", str(tmp_path / "fc3")])
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert_one_line_error(proc.stderr, "series.parquet (row groups 0-0)", "not consecutive", "sort the files")
    no_leftovers(tmp_path, "fc3")
