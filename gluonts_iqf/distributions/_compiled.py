"""Compiled kernels of the plain IQF (one linear piece per interval).

A plain-IQF query at GluonTS sizes (e.g. 256 series x 48 steps, 5 knots) is
a few dozen element-wise passes over ~12,000 values: each eager torch
operation costs more in dispatch than in arithmetic. The pure functions below
compute the domain map, quantiles, cdf, CRPS (with a closed-form backward)
and samples in one expression each; ``torch.compile`` (inductor) turns each into one fused,
vectorised C++ loop. They are used by :class:`~gluonts_iqf.IQF` when it is
built with ``compile=True`` (``IQFOutput(compile=True)``), and are the same
code run eagerly when compilation is unavailable.

Layout: knot values ``kv`` are knot-major, shape (K, N) and contiguous (each
knot a contiguous row over the N batch elements); per-element parameters
``sl``, ``sr`` (tail scales ``1 / beta``), ``loc``, ``scale`` are (N,);
queries are (M, N) (or (M, 1) for levels shared by the batch). Inductor
vectorises loops over contiguous rows; reading the knots of the batch-major
(N, K) layout with stride K makes it emit scalar code several times slower
than eager torch (measured), which is why the layout is fixed here.

The first call of each kernel for a new dtype, device, grad mode, set of
knot levels or broadcast pattern compiles it (seconds on CPU, needs a C++
compiler; cached by torch for the process and on disk), see :func:`run`. If
compilation fails, a warning is issued once and the kernels run eagerly from
then on (same results, eager speed).
"""

import warnings
from typing import Callable, Dict, Optional, Tuple

import torch
from torch import Tensor

Levels = Tuple[float, ...]


def _ref_index(levels: Levels) -> int:
    """The knot nearest the median: values are computed relative to it, so
    intermediate numbers have the size of the spread, not of the level."""
    best = 0
    for k in range(1, len(levels)):  # a plain loop: dynamo traces no min(key=...)
        if abs(levels[k] - 0.5) < abs(levels[best] - 0.5):
            best = k
    return best


def quantile_km(levels: Levels, kv: Tensor, sl: Tensor, sr: Tensor, loc: Tensor,
                scale: Tensor, u: Tensor) -> Tensor:
    """Quantiles at levels ``u`` (M, N) or (M, 1), in [0, 1] -> (M, N):
    ``loc + scale q(u)`` with ``q(u) = q_1 + s_L log(min(u, a_1) / a_1) +
    sum_k m_k (clip(u, a_k, a_{k+1}) - a_k) - s_R log((1 - max(u, a_K)) /
    (1 - a_K))``. Every term is non-decreasing in u and they are added in a
    fixed order, so the result is non-decreasing in u."""
    a0, an = levels[0], levels[-1]
    out = kv[0] + sl * torch.log(torch.clamp(u, max=a0) * (1.0 / a0))
    for k in range(len(levels) - 1):
        lo, hi = levels[k], levels[k + 1]
        slope = (kv[k + 1] - kv[k]) * (1.0 / (hi - lo))
        out = out + slope * (torch.clamp(u, lo, hi) - lo)
    out = out - sr * torch.log((1.0 - torch.clamp(u, min=an)) * (1.0 / (1.0 - an)))
    return loc + scale * out


def _ramps(levels: Levels, kv: Tensor, zs: Tensor, ref: Tensor):
    """Knots relative to ``ref`` and the interval ramps ``r_k = clip(1 + (zs
    - y_{k+1}) / d_k, 0, 1)`` of standardised values ``zs`` (M, N) (a flat
    interval, an atom, counts as passed at its value; ``d_k`` floored at the
    dtype's smallest normal number so that ``1 / d_k`` stays finite)."""
    tiny = torch.finfo(kv.dtype).tiny
    y = [kv[k] - ref for k in range(len(levels))]
    d = [y[k + 1] - y[k] for k in range(len(levels) - 1)]
    r = [torch.clamp(1.0 + (zs - y[k + 1]) / torch.clamp(d[k], min=tiny), 0.0, 1.0)
         for k in range(len(levels) - 1)]
    return y, d, r


