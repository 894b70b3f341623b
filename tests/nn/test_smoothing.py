"""Exponential-smoothing and slope features against explicit formulas."""

import numpy as np
import pytest
import torch

from gluonts_iqf.nn.smoothing import (
    CHANGE_ALPHAS,
    LEVEL_ALPHAS,
    ewma,
    num_smoothing_features,
    ols_slope,
    smoothing_features,
)


def test_ewma_and_slope_equal_their_formulas():
    """EWMA = sum (1-a)^age y / sum (1-a)^age over observed values (float64,
    1e-12); the slope equals numpy's least-squares fit over the observed
    positions; fewer than two values give slope 0, none give level 0."""
    g = torch.Generator().manual_seed(0)
    y = torch.randn(3, 9, generator=g, dtype=torch.float64)
    o = (torch.rand(3, 9, generator=g) > 0.3).double()
    o[2] = 0.0
    o[2, 4] = 1.0  # one value only
    for a in (0.1, 0.6):
        for b in range(2):
            ages = np.arange(8, -1, -1)
            w = (1 - a) ** ages * o[b].numpy()
            want = (w * y[b].numpy()).sum() / w.sum()
            assert float(ewma(y, o, a)[b]) == pytest.approx(want, rel=1e-12)
    slope = ols_slope(y, o)
    for b in range(2):
        idx = np.flatnonzero(o[b].numpy())
        assert float(slope[b]) == pytest.approx(np.polyfit(idx, y[b].numpy()[idx], 1)[0], rel=1e-10)
    assert float(slope[2]) == 0.0 and float(ewma(y, o, 0.3)[2]) == pytest.approx(float(y[2, 4]))
    assert float(ewma(y, torch.zeros_like(o), 0.3)[0]) == 0.0


@pytest.mark.parametrize("season", [1, 4])
def test_smoothing_features_are_causal_and_scaled(season):
    """Each creation time's features use only positions before it (changing
    later values leaves them unchanged), are divided by its scale, and come
    as K values then K flags; on a linear series the slope feature is the
    slope and a seasonal change of a trend is m x slope."""
    B, C, F = 2, 30, 5
    t = torch.arange(C, dtype=torch.float64)
    target = (3.0 + 0.5 * t).expand(B, C).clone()
    observed = torch.ones(B, C, dtype=torch.float64)
    scale = torch.full((B, F, 1), 2.0, dtype=torch.float64)
    feats = smoothing_features(target, observed, scale, C - F, season, slope_length=8)
    K = num_smoothing_features(season)
    assert feats.shape == (B, F, 2 * K) and (feats[..., K:] == 1).all()
    torch.testing.assert_close(feats[..., K - 1], torch.full((B, F), 0.25, dtype=torch.float64))  # 0.5 / scale
    if season > 1:
        change = feats[..., len(LEVEL_ALPHAS) : len(LEVEL_ALPHAS) + len(CHANGE_ALPHAS)]
        torch.testing.assert_close(change, torch.full_like(change, 0.5 * season / 2.0))
    later = target.clone()
    later[:, -1] += 100.0  # seen only by the last creation time (t = C)
    moved = smoothing_features(later, observed, scale, C - F, season, slope_length=8)
    torch.testing.assert_close(moved[:, :-1], feats[:, :-1])
    assert not torch.equal(moved[:, -1], feats[:, -1])
