"""The I(S)QF's queries from its knots, without the (B, N) spline grid.

With spline pieces, the grid has N = (K - 1) S + 1 points per batch element;
building it (and its cumulative integrals) dominates every query that needs
only a handful of values per element. The functions below work instead with
the knots (B, K) and, inside each interval, with the normalised spline
``eta(xi)`` on the unit square: ``xi = (a - a_k) / g_k`` and ``eta = (q -
q_k) / d_k`` (g_k, d_k the interval's level width and value height), a
piecewise-linear map through the points ``(cumsum(w)_s, cumsum(h)_s)`` of
the interval's width / height fractions ``w``, ``h`` (S,). Everything the
queries need from an interval is

* ``I1 = int_0^1 eta dxi = sum_s w_s m_s`` and
  ``I2 = int_0^1 xi eta dxi = sum_s w_s (mxi_s m_s + w_s h_s / 12)``, with
  the piece midpoints ``mxi = cumsum(w) - w / 2``, ``m = cumsum(h) - h / 2``
  (:func:`shape_integrals`, one pass over the (B, K - 1, S) fractions);
* for a query inside the interval, the map ``eta -> xi`` (or back) and the
  partial integral ``int_0^xi eta``, from that interval's S fractions only
  (:func:`unit_spline`).

The knot-level integrals themselves are :func:`._grid.integrals` with these
``I1``, ``I2``. The maths is in docs/methods.md, IQF section.
"""

from typing import Optional, Tuple

import torch
from torch import Tensor

from ._common import cdf_with_tails, crps_with_tails, ordered_sum, row_blocks, row_sum
from ._grid import find_bins


def _mid_cumsum(v: Tensor) -> Tensor:
    """``cumsum(v) - v / 2`` along the last axis (piece midpoints)."""
    return torch.cumsum(v, -1).sub_(v, alpha=0.5)


def _shape_integrals_block(w: Tensor, h: Tensor):
    """``mxi, m, t = w m, I1, I2`` of a block of intervals (.., S)."""
    mxi = _mid_cumsum(w)
    m = _mid_cumsum(h)
    t = w * m
    i1 = row_sum(t)
    x = torch.mul(w, w).mul_(h).mul_(1.0 / 12.0).addcmul_(t, mxi)
    return mxi, m, t, i1, row_sum(x)


class _ShapeIntegrals(torch.autograd.Function):
    """``(I1, I2)`` of every interval from its fractions, in row blocks, with
    a hand-written backward (recomputes the block's midpoints instead of
    saving them).

    Derivatives, with ``L(v)_t = sum_{s > t} v_s + v_t / 2 = sum(v) -
    mid(v)_t`` (the transpose of the midpoint map ``mid(v) = cumsum(v) - v/2``)::

        dI1/dw = m                dI1/dh = L(w)
        dI2/dw = mxi m + L(w m) + w h / 6
        dI2/dh = L(w mxi) + w^2 / 12
    """

    @staticmethod
    def forward(ctx, w: Tensor, h: Tensor, rows: Optional[Tensor]):
        # w, h ~ (B, K - 1, S); rows ~ (R,) flat indices into (B (K - 1), S)
        i1 = w.new_empty(w.shape[:-1])
        i2 = w.new_empty(w.shape[:-1])
        for b in row_blocks(w.shape[0], w[0].numel()):
            _, _, _, i1[b], i2[b] = _shape_integrals_block(w[b], h[b])
        ctx.save_for_backward(w, h, rows)
        if rows is None:
            return i1, i2
        S = w.shape[-1]
        w_rows = w.reshape(-1, S).index_select(0, rows)
        h_rows = h.reshape(-1, S).index_select(0, rows)
        return i1, i2, w_rows, h_rows

    @staticmethod
    def backward(ctx, g1: Optional[Tensor], g2: Optional[Tensor], *g_rows):
        w, h, rows = ctx.saved_tensors
        if g1 is None:
            g1 = torch.zeros(w.shape[:-1], dtype=w.dtype, device=w.device)
        if g2 is None:
            g2 = torch.zeros(w.shape[:-1], dtype=w.dtype, device=w.device)
        need_w, need_h = ctx.needs_input_grad[:2]
        grad_w = torch.empty_like(w) if need_w else None
        grad_h = torch.empty_like(h) if need_h else None
        for b in row_blocks(w.shape[0], w[0].numel()):
            wb, hb, G1, G2 = w[b], h[b], g1[b], g2[b]
            G1e, G2e = (g.unsqueeze(-1).expand(wb.shape).contiguous() for g in (G1, G2))
            cw = torch.cumsum(wb, -1)
            m = torch.cumsum(hb, -1).sub_(hb, alpha=0.5)
            t = wb * m
            if need_w:
                # G2 (mxi m + w h / 6 + L(t)) + G1 m
                #   = G2 (m cumsum(w) + w h / 6 - cumsum(t) + I1) + G1 m
                a = torch.mul(m, cw, out=grad_w[b])
                a.addcmul_(wb, hb, value=1.0 / 6.0).sub_(torch.cumsum(t, -1))
                a.mul_(G2e).addcmul_(G1e, m)
                a.add_((G2 * row_sum(t)).unsqueeze(-1))
            if need_h:
                # G2 (L(u) + w^2 / 12) + G1 L(w), u = w mxi, L(v) = sum(v) - mid(v)
                mxi = cw.sub_(wb, alpha=0.5)
                u = wb * mxi
                c = torch.cumsum(u, -1, out=grad_h[b])
                c.sub_(u, alpha=0.5).neg_().addcmul_(wb, wb, value=1.0 / 12.0)
                c.mul_(G2e).addcmul_(G1e, mxi, value=-1.0)
                sum_w = mxi[..., -1] + 0.5 * wb[..., -1]
                c.add_((G2 * row_sum(u) + G1 * sum_w).unsqueeze(-1))
        # gradients of the gathered rows go straight into the same buffers
        # (autograd would zero-fill two more (B, K - 1, S) tensors and add them)
        S = w.shape[-1]
        unique = rows is not None and rows.shape[0] == w.shape[0]  # one per element
        for grad, g in zip((grad_w, grad_h), g_rows):
            if grad is not None and g is not None:
                flat = grad.view(-1, S)
                if unique:  # no repeated rows: gather, add, scatter back
                    flat.index_copy_(0, rows, flat.index_select(0, rows).add_(g))
                else:
                    flat.index_add_(0, rows, g)
        return grad_w, grad_h, None


