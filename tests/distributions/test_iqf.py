"""Contract tests for ``IQF``, driven by a registry of configurations.

Every check uses an oracle the implementation does not share: quadrature
(scipy), autograd, ``properscoring``/``scoringrules`` on samples, GluonTS's
own ISQF, and the reference values of docs/methods.md ("Reference values for
tests").
"""

import math

import numpy as np
import properscoring
import pytest
import scoringrules
import torch
from scipy import integrate

from gluonts_iqf import IQF, IQFOutput

# name -> (knot levels, num_pieces)
CONFIGS = {
    "iqf-2": ([0.1, 0.9], 1),
    "iqf-uneven-5": ([0.02, 0.1, 0.5, 0.7, 0.99], 1),
    "iqf-mqcnn-11": (
        [0.025, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.975],
        1,
    ),
    "isqf-3x4": ([0.1, 0.5, 0.9], 4),
    "isqf-5x3": ([0.1, 0.3, 0.5, 0.7, 0.9], 3),
}
BATCH = (3, 4)


def make_distr(name, dtype=torch.float64, seed=0, batch=BATCH, loc_scale=True):
    """An IQF with random parameters produced by IQFOutput.domain_map."""
    levels, pieces = CONFIGS[name]
    out = IQFOutput(knot_levels=levels, num_pieces=pieces)
    gen = torch.Generator().manual_seed(seed)
    # drawn in float64 and cast, so every dtype sees the same numbers
    raw = [
        torch.randn(*batch, dim, generator=gen, dtype=torch.float64).to(dtype)
        for dim in out.args_dim.values()
    ]
    args = out.domain_map(*raw)
    if not loc_scale:
        return out.distribution(args)
    loc = 10 * torch.randn(*batch, generator=gen, dtype=torch.float64).to(dtype)
    scale = (torch.rand(*batch, generator=gen, dtype=torch.float64) * 5 + 0.5).to(dtype)
    return out.distribution(args, loc=loc, scale=scale)


def scalar_q(d, idx):
    """A float -> float quantile function of one batch element."""

    def q(a):
        return d.icdf(torch.tensor(a, dtype=torch.float64))[idx].item()

    return q


def breakpoints(d, idx):
    """Levels where q has a kink: spline points of element ``idx``."""
    x = d._grid.x
    if x.dim() == 2:
        flat_idx = np.ravel_multi_index(idx, tuple(d.batch_shape))
        x = x[flat_idx]
    return x.tolist()


pytestmark = pytest.mark.parametrize("name", list(CONFIGS))


def test_shapes_and_broadcasting(name):
    d = make_distr(name)
    assert d.batch_shape == BATCH and d.event_shape == ()
    assert d.icdf(0.3).shape == BATCH
    assert d.icdf(torch.full(BATCH, 0.3)).shape == BATCH
    assert d.icdf(torch.rand(7, *BATCH)).shape == (7, *BATCH)
    assert d.icdf(torch.rand(9, 1, 1)).shape == (9, *BATCH)
    assert d.icdf(torch.tensor([0.5])).shape == BATCH
    y = d.sample((5, 2))
    assert y.shape == (5, 2, *BATCH)
    for f in (d.cdf, d.log_prob, d.crps):
        assert f(y).shape == (5, 2, *BATCH)
        assert f(y[0, 0]).shape == BATCH
        assert f(1.0).shape == BATCH
    assert d.mean.shape == BATCH and d.variance.shape == BATCH
    assert d.entropy().shape == BATCH
    e = d.expand((2, *BATCH))
    assert e.batch_shape == (2, *BATCH)
    torch.testing.assert_close(e.icdf(0.7)[1], d.icdf(0.7))
    torch.testing.assert_close(e.mean[0], d.mean)
    assert d.quantile(0.25).equal(d.icdf(0.25))


