"""Tests of ``gluonts-iqf backtest`` (gluonts_iqf.cli.backtest): the outputs
of a tiny run through ``python -m gluonts_iqf.cli`` (the ``run_dir``
fixture), the other data sources and models in process, and bad input: exit
status 2, exactly one line ``error: ...`` on stderr, nothing written."""

from __future__ import annotations

import json
import math
import os
import sys

import numpy as np
import pandas as pd
import pytest
from cli_helpers import (
    COLS,
    H,
    LEVELS,
    PNGS,
    TINY,
    assert_one_line_error,
    main_in_process,
    no_leftovers,
    run_cli,
)

from gluonts_iqf import datasets


# ---------------------------------------------------------------------- #
# outputs of the tiny run
# ---------------------------------------------------------------------- #
@pytest.mark.slow
def test_backtest_prints_table_and_settings(run_dir):
    out = run_dir["stdout"]
    for text in ("mean wQL", "CRPS", "MASE", "coverage 0.05", "coverage 0.95", "crossing rate",
                 "context_length=24", "prediction_length=12", "num_forking=4", "(IQF head)"):
        assert text in out, text
    assert "error" not in run_dir["stderr"].lower()
    assert not [p for p in run_dir["base"].iterdir() if p.name.startswith(".run.")]
    umask = os.umask(0)
    os.umask(umask)
    assert run_dir["out"].stat().st_mode & 0o777 == 0o777 & ~umask  # like mkdir, not mkdtemp


@pytest.mark.slow
def test_backtest_metrics_json(run_dir):
    report = json.loads((run_dir["out"] / "metrics.json").read_text())
    m = report["metrics"]
    for key in ("mean_wQuantileLoss", "crps", "crps_weighted", "MASE", "crossing_rate"):
        assert isinstance(m[key], float) and math.isfinite(m[key]), key
    assert "exact closed-form" in m["crps_method"]
    assert m["crossing_rate"] == 0.0
    for a in ("0.05", "0.5", "0.95"):
        assert 0.0 <= m["coverage"][a] <= 1.0
    assert set(m["wQuantileLoss"]) == {f"{a / 10:.1f}" for a in range(1, 10)}
    pit = m["pit_histogram"]  # 10 bins as multiples of the uniform density: mean 1
    assert len(pit) == 10 and all(v >= 0 for v in pit) and abs(sum(pit) / 10 - 1.0) < 1e-9
    s = report["settings"]
    assert (s["model"], s["prediction_length"], s["context_length"], s["num_forking"]) == ("mqcnn", H, 24, 4)
    assert (s["epochs"], s["batches_per_epoch"], s["num_test_series"], s["freq"]) == (1, 3, 6, "h")
    assert (s["distr_output"], s["loss"]) == ("IQFOutput()", "closed-form CRPS")
    assert report["seed"] == 0 and s["seed"] == 0
    assert {"torch", "gluonts", "lightning", "gluonts_iqf", "python"} <= set(report["versions"])
    t = report["timings_s"]
    for key in ("imports_s", "train_s", "predict_s", "evaluate_s", "write_s", "process_s"):
        assert t[key] >= 0.0
    assert math.isfinite(report["gluonts_evaluator"]["mean_wQuantileLoss"])


@pytest.mark.slow
def test_backtest_forecast_files(run_dir):
    out = run_dir["out"]
    pq = pd.read_parquet(out / "forecasts.parquet")
    csv = pd.read_csv(out / "forecasts.csv", dtype={"item_id": str}, parse_dates=["timestamp"])
    assert list(pq.columns) == ["item_id", "timestamp", "step", "target", "mean", *LEVELS]
    assert list(csv.columns) == list(pq.columns)
    assert len(pq) == 6 * H
    pd.testing.assert_frame_equal(pq, csv, check_dtype=False)
    q = pq[LEVELS].to_numpy()
    assert np.isfinite(q).all()
    assert (np.diff(q, axis=1) >= 0).all(), "quantile levels must be non-decreasing per row"
    # the observed values are the last H values of the m4_hourly test series
    test = datasets.load("m4_hourly").test
    for k, (item, g) in enumerate(pq.groupby("item_id", sort=False)):
        assert item == str(test[k]["item_id"])
        np.testing.assert_allclose(g["target"], test[k]["target"][-H:])
        assert list(g["step"]) == list(range(1, H + 1))
        assert (g["timestamp"].diff().dropna() == pd.Timedelta(hours=1)).all()


