"""The batched seasonal naive forecast against statsforecast's
``SeasonalNaive`` (its point forecast and the standard deviation its
Gaussian intervals imply), with padded, short and gappy rows in the batch."""

import numpy as np
import pytest
import torch

from gluonts_iqf.nn.naive import seasonal_naive_forecast

from statistical_helpers import padded, seasonal_series, with_gaps

sf_models = pytest.importorskip("statsforecast.models")

#: The standard normal quantile at 0.9, to read a standard deviation off an 80 % interval.
Z_90 = 1.2815515655446004


def statsforecast_naive(row, H, m):
    """statsforecast's forecast of one series: (mean, std) of each step."""
    fit = sf_models.SeasonalNaive(season_length=m).forecast(y=np.asarray(row, dtype=float), h=H, level=[80])
    return fit["mean"], (fit["hi-80"] - fit["mean"]) / Z_90


@pytest.mark.parametrize("m", [1, 12])
def test_seasonal_naive_equals_statsforecast(m):
    """float64, 1e-10 relative: seasonal and trending rows of several
    lengths, left-padded in one batch; a horizon beyond two seasons (the
    spread grows with the seasons reached back); a row with missing values
    equals its forward-filled series."""
    H = 30
    rows = [seasonal_series(96, 12, 0), seasonal_series(50, 12, 1, amplitude=0.0), seasonal_series(30, 12, 2)]
    gappy, filled = with_gaps(seasonal_series(80, 12, 4), [10, 11, 40])
    y, obs = padded(rows + [gappy], 100)
    mean, std = seasonal_naive_forecast(y, obs, H, m)
    for i, row in enumerate(rows + [filled]):
        want_mean, want_std = statsforecast_naive(row, H, m)
        np.testing.assert_allclose(mean[i].numpy(), want_mean, rtol=1e-10)
        np.testing.assert_allclose(std[i].numpy(), want_std, rtol=1e-10)


def test_short_series_take_the_naive_forecast():
    """A series of at most one season: the last value, spread over one-step
    changes growing with sqrt(h) (statsforecast's ``Naive``)."""
    row = [3.0, 5.0, 4.0, 8.0]
    y, obs = padded([row], 20)
    mean, std = seasonal_naive_forecast(y, obs, 6, 12)
    fit = sf_models.Naive().forecast(y=np.asarray(row), h=6, level=[80])
    np.testing.assert_allclose(mean[0].numpy(), fit["mean"], rtol=1e-12)
    np.testing.assert_allclose(std[0].numpy(), (fit["hi-80"] - fit["mean"]) / Z_90, rtol=1e-10)


def test_degenerate_rows_are_finite():
    """No observation: 0; one observation or a constant series: the value
    with zero spread; float32 and float64."""
    y, obs = padded([[np.nan] * 3, [5.0], [2.0] * 30], 48)
    for dtype in (torch.float32, torch.float64):
        mean, std = seasonal_naive_forecast(y.to(dtype), obs.to(dtype), 6, 12)
        assert mean.dtype == dtype and torch.isfinite(mean).all() and torch.isfinite(std).all()
        assert mean[0].tolist() == [0.0] * 6 and mean[1].tolist() == [5.0] * 6 and mean[2].tolist() == [2.0] * 6
        assert (std == 0).all()
