"""Per-series member weights from each window's recent errors: the errors
against an explicit loop over series and cuts (numpy's means), the members'
backtests against their forecasts of each prefix, the weights against
hand-worked values, and the per-series mix against one fixed-weight mix per
series."""

import math

import numpy as np
import pytest
import torch

from gluonts_iqf import IQF
from gluonts_iqf.model.mqcnn.recent import MIN_RECENT_VALUES, recent_ends, recent_errors, recent_weights
from gluonts_iqf.model.mqcnn.statistical import MEMBERS, mix_statistical, statistical_forecasts

H, C, SEASON = 4, 30, 4
LEVELS = (0.05, 0.25, 0.5, 0.75, 0.95)


def windows():
    """float64 (B, C) windows: long seasonal, short (10 values: one cut),
    too short for any cut (4 values), with missing values, constant."""
    rng = np.random.default_rng(0)
    t = np.arange(C)
    rows = [50 + 5 * np.sin(2 * np.pi * t / SEASON) + rng.normal(0, 1, C),
            20 + 0.5 * t + rng.normal(0, 1, C), np.full(C, np.nan), 10 + rng.normal(0, 1, C), np.full(C, 7.0)]
    rows[1][:-10] = np.nan
    rows[2][-4:] = [3.0, 4.0, 3.5, 5.0]
    rows[3][[5, 6, 22, 27]] = np.nan
    y = torch.tensor(np.nan_to_num(np.stack(rows)))
    observed = torch.tensor(~np.isnan(np.stack(rows)), dtype=torch.float64)
    return y, observed


def backtests(y, observed, ends, active):
    """The active members' backtests at ``ends``, (M, J, B, H)."""
    forecasts, _ = statistical_forecasts(y, observed, H, SEASON, active, ends)
    return torch.stack([f[2] for f in forecasts if f is not None])


def test_recent_ends_stop_at_the_window_start():
    """The starts of the last ``cuts`` horizons, latest first, each with
    MIN_RECENT_VALUES positions before it."""
    assert recent_ends(C, H, 3) == [C - H, C - 2 * H, C - 3 * H]
    assert recent_ends(MIN_RECENT_VALUES + 2 * H, H, 5) == [MIN_RECENT_VALUES + H, MIN_RECENT_VALUES]
    assert recent_ends(MIN_RECENT_VALUES + H - 1, H, 2) == []
    assert recent_ends(C, H, 0) == []


