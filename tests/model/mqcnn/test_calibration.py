"""The statistical members' calibration on a backtest of the training
series: its windows against direct slicing, its standardized errors,
quantiles and losses against numpy, the whole fit against the members'
public forecasts recomputed window by window, the skill weights against
their formula, and the checks of a calibration."""

import math

import numpy as np
import pytest
import torch

from gluonts_iqf.model.mqcnn.calibration import (
    MIN_CALIBRATION_ERRORS,
    backtest_loss,
    backtest_windows,
    check_member_calibration,
    member_backtest,
    skill_weights,
    standard_quantiles,
    standardized_errors,
)
from gluonts_iqf.model.mqcnn.statistical import MIN_CALIBRATION_VALUES
from gluonts_iqf.nn.ces import ces_forecast
from gluonts_iqf.nn.damped import damped_trend_forecast
from gluonts_iqf.nn.theta import theta_forecast

LEVELS = [0.025, 0.1, 0.3, 0.5, 0.7, 0.9, 0.975]


def _series(seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for n in (3, 9, 14, 23, 40):
        y = 20 + np.cumsum(rng.normal(size=n)) + 0.3 * np.arange(n)
        out.append(y)
    out[3][[2, 15, 21]] = np.nan  # missing values, one of them in a future window
    out[4][32:36] = np.nan  # the whole future window of the cut at 32 (H = 4) missing
    return out


def test_backtest_windows_are_the_slices_before_and_after_each_cut():
    """Every cut T - j H (j = 1..4) of every series with at least
    MIN_CALIBRATION_VALUES observed values before it and one after it: the
    C values before the cut left-padded as unobserved zeros, the H after it
    (exact)."""
    C, H = 10, 4
    series = _series()
    past, past_obs, fut, fut_obs = backtest_windows(series, C, H, origins=4)
    want = []
    for y in series:
        for j in range(1, 5):
            cut = len(y) - j * H
            if cut < MIN_CALIBRATION_VALUES:
                break
            before, after = y[max(0, cut - C):cut], y[cut:cut + H]
            if (~np.isnan(before)).sum() < MIN_CALIBRATION_VALUES or np.isnan(after).all():
                continue
            want.append((np.concatenate([np.full(C - len(before), np.nan), before]), after))
    assert past.shape == (len(want), C) and fut.shape == (len(want), H) and past.dtype == torch.float64
    for i, (before, after) in enumerate(want):
        np.testing.assert_array_equal(past_obs[i].numpy(), ~np.isnan(before))
        np.testing.assert_array_equal(past[i].numpy(), np.nan_to_num(before))
        np.testing.assert_array_equal(fut_obs[i].numpy(), ~np.isnan(after))
        np.testing.assert_array_equal(fut[i].numpy(), np.nan_to_num(after))
    # the series of 3 values has no window; the all-missing future window is left out
    assert len(want) == 1 + 2 + 4 + 3


def test_spread_cuts_cover_the_whole_history():
    """With spread=True a series of T values is cut at T - j s, s = (T -
    MIN_CALIBRATION_VALUES - H) // origins (the last values after each cut
    identify it: the series is 0, 1, 2, ...); a series shorter than
    origins + 1 horizons is cut as without it (s = H)."""
    C, H, origins = 6, 3, 4
    long, short = np.arange(105.0), np.arange(14.0)
    step = (105 - MIN_CALIBRATION_VALUES - H) // origins  # 24
    past, past_obs, fut, _ = backtest_windows([long], C, H, origins=origins, spread=True)
    assert fut[:, 0].tolist() == [105.0 - j * step for j in range(1, origins + 1)]
    assert past[:, -1].tolist() == [104.0 - j * step for j in range(1, origins + 1)]
    assert bool(past_obs.all())
    for spread in (False, True):
        got = backtest_windows([short], C, H, origins=origins, spread=spread)[2]
        assert got[:, 0].tolist() == [14.0 - j * H for j in range(1, 4)]  # the 4th cut has 2 values before it


def test_backtest_windows_read_evenly_spaced_series():
    """Of 10 series with max_series 3: every 4th (0, 4, 8) when the number
    of series is known, else the first 3."""
    series = [np.full(30, float(k)) + np.arange(30) for k in range(10)]
    past, *_ = backtest_windows(series, 8, 5, origins=1, max_series=3, num_series=10)
    assert past[:, -1].tolist() == [k + 24.0 for k in (0, 4, 8)]
    past, *_ = backtest_windows(iter(series), 8, 5, origins=1, max_series=3)
    assert past[:, -1].tolist() == [k + 24.0 for k in (0, 1, 2)]
    past, *_ = backtest_windows([np.arange(3.0)], 8, 5)
    assert past.shape == (0, 8)


def test_standardized_errors_and_their_quantiles():
    """(y - mean) / std of the observed values, forecasts without spread
    left out; quantiles as numpy's linear ones (1e-12), ties made strictly
    increasing, None with too few errors."""
    mean = torch.tensor([[1.0, 2.0], [5.0, 5.0]], dtype=torch.float64)
    std = torch.tensor([[2.0, 0.5], [0.0, 1.0]], dtype=torch.float64)
    y = torch.tensor([[3.0, 1.0], [9.0, 4.0]], dtype=torch.float64)
    obs = torch.tensor([[1.0, 1.0], [1.0, 0.0]], dtype=torch.float64)
    assert standardized_errors(mean, std, y, obs).tolist() == [1.0, -2.0]
    e = torch.from_numpy(np.random.default_rng(0).standard_t(4, size=5000))
    np.testing.assert_allclose(standard_quantiles(e, LEVELS), np.quantile(e.numpy(), LEVELS), rtol=1e-12)
    ties = standard_quantiles(torch.zeros(MIN_CALIBRATION_ERRORS, dtype=torch.float64), LEVELS)
    assert all(b > a for a, b in zip(ties, ties[1:])) and abs(ties[-1]) < 1e-300
    assert standard_quantiles(e[: MIN_CALIBRATION_ERRORS - 1], LEVELS) is None


def test_fit_is_the_members_own_forecasts_recomputed_window_by_window():
    """Each member's calibration equals numpy's quantiles of the
    standardized errors of its public forecast function (theta_forecast,
    damped_trend_forecast, ces_forecast), called on each backtest window
    alone, and its loss numpy's pinball loss of those forecasts with the
    calibrated quantiles (1e-9); an inactive member has none."""
    rng = np.random.default_rng(1)
    C, H, season = 16, 3, 4
    series = [50 + np.cumsum(rng.normal(size=n)) + 3 * np.sin(np.arange(n) * 2 * np.pi / 4)
              for n in rng.integers(12, 60, size=30)]
    fit = member_backtest(series, C, H, season, LEVELS, [True, True, True])
    table = fit.calibration
    past, past_obs, fut, fut_obs = backtest_windows(series, C, H)
    for z, forecast in zip(table, (theta_forecast, damped_trend_forecast, ces_forecast)):
        errors = []
        for i in range(past.shape[0]):
            mean, std = forecast(past[i:i + 1], past_obs[i:i + 1], H, season)
            ok = fut_obs[i] > 0
            errors.append(((fut[i] - mean[0]) / std[0])[ok].numpy())
        np.testing.assert_allclose(z, np.quantile(np.concatenate(errors), LEVELS), rtol=1e-9, atol=1e-9)
    for z, loss, forecast in zip(table, fit.loss, (theta_forecast, damped_trend_forecast, ces_forecast)):
        total = volume = 0.0
        for i in range(past.shape[0]):
            mean, std = (a[0].numpy() for a in forecast(past[i:i + 1], past_obs[i:i + 1], H, season))
            ok = fut_obs[i].numpy() > 0
            y = fut[i].numpy()[ok]
            q = mean[ok, None] + std[ok, None] * np.asarray(z)
            tau = np.asarray(LEVELS)
            total += np.mean(np.maximum(tau * (y[:, None] - q), (tau - 1) * (y[:, None] - q)), axis=1).sum()
            volume += np.abs(y).sum()
        assert loss == pytest.approx(total / volume, rel=1e-9)
    partial = member_backtest(series, C, H, season, LEVELS, [False, True, False]).calibration
    assert partial[0] is None and partial[2] is None and partial[1] == pytest.approx(table[1], rel=1e-12)
    assert member_backtest(series[:1], C, H, season, LEVELS, [True, True, True]).calibration is None  # too few errors


def test_backtest_loss_is_the_pinball_loss_of_the_observed_values():
    """The summed pinball loss of mean + std z at each level, averaged over
    levels, of the observed values, and their summed magnitude (numpy,
    1e-12); unobserved values and forecasts that are not finite are left
    out; a member without a calibration is scored with the normal's
    quantiles."""
    rng = np.random.default_rng(3)
    mean = torch.from_numpy(rng.normal(size=(5, 4)))
    std = torch.from_numpy(rng.uniform(0.5, 2.0, size=(5, 4)))
    y = torch.from_numpy(rng.normal(size=(5, 4)) * 2)
    obs = torch.from_numpy((rng.uniform(size=(5, 4)) > 0.2).astype(float))
    mean[4, 1] = math.nan
    z = [-1.5, -0.2, 0.1, 1.3, 2.0, 2.2, 3.0]
    total, volume = backtest_loss(mean, std, z, LEVELS, y, obs)
    keep = (obs.numpy() > 0) & np.isfinite(mean.numpy())
    e = y.numpy()[keep][:, None] - (mean.numpy()[keep][:, None] + std.numpy()[keep][:, None] * np.asarray(z))
    tau = np.asarray(LEVELS)
    assert total == pytest.approx(np.maximum(tau * e, (tau - 1) * e).mean(1).sum(), rel=1e-12)
    assert volume == pytest.approx(np.abs(y.numpy()[keep]).sum(), rel=1e-12)
    # too few errors for a calibration: the loss with the normal's quantiles
    short = [20 + np.arange(12.0)]
    fit = member_backtest(short, 8, 3, 1, LEVELS, [True, False, False], origins=1)
    assert fit.calibration is None and fit.loss[1:] == [None, None]
    past, past_obs, fut, fut_obs = backtest_windows(short, 8, 3, origins=1)
    mean, std = theta_forecast(past, past_obs, 3, 1)
    total, volume = backtest_loss(mean, std, torch.special.ndtri(torch.tensor(LEVELS, dtype=torch.float64)).tolist(),
                                  LEVELS, fut, fut_obs)
    assert fit.loss[0] == pytest.approx(total / volume, rel=1e-12)


def test_skill_weights():
    """w_k loss_k^-p rescaled to the priors' total (exact formula, 1e-12):
    equal losses or power 0 keep the priors; a member with weight 0 stays
    at 0; a weighted member without a positive, finite loss keeps the
    priors; a huge power puts the whole weight on the best member with no
    overflow."""
    priors = [0.2, 0.1, 0.3]
    losses = [0.1, 0.2, 0.05]
    got = skill_weights(priors, losses, 2.0)
    raw = np.asarray(priors) * np.asarray(losses) ** -2.0
    np.testing.assert_allclose(got, 0.6 * raw / raw.sum(), rtol=1e-12)
    assert skill_weights(priors, [0.3, 0.3, 0.3], 8.0) == pytest.approx(priors, rel=1e-12)
    assert skill_weights(priors, losses, 0.0) == priors
    # power 1: 0.2 / 0.1 and 0.3 / 0.2, rescaled to 0.5
    assert skill_weights([0.2, 0.0, 0.3], [0.1, None, 0.2], 1.0) == pytest.approx([0.5 * 2 / 3.5, 0.0, 0.5 * 1.5 / 3.5],
                                                                               rel=1e-12)
    for bad in (None, 0.0, math.inf, math.nan):
        assert skill_weights(priors, [0.1, bad, 0.05], 8.0) == priors
    assert skill_weights(priors, [1e-3, 1e-2, 2e-3], 1e4) == pytest.approx([0.6, 0.0, 0.0], abs=1e-12)
    assert skill_weights([0.0, 0.0, 0.0], [None, None, None], 8.0) == [0.0, 0.0, 0.0]
    for bad in (-1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="power"):
            skill_weights(priors, losses, bad)
    with pytest.raises(ValueError, match="one loss per weight"):
        skill_weights(priors, losses[:2], 8.0)


def test_growth_the_members_do_not_extrapolate_moves_their_median_up():
    """Series growing 4 % a step: Theta (half the fitted drift) and the
    damped trend forecast too little growth, so the median of their
    standardized errors on the backtest is positive (here above 0.3)."""
    rng = np.random.default_rng(2)
    series = [100 * 1.04 ** np.arange(40) * np.exp(rng.normal(scale=0.02, size=40)) for _ in range(40)]
    theta, damped, _ = member_backtest(series, 20, 6, 1, [0.1, 0.5, 0.9], [True, True, False]).calibration
    assert theta[1] > 0.3 and damped[1] > 0.3


def test_calibration_checks():
    """One entry per member (or per the first three, as saved before the
    seasonal naive member), each None or len(knot_levels) finite, strictly
    increasing values; the error names the member."""
    check_member_calibration(None, LEVELS)
    check_member_calibration([None, list(range(7)), None, None], LEVELS)
    check_member_calibration([None, list(range(7)), None], LEVELS)
    for wrong in ([], [None] * 5):
        with pytest.raises(ValueError, match="one entry per member"):
            check_member_calibration(wrong, LEVELS)
    with pytest.raises(ValueError, match="'naive'"):
        check_member_calibration([None, None, None, [0, 1, 2]], LEVELS)
    for bad in ([0, 1, 2], [0, 1, 1, 2, 3, 4, 5], [0, 1, 2, 3, 4, 5, math.nan]):
        with pytest.raises(ValueError, match="'damped'"):
            check_member_calibration([None, bad, None], LEVELS)
