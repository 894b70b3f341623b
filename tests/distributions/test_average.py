"""Averaging plain IQFs: the averaged parameters give exactly the level-wise
mean of the members' quantile functions (tails included)."""

import pytest
import torch

from gluonts_iqf import IQF
from gluonts_iqf.distributions.average import average_quantile_functions


def test_average_is_the_mean_quantile_function():
    """float64, tolerance 1e-12 relative: quantiles at levels inside, at and
    beyond the outer knots; the average is monotone and its CRPS is finite."""
    g = torch.Generator().manual_seed(0)
    M, B, H = 3, 4, 5
    levels = torch.tensor([0.05, 0.3, 0.5, 0.7, 0.95], dtype=torch.float64)
    steps = torch.rand(M, B, H, 5, generator=g, dtype=torch.float64) + 0.01
    kv = torch.cumsum(steps, -1) - 1.0
    beta_l = torch.rand(M, B, H, generator=g, dtype=torch.float64) * 3 + 0.2
    beta_r = torch.rand(M, B, H, generator=g, dtype=torch.float64) * 3 + 0.2
    loc = torch.randn(M, B, H, generator=g, dtype=torch.float64) * 10
    scale = torch.rand(M, B, 1, generator=g, dtype=torch.float64) * 5 + 0.1
    members = [IQF(levels, kv[m], beta_l[m], beta_r[m], loc=loc[m], scale=scale[m]) for m in range(M)]
    avg = IQF(levels, *average_quantile_functions(kv, beta_l, beta_r, loc, scale))
    u = torch.tensor([1e-6, 0.01, 0.05, 0.2, 0.5, 0.61, 0.95, 0.99, 1 - 1e-6], dtype=torch.float64)
    u = u.view(-1, 1, 1).expand(-1, B, H)
    want = torch.stack([d.icdf(u) for d in members]).mean(0)
    torch.testing.assert_close(avg.icdf(u), want, rtol=1e-12, atol=1e-12)
    assert (avg.icdf(u).diff(dim=0) >= 0).all()
    assert torch.isfinite(avg.crps(torch.randn(B, H, dtype=torch.float64))).all()


def test_weighted_average():
    """Weights (1, 0) give the first member exactly; (0.25, 0.75) the weighted
    mean of the quantile functions (float64, 1e-12); bad weights are named."""
    g = torch.Generator().manual_seed(1)
    levels = torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)
    kv = torch.cumsum(torch.rand(2, 4, 3, generator=g, dtype=torch.float64) + 0.1, -1)
    beta = torch.rand(2, 4, generator=g, dtype=torch.float64) + 0.5
    loc, scale = torch.randn(2, 4, dtype=torch.float64, generator=g), torch.rand(2, 1, dtype=torch.float64) + 1
    u = torch.tensor([0.01, 0.3, 0.95], dtype=torch.float64).view(-1, 1)
    members = [IQF(levels, kv[m], beta[m], beta[m], loc=loc[m], scale=scale[m]).icdf(u) for m in range(2)]
    first = IQF(levels, *average_quantile_functions(kv, beta, beta, loc, scale, weights=(1.0, 0.0)))
    torch.testing.assert_close(first.icdf(u), members[0], rtol=1e-12, atol=1e-12)
    mix = IQF(levels, *average_quantile_functions(kv, beta, beta, loc, scale, weights=(0.25, 0.75)))
    torch.testing.assert_close(mix.icdf(u), 0.25 * members[0] + 0.75 * members[1], rtol=1e-12, atol=1e-12)
    for bad in ((0.5, 0.6), (1.5, -0.5), (1.0,)):
        with pytest.raises(ValueError, match="weights must be 2 non-negative numbers summing to 1"):
            average_quantile_functions(kv, beta, beta, loc, scale, weights=bad)
