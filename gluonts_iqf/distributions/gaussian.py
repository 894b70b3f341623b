"""A Gaussian forecast as a plain IQF: its quantiles at the knot levels,
joined linearly, with exponential tails that continue its slope, so it can
be mixed level by level with other plain IQFs
(:func:`~gluonts_iqf.distributions.average.average_quantile_functions`)."""

import math
from typing import Sequence, Tuple

import torch
from torch import Tensor


def gaussian_plain_iqf(
    mean: Tensor, std: Tensor, knot_levels: Sequence[float]
) -> Tuple[Tensor, Tensor, Tensor]:
    """A plain IQF through a Gaussian's quantiles at ``knot_levels``, its
    exponential tails with the Gaussian's slope at the outer knots
    (``q'(a) = std / phi(z_a)``, so the tail scale is ``a std / phi(z_a)``).

    mean, std : (*b) -> ``knot_values`` (*b, K), ``beta_l``, ``beta_r`` (*b)
    in data units. ``std`` is floored at the dtype's ``eps`` times the
    mean's magnitude (plus ``tiny``) so the knots stay strictly increasing.
    """
    levels = torch.as_tensor(knot_levels, dtype=mean.dtype, device=mean.device)
    z = math.sqrt(2.0) * torch.erfinv(2 * levels - 1)  # (K,)
    eps = torch.finfo(mean.dtype).eps
    std = torch.maximum(std, eps * mean.abs() + torch.finfo(mean.dtype).tiny / eps)
    knots = mean.unsqueeze(-1) + std.unsqueeze(-1) * z
    pdf = torch.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    a_l, a_r = levels[0], 1 - levels[-1]
    tail_l = a_l * std / pdf[0]
    tail_r = a_r * std / pdf[-1]
    return knots, 1.0 / tail_l, 1.0 / tail_r
