"""Plain IQF (one linear piece per interval, knot levels shared by the
batch): the one implementation of its quantile, cdf, CRPS and CRPS gradient.

Every query is a short sum over the K - 1 intervals of clamped linear ramps,
with the tails' closed forms added as terms that vanish inside [a_1, a_K]:
no bin search, no gather, no ``where`` (which is slow on CPU). For the
quantile at level u::

    q(u) = q_1 + s_L log(min(u, a_1) / a_1)
           + sum_k m_k (clip(u, a_k, a_{k+1}) - a_k)
           - s_R log((1 - max(u, a_K)) / (1 - a_K)),   m_k = d_k / g_k;

for the cdf at value z, with ramps r_k = clip(1 + (z - q_{k+1}) / d_k, 0, 1)
(written against the interval's upper end so that a flat interval, an atom,
counts as passed at z = q_k = q_{k+1})::

    F(z) = a_1 e^{(min(z, q_1) - q_1) / s_L} + sum_k g_k r_k
           + (1 - a_K) (1 - e^{-(max(z, q_K) - q_K) / s_R}).

Terms are added in a fixed order (no matrix products, whose rounding depends
on a row's position), so quantiles are non-decreasing in u, the cdf in z,
and one value gives the same bits alone or within a batch.

Layout: knot-major. Knot values ``kv`` are (K, B), contiguous (each knot a
contiguous row over the B batch elements); tail scales ``sl``, ``sr``
(``1 / beta``), ``loc`` and ``scale`` are (B,); queries are (M, B), or (M, 1)
for levels shared by the batch. ``torch.compile`` vectorises loops over
contiguous rows (it emits scalar code for the batch-major (B, K) layout).

These functions are the eager path of :class:`~gluonts_iqf.IQF` and, composed
into one function per query, the kernels that ``IQF(compile=True)`` fuses
(:mod:`._compiled`). The maths is in docs/methods.md, IQF section.
"""

import functools
from typing import NamedTuple, Optional, Tuple

import torch
from torch import Tensor

from ..levels import median_index
from ._common import ordered_sum, row_blocks, sum_rows
from ._grid import integrals


class LevelConstants(NamedTuple):
    """Numbers of a plain IQF that depend on its knot levels only (Python
    floats: constants of the compiled kernels)."""

    levels: Tuple[float, ...]  # (K,) knot levels a_k
    gaps: Tuple[float, ...]  # (K - 1,) g_k = a_{k+1} - a_k
    ref: int  # index of the knot nearest the median: values are computed relative to it
    crps_weights: Tuple[float, ...]  # (K,) w_j of 2 (M - A) = sum_j w_j y_j + w_L s_L + w_R s_R
    crps_tail_weights: Tuple[float, float]  # (w_L, w_R)


@functools.lru_cache(maxsize=256)
def level_constants(levels: Tuple[float, ...]) -> LevelConstants:
    """:class:`LevelConstants` of knot levels given as floats. ``2 (M - A)``
    (mean minus first moment, the CRPS's constant part) is linear in the
    knots and tail scales; its weights are :func:`._grid.integrals` of the
    unit vectors, in float64."""
    K = len(levels)
    x = torch.tensor(levels, dtype=torch.float64)
    unit = torch.eye(K + 2, dtype=torch.float64)  # rows: y_1 .. y_K, s_L, s_R
    _, mean, first = integrals(x, unit[:, :K], unit[:, K], unit[:, K + 1])
    w = (2.0 * (mean - first)).tolist()
    gaps = tuple(b - a for a, b in zip(levels[:-1], levels[1:]))
    return LevelConstants(tuple(levels), gaps, median_index(levels), tuple(w[:K]), (w[K], w[K + 1]))


def _column(values: Tuple[float, ...], like: Tensor, dims: int) -> Tensor:
    """``values`` as a tensor of ``like``'s dtype and device, shape (n, 1, ...)
    with ``dims`` dimensions, to scale knot-major rows."""
    return torch.tensor(values, dtype=like.dtype, device=like.device).reshape((-1,) + (1,) * (dims - 1))


# --------------------------------------------------------------------------- #
# quantiles
# --------------------------------------------------------------------------- #
class TargetUnits(NamedTuple):
    """A plain IQF in the target's units (``loc + scale q``), for quantiles."""

    first: Tensor  # (B,) first knot value
    slopes: Tensor  # (K - 1, B) interval slopes m_k = d_k / g_k
    s_left: Tensor  # (B,) left tail scale
    s_right: Tensor  # (B,) right tail scale