@pytest.mark.slow
def test_backtest_predictor_folder(run_dir):
    from gluonts.model.predictor import Predictor

    pdir = run_dir["out"] / "predictor"
    info = json.loads((pdir / "gluonts_iqf.json").read_text())
    assert info["freq"] == "h" and info["prediction_length"] == H
    predictor = Predictor.deserialize(pdir, device="cpu")
    assert predictor.prediction_length == H
    entry = datasets.load("m4_hourly").test[0]
    f = next(iter(predictor.predict([entry])))
    assert f.quantiles([0.1, 0.5, 0.9]).shape == (3, H)


@pytest.mark.slow
def test_backtest_pngs(run_dir):
    import matplotlib.image as mpimg

    for name in PNGS:
        path = run_dir["out"] / name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        img = mpimg.imread(path)
        assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 300, name


# ---------------------------------------------------------------------- #
# other data sources and models (in process, no plots)
# ---------------------------------------------------------------------- #
def test_backtest_rolling_origin_windows(tmp_path, capsys):
    """--windows 3: every window's forecasts and targets in the files, the
    targets the series' own values, and the metrics (pooled and per window)
    recomputed from the written quantiles as GluonTS's weighted quantile
    loss (sum of 2|(y - q)(1{y <= q} - a)| over sum |y|, mean over a)."""
    out = tmp_path / "rolling"
    levels = "0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9"
    code, stdout, _ = main_in_process(["backtest", *TINY, "--windows", "3", "--levels", levels,
                                       "--no-plots", "--output", str(out)], capsys)
    assert code == 0
    assert "3 windows pooled" in stdout and "per window" in stdout
    report = json.loads((out / "metrics.json").read_text())
    assert report["settings"]["windows"] == 3 and report["settings"]["num_series_per_window"] == [6, 6, 6]
    frame = pd.read_parquet(out / "forecasts.parquet")
    assert list(frame.columns[:3]) == ["item_id", "window", "timestamp"]
    assert sorted(frame["window"].unique()) == [1, 2, 3] and len(frame) == 3 * 6 * H

    # targets: window k holds values -kH .. -(k-1)H of each test series, in order
    test = datasets.load("m4_hourly").test
    items = list(dict.fromkeys(frame["item_id"]))
    for k in (1, 2, 3):
        for i, item in enumerate(items):
            y = np.asarray(test[i]["target"], dtype=float)
            got = frame[(frame["window"] == k) & (frame["item_id"] == item)]["target"].to_numpy()
            np.testing.assert_array_equal(got, y[len(y) - k * H: len(y) - (k - 1) * H])

    def wql(rows):
        y = rows["target"].to_numpy()
        losses = []
        for a in levels.split(","):
            q = rows[a].to_numpy()
            losses.append(2 * np.abs((y - q) * ((y <= q) - float(a))).sum() / np.abs(y).sum())
        return float(np.mean(losses))

    assert report["metrics"]["mean_wQuantileLoss"] == pytest.approx(wql(frame), rel=1e-9)
    windows = report["windows"]
    assert [w["window"] for w in windows] == [1, 2, 3] and [w["num_series"] for w in windows] == [6, 6, 6]
    for w in windows:
        assert w["mean_wQuantileLoss"] == pytest.approx(wql(frame[frame["window"] == w["window"]]), rel=1e-9)


def test_backtest_against_seasonal_naive(tmp_path, capsys):
    """--baselines seasonal_naive on two windows: the baseline's MASE per
    window is the last day repeated scored by hand (mean |y - y_hat| over
    the mean absolute 24-hour change of the history, averaged over series),
    and ours / theirs is the ratio of the two pooled scores."""
    pytest.importorskip("statsforecast")
    out = tmp_path / "naive"
    code, stdout, _ = main_in_process(["backtest", *TINY, "--windows", "2", "--baselines", "seasonal_naive",
                                       "--no-plots", "--output", str(out)], capsys)
    assert code == 0 and "against statsforecast baselines" in stdout
    report = json.loads((out / "metrics.json").read_text())
    naive = report["baselines"]["seasonal_naive"]
    assert naive["season_length"] == 24 and naive["season_1_refits"] == 0
    test = datasets.load("m4_hourly").test[:6]
    for k, w in zip((1, 2), naive["windows"]):
        mase = []
        for e in test:
            y = np.asarray(e["target"], dtype=float)
            y = y[: len(y) - (k - 1) * H]
            history, truth = y[:-H], y[-H:]
            forecast = history[-24:][:H]
            mase.append(np.abs(truth - forecast).mean() / np.abs(history[24:] - history[:-24]).mean())
        assert w["MASE"] == pytest.approx(float(np.mean(mase)), rel=1e-9)
    for key in ("mean_wQuantileLoss", "MASE", "sMAPE"):
        assert naive["ours_over_baseline"][key] == pytest.approx(report["metrics"][key] / naive["metrics"][key])


