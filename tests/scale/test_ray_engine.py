"""Tests of gluonts_iqf.scale.ray_engine: batch inference on a local Ray
instance gives the numbers of the single-process path; bad partitions stop
the run with one DataError naming the file and the item, and leave no
output; Ray is imported only when it runs.

The Ray runs are marked slow (a local Ray instance and its actor starts
take seconds); they are skipped when Ray is not installed. Tolerance
against the single-process table: rtol 1e-6 (float32 rounding of the
IQF's vectorised kernels can differ in the last bit when a series sits at
another position of its batch).
"""

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from gluonts.model import Predictor
from scale_helpers import LEVELS, SAVED, write_files

from gluonts_iqf.cli.forecast import forecast_frame
from gluonts_iqf.datasets import DataError
from gluonts_iqf.scale import ray_engine
from gluonts_iqf.scale.parquet import parquet_files, parquet_pieces
from gluonts_iqf.scale.ray_engine import RAY_MISSING, forecast_with_ray

PREDICTOR = SAVED / "mqcnn_iqf"
COLUMNS = [("item id", "item_id"), ("timestamp", "timestamp"), ("target", "target")]


def no_output(tmp_path, name="out"):
    """Neither the output nor a staging sibling exists."""
    assert not (tmp_path / name).exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(f".{name}.")]


@pytest.fixture(scope="module")
def expected(m4_series):
    predictor = Predictor.deserialize(PREDICTOR, device="cpu")
    return forecast_frame(list(predictor.predict(m4_series)), LEVELS)


def assert_same_forecasts(got, expected):
    """Same rows as the single-process table (any series order; each
    series' rows consecutive and in step order)."""
    assert list(got.columns) == list(expected.columns)
    starts = got.groupby("item_id", sort=False).head(1).index
    assert (got["step"].to_numpy()[starts] == 1).all()
    assert (np.diff(got["step"].to_numpy()) != 1).sum() == len(starts) - 1
    key = ["item_id", "step"]
    got = got.sort_values(key).reset_index(drop=True)
    expected = expected.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-6)


# ---------------------------------------------------------------- no Ray
@pytest.mark.slow
def test_importing_the_package_does_not_import_ray():
    """A subprocess (a fresh interpreter): importing the package and its
    command line leaves Ray unimported."""
    code = "import sys, gluonts_iqf.scale, gluonts_iqf.cli; print('ray' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "False"


def test_missing_ray_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(ImportError, match=r"pip install 'gluonts-iqf\[ray\]'"):
        ray_engine.import_ray()
    with pytest.raises(ImportError, match=r"gluonts-iqf\[ray\]"):
        forecast_with_ray(PREDICTOR, tmp_path, tmp_path / "out")
    assert "gluonts-iqf[ray]" in RAY_MISSING


# ---------------------------------------------------------------- on Ray
@pytest.mark.slow
def test_files_on_ray_equal_the_single_process_forecasts(ray_local, m4_long, expected, tmp_path):
    """Series straddle files and row groups; several partitions; one
    actor (the instance has 2 CPUs: one for the read and sort tasks)."""
    folder = write_files(m4_long, tmp_path / "in", parts=3)
    summary = forecast_with_ray(PREDICTOR, folder, tmp_path / "out", LEVELS, num_workers=1,
                                rows_per_partition=2000)
    assert summary.series == 40 and summary.rows == 40 * 24 and summary.partitions == 3
    assert summary.files == len(list((tmp_path / "out").glob("*.parquet"))) >= 1
    assert_same_forecasts(pd.read_parquet(tmp_path / "out"), expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "out"]  # no staging left
    # the short series (5 values, padded) has its forecast
    assert (pd.read_parquet(tmp_path / "out")["item_id"] == "store-03").sum() == 24


@pytest.mark.slow
def test_as_many_workers_as_cpus_does_not_wait_forever(ray_local, m4_long, expected, tmp_path, caplog):
    """2 workers on the 2-CPU instance: a fixed pool would hold both CPUs
    before the read and sort tasks run (the run never ended); the elastic
    pool starts with one actor, says so, and the forecasts are the
    single-process ones."""
    folder = write_files(m4_long, tmp_path / "in", parts=2)
    with caplog.at_level("WARNING", logger="gluonts_iqf.scale.ray_engine"):
        summary = forecast_with_ray(PREDICTOR, folder, tmp_path / "out", LEVELS, num_workers=2)
    assert summary.series == 40
    assert_same_forecasts(pd.read_parquet(tmp_path / "out"), expected)
    assert any("2 CPUs for 2 forecasting workers" in r.getMessage() for r in caplog.records)


