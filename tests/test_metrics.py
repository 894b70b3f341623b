"""metrics: crossing rate and coverage against hand-made forecasts."""

import numpy as np
import pandas as pd
import pytest

from gluonts.model.forecast import QuantileForecast

from gluonts_iqf.metrics import coverage, crossing_rate

START = pd.Period("2020-01-01", freq="D")


def qf(arrays, keys):
    return QuantileForecast(np.asarray(arrays, dtype=float), start_date=START, forecast_keys=keys)


def test_crossing_rate_counts_crossed_pairs():
    good = qf([[1, 2], [2, 3], [3, 4]], ["0.1", "0.5", "0.9"])
    bad = qf([[1, 2], [0, 3], [3, 1]], ["0.1", "0.5", "0.9"])  # 2 of 4 pairs cross
    levels = [0.1, 0.5, 0.9]
    assert crossing_rate([good], levels) == 0.0
    assert crossing_rate([bad], levels) == 0.5
    assert crossing_rate([good, bad], levels) == 0.25
    with pytest.raises(ValueError, match="strictly increasing"):
        crossing_rate([good], [0.5, 0.1])
    with pytest.raises(ValueError, match="at least one"):
        crossing_rate([], levels)


def test_coverage_ignores_nan():
    f = qf([[1, 1, 1, 1]], ["0.9"])
    assert coverage([f], [np.array([0.0, 2.0, np.nan, 1.0])], 0.9) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="observed"):
        coverage([f], [np.full(4, np.nan)], 0.9)
