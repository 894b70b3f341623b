"""Incremental (Spline) Quantile Function distribution and its GluonTS output.

``IQF`` is a batch of monotone quantile functions (Park et al., AISTATS 2022):
knot values at fixed levels joined by monotone linear spline pieces, with
exponential tails beyond the outer knots. Every query (quantile, cdf, density,
CRPS, moments) is exact and closed-form; see ``_spline.py`` for the math.
"""

import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.distributions import Distribution, constraints
from torch.distributions.utils import lazy_property

from gluonts.core.component import validated
from gluonts.pydantic import pydantic as _pydantic
from gluonts.torch.distributions import DistributionOutput

from . import _compiled, _spline

#: Default knot levels: MQ-CNN's training levels (the IQF head of the paper).
DEFAULT_KNOT_LEVELS = (0.025, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.975)

#: Lower bound of the quantile function's slope ``dq/da`` in the network's
#: scaled units (scale ~ mean absolute value of the series): bounds the density
#: by ``1 / (MIN_SLOPE * scale)`` so ``log_prob`` and ``1 / dq`` stay finite.
MIN_SLOPE = 1e-4

#: Each spline piece gets at least this share (before renormalising) of its
#: inter-knot interval, along levels and along values, as in GluonTS's ISQF
#: ``tol``: keeps ``1 / dx`` finite in float32.
PIECE_FRACTION_FLOOR = 1e-4

LOSSES = ("crps", "nll", "quantile")
TAILS = ("learned", "fitted")


def check_knot_levels(knot_levels: Sequence[float]) -> List[float]:
    """Validate quantile-knot levels and return them as a list of floats.

    Raises ``ValueError`` naming the problem: fewer than two levels, a level
    outside the open interval (0, 1), or levels not strictly increasing
    (unsorted or repeated).
    """
    levels = [float(a) for a in knot_levels]
    if len(levels) < 2:
        raise ValueError(
            f"knot_levels needs at least 2 levels (K >= 2), got {len(levels)}: "
            f"{levels}"
        )
    bad = [a for a in levels if not (0.0 < a < 1.0)]
    if bad:
        raise ValueError(
            f"knot_levels must lie strictly inside (0, 1); got {bad} in {levels}"
        )
    for lo, hi in zip(levels[:-1], levels[1:]):
        if not lo < hi:
            kind = "repeated" if lo == hi else "unsorted"
            raise ValueError(
                f"knot_levels must be strictly increasing; {kind} levels "
                f"{lo} and {hi} in {levels}"
            )
    return levels


def check_num_pieces(num_pieces: int) -> int:
    if isinstance(num_pieces, bool) or int(num_pieces) != num_pieces:
        raise ValueError(f"num_pieces must be an integer, got {num_pieces!r}")
    if num_pieces < 1:
        raise ValueError(f"num_pieces must be >= 1, got {num_pieces}")
    return int(num_pieces)


def _broadcast_shapes(*shapes) -> torch.Size:
    """``torch.broadcast_shapes`` for concrete shapes, without its symbolic
    shape machinery (which costs ~30 us a call, a visible share of a query on
    a small batch). Raises ``RuntimeError`` as it does."""
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


class _NonDecreasing(constraints.Constraint):
    """Finite values, non-decreasing along the last axis."""

    event_dim = 1

    def check(self, value: Tensor) -> Tensor:
        finite = torch.isfinite(value).all(-1)
        return finite & (value[..., 1:] >= value[..., :-1]).all(-1)


_simplex_last = constraints.independent(constraints.simplex, 1)


