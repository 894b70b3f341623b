"""Tests for the gluonts_iqf.plot package: its public names, and every
plot's input checks (ValueError before any figure is made)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from gluonts.model.forecast import SampleForecast  # noqa: E402

from gluonts_iqf import plot as P  # noqa: E402


def _bad_calls(data):
    f = data["forecasts"][0]
    H = data["H"]
    y = data["observed"][0]
    mv = SampleForecast(np.zeros((10, H, 2)), start_date=f.start_date)
    weekly = pd.Series(
        np.arange(10.0), index=pd.period_range("2000-01-02", periods=10, freq="W")
    )
    return {
        "level above 1": (lambda: P.fan_chart(f, levels=(0.5, 1.5)), "levels"),
        "level 0": (lambda: P.coverage_curve([f], [y], [0.0, 0.5]), "levels"),
        "level 1": (lambda: P.calibration([f], [y], levels=[0.5, 1.0]), "levels"),
        "empty levels": (lambda: P.fan_chart(f, levels=()), "levels"),
        "fewer targets": (lambda: P.pit_values([f, f], [y]), "aligned"),
        "more targets": (lambda: P.coverage_curve([f], [y, y], [0.5]), "aligned"),
        "target length": (lambda: P.pit_values([f], [y[:-1]]), r"targets\[0\]"),
        "target 2-D": (lambda: P.pit_values([f], [y[None]]), r"targets\[0\]"),
        "no forecasts": (lambda: P.pit_values([], []), "empty"),
        "all NaN": (lambda: P.coverage_curve([f], [np.full(H, np.nan)], [0.5]), "observed"),
        "bins 0": (lambda: P.calibration([f], [y], bins=0), "bins"),
        "observed length": (lambda: P.fan_chart(f, observed=y[:5]), "observed"),
        "history 2-D": (lambda: P.fan_chart(f, history=np.zeros((3, 4))), "history"),
        "history freq": (lambda: P.fan_chart(f, history=weekly), "frequency"),
        "history_length": (lambda: P.fan_chart(f, history=y, history_length=-1), "history_length"),
        "multivariate": (lambda: P.fan_chart(mv), "multivariate"),
        "not a forecast": (lambda: P.fan_chart(np.zeros(H)), "Forecast"),
        "step too large": (lambda: P.quantile_function(f, step=H), "step"),
        "step negative": (lambda: P.quantile_function(f, step=-1), "step"),
        "samples columns": (lambda: P.quantile_function(f, samples=np.zeros((5, 3))), "samples"),
        "samples 3-D": (lambda: P.quantile_function(f, samples=np.zeros((5, 3, 2))), "samples"),
        "corr 1-D": (lambda: P.sample_correlation(np.zeros(5)), "shape"),
        "corr one path": (lambda: P.sample_correlation(np.zeros((1, 5))), "at least 2"),
        "corr NaN": (lambda: P.sample_correlation(np.array([[0.0, np.nan], [1, 2]])), "NaN"),
        "corr 3-D forecast": (lambda: P.correlation_matrix(mv), "shape"),
        "path suffix": (lambda: P.quantile_function(f, path="/tmp/x.jpg"), r"\.png"),
        "path dir": (lambda: P.fan_chart(f, path="/nonexistent-dir-xyz/a.png"), "directory"),
    }


BAD_CASES = [
    "level above 1", "level 0", "level 1", "empty levels", "fewer targets",
    "more targets", "target length", "target 2-D", "no forecasts", "all NaN",
    "bins 0", "observed length", "history 2-D", "history freq",
    "history_length", "multivariate", "not a forecast", "step too large",
    "step negative", "samples columns", "samples 3-D", "corr 1-D",
    "corr one path", "corr NaN", "corr 3-D forecast", "path suffix", "path dir",
]


def test_bad_cases_listed(data):
    assert sorted(BAD_CASES) == sorted(_bad_calls(data))


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input_raises_value_error(data, case):
    call, match = _bad_calls(data)[case]
    with pytest.raises(ValueError, match=match):
        call()
    assert plt.get_fignums() == []  # validation happens before any figure


def test_package_reexports_public_names():
    from gluonts_iqf import metrics
    from gluonts_iqf.plot import calibration_plot, correlation, fan, figure, quantile_plot

    assert all(hasattr(P, name) for name in P.__all__)
    assert P.pit_values is metrics.pit_values
    assert P.coverage_curve is metrics.coverage_curve
    assert P.DPI is figure.DPI
    assert P.fan_chart is fan.fan_chart and P.HistoryLike is fan.HistoryLike
    assert P.quantile_function is quantile_plot.quantile_function
    assert P.QUANTILE_GRID is quantile_plot.QUANTILE_GRID
    assert P.calibration is calibration_plot.calibration
    assert P.correlation_matrix is correlation.correlation_matrix
    assert P.sample_correlation is correlation.sample_correlation
