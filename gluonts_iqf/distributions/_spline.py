"""Pure functions for piecewise-linear quantile functions with exponential tails.

A quantile function here is described, per batch element, by

* a grid of ``N`` spline points ``(x_j, y_j)``, ``0 < x_0 < ... < x_{N-1} < 1``
  and ``y_0 <= ... <= y_{N-1}``, joined linearly (the knots of I(S)QF and the
  points between them);
* a left tail ``q(a) = y_0 + s_L * log(a / x_0)`` for ``a < x_0`` and a right
  tail ``q(a) = y_{N-1} - s_R * log((1 - a) / (1 - x_{N-1}))`` for
  ``a > x_{N-1}``, with tail scales ``s_L, s_R > 0`` (the inverse of the rates
  ``beta`` of the ISQF paper).

All functions are side-effect free and work on "batch-major" flat tensors:
parameters have shape ``(B, N)`` / ``(B,)`` and queries ``(B, M)``; the grid of
levels ``x`` may instead be shared across the batch with shape ``(N,)``. The
math is documented in ``METHODS.md`` (section A) of the project; the closed
forms used here are

* ``M = int_0^1 q``, ``A = int_0^1 a q(a) da`` and the partial integrals
  ``C_j = int_0^{x_j} q``;
* ``CRPS(y) = y (2F - 1) - 2A + 2M - 2 int_0^F q``  with ``F = F(y)``, which
  in the tails simplifies to ``int_0^F q = F (y - s_L)`` (left) and
  ``int_F^1 q = (1 - F) (y + s_R)`` (right).
"""

from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor

from ._compiled import crps_weights


def level_bounds(dtype: torch.dtype) -> Tuple[float, float]:
    """Open-interval bounds for levels drawn in ``[0, 1)``.

    ``torch.rand`` may return exactly 0, whose quantile is ``-inf``; sampling
    clamps levels to ``[tiny, 1 - eps / 2]``, the extreme representable
    numbers of ``dtype`` inside ``(0, 1)``.
    """
    finfo = torch.finfo(dtype)
    return finfo.tiny, 1.0 - finfo.eps / 2


def spline_grid(
    knot_levels: Tensor,
    knot_values: Tensor,
    piece_widths: Optional[Tensor] = None,
    piece_heights: Optional[Tensor] = None,
) -> Tuple[Tensor, Tensor]:
    """Spline points of an I(S)QF.

    Parameters
    ----------
    knot_levels : Tensor, shape (K,)
        Increasing quantile-knot levels in (0, 1).
    knot_values : Tensor, shape (B, K)
        Non-decreasing knot values.
    piece_widths, piece_heights : Tensor, shape (B, K - 1, S), optional
        Positive fractions summing to 1 along the last axis: how each
        inter-knot interval is cut into ``S`` pieces along levels (widths) and
        values (heights). ``None`` means one linear piece per interval (IQF).

    Returns
    -------
    x : Tensor, shape (N,) without pieces, else (B, N)
        Levels of the spline points, ``N = (K - 1) S + 1``.
    y : Tensor, shape (B, N)
        Values of the spline points; the knots are passed exactly.
    """
    if piece_widths is None:
        return knot_levels, knot_values
    # starts of every piece inside interval k: a_k + width_k * exclusive cumsum
    gaps = (knot_levels[1:] - knot_levels[:-1]).unsqueeze(-1)  # (K-1, 1)
    x_start = knot_levels[:-1].unsqueeze(-1) + gaps * (
        torch.cumsum(piece_widths, dim=-1) - piece_widths
    )  # (B, K-1, S)
    dq = (knot_values[:, 1:] - knot_values[:, :-1]).unsqueeze(-1)  # (B, K-1, 1)
    y_start = knot_values[:, :-1].unsqueeze(-1) + dq * (
        torch.cumsum(piece_heights, dim=-1) - piece_heights
    )  # (B, K-1, S)
    batch = knot_values.shape[0]
    x = torch.cat(
        [x_start.reshape(batch, -1), knot_levels[-1:].expand(batch, 1)], dim=-1
    )
    y = torch.cat([y_start.reshape(batch, -1), knot_values[:, -1:]], dim=-1)
    return x, y


#: Shared grids up to this many points are searched by counting comparisons
#: (one fused pass over the values), larger or per-row grids by
#: ``torch.searchsorted`` (binary search), which is slower per value on tiny
#: grids.
SMALL_GRID = 32


def find_bins(grid: Tensor, values: Tensor) -> Tensor:
    """Index ``j`` of the piece ``[grid_j, grid_{j+1})`` holding each value.

    Parameters
    ----------
    grid : Tensor, shape (N,) or (B, N)
        Non-decreasing grid (shared across the batch or one per row).
    values : Tensor, shape (B, M)

    Returns
    -------
    Tensor, shape (B, M), int64 in ``[0, N - 2]`` (values outside the grid are
    clamped to the first / last piece; callers handle them as tails).
    """
    N = grid.shape[-1]
    if grid.dim() == 1 and N <= SMALL_GRID:
        # interior points only: count of grid_1..grid_{N-2} <= value
        idx = torch.zeros(values.shape, dtype=torch.int64, device=values.device)
        for g in grid[1:-1].unbind():
            idx += values >= g
        return idx
    idx = torch.searchsorted(grid.contiguous(), values.contiguous(), right=True)
    return (idx - 1).clamp(0, N - 2)


def gather_rows(table: Tensor, idx: Tensor) -> Tensor:
    """``table[b, idx[b, m]]`` for a per-row table (B, N) or shared (N,)."""
    if table.dim() == 1:
        return table[idx]
    return torch.gather(table, -1, idx)


