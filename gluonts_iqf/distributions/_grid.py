"""Quantile functions on a grid of spline points: the reference form of the
I(S)QF's closed-form queries.

A quantile function here is described, per batch element, by

* a grid of ``N`` spline points ``(x_j, y_j)``, ``0 < x_0 < ... < x_{N-1} < 1``
  and ``y_0 <= ... <= y_{N-1}``, joined linearly (the knots of I(S)QF and the
  points between them);
* a left tail ``q(a) = y_0 + s_L log(a / x_0)`` for ``a < x_0`` and a right
  tail ``q(a) = y_{N-1} - s_R log((1 - a) / (1 - x_{N-1}))`` for
  ``a > x_{N-1}``, with tail scales ``s_L, s_R > 0`` (the inverse of the rates
  ``beta`` of the ISQF paper).

All functions are side-effect free and work on "batch-major" flat tensors:
parameters have shape ``(B, N)`` / ``(B,)`` and queries ``(B, M)``; the grid of
levels ``x`` may instead be shared across the batch with shape ``(N,)``. The
maths is in docs/methods.md, IQF section; the closed forms used here are

* ``M = int_0^1 q``, ``A = int_0^1 a q(a) da`` and the partial integrals
  ``C_j = int_0^{x_j} q``;
* ``CRPS(y) = y (2F - 1) - 2A + 2M - 2 int_0^F q``  with ``F = F(y)``, which
  in the tails simplifies to ``int_0^F q = F (y - s_L)`` (left) and
  ``int_F^1 q = (1 - F) (y + s_R)`` (right).
"""

from typing import Optional, Tuple

import torch
from torch import Tensor

from ._common import add_log_tails, cdf_with_tails, crps_with_tails, row_sum


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
    x: Tensor,
    y: Tensor,
    s_left: Tensor,
    s_right: Tensor,
    i1: Optional[Tensor] = None,
    i2: Optional[Tensor] = None,
) -> Tuple[Tensor, Tensor, Tensor]:
    """Closed-form integrals of the quantile function at its points.

    Parameters
    ----------
    x : Tensor, shape (N,) or (B, N)
        Levels of the points.
    y : Tensor, shape (B, N)
        Values of the points.
    s_left, s_right : Tensor, shape (B,)
        Tail scales.
    i1, i2 : Tensor, shape (B, N - 1), optional
        ``int_0^1 eta`` and ``int_0^1 xi eta`` of each interval's normalised
        shape (see :func:`._knots.shape_integrals`, for knots joined by
        spline pieces); ``None``: straight lines (``1/2``, ``1/3``).

    Returns
    -------
    cum : Tensor, shape (B, N)
        ``int_0^{x_j} q(a) da``.
    mean : Tensor, shape (B,)
        ``int_0^1 q(a) da``.
    first_moment : Tensor, shape (B,)
        ``int_0^1 a q(a) da``.

    Notes
    -----
    On interval j (``a = x_j + g xi``, ``q = y_j + d eta``): ``int q = g (y_j
    + d I1)`` and ``int a q = x_j g (y_j + d I1) + g^2 (y_j / 2 + d I2)``.
    """
    a0, an = x[..., 0], x[..., -1]
    c = 1.0 - an
    g = x[..., 1:] - x[..., :-1]
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
        + row_sum(torch.addcmul(moment, piece, x[..., :-1]))
        + 0.5 * (1.0 - an * an) * y[:, -1]
        + (c - 0.25 * c * c) * s_right
    )
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
    return add_log_tails(mid, x0, xn, s_left, s_right, u)


def _cdf_parts(
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
    _, xj, _, dx, _, t = _cdf_parts(x, y, z)
    return cdf_with_tails(
        z, xj + t * dx, x[..., :1], y[:, :1], s_left.unsqueeze(-1),
        x[..., -1:], y[:, -1:], s_right.unsqueeze(-1),
    )


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
    _, _, _, dx, dy, _ = _cdf_parts(x, y, z)
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
    m, a = mean.unsqueeze(-1), first_moment.unsqueeze(-1)
    base = 2.0 * (m - a)
    j, xj, yj, dx, _, t = _cdf_parts(x, y, z)
    f_mid = xj + t * dx
    partial = gather_rows(cum, j) + 0.5 * (f_mid - xj) * (yj + z)
    mid = z * (2.0 * f_mid - 1.0) + base - 2.0 * partial
    return crps_with_tails(
        z, mid, base, a, x[..., :1], y[:, :1], s_left.unsqueeze(-1),
        x[..., -1:], y[:, -1:], s_right.unsqueeze(-1),
    )


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
