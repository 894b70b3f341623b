"""Exponential-smoothing and slope features against explicit formulas."""

import numpy as np
import pytest
import torch

from gluonts_iqf.nn.smoothing import (
    CHANGE_ALPHAS,
    DEFAULT_ALPHA,
    LEVEL_ALPHAS,
    SES_GRID,
    expanding_slope,
    num_smoothing_features,
    ols_slope,
    ses_scan,
    smoothing_features,
)


def _ewma(y, o, a, s):
    """Explicit normalised EWMA over observed positions <= s."""
    w = np.array([(1 - a) ** (s - k) * o[k] for k in range(s + 1)])
    return float((w * y[: s + 1]).sum() / w.sum()) if w.sum() > 0 else 0.0


def test_ses_scan_equals_the_explicit_sums():
    """Levels at every position (through several scan blocks), the
    cumulative one-step squared errors and their count, against explicit
    loops (float64, relative 1e-10); missing values and a late start."""
    g = torch.Generator().manual_seed(0)
    T = 75  # three blocks of 32
    y = torch.randn(2, T, generator=g, dtype=torch.float64) * 3 + 10
    o = (torch.rand(2, T, generator=g) > 0.2).double()
    o[1, :10] = 0.0
    alphas = (0.05, 0.3, 0.8)
    level, sse, count = ses_scan(y, o, alphas)
    yn, on = (y * o).numpy(), o.numpy()
    for b in range(2):
        want_sse = np.zeros(len(alphas))
        n = 0
        for s in range(T):
            for i, a in enumerate(alphas):
                assert float(level[b, s, i]) == pytest.approx(_ewma(yn[b], on[b], a, s), rel=1e-10, abs=1e-12)
            if s > 0 and on[b, s] and on[b, : s].any():
                n += 1
                for i, a in enumerate(alphas):
                    want_sse[i] += (yn[b, s] - _ewma(yn[b], on[b], a, s - 1)) ** 2
            np.testing.assert_allclose(sse[b, s].numpy(), want_sse, rtol=1e-10, atol=1e-10)
            assert float(count[b, s]) == n


def test_slopes_equal_least_squares():
    """The local slope equals numpy's fit over the observed positions of a
    row; the expanding slope at s equals the fit over positions <= s; fewer
    than two values give 0."""
    g = torch.Generator().manual_seed(1)
    y = torch.randn(3, 12, generator=g, dtype=torch.float64)
    o = (torch.rand(3, 12, generator=g) > 0.3).double()
    o[2] = 0.0
    o[2, 4] = 1.0
    slope = ols_slope(y, o)
    for b in range(2):
        idx = np.flatnonzero(o[b].numpy())
        assert float(slope[b]) == pytest.approx(np.polyfit(idx, y[b].numpy()[idx], 1)[0], rel=1e-10)
    assert float(slope[2]) == 0.0
    grow = expanding_slope(y, o)
    for s in range(12):
        idx = np.flatnonzero(o[0, : s + 1].numpy())
        want = np.polyfit(idx, y[0].numpy()[idx], 1)[0] if len(idx) >= 2 else 0.0
        assert float(grow[0, s]) == pytest.approx(want, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("season", [1, 4])
def test_smoothing_features_are_causal_scaled_and_pick_the_best_constant(season):
    """Each creation time's features use only positions before it, come
    divided by its scale as K values then K flags; on a straight line the
    slopes are the line's slope and the seasonal change m x slope; on a
    random walk the per-series level is the grid level of lowest in-sample
    error (a constant series falls back to DEFAULT_ALPHA's level only until
    errors exist)."""
    B, C, F = 2, 40, 5
    t = torch.arange(C, dtype=torch.float64)
    target = (3.0 + 0.5 * t).expand(B, C).clone()
    observed = torch.ones(B, C, dtype=torch.float64)
    scale = torch.full((B, F, 1), 2.0, dtype=torch.float64)
    feats = smoothing_features(target, observed, scale, C - F, season, slope_length=8)
    K = num_smoothing_features(season)
    assert feats.shape == (B, F, 2 * K) and (feats[..., K:] == 1).all()
    torch.testing.assert_close(feats[..., K - 2], torch.full((B, F), 0.25, dtype=torch.float64))
    torch.testing.assert_close(feats[..., K - 1], torch.full((B, F), 0.25, dtype=torch.float64))
    if season > 1:
        change = feats[..., len(LEVEL_ALPHAS) + 1 : len(LEVEL_ALPHAS) + 1 + len(CHANGE_ALPHAS)]
        torch.testing.assert_close(change, torch.full_like(change, 0.5 * season / 2.0))
    later = target.clone()
    later[:, -1] += 100.0  # seen only by the last creation time (t = C)
    moved = smoothing_features(later, observed, scale, C - F, season, slope_length=8)
    torch.testing.assert_close(moved[:, :-1], feats[:, :-1])
    assert not torch.equal(moved[:, -1], feats[:, -1])
    # the per-series level: the grid constant of least in-sample squared error
    g = torch.Generator().manual_seed(3)
    walk = torch.cumsum(torch.randn(B, C, generator=g, dtype=torch.float64), 1) + 20
    one = torch.ones(B, 1, 1, dtype=torch.float64)
    got = smoothing_features(walk, observed, one, C - 1, season, slope_length=8)[:, 0, len(LEVEL_ALPHAS)]
    level, sse, _ = ses_scan(walk, observed, SES_GRID)
    want = level[torch.arange(B), C - 1, sse[:, C - 1].argmin(-1)]  # creation time C sees positions <= C - 1
    torch.testing.assert_close(got, want)
    few = smoothing_features(walk[:, :2], observed[:, :2], one, 0, season, slope_length=8)
    assert float(few[0, 0, len(LEVEL_ALPHAS)]) == pytest.approx(float(ses_scan(walk[:, :2], observed[:, :2], (DEFAULT_ALPHA,))[0][0, 0, 0]))