def target_units(c: LevelConstants, kv: Tensor, sl: Tensor, sr: Tensor, loc: Tensor, scale: Tensor) -> TargetUnits:
    """:class:`TargetUnits` of the knots ``kv`` (K, B), tail scales, ``loc``
    and ``scale`` (B,) in base units."""
    inv_gaps = _column(tuple(1.0 / g for g in c.gaps), kv, 2)  # no division per element when fused
    return TargetUnits(
        torch.addcmul(loc, scale, kv[0]), (kv[1:] - kv[:-1]) * (scale * inv_gaps), sl * scale, sr * scale
    )


def quantile(c: LevelConstants, p: TargetUnits, u: Tensor) -> Tensor:
    """Quantiles at levels ``u`` (M, B), or (M, 1) for levels shared by the
    batch, in [0, 1] -> (M, B); 0 and 1 give -inf and inf. Every term is
    non-decreasing in u."""
    a0, an = c.levels[0], c.levels[-1]
    l_left = torch.log(torch.clamp(u, max=a0) * (1.0 / a0))
    l_right = torch.log((1.0 - torch.clamp(u, min=an)) * (1.0 / (1.0 - an)))
    out = torch.addcmul(p.first, p.s_left, l_left)
    for k, (lo, hi) in enumerate(zip(c.levels[:-1], c.levels[1:])):
        out = torch.addcmul(out, p.slopes[k], torch.clamp(u, lo, hi) - lo)
    return torch.addcmul(out, p.s_right, l_right, value=-1.0)


def quantile_blocks(c: LevelConstants, p: TargetUnits, u: Tensor) -> Tensor:
    """:func:`quantile` of per-element levels ``u`` (M, B) without autograd
    (sampling): the same terms in the same order (the same bits). A second
    form of the formula because sampling is faster with in-place passes over
    cache-sized row blocks, which the differentiable form cannot make."""
    a0, an = c.levels[0], c.levels[-1]
    out = torch.empty_like(u)
    for b in row_blocks(u.shape[0], u.shape[1]):
        ub, ob = u[b], out[b]
        tmp = torch.clamp(ub, max=a0).mul_(1.0 / a0).log_()
        torch.addcmul(p.first, p.s_left, tmp, out=ob)
        for k, (lo, hi) in enumerate(zip(c.levels[:-1], c.levels[1:])):
            ob.addcmul_(p.slopes[k], torch.clamp(ub, lo, hi, out=tmp).sub_(lo))
        torch.clamp(ub, min=an, out=tmp).neg_().add_(1.0).mul_(1.0 / (1.0 - an)).log_()
        ob.addcmul_(p.s_right, tmp, value=-1.0)
    return out


# --------------------------------------------------------------------------- #
# cdf and CRPS
# --------------------------------------------------------------------------- #
class RelativeKnots(NamedTuple):
    """Knots relative to the reference knot (the one nearest the median), so
    that intermediate numbers have the size of the spread, not of the level."""

    knots: Tensor  # (K, B) y_k = kv_k - ref
    ref: Tensor  # (B,) the reference knot's value
    heights: Tensor  # (K - 1, B) d_k = y_{k+1} - y_k
    inv_heights: Tensor  # (K - 1, B) 1 / d_k, finite on a flat interval (d_k floored at the dtype's tiny)


def relative_knots(c: LevelConstants, kv: Tensor) -> RelativeKnots:
    """:class:`RelativeKnots` of the knots ``kv`` (K, B)."""
    ref = kv[c.ref]
    y = kv - ref
    d = y[1:] - y[:-1]
    return RelativeKnots(y, ref, d, torch.reciprocal(torch.clamp(d, min=torch.finfo(d.dtype).tiny)))


def standardise(rk: RelativeKnots, loc: Tensor, scale: Tensor, z: Tensor) -> Tensor:
    """Values ``z`` (M, B) in base units relative to the reference knot."""
    return (z - loc) / scale - rk.ref


