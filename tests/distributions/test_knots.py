"""The knot form of the I(S)QF (``_knots``): the per-interval shape integrals
and their hand-written backward, against quadrature on the unit square and
``gradcheck`` (the knot paths of ``IQF`` against the grid are in
``test_iqf_paths.py``)."""

import torch

from gluonts_iqf.distributions import _knots

TOL = dict(rtol=1e-10, atol=1e-10)


def test_shape_integrals_gradients_and_values():
    gen = torch.Generator().manual_seed(5)
    w = torch.softmax(torch.randn(4, 3, 5, generator=gen, dtype=torch.float64), -1).requires_grad_(True)
    h = torch.softmax(torch.randn(4, 3, 5, generator=gen, dtype=torch.float64), -1).requires_grad_(True)
    assert torch.autograd.gradcheck(_knots.shape_integrals, (w, h))
    k = torch.randint(0, 3, (4, 2), generator=gen)
    assert torch.autograd.gradcheck(lambda w, h: _knots.shape_integrals_and_rows(w, h, k), (w, h))
    # I1, I2 against the grid: int_0^1 eta and int_0^1 xi eta by Simpson
    i1, i2 = _knots.shape_integrals(w, h)
    xs = torch.cat([torch.zeros(4, 3, 1, dtype=torch.float64), w.cumsum(-1)], -1)
    es = torch.cat([torch.zeros(4, 3, 1, dtype=torch.float64), h.cumsum(-1)], -1)
    dx = xs[..., 1:] - xs[..., :-1]
    torch.testing.assert_close(i1, (dx * (es[..., 1:] + es[..., :-1]) / 2).sum(-1), **TOL)
    ref_i2 = (dx / 6 * ((2 * xs[..., :-1] + xs[..., 1:]) * es[..., :-1] + (xs[..., :-1] + 2 * xs[..., 1:]) * es[..., 1:])).sum(-1)
    torch.testing.assert_close(i2, ref_i2, **TOL)
