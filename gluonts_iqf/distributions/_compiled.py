"""Compiled kernels of the plain IQF and its CRPS autograd node.

A plain-IQF query at GluonTS sizes (e.g. 256 series x 48 steps, 5 knots) is
a few dozen element-wise passes over ~12,000 values: each eager torch
operation costs more in dispatch than in arithmetic. Each kernel below
composes the pure functions of :mod:`._plain` (and :mod:`._domain_map`) into
one function per query, which ``torch.compile`` (inductor) turns into fused,
vectorised loops; :class:`~gluonts_iqf.IQF` uses them when built with
``compile=True`` (``IQFOutput(compile=True)``).

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

from . import _plain
from ._domain_map import knot_values, learned_tail_scales
from ._plain import LevelConstants


def domain_map_kernel(c: LevelConstants, min_slope: float, kr: Tensor, tr: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """:meth:`IQFOutput.domain_map` of a plain IQF with learned tails,
    knot-major: raw knots ``kr`` (K, N) and tails ``tr`` (2, N) -> knot
    values (K, N), ``beta_l``, ``beta_r`` (N,)."""
    gaps = torch.tensor((0.0,) + c.gaps, dtype=kr.dtype, device=kr.device).unsqueeze(-1)
    s_left, s_right = learned_tail_scales((c.levels[0], c.levels[-1]), tr, min_slope, dim=0)
    return knot_values(gaps, kr, min_slope, dim=0), 1.0 / s_left, 1.0 / s_right


def quantile_kernel(c: LevelConstants, kv: Tensor, sl: Tensor, sr: Tensor, loc: Tensor,
                    scale: Tensor, u: Tensor) -> Tensor:
    """Quantiles at levels ``u`` (M, N) or (M, 1) -> (M, N)."""
    return _plain.quantile(c, _plain.target_units(c, kv, sl, sr, loc, scale), u)


def sample_kernel(c: LevelConstants, kv: Tensor, sl: Tensor, sr: Tensor, loc: Tensor,
                  scale: Tensor, u: Tensor, lo: float, hi: float) -> Tensor:
    """Samples from uniform draws ``u`` (S, N) in [0, 1): quantiles at the
    levels clamped to ``[lo, hi]`` (the dtype's open-interval bounds, so no
    draw is infinite). The uniforms are drawn outside the kernel with
    ``torch.rand``: inductor's in-kernel generator is slower on CPU."""
    return quantile_kernel(c, kv, sl, sr, loc, scale, torch.clamp(u, lo, hi))


def cdf_kernel(c: LevelConstants, kv: Tensor, sl: Tensor, sr: Tensor, loc: Tensor,
               scale: Tensor, z: Tensor) -> Tensor:
    """``P(X <= z)`` for values ``z`` (M, N) -> (M, N)."""
    rk = _plain.relative_knots(c, kv)
    return _plain.cdf(c, rk, sl, sr, _plain.standardise(rk, loc, scale, z))


def crps_kernel(c: LevelConstants, kv: Tensor, sl: Tensor, sr: Tensor, loc: Tensor,
                scale: Tensor, z: Tensor, masked: bool) -> Tuple[Tensor, Tensor, Tensor]:
    """CRPS (M, N) of values ``z`` (M, N), and its parts ``value`` and
    ``slope`` for the backward (see :func:`._plain.crps_parts`)."""
    p = _plain.crps_parts(c, kv, sl, sr, loc, scale, z, masked)
    return scale * p.value, p.value, p.slope


def crps_backward_kernel(c: LevelConstants, kv: Tensor, sl: Tensor, sr: Tensor, loc: Tensor,
                         scale: Tensor, z: Tensor, value: Tensor, slope: Tensor, grad: Tensor,
                         masked: bool):
    """Gradients of ``sum(grad * crps)`` with respect to ``kv``, ``sl``,
    ``sr``, ``loc``, ``scale`` and ``z`` (:func:`._plain.crps_input_gradients`),
    the ramps recomputed (in a fused kernel cheaper than saving them)."""
    p = _plain.crps_parts(c, kv, sl, sr, loc, scale, z, masked, value_slope=(value, slope))
    return _plain.crps_input_gradients(c, p, sl, sr, scale, grad)