@pytest.mark.slow
def test_dataset_on_ray_equals_the_single_process_forecasts(ray_local, m4_long, expected, tmp_path):
    import ray.data as rd

    ds = rd.from_pandas(m4_long.sample(frac=1.0, random_state=0))  # any row order
    summary = forecast_with_ray(PREDICTOR, ds, tmp_path / "out", LEVELS, num_workers=1, num_partitions=2)
    assert summary.series == 40
    assert_same_forecasts(pd.read_parquet(tmp_path / "out"), expected)


def write_grouped_files(frame, folder, parts=3, row_group_size=100):
    """``frame`` (each item's rows consecutive) cut into ``parts`` files of
    whole items, small row groups (items span row groups)."""
    folder.mkdir(parents=True, exist_ok=True)
    items = frame["item_id"].unique()
    for k, chunk in enumerate(np.array_split(items, parts)):
        frame[frame["item_id"].isin(chunk)].to_parquet(folder / f"part-{k}.parquet", index=False,
                                                       row_group_size=row_group_size)
    return folder


@pytest.mark.slow
def test_grouped_files_on_ray_equal_the_single_process_forecasts(ray_local, m4_long, expected, tmp_path):
    """Grouped input: pieces of 300 rows over row groups of 100 (items of
    150 rows span pieces), forecast by the actors as they read them; the
    same forecasts, one output file per piece that owns items; rows out of
    order, and a covariate the predictor does not take, stop the run
    naming the file and the item, with no output; a Dataset cannot be
    declared grouped."""
    import ray.data as rd

    folder = write_grouped_files(m4_long, tmp_path / "in")
    summary = forecast_with_ray(PREDICTOR, folder, tmp_path / "out", LEVELS, num_workers=1,
                                rows_per_partition=300, grouped=True)
    pieces = parquet_pieces(parquet_files(folder), COLUMNS, 300)
    assert summary.series == 40 and summary.partitions == len(pieces) > 3
    assert_same_forecasts(pd.read_parquet(tmp_path / "out"), expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "out"]

    by_time = m4_long.sort_values(["timestamp", "item_id"], kind="stable")
    bad = tmp_path / "bad"
    bad.mkdir()
    by_time.to_parquet(bad / "by-time.parquet", index=False)
    with pytest.raises(DataError) as info:
        forecast_with_ray(PREDICTOR, bad, tmp_path / "out2", LEVELS, num_workers=1, grouped=True)
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message, message
    assert "by-time.parquet (row groups 0-0): the rows of item " in message and "not consecutive" in message
    no_output(tmp_path, "out2")
    # a covariate the predictor was not trained with (the table otherwise right: each series' last 24 rows
    # its horizon, target empty): the predictor's own check, one line
    priced = m4_long[m4_long["item_id"] != "store-03"].assign(price=1.0)
    priced.loc[priced.groupby("item_id").cumcount(ascending=False) < 24, "target"] = np.nan
    write_grouped_files(priced, tmp_path / "priced", parts=1)
    with pytest.raises(DataError) as info:
        forecast_with_ray(PREDICTOR, tmp_path / "priced", tmp_path / "out4", LEVELS, num_workers=1,
                          covariates=["price"], grouped=True)
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message, message
    assert "part-0.parquet: item store-00: field 'feat_dynamic_real' is present but the estimator declares" in message
    no_output(tmp_path, "out4")
    with pytest.raises(ValueError, match="grouped=True applies to Parquet input"):
        forecast_with_ray(PREDICTOR, rd.from_pandas(m4_long), tmp_path / "out3", LEVELS, grouped=True)
    no_output(tmp_path, "out3")


