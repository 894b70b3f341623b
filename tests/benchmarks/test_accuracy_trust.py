"""benchmarks/accuracy_trust.py: the checks of how far the accuracy windows
can be trusted, on hand-made records whose answers are worked out here."""

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import accuracy_trust as T  # noqa: E402

METRICS = ("mean_wQuantileLoss", "MASE", "sMAPE", "coverage_error")


def _record(split, dataset, model, value, tag="default", seed=0):
    return {"split": split, "dataset": dataset, "model": model, "tag": tag if model == "mqcnn" else "",
            "seed": seed, "metrics": {k: value for k in METRICS}, "train_s": 1.0, "predict_s": 0.0}


def _results(records):
    return {"records": {str(i): r for i, r in enumerate(records)}}


def test_against_rest_divides_by_the_best_other_baseline():
    recs = []
    for d, (ets, theta, ours) in {"a": (1.0, 2.0, 0.5), "b": (4.0, 2.0, 3.0)}.items():
        recs += [_record("test", d, "auto_ets", ets), _record("test", d, "auto_theta", theta),
                 _record("test", d, "mqcnn", ours, seed=0), _record("test", d, "mqcnn", 2 * ours - 0.5, seed=1)]
    table = T.summarise(_results(recs), "test", ["a", "b"], "default")["table"]
    out = T.against_rest(table, ["a", "b"], "MASE")
    # ours: seed means 0.5 on a (0.5, 0.5) and 4.25 on b (3.0, 5.5), against min(ets, theta)
    assert out["mqcnn"][0] == pytest.approx(math.sqrt(0.5 / 1.0 * 4.25 / 2.0))
    assert out["mqcnn"][1:] == (1, 2)
    # a baseline is compared with the other baselines only, never with ours
    assert out["auto_ets"][0] == pytest.approx(math.sqrt(1.0 / 2.0 * 4.0 / 2.0))
    assert out["auto_ets"][1:] == (1, 2)
    assert out["auto_theta"][0] == pytest.approx(math.sqrt(2.0 / 1.0 * 2.0 / 4.0))
    assert out["auto_theta"][1:] == (1, 2)


def test_agreement_bands_and_signs():
    # geometric means of three configurations on two windows (one metric)
    first = {"x": {"MASE": 1.0}, "y": {"MASE": 1.003}, "z": {"MASE": 1.1}}
    second = {"x": {"MASE": 1.0}, "y": {"MASE": 0.99}, "z": {"MASE": 1.2}}
    rows, corr, n = T.agreement(first, second, "MASE")
    assert n == 3
    # x->y: +0.3 % then -1 % (disagree); x->z: +9.5 % then +18 % (agree); y->z: +9.2 % then +19 % (agree)
    assert rows == [(0.0, 0.005, 1, 0.0), (0.05, math.inf, 2, 1.0)]
    changes = [[math.log(b / a) for a, b in ((1.0, 1.003), (1.0, 1.1), (1.003, 1.1))],
               [math.log(b / a) for a, b in ((1.0, 0.99), (1.0, 1.2), (0.99, 1.2))]]
    assert corr == pytest.approx(float(np.corrcoef(changes[0], changes[1])[0, 1]))
    rows, _, n = T.agreement(first, second, "MASE", exclude=["y"])
    assert n == 1 and rows == [(0.05, math.inf, 1, 1.0)]


def test_agreement_without_common_configurations():
    rows, corr, n = T.agreement({"x": {"MASE": 1.0}}, {"y": {"MASE": 1.0}}, "MASE")
    assert rows == [] and n == 0 and math.isnan(corr)