class RampTerms(NamedTuple):
    """What the cdf, the CRPS and its gradient share at standardised values
    ``zs`` (M, B)."""

    ramps: Tensor  # (K - 1, M, B) r_k
    masses: Tensor  # (K - 1, M, B) g_k r_k, interval k's share of F
    z_left: Tensor  # (M, B) min(zs, y_1)
    z_right: Tensor  # (M, B) max(zs, y_K)
    f_left: Tensor  # (M, B) the left tail's share of F, a_1 e^{(z_left - y_1) / s_L}
    t_right: Tensor  # (M, B) the right tail's share of 1 - F, (1 - a_K) e^{-(z_right - y_K) / s_R}
    cdf: Tensor  # (M, B) F


def ramp_terms(c: LevelConstants, rk: RelativeKnots, sl: Tensor, sr: Tensor, zs: Tensor) -> RampTerms:
    """:class:`RampTerms` of standardised values ``zs`` (M, B) (see
    :func:`standardise`); tail scales (B,)."""
    a0, an = c.levels[0], c.levels[-1]
    y0, yn = rk.knots[0], rk.knots[-1]
    r = ((zs.unsqueeze(0) - rk.knots[1:].unsqueeze(1)) * rk.inv_heights.unsqueeze(1)).add_(1.0).clamp_(0.0, 1.0)
    masses = r * _column(c.gaps, r, 3)
    zl, zr = torch.minimum(zs, y0), torch.maximum(zs, yn)
    f_left = a0 * torch.exp((zl - y0) / sl)
    t_right = (1.0 - an) * torch.exp(-(zr - yn) / sr)
    f = (f_left + ordered_sum(masses, 0)) + ((1.0 - an) - t_right)
    return RampTerms(r, masses, zl, zr, f_left, t_right, f)


def cdf(c: LevelConstants, rk: RelativeKnots, sl: Tensor, sr: Tensor, zs: Tensor) -> Tensor:
    """``P(X <= z)`` at standardised values ``zs`` (M, B) -> (M, B)."""
    return ramp_terms(c, rk, sl, sr, zs).cdf


def crps_values(
    c: LevelConstants, rk: RelativeKnots, sl: Tensor, sr: Tensor, zs: Tensor, t: RampTerms
) -> Tuple[Tensor, Tensor]:
    """CRPS in base units at standardised values ``zs`` (M, B) with their
    :func:`ramp_terms` ``t``, and its derivative in ``zs``, ``2F - 1``; both
    (M, B).

    ``CRPS = zs (2F - 1) + 2 (M - A) - 2 int_0^F q``, where ``int_0^F q`` is
    the sum of the left tail's ``F_L (min(zs, q_1) - s_L)``, the intervals'
    ``g_k r_k (q_k + d_k r_k / 2)`` and the right tail's ``(1 - a_K) (q_K +
    s_R) - T_R (max(zs, q_K) + s_R)`` (``F_L``, ``T_R`` the tails' shares of
    F and 1 - F).
    """
    y = rk.knots
    c_right = 1.0 - c.levels[-1]
    mid = ordered_sum(t.masses * torch.addcmul(y[:-1].unsqueeze(1), t.ramps, (0.5 * rk.heights).unsqueeze(1)), 0)
    partial = t.f_left * (t.z_left - sl) + mid + (c_right * (y[-1] + sr) - t.t_right * (t.z_right + sr))
    w_left, w_right = c.crps_tail_weights
    base = ordered_sum(_column(c.crps_weights, y, 2) * y, 0) + w_left * sl + w_right * sr
    slope = 2.0 * t.cdf - 1.0
    return zs * slope + base - 2.0 * partial, slope


