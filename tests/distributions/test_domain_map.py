"""The maths of ``IQFOutput.domain_map`` (``_domain_map``): the floored
softmax of the spline fractions against ``torch.softmax`` and ``gradcheck``,
and the knot values and tail scales in both layouts (batch-major for the
eager head, knot-major for the compiled kernel)."""

import torch

from gluonts_iqf.distributions._domain_map import (
    PIECE_FRACTION_FLOOR,
    floored_softmax,
    knot_values,
    learned_tail_scales,
)


def test_floored_softmax_equals_softmax_with_floor():
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(4, 3, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(floored_softmax, (x,))
    ref = (torch.softmax(x, -1) + PIECE_FRACTION_FLOOR) / (1 + 5 * PIECE_FRACTION_FLOOR)
    torch.testing.assert_close(floored_softmax(x), ref, rtol=1e-14, atol=1e-15)
    # one interval far below the rest of its row: per-interval shift fallback
    x2 = x.detach().clone()
    x2[1, 2] -= 2000.0
    ref2 = (torch.softmax(x2, -1) + PIECE_FRACTION_FLOOR) / (1 + 5 * PIECE_FRACTION_FLOOR)
    torch.testing.assert_close(floored_softmax(x2), ref2, rtol=1e-14, atol=1e-15)
    assert torch.isfinite(floored_softmax(x2.float())).all()


def test_knot_values_and_tails_in_both_layouts():
    """First knot free, each next = previous + gap (softplus(raw) +
    min_slope), the same numbers batch-major (*b, K) and knot-major (K, N)."""
    gen = torch.Generator().manual_seed(1)
    levels = (0.05, 0.2, 0.5, 0.8, 0.95)
    raw = 3 * torch.randn(6, 5, generator=gen, dtype=torch.float64)
    tails = torch.randn(6, 2, generator=gen, dtype=torch.float64)
    gaps = torch.tensor([0.0, 0.15, 0.3, 0.3, 0.15], dtype=torch.float64)
    kv = knot_values(gaps, raw, 1e-3)
    steps = torch.nn.functional.softplus(raw[:, 1:]) + 1e-3
    torch.testing.assert_close(kv[:, 0], raw[:, 0], rtol=0, atol=0)
    torch.testing.assert_close(kv[:, 1:] - kv[:, :-1], gaps[1:] * steps, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(knot_values(gaps.unsqueeze(-1), raw.T, 1e-3, dim=0), kv.T, rtol=0, atol=0)
    s_left, s_right = learned_tail_scales((levels[0], levels[-1]), tails, 1e-3)
    t = torch.nn.functional.softplus(tails) + 1e-3
    torch.testing.assert_close(s_left, 0.05 * t[:, 0], rtol=1e-15, atol=0)
    torch.testing.assert_close(s_right, 0.05 * t[:, 1], rtol=1e-12, atol=0)
    for a, b in zip(learned_tail_scales((levels[0], levels[-1]), tails.T, 1e-3, dim=0), (s_left, s_right)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