def piece_lengths(x: Tensor, y: Tensor) -> Tuple[Tensor, Tensor]:
    """Level widths ``dx`` and value heights ``dy`` of the N - 1 pieces.

    Shapes: ``x`` (N,) or (B, N), ``y`` (B, N) -> ``dx`` (N-1,) or (B, N-1),
    ``dy`` (B, N-1).
    """
    return x[..., 1:] - x[..., :-1], y[..., 1:] - y[..., :-1]


def integrals(
    x: Tensor, y: Tensor, s_left: Tensor, s_right: Tensor
) -> Tuple[Tensor, Tensor, Tensor]:
    """Closed-form integrals of the quantile function.

    Parameters
    ----------
    x : Tensor, shape (N,) or (B, N)
    y : Tensor, shape (B, N)
    s_left, s_right : Tensor, shape (B,)
        Tail scales.

    Returns
    -------
    cum : Tensor, shape (B, N)
        ``int_0^{x_j} q(a) da``.
    mean : Tensor, shape (B,)
        ``int_0^1 q(a) da``.
    first_moment : Tensor, shape (B,)
        ``int_0^1 a q(a) da``.
    """
    if x.dim() == 1:
        return _integrals_shared_grid(x, y, s_left, s_right)
    x = x.expand_as(y)
    x0, xn = x[:, 0], x[:, -1]
    c = 1.0 - xn
    dx, _ = piece_lengths(x, y)
    left = x0 * (y[:, 0] - s_left)
    pieces = 0.5 * dx * (y[:, :-1] + y[:, 1:])
    cum = torch.cat(
        [left.unsqueeze(-1), left.unsqueeze(-1) + torch.cumsum(pieces, -1)],
        dim=-1,
    )
    mean = cum[:, -1] + c * (y[:, -1] + s_right)
    # Simpson's rule is exact for a * (linear q)
    pieces_a = (dx / 6.0) * (
        (2.0 * x[:, :-1] + x[:, 1:]) * y[:, :-1]
        + (x[:, :-1] + 2.0 * x[:, 1:]) * y[:, 1:]
    )
    first_moment = (
        x0 * x0 * (0.5 * y[:, 0] - 0.25 * s_left)
        + pieces_a.sum(-1)
        + 0.5 * y[:, -1] * (1.0 - xn * xn)
        + s_right * (c - 0.25 * c * c)
    )
    return cum, mean, first_moment


def _integrals_shared_grid(
    x: Tensor, y: Tensor, s_left: Tensor, s_right: Tensor
) -> Tuple[Tensor, Tensor, Tensor]:
    """:func:`integrals` for a grid of levels shared by the batch (plain
    IQF): every integral is linear in the values ``y`` and the tail scales,
    so one (B, N) x (N, N + 2) product replaces the per-piece passes.
    Shapes as :func:`integrals` with ``x`` of shape (N,)."""
    N = x.shape[0]
    x0, xn = x[0], x[-1]
    c = 1.0 - xn
    dx = x[1:] - x[:-1]  # (N-1,)
    eye = torch.eye(N, dtype=y.dtype, device=y.device)
    # trapezoid weights of piece i on (y_i, y_{i+1}), shape (N-1, N)
    pieces = 0.5 * dx.unsqueeze(-1) * (eye[:-1] + eye[1:])
    cum_w = x0 * eye[0] + torch.cat(
        [torch.zeros_like(eye[:1]), torch.cumsum(pieces, 0)], 0
    )  # (N, N): row j = weights of int_0^{x_j} q
    mean_w = cum_w[-1] + c * eye[-1]
    a_w = (
        0.5 * x0 * x0 * eye[0]
        + (dx / 6.0 * (2.0 * x[:-1] + x[1:])).unsqueeze(-1).mul(eye[:-1]).sum(0)
        + (dx / 6.0 * (x[:-1] + 2.0 * x[1:])).unsqueeze(-1).mul(eye[1:]).sum(0)
        + 0.5 * (1.0 - xn * xn) * eye[-1]
    )
    w = torch.cat([cum_w.T, mean_w.unsqueeze(-1), a_w.unsqueeze(-1)], dim=1)
    lin = y @ w  # (B, N + 2)
    cum = lin[:, :N] - (x0 * s_left).unsqueeze(-1)
    mean = lin[:, N] - x0 * s_left + c * s_right
    first_moment = lin[:, N + 1] - 0.25 * x0 * x0 * s_left + s_right * (c - 0.25 * c * c)
    return cum, mean, first_moment


def central_second_moment(
    x: Tensor, y: Tensor, mean: Tensor, s_left: Tensor, s_right: Tensor
) -> Tensor:
    """``int_0^1 (q(a) - mean)^2 da`` as a sum of non-negative terms.

    Shapes: ``x`` (N,) or (B, N), ``y`` (B, N), ``mean``/``s_*`` (B,) ->
    (B,). Centering first avoids the cancellation of ``E[X^2] - E[X]^2``.
    """
    x = x.expand_as(y)
    yc = y - mean.unsqueeze(-1)
    dx, _ = piece_lengths(x, yc)
    a, b = yc[:, :-1], yc[:, 1:]
    pieces = dx * (a * a + a * b + b * b) / 3.0
    left = x[:, 0] * ((yc[:, 0] - s_left) ** 2 + s_left**2)
    right = (1.0 - x[:, -1]) * ((yc[:, -1] + s_right) ** 2 + s_right**2)
    return left + pieces.sum(-1) + right