def test_levels_are_exact_at_knots(name):
    levels, _ = CONFIGS[name]
    d = make_distr(name)
    got = d.icdf(torch.tensor(levels, dtype=torch.float64).reshape(-1, 1, 1))
    want = d.loc + d.scale * d.knot_values.movedim(-1, 0)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_cdf_inverts_icdf(name):
    d = make_distr(name)
    gen = torch.Generator().manual_seed(1)
    u = torch.rand(200, *BATCH, generator=gen, dtype=torch.float64)
    u = torch.cat([u, torch.tensor([1e-9, 1e-3, 0.5, 1 - 1e-3, 1 - 1e-9]).reshape(5, 1, 1).expand(5, *BATCH)])
    torch.testing.assert_close(d.cdf(d.icdf(u)), u, rtol=0, atol=1e-12)
    y = d.sample((200,))
    torch.testing.assert_close(d.icdf(d.cdf(y)), y, rtol=1e-9, atol=1e-9)


def test_icdf_non_decreasing_and_infinite_at_ends(name):
    d = make_distr(name)
    u = torch.linspace(0, 1, 5001, dtype=torch.float64).reshape(-1, 1, 1)
    q = d.icdf(u)
    assert (q[1:] >= q[:-1]).all()
    assert torch.isneginf(q[0]).all() and torch.isposinf(q[-1]).all()


def test_log_prob_is_derivative_of_cdf(name):
    d = make_distr(name)
    y = d.sample((50,)).requires_grad_(True)
    (grad,) = torch.autograd.grad(d.cdf(y).sum(), y)
    torch.testing.assert_close(grad, d.log_prob(y).exp(), rtol=1e-10, atol=0)
    # finite differences, away from the (measure-zero) kinks
    h = 1e-6
    with torch.no_grad():
        fd = (d.cdf(y + h) - d.cdf(y - h)) / (2 * h)
        dens = d.log_prob(y).exp()
        near_kink = (d.log_prob(y + h) - d.log_prob(y - h)).abs() > 1e-3
    close = ((fd - dens).abs() <= 1e-5 * dens + 1e-9) | near_kink
    assert close.all() and (~near_kink).float().mean() > 0.9


def test_log_prob_integrates_to_one(name):
    d = make_distr(name)
    for idx in [(0, 0), (2, 3)]:
        q = scalar_q(d, idx)
        lo, hi = q(1e-12), q(1 - 1e-12)
        knots = sorted({q(a) for a in breakpoints(d, idx)})

        def density(v):
            return d.log_prob(torch.tensor(v, dtype=torch.float64))[idx].exp().item()

        mass, err = integrate.quad(density, lo, hi, points=knots, limit=500)
        assert mass == pytest.approx(1.0 - 2e-12, abs=1e-8), err


def test_crps_equals_integrated_pinball_and_brier(name):
    """CRPS vs two quadratures: 2 int rho_a(y - q(a)) da and
    int (F(z) - 1{y <= z})^2 dz."""
    d = make_distr(name)
    for idx in [(0, 0), (1, 2)]:
        q = scalar_q(d, idx)
        for y in [q(0.37), q(0.0001) - 3.0, q(0.9999) + 5.0, q(0.5)]:
            ours = d.crps(torch.tensor(y, dtype=torch.float64))[idx].item()

            def pinball(a):
                diff = y - q(a)
                return 2 * diff * (a - (diff < 0))

            f_y = d.cdf(torch.tensor(y, dtype=torch.float64))[idx].item()
            pts = sorted(set(breakpoints(d, idx) + [min(max(f_y, 1e-12), 1 - 1e-12)]))
            ref, _ = integrate.quad(pinball, 0, 1, points=pts, limit=500)
            assert ours == pytest.approx(ref, rel=1e-8, abs=1e-10)

            def brier(z):
                f = d.cdf(torch.tensor(z, dtype=torch.float64))[idx].item()
                return (f - (y <= z)) ** 2

            lo, hi = min(q(1e-15), y - 1), max(q(1 - 1e-15), y + 1)
            zs = sorted(set([q(a) for a in breakpoints(d, idx)] + [y]))
            ref2 = sum(
                integrate.quad(brier, a, b, limit=200)[0]
                for a, b in zip([lo] + zs, zs + [hi])
            )
            assert ours == pytest.approx(ref2, rel=1e-6, abs=1e-8)


