"""The maths of :meth:`IQFOutput.domain_map`: raw network outputs -> knot
values, tail scales and spline fractions (docs/methods.md, IQF section)."""

import math
from typing import Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from ._common import cumulative_sum, row_blocks, row_sum

#: Each spline piece gets at least this share (before renormalising) of its
#: inter-knot interval, along levels and along values, as in GluonTS's ISQF
#: ``tol``: keeps ``1 / dx`` finite in float32.
PIECE_FRACTION_FLOOR = 1e-4


def knot_values(gaps: Tensor, raw: Tensor, min_slope: float, dim: int = -1) -> Tensor:
    """Knot values from raw outputs along ``dim`` (K entries): the first is
    free, each next = previous + gap x (softplus(raw) + min_slope), written as
    one cumulative sum with a zero gap in front (same numbers; softplus is
    many times slower on a strided slice).

    gaps : Tensor, shape (K,) along ``dim``, broadcastable to ``raw``
        ``0, a_2 - a_1, ..., a_K - a_{K-1}``.
    raw : Tensor, shape (*b, K) for ``dim=-1`` (or (K, N) for ``dim=0``).
    """
    steps = gaps * (F.softplus(raw) + min_slope)
    return cumulative_sum(steps, dim, raw.narrow(dim, 0, 1))


def learned_tail_scales(
    outer_levels: Tuple[float, float], raw: Tensor, min_slope: float, dim: int = -1
) -> Tuple[Tensor, Tensor]:
    """Tail scales ``a_1 (softplus(raw_L) + min_slope)`` and ``(1 - a_K)
    (softplus(raw_R) + min_slope)`` from raw outputs with 2 entries along
    ``dim`` (left, right): the density is continuous at the outer knots when
    the raw tail and interval outputs agree."""
    t = F.softplus(raw) + min_slope  # on the contiguous block: fast
    a0, an = outer_levels
    return a0 * t.select(dim, 0), (1.0 - an) * t.select(dim, 1)


def fitted_tail_scales(
    levels: Sequence[float], knot_values: Tensor
) -> Tuple[Tensor, Tensor]:
    """MQ-CNN's tail extrapolation: the exponential tail through the two
    outermost knots on each side.

    levels : K floats, knot_values : (*b, K) -> scales ``s_left, s_right``
    (*b,).
    """
    s_left = (knot_values[..., 1] - knot_values[..., 0]) / math.log(
        levels[1] / levels[0]
    )
    s_right = (knot_values[..., -1] - knot_values[..., -2]) / math.log(
        (1 - levels[-2]) / (1 - levels[-1])
    )
    return s_left, s_right


class _FlooredSoftmax(torch.autograd.Function):
    """``(softmax(logits) + floor) / (1 + S floor)`` over the last axis of
    ``logits`` (*b, K - 1, S), in row blocks, with a hand-written backward.
    See :func:`floored_softmax`."""

    @staticmethod
    def forward(ctx, logits: Tensor, floor: float) -> Tensor:
        S = logits.shape[-1]
        c1 = 1.0 / (1.0 + S * floor)
        flat = logits.reshape(-1, *logits.shape[-2:])  # (n, K - 1, S)
        out = torch.empty_like(flat)
        tiny = math.sqrt(torch.finfo(flat.dtype).tiny)
        for b in row_blocks(flat.shape[0], flat[0].numel()):
            x, e = flat[b], out[b]
            # shift by the maximum over all pieces of a batch element (one
            # fast reduction over a long row instead of one per interval); if
            # that leaves an interval's exponentials near underflow, shift
            # each interval by its own maximum instead
            shift = x.flatten(-2).amax(-1).reshape(-1, 1, 1)
            torch.sub(x, shift, out=e).exp_()
            total = row_sum(e)
            if bool((total < tiny).any()):
                torch.sub(x, x.amax(-1, keepdim=True), out=e).exp_()
                total = row_sum(e)
            e.mul_((c1 / total).unsqueeze(-1)).add_(floor * c1)
        ctx.save_for_backward(out)
        ctx.floor, ctx.c1 = floor, c1
        return out.reshape(logits.shape)

    @staticmethod
    def backward(ctx, grad: Tensor):
        (out,) = ctx.saved_tensors
        c1, c2 = ctx.c1, ctx.floor * ctx.c1
        g = grad.reshape(out.shape)
        res = torch.empty_like(out)
        for b in row_blocks(out.shape[0], out[0].numel()):
            # with v = out - c2 = c1 softmax: d/dx_j = v_j (g_j - sum_i g_i v_i / c1)
            gb, r = g[b], res[b]
            v = out[b] - c2
            dot = row_sum(torch.mul(gb, v, out=r)).div_(c1).unsqueeze(-1)
            torch.sub(gb, dot, out=r).mul_(v)
        return res.reshape(grad.shape), None


def floored_softmax(logits: Tensor, floor: float = PIECE_FRACTION_FLOOR) -> Tensor:
    """Softmax over the last axis with every share >= floor / (1 + S floor);
    ``logits`` (*b, K - 1, S) -> spline fractions of the same shape.

    A custom autograd function (a few fused passes forward and backward):
    ``torch.softmax`` and autograd's generic chain are slow for the short last
    axes used here (S ~ 10 pieces).
    """
    return _FlooredSoftmax.apply(logits, floor)
