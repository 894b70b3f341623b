"""Forking windows against explicit loops over creation times."""

import pytest
import torch

from gluonts_iqf.nn.forking import forking_history, forking_targets, forking_windows


@pytest.mark.parametrize("rest", [(), (3,)])
def test_forking_windows_targets_and_history(rest):
    """Creation time t = C - F + 1 + i forecasts positions t .. t + H - 1 of
    [past | future] and sees history positions t - W .. t - 1 (zeros before
    the window), for a series with or without trailing dims."""
    B, C, H, F, W = 2, 9, 4, 5, 6
    g = torch.Generator().manual_seed(0)
    past = torch.randn(B, C, *rest, generator=g)
    future = torch.randn(B, H, *rest, generator=g)
    full = torch.cat([past, future], 1)
    targets = forking_targets(past, future, F)
    history = forking_history(past, F, W)
    assert targets.shape == (B, F, H, *rest) and history.shape == (B, F, W, *rest)
    for i in range(F):
        t = C - F + 1 + i
        assert torch.equal(targets[:, i], full[:, t : t + H])
        for j, p in enumerate(range(t - W, t)):
            want = past[:, p] if p >= 0 else torch.zeros_like(past[:, 0])
            assert torch.equal(history[:, i, j], want)
    covs = torch.randn(B, C + H, 2, generator=g)
    win = forking_windows(covs, C - F + 1, F, H)
    assert win.shape == (B, F, H, 2)
    assert torch.equal(win[:, -1], covs[:, C : C + H])
