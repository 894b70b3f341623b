"""The plain-IQF formulas (``_plain``: one piece per interval, sums of
clamped ramps): atoms and shared levels against the grid, the in-place
sampling form against the differentiable one, the CRPS node's closed-form
backward against autograd, and the CRPS weights against their closed form."""

import pytest
import torch

from gluonts_iqf import IQF, IQFOutput
from gluonts_iqf.distributions import _compiled, _plain

from distribution_helpers import grid_reference

TOL = dict(rtol=1e-10, atol=1e-10)
LEVELS = (0.02, 0.1, 0.5, 0.7, 0.99)


def test_plain_iqf_atoms_and_shared_levels():
    """Flat intervals (atoms): the ramps count the atom at its value, like the
    grid's bin search; shared and per-element levels agree."""
    kv = torch.tensor([[0.0, 1.0, 1.0, 2.0], [0.0, 0.0, 1.0, 3.0]], dtype=torch.float64)
    d = IQF([0.1, 0.4, 0.6, 0.9], kv, torch.tensor([1.0, 2.0]), torch.tensor([1.0, 0.5]))
    cdf, crps, icdf, *_ = grid_reference(d)
    z = torch.tensor([[1.0, 0.0], [1.0 - 1e-12, -1e-12], [1.0 + 1e-12, 1e-12], [2.0, 3.0]], dtype=torch.float64)
    torch.testing.assert_close(d.cdf(z), cdf(z), **TOL)
    torch.testing.assert_close(d.crps(z), crps(z), **TOL)
    assert d.cdf(torch.tensor([1.0, 0.0], dtype=torch.float64)).tolist() == pytest.approx([0.6, 0.4])
    lv = torch.linspace(0, 1, 101, dtype=torch.float64).reshape(-1, 1)
    torch.testing.assert_close(d.icdf(lv), d.icdf(lv.expand(-1, 2).contiguous()), **TOL)
    torch.testing.assert_close(d.icdf(lv[1:-1]), icdf(lv[1:-1]), **TOL)


def test_blocked_sampling_path_equals_autograd_path():
    """Sampling (no autograd) takes the blocked in-place form of the
    quantile (``quantile_blocks``); it must give the same bits as the
    differentiable one."""
    out = IQFOutput(knot_levels=list(LEVELS))
    gen = torch.Generator().manual_seed(0)
    raw = [torch.randn(3, 4, dim, generator=gen, dtype=torch.float64) for dim in out.args_dim.values()]
    loc = 10 * torch.randn(3, 4, generator=gen, dtype=torch.float64)
    scale = torch.rand(3, 4, generator=gen, dtype=torch.float64) * 5 + 0.5
    d = out.distribution(out.domain_map(*raw), loc=loc, scale=scale)
    u = torch.rand(1000, 3, 4, dtype=torch.float64)
    with torch.no_grad():
        fast = d.icdf(u)
    slow = d.icdf(u.clone().requires_grad_(True))
    assert torch.equal(fast, slow.detach())
    torch.manual_seed(0)
    s = d.sample((50,))
    assert s.shape == (50, 3, 4) and torch.isfinite(s).all()


def _crps_inputs(gen, atom=True):
    """Knots (K, B) with a flat interval, tail scales, loc, scale (B,) and
    values (M, B), float64, requiring grad."""
    kv = torch.randn(5, 6, generator=gen, dtype=torch.float64).sort(0).values
    if atom:
        kv[2, 0] = kv[1, 0]
    sl = torch.rand(6, generator=gen, dtype=torch.float64) + 0.1
    sr = torch.rand(6, generator=gen, dtype=torch.float64) + 0.1
    loc = torch.randn(6, generator=gen, dtype=torch.float64)
    scale = torch.rand(6, generator=gen, dtype=torch.float64) + 0.5
    z = loc + scale * 3 * torch.randn(4, 6, generator=gen, dtype=torch.float64)
    return [t.requires_grad_(True) for t in (kv, sl, sr, loc, scale, z)]


def test_crps_node_matches_autograd_reference():
    """The plain-IQF CRPS node with its closed-form backward (eager) against
    the same formulas differentiated by autograd, masked and not, and
    gradcheck, in float64."""
    gen = torch.Generator().manual_seed(7)
    c = _plain.level_constants(LEVELS)
    inputs = _crps_inputs(gen)

    def ref(kv, sl, sr, loc, scale, z):
        return scale * _plain.crps_parts(c, kv, sl, sr, loc, scale, z).value

    torch.testing.assert_close(_compiled.crps(c, *inputs), ref(*inputs), rtol=0, atol=1e-14)
    G = torch.randn(4, 6, generator=gen, dtype=torch.float64)
    for a, b in zip(
        torch.autograd.grad(_compiled.crps(c, *inputs), inputs, G),
        torch.autograd.grad(ref(*inputs), inputs, G),
    ):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    # masked: non-finite values score 0 and pass no gradient
    z = inputs[-1].detach().clone()
    z[1, 2], z[3, 0] = float("nan"), float("inf")
    zm = z.clone().requires_grad_(True)
    masked = _compiled.crps(c, *inputs[:-1], zm, masked=True)
    finite = torch.isfinite(z)
    safe = torch.where(finite, z, 0.0).requires_grad_(True)
    expected = torch.where(finite, ref(*inputs[:-1], safe), 0.0)
    torch.testing.assert_close(masked, expected, rtol=0, atol=1e-14)
    for a, b in zip(
        torch.autograd.grad(masked, inputs[:-1] + [zm], G),
        torch.autograd.grad(expected, inputs[:-1] + [safe], G),
    ):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    assert torch.autograd.gradcheck(lambda *t: _compiled.crps(c, *t), _crps_inputs(gen, atom=False))


def test_crps_weights_are_the_closed_form():
    """``2 (M - A)`` of a plain IQF: per interval, the trapezoid weights of
    ``int q`` minus the Simpson weights of ``int a q``, plus the tails'
    ``a_1 - a_1^2 / 2`` and ``(1 - a_K) - (1 - a_K^2) / 2`` for the outer
    knots, ``2 (a_1^2 / 4 - a_1)`` for s_L and ``(1 - a_K)^2 / 2`` for s_R."""
    a = LEVELS
    w = [0.0] * len(a)
    for k in range(len(a) - 1):
        g = a[k + 1] - a[k]
        w[k] += 0.5 * g - g * (2.0 * a[k] + a[k + 1]) / 6.0
        w[k + 1] += 0.5 * g - g * (a[k] + 2.0 * a[k + 1]) / 6.0
    w[0] += a[0] - 0.5 * a[0] * a[0]
    w[-1] += (1.0 - a[-1]) - 0.5 * (1.0 - a[-1] * a[-1])
    c = _plain.level_constants(LEVELS)
    assert c.crps_weights == pytest.approx([2.0 * v for v in w], rel=1e-14, abs=1e-15)
    assert c.crps_tail_weights == pytest.approx(
        (2.0 * (0.25 * a[0] ** 2 - a[0]), 0.5 * (1.0 - a[-1]) ** 2), rel=1e-14
    )
    assert c.ref == 2 and c.levels == LEVELS
