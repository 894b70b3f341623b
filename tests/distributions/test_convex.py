"""ConvexQuantileMap / ConvexQuantileOutput: quantile-map monotonicity,
inversion, exact and stochastic log densities against autograd Jacobians,
energy score against scoringrules, losses with missing values, bad input."""

import math

import numpy as np
import pytest
import scoringrules
import torch

from gluonts.core import serde

from gluonts_iqf.distributions.convex import (
    ConvexQuantileMap,
    ConvexQuantileOutput,
    InversionWarning,
    energy_score_samples,
)
from gluonts_iqf.nn import PICNN

B, D, HC = 5, 4, 3


def make(seed=0, dim=D, batch=B):
    torch.manual_seed(seed)
    m = PICNN(dim, HC, hidden_dim=8, num_layers=2, context_hidden_dim=6).double()
    for mods in (m.A, m.C, m.D):
        for lin in mods:
            torch.nn.init.normal_(lin.weight, std=0.3)
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(batch, HC, generator=g, dtype=torch.float64)
    loc = torch.randn(batch, dim, generator=g, dtype=torch.float64) * 10
    scale = torch.rand(batch, dim, generator=g, dtype=torch.float64) * 3 + 0.5
    return ConvexQuantileMap(m, h, loc=loc, scale=scale)


def jacobian_logdet(d, z):
    """Oracle: log |det dY/dz| of the map z -> loc + scale * grad G(z)."""
    out = []
    for i in range(z.shape[0]):
        f = lambda zz: d.loc[i] + d.scale[i] * d.picnn.gradient(zz.unsqueeze(0), d.context[i : i + 1]).squeeze(0)
        out.append(torch.linalg.slogdet(torch.autograd.functional.jacobian(f, z[i]))[1])
    return torch.stack(out)


def test_shapes_and_monotone_quantile_map():
    d = make()
    assert d.batch_shape == (B,) and d.event_shape == (D,)
    assert d.sample((7,)).shape == (7, B, D)
    g = torch.Generator().manual_seed(1)
    u = torch.rand(200, B, D, generator=g, dtype=torch.float64).clamp(1e-4, 1 - 1e-4)
    v = torch.rand(200, B, D, generator=g, dtype=torch.float64).clamp(1e-4, 1 - 1e-4)
    qu, qv = d.quantile(u), d.quantile(v)
    zu, zv = torch.special.ndtri(u), torch.special.ndtri(v)
    # monotone in the latent coordinates of the data scale
    inner = (((qu - qv) / d.scale) * (zu - zv)).sum(-1)
    assert (inner >= -1e-10).all()
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        d.quantile(torch.zeros(B, D))


@pytest.mark.parametrize("block", [None, 3 * 7 * D])
def test_sample_paths_is_the_map_of_batch_first_normals(monkeypatch, block):
    """sample_paths(n) == loc + scale * grad G(z) for z the (B, n, d) normals
    it draws (one block, or blocks of 3 rows: one randn per block, in
    order), to 1e-12 in float64; the same values with gradients enabled,
    and those gradients reach the PICNN's parameters."""
    import gluonts_iqf.distributions.convex as convex

    if block is not None:
        monkeypatch.setattr(convex, "SAMPLE_BLOCK_ELEMENTS", block)
    d, n = make(3), 7
    torch.manual_seed(11)
    with torch.no_grad():
        paths = d.sample_paths(n)
    assert paths.shape == (B, n, D)
    torch.manual_seed(11)
    rows = B if block is None else 3
    z = torch.cat([torch.randn(min(rows, B - i), n, D, dtype=torch.float64) for i in range(0, B, rows)])
    expected = d._map(z.transpose(0, 1)).transpose(0, 1)
    torch.testing.assert_close(paths, expected, rtol=1e-12, atol=1e-12)
    torch.manual_seed(11)
    with_grad = d.sample_paths(n)
    torch.testing.assert_close(with_grad, paths, rtol=0, atol=0)
    with_grad.sum().backward()
    assert d.picnn.first.weight.grad is not None and torch.isfinite(d.picnn.first.weight.grad).all()


def test_inversion_round_trip():
    d = make()
    y = d.sample()
    inv = d.invert(y)
    assert bool(inv.converged.all()) and inv.iterations <= 20
    torch.testing.assert_close(d._map(inv.z), y, rtol=1e-8, atol=1e-8)


def test_non_convergence_is_reported():
    d = make()
    y = d.sample().detach()
    with pytest.warns(InversionWarning, match="did not converge"):
        inv = d.invert(y, tol=1e-15, max_iter=1)
    assert not bool(inv.converged.all())


