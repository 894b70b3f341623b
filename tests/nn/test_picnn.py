"""PICNN: convexity in x for any context, monotone gradient, positive
definite Hessian, closed-form gradient == autograd, zero-initialised context
path."""

import pytest
import torch

from gluonts_iqf.nn import PICNN
from gluonts_iqf.nn.picnn import MIN_CONVEXITY


def random_picnn(seed, dim=5, context_dim=3, layers=3, randomize_context=True, rank=None):
    torch.manual_seed(seed)
    m = PICNN(dim, context_dim, hidden_dim=16, num_layers=layers, context_hidden_dim=8, rank=rank).double()
    if randomize_context:  # trained networks have non-zero context paths
        for mods in (m.A, m.C, m.D):
            for lin in mods:
                torch.nn.init.normal_(lin.weight, std=0.5)
                torch.nn.init.normal_(lin.bias, std=0.5)
        with torch.no_grad():
            for p in m.P:
                p.add_(torch.randn_like(p) * 2)
    return m


@pytest.mark.parametrize("seed", range(5))
def test_convex_along_random_segments(seed):
    m = random_picnn(seed)
    g = torch.Generator().manual_seed(seed)
    x = 3 * torch.randn(64, 5, generator=g, dtype=torch.float64)
    y = 3 * torch.randn(64, 5, generator=g, dtype=torch.float64)
    h = torch.randn(64, 3, generator=g, dtype=torch.float64)
    for t in torch.linspace(0.05, 0.95, 7, dtype=torch.float64):
        lhs = m(t * x + (1 - t) * y, h)
        rhs = t * m(x, h) + (1 - t) * m(y, h)
        assert (lhs <= rhs + 1e-10).all()


@pytest.mark.parametrize("seed", range(5))
def test_gradient_is_monotone_and_matches_autograd(seed):
    m = random_picnn(seed)
    g = torch.Generator().manual_seed(100 + seed)
    x = 2 * torch.randn(128, 5, generator=g, dtype=torch.float64).requires_grad_(True)
    y = 2 * torch.randn(128, 5, generator=g, dtype=torch.float64)
    h = torch.randn(128, 3, generator=g, dtype=torch.float64)
    (auto,) = torch.autograd.grad(m(x, h).sum(), x)
    torch.testing.assert_close(m.gradient(x, h), auto, rtol=1e-12, atol=1e-12)
    gx, gy = m.gradient(x.detach(), h), m.gradient(y, h)
    inner = ((gx - gy) * (x.detach() - y)).sum(-1)
    # strong monotonicity: >= mu ||x - y||^2
    assert (inner >= m.mu.item() * ((x.detach() - y) ** 2).sum(-1) - 1e-9).all()


@pytest.mark.parametrize("seed, dim, rank", [(0, 5, None), (1, 5, None), (2, 5, None), (3, 12, 3)])
def test_gradient_batch_first_layout(seed, dim, rank):
    """x (B, S, d) with batch_first=True: the same gradient (autograd oracle
    on the sample-first layout, tolerance 1e-12 in float64) and the same
    parameter gradients through it (the sampling path stays trainable), for
    the (d, d) quadratic product (rank >= d / 2) and the thin one."""
    m = random_picnn(seed, dim=dim, rank=rank)
    g = torch.Generator().manual_seed(300 + seed)
    B, S = 16, 6
    x = 2 * torch.randn(S, B, dim, generator=g, dtype=torch.float64).requires_grad_(True)
    h = torch.randn(B, 3, generator=g, dtype=torch.float64)
    (auto,) = torch.autograd.grad(m(x, h).sum(), x)
    bf = m.gradient(x.detach().transpose(0, 1).contiguous(), h, batch_first=True)
    torch.testing.assert_close(bf.transpose(0, 1), auto, rtol=1e-12, atol=1e-12)
    w = torch.randn(S, B, dim, generator=g, dtype=torch.float64)
    params = [p for p in m.parameters() if p.requires_grad]  # the output layer's biases are not trained (no effect on the gradient)
    p1 = torch.autograd.grad((m.gradient(x.detach(), h) * w).sum(), params, allow_unused=True)
    p2 = torch.autograd.grad(
        (m.gradient(x.detach().transpose(0, 1), h, batch_first=True) * w.transpose(0, 1)).sum(),
        params, allow_unused=True)
    assert sum(a is not None for a in p1) > len(params) // 2
    for a, b in zip(p1, p2):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="batch_first"):
        m.gradient(x.detach().reshape(-1, dim), h, batch_first=True)


@pytest.mark.parametrize("seed", range(3))
def test_hessian_symmetric_positive_definite(seed):
    m = random_picnn(seed, layers=2)
    g = torch.Generator().manual_seed(200 + seed)
    x = torch.randn(32, 5, generator=g, dtype=torch.float64)
    h = torch.randn(32, 3, generator=g, dtype=torch.float64)
    H = m.hessian(x, h)
    assert H.shape == (32, 5, 5)
    torch.testing.assert_close(H, H.transpose(1, 2), rtol=0, atol=1e-12)
    assert (torch.linalg.eigvalsh(H) >= MIN_CONVEXITY - 1e-12).all()
    ref = torch.stack([torch.autograd.functional.hessian(lambda xx: m(xx.unsqueeze(0), h[i : i + 1]).sum(), x[i]) for i in range(4)])
    torch.testing.assert_close(H[:4], ref, rtol=1e-10, atol=1e-10)