class IQF(Distribution):
    r"""A batch of incremental (spline) quantile functions.

    The quantile function passes through ``(knot_levels[k], knot_values[k])``,
    is linear on each of ``num_pieces`` spline pieces between neighbouring
    knots, and has exponential tails: ``q(a) = q_1 + log(a / a_1) / beta_l``
    below the first knot and ``q(a) = q_K - log((1 - a) / (1 - a_K)) / beta_r``
    above the last. The distribution is that of ``loc + scale * q(U)`` with
    ``U ~ U(0, 1)``.

    Parameters
    ----------
    knot_levels : Tensor or sequence of float, shape (K,)
        Strictly increasing levels in (0, 1), K >= 2.
    knot_values : Tensor, shape (*batch_shape, K)
        Non-decreasing knot values (in the units before ``loc``/``scale``).
    beta_l, beta_r : Tensor, shape (*batch_shape,)
        Positive rates of the left and right exponential tails.
    piece_widths, piece_heights : Tensor, shape (*batch_shape, K - 1, S), optional
        Positive fractions summing to 1 along the last axis: the level widths
        and value heights of the ``S`` spline pieces of each interval. Both or
        neither; ``None`` is one linear piece per interval (plain IQF).
    loc : Tensor, shape broadcastable to batch_shape, optional
    scale : Tensor, shape broadcastable to batch_shape, optional
        Positive.
    validate_args : bool, optional
        Check parameter values (non-decreasing finite knots, positive rates,
        simplex fractions, positive scale). Shapes and knot levels are always
        checked.
    compile : bool, default False
        Plain IQF only (no spline pieces): answer quantile, cdf, CRPS and
        sampling queries with fused kernels compiled by ``torch.compile``
        (see :mod:`gluonts_iqf.distributions._compiled`): several times
        faster at GluonTS batch sizes once compiled, but each kernel compiles
        on its first call for a new dtype, device or set of knot levels
        (seconds; a C++ compiler is needed on CPU; without one a warning is
        issued and the same kernels run eagerly). Results equal the eager
        path's to float rounding; samples use the same ``torch.rand`` stream
        but round differently.

    Notes
    -----
    Queries broadcast like ``torch.distributions``: ``icdf``/``cdf``/
    ``log_prob``/``crps`` take a value of shape ``(*sample_shape,
    *batch_shape)`` or anything broadcastable to a shape ending in
    ``batch_shape`` (a scalar, a batch-shaped tensor, levels with leading
    dims), and return that broadcast shape.
    """

    support = constraints.real
    has_rsample = True

    def __init__(
        self,
        knot_levels: Union[Tensor, Sequence[float]],
        knot_values: Tensor,
        beta_l: Tensor,
        beta_r: Tensor,
        piece_widths: Optional[Tensor] = None,
        piece_heights: Optional[Tensor] = None,
        loc: Optional[Union[Tensor, float]] = None,
        scale: Optional[Union[Tensor, float]] = None,
        validate_args: Optional[bool] = None,
        compile: bool = False,
    ) -> None:
        self.compile = bool(compile)
        knot_values = torch.as_tensor(knot_values)
        dtype, device = knot_values.dtype, knot_values.device
        if not dtype.is_floating_point:
            knot_values = knot_values.to(torch.get_default_dtype())
            dtype = knot_values.dtype
        validating = (
            Distribution._validate_args if validate_args is None else validate_args
        )
        if validating or not isinstance(knot_levels, Tensor):
            check_knot_levels(torch.as_tensor(knot_levels).tolist())
        self.knot_levels = torch.as_tensor(knot_levels, dtype=dtype, device=device)
        K = self.knot_levels.shape[-1]
        if knot_values.dim() < 1 or knot_values.shape[-1] != K:
            raise ValueError(
                f"knot_values must have shape (*batch_shape, {K}) for {K} knot "
                f"levels, got {tuple(knot_values.shape)}"
            )
        if (piece_widths is None) != (piece_heights is None):
            raise ValueError(
                "piece_widths and piece_heights must be given together"
            )

        def as_param(v, default):
            v = default if v is None else v
            return torch.as_tensor(v, dtype=dtype, device=device)

        self.beta_l = as_param(beta_l, None)
        self.beta_r = as_param(beta_r, None)
        self.loc = as_param(loc, 0.0)
        self.scale = as_param(scale, 1.0)
        shapes = [
            knot_values.shape[:-1],
            self.beta_l.shape,
            self.beta_r.shape,
            self.loc.shape,
            self.scale.shape,
        ]
        if piece_widths is not None:
            piece_widths = as_param(piece_widths, None)
            piece_heights = as_param(piece_heights, None)
            for name, p in (("piece_widths", piece_widths), ("piece_heights", piece_heights)):
                if p.dim() < 2 or p.shape[-2] != K - 1:
                    raise ValueError(
                        f"{name} must have shape (*batch_shape, {K - 1}, S), got "
                        f"{tuple(p.shape)}"
                    )
            if piece_widths.shape[-1] != piece_heights.shape[-1]:
                raise ValueError(
                    "piece_widths and piece_heights must have the same number "
                    f"of pieces, got {piece_widths.shape[-1]} and "
                    f"{piece_heights.shape[-1]}"
                )
            shapes += [piece_widths.shape[:-2], piece_heights.shape[:-2]]
        try:
            batch_shape = _broadcast_shapes(*shapes)
        except RuntimeError as err:
            raise ValueError(
                f"IQF parameter shapes do not broadcast: {[tuple(s) for s in shapes]}"
            ) from err

        self.knot_values = knot_values.expand(*batch_shape, K)
        self.beta_l = self.beta_l.expand(batch_shape)
        self.beta_r = self.beta_r.expand(batch_shape)
        self.loc = self.loc.expand(batch_shape)
        self.scale = self.scale.expand(batch_shape)
        if piece_widths is not None:
            S = piece_widths.shape[-1]
            self.piece_widths = piece_widths.expand(*batch_shape, K - 1, S)
            self.piece_heights = piece_heights.expand(*batch_shape, K - 1, S)
        else:
            self.piece_widths = self.piece_heights = None
        super().__init__(batch_shape=batch_shape, validate_args=validate_args)

    @property
    def arg_constraints(self) -> Dict[str, constraints.Constraint]:
        cons = {
            "knot_values": _NonDecreasing(),
            "beta_l": constraints.positive,
            "beta_r": constraints.positive,
            "loc": constraints.real,
            "scale": constraints.positive,
        }
        if self.piece_widths is not None:
            cons["piece_widths"] = _simplex_last
            cons["piece_heights"] = _simplex_last
        return cons

    @property
    def num_pieces(self) -> int:
        return 1 if self.piece_widths is None else self.piece_widths.shape[-1]

    # ------------------------------------------------------------------ #
    # flat (batch-major) internals: parameters (B, ...), queries (B, M)
    # ------------------------------------------------------------------ #
    @property
    def _B(self) -> int:
        return math.prod(self.batch_shape)

    @lazy_property
    def _params(self) -> Dict[str, Tensor]:
        """Parameters flat over the batch, relative to a reference value
        inside the bulk: knot ``levels`` (K,); knot values ``yk`` (B, K)
        relative to ``ref`` (B, 1); spline fractions ``widths``/``heights``
        (B, K - 1, S) or ``None``; tail scales ``sl``, ``sr`` (B,); ``loc``,
        ``scale`` (B, 1)."""
        B, K = self._B, self.knot_levels.shape[-1]
        kv = self.knot_values.reshape(B, K)
        # the knot nearest the median: subtracting it makes every later
        # computation work with numbers of the size of the spread
        k_ref = torch.argmin((self.knot_levels - 0.5).abs())
        ref = kv.index_select(-1, k_ref.reshape(1))  # (B, 1)
        widths = heights = None
        if self.piece_widths is not None:
            S = self.num_pieces
            widths = self.piece_widths.reshape(B, K - 1, S)
            heights = self.piece_heights.reshape(B, K - 1, S)
        return dict(
            levels=self.knot_levels, yk=kv - ref, ref=ref,
            widths=widths, heights=heights,
            sl=1.0 / self.beta_l.reshape(B), sr=1.0 / self.beta_r.reshape(B),
            loc=self.loc.reshape(B, 1), scale=self.scale.reshape(B, 1),
        )

    @lazy_property
    def _flat(self) -> Dict[str, Tensor]:
        """:attr:`_params` plus the spline grid: ``x`` (N,) or (B, N) and
        ``y`` (B, N) relative to ``ref``. Built only for queries with many
        values per batch element (and ``log_prob``, ``variance``,
        ``entropy``); few-value queries work from the knots."""
        p = dict(self._params)
        x, y = _spline.spline_grid(p["levels"], p["yk"], p["widths"], p["heights"])
        p.update(x=x, y=y)
        return p

    @lazy_property
    def _moments(self) -> Dict[str, Tensor]:
        """Closed-form integrals at the knots, for CRPS and moments:
        ``cum`` (B, K), ``mean`` and ``a1`` (B,) relative to ``ref``."""
        p = self._params
        i1 = i2 = None
        if p["widths"] is not None:
            i1, i2 = _spline.shape_integrals(p["widths"], p["heights"])
        return self._knot_moments(i1, i2)

    def _knot_moments(self, i1, i2) -> Dict[str, Tensor]:
        p = self._params
        cum, mean, a1 = _spline.knot_integrals(
            p["levels"], p["yk"], p["sl"], p["sr"], i1, i2
        )
        return dict(cum=cum, mean=mean, a1=a1)

    @lazy_property
    def _plain(self) -> Dict[str, object]:
        """Plain IQF (no pieces) in the target's units, for
        :func:`_spline.ramp_quantile`: knot levels ``level_list`` as floats,
        first knot ``y0`` (B,), interval ``slopes`` (K - 1, B) and tail scales
        ``sl``, ``sr`` (B,), all multiplied by ``scale`` (``y0`` also shifted
        by ``loc``)."""
        t = self._plain_t
        kv = t["kv"]  # (K, B)
        gaps = (self.knot_levels[1:] - self.knot_levels[:-1]).unsqueeze(-1)
        return dict(
            level_list=self.knot_levels.tolist(),
            y0=torch.addcmul(t["loc"], t["scale"], kv[0]),
            slopes=(kv[1:] - kv[:-1]) * (t["scale"] / gaps),
            sl=t["sl"] * t["scale"],
            sr=t["sr"] * t["scale"],
        )

    @lazy_property
    def _knots_km(self) -> Tensor:
        """Knot values knot-major, (K, B) contiguous: each knot one long row
        over the batch (a view when they already are, as
        ``IQFOutput(compile=True).domain_map`` returns them)."""
        B, K = self._B, self.knot_levels.shape[-1]
        return self.knot_values.reshape(B, K).transpose(0, 1).contiguous()

    @lazy_property
    def _plain_t(self) -> Dict[str, Tensor]:
        """Plain IQF in base units, knot-major (contiguous rows of B, so
        every element-wise pass is one long vector): knots ``y`` (K, B)
        relative to ``ref`` (B,) (and ``kv`` absolute), tail scales, ``loc``,
        ``scale`` (B,)."""
        B = self._B
        kv = self._knots_km
        ref = kv[int(torch.argmin((self.knot_levels - 0.5).abs()))]
        y = kv - ref
        sl, sr = 1.0 / self.beta_l.reshape(B), 1.0 / self.beta_r.reshape(B)
        return dict(
            kv=kv, y=y, ref=ref, sl=sl, sr=sr,
            loc=self.loc.reshape(B), scale=self.scale.reshape(B),
        )

    @lazy_property
    def _plain_slopes(self) -> Tuple[Tensor, Tensor]:
        """:func:`_spline.ramp_slopes` of the knot-major knots (reused by
        every cdf query)."""
        return _spline.ramp_slopes(self._plain_t["y"])

    @lazy_property
    def _plain_crps_weights(self) -> Tensor:
        """Knot weights (K,) of ``2 (mean - first moment)``, see
        :func:`_spline.plain_crps_weights`."""
        return _spline.plain_crps_weights(self.knot_levels)

    @property
    def _use_kernels(self) -> bool:
        """Use the compiled plain-IQF kernels for this query?"""
        return self.compile and self.piece_widths is None

    @lazy_property
    def _km_args(self) -> Tuple[Tuple[float, ...], Tensor, Tensor, Tensor, Tensor, Tensor]:
        """``(levels, kv, sl, sr, loc, scale)`` for :mod:`._compiled`: knot
        levels as floats, knot-major knots (K, B), tail scales, loc, scale
        (B,), all contiguous."""
        B = self._B
        return (
            tuple(self.knot_levels.tolist()), self._knots_km,
            1.0 / self.beta_l.reshape(B), 1.0 / self.beta_r.reshape(B),  # new, contiguous
            self.loc.reshape(B).contiguous(), self.scale.reshape(B).contiguous(),
        )

    def _natural(self, value) -> Tuple[Tensor, torch.Size]:
        """A query broadcast against the batch, laid out (M, B) without
        transposes; returns it and the broadcast shape."""
        value = torch.as_tensor(value, dtype=self.knot_levels.dtype, device=self.knot_levels.device)
        try:
            shape = _broadcast_shapes(value.shape, self.batch_shape)
        except RuntimeError as err:
            raise ValueError(
                f"value of shape {tuple(value.shape)} does not broadcast with "
                f"batch_shape {tuple(self.batch_shape)}"
            ) from err
        return value.expand(shape).reshape(-1, self._B), shape

    def _icdf_plain(self, value: Tensor) -> Tensor:
        """Quantiles of a plain IQF in the natural (sample, batch) layout:
        levels shared by the batch stay (M, 1) (one small matrix product),
        others are laid out (M, B) without transposes."""
        shape = _broadcast_shapes(value.shape, self.batch_shape)
        nb = len(self.batch_shape)
        lead = len(shape) - nb
        vshape = (1,) * (len(shape) - value.dim()) + tuple(value.shape)
        if all(n == 1 for n in vshape[lead:]):
            u = value.reshape(vshape[:lead]).expand(shape[:lead]).reshape(-1, 1)
        else:
            u = value.expand(shape).reshape(-1, self._B)
        if self._use_kernels:
            return _compiled.run("quantile", *self._km_args, u.contiguous()).reshape(shape)
        c = self._plain
        q = _spline.ramp_quantile(c["level_list"], c["y0"], c["slopes"], c["sl"], c["sr"], u)
        return q.reshape(shape)

    @lazy_property
    def _grid_integrals(self) -> Dict[str, Tensor]:
        """``cum`` (B, N) on the spline grid, for CRPS of many values."""
        p = self._flat
        cum, _, _ = _spline.integrals(p["x"], p["y"], p["sl"], p["sr"])
        return dict(cum=cum)

    def _use_knots(self, num_values: int) -> bool:
        """Answer a cdf / CRPS query of ``num_values`` values per batch
        element from the knots (cost ~ values x S) rather than the grid (cost
        ~ (K - 1) S to build, then ~ log N per value)? Without pieces the grid
        is the knots. (The two agree to rounding, not bit for bit.)"""
        return self.piece_widths is None or num_values <= self.knot_levels.shape[-1] - 1

    def _to_flat(self, value) -> Tuple[Tensor, torch.Size]:
        """Broadcast a query against the batch and lay it out as (B, M)."""
        natural, shape = self._natural(value)
        sample_shape = shape[: len(shape) - len(self.batch_shape)]
        return natural.transpose(0, 1), sample_shape

    def _from_flat(self, flat: Tensor, sample_shape: torch.Size) -> Tensor:
        return flat.transpose(0, 1).reshape(sample_shape + self.batch_shape)

    def _standardize(self, flat_value: Tensor) -> Tensor:
        """Values (B, M) -> base units relative to the reference (B, M)."""
        p = self._params
        return (flat_value - p["loc"]) / p["scale"] - p["ref"]

    def _icdf_flat(self, u: Tensor) -> Tensor:
        # always the grid with pieces (built once, then ~log N per level): a
        # level gives bit-equal quantiles alone or among others, which
        # QuantileFunctionForecast's quantile(a) / quantiles(levels) rely on
        p = self._flat
        q = _spline.quantile(p["x"], p["y"], p["sl"], p["sr"], u)
        return p["loc"] + p["scale"] * (p["ref"] + q)

    # ------------------------------------------------------------------ #
    # public API
    # ------------------------------------------------------------------ #
    def icdf(self, value) -> Tensor:
        """Quantile function at levels ``value`` in [0, 1].

        value : Tensor or float, shape broadcastable to (*sample_shape,
        *batch_shape). Returns that broadcast shape. Levels 0 and 1 give
        ``-inf`` / ``inf``; levels outside [0, 1] or NaN raise ``ValueError``.
        """
        levels = self.knot_levels
        value = torch.as_tensor(value, dtype=levels.dtype, device=levels.device)
        try:
            _broadcast_shapes(value.shape, self.batch_shape)
        except RuntimeError as err:
            raise ValueError(
                f"value of shape {tuple(value.shape)} does not broadcast with "
                f"batch_shape {tuple(self.batch_shape)}"
            ) from err
        if value.numel() > 0:
            lo, hi = torch.aminmax(value)
            if not (bool(lo >= 0) and bool(hi <= 1)):
                ok = (value >= 0) & (value <= 1)
                bad = value[~ok].flatten()[:5].tolist()
                raise ValueError(
                    f"quantile levels must lie in [0, 1], got values such as {bad}"
                )
        if self.piece_widths is None:
            return self._icdf_plain(value)
        u, sample_shape = self._to_flat(value)
        return self._from_flat(self._icdf_flat(u), sample_shape)

    def quantile(self, value) -> Tensor:
        """Alias of :meth:`icdf`."""
        return self.icdf(value)

    def cdf(self, value) -> Tensor:
        """``P(X <= value)``; shape as :meth:`icdf`."""
        if self._validate_args:
            self._validate_sample(torch.as_tensor(value))
        if self._use_kernels:
            z, shape = self._natural(value)
            return _compiled.run("cdf", *self._km_args, z.contiguous()).reshape(shape)
        if self.piece_widths is None:
            z, shape = self._natural(value)
            t = self._plain_t
            zs = (z - t["loc"]) / t["scale"] - t["ref"]
            f = _spline.ramp_cdf(
                self.knot_levels, t["y"], t["sl"], t["sr"], zs, self._plain_slopes
            )
            return f.reshape(shape)
        z, sample_shape = self._to_flat(value)
        zs = self._standardize(z)
        if self._use_knots(z.shape[-1]):
            p = self._params
            f = _spline.cdf_knots(
                p["levels"], p["yk"], p["sl"], p["sr"], zs, p["widths"], p["heights"]
            )
        else:
            p = self._flat
            f = _spline.cdf(p["x"], p["y"], p["sl"], p["sr"], zs)
        return self._from_flat(f, sample_shape)

    def log_prob(self, value) -> Tensor:
        """Log density; shape as :meth:`icdf`. The density is constant on each
        spline piece and exponential in the tails."""
        if self._validate_args:
            self._validate_sample(torch.as_tensor(value))
        z, sample_shape = self._to_flat(value)
        p = self._flat
        lp = _spline.log_density(
            p["x"], p["y"], p["sl"], p["sr"], self._standardize(z)
        ) - torch.log(p["scale"])
        return self._from_flat(lp, sample_shape)

    def crps(self, value) -> Tensor:
        """Closed-form continuous ranked probability score
        ``int (F(z) - 1{value <= z})^2 dz = 2 int_0^1 rho_a(value - q(a)) da``;
        shape as :meth:`icdf`."""
        if self._use_kernels:
            z, shape = self._natural(value)
            return _compiled.crps(*self._km_args, z.contiguous()).reshape(shape)
        if self.piece_widths is None:
            z, shape = self._natural(value)
            t = self._plain_t
            zs = (z - t["loc"]) / t["scale"] - t["ref"]
            c = _spline.ramp_crps_fused(
                self.knot_levels, t["y"], t["sl"], t["sr"], zs,
                self._plain_crps_weights, self._plain_slopes,
            )
            return (t["scale"] * c).reshape(shape)
        z, sample_shape = self._to_flat(value)
        zs = self._standardize(z)
        if self._use_knots(z.shape[-1]):
            p = self._params
            k = _spline.find_bins(p["yk"], zs)
            if "_moments" in self.__dict__:
                i, rows = self._moments, None
            else:
                # first query: integrals and the queried rows in one autograd
                # node (one gradient buffer per fraction tensor)
                # node (one gradient buffer per fraction tensor); grad mode
                # on, as for every lazy property, so the cached integrals
                # keep their graph for later queries
                with torch.enable_grad():
                    i1, i2, w, h = _spline.shape_integrals_and_rows(
                        p["widths"], p["heights"], k
                    )
                    i, rows = self._knot_moments(i1, i2), (w, h)
                self.__dict__["_moments"] = i
            c = _spline.crps_knots(
                p["levels"], p["yk"], p["sl"], p["sr"], i["cum"], i["mean"],
                i["a1"], zs, p["widths"], p["heights"], k, rows,
            )
        else:
            i = self._moments
            p = self._flat
            c = _spline.crps(
                p["x"], p["y"], p["sl"], p["sr"], self._grid_integrals["cum"],
                i["mean"], i["a1"], zs,
            )
        return self._from_flat(p["scale"] * c, sample_shape)

    def _masked_crps(self, value: Tensor) -> Tensor:
        """:meth:`crps` with non-finite values scored 0 (zero gradient), by the
        compiled kernels (``compile=True``, plain IQF): the training loss of
        :meth:`IQFOutput.loss`."""
        z, shape = self._natural(value)
        return _compiled.crps(*self._km_args, z.contiguous(), True).reshape(shape)

    def rsample(self, sample_shape=torch.Size()) -> Tensor:
        """Reparameterised samples ``q(U)``, shape (*sample_shape, *batch_shape)."""
        shape = self._extended_shape(torch.Size(sample_shape))
        levels = self.knot_levels
        lo, hi = _spline.level_bounds(levels.dtype)
        if self._use_kernels:
            n = math.prod(shape[: len(shape) - len(self.batch_shape)])
            u = torch.rand(n, self._B, dtype=levels.dtype, device=levels.device)
            return _compiled.run("sample", *self._km_args, u, lo, hi).reshape(shape)
        u = torch.rand(shape, dtype=levels.dtype, device=levels.device)
        if self.piece_widths is None:
            return self._icdf_plain(u.clamp_(lo, hi))
        u_flat, s_shape = self._to_flat(u.clamp(lo, hi))
        return self._from_flat(self._icdf_flat(u_flat), s_shape)

    @property
    def mean(self) -> Tensor:
        """Exact mean, shape batch_shape."""
        p = self._params
        m = p["loc"].squeeze(-1) + p["scale"].squeeze(-1) * (
            p["ref"].squeeze(-1) + self._moments["mean"]
        )
        return m.reshape(self.batch_shape)

    @property
    def median(self) -> Tensor:
        return self.icdf(0.5)

    @property
    def mode(self) -> Tensor:
        raise NotImplementedError(
            "IQF's density is piecewise constant; its mode is not unique"
        )

    @property
    def variance(self) -> Tensor:
        """Exact variance, shape batch_shape."""
        p = self._flat
        v = _spline.central_second_moment(
            p["x"], p["y"], self._moments["mean"], p["sl"], p["sr"]
        )
        return (p["scale"].squeeze(-1) ** 2 * v).reshape(self.batch_shape)

    def entropy(self) -> Tensor:
        """Exact differential entropy, shape batch_shape."""
        p = self._flat
        h = _spline.entropy(p["x"], p["y"], p["sl"], p["sr"])
        return (h + torch.log(p["scale"].squeeze(-1))).reshape(self.batch_shape)

    def expand(self, batch_shape, _instance=None) -> "IQF":
        batch_shape = torch.Size(batch_shape)
        K = self.knot_levels.shape[-1]
        pieces = {}
        if self.piece_widths is not None:
            S = self.num_pieces
            pieces = dict(
                piece_widths=self.piece_widths.expand(*batch_shape, K - 1, S),
                piece_heights=self.piece_heights.expand(*batch_shape, K - 1, S),
            )
        return IQF(
            self.knot_levels,
            self.knot_values.expand(*batch_shape, K),
            self.beta_l.expand(batch_shape),
            self.beta_r.expand(batch_shape),
            loc=self.loc.expand(batch_shape),
            scale=self.scale.expand(batch_shape),
            validate_args=False,
            compile=self.compile,
            **pieces,
        )

    def __repr__(self) -> str:
        return (
            f"IQF(knot_levels={self.knot_levels.tolist()}, num_pieces="
            f"{self.num_pieces}, batch_shape={tuple(self.batch_shape)})"
        )