def test_recent_errors_equal_a_loop_over_series_and_cuts():
    """float64, 1e-12: each member's mean absolute error over the observed
    values of the horizons starting at the cuts; NaN where no cut has
    MIN_RECENT_VALUES observed values before it."""
    y, observed = windows()
    ends = recent_ends(C, H, 3)
    origins = torch.randn(2, len(ends), y.shape[0], H, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    got = recent_errors(y, observed, ends, origins)
    assert got.shape == (2, y.shape[0])
    for b in range(y.shape[0]):
        for k in range(2):
            errors = []
            for j, end in enumerate(ends):
                if observed[b, :end].sum() < MIN_RECENT_VALUES:
                    continue
                seen = observed[b, end : end + H].numpy() > 0
                errors += list(np.abs(y[b, end : end + H].numpy() - origins[k, j, b].numpy())[seen])
            if errors:
                assert float(got[k, b]) == pytest.approx(np.mean(errors), rel=1e-12, abs=1e-12)
            else:
                assert math.isnan(float(got[k, b]))
    assert math.isnan(float(got[0, 2])) and not math.isnan(float(got[0, 1]))  # 4 values: no cut; 10: one


def test_statistical_backtests_are_the_members_forecasts_of_each_prefix():
    """float64, 1e-10, season 1 (no seasonal indices, whose whole-window
    estimate is the backtests' one difference from a fit of the prefix for
    Theta and the damped trend; CES's is tested in tests/nn/test_ces.py):
    the backtest from a cut is the member's forecast of the values before
    it, for every series the cut scores (MIN_RECENT_VALUES values before
    it)."""
    y, observed = windows()
    ends = recent_ends(C, H, 3)
    active = [True, True, False, True]
    forecasts, _ = statistical_forecasts(y, observed, H, 1, active, ends)
    for j, end in enumerate(ends):
        rows = (observed[:, :end].sum(-1) >= MIN_RECENT_VALUES).nonzero().squeeze(-1)
        assert len(rows) >= 3
        alone, _ = statistical_forecasts(y[rows, :end], observed[rows, :end], H, 1, active)
        for f, g in zip(forecasts, alone):
            if f is not None:
                torch.testing.assert_close(f[2][j, rows], g[0], rtol=1e-10, atol=1e-10)


def test_recent_weights_by_hand():
    """w_k e_k^-p rescaled to the weights' total: (0.2, 0.4) with errors
    (1, 2) and p = 1 give (0.3, 0.3); p = 2: 0.6 (1/5, 4/5)... for the
    first column; a series with a zero or missing error keeps the priors;
    p = 0 keeps them; a huge power stays finite and picks the best."""
    errors = torch.tensor([[1.0, 0.0, math.nan, 3.0], [2.0, 1.0, 1.0, 1.0]], dtype=torch.float64)
    w = recent_weights([0.2, 0.4], errors, 1.0)
    torch.testing.assert_close(w[:, 0], torch.tensor([0.3, 0.3], dtype=torch.float64))
    torch.testing.assert_close(w[:, 1:3], torch.tensor([[0.2, 0.2], [0.4, 0.4]], dtype=torch.float64))
    torch.testing.assert_close(w[:, 3], torch.tensor([0.6 * (0.2 / 3) / (0.2 / 3 + 0.4), 0.6 * 0.4 / (0.2 / 3 + 0.4)],
                                                     dtype=torch.float64))
    two = recent_weights([0.2, 0.4], errors, 2.0)[:, 0]
    torch.testing.assert_close(two, torch.tensor([0.6 * 0.2 / 0.3, 0.6 * 0.1 / 0.3], dtype=torch.float64))
    torch.testing.assert_close(recent_weights([0.2, 0.4], errors, 0.0)[:, 0], torch.tensor([0.2, 0.4], dtype=torch.float64))
    huge = recent_weights([0.2, 0.4], errors, 1e6)
    assert torch.isfinite(huge).all()
    torch.testing.assert_close(huge[:, 0], torch.tensor([0.6, 0.0], dtype=torch.float64))


def network(B):
    """A plain IQF per series and step, in scaled units (loc, scale)."""
    torch.manual_seed(1)
    kv = torch.sort(torch.randn(B, H, len(LEVELS), dtype=torch.float64), -1).values
    beta = torch.rand(B, H, dtype=torch.float64) + 0.5
    return (kv, beta, beta.clone()), torch.full((B, 1), 30.0, dtype=torch.float64), torch.full((B, 1), 5.0,
                                                                                           dtype=torch.float64)


@pytest.mark.parametrize("combination", ["fixed", "inverse_variance"])
def test_the_per_series_mix_is_each_series_mixed_with_its_own_weights(combination):
    """float64, 1e-10: with ``recent_cuts``, series b's forecast is the mix
    of that series alone with the fixed weights ``recent_weights`` gives it
    (the network's share unchanged), every level and tail."""
    y, observed = windows()
    B = y.shape[0]
    args, loc, scale = network(B)
    weights = dict(theta_weight=0.15, damped_weight=0.15, ces_weight=0.1, naive_weight=0.2)
    prior = list(weights.values())
    got = mix_statistical(args, loc, scale, y, observed, LEVELS, SEASON, combination=combination,
                          recent_cuts=3, recent_power=2.0, **weights)
    ends = recent_ends(C, H, 3)
    errors = recent_errors(y, observed, ends, backtests(y, observed, ends, [True] * len(MEMBERS)))
    moved = recent_weights(prior, errors, 2.0)
    u = torch.tensor([0.01, 0.05, 0.3, 0.5, 0.9, 0.99], dtype=torch.float64).view(-1, 1, 1)
    levels = torch.tensor(LEVELS, dtype=torch.float64)
    for b in range(B):
        one = dict(zip(weights, moved[:, b].tolist()))
        want = mix_statistical(tuple(a[b : b + 1] for a in args), loc[b : b + 1], scale[b : b + 1], y[b : b + 1],
                               observed[b : b + 1], LEVELS, SEASON, combination=combination, **one)
        q_got = IQF(levels, *(a[b : b + 1] for a in got[0])).icdf(u.expand(-1, 1, H))
        q_want = IQF(levels, *want[0]).icdf(u.expand(-1, 1, H))
        torch.testing.assert_close(q_got, q_want, rtol=1e-10, atol=1e-10)
    assert not torch.allclose(moved[:, 0], torch.tensor(prior, dtype=torch.float64))  # the weights did move
    torch.testing.assert_close(moved[:, 2], torch.tensor(prior, dtype=torch.float64))  # no cut: the priors


def test_recent_weights_reach_the_mix_only_when_asked():
    """``recent_cuts=0`` (the module's default, networks saved before it)
    is the mix with the weights as given."""
    y, observed = windows()
    args, loc, scale = network(y.shape[0])
    weights = dict(theta_weight=0.2, damped_weight=0.2, ces_weight=0.2)
    plain = mix_statistical(args, loc, scale, y, observed, LEVELS, SEASON, combination="inverse_variance", **weights)
    moved = mix_statistical(args, loc, scale, y, observed, LEVELS, SEASON, combination="inverse_variance",
                            recent_cuts=2, **weights)
    unmoved = mix_statistical(args, loc, scale, y, observed, LEVELS, SEASON, combination="inverse_variance",
                              recent_cuts=2, recent_power=0.0, **weights)
    for a, b in zip(plain[0], unmoved[0]):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    assert not torch.allclose(plain[0][0], moved[0][0])


def test_backtests_in_float32_equal_float64():
    """float32 (the networks' dtype) against float64, relative 1e-4 of each
    window's scale: every member's backtest at every cut."""
    y, observed = windows()
    ends = recent_ends(C, H, 3)
    want = backtests(y, observed, ends, [True] * len(MEMBERS))
    got = backtests(y.float(), observed.float(), ends, [True] * len(MEMBERS))
    assert got.dtype == torch.float32 and torch.isfinite(got).all()
    scale = y.abs().amax(-1).clamp(min=1.0).view(1, 1, -1, 1)
    torch.testing.assert_close((got.double() / scale), want / scale, rtol=0, atol=1e-4)