def quantile(
    x: Tensor, y: Tensor, s_left: Tensor, s_right: Tensor, u: Tensor
) -> Tensor:
    """Quantile function at levels ``u``.

    Shapes: ``x`` (N,) or (B, N), ``y`` (B, N), ``s_*`` (B,), ``u`` (B, M)
    in [0, 1] -> (B, M). ``u = 0`` gives ``-inf`` and ``u = 1`` gives ``inf``.
    """
    x0 = x[..., :1]
    xn = x[..., -1:]
    j = find_bins(x, u)
    xj, xj1 = gather_rows(x, j), gather_rows(x, j + 1)
    yj, yj1 = gather_rows(y, j), gather_rows(y, j + 1)
    t = ((u - xj) / (xj1 - xj)).clamp(0.0, 1.0)
    mid = torch.addcmul(yj, t, yj1 - yj)  # the outer knot's value beyond it
    return _add_log_tails(mid, x0, xn, s_left, s_right, u)


def _spline_cdf_parts(
    x: Tensor, y: Tensor, z: Tensor
) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Piece index, its geometry and the position inside it for values
    ``z`` (B, M).

    Returns ``j, x_j, y_j, dx_j, dy_j, t`` each (B, M), where
    ``t = clip((z - y_j) / dy_j, 0, 1)``. A flat piece (``dy_j = 0``, an atom)
    is only ever selected at its right end; there ``t = 1`` and the division
    is skipped, so neither values nor gradients see ``0 / 0``.
    """
    j = find_bins(y, z)
    xj, xj1 = gather_rows(x, j), gather_rows(x, j + 1)
    yj, yj1 = gather_rows(y, j), gather_rows(y, j + 1)
    dy = yj1 - yj
    flat = dy <= 0
    dy_safe = torch.where(flat, 1.0, dy)
    t = torch.where(flat, 1.0, ((z - yj) / dy_safe).clamp(0.0, 1.0))
    return j, xj, yj, xj1 - xj, dy, t


def cdf(x: Tensor, y: Tensor, s_left: Tensor, s_right: Tensor, z: Tensor) -> Tensor:
    """Cumulative distribution function at values ``z``.

    Shapes: ``x`` (N,) or (B, N), ``y`` (B, N), ``s_*`` (B,), ``z`` (B, M) ->
    (B, M) in [0, 1].
    """
    x0, xn = x[..., :1], x[..., -1:]
    y0, yn = y[:, :1], y[:, -1:]
    _, xj, _, dx, _, t = _spline_cdf_parts(x, y, z)
    mid = xj + t * dx
    left = x0 * torch.exp((torch.minimum(z, y0) - y0) / s_left.unsqueeze(-1))
    right = 1.0 - (1.0 - xn) * torch.exp(
        -(torch.maximum(z, yn) - yn) / s_right.unsqueeze(-1)
    )
    return torch.where(z < y0, left, torch.where(z > yn, right, mid))


def log_density(
    x: Tensor, y: Tensor, s_left: Tensor, s_right: Tensor, z: Tensor
) -> Tensor:
    """Log density at values ``z``: ``log(dx / dy)`` on a spline piece and
    the exponential tails' closed form (computed in log space, so far-tail
    values give large negative numbers instead of ``log(0)``).

    Shapes: ``x`` (N,) or (B, N), ``y`` (B, N), ``s_*`` (B,), ``z`` (B, M) ->
    (B, M).
    """
    x0, xn = x[..., :1], x[..., -1:]
    y0, yn = y[:, :1], y[:, -1:]
    sl, sr = s_left.unsqueeze(-1), s_right.unsqueeze(-1)
    _, _, _, dx, dy, _ = _spline_cdf_parts(x, y, z)
    mid = torch.log(dx) - torch.log(dy)  # -> +inf only on an atom (dy = 0)
    left = torch.log(x0) - torch.log(sl) + (torch.minimum(z, y0) - y0) / sl
    right = torch.log(1.0 - xn) - torch.log(sr) - (torch.maximum(z, yn) - yn) / sr
    return torch.where(z < y0, left, torch.where(z > yn, right, mid))


def crps(
    x: Tensor,
    y: Tensor,
    s_left: Tensor,
    s_right: Tensor,
    cum: Tensor,
    mean: Tensor,
    first_moment: Tensor,
    z: Tensor,
) -> Tensor:
    """Closed-form CRPS ``2 int_0^1 rho_a(z - q(a)) da`` at values ``z``.

    Parameters
    ----------
    x : Tensor, shape (N,) or (B, N)
    y : Tensor, shape (B, N)
    s_left, s_right : Tensor, shape (B,)
    cum, mean, first_moment : Tensor, shapes (B, N), (B,), (B,)
        Output of :func:`integrals`.
    z : Tensor, shape (B, M)

    Returns
    -------
    Tensor, shape (B, M), non-negative up to rounding.

    Notes
    -----
    ``CRPS = z (2F - 1) - 2A + 2M - 2 int_0^F q`` with ``F = F(z)``; its
    derivative in ``F`` is ``2 (z - q(F)) = 0``, so rounding in ``F`` only
    enters at second order. Callers should pass ``y`` relative to a
    reference value inside the distribution's bulk to avoid cancellation.
    """
    x0, xn = x[..., :1], x[..., -1:]
    y0, yn = y[:, :1], y[:, -1:]
    sl, sr = s_left.unsqueeze(-1), s_right.unsqueeze(-1)
    m, a = mean.unsqueeze(-1), first_moment.unsqueeze(-1)
    base = 2.0 * (m - a)

    j, xj, yj, dx, _, t = _spline_cdf_parts(x, y, z)
    f_mid = xj + t * dx
    partial = gather_rows(cum, j) + 0.5 * (f_mid - xj) * (yj + z)
    mid = z * (2.0 * f_mid - 1.0) + base - 2.0 * partial

    return _crps_with_tails(z, mid, base, a, x0, y0, sl, xn, yn, sr)


def _crps_with_tails(
    z: Tensor, mid: Tensor, base: Tensor, a: Tensor,
    x0, y0: Tensor, sl: Tensor, xn, yn: Tensor, sr: Tensor,
) -> Tensor:
    """The CRPS at ``z`` (B, M): ``mid`` (the between-knots formula) inside
    ``[y0, yn]``, the closed-form exponential-tail values outside. ``base =
    2 (M - A)``, ``a = A`` (B, 1); ``x0``/``xn`` the outer levels, ``y0``/``yn``
    the outer knot values (B, 1), ``sl``/``sr`` the tail scales (B, 1)."""
    f_left = x0 * torch.exp((torch.minimum(z, y0) - y0) / sl)
    left = base - z + 2.0 * f_left * sl

    t_right = (1.0 - xn) * torch.exp(-(torch.maximum(z, yn) - yn) / sr)
    right = z - 2.0 * a + 2.0 * t_right * sr

    return torch.where(z < y0, left, torch.where(z > yn, right, mid))


def entropy(x: Tensor, y: Tensor, s_left: Tensor, s_right: Tensor) -> Tensor:
    """Differential entropy ``int_0^1 log q'(a) da``.

    Shapes: ``x`` (N,) or (B, N), ``y`` (B, N), ``s_*`` (B,) -> (B,). Flat
    pieces (zero height) give ``-inf``, as they should (an atom).
    """
    x = x.expand_as(y)
    dx, dy = piece_lengths(x, y)
    x0, c = x[:, 0], 1.0 - x[:, -1]
    left = x0 * (torch.log(s_left) - torch.log(x0) + 1.0)
    right = c * (torch.log(s_right) - torch.log(c) + 1.0)
    return left + (dx * (torch.log(dy) - torch.log(dx))).sum(-1) + right


def pinball(levels: Tensor, q: Tensor, z: Tensor) -> Tensor:
    """Pinball (quantile) loss ``rho_a(z - q) = (z - q) (a - 1{z < q})``.

    Shapes: ``levels`` broadcastable with ``q`` and ``z``; returns their
    broadcast shape.
    """
    diff = z - q
    return diff * (levels - (diff < 0).to(diff.dtype))


# --------------------------------------------------------------------------- #
# Knot-level ("per-piece") formulation: no (B, N) spline grid
# --------------------------------------------------------------------------- #
# With spline pieces, the grid has N = (K - 1) S + 1 points per batch element;
# building it (and its cumulative integrals) dominates every query that needs
# only a handful of values per element. The functions below work instead with
# the knots (B, K) and, inside each interval, with the normalised spline
# ``eta(xi)`` on the unit square: ``xi = (a - a_k) / g_k`` and ``eta = (q -
# q_k) / d_k`` (g_k, d_k the interval's level width and value height), a
# piecewise-linear map through the points ``(cumsum(w)_s, cumsum(h)_s)`` of
# the interval's width / height fractions ``w``, ``h`` (S,). Everything the
# queries need from an interval is
#
# * ``I1 = int_0^1 eta dxi = sum_s w_s m_s`` and
#   ``I2 = int_0^1 xi eta dxi = sum_s w_s (mxi_s m_s + w_s h_s / 12)``, with
#   the piece midpoints ``mxi = cumsum(w) - w / 2``, ``m = cumsum(h) - h / 2``
#   (:func:`shape_integrals`, one pass over the (B, K - 1, S) fractions);
# * for a query inside the interval, the map ``eta -> xi`` (or back) and the
#   partial integral ``int_0^xi eta``, from that interval's S fractions only
#   (:func:`unit_spline`).


def row_sum(v: Tensor) -> Tensor:
    """Sum over the last axis; for short last axes a matrix-vector product
    is several times faster than ``Tensor.sum(-1)`` on CPU."""
    n = v.shape[-1]
    ones = torch.ones(n, dtype=v.dtype, device=v.device)
    return torch.matmul(v, ones)


def ordered_sum(v: Tensor, dim: int = -1) -> Tensor:
    """Sum along ``dim`` in index order whatever the tensor's shape (the last
    element of a cumulative sum, a sequential scan): ``Tensor.sum`` may
    change its summation order with the shape, so one value queried alone
    and within a batch could differ in the last bit. Along a leading axis
    (contiguous slices) a loop of additions is faster than the scan."""
    if dim == 0 and v.shape[0] <= 32:
        parts = v.unbind(0)
        out = parts[0]
        for p in parts[1:]:
            out = out + p
        return out
    return torch.cumsum(v, dim).select(dim, -1)


def _mid_cumsum(v: Tensor) -> Tensor:
    """``cumsum(v) - v / 2`` along the last axis (piece midpoints)."""
    return torch.cumsum(v, -1).sub_(v, alpha=0.5)


#: Element count of the row blocks that the (B, K - 1, S) passes work on:
#: temporaries of ~1 MB stay in cache and are reused by the allocator, where
#: whole-batch temporaries (~9 MB each at B = 12288, K = 19, S = 10) are
#: memory-bound and, freshly mapped on every call, cost more in page faults
#: than in arithmetic.
BLOCK_ELEMENTS = 1 << 18


def row_blocks(rows: int, row_elements: int):
    """Slices of ``range(rows)`` holding about ``BLOCK_ELEMENTS`` elements."""
    step = max(1, BLOCK_ELEMENTS // max(1, row_elements))
    return [slice(s, min(s + step, rows)) for s in range(0, rows, step)]


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


def knot_integrals(
    levels: Tensor,
    y: Tensor,
    s_left: Tensor,
    s_right: Tensor,
    i1: Optional[Tensor] = None,
    i2: Optional[Tensor] = None,
) -> Tuple[Tensor, Tensor, Tensor]:
    """:func:`integrals` at the knots only, from the interval integrals of
    :func:`shape_integrals` (``None``: straight lines, plain IQF).

    Parameters
    ----------
    levels : Tensor, shape (K,)
    y : Tensor, shape (B, K)
        Knot values.
    s_left, s_right : Tensor, shape (B,)
    i1, i2 : Tensor, shape (B, K - 1), optional

    Returns
    -------
    cum : Tensor, shape (B, K)
        ``int_0^{a_k} q``.
    mean, first_moment : Tensor, shape (B,)
        ``int_0^1 q`` and ``int_0^1 a q(a) da``.

    Notes
    -----
    On interval k (``a = a_k + g xi``, ``q = y_k + d eta``):
    ``int q = g (y_k + d I1)`` and ``int a q = a_k g (y_k + d I1) + g^2
    (y_k / 2 + d I2)``.
    """
    a0, an = levels[0], levels[-1]
    c = 1.0 - an
    g = levels[1:] - levels[:-1]  # (K-1,)
    yk = y[:, :-1]
    d = y[:, 1:] - yk
    if i1 is None:
        piece = g * (yk + 0.5 * d)
        moment = (g * g) * (0.5 * yk + d / 3.0)
    else:
        piece = g * torch.addcmul(yk, d, i1)
        moment = (g * g) * torch.addcmul(0.5 * yk, d, i2)
    left = a0 * (y[:, 0] - s_left)
    cum = torch.cat([left.unsqueeze(-1), left.unsqueeze(-1) + torch.cumsum(piece, -1)], -1)
    mean = cum[:, -1] + c * (y[:, -1] + s_right)
    first_moment = (
        a0 * a0 * (0.5 * y[:, 0] - 0.25 * s_left)
        + row_sum(torch.addcmul(moment, piece, levels[:-1]))
        + 0.5 * (1.0 - an * an) * y[:, -1]
        + (c - 0.25 * c * c) * s_right
    )
    return cum, mean, first_moment


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
    (B, M) on the knots ``y`` (B, K); with pieces, ``widths``/``heights``
    (B, K - 1, S), or their rows ``(w, h)`` (B, M, S) at the intervals ``k``
    when given. Returns ``k, a_k, g_k, y_k, d_k, xi, J`` (each (B, M); J =
    ``int_0^xi eta``, only when ``integral``)."""
    if k is None:
        k = find_bins(y, z)
    yk = torch.gather(y, -1, k)
    dk = torch.gather(y, -1, k + 1) - yk
    ak = levels[k]
    gk = levels[k + 1] - ak
    flat = dk <= 0
    eta = torch.where(flat, 1.0, ((z - yk) / torch.where(flat, 1.0, dk)).clamp(0.0, 1.0))
    if widths is None:
        xi = eta
        J = 0.5 * eta * eta if integral else None
    else:
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
    widths: Optional[Tensor] = None,
    heights: Optional[Tensor] = None,
) -> Tensor:
    """:func:`cdf` from the knots (B, K) and the spline fractions (B, K - 1,
    S) (``None``: plain IQF) without building the grid; for few values per
    batch element. Shapes: ``levels`` (K,), ``s_*`` (B,), ``z`` (B, M) ->
    (B, M)."""
    x0, xn = levels[0], levels[-1]
    y0, yn = y[:, :1], y[:, -1:]
    _, ak, gk, _, _, xi, _ = _knot_position(levels, y, z, widths, heights, False)
    mid = torch.addcmul(ak, gk, xi)
    left = x0 * torch.exp((torch.minimum(z, y0) - y0) / s_left.unsqueeze(-1))
    right = 1.0 - (1.0 - xn) * torch.exp(
        -(torch.maximum(z, yn) - yn) / s_right.unsqueeze(-1)
    )
    return torch.where(z < y0, left, torch.where(z > yn, right, mid))


