"""The fast query paths of ``IQF`` against the spline-grid reference.

``IQF`` answers few-value queries from the knots (per-interval integrals and
the queried interval's spline pieces only), plain IQF (one piece) with sums
of clamped ramps, and its (B, K - 1, S) passes through custom autograd
functions with hand-written backwards. Each is checked against the grid
formulas of ``_spline`` in float64 to 1e-10, and by ``gradcheck``.
"""

import pytest
import torch

from gluonts_iqf import IQF, IQFOutput
from gluonts_iqf.distributions import _spline
from gluonts_iqf.distributions.iqf import PIECE_FRACTION_FLOOR, _floored_softmax

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


def grid_reference(d):
    """cdf, crps and quantile of ``d`` through the grid functions."""
    p = d._flat
    cum, mean, a1 = _spline.integrals(p["x"], p["y"], p["sl"], p["sr"])

    def cdf(value):
        z, ss = d._to_flat(value)
        return d._from_flat(_spline.cdf(p["x"], p["y"], p["sl"], p["sr"], d._standardize(z)), ss)

    def crps(value):
        z, ss = d._to_flat(value)
        c = _spline.crps(p["x"], p["y"], p["sl"], p["sr"], cum, mean, a1, d._standardize(z))
        return d._from_flat(p["scale"] * c, ss)

    def icdf(value):
        u, ss = d._to_flat(value)
        q = _spline.quantile(p["x"], p["y"], p["sl"], p["sr"], u)
        return d._from_flat(p["loc"] + p["scale"] * (p["ref"] + q), ss)

    return cdf, crps, icdf, mean, a1, cum


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
    torch.testing.assert_close(d._moments["mean"], mean, **TOL)
    torch.testing.assert_close(d._moments["a1"], a1, **TOL)
    if p["widths"] is not None:
        S = p["widths"].shape[-1]
        torch.testing.assert_close(d._moments["cum"], cum[:, ::S], **TOL)


@pytest.mark.parametrize("name", ["isqf-3x4", "isqf-5x3"])
def test_knot_path_forced_equals_grid_path(name):
    """The same query answered by both IQF paths (the choice depends only on
    the number of values per element)."""
    out, raw, loc, scale = make(name)
    args = out.domain_map(*raw)
    y = out.distribution(args, loc=loc, scale=scale).sample((7,))
    u = torch.rand(7, 3, 4, dtype=torch.float64)
    a = out.distribution(args, loc=loc, scale=scale)
    b = out.distribution(args, loc=loc, scale=scale)
    a._use_knots = lambda m: True
    b._use_knots = lambda m: False
    for f in ("cdf", "crps"):
        torch.testing.assert_close(getattr(a, f)(y), getattr(b, f)(y), **TOL)
    # the knot-level quantile function against the grid's
    p = a._flat
    uf, _ = a._to_flat(u)
    torch.testing.assert_close(
        _spline.quantile_knots(p["levels"], p["yk"], p["sl"], p["sr"], uf, p["widths"], p["heights"]),
        _spline.quantile(p["x"], p["y"], p["sl"], p["sr"], uf),
        **TOL,
    )


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