def test_exact_log_prob_matches_jacobian_oracle():
    d = make()
    y = d.sample((1,))[0]
    z = d.invert(y).z
    ref = -0.5 * (z * z).sum(-1) - 0.5 * D * math.log(2 * math.pi) - jacobian_logdet(d, z)
    torch.testing.assert_close(d.log_prob(y), ref, rtol=1e-8, atol=1e-8)


def test_log_prob_integrates_to_one_in_1d():
    d = make(dim=1, batch=2)
    full = lambda v: torch.full((2, 1), v, dtype=torch.float64)
    with torch.no_grad():
        lo, hi = d.quantile(full(1e-9)), d.quantile(full(1 - 1e-9))
    for i in range(2):
        grid = torch.linspace(lo[i, 0].item(), hi[i, 0].item(), 4001, dtype=torch.float64)
        dd = ConvexQuantileMap(d.picnn, d.context[i : i + 1].expand(4001, -1), d.loc[i : i + 1].expand(4001, -1), d.scale[i : i + 1].expand(4001, -1))
        with torch.no_grad():
            dens = dd.log_prob(grid.unsqueeze(-1)).exp()
        assert torch.trapezoid(dens, grid).item() == pytest.approx(1.0, abs=1e-4)


@pytest.mark.slow
def test_stochastic_log_prob_close_to_exact():
    torch.manual_seed(3)
    d = make(dim=12)
    y = d.sample()
    exact = d.log_prob(y)
    torch.manual_seed(4)
    est = d.log_prob(y, exact=False, num_probes=100)
    torch.testing.assert_close(est, exact, rtol=0, atol=0.05)  # 100 probes (seeded)


def test_log_prob_gradients_match_finite_differences():
    d = make(dim=3, batch=2)
    y = d.sample().detach()
    p = d.picnn.first.weight
    loss = -d.log_prob(y).sum()
    (grad,) = torch.autograd.grad(loss, p)
    eps = 1e-6
    with torch.no_grad():
        p[0, 0] += eps
        up = -d.log_prob(y).sum()
        p[0, 0] -= 2 * eps
        down = -d.log_prob(y).sum()
        p[0, 0] += eps
    assert grad[0, 0].item() == pytest.approx(((up - down) / (2 * eps)).item(), rel=1e-5, abs=1e-7)


@pytest.mark.slow
def test_energy_score_matches_scoringrules():
    d = make()
    torch.manual_seed(5)
    y = d.sample().detach()
    with torch.no_grad():
        samples = d.sample((3000,))
    ours = energy_score_samples(samples, y).numpy()
    members = samples.numpy().transpose(1, 0, 2)
    # scoringrules' torch backend: its numba one spends ~30 s compiling
    fair = np.asarray(scoringrules.es_ensemble(y.numpy(), members, estimator="fair", backend="torch"))
    # ours is the unbiased (fair) estimator: the same number up to rounding
    np.testing.assert_allclose(ours, fair, rtol=1e-10)
    ref = np.asarray(scoringrules.es_ensemble(y.numpy(), members, backend="torch"))
    # the plug-in estimator differs by E||X - X'|| / (2 m), under 0.1 % here
    np.testing.assert_allclose(ours, ref, rtol=1e-3)
    torch.manual_seed(6)
    with torch.no_grad():
        est = d.energy_score(y, num_samples=3000)
    np.testing.assert_allclose(est.numpy(), ref, rtol=0.05)  # independent draws: MC error


def test_energy_score_mask_scores_observed_marginal():
    samples = torch.randn(50, 3, 4, dtype=torch.float64)
    y = torch.randn(3, 4, dtype=torch.float64)
    mask = torch.tensor([[1, 1, 0, 0]] * 3, dtype=torch.float64)
    torch.testing.assert_close(
        energy_score_samples(samples, y, mask=mask), energy_score_samples(samples[..., :2], y[..., :2])
    )


def _energy_score_by_differences(samples, y, beta, mask=None):
    """Oracle: the unbiased energy score from explicit difference vectors,
    differentiated by autograd (no Gram matrix, no hand-written backward)."""
    m = samples.shape[0]
    diff = samples - y
    pair = samples.unsqueeze(0) - samples.unsqueeze(1)  # (m, m, B, d)
    if mask is not None:
        diff, pair = diff * mask, pair * mask
    first = diff.norm(dim=-1).pow(beta).mean(0)
    off = ~torch.eye(m, dtype=torch.bool)
    dist = pair[off].norm(dim=-1).pow(beta)  # (m (m - 1), B)
    return first - dist.sum(0) / (2 * m * (m - 1))


