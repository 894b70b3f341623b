"""benchmarks/accuracy_bootstrap.py: the bootstrap over each dataset's
series, checked against the benchmark's own scoring (GluonTS's Evaluator) of
the resampled series and on hand-made records whose answers are worked out
here."""

import sys
from pathlib import Path

import numpy as np
import pytest

from gluonts_iqf.baselines import GRID

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import _accuracy_scoring as S  # noqa: E402
import accuracy_bootstrap as A  # noqa: E402


def _scored_set(n: int, seed: int):
    """n monthly series, their truths and Gaussian quantile forecasts."""
    import pandas as pd
    from gluonts.model.forecast import QuantileForecast
    from scipy.stats import norm

    rng = np.random.default_rng(seed)
    start = pd.Period("2000-01", freq="M")
    inputs, truth, forecasts = [], [], []
    z = norm.ppf(np.asarray(GRID))[:, None]
    for _ in range(n):
        level = 10.0 ** rng.uniform(0, 3)
        inputs.append({"target": level * (1 + 0.2 * rng.standard_normal(24)), "start": start})
        truth.append(level * (1 + 0.3 * rng.standard_normal(6)))
        forecasts.append(QuantileForecast(level * (1 + 0.2 * z) * np.ones((1, 6)), start_date=start + 24,
                                          forecast_keys=[str(q) for q in GRID]))
    return inputs, truth, forecasts


def test_draw_counts_first_row_is_the_series_as_they_are_and_draws_repeat_with_the_seed():
    c = A.draw_counts(5, 50, np.random.default_rng(3))
    assert c.shape == (51, 5)
    np.testing.assert_array_equal(c[0], np.ones(5))
    np.testing.assert_array_equal(c.sum(axis=1), np.full(51, 5.0))
    np.testing.assert_array_equal(c, A.draw_counts(5, 50, np.random.default_rng(3)))


def test_metrics_of_a_draw_equal_the_benchmarks_score_of_the_resampled_series():
    """Oracle: bench_accuracy.score (GluonTS's Evaluator) on the series
    drawn, repeats included; the parts' 9 significant digits bound the
    tolerance (relative 1e-8)."""
    inputs, truth, forecasts = _scored_set(6, 0)
    parts = A.parts_arrays(S.score(forecasts, inputs, truth, "M", parts=True)["series"])
    idx = np.array([4, 0, 0, 5, 2, 4])
    counts = np.bincount(idx, minlength=6)[None, :].astype(float)
    got = A.metrics_of(parts, counts)
    expected = S.score([forecasts[i] for i in idx], [inputs[i] for i in idx], [truth[i] for i in idx], "M")
    for key in A.METRICS:
        assert got[key].shape == (1,)
        assert got[key][0] == pytest.approx(expected[key], rel=1e-8), key


def _record(dataset, model, seed, ql, ab, mase, smape, hits, observed, tag="default"):
    return {"split": "test", "dataset": dataset, "model": model, "tag": tag, "seed": seed,
            "series": {"ql": ql, "abs": ab, "mase": mase, "smape": smape, "hits": hits, "observed": observed}}


def _hits(n_series, share):
    """Hits at every GRID level for series of 10 observed values, a share
    ``share`` of them at or below every quantile (coverage error
    mean |share - level| over GRID)."""
    return [[int(round(10 * share))] * len(GRID)] * n_series


