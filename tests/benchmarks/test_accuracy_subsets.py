"""benchmarks/accuracy_subsets.py: seed means and ratios to the default
from records (pure functions, no data read)."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import accuracy_subsets as S  # noqa: E402


def _record(dataset, tag, seed, value, model="mqcnn"):
    return {"dataset": dataset, "tag": tag, "seed": seed, "model": model,
            "metrics": {m: value for m in S.METRICS}}


def test_ratios_are_seed_means_over_the_defaults(tmp_path):
    recs = [_record("a", "default", 0, 1.0), _record("a", "default", 1, 3.0),   # mean 2
            _record("a", "x", 0, 1.0), _record("a", "x", 1, 2.0),               # mean 1.5
            _record("b", "default", 0, 4.0), _record("b", "x", 0, 5.0),
            _record("c", "x", 0, 1.0),                                          # no default: left out
            _record("a", "default", None, 100.0, model="auto_ets")]             # a baseline: ignored
    path = tmp_path / "accuracy_small_n8.json"
    path.write_text(json.dumps({"records": {str(i): r for i, r in enumerate(recs)}}))
    means = S.seed_means(path)
    assert means[("a", "default")]["MASE"] == pytest.approx(2.0)
    r = S.ratios(means, "x")
    assert set(r) == {"a", "b"}
    assert r["a"]["mean_wQuantileLoss"] == pytest.approx(0.75) and r["b"]["sMAPE"] == pytest.approx(1.25)
    assert S.geomean([r["a"]["MASE"], r["b"]["MASE"]]) == pytest.approx((0.75 * 1.25) ** 0.5, rel=1e-12)