def _standardised(levels: Levels, kv: Tensor, loc: Tensor, scale: Tensor, z: Tensor):
    ref = kv[_ref_index(levels)]
    w = (z - loc) / scale
    return w, w - ref, ref


def cdf_km(levels: Levels, kv: Tensor, sl: Tensor, sr: Tensor, loc: Tensor,
           scale: Tensor, z: Tensor) -> Tensor:
    """``P(X <= z)`` for values z (M, N) -> (M, N): ``a_1 e^{(min(zs, y_1) -
    y_1) / s_L} + sum_k g_k r_k + (1 - a_K)(1 - e^{-(max(zs, y_K) - y_K) /
    s_R})``, summed in a fixed order (non-decreasing in z)."""
    a0, an = levels[0], levels[-1]
    _, zs, ref = _standardised(levels, kv, loc, scale, z)
    y, _, r = _ramps(levels, kv, zs, ref)
    y0, yn = y[0], y[-1]
    left = a0 * torch.exp((torch.minimum(zs, y0) - y0) / sl)
    right_out = (1.0 - an) * torch.exp(-(torch.maximum(zs, yn) - yn) / sr)
    mid = (levels[1] - levels[0]) * r[0]
    for k in range(1, len(levels) - 1):
        mid = mid + (levels[k + 1] - levels[k]) * r[k]
    return (left + mid) + ((1.0 - an) - right_out)


def crps_weights(levels: Levels) -> Tuple[float, ...]:
    """Knot weights ``w`` with ``2 (mean - first moment) = sum_j w_j y_j +
    2 (a_1^2 / 4 - a_1) s_L + ((1 - a_K)^2 / 2) s_R`` for knot levels given
    as floats: per interval, the trapezoid weights of ``int q`` minus the
    Simpson weights of ``int a q``, plus the tails' terms."""
    a = list(levels)
    w = [0.0] * len(a)
    for k in range(len(a) - 1):
        g = a[k + 1] - a[k]
        w[k] += 0.5 * g - g * (2.0 * a[k] + a[k + 1]) / 6.0
        w[k + 1] += 0.5 * g - g * (a[k] + 2.0 * a[k + 1]) / 6.0
    w[0] += a[0] - 0.5 * a[0] * a[0]
    w[-1] += (1.0 - a[-1]) - 0.5 * (1.0 - a[-1] * a[-1])
    return tuple(2.0 * v for v in w)


def _crps_terms(levels: Levels, kv, sl, sr, zs, ref):
    a0, an = levels[0], levels[-1]
    c = 1.0 - an
    y, d, r = _ramps(levels, kv, zs, ref)
    y0, yn = y[0], y[-1]
    zl, zr = torch.minimum(zs, y0), torch.maximum(zs, yn)
    f_left = a0 * torch.exp((zl - y0) / sl)
    t_right = c * torch.exp(-(zr - yn) / sr)  # 1 - F on the right tail
    return y, d, r, zl, zr, f_left, t_right