def test_backtest_baselines_share_their_fits(tmp_path, capsys, monkeypatch):
    """--baselines auto_theta,stat_ensemble on two windows: statsforecast
    fits AutoTheta, AutoETS and AutoCES once per window (the ensemble uses
    the AutoTheta fit already made), and the ensemble's seconds are its
    members' together."""
    pytest.importorskip("statsforecast")
    from gluonts_iqf import baselines

    calls = []
    frame = baselines._forecast_frame
    monkeypatch.setattr(baselines, "_forecast_frame", lambda name, *a: calls.append(name) or frame(name, *a))
    out = tmp_path / "shared"
    code, _, err = main_in_process(["backtest", *TINY, "--windows", "2", "--baselines", "auto_theta,stat_ensemble",
                                    "--no-plots", "--output", str(out)], capsys)
    assert code == 0, err
    assert sorted(calls) == ["auto_ces"] * 2 + ["auto_ets"] * 2 + ["auto_theta"] * 2
    report = json.loads((out / "metrics.json").read_text())["baselines"]
    assert report["stat_ensemble"]["seconds"] > report["auto_theta"]["seconds"] > 0


def test_backtest_user_csv_with_sff(user_csv, tmp_path, capsys):
    out = tmp_path / "sff"
    code, text, err = main_in_process(
        ["backtest", "--dataset", str(user_csv), *COLS, "--model", "sff-iqf",
         "--prediction-length", str(H), "--context-length", "24", "--epochs", "1",
         "--batches-per-epoch", "2", "--no-plots", "--quiet", "--output", str(out)], capsys)
    assert code == 0, err
    report = json.loads((out / "metrics.json").read_text())
    assert report["settings"]["model"] == "sff-iqf" and report["settings"]["freq"] == "h"
    assert report["metrics"]["crossing_rate"] == 0.0
    fc = pd.read_csv(out / "forecasts.csv")
    assert set(fc["item_id"]) == {"store-0", "store-1", "store-2"} and len(fc) == 3 * H
    assert not list(out.glob("*.png"))


def test_backtest_mqf2_joint_with_correlation_plot(tmp_path, capsys):
    out = tmp_path / "mqf2"
    code, text, err = main_in_process(
        ["backtest", "--model", "mqf2", "--max-series", "3", "--epochs", "1",
         "--batches-per-epoch", "2", "--prediction-length", "6", "--context-length", "12",
         "--quiet", "--output", str(out)], capsys)
    assert code == 0, err
    report = json.loads((out / "metrics.json").read_text())
    assert report["settings"]["model"] == "mqf2"
    assert np.isfinite(report["metrics"]["mean_wQuantileLoss"])
    png = (out / "correlation.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "predictor").is_dir()
    # MQF² has no distr_output: its head is the convex quantile map, trained
    # by the energy score
    s = report["settings"]
    assert "distr_output" not in s
    assert (s["convex_output"], s["loss"]) == ("ConvexQuantileOutput()", "energy score")
    assert "(convex quantile map)" in text and "IQF head" not in text


def test_backtest_deepar_overwrite(tmp_path, capsys):
    out = tmp_path / "deepar"
    out.mkdir()
    (out / "old.txt").write_text("previous run")
    code, _, err = main_in_process(
        ["backtest", "--model", "deepar-iqf", "--max-series", "3", "--epochs", "1",
         "--batches-per-epoch", "2", "--prediction-length", "6", "--no-plots", "--quiet",
         "--output", str(out), "--overwrite", "--levels", "0.5"], capsys)
    assert code == 0, err
    assert not (out / "old.txt").exists() and (out / "metrics.json").is_file()
    report = json.loads((out / "metrics.json").read_text())
    assert report["settings"]["model"] == "deepar-iqf"
    assert (report["settings"]["distr_output"], report["settings"]["loss"]) == ("IQFOutput()", "closed-form CRPS")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".deepar.")]


# ---------------------------------------------------------------------- #
# bad input: exit 2, one line on stderr, nothing written
# ---------------------------------------------------------------------- #
@pytest.mark.slow
def test_bad_dataset_subprocess(tmp_path):
    proc = run_cli(["backtest", "--dataset", "m5_daily", "--output", str(tmp_path / "out")])
    assert proc.returncode == 2
    assert_one_line_error(proc.stderr, "unknown dataset 'm5_daily'", "m4_hourly")
    no_leftovers(tmp_path, "out")


