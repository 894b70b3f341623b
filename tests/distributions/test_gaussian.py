"""A Gaussian forecast as a plain IQF: knots at scipy's normal quantiles,
tails continuing the Gaussian's slope."""

import numpy as np
import torch
from scipy.stats import norm

from gluonts_iqf import IQF
from gluonts_iqf.distributions.gaussian import gaussian_plain_iqf


def test_gaussian_plain_iqf():
    """Knots at the Gaussian's quantiles (scipy, 1e-12), the tails continue
    the Gaussian's slope at the outer knots, and the IQF is monotone for a
    zero spread."""
    levels = [0.025, 0.1, 0.5, 0.9, 0.975]
    mean = torch.tensor([[3.0, -1.0]], dtype=torch.float64)
    std = torch.tensor([[2.0, 0.5]], dtype=torch.float64)
    kv, beta_l, beta_r = gaussian_plain_iqf(mean, std, levels)
    want = mean.unsqueeze(-1).numpy() + std.unsqueeze(-1).numpy() * norm.ppf(levels)
    np.testing.assert_allclose(kv.numpy(), want, rtol=1e-12)
    d = IQF(torch.tensor(levels, dtype=torch.float64), kv, beta_l, beta_r)
    for u, sign in ((0.025, 1), (0.975, -1)):  # one-sided slope just beyond the outer knot
        eps = 1e-7
        v = torch.full_like(mean, u - sign * eps)
        slope_iqf = sign * (d.icdf(torch.full_like(mean, u)) - d.icdf(v)) / eps
        slope_gauss = std / norm.pdf(norm.ppf(u))
        np.testing.assert_allclose(slope_iqf.numpy(), slope_gauss.numpy(), rtol=1e-5)
    kv0, bl0, br0 = gaussian_plain_iqf(torch.tensor([4.0]), torch.tensor([0.0]), levels)
    assert (kv0.diff(dim=-1) > 0).all() and torch.isfinite(bl0).all() and torch.isfinite(br0).all()


def test_standard_plain_iqf():
    """With the standard normal's quantiles it is gaussian_plain_iqf (1e-12);
    with shifted and stretched ones (z + 0.5) * 1.5 the knots are
    mean + std (z + 0.5) 1.5 and the tails' slopes 1.5 times the
    Gaussian's (1e-12); monotone for a zero spread."""
    from gluonts_iqf.distributions.gaussian import standard_plain_iqf

    levels = [0.025, 0.1, 0.5, 0.9, 0.975]
    g = norm.ppf(levels)
    mean = torch.tensor([[3.0, -1.0]], dtype=torch.float64)
    std = torch.tensor([[2.0, 0.5]], dtype=torch.float64)
    for a, b in zip(standard_plain_iqf(mean, std, levels, g.tolist()), gaussian_plain_iqf(mean, std, levels)):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    kv, beta_l, beta_r = standard_plain_iqf(mean, std, levels, ((g + 0.5) * 1.5).tolist())
    np.testing.assert_allclose(kv.numpy(), mean.unsqueeze(-1).numpy() + std.unsqueeze(-1).numpy() * (g + 0.5) * 1.5,
                               rtol=1e-12)
    _, gl, gr = gaussian_plain_iqf(mean, std, levels)
    torch.testing.assert_close(beta_l, gl / 1.5, rtol=1e-12, atol=0)
    torch.testing.assert_close(beta_r, gr / 1.5, rtol=1e-12, atol=0)
    kv0, bl0, br0 = standard_plain_iqf(torch.tensor([4.0]), torch.tensor([0.0]), levels, g.tolist())
    assert (kv0.diff(dim=-1) > 0).all() and torch.isfinite(bl0).all() and torch.isfinite(br0).all()