def crps_knots(
    levels: Tensor,
    y: Tensor,
    s_left: Tensor,
    s_right: Tensor,
    cum: Tensor,
    mean: Tensor,
    first_moment: Tensor,
    z: Tensor,
    widths: Optional[Tensor] = None,
    heights: Optional[Tensor] = None,
    k: Optional[Tensor] = None,
    rows: Optional[Tuple[Tensor, Tensor]] = None,
) -> Tensor:
    """:func:`crps` from the knots: ``cum`` (B, K), ``mean``,
    ``first_moment`` (B,) from :func:`knot_integrals`; other shapes as
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

    return _crps_with_tails(z, mid, base, a, x0, y0, sl, xn, yn, sr)


def quantile_knots(
    levels: Tensor,
    y: Tensor,
    s_left: Tensor,
    s_right: Tensor,
    u: Tensor,
    widths: Optional[Tensor] = None,
    heights: Optional[Tensor] = None,
) -> Tensor:
    """:func:`quantile` from the knots without building the grid; shapes as
    :func:`cdf_knots` with levels ``u`` (B, M) in [0, 1]."""
    x0, xn = levels[0], levels[-1]
    k = find_bins(levels, u)
    ak = levels[k]
    gk = levels[k + 1] - ak
    xi = ((u - ak) / gk).clamp(0.0, 1.0)
    yk = torch.gather(y, -1, k)
    dk = torch.gather(y, -1, k + 1) - yk
    if widths is None:
        eta = xi
    else:
        w, h = interval_rows(k, widths, heights)
        eta, _ = unit_spline(w, h, xi)
    mid = torch.addcmul(yk, dk, eta)  # the outer knot's value beyond it
    return _add_log_tails(mid, x0, xn, s_left, s_right, u)


def _add_log_tails(mid: Tensor, x0, xn, s_left: Tensor, s_right: Tensor, u: Tensor) -> Tensor:
    """``mid + s_L log(min(u, x0) / x0) - s_R log((1 - max(u, xn)) / (1 - xn))``:
    the exponential tails as terms that vanish inside [x0, xn] (``mid`` is the
    outer knot's value beyond it); no ``where``, which is slow on CPU.
    Shapes: ``mid``, ``u`` (B, M), ``x0``/``xn`` scalars or (B, 1), ``s_*``
    (B,)."""
    left = torch.log(torch.minimum(u, x0) / x0)
    right = torch.log((1.0 - torch.maximum(u, xn)) / (1.0 - xn))
    out = torch.addcmul(mid, s_left.unsqueeze(-1), left)
    return torch.addcmul(out, s_right.unsqueeze(-1), right, value=-1.0)


# --------------------------------------------------------------------------- #
# Plain IQF (one piece per interval): sums of clamped ramps
# --------------------------------------------------------------------------- #
# Without spline pieces the grid is the K knots at levels shared by the whole
# batch, and every query is a short sum over the K - 1 intervals of clamped
# linear ramps, with the tails' closed forms added as terms that vanish
# inside [a_1, a_K]: no bin search, no gather, no ``where`` (which is slow on
# CPU). For the quantile at level u:
#
#     q(u) = q_1 + s_L log(min(u, a_1) / a_1)
#            + sum_k m_k (clip(u, a_k, a_{k+1}) - a_k)
#            - s_R log((1 - max(u, a_K)) / (1 - a_K)),   m_k = d_k / g_k;
#
# for the cdf at value z, with ramps r_k = clip(1 + (z - q_{k+1}) / d_k, 0, 1)
# (written against the interval's upper end so that a flat interval, an
# atom, counts as passed at z = q_k = q_{k+1}):
#
#     F(z) = a_1 e^{(min(z, q_1) - q_1) / s_L} + sum_k g_k r_k
#            + (1 - a_K) (1 - e^{-(max(z, q_K) - q_K) / s_R}).


def ramp_quantile(
    levels: Sequence[float],
    y0: Tensor,
    slopes: Tensor,
    s_left: Tensor,
    s_right: Tensor,
    u: Tensor,
) -> Tensor:
    """Quantile function of a plain IQF at levels ``u``.

    Parameters
    ----------
    levels : sequence of K floats
        Knot levels.
    y0 : Tensor, shape (B,)
        First knot value.
    slopes : Tensor, shape (K - 1, B)
        ``(q_{k+1} - q_k) / (a_{k+1} - a_k)`` (knot-major: each row a
        contiguous vector over the batch).
    s_left, s_right : Tensor, shape (B,)
    u : Tensor, shape (..., B), or (..., 1) for levels shared by the batch
        Levels in [0, 1]; 0 and 1 give -inf and inf.

    Returns
    -------
    Tensor, shape (..., B)
    """
    a0, an = levels[0], levels[-1]
    needs_grad = torch.is_grad_enabled() and any(
        t.requires_grad for t in (y0, slopes, s_left, s_right, u)
    )
    if u.shape[-1] != 1 and u.dim() == 2 and not needs_grad:
        return _ramp_quantile_blocks(levels, y0, slopes, s_left, s_right, u)
    l_left = torch.log(torch.clamp(u, max=a0) / a0)
    l_right = torch.log((1.0 - torch.clamp(u, min=an)) / (1.0 - an))
    ramps = [
        torch.clamp(u, lo, hi) - lo for lo, hi in zip(levels[:-1], levels[1:])
    ]
    # levels shared by the batch, (..., 1), broadcast here; the terms are
    # added in a fixed order (not by a matrix product, whose rounding depends
    # on the row's position), so the result is non-decreasing in u
    out = torch.addcmul(y0, s_left, l_left)
    for k, r in enumerate(ramps):
        out = torch.addcmul(out, slopes[k], r)
    return torch.addcmul(out, s_right, l_right, value=-1.0)


def plain_moments(
    levels: Tensor, y: Tensor, s_left: Tensor, s_right: Tensor
) -> Tuple[Tensor, Tensor]:
    """``mean`` and ``first_moment`` of :func:`knot_integrals` for a plain
    IQF in the knot-major layout: ``levels`` (K,), knots ``y`` (K, B),
    ``s_*`` (B,) -> two (B,). Both are linear in ``y``: fixed weights (K,)
    from the levels, summed over the knots in a fixed order."""
    a0, an = levels[0], levels[-1]
    c = 1.0 - an
    g = levels[1:] - levels[:-1]
    zero = levels.new_zeros(1)
    half_g = 0.5 * g
    # trapezoid weights of int q over [a_0, a_K]: g_{k-1} / 2 + g_k / 2
    w_mean = torch.cat([half_g, zero]) + torch.cat([zero, half_g])
    w_mean = w_mean + torch.cat([a0.reshape(1), levels.new_zeros(len(levels) - 2), c.reshape(1)])
    # int a q over interval k = g (2 a_k + a_{k+1}) / 6 y_k + g (a_k + 2 a_{k+1}) / 6 y_{k+1}
    lo = g * (2.0 * levels[:-1] + levels[1:]) / 6.0
    hi = g * (levels[:-1] + 2.0 * levels[1:]) / 6.0
    w_a1 = torch.cat([lo, zero]) + torch.cat([zero, hi])
    w_a1 = w_a1 + torch.cat(
        [(0.5 * a0 * a0).reshape(1), levels.new_zeros(len(levels) - 2), (0.5 * (1.0 - an * an)).reshape(1)]
    )
    mean = (w_mean.unsqueeze(-1) * y).sum(0) - a0 * s_left + c * s_right
    first = (w_a1.unsqueeze(-1) * y).sum(0) - (0.25 * a0 * a0) * s_left + (c - 0.25 * c * c) * s_right
    return mean, first


def _ramp_quantile_blocks(levels, y0, slopes, s_left, s_right, u: Tensor) -> Tensor:
    """:func:`ramp_quantile` for per-element levels ``u`` (n, B) without
    autograd (sampling): the same terms in the same order, computed in row
    blocks with in-place passes on one cached scratch block."""
    a0, an = levels[0], levels[-1]
    out = torch.empty_like(u)
    for b in row_blocks(u.shape[0], u.shape[1]):
        ub, ob = u[b], out[b]
        tmp = torch.clamp(ub, max=a0).div_(a0).log_()
        torch.addcmul(y0, s_left, tmp, out=ob)
        for k, (lo, hi) in enumerate(zip(levels[:-1], levels[1:])):
            ob.addcmul_(slopes[k], torch.clamp(ub, lo, hi, out=tmp).sub_(lo))
        torch.clamp(ub, min=an, out=tmp).neg_().add_(1.0).div_(1.0 - an).log_()
        ob.addcmul_(s_right, tmp, value=-1.0)
    return out


def ramp_slopes(y: Tensor) -> Tuple[Tensor, Tensor]:
    """Heights ``d`` (K - 1, B) of the intervals of knots ``y`` (K, B) and
    ``1 / d``, huge but finite on a flat interval."""
    d = y[1:] - y[:-1]
    return d, 1.0 / torch.clamp(d, min=torch.finfo(d.dtype).tiny)


def _ramp_parts(levels: Tensor, y: Tensor, z: Tensor, slopes=None):
    """Interval ramps ``r`` (K - 1, M, B) of values ``z`` (M, B) on the knots
    ``y`` (K, B) (see the section comment), and the heights ``d`` (K - 1, B);
    ``slopes`` = :func:`ramp_slopes` of ``y`` if known."""
    d, inv = ramp_slopes(y) if slopes is None else slopes
    r = torch.addcmul(
        torch.ones((), dtype=z.dtype, device=z.device),
        z.unsqueeze(0) - y[1:].unsqueeze(1),
        inv.unsqueeze(1),
    ).clamp_(0.0, 1.0)
    return r, d


def ramp_cdf(
    levels: Tensor, y: Tensor, s_left: Tensor, s_right: Tensor, z: Tensor, slopes=None
) -> Tensor:
    """:func:`cdf` of a plain IQF in the knot-major layout: ``levels``
    (K,), knots ``y`` (K, B), ``s_*`` (B,), values ``z`` (M, B) -> (M, B);
    ``slopes`` = :func:`ramp_slopes` of ``y`` if known."""
    a0, an = levels[0], levels[-1]
    y0, yn = y[0], y[-1]
    r, _ = _ramp_parts(levels, y, z, slopes)
    left = a0 * torch.exp((torch.minimum(z, y0) - y0) / s_left)
    right_out = (1.0 - an) * torch.exp(-(torch.maximum(z, yn) - yn) / s_right)
    g = (levels[1:] - levels[:-1]).reshape(-1, 1, 1)
    mid = ordered_sum(r * g, 0)  # fixed order: monotone in z
    return (left + mid) + ((1.0 - an) - right_out)


def ramp_crps(
    levels: Tensor,
    y: Tensor,
    s_left: Tensor,
    s_right: Tensor,
    mean: Tensor,
    first_moment: Tensor,
    z: Tensor,
) -> Tensor:
    """:func:`crps` of a plain IQF, ``mean``/``first_moment`` (B,) from
    :func:`plain_moments`; other shapes as :func:`ramp_cdf`.

    ``int_0^F q`` is the sum of the left tail's ``F_L (min(z, q_1) - s_L)``,
    the intervals' ``g_k r_k (q_k + d_k r_k / 2)`` and the right tail's
    ``(1 - a_K) (q_K + s_R) - (1 - F_R) (max(z, q_K) + s_R)``; in the tails
    the terms reduce to the closed forms of :func:`crps`."""
    a0, an = levels[0], levels[-1]
    c = 1.0 - an
    g = (levels[1:] - levels[:-1]).reshape(-1, 1, 1)
    y0, yn = y[0], y[-1]
    r, d = _ramp_parts(levels, y, z)
    zl, zr = torch.minimum(z, y0), torch.maximum(z, yn)
    f_left = a0 * torch.exp((zl - y0) / s_left)
    t_right = c * torch.exp(-(zr - yn) / s_right)  # 1 - F on the right tail
    gr = r * g
    mid_f = ordered_sum(gr, 0)
    mid_p = ordered_sum(gr * torch.addcmul(y[:-1].unsqueeze(1), r, (0.5 * d).unsqueeze(1)), 0)
    f = (f_left + mid_f) + (c - t_right)
    partial = f_left * (zl - s_left) + mid_p + (c * (yn + s_right) - t_right * (zr + s_right))
    base = 2.0 * (mean - first_moment)
    return z * (2.0 * f - 1.0) + base - 2.0 * partial


class _RampCRPS(torch.autograd.Function):
    """:func:`ramp_crps` with :func:`plain_moments` folded in, with a
    hand-written backward (a plain-IQF training step is dozens of tiny
    operations; autograd's bookkeeping for each costs as much as the
    arithmetic).

    With ``CRPS = z (2F - 1) + 2 (M - A) - 2 int_0^F q``, the derivative in
    F vanishes (``2 z - 2 q(F) = 0``), so the gradient with respect to the
    parameters is ``2 d(M - A) - 2 d(int_0^F q)`` at fixed F: ``M - A`` is
    linear in the knots and tail scales, and at fixed F the partial integral
    moves with the knots by the integral of their hat functions up to F,
    ``g_k r_k (1 - r_k / 2)`` (lower knot of interval k) and ``g_k r_k^2 / 2``
    (upper knot), plus ``F_L`` for the first knot and ``1 - a_K - T_R`` for
    the last; with the tail scales by ``F_L ((min(z, q_1) - q_1) / s_L - 1)``
    and ``1 - a_K - T_R - T_R (max(z, q_K) - q_K) / s_R`` (``F_L`` the left
    tail's cdf, ``T_R`` the right tail's ``1 - F``). With respect to z:
    ``2F - 1``.
    """

    @staticmethod
    def forward(ctx, levels, y, s_left, s_right, z, w, d, inv):
        # 2 (M - A) = sum_j w_j y_j + 2 (a0^2 / 4 - a0) s_L + (c^2 / 2) s_R
        a0, an = levels[0], levels[-1]
        c = 1.0 - an
        g = (levels[1:] - levels[:-1]).reshape(-1, 1, 1)
        y0, yn = y[0], y[-1]
        r, d = _ramp_parts(levels, y, z, (d, inv))
        zl, zr = torch.minimum(z, y0), torch.maximum(z, yn)
        f_left = a0 * torch.exp((zl - y0) / s_left)
        t_right = c * torch.exp(-(zr - yn) / s_right)
        gr = r * g
        mid_f = ordered_sum(gr, 0)
        mid_p = ordered_sum(gr * torch.addcmul(y[:-1].unsqueeze(1), r, (0.5 * d).unsqueeze(1)), 0)
        f = (f_left + mid_f) + (c - t_right)
        partial = f_left * (zl - s_left) + mid_p + (c * (yn + s_right) - t_right * (zr + s_right))
        base = (w.unsqueeze(-1) * y).sum(0) + (2.0 * (0.25 * a0 * a0 - a0)) * s_left
        base = base + (0.5 * c * c) * s_right
        out = z * (2.0 * f - 1.0) + base - 2.0 * partial
        ctx.save_for_backward(levels, y, s_left, s_right, r, zl, zr, f_left, t_right, f, w)
        return out

    @staticmethod
    def backward(ctx, grad):
        levels, y, s_left, s_right, r, zl, zr, f_left, t_right, f, w = ctx.saved_tensors
        a0, an = levels[0], levels[-1]
        c = 1.0 - an
        g = (levels[1:] - levels[:-1]).reshape(-1, 1, 1)
        y0, yn = y[0], y[-1]
        grad_y = grad_sl = grad_sr = grad_z = None
        gsum = grad.sum(0)  # (B,)
        if ctx.needs_input_grad[1]:
            gr = grad.unsqueeze(0) * (r * g)  # G g r, (K - 1, M, B)
            lower = (gr * (1.0 - 0.5 * r)).sum(1)  # (K - 1, B)
            upper = (0.5 * gr * r).sum(1)
            grad_y = w.unsqueeze(-1) * gsum
            grad_y[:-1] -= 2.0 * lower
            grad_y[1:] -= 2.0 * upper
            grad_y[0] -= 2.0 * (grad * f_left).sum(0)
            grad_y[-1] -= 2.0 * (grad * (c - t_right)).sum(0)
        if ctx.needs_input_grad[2]:
            dl = f_left * ((zl - y0) / s_left - 1.0)
            grad_sl = (2.0 * (0.25 * a0 * a0 - a0)) * gsum - 2.0 * (grad * dl).sum(0)
        if ctx.needs_input_grad[3]:
            dr = (c - t_right) - t_right * (zr - yn) / s_right
            grad_sr = (0.5 * c * c) * gsum - 2.0 * (grad * dr).sum(0)
        if ctx.needs_input_grad[4]:
            grad_z = grad * (2.0 * f - 1.0)
        return None, grad_y, grad_sl, grad_sr, grad_z, None, None, None


def plain_crps_weights(levels: Tensor) -> Tensor:
    """Weights ``w`` (K,) with ``2 (mean - first_moment) = sum_j w_j y_j +
    2 (a_1^2 / 4 - a_1) s_L + ((1 - a_K)^2 / 2) s_R`` (:func:`plain_moments`
    is linear in the knots), as a tensor of ``levels``' dtype and device."""
    # from the levels as Python floats (a handful of scalar operations,
    # instead of a dozen tiny tensor operations per distribution)
    w = crps_weights(tuple(float(v) for v in levels.tolist()))
    return torch.tensor(w, dtype=levels.dtype, device=levels.device)


def ramp_crps_fused(
    levels: Tensor,
    y: Tensor,
    s_left: Tensor,
    s_right: Tensor,
    z: Tensor,
    weights: Optional[Tensor] = None,
    slopes: Optional[Tuple[Tensor, Tensor]] = None,
) -> Tensor:
    """:func:`ramp_crps` (with the moments of :func:`plain_moments`) as one
    autograd node with a closed-form backward; same shapes, no ``mean`` /
    ``first_moment`` arguments; ``weights`` from :func:`plain_crps_weights`
    and ``slopes`` from :func:`ramp_slopes` (computed when not given; the
    backward differentiates through ``y`` itself)."""
    if weights is None:
        weights = plain_crps_weights(levels)
    d, inv = ramp_slopes(y) if slopes is None else slopes
    return _RampCRPS.apply(levels, y, s_left, s_right, z, weights, d, inv)