@pytest.mark.slow
def test_covariates_known_in_advance_on_ray_and_in_the_command(ray_local, covariate_case, tmp_path, capsys):
    """A predictor trained with a covariate: each series' last 24 rows
    carry it for the horizon (target empty). Ray (sort and grouped) and
    ``gluonts-iqf forecast --covariates`` give the forecasts of the
    predictor on the entries built directly (target T, covariate T + 24)."""
    from gluonts_iqf import cli
    from gluonts_iqf.scale import forecast_tables, load_predictor

    folder, frame, entries = covariate_case
    predictor, _ = load_predictor(folder)
    expected = pd.concat(list(forecast_tables(predictor, entries, LEVELS)), ignore_index=True)
    assert len(expected) == 12 * 24
    flipped = [dict(e, feat_dynamic_real=np.concatenate(  # the horizon's covariate reaches the forecasts
        [e["feat_dynamic_real"][:, :-24], 1 - e["feat_dynamic_real"][:, -24:]], axis=1)) for e in entries]
    other = pd.concat(list(forecast_tables(predictor, flipped, LEVELS)), ignore_index=True)
    assert not np.allclose(other["0.5"], expected["0.5"], rtol=1e-4)
    files = write_grouped_files(frame, tmp_path / "in", parts=2, row_group_size=100)
    for grouped in (False, True):
        out = tmp_path / f"out-{grouped}"
        summary = forecast_with_ray(folder, files, out, LEVELS, num_workers=1, covariates=["promo"],
                                    rows_per_partition=300, grouped=grouped)
        assert summary.series == 12
        assert_same_forecasts(pd.read_parquet(out), expected)
    path = tmp_path / "series.parquet"
    frame.to_parquet(path, index=False)
    code = cli.main(["forecast", "--predictor", str(folder), "--input", str(path), "--covariates", "promo",
                     "--levels", ",".join(map(str, LEVELS)), "--output", str(tmp_path / "fc.parquet"), "--quiet"])
    assert code == 0, capsys.readouterr().err
    assert_same_forecasts(pd.read_parquet(tmp_path / "fc.parquet"), expected)


@pytest.mark.slow
def test_bad_partitions_stop_the_run_naming_file_and_item(ray_local, m4_long, tmp_path):
    cases = {}
    text = m4_long.astype({"target": str})
    text.loc[text.index[200], "target"] = "lots"  # item store-01
    cases["non-numeric"] = (text, [r"part-0\.parquet: item 'store-01': non-numeric value 'lots' in column 'target'"])
    dup = m4_long.copy()
    dup.loc[dup.index[401], "timestamp"] = dup.loc[dup.index[400], "timestamp"]  # store-02
    cases["duplicate"] = (dup, [r"part-0\.parquet: item 'store-02': duplicate timestamp"])
    across = pd.concat([m4_long, m4_long[m4_long["item_id"] == "store-05"].iloc[:2]], ignore_index=True)
    cases["duplicate across files"] = (
        across, [r"files .*part-0\.parquet, .*part-2\.parquet: item 'store-05': duplicate timestamp"])
    for name, (frame, patterns) in cases.items():
        case = tmp_path / name.replace(" ", "-")
        folder = write_files(frame, case / "in", parts=3)
        with pytest.raises(DataError) as info:
            forecast_with_ray(PREDICTOR, folder, case / "out", LEVELS, num_workers=1)
        message = str(info.value)
        assert "\n" not in message and "Traceback" not in message and "Ray" not in message, message
        for pattern in patterns:
            assert __import__("re").search(pattern, message), (name, message)
        no_output(case)


def test_existing_output_is_refused_before_any_work(m4_long, tmp_path):
    pytest.importorskip("ray.data")
    folder = write_files(m4_long, tmp_path / "in")
    (tmp_path / "out").mkdir()
    with pytest.raises(FileExistsError, match="already exists"):
        forecast_with_ray(PREDICTOR, folder, tmp_path / "out", LEVELS)
    assert os.listdir(tmp_path / "out") == []


def test_actor_pool_is_fixed_only_with_cpus_to_spare():
    """A fixed pool of num_workers actors when at least one CPU is left for
    the other tasks; otherwise one actor growing to num_workers."""
    rd = pytest.importorskip("ray.data")
    from gluonts_iqf.scale.ray_engine import actor_pool

    fixed = actor_pool(rd, 3, spare_cpus=1.0)
    assert (fixed.min_size, fixed.max_size) == (3, 3)
    for spare in (0.0, -1.0, 0.5):
        elastic = actor_pool(rd, 3, spare_cpus=spare)
        assert (elastic.min_size, elastic.max_size) == (1, 3)
