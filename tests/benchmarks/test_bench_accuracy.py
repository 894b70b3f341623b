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