@pytest.mark.parametrize("beta", [1.0, 0.7, 1.5])
@pytest.mark.parametrize("masked", [False, True])
def test_energy_score_closed_form_backward(beta, masked):
    """The pairwise term's hand-written backward equals autograd through
    explicit differences, and passes gradcheck, with and without a mask and
    with two coincident samples (their pair contributes no gradient)."""
    g = torch.Generator().manual_seed(11)
    samples = torch.randn(9, 3, 4, generator=g, dtype=torch.float64)
    samples[4] = samples[2]  # coincident pair
    y = torch.randn(3, 4, generator=g, dtype=torch.float64)
    mask = (torch.rand(3, 4, generator=g) > 0.3).to(torch.float64) if masked else None
    x = samples.clone().requires_grad_(True)
    (ours,) = torch.autograd.grad(energy_score_samples(x, y, beta, mask).sum(), x)
    x2 = samples.clone().requires_grad_(True)
    # the oracle's norm is not differentiable at 0: drop the coincident pair
    # from its autograd by evaluating the pair's distance at a detached copy
    ref_val = _energy_score_by_differences(x2, y, beta, mask)
    torch.testing.assert_close(energy_score_samples(samples, y, beta, mask), ref_val.detach(), rtol=1e-12, atol=1e-12)
    distinct = samples.clone()
    distinct[4] += 1e-3  # away from the kink, the oracle's autograd is valid
    x3 = distinct.clone().requires_grad_(True)
    (ref,) = torch.autograd.grad(_energy_score_by_differences(x3, y, beta, mask).sum(), x3)
    x4 = distinct.clone().requires_grad_(True)
    (ours_distinct,) = torch.autograd.grad(energy_score_samples(x4, y, beta, mask).sum(), x4)
    torch.testing.assert_close(ours_distinct, ref, rtol=1e-10, atol=1e-10)
    assert torch.isfinite(ours).all()
    torch.autograd.gradcheck(
        lambda s: energy_score_samples(s, y, beta, mask), (distinct.clone().requires_grad_(True),)
    )


@pytest.mark.parametrize("loss", ["energy", "nll"])
def test_output_losses_with_missing_values(loss):
    out = ConvexQuantileOutput(dim=D, hidden_dim=8, loss=loss, es_num_samples=16)
    torch.manual_seed(0)
    picnn = out.make_picnn(HC).double()
    h = torch.randn(B, HC, dtype=torch.float64)
    target = torch.randn(B, D, dtype=torch.float64) * 5 + 20
    scale = torch.full((B, 1), 5.0, dtype=torch.float64)
    loc = torch.full((B, 1), 20.0, dtype=torch.float64)
    target[0, 1] = float("nan")
    observed = torch.ones(B, D, dtype=torch.float64)
    observed[2, 3] = 0
    values = out.loss(target, picnn, h, loc=loc, scale=scale, observed=observed)
    assert values.shape == (B,) and torch.isfinite(values).all()
    values.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in picnn.parameters() if p.grad is not None)
    if loss == "nll":
        assert values[0] == 0 and values[2] == 0


def test_output_settings_and_serde():
    out = ConvexQuantileOutput(dim=6, hidden_dim=12, loss="nll", es_num_samples=30, beta=1.5,
                               quadratic_share=0.7)
    back = serde.decode(serde.encode(out))
    assert (back.dim, back.hidden_dim, back.loss_name, back.es_num_samples, back.beta) == (6, 12, "nll", 30, 1.5)
    assert back.quadratic_share == 0.7 and back.make_picnn(4).quadratic_share == 0.7
    # the default keeps the start of earlier versions (saved heads have no such argument)
    assert ConvexQuantileOutput(dim=3).make_picnn(2).quadratic_share == 0.0
    for kwargs, msg in [
        (dict(quadratic_share=1.0), "quadratic_share"),
        (dict(loss="crps"), "loss"),
        (dict(es_num_samples=1), "es_num_samples"),
        (dict(beta=2.0), "beta"),
        (dict(dim=0), "dim"),
    ]:
        with pytest.raises(ValueError, match=msg):
            ConvexQuantileOutput(**{"dim": 3, **kwargs})


def test_large_dimension_uses_estimator_and_refuses_forced_exact():
    from gluonts_iqf.distributions.convex import EXACT_LOGDET_MAX_DIM

    d = make(dim=EXACT_LOGDET_MAX_DIM + 1, batch=2)
    y = d.sample().detach()
    with pytest.raises(ValueError, match="exact log-determinant requested"):
        d.log_prob(y, exact=True)
    torch.manual_seed(0)
    lp = d.log_prob(y, num_probes=4)  # default switches to the estimator
    assert lp.shape == (2,) and torch.isfinite(lp).all()
