"""HorizonAttention (MQ-Transformer's decoder-encoder attention) against an
explicit loop over creation times, steps and heads; its causality and
masking by autograd; the zero start of its output projection."""

import math

import pytest
import torch

from gluonts_iqf.nn.attention import HorizonAttention

B, C, H, E, P = 3, 12, 4, 5, 2


def _inputs(seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    enc = torch.randn(B, C, E, generator=g, dtype=dtype)
    positions = torch.randn(B, C + H, P, generator=g, dtype=dtype)
    observed = (torch.rand(B, C, generator=g) > 0.2).to(dtype)
    observed[0, :6] = 0  # a padded start
    observed[2] = 0  # a series with nothing observed
    return enc, positions, observed


def _block(seed=0, heads=2, dim=3):
    torch.manual_seed(seed)
    block = HorizonAttention(E, P, H, heads, dim).double()
    torch.nn.init.normal_(block.out.weight)  # off the zero start
    torch.nn.init.normal_(block.out.bias)
    return block


def _targets(positions, first):
    """Position features of creation time t's target positions t .. t + H - 1."""
    return torch.stack([positions[:, t : t + H] for t in range(first + 1, C + 1)], 1)


@pytest.mark.parametrize("first", [0, 5, C - 1])
def test_equals_an_explicit_loop(first):
    """Each (series, creation time, step, head): softmax over the observed
    positions s <= t - 1 of q . k_s / sqrt(d), the weighted values, the
    heads concatenated and projected (1e-12); zeros before the projection
    where no position is visible."""
    block = _block()
    enc, positions, observed = _inputs()
    got = block(enc, positions[:, :C], observed, _targets(positions, first), first)
    assert got.shape == (B, C - first, H, block.output_dim)
    nh, d = block.num_heads, block.head_dim
    for b in range(B):
        for i, e in enumerate(range(first, C)):
            visible = [s for s in range(e + 1) if observed[b, s] > 0]
            for h in range(H):
                q = block.query_enc(enc[b, e]) + block.query_pos(positions[b, e + 1 + h]) + block.step_embedding[h]
                heads = []
                for n in range(nh):
                    sl = slice(n * d, (n + 1) * d)
                    if not visible:
                        heads.append(torch.zeros(d, dtype=torch.float64))
                        continue
                    keys = torch.stack([block.key(torch.cat([enc[b, s], positions[b, s]]))[sl] for s in visible])
                    values = torch.stack([block.value(enc[b, s])[sl] for s in visible])
                    w = torch.softmax(keys @ q[sl] / math.sqrt(d), 0)
                    heads.append(w @ values)
                want = block.out(torch.cat(heads))
                torch.testing.assert_close(got[b, i, h], want, rtol=1e-12, atol=1e-12)


def test_no_creation_time_sees_later_or_unobserved_positions():
    """d(context of the creation time reading encoding e) / d(encoding at s)
    is 0 for s > e and for unobserved s, and not 0 for some observed s <= e
    (autograd, float64); nothing observed: zero gradient, no NaN."""
    block = _block()
    enc, positions, observed = _inputs()
    enc = enc.clone().requires_grad_(True)
    out = block(enc, positions[:, :C], observed, _targets(positions, 0), 0)
    for e in (2, 7, C - 1):
        (grad,) = torch.autograd.grad(out[:, e].sum(), enc, retain_graph=True)
        assert torch.isfinite(grad).all()
        assert (grad[:, e + 1 :] == 0).all()
        assert (grad[observed == 0] == 0).all()
        assert grad[1, : e + 1].abs().sum() > 0
    assert (grad[2] == 0).all()


def test_starts_at_zero_and_checks_its_sizes():
    """The output projection starts at zero (a network with the block starts
    as one without it); heads and their size must be positive."""
    torch.manual_seed(0)
    block = HorizonAttention(E, P, H, 2, 3)
    enc, positions, observed = _inputs(dtype=torch.float32)
    out = block(enc, positions[:, :C], observed, _targets(positions, C - 1), C - 1)
    assert out.shape == (B, 1, H, 6) and (out == 0).all()
    for heads, dim in ((0, 3), (2, 0)):
        with pytest.raises(ValueError, match="num_heads and head_dim"):
            HorizonAttention(E, P, H, heads, dim)


def test_without_position_features():
    """P = 0 (no known covariates): queries from the encodings and the step
    embedding alone; finite in float32."""
    torch.manual_seed(0)
    block = HorizonAttention(E, 0, H, 1, 4)
    torch.nn.init.normal_(block.out.weight)
    enc, _, observed = _inputs(dtype=torch.float32)
    out = block(enc, enc.new_zeros(B, C, 0), observed, enc.new_zeros(B, C, H, 0), 0)
    assert out.shape == (B, C, H, 4) and torch.isfinite(out).all()