def crps_km(levels: Levels, kv: Tensor, sl: Tensor, sr: Tensor, loc: Tensor,
            scale: Tensor, z: Tensor, masked: bool = False) -> Tuple[Tensor, Tensor, Tensor]:
    """Closed-form CRPS of values z (M, N): returns ``(crps, c, slope)``, each
    (M, N): the CRPS in data units, the CRPS in base units ``c`` (before the
    multiplication by ``scale``) and its derivative in the standardised value,
    ``2 F - 1`` (kept for the backward). With ``masked``, non-finite values
    (missing targets) score 0 (and get no gradient in the backward), as
    :meth:`IQFOutput.loss` requires.

    ``c = zs (2F - 1) + 2 (M - A) - 2 int_0^F q`` (the formulas of
    :class:`gluonts_iqf.distributions._spline._RampCRPS`)."""
    a0, an = levels[0], levels[-1]
    c_ = 1.0 - an
    if masked:
        finite = torch.isfinite(z)
        z = torch.where(finite, z, 0.0)
    _, zs, ref = _standardised(levels, kv, loc, scale, z)
    y, d, r, zl, zr, f_left, t_right = _crps_terms(levels, kv, sl, sr, zs, ref)
    mid_f = (levels[1] - levels[0]) * r[0]
    mid_p = (levels[1] - levels[0]) * r[0] * (y[0] + (0.5 * d[0]) * r[0])
    for k in range(1, len(levels) - 1):
        gr = (levels[k + 1] - levels[k]) * r[k]
        mid_f = mid_f + gr
        mid_p = mid_p + gr * (y[k] + (0.5 * d[k]) * r[k])
    f = (f_left + mid_f) + (c_ - t_right)
    partial = f_left * (zl - sl) + mid_p + (c_ * (y[-1] + sr) - t_right * (zr + sr))
    w = crps_weights(levels)
    base = w[0] * y[0]
    for k in range(1, len(levels)):
        base = base + w[k] * y[k]
    base = base + (2.0 * (0.25 * a0 * a0 - a0)) * sl + (0.5 * c_ * c_) * sr
    slope = 2.0 * f - 1.0
    c = zs * slope + base - 2.0 * partial
    if masked:
        c = torch.where(finite, c, 0.0)
        slope = torch.where(finite, slope, 0.0)  # marks the masked values for the backward
    return scale * c, c, slope


def crps_km_backward(levels: Levels, kv: Tensor, sl: Tensor, sr: Tensor, loc: Tensor,
                     scale: Tensor, z: Tensor, c: Tensor, slope: Tensor, grad: Tensor,
                     masked: bool = False):
    """Gradients of ``sum(grad * crps)`` with respect to ``kv`` (K, N),
    ``sl``, ``sr``, ``loc``, ``scale`` (N,) and ``z`` (M, N).

    In base units the derivative of ``c`` in F vanishes, so at fixed F:
    knots get ``w_j`` minus twice the integral of their hat functions up to
    F (``g_k r_k (1 - r_k / 2)`` for the lower knot of interval k, ``g_k
    r_k^2 / 2`` for the upper one, ``F_L`` for the first knot, ``1 - a_K -
    T_R`` for the last), tail scales ``2 (a_1^2 / 4 - a_1) - 2 F_L ((min(zs,
    y_1) - y_1) / s_L - 1)`` and ``(1 - a_K)^2 / 2 - 2 (1 - a_K - T_R - T_R
    (max(zs, y_K) - y_K) / s_R)``; the value ``2F - 1``. With ``crps = scale
    c((z - loc) / scale)``: ``d/dz = 2F - 1``, ``d/dloc = -(2F - 1)``,
    ``d/dscale = c - (2F - 1) (z - loc) / scale``; shifting every knot and
    the value together leaves c unchanged, so the reference knot needs no
    extra term. With ``masked``, non-finite values of z contribute nothing."""
    a0, an = levels[0], levels[-1]
    c_ = 1.0 - an
    if masked:
        finite = torch.isfinite(z)
        z = torch.where(finite, z, 0.0)
        grad = torch.where(finite, grad, 0.0)
    w_, zs, ref = _standardised(levels, kv, loc, scale, z)
    y, d, r, zl, zr, f_left, t_right = _crps_terms(levels, kv, sl, sr, zs, ref)
    G = grad * scale  # d loss / d c
    wts = crps_weights(levels)
    K = len(levels)
    gy = [None] * K
    for k in range(K - 1):
        g = levels[k + 1] - levels[k]
        gr = G * (g * r[k])
        lower = gr * (1.0 - 0.5 * r[k])
        upper = (0.5 * gr) * r[k]
        gy[k] = lower if gy[k] is None else gy[k] + lower
        gy[k + 1] = upper
    gy[0] = gy[0] + G * f_left
    gy[-1] = gy[-1] + G * (c_ - t_right)
    gsum = G.sum(0)
    grad_kv = torch.stack([wts[k] * gsum - 2.0 * gy[k].sum(0) for k in range(K)], 0)
    dl = f_left * ((zl - y[0]) / sl - 1.0)
    grad_sl = (2.0 * (0.25 * a0 * a0 - a0)) * gsum - 2.0 * (G * dl).sum(0)
    dr = (c_ - t_right) - t_right * (zr - y[-1]) / sr
    grad_sr = (0.5 * c_ * c_) * gsum - 2.0 * (G * dr).sum(0)
    grad_z = grad * slope
    grad_loc = -grad_z.sum(0)
    grad_scale = (grad * (c - slope * w_)).sum(0)
    return grad_kv, grad_sl, grad_sr, grad_loc, grad_scale, grad_z


