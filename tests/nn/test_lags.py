"""Seasonal and recent lag offsets and their gathering."""

import pytest
import torch

from gluonts_iqf.nn.lags import gather_seasonal_lags, recent_lag_offsets, seasonal_lag_offsets


def test_seasonal_lag_offsets():
    """Step h's j-th lag is the j-th most recent position of its seasonal
    phase observed before the creation time."""
    off = seasonal_lag_offsets(prediction_length=5, season_length=2, num_lags=2)
    assert off.tolist() == [[2, 4], [1, 3], [2, 4], [1, 3], [2, 4]]
    # position t - offset has the phase of t + h and is < t
    m, H, J = 24, 48, 3
    off = seasonal_lag_offsets(H, m, J)
    h = torch.arange(H).unsqueeze(1)
    assert ((h + off) % m == 0).all() and (off >= 1).all()
    assert (off[:, 0] <= m).all()  # the first lag is the most recent one
    assert (off[:, 1:] - off[:, :-1] == m).all()
    # season 1: every step's lags are the last J values
    assert seasonal_lag_offsets(4, 1, 2).tolist() == [[1, 2]] * 4
    with pytest.raises(ValueError, match="season_length"):
        seasonal_lag_offsets(4, 0, 1)


def test_recent_lag_offsets():
    """The R most recent positions and the same positions one season
    earlier, alike for every step; none for season 1."""
    assert recent_lag_offsets(3, 4, 2).tolist() == [[1, 5, 2, 6]] * 3
    assert recent_lag_offsets(3, 1, 2).shape == (3, 0)
    assert recent_lag_offsets(3, 4, 0).shape == (3, 0)
    with pytest.raises(ValueError, match="num_recent_lags"):
        recent_lag_offsets(3, 4, -1)


def test_gather_seasonal_lags_reads_the_offsets():
    """Creation time t = start + 1 + f, step h, lag j reads position
    t - offsets[h, j] divided by that creation time's scale, with its
    observed flag; positions before the window are unobserved zeros."""
    B, C, H, F = 2, 10, 3, 4
    g = torch.Generator().manual_seed(0)
    y = torch.randn(B, C, generator=g, dtype=torch.float64)
    obs = (torch.rand(B, C, generator=g) > 0.2).double()
    scale = torch.rand(B, F, 1, generator=g, dtype=torch.float64) + 0.5
    offsets = seasonal_lag_offsets(H, 4, 2)
    start = C - F
    got = gather_seasonal_lags(y, obs, scale, start, offsets)
    assert got.shape == (B, F, H, 4)
    for f in range(F):
        t = start + 1 + f
        for h in range(H):
            for j in range(2):
                p = t - int(offsets[h, j])
                v, o = (y[:, p], obs[:, p]) if p >= 0 else (torch.zeros(B, dtype=torch.float64),) * 2
                torch.testing.assert_close(got[:, f, h, j], v / scale[:, f, 0], rtol=0, atol=0)
                torch.testing.assert_close(got[:, f, h, 2 + j], o, rtol=0, atol=0)
    assert gather_seasonal_lags(y, obs, scale, start, offsets[:, :0]).shape == (B, F, H, 0)
