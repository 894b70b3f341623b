"""Incremental (Spline) Quantile Function distribution.

``IQF`` is a batch of monotone quantile functions (Park et al., AISTATS 2022):
knot values at fixed levels joined by monotone linear spline pieces, with
exponential tails beyond the outer knots. Every query (quantile, cdf, density,
CRPS, moments) is exact and closed-form: from the spline grid
(:mod:`._grid`), from the knots (:mod:`._knots`) or, with one piece per
interval, by the plain-IQF formulas (:mod:`._plain`, compiled by
:mod:`._compiled`); the maths is in docs/methods.md, IQF section.
"""

import math
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor
from torch.distributions import Distribution, constraints
from torch.distributions.utils import lazy_property

from ..levels import check_levels, median_index
from . import _compiled, _grid, _knots, _plain
from ._common import broadcast_shapes, level_bounds

__all__ = [
    "DEFAULT_KNOT_LEVELS", "IQF", "IQFOutput", "MIN_SLOPE", "check_knot_levels", "fitted_tail_scales",
]

#: Default knot levels: MQ-CNN's training levels (the IQF head of the paper).
DEFAULT_KNOT_LEVELS = (0.025, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.975)


def check_knot_levels(knot_levels: Sequence[float]) -> List[float]:
    """Validate quantile-knot levels and return them as a list of floats.

    Raises ``ValueError`` naming the problem: fewer than two levels, a level
    outside the open interval (0, 1), or levels not strictly increasing
    (unsorted or repeated).
    """
    return check_levels(knot_levels, "knot_levels", min_count=2).tolist()


class _NonDecreasing(constraints.Constraint):
    """Finite values, non-decreasing along the last axis."""

    event_dim = 1

    def check(self, value: Tensor) -> Tensor:
        finite = torch.isfinite(value).all(-1)
        return finite & (value[..., 1:] >= value[..., :-1]).all(-1)


_simplex_last = constraints.independent(constraints.simplex, 1)


class FlatParams(NamedTuple):
    """IQF parameters flat over the batch (B = prod(batch_shape)), values
    relative to the reference knot (the one nearest the median), so that
    later computations work with numbers of the size of the spread."""

    levels: Tensor  # (K,) knot levels
    knots: Tensor  # (B, K) knot values minus ref
    ref: Tensor  # (B, 1) the reference knot's value
    widths: Optional[Tensor]  # (B, K - 1, S) spline level fractions; None: one piece
    heights: Optional[Tensor]  # (B, K - 1, S) spline value fractions; None: one piece
    s_left: Tensor  # (B,) left tail scale 1 / beta_l
    s_right: Tensor  # (B,) right tail scale 1 / beta_r
    loc: Tensor  # (B, 1)
    scale: Tensor  # (B, 1)


class SplineGrid(NamedTuple):
    """The spline points of :func:`._grid.spline_grid`."""

    x: Tensor  # (N,) shared levels without pieces, else (B, N)
    y: Tensor  # (B, N) values relative to ref


class KnotIntegrals(NamedTuple):
    """Closed-form integrals at the knots (:func:`._grid.integrals`),
    relative to ref."""

    cum: Tensor  # (B, K) int_0^{a_k} q
    mean: Tensor  # (B,) int_0^1 q
    first_moment: Tensor  # (B,) int_0^1 a q(a) da