def sample_km(levels: Levels, kv: Tensor, sl: Tensor, sr: Tensor, loc: Tensor,
              scale: Tensor, u: Tensor, lo: float, hi: float) -> Tensor:
    """Samples from uniform draws ``u`` (S, N) in [0, 1): quantiles at the
    levels clamped to ``[lo, hi]`` (the dtype's open-interval bounds, so no
    draw is infinite). The uniforms are drawn outside the kernel with
    ``torch.rand``: inductor's in-kernel generator was ~3x slower on CPU
    (measured)."""
    return quantile_km(levels, kv, sl, sr, loc, scale, torch.clamp(u, lo, hi))


def domain_map_km(levels: Levels, min_slope: float, kr: Tensor, tr: Tensor):
    """:meth:`IQFOutput.domain_map` of a plain IQF with learned tails in the
    knot-major layout: raw knots ``kr`` (K, N) and tails ``tr`` (2, N) ->
    knot values (K, N) (first free, each next = previous + gap x
    (softplus(raw) + min_slope)), ``beta_l``, ``beta_r`` (N,)."""
    v = kr[0]
    rows = [v]
    for k in range(1, len(levels)):
        v = v + (levels[k] - levels[k - 1]) * (torch.nn.functional.softplus(kr[k]) + min_slope)
        rows.append(v)
    beta_l = 1.0 / (levels[0] * (torch.nn.functional.softplus(tr[0]) + min_slope))
    beta_r = 1.0 / ((1.0 - levels[-1]) * (torch.nn.functional.softplus(tr[1]) + min_slope))
    return torch.stack(rows, 0), beta_l, beta_r


def crps_km_masked(levels: Levels, kv, sl, sr, loc, scale, z):
    """:func:`crps_km` with ``masked=True`` (its own compiled kernel)."""
    return crps_km(levels, kv, sl, sr, loc, scale, z, True)


def crps_km_backward_masked(levels: Levels, kv, sl, sr, loc, scale, z, c, slope, grad):
    """:func:`crps_km_backward` with ``masked=True`` (its own compiled kernel)."""
    return crps_km_backward(levels, kv, sl, sr, loc, scale, z, c, slope, grad, True)


#: Kernels by name. Each is compiled separately, so each has its own budget of
#: compiled variants (dtype, device, knot levels, size-1 broadcast patterns).
_EAGER: Dict[str, Callable] = {
    "domain_map": domain_map_km,
    "quantile": quantile_km,
    "cdf": cdf_km,
    "crps": crps_km,
    "crps_masked": crps_km_masked,
    "crps_backward": crps_km_backward,
    "crps_backward_masked": crps_km_backward_masked,
    "sample": sample_km,
}
_COMPILED: Dict[str, Callable] = {}
#: torch.compile's default: static kernels for the first shape (training batches),
#: dynamic ones once a second shape is seen (measured faster than dynamic=True
#: from the start for the fixed training shape).
_DYNAMIC: Optional[bool] = None
_STATE = {"disabled": False, "limit_warned": False}
#: Compiled variants allowed per kernel while it runs (torch's default, 8, is
#: reached by ordinary use: two dtypes x static / dynamic shapes x size-1
#: query or batch dims x grad modes); set around our calls only.
RECOMPILE_LIMIT = 64


def compile_disabled() -> bool:
    """True after a compilation failed in this process (kernels run eagerly)."""
    return _STATE["disabled"]