def shape_integrals(widths: Tensor, heights: Tensor) -> Tuple[Tensor, Tensor]:
    """``I1 = int_0^1 eta(xi) dxi`` and ``I2 = int_0^1 xi eta(xi) dxi`` of
    every interval's normalised spline.

    Parameters
    ----------
    widths, heights : Tensor, shape (B, K - 1, S)
        Level-width and value-height fractions of the pieces (each row sums
        to 1).

    Returns
    -------
    I1, I2 : Tensor, shape (B, K - 1)
        ``1/2`` and ``1/3`` for a straight line (one piece).
    """
    return _ShapeIntegrals.apply(widths, heights, None)


def shape_integrals_and_rows(
    widths: Tensor, heights: Tensor, k: Tensor
) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """:func:`shape_integrals` and :func:`interval_rows` of ``k`` (B, M) in
    one autograd node, so that the backward accumulates both gradients in
    one pair of (B, K - 1, S) buffers. Returns ``I1, I2`` (B, K - 1) and the
    rows of ``widths``, ``heights`` (B, M, S)."""
    B, M = k.shape
    n, S = widths.shape[-2], widths.shape[-1]
    rows = (k + n * torch.arange(B, device=k.device).unsqueeze(-1)).reshape(-1)
    i1, i2, w, h = _ShapeIntegrals.apply(
        widths.contiguous(), heights.contiguous(), rows
    )
    return i1, i2, w.reshape(B, M, S), h.reshape(B, M, S)


def unit_spline(
    src: Tensor, dst: Tensor, t: Tensor, integral: bool = False
) -> Tuple[Tensor, Optional[Tensor]]:
    """Map positions through an interval's normalised spline.

    Parameters
    ----------
    src, dst : Tensor, shape (B, M, S)
        Fractions of the pieces along the known axis (``src``) and the wanted
        one (``dst``), e.g. heights and widths to go from ``eta`` to ``xi``.
    t : Tensor, shape (B, M)
        Positions in [0, 1] along the known axis.
    integral : bool
        Also return ``int_0^out src-position d(dst-position)``, i.e. ``int_0^xi
        eta dxi`` when ``src`` are heights and ``dst`` widths.

    Returns
    -------
    out : Tensor, shape (B, M)
        ``sum_s dst_s r_s`` with ``r_s = clip((t - start_s) / src_s, 0, 1)``
        the share of piece s below ``t``. A piece with ``src_s = 0`` (a flat
        piece, an atom) counts as passed once ``t`` reaches it, so a cdf
        includes the atom's mass.
    partial : Tensor, shape (B, M), or None
        ``sum_s dst_s r_s (start_s + src_s r_s / 2)``.
    """
    end = torch.cumsum(src, -1)
    # r = clip((t - start) / src, 0, 1) written against the piece's end, with
    # a flat piece's 1 / src huge but finite: no division by zero, no `where`
    inv = 1.0 / torch.clamp(src, min=torch.finfo(src.dtype).tiny)
    r = torch.addcmul(
        torch.ones((), dtype=src.dtype, device=src.device), t.unsqueeze(-1) - end, inv
    ).clamp_(0.0, 1.0)
    dr = dst * r
    # fixed-order sums: monotone in t, independent of the query's shape
    out = ordered_sum(dr)
    if not integral:
        return out, None
    # start + src r / 2 = end - src (1 - r / 2)
    return out, ordered_sum(dr * torch.addcmul(end, src, r, value=0.5).sub_(src))


