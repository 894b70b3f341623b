"""benchmarks/bench_accuracy.py: the early-stopping split (pure function)."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import bench_accuracy as B  # noqa: E402


def test_early_stopping_split_holds_out_the_last_horizon():
    series = [{"target": np.arange(10.0), "item_id": "long"}, {"target": np.arange(5.0), "item_id": "short"}]
    short, validation = B.early_stopping_split(series, 3)
    assert validation is series
    np.testing.assert_array_equal(short[0]["target"], np.arange(7.0))
    assert short[0]["item_id"] == "long"
    # 5 values <= H + 2: kept whole, so the series still trains
    np.testing.assert_array_equal(short[1]["target"], np.arange(5.0))
    np.testing.assert_array_equal(series[0]["target"], np.arange(10.0))  # the input is not changed


def test_early_stopping_flag_parses():
    args = B.parse_args(["--split", "validation", "--datasets", "m4_hourly", "--early-stopping"])
    assert args.early_stopping is True
    assert B.parse_args(["--split", "validation", "--datasets", "m4_hourly"]).early_stopping is False


def test_lever_table_names_early_stopping_steps_and_the_defaults_commit():
    metrics = {k: 1.0 for k in B.RATIO_METRICS}
    recs = [{"split": "validation", "dataset": "d", "model": "auto_ets", "tag": "default", "seed": None,
             "metrics": dict(metrics), "train_s": 1.0, "predict_s": 0.0}]
    for tag, early, value, steps in (("default", False, 0.9, 400), ("early", True, 0.95, 400),
                                     ("long", False, 0.97, 1200)):
        recs.append({"split": "validation", "dataset": "d", "model": "mqcnn", "tag": tag, "seed": 0,
                     "metrics": {k: value for k in B.RATIO_METRICS}, "train_s": 1.0, "predict_s": 0.0,
                     "mqcnn_kwargs": {}, "early_stopping": early, "commit": "abc1234+dirty" if early else "abc1234",
                     "steps": steps})
    table, _ = B.compare_tags({"records": {str(i): r for i, r in enumerate(recs)}}, "validation", ["d"],
                              ["default", "early", "long"])
    rows = {line.split(" | ")[0]: line for line in table.splitlines() if line.startswith("| ")}
    assert "| defaults of abc1234 | 0 | 0.900 \\| 0.900 | **0.900** | **0.900** |" in rows["| default"]
    assert "defaults of abc1234, early stopping on the training series' last H values | 0 | 0.950 \\| 0.950 |" in rows["| early"]
    # a tag trained for other than the protocol's steps says so
    assert "defaults of abc1234, 1200 training steps (the baselines' 400) | 0 | 0.970 \\| 0.970 |" in rows["| long"]


def test_validation_windows_cut_one_horizon_each():
    """validation / validation2 / validation3 / validation4 / validation5 forecast the H
    values that end 1, 2, 3, 4 and 5 horizons before the end of each training series (embedded
    m4_hourly, H = 48), from the values before them; test forecasts the
    test series' last H."""
    for split, k in (("validation", 1), ("validation2", 2), ("validation3", 3), ("validation4", 4),
                     ("validation5", 5)):
        md, train, inputs, truth, dropped = B.windows("m4_hourly", None, split, 3)
        H = md.prediction_length
        full = B.windows("m4_hourly", None, "test", 3)[1]
        assert H == 48 and dropped == 0 and train is inputs
        for e, x, y in zip(full, inputs, truth):
            t = np.asarray(e["target"], dtype=float)
            np.testing.assert_array_equal(x["target"], t[: len(t) - k * H])
            np.testing.assert_array_equal(y, t[len(t) - k * H: len(t) - (k - 1) * H])


def test_mase_is_averaged_over_the_series_where_it_is_defined():
    """A series whose history never changes has an infinite MASE in GluonTS;
    the benchmark's MASE is the mean over the others (worked out by hand:
    a history 1, 3, 2, 4 has mean absolute change 5/3, a median 4 against
    truths 5, 2 errs by 1.5 on average, MASE 0.9) and counts it."""
    import pandas as pd
    from gluonts.model.forecast import QuantileForecast

    assert B.mean_defined_mase(np.array([1.0, np.inf, 3.0, np.nan])) == (2.0, 2)
    assert np.isnan(B.mean_defined_mase(np.array([np.inf]))[0])
    start = pd.Period("2000", freq="Y")
    inputs = [{"target": np.array([1.0, 3.0, 2.0, 4.0]), "start": start},
              {"target": np.array([7.0, 7.0, 7.0, 7.0]), "start": start}]
    truth = [np.array([5.0, 2.0]), np.array([7.0, 8.0])]
    forecasts = [QuantileForecast(np.full((len(B.GRID), 2), m), start_date=start + 4,
                                  forecast_keys=[str(q) for q in B.GRID]) for m in (4.0, 7.0)]
    out = B.score(forecasts, inputs, truth, "Y")
    assert out["MASE_undefined"] == 1
    assert out["MASE"] == np.float64(1.5 / (5.0 / 3.0))


def test_summary_of_runs_recorded_before_and_after_a_new_metric():
    """A cell whose seeds were scored by different versions keeps the
    metrics that every run has."""
    base = {"split": "test", "dataset": "d", "train_s": 1.0, "predict_s": 0.0}
    metrics = {k: 1.0 for k in B.RATIO_METRICS}
    recs = [dict(base, model="auto_ets", tag="default", seed=None, metrics=dict(metrics)),
            dict(base, model="mqcnn", tag="default", seed=0, metrics=dict(metrics, MASE_undefined=0)),
            dict(base, model="mqcnn", tag="default", seed=1, metrics={k: 0.5 for k in B.RATIO_METRICS})]
    summ = B.summarise({"records": {str(i): r for i, r in enumerate(recs)}}, "test", ["d"], "default")
    cell = summ["table"]["d"]["mqcnn"]
    assert set(cell["mean"]) == set(B.RATIO_METRICS) and cell["mean"]["MASE"] == 0.75
    assert summ["ratios"]["MASE"]["d"] == 0.75