def test_custom_autograd_functions():
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(4, 3, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(_floored_softmax, (x,))
    ref = (torch.softmax(x, -1) + PIECE_FRACTION_FLOOR) / (1 + 5 * PIECE_FRACTION_FLOOR)
    torch.testing.assert_close(_floored_softmax(x), ref, rtol=1e-14, atol=1e-15)
    # one interval far below the rest of its row: per-interval shift fallback
    x2 = x.detach().clone()
    x2[1, 2] -= 2000.0
    ref2 = (torch.softmax(x2, -1) + PIECE_FRACTION_FLOOR) / (1 + 5 * PIECE_FRACTION_FLOOR)
    torch.testing.assert_close(_floored_softmax(x2), ref2, rtol=1e-14, atol=1e-15)
    assert torch.isfinite(_floored_softmax(x2.float())).all()

    w = torch.softmax(torch.randn(4, 3, 5, generator=gen, dtype=torch.float64), -1).requires_grad_(True)
    h = torch.softmax(torch.randn(4, 3, 5, generator=gen, dtype=torch.float64), -1).requires_grad_(True)
    assert torch.autograd.gradcheck(_spline.shape_integrals, (w, h))
    k = torch.randint(0, 3, (4, 2), generator=gen)
    assert torch.autograd.gradcheck(lambda w, h: _spline.shape_integrals_and_rows(w, h, k), (w, h))
    # I1, I2 against the grid: int_0^1 eta and int_0^1 xi eta by Simpson
    i1, i2 = _spline.shape_integrals(w, h)
    xs = torch.cat([torch.zeros(4, 3, 1, dtype=torch.float64), w.cumsum(-1)], -1)
    es = torch.cat([torch.zeros(4, 3, 1, dtype=torch.float64), h.cumsum(-1)], -1)
    dx = xs[..., 1:] - xs[..., :-1]
    torch.testing.assert_close(i1, (dx * (es[..., 1:] + es[..., :-1]) / 2).sum(-1), **TOL)
    ref_i2 = (dx / 6 * ((2 * xs[..., :-1] + xs[..., 1:]) * es[..., :-1] + (xs[..., :-1] + 2 * xs[..., 1:]) * es[..., 1:])).sum(-1)
    torch.testing.assert_close(i2, ref_i2, **TOL)


def test_blocked_passes_equal_whole_batch(monkeypatch):
    """Row blocks of any size give the same numbers as one block."""
    out, raw, loc, scale = make("isqf-5x3", batch=(40, 3))
    args = out.domain_map(*raw)
    y = out.distribution(args, loc=loc, scale=scale).sample()
    ref = out.distribution(args, loc=loc, scale=scale).crps(y)
    monkeypatch.setattr(_spline, "BLOCK_ELEMENTS", 50)
    args2 = out.domain_map(*raw)
    torch.testing.assert_close(args2[3], args[3], rtol=0, atol=1e-15)
    torch.testing.assert_close(out.distribution(args2, loc=loc, scale=scale).crps(y), ref, **TOL)


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


def test_blocked_sampling_path_equals_autograd_path():
    """Sampling (no autograd) takes a blocked in-place route through the
    plain-IQF quantile; it must give the same bits as the differentiable one."""
    out, raw, loc, scale = make("iqf-uneven-5", batch=(3, 4))
    d = out.distribution(out.domain_map(*raw), loc=loc, scale=scale)
    u = torch.rand(1000, 3, 4, dtype=torch.float64)
    with torch.no_grad():
        fast = d.icdf(u)
    slow = d.icdf(u.clone().requires_grad_(True))
    assert torch.equal(fast, slow.detach())
    torch.manual_seed(0)
    s = d.sample((50,))
    assert s.shape == (50, 3, 4) and torch.isfinite(s).all()


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


def test_fused_plain_crps_matches_autograd_reference():
    """The plain-IQF CRPS node with its closed-form backward against the
    same formulas differentiated by autograd, and gradcheck, in float64."""
    gen = torch.Generator().manual_seed(7)
    levels = torch.tensor([0.02, 0.1, 0.5, 0.7, 0.99], dtype=torch.float64)
    y = torch.randn(5, 6, generator=gen, dtype=torch.float64).sort(0).values
    y[2, 0] = y[1, 0]  # a flat interval (atom)
    y = y.requires_grad_(True)
    sl = (torch.rand(6, generator=gen, dtype=torch.float64) + 0.1).requires_grad_(True)
    sr = (torch.rand(6, generator=gen, dtype=torch.float64) + 0.1).requires_grad_(True)
    z = (3 * torch.randn(4, 6, generator=gen, dtype=torch.float64)).requires_grad_(True)

    def ref(y, sl, sr, z):
        m, a = _spline.plain_moments(levels, y, sl, sr)
        return _spline.ramp_crps(levels, y, sl, sr, m, a, z)

    def fused(y, sl, sr, z):
        return _spline.ramp_crps_fused(levels, y, sl, sr, z)

    torch.testing.assert_close(fused(y, sl, sr, z), ref(y, sl, sr, z), rtol=0, atol=1e-14)
    G = torch.randn(4, 6, generator=gen, dtype=torch.float64)
    for a, b in zip(
        torch.autograd.grad(fused(y, sl, sr, z), (y, sl, sr, z), G),
        torch.autograd.grad(ref(y, sl, sr, z), (y, sl, sr, z), G),
    ):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    y2 = torch.randn(5, 6, generator=gen, dtype=torch.float64).sort(0).values.requires_grad_(True)
    assert torch.autograd.gradcheck(fused, (y2, sl, sr, z))


def test_plain_crps_weights_are_the_moments_weights():
    levels = torch.tensor([0.02, 0.1, 0.5, 0.7, 0.99], dtype=torch.float64)
    eye = torch.eye(5, dtype=torch.float64)
    zero = torch.zeros(1, dtype=torch.float64)
    w_m, w_a = _spline.plain_moments(levels, eye, zero, zero)
    torch.testing.assert_close(_spline.plain_crps_weights(levels), 2 * (w_m - w_a), rtol=1e-14, atol=1e-15)
