"""The query paths of ``IQF`` against the spline-grid reference.

``IQF`` answers few-value queries from the knots (per-interval integrals and
the queried interval's spline pieces only), plain IQF (one piece) with sums
of clamped ramps, and its (B, K - 1, S) passes through custom autograd
functions with hand-written backwards. Each path is checked against the
grid formulas of ``_grid`` in float64 to 1e-10, and by ``gradcheck``.
"""

import pytest
import torch

from gluonts_iqf import IQF, IQFOutput

from distribution_helpers import grid_reference

CONFIGS = {
    "iqf-2": ([0.1, 0.9], 1),
    "iqf-uneven-5": ([0.02, 0.1, 0.5, 0.7, 0.99], 1),
    "isqf-3x4": ([0.1, 0.5, 0.9], 4),
    "isqf-5x3": ([0.1, 0.3, 0.5, 0.7, 0.9], 3),
}
TOL = dict(rtol=1e-10, atol=1e-10)


def make(name, batch=(3, 4), seed=0, requires_grad=False):
    levels, pieces = CONFIGS[name]
    out = IQFOutput(knot_levels=levels, num_pieces=pieces)
    gen = torch.Generator().manual_seed(seed)
    raw = [
        torch.randn(*batch, dim, generator=gen, dtype=torch.float64).requires_grad_(requires_grad)
        for dim in out.args_dim.values()
    ]
    loc = 10 * torch.randn(*batch, generator=gen, dtype=torch.float64)
    scale = torch.rand(*batch, generator=gen, dtype=torch.float64) * 5 + 0.5
    return out, raw, loc, scale


@pytest.mark.parametrize("name", list(CONFIGS))
def test_fast_paths_match_grid(name):
    out, raw, loc, scale = make(name)
    d = out.distribution(out.domain_map(*raw), loc=loc, scale=scale)
    cdf, crps, icdf, mean, a1, cum = grid_reference(d)
    gen = torch.Generator().manual_seed(1)
    # batch-shaped values (one per element: the knot paths) and many values
    # per element (grid path for pieces, ramps for plain IQF)
    y1 = d.sample((1,))[0]
    y1 = torch.cat([y1.flatten()[:-2], torch.tensor([-1e3, 1e3], dtype=torch.float64)]).reshape(y1.shape)
    y20 = d.sample((20,))
    for y in (y1, y20, d.icdf(torch.tensor(CONFIGS[name][0], dtype=torch.float64).reshape(-1, 1, 1))):
        torch.testing.assert_close(d.cdf(y), cdf(y), **TOL)
        torch.testing.assert_close(d.crps(y), crps(y), **TOL)
    u = torch.rand(3, 4, generator=gen, dtype=torch.float64)
    u9 = torch.tensor([1e-6, 0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99, 1 - 1e-6], dtype=torch.float64)
    for lv in (u, u9.reshape(-1, 1, 1), u9.reshape(-1, 1, 1).expand(-1, 3, 4), torch.rand(30, 3, 4, generator=gen, dtype=torch.float64)):
        torch.testing.assert_close(d.icdf(lv), icdf(lv), **TOL)
    # closed-form moments at the knots equal the grid's
    p = d._params
    torch.testing.assert_close(d._moments.mean, mean, **TOL)
    torch.testing.assert_close(d._moments.first_moment, a1, **TOL)
    if p.widths is not None:
        S = p.widths.shape[-1]
        torch.testing.assert_close(d._moments.cum, cum[:, ::S], **TOL)