class PlainArgs(NamedTuple):
    """A plain IQF's tensors for :mod:`._plain`, contiguous."""

    knots: Tensor  # (K, B) knot values, knot-major
    s_left: Tensor  # (B,)
    s_right: Tensor  # (B,)
    loc: Tensor  # (B,)
    scale: Tensor  # (B,)


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
            batch_shape = broadcast_shapes(*shapes)
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
    def _params(self) -> FlatParams:
        """:class:`FlatParams` of this distribution."""
        B, K = self._B, self.knot_levels.shape[-1]
        kv = self.knot_values.reshape(B, K)
        k_ref = median_index(self.knot_levels.tolist())
        ref = kv[:, k_ref : k_ref + 1]
        widths = heights = None
        if self.piece_widths is not None:
            S = self.num_pieces
            widths = self.piece_widths.reshape(B, K - 1, S)
            heights = self.piece_heights.reshape(B, K - 1, S)
        return FlatParams(
            self.knot_levels, kv - ref, ref, widths, heights,
            1.0 / self.beta_l.reshape(B), 1.0 / self.beta_r.reshape(B),
            self.loc.reshape(B, 1), self.scale.reshape(B, 1),
        )

    @lazy_property
    def _grid(self) -> SplineGrid:
        """The spline grid, built only for queries with many values per
        batch element (and ``log_prob``, ``variance``, ``entropy``); few-value
        queries work from the knots."""
        p = self._params
        return SplineGrid(*_grid.spline_grid(p.levels, p.knots, p.widths, p.heights))

    @lazy_property
    def _moments(self) -> KnotIntegrals:
        """Closed-form integrals at the knots, for CRPS and moments."""
        p = self._params
        i1 = i2 = None
        if p.widths is not None:
            i1, i2 = _knots.shape_integrals(p.widths, p.heights)
        return self._knot_moments(i1, i2)

    def _knot_moments(self, i1: Optional[Tensor], i2: Optional[Tensor]) -> KnotIntegrals:
        p = self._params
        return KnotIntegrals(*_grid.integrals(p.levels, p.knots, p.s_left, p.s_right, i1, i2))

    @lazy_property
    def _grid_integrals(self) -> Tensor:
        """``int_0^{x_j} q`` (B, N) on the spline grid, for CRPS of many
        values."""
        p, g = self._params, self._grid
        return _grid.integrals(g.x, g.y, p.s_left, p.s_right)[0]

    def _use_knots(self, num_values: int) -> bool:
        """Answer a cdf / CRPS query of ``num_values`` values per batch
        element (with spline pieces) from the knots (cost ~ values x S)
        rather than the grid (cost ~ (K - 1) S to build, then ~ log N per
        value)? (The two agree to rounding, not bit for bit.)"""
        return num_values <= self.knot_levels.shape[-1] - 1

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
        return (flat_value - p.loc) / p.scale - p.ref

    def _icdf_flat(self, u: Tensor) -> Tensor:
        # always the grid with pieces (built once, then ~log N per level): a
        # level gives bit-equal quantiles alone or among others, which
        # QuantileFunctionForecast's quantile(a) / quantiles(levels) rely on
        p, g = self._params, self._grid
        q = _grid.quantile(g.x, g.y, p.s_left, p.s_right, u)
        return p.loc + p.scale * (p.ref + q)

    # ------------------------------------------------------------------ #
    # plain IQF (no pieces): knot-major internals, queries (M, B)
    # ------------------------------------------------------------------ #
    @property
    def _use_kernels(self) -> bool:
        """Use the compiled plain-IQF kernels for this query?"""
        return self.compile and self.piece_widths is None

    @lazy_property
    def _plain_constants(self) -> _plain.LevelConstants:
        return _plain.level_constants(tuple(self.knot_levels.tolist()))

    @lazy_property
    def _plain_args(self) -> PlainArgs:
        """:class:`PlainArgs`: the knots knot-major (a view when they already
        are, as ``IQFOutput(compile=True).domain_map`` returns them)."""
        B, K = self._B, self.knot_levels.shape[-1]
        return PlainArgs(
            self.knot_values.reshape(B, K).transpose(0, 1).contiguous(),
            1.0 / self.beta_l.reshape(B), 1.0 / self.beta_r.reshape(B),  # new, contiguous
            self.loc.reshape(B).contiguous(), self.scale.reshape(B).contiguous(),
        )

    @lazy_property
    def _plain_target_units(self) -> _plain.TargetUnits:
        return _plain.target_units(self._plain_constants, *self._plain_args)

    @lazy_property
    def _plain_relative_knots(self) -> _plain.RelativeKnots:
        return _plain.relative_knots(self._plain_constants, self._plain_args.knots)

    def _natural(self, value) -> Tuple[Tensor, torch.Size]:
        """A query broadcast against the batch, laid out (M, B) without
        transposes; returns it and the broadcast shape."""
        value = torch.as_tensor(value, dtype=self.knot_levels.dtype, device=self.knot_levels.device)
        try:
            shape = broadcast_shapes(value.shape, self.batch_shape)
        except RuntimeError as err:
            raise ValueError(
                f"value of shape {tuple(value.shape)} does not broadcast with "
                f"batch_shape {tuple(self.batch_shape)}"
            ) from err
        return value.expand(shape).reshape(-1, self._B), shape

    def _icdf_plain(self, value: Tensor) -> Tensor:
        """Quantiles of a plain IQF in the natural (sample, batch) layout:
        levels shared by the batch stay (M, 1), others are laid out (M, B)
        without transposes."""
        shape = broadcast_shapes(value.shape, self.batch_shape)
        lead = len(shape) - len(self.batch_shape)
        vshape = (1,) * (len(shape) - value.dim()) + tuple(value.shape)
        if all(n == 1 for n in vshape[lead:]):
            u = value.reshape(vshape[:lead]).expand(shape[:lead]).reshape(-1, 1)
        else:
            u = value.expand(shape).reshape(-1, self._B)
        c = self._plain_constants
        if self._use_kernels:
            return _compiled.run("quantile", c, *self._plain_args, u.contiguous()).reshape(shape)
        p = self._plain_target_units
        needs_grad = torch.is_grad_enabled() and any(t.requires_grad for t in (*p, u))
        if u.shape[-1] != 1 and not needs_grad:
            return _plain.quantile_blocks(c, p, u).reshape(shape)
        return _plain.quantile(c, p, u).reshape(shape)

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
            broadcast_shapes(value.shape, self.batch_shape)
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
        if self.piece_widths is None:
            z, shape = self._natural(value)
            c, a = self._plain_constants, self._plain_args
            if self._use_kernels:
                return _compiled.run("cdf", c, *a, z.contiguous()).reshape(shape)
            rk = self._plain_relative_knots
            zs = _plain.standardise(rk, a.loc, a.scale, z)
            return _plain.cdf(c, rk, a.s_left, a.s_right, zs).reshape(shape)
        z, sample_shape = self._to_flat(value)
        zs = self._standardize(z)
        p = self._params
        if self._use_knots(z.shape[-1]):
            f = _knots.cdf_knots(p.levels, p.knots, p.s_left, p.s_right, zs, p.widths, p.heights)
        else:
            g = self._grid
            f = _grid.cdf(g.x, g.y, p.s_left, p.s_right, zs)
        return self._from_flat(f, sample_shape)

    def log_prob(self, value) -> Tensor:
        """Log density; shape as :meth:`icdf`. The density is constant on each
        spline piece and exponential in the tails."""
        if self._validate_args:
            self._validate_sample(torch.as_tensor(value))
        z, sample_shape = self._to_flat(value)
        p, g = self._params, self._grid
        lp = _grid.log_density(g.x, g.y, p.s_left, p.s_right, self._standardize(z))
        return self._from_flat(lp - torch.log(p.scale), sample_shape)

    def crps(self, value) -> Tensor:
        """Closed-form continuous ranked probability score
        ``int (F(z) - 1{value <= z})^2 dz = 2 int_0^1 rho_a(value - q(a)) da``;
        shape as :meth:`icdf`."""
        if self.piece_widths is None:
            return self._crps_plain(value, masked=False)
        z, sample_shape = self._to_flat(value)
        zs = self._standardize(z)
        p = self._params
        if not self._use_knots(z.shape[-1]):
            g, i = self._grid, self._moments
            c = _grid.crps(
                g.x, g.y, p.s_left, p.s_right, self._grid_integrals, i.mean, i.first_moment, zs
            )
            return self._from_flat(p.scale * c, sample_shape)
        k = _grid.find_bins(p.knots, zs)
        if "_moments" in self.__dict__:
            i, rows = self._moments, None
        else:
            # first query: integrals and the queried rows in one autograd
            # node (one gradient buffer per fraction tensor); grad mode on,
            # as for every lazy property, so the cached integrals keep their
            # graph for later queries
            with torch.enable_grad():
                i1, i2, w, h = _knots.shape_integrals_and_rows(p.widths, p.heights, k)
                i, rows = self._knot_moments(i1, i2), (w, h)
            self.__dict__["_moments"] = i
        c = _knots.crps_knots(
            p.levels, p.knots, p.s_left, p.s_right, i.cum, i.mean, i.first_moment, zs,
            p.widths, p.heights, k, rows,
        )
        return self._from_flat(p.scale * c, sample_shape)

    def _crps_plain(self, value, masked: bool) -> Tensor:
        """:meth:`crps` of a plain IQF; with ``masked``, non-finite values
        score 0 with zero gradient (the training loss of
        :meth:`IQFOutput.loss`)."""
        z, shape = self._natural(value)
        rk = None if self._use_kernels else self._plain_relative_knots
        out = _compiled.crps(
            self._plain_constants, *self._plain_args, z.contiguous(), masked, self._use_kernels, rk
        )
        return out.reshape(shape)

    def rsample(self, sample_shape=torch.Size()) -> Tensor:
        """Reparameterised samples ``q(U)``, shape (*sample_shape, *batch_shape)."""
        shape = self._extended_shape(torch.Size(sample_shape))
        levels = self.knot_levels
        lo, hi = level_bounds(levels.dtype)
        if self._use_kernels:
            n = math.prod(shape[: len(shape) - len(self.batch_shape)])
            u = torch.rand(n, self._B, dtype=levels.dtype, device=levels.device)
            return _compiled.run(
                "sample", self._plain_constants, *self._plain_args, u, lo, hi
            ).reshape(shape)
        u = torch.rand(shape, dtype=levels.dtype, device=levels.device)
        if self.piece_widths is None:
            return self._icdf_plain(u.clamp_(lo, hi))
        u_flat, s_shape = self._to_flat(u.clamp(lo, hi))
        return self._from_flat(self._icdf_flat(u_flat), s_shape)

    @property
    def mean(self) -> Tensor:
        """Exact mean, shape batch_shape."""
        p = self._params
        m = p.loc.squeeze(-1) + p.scale.squeeze(-1) * (p.ref.squeeze(-1) + self._moments.mean)
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
        p, g = self._params, self._grid
        v = _grid.central_second_moment(g.x, g.y, self._moments.mean, p.s_left, p.s_right)
        return (p.scale.squeeze(-1) ** 2 * v).reshape(self.batch_shape)

    def entropy(self) -> Tensor:
        """Exact differential entropy, shape batch_shape."""
        p, g = self._params, self._grid
        h = _grid.entropy(g.x, g.y, p.s_left, p.s_right)
        return (h + torch.log(p.scale.squeeze(-1))).reshape(self.batch_shape)

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


# re-exported: saved predictors and user code import these from this module
from ._domain_map import fitted_tail_scales  # noqa: E402
from .iqf_output import MIN_SLOPE, IQFOutput  # noqa: E402