def _recompile_limit_hit(err: Exception) -> bool:
    exc = getattr(getattr(torch, "_dynamo", None), "exc", None)
    kind = getattr(exc, "FailOnRecompileLimitHit", None)
    return kind is not None and isinstance(err, kind)


def run(name: str, *args):
    """Run kernel ``name`` compiled, or eagerly if compilation is not
    available (warned once).

    A kernel is compiled for the first shape it sees and again, with dynamic
    shapes, for the second; each new dtype, device, grad mode, set of knot
    levels or size-1 broadcast pattern compiles a variant. When torch's per-function limit of
    variants is reached (``torch._dynamo.config.recompile_limit``, raised to
    ``RECOMPILE_LIMIT`` during our calls), further variants run eagerly
    (warned once); any other compilation failure (e.g.
    no C++ compiler) switches every kernel to eager for the process."""
    if not _STATE["disabled"]:
        fn = _COMPILED.get(name)
        if fn is None:
            fn = _COMPILED[name] = torch.compile(_EAGER[name], fullgraph=True, dynamic=_DYNAMIC)
        cfg = torch._dynamo.config
        limit = cfg.recompile_limit
        cfg.recompile_limit = max(limit, RECOMPILE_LIMIT)
        try:
            if torch.is_grad_enabled() and not any(
                isinstance(a, Tensor) and a.requires_grad for a in args
            ):  # one variant whatever the caller's grad mode
                with torch.no_grad():
                    return fn(*args)
            return fn(*args)
        except Exception as err:  # no C++ compiler, unsupported backend, ...
            if _recompile_limit_hit(err):
                if not _STATE["limit_warned"]:
                    _STATE["limit_warned"] = True
                    warnings.warn(
                        f"IQF(compile=True): the kernel {name!r} reached torch's limit of "
                        "compiled variants (torch._dynamo.config.recompile_limit); new "
                        "variants (dtype, device, knot levels, ...) run eagerly",
                        RuntimeWarning,
                        stacklevel=3,
                    )
            else:
                _STATE["disabled"] = True
                warnings.warn(
                    f"IQF(compile=True): torch.compile failed ({type(err).__name__}: "
                    f"{str(err).splitlines()[0][:200] if str(err) else ''}); the plain-IQF "
                    "kernels run eagerly from now on (same results, eager speed)",
                    RuntimeWarning,
                    stacklevel=3,
                )
        finally:
            cfg.recompile_limit = limit
    return _EAGER[name](*args)


class _CompiledCRPS(torch.autograd.Function):
    """:func:`crps_km` forward with :func:`crps_km_backward`, both compiled."""

    @staticmethod
    def forward(ctx, levels, kv, sl, sr, loc, scale, z, masked):
        out, c, slope = run("crps_masked" if masked else "crps", levels, kv, sl, sr, loc, scale, z)
        ctx.levels, ctx.masked = levels, masked
        ctx.save_for_backward(kv, sl, sr, loc, scale, z, c, slope)
        return out

    @staticmethod
    def backward(ctx, grad):
        kv, sl, sr, loc, scale, z, c, slope = ctx.saved_tensors
        name = "crps_backward_masked" if ctx.masked else "crps_backward"
        grads = run(name, ctx.levels, kv, sl, sr, loc, scale, z, c, slope, grad.contiguous())
        return (None,) + tuple(
            g if need else None for g, need in zip(grads, ctx.needs_input_grad[1:7])
        ) + (None,)


def crps(levels: Levels, kv: Tensor, sl: Tensor, sr: Tensor, loc: Tensor, scale: Tensor,
         z: Tensor, masked: bool = False) -> Tensor:
    """CRPS (M, N) of values z (M, N), differentiable in every tensor; with
    ``masked``, non-finite values score 0 with zero gradient."""
    if torch.is_grad_enabled() and any(t.requires_grad for t in (kv, sl, sr, loc, scale, z)):
        return _CompiledCRPS.apply(levels, kv, sl, sr, loc, scale, z, masked)
    return run("crps_masked" if masked else "crps", levels, kv, sl, sr, loc, scale, z)[0]
