"""The AR(1) forecast-error correlation (the reference of the ar1_daily
correlation check): the closed form, and a Monte Carlo oracle of the
correlation of the future given the past."""

import numpy as np
import pytest

from gluonts_iqf.model.mqf2.synthetic import ar1_forecast_correlation


@pytest.mark.parametrize("rho, H", [(0.8, 12), (0.5, 5), (-0.6, 4), (0.0, 3), (0.95, 1)])
def test_closed_form(rho, H):
    """corr(e_h, e_k) = rho^(k-h) sqrt((1 - rho^(2h)) / (1 - rho^(2k))),
    h <= k (1-based steps), to 1e-12."""
    got = ar1_forecast_correlation(rho, H)
    h = np.arange(1, H + 1)
    lo, hi = np.minimum.outer(h, h), np.maximum.outer(h, h)
    want = rho ** (hi - lo) * np.sqrt((1 - rho ** (2 * lo)) / (1 - rho ** (2 * hi)))
    np.testing.assert_allclose(got, want, atol=1e-12)
    assert got.shape == (H, H)
    np.testing.assert_allclose(np.diag(got), 1.0)


def test_matches_simulated_conditional_correlation():
    """Oracle: 200,000 AR(1) paths (rho 0.8) from one fixed last value; the
    sample correlation of the 6 next values is the function's within 0.01
    (the standard error of a correlation from 2e5 draws is below 0.003)."""
    rho, H, n = 0.8, 6, 200_000
    rng = np.random.default_rng(0)
    x = np.full(n, 1.7)  # the observed last value: the correlation does not depend on it
    paths = np.empty((n, H))
    for h in range(H):
        x = rho * x + rng.standard_normal(n)
        paths[:, h] = x
    np.testing.assert_allclose(np.corrcoef(paths.T), ar1_forecast_correlation(rho, H), atol=0.01)


def test_below_the_stationary_correlation():
    """Given the past, the near steps are less correlated than the
    stationary rho^|h-k|; far steps approach it."""
    rho, H = 0.8, 12
    c = ar1_forecast_correlation(rho, H)
    stationary = rho ** np.abs(np.subtract.outer(np.arange(H), np.arange(H)))
    off = ~np.eye(H, dtype=bool)
    assert (c[off] < stationary[off]).all()
    assert abs(c[H - 2, H - 1] - rho) < 0.01


@pytest.mark.parametrize("rho, H", [(1.0, 3), (-1.0, 3), (0.5, 0)])
def test_bad_arguments(rho, H):
    with pytest.raises(ValueError):
        ar1_forecast_correlation(rho, H)


def test_ar1_daily_entries():
    """Shapes, the training part a prefix of the test entry, a fixed seed
    repeats, levels scale the profile (mean over whole days ~ the level),
    and the scaled noise has the AR(1) lag-1 autocorrelation (within 0.05
    over 30 series x 28 days)."""
    from gluonts_iqf.model.mqf2.synthetic import ar1_daily, daily_profile

    train, test = ar1_daily(seed=0, num_series=30, num_days=28, horizon=12, rho=0.8)
    again, _ = ar1_daily(seed=0, num_series=30, num_days=28, horizon=12, rho=0.8)
    assert len(train) == len(test) == 30
    lag1 = []
    for tr, te, ag in zip(train, test, again):
        assert tr["target"].dtype == np.float32 and tr["target"].shape == (24 * 28,)
        assert te["target"].shape == (24 * 28 + 12,)
        np.testing.assert_array_equal(te["target"][:-12], tr["target"])
        np.testing.assert_array_equal(ag["target"], tr["target"])
        assert te["start"].freqstr == "h"
        hours = te["start"].hour + np.arange(len(tr["target"]))
        level = tr["target"].mean() / daily_profile(hours).mean()
        x = (tr["target"] / level - daily_profile(hours)) / 0.1
        lag1.append(np.corrcoef(x[:-1], x[1:])[0, 1])
    assert abs(np.mean(lag1) - 0.8) < 0.05


@pytest.mark.parametrize("kwargs", [dict(num_series=0), dict(horizon=0), dict(rho=1.0)])
def test_ar1_daily_bad_arguments(kwargs):
    from gluonts_iqf.model.mqf2.synthetic import ar1_daily

    with pytest.raises(ValueError):
        ar1_daily(seed=0, **{"num_series": 2, **kwargs})