def test_crps_matches_ensemble_scores_on_samples(name):
    """scoringrules on 40k samples and properscoring on 3k samples per
    element (its numpy fallback is O(m^2) in memory); both ensemble
    estimators carry Monte Carlo error: tolerances 2 % and 6 % (seeded).
    (Quadrature oracles are in test_crps_equals_integrated_pinball_and_brier.)"""
    torch.manual_seed(2)
    d = make_distr(name)
    samples = d.sample((40_000,)).numpy()
    y = d.icdf(torch.tensor(0.8, dtype=torch.float64)).numpy() + 0.5
    ours = d.crps(torch.as_tensor(y)).numpy()
    sr = np.asarray(scoringrules.crps_ensemble(y, samples, m_axis=0))
    np.testing.assert_allclose(ours, sr, rtol=0.02)
    for i, j in [(0, 0), (1, 3), (2, 1)]:
        ps = properscoring.crps_ensemble(y[i, j], samples[:3000, i, j])
        assert ours[i, j] == pytest.approx(ps, rel=0.06)


def test_moments_match_quadrature_and_samples(name):
    d = make_distr(name)
    for idx in [(0, 1), (2, 2)]:
        q = scalar_q(d, idx)
        pts = breakpoints(d, idx)
        m, _ = integrate.quad(q, 0, 1, points=pts, limit=500)
        v, _ = integrate.quad(lambda a: (q(a) - m) ** 2, 0, 1, points=pts, limit=500)
        assert d.mean[idx].item() == pytest.approx(m, rel=1e-8, abs=1e-10)
        assert d.variance[idx].item() == pytest.approx(v, rel=1e-7)
        # entropy = -E[log f(X)] = -int_0^1 log f(q(a)) da
        h, _ = integrate.quad(
            lambda a: -d.log_prob(torch.tensor(q(a), dtype=torch.float64))[idx].item(),
            0, 1, points=pts, limit=500,
        )
        assert d.entropy()[idx].item() == pytest.approx(h, rel=1e-6, abs=1e-8)
    torch.manual_seed(3)
    n = 400_000
    s = d.sample((n,))
    se = (d.variance / n).sqrt()
    assert ((s.mean(0) - d.mean).abs() < 5 * se).all()  # 5 standard errors
    torch.testing.assert_close(s.var(0), d.variance, rtol=0.05, atol=0)


def test_gradcheck_float64(name):
    levels, pieces = CONFIGS[name]
    out = IQFOutput(knot_levels=levels, num_pieces=pieces)
    gen = torch.Generator().manual_seed(4)
    raw = [
        torch.randn(2, 3, dim, generator=gen, dtype=torch.float64, requires_grad=True)
        for dim in out.args_dim.values()
    ]
    loc = torch.randn(2, 3, dtype=torch.float64, generator=gen, requires_grad=True)
    scale = torch.rand(2, 3, dtype=torch.float64, generator=gen).add(0.5).requires_grad_(True)
    u = torch.rand(5, 2, 3, dtype=torch.float64, generator=gen)
    with torch.no_grad():  # values where the distribution has its mass
        y = out.distribution(out.domain_map(*raw), loc=loc, scale=scale).sample((5,))

    def all_outputs(loc, scale, *raw):
        d = out.distribution(out.domain_map(*raw), loc=loc, scale=scale)
        return (d.icdf(u), d.cdf(y), d.log_prob(y), d.crps(y), d.mean, d.variance)

    assert torch.autograd.gradcheck(all_outputs, (loc, scale, *raw), eps=1e-7, atol=1e-6)
    # gradients with respect to the value too
    yv = y.clone().requires_grad_(True)
    d = out.distribution(out.domain_map(*[r.detach() for r in raw]), loc=loc.detach(), scale=scale.detach())
    assert torch.autograd.gradcheck(lambda v: (d.crps(v), d.cdf(v)), (yv,), eps=1e-7, atol=1e-6)


