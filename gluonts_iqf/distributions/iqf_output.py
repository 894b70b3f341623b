"""GluonTS ``DistributionOutput`` for :class:`~gluonts_iqf.IQF`: settings,
the domain map from raw network outputs and the training losses."""

import math
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np
import torch
from torch import Tensor

from gluonts.core.component import validated
from gluonts.pydantic import pydantic as _pydantic
from gluonts.model.forecast import Forecast
from gluonts.model.forecast_generator import DistributionForecastGenerator
from gluonts.torch.distributions import DistributionOutput

from . import _compiled, _plain
from ._common import pinball
from ._domain_map import fitted_tail_scales, floored_softmax, knot_values, learned_tail_scales
from .iqf import DEFAULT_KNOT_LEVELS, IQF, check_knot_levels

#: Lower bound of the quantile function's slope ``dq/da`` in the network's
#: scaled units (scale ~ mean absolute value of the series): bounds the density
#: by ``1 / (MIN_SLOPE * scale)`` so ``log_prob`` and ``1 / dq`` stay finite.
MIN_SLOPE = 1e-4

LOSSES = ("crps", "nll", "quantile")
TAILS = ("learned", "fitted")


def check_num_pieces(num_pieces: int) -> int:
    """``num_pieces`` as an int >= 1; ``ValueError`` otherwise."""
    if isinstance(num_pieces, bool) or int(num_pieces) != num_pieces:
        raise ValueError(f"num_pieces must be an integer, got {num_pieces!r}")
    if num_pieces < 1:
        raise ValueError(f"num_pieces must be >= 1, got {num_pieces}")
    return int(num_pieces)


def check_num_samples(num_samples) -> int:
    """A positive int, or a ValueError naming ``num_samples``."""
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples < 1:
        raise ValueError(f"num_samples must be a positive int, got {num_samples!r}")
    return int(num_samples)


class QuantileFunctionForecastGenerator(DistributionForecastGenerator):
    """GluonTS's ``DistributionForecastGenerator`` that keeps the
    ``num_samples`` of ``predictor.predict(data, num_samples=n)``: each
    :class:`~gluonts_iqf.QuantileFunctionForecast` it yields gets ``num_samples = n``
    (the rows of its lazily drawn ``samples``; ``gluonts.shell``'s server
    passes the request's ``num_samples`` this way). Nothing is drawn here;
    forecasts of other distributions pass through unchanged, and with ``n``
    None or 0 (not given, as GluonTS's sample generators read it) every
    forecast keeps its default count (100)."""

    @validated()
    def __init__(self, distr_output) -> None:
        self.distr_output = distr_output

    def __call__(
        self,
        inference_data_loader,
        prediction_net,
        input_names: List[str],
        output_transform=None,
        num_samples: Optional[int] = None,
        **kwargs,
    ) -> Iterator[Forecast]:
        if num_samples:
            num_samples = check_num_samples(num_samples)
        # num_samples=None upstream: the count is used here, so GluonTS's
        # "not sample based, ignoring num_samples" notice would be wrong
        for forecast in super().__call__(
            inference_data_loader, prediction_net, input_names, output_transform, None, **kwargs
        ):
            if num_samples and hasattr(forecast, "draw_samples"):  # a QuantileFunctionForecast
                forecast.num_samples = num_samples
            yield forecast


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

    @property
    def forecast_generator(self) -> "QuantileFunctionForecastGenerator":
        """GluonTS's distribution forecast generator that also passes
        ``predict``'s ``num_samples`` to the forecasts (the rows of their
        samples drawn on request)."""
        return QuantileFunctionForecastGenerator(self)

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
        gaps = torch.cat([levels.new_zeros(1), levels[1:] - levels[:-1]])
        kv = knot_values(gaps, knots_raw, self.min_slope)
        if self.tails == "learned":
            outer = (self.knot_levels[0], self.knot_levels[-1])
            s_left, s_right = learned_tail_scales(outer, raw.pop(0), self.min_slope)
        else:
            s_left, s_right = fitted_tail_scales(self.knot_levels, kv)
        out = (kv, 1.0 / s_left, 1.0 / s_right)
        if self.num_pieces > 1:
            K, S = len(self.knot_levels), self.num_pieces
            out = out + tuple(floored_softmax(r.reshape(*r.shape[:-1], K - 1, S)) for r in raw)
        return out

    def _domain_map_compiled(self, knots_raw: Tensor, tails_raw: Tensor) -> Tuple[Tensor, ...]:
        """:meth:`domain_map` by the compiled knot-major kernel
        (:func:`._compiled.domain_map_kernel`): the knot values come back as
        a (*b, K) view of a knot-major (K, N) tensor, the layout the compiled
        queries read without a copy."""
        b = knots_raw.shape[:-1]
        K = knots_raw.shape[-1]
        kr = knots_raw.reshape(-1, K).transpose(0, 1).contiguous()
        tr = tails_raw.reshape(-1, 2).transpose(0, 1).contiguous()
        c = _plain.level_constants(tuple(self.knot_levels))
        kv, beta_l, beta_r = _compiled.run("domain_map", c, self.min_slope, kr, tr)
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
        if self.loss_name == "crps" and self.num_pieces == 1:
            return distr._crps_plain(target, masked=True)  # the masking inside the CRPS node
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
        return (2 * w * pinball(levels, q, target.unsqueeze(-1))).sum(-1)