def crps_gradients(
    c: LevelConstants, rk: RelativeKnots, sl: Tensor, sr: Tensor, t: RampTerms, grad: Tensor
) -> Tuple[Tensor, Tensor, Tensor]:
    """Gradients of ``sum(grad * crps)`` (CRPS in base units, ``grad``
    (M, B)) with respect to the knots (K, B) and the tail scales (B,).

    The CRPS's derivative in F vanishes (``2 zs - 2 q(F) = 0``), so at fixed
    F: ``2 (M - A)`` is linear in the knots and tail scales, and the partial
    integral moves with the knots by the integral of their hat functions up
    to F, ``g_k r_k (1 - r_k / 2)`` (lower knot of interval k) and ``g_k r_k^2
    / 2`` (upper knot), plus ``F_L`` for the first knot and ``1 - a_K - T_R``
    for the last; with the tail scales by ``F_L ((min(zs, q_1) - q_1) / s_L -
    1)`` and ``1 - a_K - T_R - T_R (max(zs, q_K) - q_K) / s_R``. Shifting
    every knot and the value together leaves the CRPS unchanged, so the
    gradient with respect to the knots is that with respect to ``rk.knots``.
    """
    y = rk.knots
    c_right = 1.0 - c.levels[-1]
    gm = grad.unsqueeze(0) * t.masses  # (K - 1, M, B)
    lower = sum_rows(gm * (1.0 - 0.5 * t.ramps))  # K - 1 rows (B,), one per interval
    upper = sum_rows(0.5 * gm * t.ramps)
    first = (grad * t.f_left).sum(0)  # (B,)
    last = (grad * (c_right - t.t_right)).sum(0)
    hats = [lower[0] + first, *(lo + up for lo, up in zip(lower[1:], upper[:-1])), upper[-1] + last]
    gsum = grad.sum(0)
    grad_kv = torch.stack([w * gsum - 2.0 * h for w, h in zip(c.crps_weights, hats)])  # (K, B)
    w_left, w_right = c.crps_tail_weights
    d_left = t.f_left * ((t.z_left - y[0]) / sl - 1.0)
    grad_sl = w_left * gsum - 2.0 * (grad * d_left).sum(0)
    d_right = (c_right - t.t_right) - t.t_right * (t.z_right - y[-1]) / sr
    grad_sr = w_right * gsum - 2.0 * (grad * d_right).sum(0)
    return grad_kv, grad_sl, grad_sr


class CRPSParts(NamedTuple):
    """The CRPS of values (M, B) and what its gradient needs."""

    knots: RelativeKnots
    zs: Tensor  # (M, B) values standardised by :func:`standardise` (masked ones as 0)
    terms: RampTerms
    value: Tensor  # (M, B) CRPS in base units (0 at masked values)
    slope: Tensor  # (M, B) its derivative in zs, 2F - 1 (0 at masked values)
    finite: Optional[Tensor]  # (M, B) bool: the values scored, None when all are


def crps_parts(
    c: LevelConstants, kv: Tensor, sl: Tensor, sr: Tensor, loc: Tensor, scale: Tensor, z: Tensor,
    masked: bool = False, rk: Optional[RelativeKnots] = None,
    value_slope: Optional[Tuple[Tensor, Tensor]] = None,
) -> CRPSParts:
    """:class:`CRPSParts` of values ``z`` (M, B) in the target's units, the
    CRPS being ``scale * value``; with ``masked``, non-finite values (missing
    targets) score 0 and get no gradient. ``rk``: :func:`relative_knots` of
    ``kv``, ``value_slope``: the parts' ``(value, slope)``, if known."""
    finite = None
    if masked:
        finite = torch.isfinite(z)
        z = torch.where(finite, z, 0.0)
    rk = relative_knots(c, kv) if rk is None else rk
    zs = standardise(rk, loc, scale, z)
    t = ramp_terms(c, rk, sl, sr, zs)
    if value_slope is not None:
        return CRPSParts(rk, zs, t, *value_slope, finite)
    value, slope = crps_values(c, rk, sl, sr, zs, t)
    if masked:
        value = torch.where(finite, value, 0.0)
        slope = torch.where(finite, slope, 0.0)
    return CRPSParts(rk, zs, t, value, slope, finite)


def crps_input_gradients(
    c: LevelConstants, p: CRPSParts, sl: Tensor, sr: Tensor, scale: Tensor, grad: Tensor
) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Gradients of ``sum(grad * scale * p.value)`` (``grad`` (M, B)) with
    respect to ``kv`` (K, B), ``sl``, ``sr``, ``loc``, ``scale`` (B,) and
    ``z`` (M, B) of :func:`crps_parts`. With ``crps = scale c((z - loc) /
    scale)``: ``d/dz = 2F - 1``, ``d/dloc = -(2F - 1)`` and ``d/dscale = c -
    (2F - 1) (z - loc) / scale``; the rest is :func:`crps_gradients`."""
    if p.finite is not None:
        grad = torch.where(p.finite, grad, 0.0)
    grad_kv, grad_sl, grad_sr = crps_gradients(c, p.knots, sl, sr, p.terms, grad * scale)
    grad_z = grad * p.slope
    grad_scale = (grad * (p.value - p.slope * (p.zs + p.knots.ref))).sum(0)
    return grad_kv, grad_sl, grad_sr, -grad_z.sum(0), grad_scale, grad_z
