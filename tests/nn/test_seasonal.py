"""Seasonal adjustment against statsmodels' ``acf`` and
``seasonal_decompose`` (independent oracles), padded and batched."""

import numpy as np
import pytest
import torch

from gluonts_iqf.nn.seasonal import (
    autocorrelation,
    fill_forward,
    horizon_indices,
    is_seasonal,
    seasonal_indices,
)

from statistical_helpers import padded, seasonal_series

sm_stattools = pytest.importorskip("statsmodels.tsa.stattools")
sm_seasonal = pytest.importorskip("statsmodels.tsa.seasonal")


def test_fill_forward_carries_the_last_observation():
    y, obs = padded([[np.nan, 2.0, np.nan, np.nan, 5.0], [1.0, 2.0, 3.0]], 6)
    filled, started = fill_forward(y, obs)
    assert filled[0].tolist() == [0, 0, 2, 2, 2, 5] and started[0].tolist() == [False, False, True, True, True, True]
    assert filled[1].tolist() == [0, 0, 0, 1, 2, 3] and started[1].sum() == 3


def test_autocorrelation_equals_statsmodels_acf():
    """float64, 1e-12: a padded row gives the acf of its values alone."""
    rows = [seasonal_series(60, 12, 0), seasonal_series(37, 12, 1)]
    y, obs = padded(rows, 70)
    r = autocorrelation(y, obs > 0, 12)
    for i, row in enumerate(rows):
        want = sm_stattools.acf(row, nlags=12, fft=False, adjusted=False)[1:]
        np.testing.assert_allclose(r[i].numpy(), want, rtol=1e-12, atol=1e-12)


def test_seasonality_test():
    m = 12
    rows = [
        seasonal_series(72, m, 0),  # seasonal
        100 + np.random.default_rng(1).standard_normal(72),  # white noise
        seasonal_series(20, m, 2),  # fewer than 2 seasons
        seasonal_series(72, m, 3) - 200,  # not positive: no multiplicative decomposition
    ]
    y, obs = padded(rows, 80)
    assert is_seasonal(y, obs > 0, m).tolist() == [True, False, False, False]


@pytest.mark.parametrize("m", [4, 7, 12])
@pytest.mark.parametrize("model", ["multiplicative", "additive"])
def test_seasonal_indices_equal_a_classical_decomposition(m, model):
    """float64, 1e-10: statsmodels' ``seasonal_decompose`` (the 2 x m moving
    average for even m), multiplicative and additive, row by row, padded and
    batched; phase j holds positions C - 1 - j, C - 1 - j - m, ..."""
    rows = [seasonal_series(5 * m + 3, m, 0), seasonal_series(3 * m, m, 1, amplitude=0.5)]
    C = 6 * m
    y, obs = padded(rows, C)
    idx = seasonal_indices(y, obs > 0, m, additive=model == "additive").numpy()
    for i, row in enumerate(rows):
        want = sm_seasonal.seasonal_decompose(row, model=model, period=m).seasonal
        n = len(row)
        pos = C - n + np.arange(n)  # positions in the padded window
        np.testing.assert_allclose(idx[i, (C - 1 - pos) % m], want, rtol=1e-10, atol=1e-10 * np.abs(row).max())


def test_horizon_indices_repeat_the_last_season():
    index = torch.tensor([[1.0, 2.0, 3.0, 4.0]])  # phases 0..3 counted back from the last position
    # step h is one season after position C - 1 + h - 4, whose phase is 4 - h
    assert horizon_indices(index, 6).tolist() == [[4.0, 3.0, 2.0, 1.0, 4.0, 3.0]]


@pytest.mark.parametrize("ends", [[0], [13], [5, -1], [2.5]])
def test_every_backtest_rejects_origins_outside_the_window(ends):
    """Each member's backtest names the bad origins (positions 1..C)."""
    from gluonts_iqf.nn.ces import ces_backtested
    from gluonts_iqf.nn.damped import damped_backtested
    from gluonts_iqf.nn.naive import seasonal_naive_backtested
    from gluonts_iqf.nn.seasonal import seasonally_adjusted
    from gluonts_iqf.nn.theta import theta_backtested

    y, obs = padded([seasonal_series(12, 4, 0)], 12)
    adjusted = seasonally_adjusted(y, obs, 4)
    calls = [lambda: theta_backtested(adjusted, 3, ends), lambda: damped_backtested(adjusted, 3, ends),
             lambda: ces_backtested(y, obs, 3, ends, 4), lambda: seasonal_naive_backtested(y, obs, 3, ends, 4)]
    for call in calls:
        with pytest.raises(ValueError, match=r"positions in 1\.\.12"):
            call()
    np.testing.assert_equal(theta_backtested(adjusted, 3, [np.int64(6)])[2].shape, (1, 1, 3))