def _knot_position(
    levels: Tensor, y: Tensor, z: Tensor, widths, heights, integral, k=None, rows=None
):
    """Interval, knot quantities and in-interval position of values ``z``
    (B, M) on the knots ``y`` (B, K) joined by the spline pieces
    ``widths``/``heights`` (B, K - 1, S), or their rows ``(w, h)`` (B, M, S)
    at the intervals ``k`` when given. Returns ``k, a_k, g_k, y_k, d_k, xi, J`` (each (B, M); J =
    ``int_0^xi eta``, only when ``integral``)."""
    if k is None:
        k = find_bins(y, z)
    yk = torch.gather(y, -1, k)
    dk = torch.gather(y, -1, k + 1) - yk
    ak = levels[k]
    gk = levels[k + 1] - ak
    flat = dk <= 0
    eta = torch.where(flat, 1.0, ((z - yk) / torch.where(flat, 1.0, dk)).clamp(0.0, 1.0))
    w, h = interval_rows(k, widths, heights) if rows is None else rows
    xi, J = unit_spline(h, w, eta, integral)
    return k, ak, gk, yk, dk, xi, J


def interval_rows(k: Tensor, *tables: Tensor) -> Tuple[Tensor, ...]:
    """``table[b, k[b, m], :]`` for each table (B, K - 1, S) and interval
    index ``k`` (B, M) -> (B, M, S) each (whole-row copies: ``index_select``
    on the (B (K - 1), S) view, much faster than ``gather`` with an expanded
    index)."""
    B, M = k.shape
    n, S = tables[0].shape[-2], tables[0].shape[-1]
    rows = (k + n * torch.arange(B, device=k.device).unsqueeze(-1)).reshape(-1)
    return tuple(t.reshape(B * n, S).index_select(0, rows).reshape(B, M, S) for t in tables)


def cdf_knots(
    levels: Tensor,
    y: Tensor,
    s_left: Tensor,
    s_right: Tensor,
    z: Tensor,
    widths: Tensor,
    heights: Tensor,
) -> Tensor:
    """:func:`._grid.cdf` from the knots (B, K) and the spline fractions
    (B, K - 1, S) without building the grid, for few values per batch
    element. Shapes: ``levels`` (K,), ``s_*`` (B,), ``z`` (B, M) -> (B, M)."""
    _, ak, gk, _, _, xi, _ = _knot_position(levels, y, z, widths, heights, False)
    return cdf_with_tails(
        z, torch.addcmul(ak, gk, xi), levels[0], y[:, :1], s_left.unsqueeze(-1),
        levels[-1], y[:, -1:], s_right.unsqueeze(-1),
    )


def crps_knots(
    levels: Tensor,
    y: Tensor,
    s_left: Tensor,
    s_right: Tensor,
    cum: Tensor,
    mean: Tensor,
    first_moment: Tensor,
    z: Tensor,
    widths: Tensor,
    heights: Tensor,
    k: Optional[Tensor] = None,
    rows: Optional[Tuple[Tensor, Tensor]] = None,
) -> Tensor:
    """:func:`._grid.crps` from the knots: ``cum`` (B, K), ``mean``,
    ``first_moment`` (B,) from :func:`._grid.integrals`; other shapes as
    :func:`cdf_knots`; optionally the intervals ``k = find_bins(y, z)`` and
    their fraction rows (see :func:`_knot_position`). On interval k,
    ``int_0^F q = cum_k + g_k (y_k xi + d_k int_0^xi eta)``."""
    x0, xn = levels[0], levels[-1]
    y0, yn = y[:, :1], y[:, -1:]
    sl, sr = s_left.unsqueeze(-1), s_right.unsqueeze(-1)
    m, a = mean.unsqueeze(-1), first_moment.unsqueeze(-1)
    base = 2.0 * (m - a)

    k, ak, gk, yk, dk, xi, J = _knot_position(
        levels, y, z, widths, heights, True, k, rows
    )
    f_mid = torch.addcmul(ak, gk, xi)
    partial = torch.gather(cum, -1, k) + gk * torch.addcmul(yk * xi, dk, J)
    mid = z * (2.0 * f_mid - 1.0) + base - 2.0 * partial

    return crps_with_tails(z, mid, base, a, x0, y0, sl, xn, yn, sr)