#: Kernels by name. Each is compiled separately, so each has its own budget of
#: compiled variants (dtype, device, knot levels, size-1 broadcast patterns).
_EAGER: Dict[str, Callable] = {
    "domain_map": domain_map_kernel,
    "quantile": quantile_kernel,
    "cdf": cdf_kernel,
    "crps": crps_kernel,
    "crps_backward": crps_backward_kernel,
    "sample": sample_kernel,
}
_COMPILED: Dict[str, Callable] = {}
#: torch.compile's default: static kernels for the first shape (training
#: batches), dynamic ones once a second shape is seen (faster than
#: dynamic=True from the start for the fixed training shape).
_DYNAMIC: Optional[bool] = None
#: ``disabled``: a compilation failed in this process, the kernels run
#: eagerly; ``limit_warned``: a kernel ran out of compiled variants (warned).
_STATE = {"disabled": False, "limit_warned": False}
#: Compiled variants allowed per kernel while it runs (torch's default, 8, is
#: reached by ordinary use: two dtypes x static / dynamic shapes x size-1
#: query or batch dims x grad modes x masking); set around our calls only.
RECOMPILE_LIMIT = 64
#: Inductor settings of the kernels: recompute the (K - 1, M, N) interval
#: ramps in every loop that reads them rather than writing them to memory in
#: a loop of their own (the kernels are memory-bound; a ramp is a few
#: arithmetic operations).
INDUCTOR_OPTIONS = {"realize_reads_threshold": 100, "realize_cpu_opcount_threshold": 1000}


def _recompile_limit_hit(err: Exception) -> bool:
    exc = getattr(getattr(torch, "_dynamo", None), "exc", None)
    kind = getattr(exc, "FailOnRecompileLimitHit", None)
    return kind is not None and isinstance(err, kind)


def run(name: str, *args):
    """Run kernel ``name`` compiled, or eagerly if compilation is not
    available (warned once).

    A kernel is compiled for the first shape it sees and again, with dynamic
    shapes, for the second; each new dtype, device, grad mode, set of knot
    levels or size-1 broadcast pattern compiles a variant. When torch's
    per-function limit of variants is reached
    (``torch._dynamo.config.recompile_limit``, raised to ``RECOMPILE_LIMIT``
    during our calls), further variants run eagerly (warned once); any other
    compilation failure (e.g. no C++ compiler) switches every kernel to eager
    for the process."""
    if not _STATE["disabled"]:
        fn = _COMPILED.get(name)
        if fn is None:
            fn = _COMPILED[name] = torch.compile(
                _EAGER[name], fullgraph=True, dynamic=_DYNAMIC, options=INDUCTOR_OPTIONS
            )
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


class _CRPS(torch.autograd.Function):
    """The plain IQF's CRPS with its closed-form backward
    (:func:`._plain.crps_input_gradients`; a training step is dozens of tiny
    operations, and autograd's bookkeeping for each costs as much as the
    arithmetic). Compiled: forward and backward are one kernel each, the
    backward recomputing the ramps; eager: the forward's parts are kept for
    the backward."""

    @staticmethod
    def forward(ctx, c, kv, sl, sr, loc, scale, z, masked, compiled, rk):
        ctx.c, ctx.masked, ctx.compiled = c, masked, compiled
        if compiled:
            out, value, slope = run("crps", c, kv, sl, sr, loc, scale, z, masked)
            ctx.save_for_backward(kv, sl, sr, loc, scale, z, value, slope)
            return out
        p = _plain.crps_parts(c, kv, sl, sr, loc, scale, z, masked, rk)
        ctx.parts = p
        ctx.save_for_backward(sl, sr, scale)
        return scale * p.value

    @staticmethod
    def backward(ctx, grad):
        if ctx.compiled:
            kv, sl, sr, loc, scale, z, value, slope = ctx.saved_tensors
            grads = run(
                "crps_backward", ctx.c, kv, sl, sr, loc, scale, z, value, slope, grad.contiguous(), ctx.masked
            )
        else:
            sl, sr, scale = ctx.saved_tensors
            grads = _plain.crps_input_gradients(ctx.c, ctx.parts, sl, sr, scale, grad)
        needed = ctx.needs_input_grad[1:7]
        return (None,) + tuple(g if need else None for g, need in zip(grads, needed)) + (None,) * 3


def crps(c: LevelConstants, kv: Tensor, sl: Tensor, sr: Tensor, loc: Tensor, scale: Tensor,
         z: Tensor, masked: bool = False, compiled: bool = False,
         rk: Optional[_plain.RelativeKnots] = None) -> Tensor:
    """CRPS (M, N) of values ``z`` (M, N), differentiable in every tensor, by
    the compiled kernels (``compiled``) or eagerly (``rk``: the knots'
    :func:`._plain.relative_knots` if known); with ``masked``, non-finite
    values score 0 with zero gradient."""
    if torch.is_grad_enabled() and any(t.requires_grad for t in (kv, sl, sr, loc, scale, z)):
        return _CRPS.apply(c, kv, sl, sr, loc, scale, z, masked, compiled, rk)
    if compiled:
        return run("crps", c, kv, sl, sr, loc, scale, z, masked)[0]
    return scale * _plain.crps_parts(c, kv, sl, sr, loc, scale, z, masked, rk).value