class IQFOutput(DistributionOutput):
    r"""GluonTS ``DistributionOutput`` for :class:`IQF`.

    Parameters
    ----------
    knot_levels
        Strictly increasing levels in (0, 1), at least two. Default: MQ-CNN's
        ``0.025, 0.1, 0.2, ..., 0.9, 0.975``.
    num_pieces
        Linear spline pieces per inter-knot interval (1 = IQF, > 1 = ISQF).
    loss
        ``"crps"`` (closed form, default), ``"nll"`` (negative log density) or
        ``"quantile"`` (trapezoid-weighted pinball loss at the knots, the
        MQ-CNN IQF head's loss; needs ``num_pieces=1`` and
        ``tails="fitted"``).
    tails
        ``"learned"``: the network outputs both tail rates; ``"fitted"``: each
        tail is the exponential through the two outermost knots on its side
        (MQ-CNN's extrapolation), no extra parameters.
    min_slope
        Floor of the quantile function's slope in scaled units (see
        ``MIN_SLOPE``).
    compile
        With ``num_pieces=1``: the distributions answer quantile, cdf, CRPS
        (the training loss) and sampling with fused kernels compiled by
        ``torch.compile`` (``IQF(compile=True)``; seconds of compilation on
        first use, several times faster afterwards; eager fallback with a
        warning where compilation is unavailable). Ignored with spline
        pieces.

    Notes
    -----
    The network's raw outputs map to: the first knot value (free); each next
    knot value = previous + gap * (softplus(raw) + min_slope), where gap is
    the level distance, so every raw value sets the slope of its interval;
    tail scales ``a_1 * (softplus(raw) + min_slope)`` (left) and ``(1 - a_K) *
    (softplus(raw) + min_slope)`` (right), which makes the density continuous
    at the outer knots when the raw values agree; spline fractions from a
    floored softmax.
    """

    distr_cls: type = IQF

    @validated()
    def __init__(
        self,
        knot_levels: Optional[List[float]] = None,
        num_pieces: _pydantic.StrictInt = 1,  # strict: 2.5 must not become 2
        loss: str = "crps",
        tails: str = "learned",
        min_slope: float = MIN_SLOPE,
        compile: bool = False,
    ) -> None:
        super().__init__()
        self.compile = bool(compile)
        self.knot_levels = check_knot_levels(
            DEFAULT_KNOT_LEVELS if knot_levels is None else knot_levels
        )
        self.num_pieces = check_num_pieces(num_pieces)
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
        if tails not in TAILS:
            raise ValueError(f"tails must be one of {TAILS}, got {tails!r}")
        if loss == "quantile" and (num_pieces != 1 or tails != "fitted"):
            raise ValueError(
                "loss='quantile' only sees the knot values: it cannot train "
                "spline pieces or tails, so it needs num_pieces=1 and "
                f"tails='fitted' (got num_pieces={num_pieces}, tails={tails!r})"
            )
        if not (min_slope > 0 and math.isfinite(min_slope)):
            raise ValueError(f"min_slope must be positive and finite, got {min_slope}")
        self.loss_name = loss
        self.tails = tails
        self.min_slope = float(min_slope)
        K, S = len(self.knot_levels), self.num_pieces
        self.args_dim: Dict[str, int] = {"knot_values": K}
        if tails == "learned":
            self.args_dim["tails"] = 2
        if S > 1:
            self.args_dim["piece_widths"] = (K - 1) * S
            self.args_dim["piece_heights"] = (K - 1) * S

    @property
    def event_shape(self) -> Tuple:
        return ()

    def _levels(self, like: Tensor) -> Tensor:
        return torch.tensor(self.knot_levels, dtype=like.dtype, device=like.device)

    def domain_map(self, *raw: Tensor) -> Tuple[Tensor, ...]:
        """Raw network outputs -> IQF parameters.

        raw : Tensors of shape (*batch_shape, dim) in the order of
        ``args_dim``. Returns ``(knot_values (*b, K), beta_l (*b,), beta_r
        (*b,))`` followed, for ``num_pieces > 1``, by ``(piece_widths,
        piece_heights)`` of shape (*b, K - 1, S).
        """
        raw = list(raw)
        if self.compile and self.num_pieces == 1 and self.tails == "learned":
            return self._domain_map_compiled(*raw)
        knots_raw = raw.pop(0)
        levels = self._levels(knots_raw)
        # first knot + cumulative sum of gap * slope, written as one cumsum
        # over the whole contiguous block with a zero gap in front (same
        # numbers; softplus is many times slower on a strided slice, and each
        # slice's backward zero-fills a (*b, K) tensor)
        gaps = torch.cat([levels.new_zeros(1), levels[1:] - levels[:-1]])
        steps = gaps * (F.softplus(knots_raw) + self.min_slope)
        knot_values = torch.cumsum(steps, -1) + knots_raw[..., :1]
        if self.tails == "learned":
            tails_raw = raw.pop(0)
            tails = F.softplus(tails_raw) + self.min_slope  # contiguous: fast
            s_left = levels[0] * tails[..., 0]
            s_right = (1 - levels[-1]) * tails[..., 1]
        else:
            s_left, s_right = fitted_tail_scales(self.knot_levels, knot_values)
        out = (knot_values, 1.0 / s_left, 1.0 / s_right)
        if self.num_pieces > 1:
            K, S = len(self.knot_levels), self.num_pieces
            out = out + tuple(
                _floored_softmax(r.reshape(*r.shape[:-1], K - 1, S)) for r in raw
            )
        return out

    def _domain_map_compiled(self, knots_raw: Tensor, tails_raw: Tensor) -> Tuple[Tensor, ...]:
        """:meth:`domain_map` by the compiled knot-major kernel
        (:func:`._compiled.domain_map_km`): the knot values come back as a
        (*b, K) view of a knot-major (K, N) tensor, the layout the compiled
        queries read without a copy."""
        b = knots_raw.shape[:-1]
        K = knots_raw.shape[-1]
        kr = knots_raw.reshape(-1, K).transpose(0, 1).contiguous()
        tr = tails_raw.reshape(-1, 2).transpose(0, 1).contiguous()
        kv, beta_l, beta_r = _compiled.run(
            "domain_map", tuple(self.knot_levels), self.min_slope, kr, tr
        )
        return kv.transpose(0, 1).reshape(*b, K), beta_l.reshape(b), beta_r.reshape(b)

    def distribution(
        self,
        distr_args: Tuple[Tensor, ...],
        loc: Optional[Tensor] = None,
        scale: Optional[Tensor] = None,
    ) -> IQF:
        """The :class:`IQF` of ``distr_args`` (output of :meth:`domain_map`),
        shifted by ``loc`` and multiplied by ``scale`` (each optional, shape
        broadcastable to the batch shape)."""
        knot_values = distr_args[0]
        return IQF(
            self._levels(knot_values),
            *distr_args,
            loc=loc,
            scale=scale,
            validate_args=False,  # valid by construction of domain_map
            compile=self.compile,
        )

    def loss(
        self,
        target: Tensor,
        distr_args: Tuple[Tensor, ...],
        loc: Optional[Tensor] = None,
        scale: Optional[Tensor] = None,
    ) -> Tensor:
        """Per-entry loss in the target's units, shape of ``target``.

        Non-finite targets (missing values that reach the loss unimputed) get
        loss 0 and no gradient; GluonTS's observed-values mask weights them
        out of the average.
        """
        distr = self.distribution(distr_args, loc=loc, scale=scale)
        if self.loss_name == "crps" and distr._use_kernels:
            return distr._masked_crps(target)  # the masking fused into the kernels
        finite = torch.isfinite(target)
        safe = torch.where(finite, target, 0.0)
        if self.loss_name == "crps":
            value = distr.crps(safe)
        elif self.loss_name == "nll":
            value = -distr.log_prob(safe)
        else:
            value = self._quantile_loss(distr, safe)
        return torch.where(finite, value, 0.0)

    def _quantile_loss(self, distr: IQF, target: Tensor) -> Tensor:
        """Trapezoid-weighted ``2 rho_a`` at the knots: the CRPS of the
        piecewise-linear interpolant on [a_1, a_K] (MQ-CNN's IQF loss)."""
        levels = self._levels(target)
        w = torch.empty_like(levels)
        w[0] = (levels[1] - levels[0]) / 2
        w[-1] = (levels[-1] - levels[-2]) / 2
        w[1:-1] = (levels[2:] - levels[:-2]) / 2
        q = distr.loc.unsqueeze(-1) + distr.scale.unsqueeze(-1) * distr.knot_values
        return (2 * w * _spline.pinball(levels, q, target.unsqueeze(-1))).sum(-1)


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
    See :func:`_floored_softmax`."""

    @staticmethod
    def forward(ctx, logits: Tensor, floor: float) -> Tensor:
        S = logits.shape[-1]
        c1 = 1.0 / (1.0 + S * floor)
        flat = logits.reshape(-1, *logits.shape[-2:])  # (n, K - 1, S)
        out = torch.empty_like(flat)
        tiny = math.sqrt(torch.finfo(flat.dtype).tiny)
        for b in _spline.row_blocks(flat.shape[0], flat[0].numel()):
            x, e = flat[b], out[b]
            # shift by the maximum over all pieces of a batch element (one
            # fast reduction over a long row instead of one per interval); if
            # that leaves an interval's exponentials near underflow, shift
            # each interval by its own maximum instead
            shift = x.flatten(-2).amax(-1).reshape(-1, 1, 1)
            torch.sub(x, shift, out=e).exp_()
            total = _spline.row_sum(e)
            if bool((total < tiny).any()):
                torch.sub(x, x.amax(-1, keepdim=True), out=e).exp_()
                total = _spline.row_sum(e)
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
        for b in _spline.row_blocks(out.shape[0], out[0].numel()):
            # with v = out - c2 = c1 softmax: d/dx_j = v_j (g_j - sum_i g_i v_i / c1)
            gb, r = g[b], res[b]
            v = out[b] - c2
            dot = _spline.row_sum(torch.mul(gb, v, out=r)).div_(c1).unsqueeze(-1)
            torch.sub(gb, dot, out=r).mul_(v)
        return res.reshape(grad.shape), None


def _floored_softmax(logits: Tensor) -> Tensor:
    """Softmax over the last axis with every share >= floor / (1 + S floor).

    A custom autograd function (a few fused passes forward and backward):
    ``torch.softmax`` and autograd's generic chain are slow for the short last
    axes used here (S ~ 10 pieces).
    """
    return _FlooredSoftmax.apply(logits, PIECE_FRACTION_FLOOR)