@pytest.mark.parametrize("name", ["isqf-3x4", "isqf-5x3"])
def test_knot_path_forced_equals_grid_path(name):
    """The same query answered by both IQF paths (the choice depends only on
    the number of values per element)."""
    out, raw, loc, scale = make(name)
    args = out.domain_map(*raw)
    y = out.distribution(args, loc=loc, scale=scale).sample((7,))
    a = out.distribution(args, loc=loc, scale=scale)
    b = out.distribution(args, loc=loc, scale=scale)
    a._use_knots = lambda m: True
    b._use_knots = lambda m: False
    for f in ("cdf", "crps"):
        torch.testing.assert_close(getattr(a, f)(y), getattr(b, f)(y), **TOL)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_gradcheck_one_value_per_element(name):
    """gradcheck of the knot paths (crps with the integrals and the queried
    rows in one autograd node, then cached for a second query), the ramp
    paths and the custom softmax, in float64."""
    out, raw, loc, scale = make(name, batch=(2, 3), seed=4, requires_grad=True)
    loc.requires_grad_(True)
    scale.requires_grad_(True)
    with torch.no_grad():
        y = out.distribution(out.domain_map(*raw), loc=loc, scale=scale).sample()
    u = torch.rand(2, 3, dtype=torch.float64)

    def outputs(loc, scale, *raw):
        d = out.distribution(out.domain_map(*raw), loc=loc, scale=scale)
        first = d.crps(y)  # fills the integral cache through the fused node
        return (first, d.crps(y + 0.5), d.cdf(y), d.icdf(u), d.icdf(0.3), d.mean,
                out.loss(y, out.domain_map(*raw), loc, scale))

    assert torch.autograd.gradcheck(outputs, (loc, scale, *raw), eps=1e-7, atol=1e-6)
    yv = y.clone().requires_grad_(True)
    uv = u.clone().requires_grad_(True)
    d = out.distribution(out.domain_map(*[r.detach() for r in raw]), loc=loc.detach(), scale=scale.detach())
    assert torch.autograd.gradcheck(lambda v, w: (d.crps(v), d.cdf(v), d.icdf(w)), (yv, uv), eps=1e-7, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_nan_targets_masked_in_fast_paths(dtype):
    for name in ("iqf-uneven-5", "isqf-5x3"):
        out, raw, loc, scale = make(name, requires_grad=True)
        raw_t = [r.detach().to(dtype).requires_grad_(True) for r in raw]
        y = torch.randn(3, 4, dtype=dtype) * 5
        y[0, 1] = float("nan")
        y[2, 3] = float("inf")
        loss = out.loss(y, out.domain_map(*raw_t), loc.to(dtype), scale.to(dtype))
        assert loss[0, 1] == 0 and loss[2, 3] == 0 and torch.isfinite(loss).all()
        loss.sum().backward()
        assert all(torch.isfinite(r.grad).all() for r in raw_t)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_same_inputs_same_outputs_at_any_position(name):
    """Sums in the fast paths run in a fixed order (no matrix products whose
    rounding depends on the row): equal values give bit-equal results and
    the cdf stays non-decreasing in float32, also with all knots equal."""
    out, raw, loc, scale = make(name, batch=(5,))
    d = out.distribution([a.float() for a in out.domain_map(*raw)], loc=loc.float(), scale=scale.float())
    z = d.icdf(torch.full((1,), 0.37)).expand(257, 5).contiguous()
    for f in (d.cdf, d.crps):
        v = f(z)
        assert (v == v[:1]).all()
    u = torch.linspace(0, 1, 2001)[1:-1]
    q = d.icdf(u.reshape(-1, 1))
    assert (q == d.icdf(u.reshape(-1, 1).expand(-1, 5).contiguous())).all()
    assert (q[1:] >= q[:-1]).all()
    kv = torch.full((4,), 1e8)
    flat = IQF([0.1, 0.4, 0.6, 0.9], kv, torch.tensor(1.0), torch.tensor(1.0))
    f = flat.cdf(flat.icdf(u))
    assert (f[1:] >= f[:-1]).all()


@pytest.mark.parametrize("name", list(CONFIGS))
def test_one_level_alone_equals_within_a_batch_of_levels(name):
    """Bit-equal quantiles and cdf whether a level / value is queried alone
    or with others (QuantileFunctionForecast relies on it)."""
    out, raw, loc, scale = make(name, batch=(7, 5))
    d = out.distribution([a.float() for a in out.domain_map(*raw)], loc=loc.float(), scale=scale.float())
    levels = torch.tensor([1e-4, 0.0123, 0.05, 0.333, 0.5, 0.77777, 0.95, 0.999, 1 - 1e-4])
    together = d.icdf(levels.reshape(-1, 1, 1))
    alone = torch.stack([d.icdf(a) for a in levels])
    assert torch.equal(together, alone)
    # cdf / CRPS: bit-equal on the ramps; with pieces 9 values per element may
    # take the grid and 1 the knots (equal to rounding)
    for f in (d.cdf, d.crps):
        one_by_one = torch.stack([f(q) for q in together])
        if d.num_pieces == 1:
            assert torch.equal(f(together), one_by_one)
        else:
            torch.testing.assert_close(f(together), one_by_one, rtol=1e-5, atol=1e-5)