def test_bootstrap_on_hand_made_records():
    """Two datasets of two series. On d1 MQ-CNN-IQF (two seeds) has wQL
    (1 + 3) / (10 + 10) = 0.2 with seed 0 and 0.3 with seed 1, mean 0.25; the
    seasonal naive baseline 0.5, AutoETS 0.4 (best): ratio 0.625. On d2 ours
    0.6, the only baseline 0.3: ratio 2. Geometric mean sqrt(1.25). MASE: d1
    ours 1 (the undefined series left out) against 2 and 4: 0.5. A record of
    another tag is ignored."""
    recs = {
        "a": _record("d1", "mqcnn", 0, [1.0, 3.0], [10.0, 10.0], [1.0, float("inf")], [0.1, 0.3],
                     _hits(2, 0.5), [10, 10], tag="t"),
        "b": _record("d1", "mqcnn", 1, [2.0, 4.0], [10.0, 10.0], [1.0, float("inf")], [0.1, 0.3],
                     _hits(2, 0.5), [10, 10], tag="t"),
        "c": _record("d1", "seasonal_naive", None, [5.0, 5.0], [10.0, 10.0], [2.0, 2.0], [0.2, 0.2],
                     _hits(2, 0.5), [10, 10]),
        "d": _record("d1", "auto_ets", None, [4.0, 4.0], [10.0, 10.0], [4.0, 4.0], [0.4, 0.4],
                     _hits(2, 0.5), [10, 10]),
        "e": _record("d2", "mqcnn", 0, [6.0, 6.0], [10.0, 10.0], [1.0, 1.0], [0.2, 0.2],
                     _hits(2, 0.5), [10, 10], tag="t"),
        "f": _record("d2", "auto_ets", None, [3.0, 3.0], [10.0, 10.0], [2.0, 2.0], [0.2, 0.2],
                     _hits(2, 0.5), [10, 10]),
        "g": _record("d2", "mqcnn", 0, [0.0, 0.0], [10.0, 10.0], [1.0, 1.0], [0.2, 0.2],
                     _hits(2, 0.5), [10, 10], tag="other"),
    }
    boot = A.bootstrap({"records": recs}, "test", "t", ["d1", "d2", "d3"], draws=200, seed=0)
    assert boot["datasets"] == ["d1", "d2"]
    assert boot["per_dataset"]["d1"]["mean_wQuantileLoss"][0] == pytest.approx(0.625)
    assert boot["best"]["d1"]["mean_wQuantileLoss"] == "auto_ets"
    assert boot["per_dataset"]["d2"]["mean_wQuantileLoss"][0] == pytest.approx(2.0)
    assert boot["geomean"]["mean_wQuantileLoss"][0] == pytest.approx(np.sqrt(1.25))
    assert boot["per_dataset"]["d1"]["MASE"][0] == pytest.approx(0.5)
    assert boot["best"]["d1"]["MASE"] == "seasonal_naive"
    # d2's series are identical: every draw gives the same ratio; d2 is above 1 in every draw
    np.testing.assert_allclose(boot["per_dataset"]["d2"]["mean_wQuantileLoss"], 2.0)
    assert not boot["every"]["mean_wQuantileLoss"].any()
    # equal coverage everywhere: ratio 1, at most 1 in every draw of both datasets
    np.testing.assert_allclose(boot["geomean"]["coverage_error"], 1.0)
    assert boot["every"]["coverage_error"].all()
    # d1's draws: ours 0.1-0.2 (seed 0) and 0.2-0.4 (seed 1) per series; the
    # ratio lies between the extreme draws (both series the small or the large one)
    d1 = boot["per_dataset"]["d1"]["mean_wQuantileLoss"]
    assert d1.min() >= (0.15 / 0.4) - 1e-12 and d1.max() <= (0.35 / 0.4) + 1e-12
    text = A.report({"test": boot, "validation": boot}, "t", 200, 0, "records.json")
    assert text.startswith(A.HEADING) and "--split test,validation" in text
    assert text.index("**test windows**") < text.index("**validation windows**")
    assert text.count("| d1 | 0.625 [") == 2 and "| geometric mean | **1.118** [" in text


def test_bootstrap_names_what_is_missing():
    with pytest.raises(ValueError, match="kept with their series"):
        A.bootstrap({"records": {}}, "test", "t", ["d1"], draws=10, seed=0)
    recs = {
        "a": _record("d1", "mqcnn", 0, [1.0, 3.0], [10.0, 10.0], [1.0, 1.0], [0.1, 0.3], _hits(2, 0.5), [10, 10]),
        "b": _record("d1", "auto_ets", None, [1.0], [10.0], [1.0], [0.1], _hits(1, 0.5), [10]),
    }
    with pytest.raises(ValueError, match="different numbers of series"):
        A.bootstrap({"records": recs}, "test", "default", ["d1"], draws=10, seed=0)


def test_draws_must_be_positive_and_windows_known():
    with pytest.raises(SystemExit):
        A.parse_args(["--results", "x.json", "--draws", "0"])
    with pytest.raises(SystemExit):
        A.parse_args(["--results", "x.json", "--split", "validation,tset"])
    assert A.parse_args(["--results", "x.json", "--split", "validation,test"]).split == ["validation", "test"]
