"""A location-scale forecast (a Gaussian, or one with calibrated standard
quantiles) as a plain IQF: its quantiles at the knot levels, joined
linearly, with exponential tails that continue its slope, so it can be
mixed level by level with other plain IQFs
(:func:`~gluonts_iqf.distributions.average.average_quantile_functions`)."""

import math
from typing import Sequence, Tuple

import torch
from torch import Tensor


def location_scale_plain_iqf(
    mean: Tensor, std: Tensor, knot_levels: Sequence[float], z: Tensor, slope_l: Tensor, slope_r: Tensor
) -> Tuple[Tensor, Tensor, Tensor]:
    """A plain IQF of ``mean + std Z``: knots ``mean + std z`` for a standard
    variable Z with quantiles ``z`` (K,) at ``knot_levels``, and exponential
    tails whose slope ``q'(a)`` at the outer knots is ``std`` times Z's
    quantile-function slopes ``slope_l``, ``slope_r`` there (so the tail
    scale is ``a std slope``).

    mean, std : (*b) -> ``knot_values`` (*b, K), ``beta_l``, ``beta_r`` (*b)
    in data units. ``std`` is floored at the dtype's ``eps`` times the
    mean's magnitude (plus ``tiny``) so the knots stay strictly increasing
    (``z`` must be).
    """
    levels = torch.as_tensor(knot_levels, dtype=mean.dtype, device=mean.device)
    eps = torch.finfo(mean.dtype).eps
    std = torch.maximum(std, eps * mean.abs() + torch.finfo(mean.dtype).tiny / eps)
    knots = mean.unsqueeze(-1) + std.unsqueeze(-1) * z
    tail_l = levels[0] * std * slope_l
    tail_r = (1 - levels[-1]) * std * slope_r
    return knots, 1.0 / tail_l, 1.0 / tail_r


def gaussian_plain_iqf(
    mean: Tensor, std: Tensor, knot_levels: Sequence[float]
) -> Tuple[Tensor, Tensor, Tensor]:
    """A plain IQF through a Gaussian's quantiles at ``knot_levels``, its
    exponential tails with the Gaussian's slope at the outer knots
    (``q'(a) = std / phi(z_a)``): :func:`location_scale_plain_iqf` with the
    standard normal's quantiles.

    mean, std : (*b) -> ``knot_values`` (*b, K), ``beta_l``, ``beta_r`` (*b).
    """
    levels = torch.as_tensor(knot_levels, dtype=mean.dtype, device=mean.device)
    z = torch.special.ndtri(levels)  # (K,)
    pdf = torch.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    return location_scale_plain_iqf(mean, std, knot_levels, z, 1.0 / pdf[0], 1.0 / pdf[-1])


def standard_plain_iqf(
    mean: Tensor, std: Tensor, knot_levels: Sequence[float], z: Sequence[float]
) -> Tuple[Tensor, Tensor, Tensor]:
    """A plain IQF of ``mean + std Z`` for a standard variable Z given by its
    quantiles ``z`` (K, strictly increasing) at ``knot_levels`` (e.g. the
    empirical quantiles of standardized errors): :func:`location_scale_plain_iqf`
    with the Gaussian's tail slopes scaled by how much wider Z's outer knot
    intervals are than the Gaussian's, so the standard normal's own
    quantiles give :func:`gaussian_plain_iqf`.

    mean, std : (*b) -> ``knot_values`` (*b, K), ``beta_l``, ``beta_r`` (*b).
    """
    levels = torch.as_tensor(knot_levels, dtype=mean.dtype, device=mean.device)
    g = torch.special.ndtri(levels)
    zt = torch.as_tensor(z, dtype=mean.dtype, device=mean.device)
    pdf = torch.exp(-0.5 * g * g) / math.sqrt(2 * math.pi)
    slope_l = (zt[1] - zt[0]) / (g[1] - g[0]) / pdf[0]
    slope_r = (zt[-1] - zt[-2]) / (g[-1] - g[-2]) / pdf[-1]
    return location_scale_plain_iqf(mean, std, knot_levels, zt, slope_l, slope_r)
