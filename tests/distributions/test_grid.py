"""The grid form (``_grid``): the closed-form integrals of a quantile
function against quadrature, for levels shared by the batch and per row, and
with interval shapes (I1, I2) equal to a straight line's."""

import pytest
import torch
from scipy import integrate

from gluonts_iqf.distributions import _grid


def test_integrals_match_quadrature_for_shared_and_per_row_levels():
    gen = torch.Generator().manual_seed(3)
    x = torch.tensor([0.05, 0.3, 0.55, 0.9], dtype=torch.float64)
    y = torch.randn(2, 4, generator=gen, dtype=torch.float64).cumsum(-1)
    y[1, 2] = y[1, 1]  # a flat piece (an atom)
    sl = torch.rand(2, generator=gen, dtype=torch.float64) + 0.2
    sr = torch.rand(2, generator=gen, dtype=torch.float64) + 0.2
    cum, mean, a1 = _grid.integrals(x, y, sl, sr)
    per_row = _grid.integrals(x.expand(2, 4), y, sl, sr)
    lines = _grid.integrals(x, y, sl, sr, torch.full((2, 3), 0.5, dtype=torch.float64),
                            torch.full((2, 3), 1 / 3, dtype=torch.float64))
    for other in (per_row, lines):
        for a, b in zip(other, (cum, mean, a1)):
            torch.testing.assert_close(a, b, rtol=1e-14, atol=1e-14)
    for b in range(2):
        def q(a):
            u = torch.tensor([[a]], dtype=torch.float64)
            return _grid.quantile(x, y[b : b + 1], sl[b : b + 1], sr[b : b + 1], u).item()

        pts = x.tolist()
        assert mean[b].item() == pytest.approx(integrate.quad(q, 0, 1, points=pts, limit=200)[0], rel=1e-9, abs=1e-10)
        assert a1[b].item() == pytest.approx(
            integrate.quad(lambda a: a * q(a), 0, 1, points=pts, limit=200)[0], rel=1e-9, abs=1e-10
        )
        for j, xj in enumerate(pts):
            assert cum[b, j].item() == pytest.approx(integrate.quad(q, 0, xj, points=pts[:j], limit=200)[0], rel=1e-9, abs=1e-10)
