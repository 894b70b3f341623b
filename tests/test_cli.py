"""End-to-end tests of the ``gluonts-iqf`` command line.

One tiny backtest runs in a subprocess through ``python -m gluonts_iqf.cli``
(module fixture); ``forecast`` and ``tradeoff`` then use its saved predictor
on a CSV written from real m4_hourly values, ``forecast`` through the
installed ``gluonts-iqf`` script (skipped when it is not on PATH). Bad input
must exit with status 2, print exactly one line ``error: ...`` on stderr and
leave no output behind; most of those cases call ``cli.main(argv)`` in
process (same code path, no interpreter start-up), a few go through a real
subprocess.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gluonts_iqf import cli, datasets

H = 12  # prediction length of the tiny runs
TINY = [
    "--max-series", "6", "--epochs", "1", "--batches-per-epoch", "3",
    "--prediction-length", str(H), "--context-length", "24", "--quiet",
]
PNGS = ["fan_chart_0.png", "fan_chart_1.png", "fan_chart_2.png", "fan_chart_3.png",
        "quantile_function.png", "calibration.png"]
LEVELS = ["0.05", "0.1", "0.25", "0.5", "0.75", "0.9", "0.95"]


def _env():
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg")
    return env


def _run(args, cwd=None, exe=None, timeout=240):
    cmd = [exe] if exe else [sys.executable, "-m", "gluonts_iqf.cli"]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, env=_env(),
                          cwd=cwd, timeout=timeout)


def _assert_one_line_error(stderr: str, *parts: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got {stderr!r}"
    line = lines[0]
    assert line.startswith("error: "), line
    for p in parts:
        assert p in line, f"{p!r} not in {line!r}"
    return line


def _main(argv, capsys):
    """cli.main in process -> (exit status, stdout, stderr)."""
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _no_leftovers(folder: Path, name: str) -> None:
    assert not (folder / name).exists()
    assert not [p for p in folder.iterdir() if p.name.startswith(f".{name}.")], list(folder.iterdir())


# ---------------------------------------------------------------------- #
# fixtures
# ---------------------------------------------------------------------- #
@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A tiny backtest on the embedded m4_hourly, through a subprocess."""
    base = tmp_path_factory.mktemp("cli")
    out = base / "run"
    proc = _run(["backtest", *TINY, "--output", str(out)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {"out": out, "stdout": proc.stdout, "stderr": proc.stderr, "base": base}


@pytest.fixture(scope="module")
def user_csv(tmp_path_factory):
    """Long-format CSV from real m4_hourly values: three series with real
    hourly timestamps (different end times), the last 120 values each."""
    test = datasets.load("m4_hourly").test
    rows = []
    for k, item in enumerate((0, 1, 2)):
        y = test[item]["target"][-120 - k:len(test[item]["target"]) - k]
        ts = pd.date_range("2024-03-01 00:00", periods=len(y), freq="h") + pd.Timedelta(hours=k)
        rows.append(pd.DataFrame({"series": f"store-{item}", "time": ts.strftime("%Y-%m-%d %H:%M"),
                                  "sales": y}))
    path = tmp_path_factory.mktemp("data") / "sales.csv"
    pd.concat(rows).to_csv(path, index=False)
    return path


COLS = ["--item-id", "series", "--timestamp", "time", "--target", "sales"]


# ---------------------------------------------------------------------- #
# backtest outputs
# ---------------------------------------------------------------------- #
def test_backtest_prints_table_and_settings(run_dir):
    out = run_dir["stdout"]
    for text in ("mean wQL", "CRPS", "MASE", "coverage 0.05", "coverage 0.95", "crossing rate",
                 "context_length=24", "prediction_length=12", "num_forking=4"):
        assert text in out, text
    assert "error" not in run_dir["stderr"].lower()
    assert not [p for p in run_dir["base"].iterdir() if p.name.startswith(".run.")]
    umask = os.umask(0)
    os.umask(umask)
    assert run_dir["out"].stat().st_mode & 0o777 == 0o777 & ~umask  # like mkdir, not mkdtemp


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
    s = report["settings"]
    assert (s["model"], s["prediction_length"], s["context_length"], s["num_forking"]) == ("mqcnn", H, 24, 4)
    assert (s["epochs"], s["batches_per_epoch"], s["num_test_series"], s["freq"]) == (1, 3, 6, "h")
    assert report["seed"] == 0 and s["seed"] == 0
    assert {"torch", "gluonts", "lightning", "gluonts_iqf", "python"} <= set(report["versions"])
    t = report["timings_s"]
    for key in ("imports_s", "train_s", "predict_s", "evaluate_s", "write_s", "process_s"):
        assert t[key] >= 0.0
    assert math.isfinite(report["gluonts_evaluator"]["mean_wQuantileLoss"])


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


def test_backtest_pngs(run_dir):
    import matplotlib.image as mpimg

    for name in PNGS:
        path = run_dir["out"] / name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        img = mpimg.imread(path)
        assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 300, name


# ---------------------------------------------------------------------- #
# forecast and tradeoff with the saved predictor
# ---------------------------------------------------------------------- #
def test_forecast_through_installed_script(run_dir, user_csv, tmp_path):
    # the script installed next to this interpreter, else one on PATH
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    exe = shutil.which("gluonts-iqf", path=search)
    if exe is None:
        pytest.skip("the gluonts-iqf console script is not on PATH")
    out = tmp_path / "fc.csv"
    proc = _run(["forecast", "--predictor", str(run_dir["out"] / "predictor"), "--input", str(user_csv),
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


def test_forecast_parquet_and_stdout_in_process(run_dir, user_csv, tmp_path, capsys):
    pdir = str(run_dir["out"] / "predictor")
    out = tmp_path / "fc.parquet"
    code, _, err = _main(["forecast", "--predictor", pdir, "--input", str(user_csv), *COLS,
                          "--output", str(out), "--quiet"], capsys)
    assert code == 0, err
    fc = pd.read_parquet(out)
    assert len(fc) == 3 * H and {"0.5", "0.9", "0.95"} <= set(fc.columns)
    # existing file: refused without --overwrite, replaced with it
    code, _, err = _main(["forecast", "--predictor", pdir, "--input", str(user_csv), *COLS,
                          "--output", str(out)], capsys)
    assert code == 2
    _assert_one_line_error(err, "already exists", "--overwrite")
    code, _, err = _main(["forecast", "--predictor", pdir, "--input", str(user_csv), *COLS,
                          "--output", str(out), "--overwrite", "--levels", "0.2", "--quiet"], capsys)
    assert code == 0, err
    assert "0.2" in pd.read_parquet(out).columns
    # no --output: CSV on stdout
    code, out_text, err = _main(["forecast", "--predictor", pdir, "--input", str(user_csv), *COLS,
                                 "--levels", "0.1,0.9"], capsys)
    assert code == 0, err
    lines = out_text.strip().splitlines()
    assert lines[0] == "item_id,timestamp,step,mean,0.1,0.9" and len(lines) == 1 + 3 * H


def test_tradeoff_subprocess(run_dir, user_csv):
    proc = _run(["tradeoff", "--predictor", str(run_dir["out"] / "predictor"), "--input", str(user_csv),
                 *COLS, "--item", "store-1", "--levels", "0.90:0.95", "--lead-time", "6"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "item store-1" in out and "lead time 6" in out
    assert "total stock" in out and "comonotone" in out and "independent" in out
    for level in ("0.9 ", "0.91", "0.92", "0.93", "0.94", "0.95"):
        assert level in out, level


def test_tradeoff_matches_decision_module(run_dir, user_csv, tmp_path, capsys):
    from gluonts.model.predictor import Predictor

    from gluonts_iqf.decision import service_level_tradeoff

    out = tmp_path / "tab.csv"
    pdir = run_dir["out"] / "predictor"
    code, text, err = _main(["tradeoff", "--predictor", str(pdir), "--input", str(user_csv), *COLS,
                             "--item", "store-2", "--levels", "0.94,0.95", "--output", str(out)], capsys)
    assert code == 0, err
    tab = pd.read_csv(out, index_col=0)
    entries = datasets.load_long_frame(user_csv, item_id="series", timestamp="time", target="sales")
    f = next(iter(Predictor.deserialize(pdir, device="cpu").predict([entries[2]])))
    expected = service_level_tradeoff(f, levels=[0.94, 0.95])
    np.testing.assert_allclose(tab["stock|total_comonotone"], expected[("stock", "total_comonotone")], rtol=1e-5)


# ---------------------------------------------------------------------- #
# other data sources and models (in process, no plots)
# ---------------------------------------------------------------------- #
def test_backtest_user_csv_with_sff(user_csv, tmp_path, capsys):
    out = tmp_path / "sff"
    code, text, err = _main(["backtest", "--dataset", str(user_csv), *COLS, "--model", "sff-iqf",
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
    code, _, err = _main(["backtest", "--model", "mqf2", "--max-series", "3", "--epochs", "1",
                          "--batches-per-epoch", "2", "--prediction-length", "6", "--context-length", "12",
                          "--quiet", "--output", str(out)], capsys)
    assert code == 0, err
    report = json.loads((out / "metrics.json").read_text())
    assert report["settings"]["model"] == "mqf2"
    assert np.isfinite(report["metrics"]["mean_wQuantileLoss"])
    png = (out / "correlation.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "predictor").is_dir()


def test_backtest_deepar_overwrite(tmp_path, capsys):
    out = tmp_path / "deepar"
    out.mkdir()
    (out / "old.txt").write_text("previous run")
    code, _, err = _main(["backtest", "--model", "deepar-iqf", "--max-series", "3", "--epochs", "1",
                          "--batches-per-epoch", "2", "--prediction-length", "6", "--no-plots", "--quiet",
                          "--output", str(out), "--overwrite", "--levels", "0.5"], capsys)
    assert code == 0, err
    assert not (out / "old.txt").exists() and (out / "metrics.json").is_file()
    assert json.loads((out / "metrics.json").read_text())["settings"]["model"] == "deepar-iqf"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".deepar.")]


def test_failure_after_training_leaves_nothing(tmp_path, capsys, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(cli, "_plots", boom)
    code, _, err = _main(["backtest", *TINY, "--batches-per-epoch", "1", "--max-series", "2",
                          "--output", str(tmp_path / "out")], capsys)
    assert code == 1
    _assert_one_line_error(err, "disk on fire")
    _no_leftovers(tmp_path, "out")


# ---------------------------------------------------------------------- #
# bad input: exit 2, one line on stderr, nothing written
# ---------------------------------------------------------------------- #
def test_bad_dataset_subprocess(tmp_path):
    proc = _run(["backtest", "--dataset", "m5_daily", "--output", str(tmp_path / "out")])
    assert proc.returncode == 2
    _assert_one_line_error(proc.stderr, "unknown dataset 'm5_daily'", "m4_hourly")
    _no_leftovers(tmp_path, "out")


def test_bad_csv_subprocess(tmp_path, user_csv):
    frame = pd.read_csv(user_csv)
    frame.loc[5, "time"] = frame.loc[4, "time"]  # duplicate within store-0
    bad = tmp_path / "bad.csv"
    frame.to_csv(bad, index=False)
    proc = _run(["backtest", "--dataset", str(bad), *COLS, "--prediction-length", "12",
                 "--output", str(tmp_path / "out")], cwd=tmp_path)
    assert proc.returncode == 2
    _assert_one_line_error(proc.stderr, "item 'store-0'", "duplicate timestamp")
    _no_leftovers(tmp_path, "out")


def test_unknown_option_subprocess(tmp_path):
    proc = _run(["backtest", "--epochz", "3"], cwd=tmp_path)
    assert proc.returncode == 2
    _assert_one_line_error(proc.stderr, "unrecognized arguments: --epochz")
    _no_leftovers(tmp_path, "gluonts-iqf-output")


@pytest.mark.parametrize(
    "extra, parts",
    [
        (["--model", "prophet"], ["unknown model 'prophet'"]),
        (["--levels", "0.5,1.5"], ["--levels", "1.5", "outside (0, 1)"]),
        (["--levels", "0.5,abc"], ["--levels", "'abc' is not a number"]),
        (["--levels", "0.5,0.5"], ["repeated level"]),
        (["--epochs", "0"], ["--epochs must be a positive integer"]),
        (["--device", "tpu"], ["--device", "invalid choice"]),
        (["--dataset", "no/such/file.csv"], ["not found", "file.csv"]),
        (["--dataset", "m4_weekly", "--data-dir", "/nonexistent-dir"], ["m4_weekly", "not found"]),
        (["--lr", "-1"], ["--lr must be a positive number"]),
    ],
)
def test_bad_backtest_options(tmp_path, capsys, extra, parts):
    code, _, err = _main(["backtest", *extra, "--output", str(tmp_path / "out")], capsys)
    assert code == 2
    _assert_one_line_error(err, *parts)
    _no_leftovers(tmp_path, "out")


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
        code, _, err = _main(["backtest", "--dataset", str(path), *cols, "--prediction-length", "12",
                              "--output", str(tmp_path / "out")], capsys)
        assert code == 2, (k, err)
        _assert_one_line_error(err, *parts)
        _no_leftovers(tmp_path, "out")


def test_file_needs_prediction_length(tmp_path, capsys, user_csv):
    code, _, err = _main(["backtest", "--dataset", str(user_csv), *COLS, "--output", str(tmp_path / "o")],
                         capsys)
    assert code == 2
    _assert_one_line_error(err, "--prediction-length is required")


def test_output_folder_checks(tmp_path, capsys):
    existing = tmp_path / "exists"
    existing.mkdir()
    code, _, err = _main(["backtest", "--output", str(existing)], capsys)
    assert code == 2
    _assert_one_line_error(err, "already exists", "--overwrite")
    assert existing.is_dir() and not list(existing.iterdir())
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    code, _, err = _main(["backtest", "--output", str(blocker / "out")], capsys)
    assert code == 2
    _assert_one_line_error(err, "cannot write output folder", "does not exist")
    code, _, err = _main(["backtest", "--output", str(blocker), "--overwrite"], capsys)
    assert code == 2
    _assert_one_line_error(err, "not a folder")


def test_forecast_and_tradeoff_bad_input(run_dir, user_csv, tmp_path, capsys):
    pdir = str(run_dir["out"] / "predictor")
    cases = [
        (["forecast", "--predictor", str(tmp_path / "none"), "--input", str(user_csv), *COLS],
         ["predictor folder not found"]),
        (["forecast", "--predictor", str(tmp_path), "--input", str(user_csv), *COLS],
         ["not a saved predictor"]),
        (["forecast", "--predictor", pdir, "--input", str(tmp_path / "missing.csv"), *COLS],
         ["not found", "missing.csv"]),
        (["forecast", "--predictor", pdir, "--input", str(user_csv), *COLS, "--levels", "0,0.5"],
         ["outside (0, 1)"]),
        (["forecast", "--predictor", pdir, "--input", str(user_csv), *COLS, "--output", str(tmp_path / "x.txt")],
         ["extensions"]),
        (["forecast", "--predictor", pdir, "--input", str(user_csv), *COLS, "--freq", "D"],
         ["same 'D' period"]),
        (["tradeoff", "--predictor", pdir, "--input", str(user_csv), *COLS, "--item", "store-9"],
         ["unknown item 'store-9'", "'store-0'"]),
        (["tradeoff", "--predictor", pdir, "--input", str(user_csv), *COLS, "--item", "store-0",
          "--lead-time", "13"], ["--lead-time 13", "horizon 12"]),
        (["tradeoff", "--predictor", pdir, "--input", str(user_csv), *COLS, "--item", "store-0",
          "--levels", "0.99:0.90"], ["--levels"]),
        (["tradeoff", "--predictor", pdir, "--input", str(user_csv), *COLS], ["--item"]),
        ([], ["choose a command"]),
    ]
    for argv, parts in cases:
        code, out, err = _main(argv, capsys)
        assert code == 2, (argv, err)
        _assert_one_line_error(err, *parts)
    assert not list(tmp_path.glob("x.txt*"))


def test_daily_input_for_hourly_predictor(run_dir, tmp_path, capsys):
    daily = pd.DataFrame({"item_id": "d", "timestamp": pd.date_range("2024-01-01", periods=30, freq="D"),
                          "target": np.arange(30.0)})
    path = tmp_path / "daily.parquet"
    daily.to_parquet(path)
    code, _, err = _main(["forecast", "--predictor", str(run_dir["out"] / "predictor"), "--input", str(path)],
                         capsys)
    assert code == 2
    _assert_one_line_error(err, "frequency 'D' differs from the predictor's 'h'")


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for word in ("backtest", "forecast", "tradeoff"):
        assert word in out
