"""Small helpers shared by the IQF's modules: level bounds, shape
broadcasting, sums in a fixed order, row blocks, the pinball loss and the
exponential tails' closed forms (the maths is in docs/methods.md, IQF
section)."""

from typing import List, Tuple

import torch
from torch import Tensor


def level_bounds(dtype: torch.dtype) -> Tuple[float, float]:
    """Open-interval bounds for levels drawn in ``[0, 1)``.

    ``torch.rand`` may return exactly 0, whose quantile is ``-inf``; sampling
    clamps levels to ``[tiny, 1 - eps / 2]``, the extreme representable
    numbers of ``dtype`` inside ``(0, 1)``.
    """
    finfo = torch.finfo(dtype)
    return finfo.tiny, 1.0 - finfo.eps / 2


def broadcast_shapes(*shapes) -> torch.Size:
    """``torch.broadcast_shapes`` for concrete shapes, without its symbolic
    shape machinery (whose cost is a visible share of a query on a small
    batch). Raises ``RuntimeError`` as it does."""
    ndim = max((len(s) for s in shapes), default=0)
    out = [1] * ndim
    for shape in shapes:
        for i, n in enumerate(shape, ndim - len(shape)):
            n = int(n)
            if n != 1:
                if out[i] not in (1, n):
                    raise RuntimeError(
                        f"shape mismatch: objects cannot be broadcast to a single "
                        f"shape: {[tuple(s) for s in shapes]}"
                    )
                out[i] = n
    return torch.Size(out)


def row_sum(v: Tensor) -> Tensor:
    """Sum over the last axis; for short last axes a matrix-vector product
    is several times faster than ``Tensor.sum(-1)`` on CPU."""
    ones = torch.ones(v.shape[-1], dtype=v.dtype, device=v.device)
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


def sum_rows(v: Tensor) -> Tuple[Tensor, ...]:
    """The R rows (B,) of ``v.sum(1)`` for ``v`` (R, M, B). Under
    ``torch.compile`` as R separate (M, B) -> (B) sums, which inductor fuses
    with a kernel's other per-element sums (one (R, B) reduction becomes a
    loop of its own)."""
    if torch.compiler.is_compiling():
        return tuple(row.sum(0) for row in v.unbind(0))
    return v.sum(1).unbind(0)


def cumulative_sum(v: Tensor, dim: int, start: Tensor) -> Tensor:
    """``start + torch.cumsum(v, dim)`` (``start`` of size 1 along ``dim``).
    Under ``torch.compile`` as a running sum from ``start``: inductor runs
    ``cumsum`` on CPU as a separate, unfused library call."""
    if torch.compiler.is_compiling():
        total = start.squeeze(dim)
        out = []
        for p in v.unbind(dim):
            total = total + p
            out.append(total)
        return torch.stack(out, dim)
    return torch.cumsum(v, dim) + start


#: Element count of the row blocks that the large passes work on: temporaries
#: of ~1 MB stay in cache and are reused by the allocator, where whole-batch
#: temporaries are memory-bound and, freshly mapped on every call, cost more
#: in page faults than in arithmetic.
BLOCK_ELEMENTS = 1 << 18


def row_blocks(rows: int, row_elements: int) -> List[slice]:
    """Slices of ``range(rows)`` holding about ``BLOCK_ELEMENTS`` elements."""
    step = max(1, BLOCK_ELEMENTS // max(1, row_elements))
    return [slice(s, min(s + step, rows)) for s in range(0, rows, step)]


def pinball(levels: Tensor, q: Tensor, z: Tensor) -> Tensor:
    """Pinball (quantile) loss ``rho_a(z - q) = (z - q) (a - 1{z < q})``.

    Shapes: ``levels`` broadcastable with ``q`` and ``z``; returns their
    broadcast shape.
    """
    diff = z - q
    return diff * (levels - (diff < 0).to(diff.dtype))


# --------------------------------------------------------------------------- #
# Exponential tails: q(a) = y_0 + s_L log(a / x_0) below the first knot,
# q(a) = y_n - s_R log((1 - a) / (1 - x_n)) above the last one.
# Shapes: values (B, M); outer levels x0, xn scalars or (B, 1); outer knot
# values y0, yn and tail scales sl, sr (B, 1).
# --------------------------------------------------------------------------- #
def add_log_tails(mid: Tensor, x0, xn, s_left: Tensor, s_right: Tensor, u: Tensor) -> Tensor:
    """Quantiles at levels ``u``: ``mid + s_L log(min(u, x0) / x0) - s_R
    log((1 - max(u, xn)) / (1 - xn))``, the tails as terms that vanish inside
    [x0, xn] (``mid`` is the outer knot's value beyond it); no ``where``,
    which is slow on CPU. ``s_*`` are (B,)."""
    left = torch.log(torch.minimum(u, x0) / x0)
    right = torch.log((1.0 - torch.maximum(u, xn)) / (1.0 - xn))
    out = torch.addcmul(mid, s_left.unsqueeze(-1), left)
    return torch.addcmul(out, s_right.unsqueeze(-1), right, value=-1.0)


def cdf_with_tails(z: Tensor, mid: Tensor, x0, y0: Tensor, sl: Tensor, xn, yn: Tensor, sr: Tensor) -> Tensor:
    """The cdf at ``z``: ``mid`` (the between-knots value) inside ``[y0, yn]``,
    the tails' ``x0 e^{(z - y0) / s_L}`` and ``1 - (1 - xn) e^{-(z - yn) /
    s_R}`` outside."""
    left = x0 * torch.exp((torch.minimum(z, y0) - y0) / sl)
    right = 1.0 - (1.0 - xn) * torch.exp(-(torch.maximum(z, yn) - yn) / sr)
    return torch.where(z < y0, left, torch.where(z > yn, right, mid))


def crps_with_tails(
    z: Tensor, mid: Tensor, base: Tensor, a: Tensor,
    x0, y0: Tensor, sl: Tensor, xn, yn: Tensor, sr: Tensor,
) -> Tensor:
    """The CRPS at ``z``: ``mid`` (the between-knots formula) inside ``[y0,
    yn]``, the tails' closed forms outside; ``base = 2 (M - A)`` and ``a =
    A`` (B, 1), with M the mean and A the first moment ``int_0^1 a q(a) da``."""
    f_left = x0 * torch.exp((torch.minimum(z, y0) - y0) / sl)
    left = base - z + 2.0 * f_left * sl
    t_right = (1.0 - xn) * torch.exp(-(torch.maximum(z, yn) - yn) / sr)
    right = z - 2.0 * a + 2.0 * t_right * sr
    return torch.where(z < y0, left, torch.where(z > yn, right, mid))