def test_report_and_cli(tmp_path):
    recs = []
    for split in ("validation", "test"):
        for d in ("a", "b"):
            recs += [_record(split, d, "auto_ets", 1.0), _record(split, d, "auto_theta", 1.5)]
            for tag, v in (("default", 0.9), ("other", 1.1), ("seeds2", 0.91)):
                recs.append(_record(split, d, "mqcnn", v, tag=tag))
    path = tmp_path / "acc.json"
    path.write_text(json.dumps(_results(recs)))
    md = tmp_path / "R.md"
    md.write_text("# Benchmarks\n\n## Other\n\nkept\n")
    assert T.main(["--results", str(path), "--markdown", str(md), "--datasets", "a,b",
                   "--neutral", "default,seeds2"]) == 0
    text = md.read_text()
    assert "## Other\n\nkept" in text and T.HEADING in text
    assert "| MQ-CNN-IQF | 0.900 (2/2) |" in text  # 0.9 / min(1.0, 1.5)
    assert "| AutoETS | 0.667 (2/2) |" in text  # 1.0 / 1.5
    # the neutral re-run is left out of the agreement table: only default-other remains
    assert "**validation against test** (2 configurations: default, other)" not in text  # fewer than 3
    assert "validation against validation2" not in text
    assert "| validation | +1.11 % |" in text and "| test | +1.11 % |" in text
    with pytest.raises(SystemExit):
        T.parse_args(["--neutral", "default"])


def test_pooled_table_is_the_geometric_mean_over_the_windows():
    recs = [_record("validation3", "a", "auto_ets", 1.0), _record("test", "a", "auto_ets", 4.0),
            _record("validation3", "a", "auto_theta", 1.5), _record("test", "a", "auto_theta", 1.5),
            _record("validation3", "a", "mqcnn", 0.5, seed=0), _record("validation3", "a", "mqcnn", 1.5, seed=1),
            _record("test", "a", "mqcnn", 2.0),
            # a model missing from one window is left out of the dataset
            _record("test", "a", "auto_ces", 0.1),
            # a failed window (infinite score) leaves the model out too
            _record("validation3", "a", "seasonal_naive", 0.2), _record("test", "a", "seasonal_naive", math.inf)]
    table = T.pooled_table(_results(recs), ["validation3", "test"], ["a"], "default")
    assert set(table["a"]) == {"auto_ets", "auto_theta", "mqcnn"}
    assert table["a"]["auto_ets"]["mean"]["MASE"] == pytest.approx(2.0)  # sqrt(1 * 4)
    assert table["a"]["auto_theta"]["mean"]["MASE"] == pytest.approx(1.5)
    assert table["a"]["mqcnn"]["mean"]["MASE"] == pytest.approx(math.sqrt(1.0 * 2.0))  # seed mean 1.0, then 2.0
    ratio, best = T.against_best(table, ["a"], "MASE")["a"]
    # the best pooled baseline is Theta (1.5), though ETS was best on validation3 alone
    assert best == "auto_theta" and ratio == pytest.approx(math.sqrt(2.0) / 1.5)


def test_report_pools_the_held_out_windows(tmp_path):
    recs = []
    for split, theta in (("validation3", 2.0), ("validation4", 0.25), ("test", 1.0)):
        recs += [_record(split, "a", "auto_ets", 1.0), _record(split, "a", "auto_theta", theta),
                 _record(split, "a", "mqcnn", 0.9)]
    text = T.report(_results(recs), ["a"], "default", None)
    assert "### The held-out windows pooled (validation3, validation4, test)" in text
    # pooled: ETS 1.0, Theta (2 * 0.25 * 1)^(1/3) = 0.794 (best though worse than ETS on two of
    # the three windows); ours 0.9 / 0.794 = 1.134
    assert "| a | 1.134 (AutoTheta) |" in text
    assert "| geometric mean | **1.134** (0/1) |" in text
    # one held-out window alone is not pooled
    only_test = [r for r in recs if r["split"] == "test"]
    assert "held-out windows pooled" not in T.report(_results(only_test), ["a"], "default", None)



def test_previous_window_is_the_next_cut():
    assert T.previous_window("test") == "validation"
    assert T.previous_window("validation") == "validation2"
    assert T.previous_window("validation4") == "validation5"
    assert T.previous_window("validation5") is None