@pytest.mark.slow
def test_bad_csv_subprocess(tmp_path, user_csv):
    frame = pd.read_csv(user_csv)
    frame.loc[5, "time"] = frame.loc[4, "time"]  # duplicate within store-0
    bad = tmp_path / "bad.csv"
    frame.to_csv(bad, index=False)
    proc = run_cli(["backtest", "--dataset", str(bad), *COLS, "--prediction-length", "12",
                    "--output", str(tmp_path / "out")], cwd=tmp_path)
    assert proc.returncode == 2
    assert_one_line_error(proc.stderr, "item 'store-0'", "duplicate timestamp")
    no_leftovers(tmp_path, "out")


@pytest.mark.parametrize(
    "extra, parts",
    [
        (["--model", "prophet"], ["unknown model 'prophet'"]),
        (["--levels", "0.5,1.5"], ["--levels", "1.5", "strictly inside (0, 1)"]),
        (["--levels", "0.5,abc"], ["--levels", "'abc' is not a number"]),
        (["--levels", "0.5,0.5"], ["repeated level"]),
        (["--epochs", "0"], ["--epochs must be a positive integer"]),
        (["--device", "tpu"], ["--device", "invalid choice"]),
        (["--dataset", "no/such/file.csv"], ["not found", "file.csv"]),
        (["--dataset", "m4_weekly", "--data-dir", "/nonexistent-dir"], ["m4_weekly", "not found"]),
        (["--lr", "-1"], ["--lr must be a positive number"]),
        (["--windows", "0"], ["--windows must be a positive integer"]),
        (["--windows", "40"], ["no series", "before the earliest of 40 windows"]),
        (["--baselines", "auto_ets,prophet"], ["--baselines", "unknown baseline 'prophet'"]),
    ],
)
def test_bad_backtest_options(tmp_path, capsys, extra, parts):
    code, _, err = main_in_process(["backtest", *extra, "--output", str(tmp_path / "out")], capsys)
    assert code == 2
    assert_one_line_error(err, *parts)
    no_leftovers(tmp_path, "out")


@pytest.mark.parametrize("unset", ["delete", "empty"])
def test_known_dataset_without_data_dir(tmp_path, capsys, monkeypatch, unset):
    if unset == "delete":
        monkeypatch.delenv(datasets.DATA_DIR_ENV, raising=False)
    else:
        monkeypatch.setenv(datasets.DATA_DIR_ENV, "")
    monkeypatch.chdir(tmp_path)
    code, _, err = main_in_process(["backtest", "--dataset", "tourism_monthly",
                                    "--output", str(tmp_path / "out")], capsys)
    assert code == 2
    line = assert_one_line_error(err, "'tourism_monthly'", "--data-dir", datasets.DATA_DIR_ENV)
    assert "shared" not in line
    no_leftovers(tmp_path, "out")


def test_bad_csv_content_in_process(tmp_path, capsys, user_csv):
    frame = pd.read_csv(user_csv)
    cases = []
    f1 = frame.copy()
    f1.loc[130, "time"] = "31/31/2024"
    cases.append((f1, COLS, ["item 'store-1'", "unparsable timestamp '31/31/2024'"]))
    cases.append((frame, ["--item-id", "sku", "--timestamp", "time", "--target", "sales"],
                  ["missing item id column 'sku'", "'series'", "'time'", "'sales'"]))
    f3 = frame.copy()
    f3.loc[200, "time"] = "2024-03-01 12:30"
    cases.append((f3, COLS, ["item 'store-1'", "irregular"]))
    f4 = frame.iloc[:130]  # store-1 keeps 10 rows: too short for H=12
    cases.append((f4, COLS, ["item 'store-1'", "prediction_length 12"]))
    for k, (data, cols, parts) in enumerate(cases):
        path = tmp_path / f"bad{k}.csv"
        data.to_csv(path, index=False)
        code, _, err = main_in_process(["backtest", "--dataset", str(path), *cols, "--prediction-length", "12",
                                        "--output", str(tmp_path / "out")], capsys)
        assert code == 2, (k, err)
        assert_one_line_error(err, *parts)
        no_leftovers(tmp_path, "out")


def test_file_needs_prediction_length(tmp_path, capsys, user_csv):
    code, _, err = main_in_process(["backtest", "--dataset", str(user_csv), *COLS,
                                    "--output", str(tmp_path / "o")], capsys)
    assert code == 2
    assert_one_line_error(err, "--prediction-length is required")


def test_baselines_without_statsforecast(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "statsforecast", None)  # import fails as if not installed
    code, _, err = main_in_process(["backtest", "--baselines", "auto_ets", "--output", str(tmp_path / "out")],
                                   capsys)
    assert code == 2
    assert_one_line_error(err, "--baselines", "statsforecast", "pip install 'gluonts-iqf[bench]'")
    no_leftovers(tmp_path, "out")
