"""benchmarks/accuracy_blend.py: the level-wise blend, the quantiles read
off forecasts, and the ratios (pure functions)."""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import accuracy_blend as A  # noqa: E402


def test_blend_is_the_weighted_level_mean_and_checks_its_inputs():
    ours = np.array([[[1.0, 2.0], [3.0, 4.0]]])
    other = np.array([[[5.0, 6.0], [7.0, 8.0]]])
    np.testing.assert_allclose(A.blend(ours, other, 0.25), 0.75 * ours + 0.25 * other, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(A.blend(ours, other, 0.0), ours)
    with pytest.raises(ValueError, match="weight"):
        A.blend(ours, other, 1.5)
    with pytest.raises(ValueError, match="shape"):
        A.blend(ours, other[:, :1], 0.5)


def test_forecast_quantiles_read_every_grid_level():
    """QuantileForecasts built by the benchmark's own helper give back their
    arrays exactly (n, len(GRID), H)."""
    rng = np.random.default_rng(0)
    q = np.sort(rng.normal(size=(2, len(A.GRID), 3)), axis=1)
    inputs = [{"start": pd.Period("2020-01", freq="M"), "target": np.arange(5.0)} for _ in range(2)]
    np.testing.assert_array_equal(A.forecast_quantiles(A.quantile_forecasts(q, inputs)), q)


def test_geomean_ratios():
    rows = [{"ours": {m: 2.0 for m in A.METRICS}, "x": {m: 1.0 for m in A.METRICS}},
            {"ours": {m: 1.0 for m in A.METRICS}, "x": {m: 2.0 for m in A.METRICS}}]
    assert A.geomean_ratios(rows, "x")["MASE"] == pytest.approx(1.0, rel=1e-12)