def test_float32_agrees_with_float64(name):
    d64 = make_distr(name, dtype=torch.float64)
    d32 = make_distr(name, dtype=torch.float32)
    assert d32.icdf(0.5).dtype == torch.float32
    y = d64.sample((20,))
    u = torch.rand(20, *BATCH, dtype=torch.float64)
    tol = dict(rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(d32.icdf(u.float()).double(), d64.icdf(u), **tol)
    torch.testing.assert_close(d32.cdf(y.float()).double(), d64.cdf(y), **tol)
    torch.testing.assert_close(d32.crps(y.float()).double(), d64.crps(y), **tol)
    torch.testing.assert_close(d32.log_prob(y.float()).double(), d64.log_prob(y), rtol=1e-3, atol=1e-3)
    torch.testing.assert_close(d32.mean.double(), d64.mean, **tol)
    torch.testing.assert_close(d32.variance.double(), d64.variance, rtol=1e-4, atol=1e-3)


def test_matches_gluonts_isqf(name):
    """Same knots, tails and spline fractions as GluonTS's ISQF: identical
    quantiles, cdf and CRPS (GluonTS's ISQF is the reference implementation
    of the paper). GluonTS's ISQF.cdf fails for 2-D batches with spline
    pieces (shape bug in its cdf_spline), so this oracle uses a flat batch."""
    BATCH = (12,)
    from gluonts.torch.distributions import ISQFOutput

    levels, pieces = CONFIGS[name]
    g_out = ISQFOutput(num_pieces=pieces, qk_x=levels)
    gen = torch.Generator().manual_seed(6)
    raw = [
        torch.randn(*BATCH, dim, generator=gen, dtype=torch.float64)
        for dim in g_out.args_dim.values()
    ]
    g_args = g_out.domain_map(*raw)
    g = g_out.distribution(g_args)
    spline_knots, spline_heights, beta_l, beta_r, qk_y = g_args
    K, S, tol = len(levels), pieces, g_out.tol

    def fractions(logits):
        p = torch.softmax(logits.reshape(*BATCH, K - 1, S), -1)
        return (p + tol) / (1 + S * tol)

    ours = IQF(
        levels, qk_y, beta_l, beta_r,
        fractions(spline_knots) if S > 1 else None,
        fractions(spline_heights) if S > 1 else None,
    )
    alpha = torch.tensor([0.01, 0.05, 0.2, 0.5, 0.77, 0.95, 0.995], dtype=torch.float64)
    levels_first = alpha.reshape(-1, 1).expand(-1, *BATCH)
    torch.testing.assert_close(
        ours.icdf(levels_first),
        g.quantile(levels_first),
        rtol=1e-9, atol=1e-9,
    )
    for z in ours.sample((3,)):  # GluonTS takes batch-shaped values only
        torch.testing.assert_close(ours.crps(z), g.crps(z), rtol=1e-7, atol=1e-9)
        torch.testing.assert_close(ours.cdf(z), g.cdf(z), rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_reference_values_from_methods(name, dtype):
    """docs/methods.md, "Reference values for tests" (GluonTS's ISQF
    unit-test constants)."""
    if name != "iqf-2":  # configuration-independent: run once per dtype
        pytest.skip("reference values do not depend on the registry config")
    t = lambda v: torch.tensor(v, dtype=dtype)
    d = IQF([0.1, 0.9], t([0.0, 1.0]), t(2.0), t(2.0))
    want = [0.5 * math.log(0.5), 0.25, 0.75, 1 + 0.5 * math.log(10)]
    torch.testing.assert_close(d.icdf(t([0.05, 0.3, 0.7, 0.99])), t(want))
    # left tail 0.0075 + right tail 0.0075 + spline 7/75
    torch.testing.assert_close(d.crps(t(0.5)), t(0.0075 + 0.0075 + 7 / 75))
    half = torch.full((2, 2), 0.5, dtype=dtype)
    d = IQF([0.1, 0.5, 0.9], t([0.0, 1.0, 2.0]), t(1.0), t(1.0), half, half)
    want = [math.log(0.1), 0.875, 1.625, 2 + math.log(2)]
    torch.testing.assert_close(d.icdf(t([0.01, 0.45, 0.75, 0.95])), t(want))
    # left tail 0.025 + right tail 0.005 + spline 44/75
    torch.testing.assert_close(d.crps(t(2.0)), t(0.025 + 0.005 + 44 / 75))