def test_against_picked_divides_by_the_previous_windows_best_baseline():
    recs = [
        # on the previous window ETS is best, on the window itself Theta
        _record("validation", "a", "auto_ets", 1.0), _record("validation", "a", "auto_theta", 2.0),
        _record("test", "a", "auto_ets", 3.0), _record("test", "a", "auto_theta", 1.0),
        _record("test", "a", "mqcnn", 2.0, seed=0), _record("test", "a", "mqcnn", 1.0, seed=1),
        # a baseline best before but failed on the window is not picked; one missing before neither
        _record("validation", "b", "auto_ets", 0.1), _record("test", "b", "auto_ets", math.inf),
        _record("validation", "b", "auto_theta", 1.0), _record("test", "b", "auto_theta", 2.0),
        _record("test", "b", "auto_ces", 0.5), _record("test", "b", "mqcnn", 1.0),
    ]
    now, before = (T.summarise(_results(recs), s, ["a", "b"], "default")["table"] for s in ("test", "validation"))
    out = T.against_picked(now, before, ["a", "b"], "MASE")
    assert out["a"] == (pytest.approx(1.5 / 3.0), "auto_ets")  # seed mean 1.5 against ETS's 3.0
    assert out["b"] == (pytest.approx(0.5), "auto_theta")
    # nothing to pick from without a previous window's table
    assert T.against_picked(now, {}, ["a", "b"], "MASE") == {}


def test_choice_on_previous_uses_the_seeds_both_tags_have():
    recs = [
        # dataset a: "other" better before (seed 0 only in common) and on the window: chosen, order held
        _record("validation", "a", "mqcnn", 2.0, tag="default", seed=0),
        _record("validation", "a", "mqcnn", 9.0, tag="default", seed=1),  # not in "other": ignored
        _record("validation", "a", "mqcnn", 1.0, tag="other", seed=0),
        _record("test", "a", "mqcnn", 4.0, tag="default", seed=0),
        _record("test", "a", "mqcnn", 2.0, tag="other", seed=0),
        # dataset b: "other" better before, worse on the window: chosen, order did not hold
        _record("validation", "b", "mqcnn", 2.0, tag="default"), _record("validation", "b", "mqcnn", 1.0, tag="other"),
        _record("test", "b", "mqcnn", 1.0, tag="default"), _record("test", "b", "mqcnn", 4.0, tag="other"),
        # dataset c: default better before and on the window: kept, order held
        _record("validation", "c", "mqcnn", 1.0, tag="default"), _record("validation", "c", "mqcnn", 3.0, tag="other"),
        _record("test", "c", "mqcnn", 1.0, tag="default"), _record("test", "c", "mqcnn", 2.0, tag="other"),
    ]
    now, before = ([T.summarise(_results(recs), s, ["a", "b", "c"], tag)["table"] for tag in ("default", "other")]
                   for s in ("test", "validation"))
    g, held, n = T.choice_on_previous(now, before, ["a", "b", "c"], "MASE")
    assert n == 3 and held == 2
    assert g == pytest.approx((0.5 * 4.0 * 1.0) ** (1 / 3))
    # no dataset with both configurations on both windows
    assert T.choice_on_previous(now, [{}, {}], ["a", "b", "c"], "MASE") is None


def test_report_with_picked_and_choice_sections(tmp_path):
    recs = []
    for split, ets, ours, other in (("validation", 1.0, 0.8, 0.9), ("test", 2.0, 1.0, 0.5)):
        recs += [_record(split, "a", "auto_ets", ets), _record(split, "a", "auto_theta", 1.5),
                 _record(split, "a", "mqcnn", ours, tag="default"), _record(split, "a", "mqcnn", other, tag="other")]
    text = T.report(_results(recs), ["a"], "default", None, ("default", "other"))
    # test: ETS was best on validation (1.0 < 1.5), so ours 1.0 / ETS's 2.0
    assert "| test | validation | 0.500 (1/1) |" in text
    # default better on validation (0.8 < 0.9) is kept; "other" was better on test: order not held
    assert "### Choosing `default` or `other` per dataset on the previous window" in text
    assert "| test | validation | 1.000 (0/1) |" in text
    with pytest.raises(SystemExit):
        T.parse_args(["--choose", "default"])