def test_context_path_starts_at_zero():
    m = random_picnn(0, randomize_context=False)
    x = torch.randn(8, 5, dtype=torch.float64)
    h1, h2 = torch.randn(8, 3, dtype=torch.float64), torch.randn(8, 3, dtype=torch.float64)
    torch.testing.assert_close(m.gradient(x, h1), m.gradient(x, h2))


def test_bad_sizes():
    with pytest.raises(ValueError, match="PICNN needs"):
        PICNN(0, 3)
    for share in (-0.1, 1.0):
        with pytest.raises(ValueError, match="quadratic_share"):
            PICNN(3, 2, quadratic_share=share)


def _standardised_targets(dim, seed=0, n=4000):
    g = torch.Generator().manual_seed(seed)
    return 0.5 + 2.0 * torch.randn(n, dim, generator=g, dtype=torch.float64)


def _spread(y):
    med = y.median(0).values
    return 1.4826 * (y - med).abs().median()


@pytest.mark.parametrize("dim, rank", [(6, None), (12, 4)])
def test_quadratic_share_splits_the_initial_slope(dim, rank):
    """With ``quadratic_share`` q the data-dependent start gives ``mu = (1 -
    q) s`` and ``L0 L0^T`` with mean diagonal ``q s`` (``q s I`` exactly at
    full rank), so ``mu + diag(L0 L0^T)`` averages the spread ``s`` that
    ``mu`` alone had with q = 0; the offset is the same."""
    y = _standardised_targets(dim)
    s = _spread(y)
    torch.manual_seed(0)
    m = PICNN(dim, 3, hidden_dim=8, rank=rank, quadratic_share=0.8).double()
    m.init_from_data(y)
    M = m.L0 @ m.L0.T
    torch.testing.assert_close(m.mu, 0.2 * s, rtol=1e-9, atol=0)
    torch.testing.assert_close(torch.diagonal(M).mean(), 0.8 * s, rtol=1e-9, atol=0)
    if rank is None:
        torch.testing.assert_close(M, 0.8 * s * torch.eye(dim, dtype=torch.float64), rtol=0, atol=1e-9)
    torch.manual_seed(0)
    ref = PICNN(dim, 3, hidden_dim=8, rank=rank).double()
    ref.init_from_data(y)
    torch.testing.assert_close(m.offset, ref.offset)
    torch.testing.assert_close(ref.mu, s, rtol=1e-9, atol=0)


def test_zero_quadratic_share_keeps_the_small_random_start():
    """q = 0 (the module's default, that of earlier versions): ``mu`` = the
    spread and ``L0`` its random start times ``sqrt(spread)``."""
    y = _standardised_targets(5, seed=1)
    torch.manual_seed(3)
    m = PICNN(5, 2, hidden_dim=8).double()
    L = m.L0.detach().clone()
    m.init_from_data(y)
    torch.testing.assert_close(m.mu, _spread(y), rtol=1e-9, atol=0)
    torch.testing.assert_close(m.L0, L * _spread(y).sqrt())


@pytest.mark.parametrize("d", [1, 2, 7, 8, 9, 48])
def test_matmul_narrow_equals_matmul(d):
    """The transposed product used for narrow outputs (2..8 columns) equals
    ``a @ W`` (float64, 1e-13), keeps the leading shape and is differentiable."""
    from gluonts_iqf.nn.picnn import _matmul_narrow

    g = torch.Generator().manual_seed(d)
    a = torch.randn(4, 5, 20, generator=g, dtype=torch.float64, requires_grad=True)
    W = torch.randn(20, d, generator=g, dtype=torch.float64, requires_grad=True)
    out = _matmul_narrow(a, W)
    assert out.shape == (4, 5, d)
    torch.testing.assert_close(out, a @ W, rtol=0, atol=1e-13)
    ga, gW = torch.autograd.grad(out.sum(), (a, W))
    ra, rW = torch.autograd.grad((a @ W).sum(), (a, W))
    torch.testing.assert_close(ga, ra, rtol=0, atol=1e-12)
    torch.testing.assert_close(gW, rW, rtol=0, atol=1e-12)


def test_the_last_layer_bias_is_not_trained():
    """The output layer's biases add a constant to the potential: the map
    (its gradient) does not depend on them, so they are frozen (and every
    trained parameter reaches the map, as data-parallel training needs)."""
    torch.manual_seed(0)
    m = PICNN(dim=3, hidden_dim=6, num_layers=2, context_dim=4)
    assert not m.out_bias[-1].requires_grad and not m.D[-1].weight.requires_grad
    x, h = torch.randn(5, 3, requires_grad=True), torch.randn(5, 4)
    trained = [p for p in m.parameters() if p.requires_grad]
    grads = torch.autograd.grad(m.gradient(x, h).pow(2).sum(), trained, allow_unused=True)
    assert all(g is not None for g in grads)
    before = m.gradient(x, h)
    with torch.no_grad():
        m.out_bias[-1].add_(3.0)
        m.D[-1].bias.add_(1.0)
    torch.testing.assert_close(m.gradient(x, h), before)
