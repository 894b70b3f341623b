"""benchmarks/bench_accuracy.py: the early-stopping split (pure function)."""

import sys
from pathlib import Path

import numpy as np
import pytest

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


def test_max_history_flag_parses_and_rejects_nothing_kept():
    base = ["--split", "validation", "--datasets", "m4_hourly"]
    assert B.parse_args(base + ["--max-history", "2"]).max_history == 2
    assert B.parse_args(base).max_history is None
    with pytest.raises(SystemExit):
        B.parse_args(base + ["--max-history", "0"])


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


def test_lever_table_names_settings_that_differ_by_dataset():
    metrics = {k: 1.0 for k in B.RATIO_METRICS}
    recs = []
    for d, context in (("a", 50), ("b", 144)):
        recs.append({"split": "validation", "dataset": d, "model": "auto_ets", "tag": "default", "seed": None,
                     "metrics": dict(metrics), "train_s": 1.0, "predict_s": 0.0})
        for tag, kwargs in (("ctx", {"context_length": context}), ("same", {"lr": 0.01})):
            recs.append({"split": "validation", "dataset": d, "model": "mqcnn", "tag": tag, "seed": 0,
                         "metrics": dict(metrics), "train_s": 1.0, "predict_s": 0.0, "mqcnn_kwargs": kwargs,
                         "commit": "abc1234", "steps": 400})
    table, _ = B.compare_tags({"records": {str(i): r for i, r in enumerate(recs)}}, "validation", ["a", "b"],
                              ["ctx", "same"])
    rows = {line.split(" | ")[0]: line for line in table.splitlines() if line.startswith("| ")}
    assert '| per dataset: a `{"context_length": 50}`; b `{"context_length": 144}` | 0 |' in rows["| ctx"]
    assert '| `{"lr": 0.01}` | 0 |' in rows["| same"]


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


def test_max_history_keeps_the_last_horizons_of_every_series():
    """``--max-history K`` cuts each training series and forecast input to
    its last max(K H, two seasons) values, moving its start to the first
    kept value; the truths are those of the uncut windows (embedded
    m4_hourly: H = 48, season 24)."""
    assert B.history_length(3, 48, 24) == 144 and B.history_length(1, 4, 52) == 104
    for split in ("validation", "test"):
        md, train, inputs, truth, _ = B.windows("m4_hourly", None, split, 3)
        _, short_train, short_inputs, short_truth, _ = B.windows("m4_hourly", None, split, 3, max_history=2)
        for full, short in list(zip(train, short_train)) + list(zip(inputs, short_inputs)):
            t = np.asarray(full["target"])
            np.testing.assert_array_equal(short["target"], t[-96:])
            assert short["start"] == full["start"] + (len(t) - 96)
        for y, z in zip(truth, short_truth):
            np.testing.assert_array_equal(y, z)
    # a series shorter than the kept length stays whole
    e = {"target": np.arange(5.0), "start": train[0]["start"]}
    assert B.last_values(e, 10)["start"] == e["start"] and len(B.last_values(e, 10)["target"]) == 5


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


def test_summary_and_lever_table_keep_cut_histories_apart():
    """Records of histories cut by ``--max-history`` are summarised only
    with their own kind: uncut records (older ones lack the key) and cut
    ones never share a mean, and the headings say which is which."""
    base = {"split": "validation", "dataset": "d", "train_s": 1.0, "predict_s": 0.0, "commit": "abc1234",
            "steps": 400, "mqcnn_kwargs": {}, "cpu": "CPU A", "date": "2026-12-06 10:00 UTC"}
    keys = B.RATIO_METRICS + ("Coverage[0.1]", "Coverage[0.5]", "Coverage[0.9]", "crossing_rate")
    recs = [dict(base, model="auto_ets", tag="default", seed=None, metrics=dict.fromkeys(keys, 1.0)),
            dict(base, model="mqcnn", tag="default", seed=0, metrics=dict.fromkeys(keys, 0.9)),
            dict(base, model="auto_ets", tag="default", seed=None, max_history=2, metrics=dict.fromkeys(keys, 2.0)),
            dict(base, model="mqcnn", tag="default", seed=0, max_history=2, metrics=dict.fromkeys(keys, 1.0))]
    results = {"records": {str(i): r for i, r in enumerate(recs)}}
    assert B.summarise(results, "validation", ["d"], "default")["ratios"]["MASE"]["d"] == 0.9
    assert B.summarise(results, "validation", ["d"], "default", 2)["ratios"]["MASE"]["d"] == 0.5
    table, heading = B.compare_tags(results, "validation", ["d"], ["default"], 2)
    assert heading == "## Accuracy levers on the validation windows, histories cut to 2 horizons"
    assert "0.500 \\| 0.500" in table
    args = B.parse_args(["--split", "validation", "--datasets", "d", "--max-history", "2"])
    text, heading = B.markdown(B.summarise(results, "validation", ["d"], "default", 2), "validation", ["d"], args)
    assert heading == "## Accuracy on the validation windows, histories cut to 2 horizons"
    assert "--max-history 2`" in text and "last 2 horizons" in text
    # each group of rows names the machines it ran on
    assert "MQ-CNN-IQF rows `abc1234` (2026-12-06 10:00 UTC to 2026-12-06 10:00 UTC; CPU A)" in text
