"""The average of plain IQF quantile functions: an ensemble forecast that is
again an IQF.

For fixed knot levels a plain IQF's quantile function is linear in its
parameters: between knots it interpolates the knot values, and its tails are
``q_1 + s_L log(u / a_1)`` and ``q_K - s_R log((1 - u) / (1 - a_K))`` with
tail scales ``s = 1 / beta``. The level-wise mean of M such functions (with
``loc`` and ``scale`` applied) is therefore the plain IQF whose knot values
and tail scales, in data units, are the members' means: monotone, with the
closed-form CRPS and every query of a single IQF (Vincentization, as
quantile averaging is called in forecast combination).
"""

from typing import Tuple

import torch
from torch import Tensor


def average_quantile_functions(
    knot_values: Tensor, beta_l: Tensor, beta_r: Tensor, loc: Tensor, scale: Tensor
) -> Tuple[Tensor, Tensor, Tensor]:
    """Parameters, in data units (``loc`` 0, ``scale`` 1), of the level-wise
    mean of M plain IQFs with the same knot levels.

    Parameters
    ----------
    knot_values : Tensor, shape (M, *batch_shape, K)
        Each member's knot values before its ``loc`` / ``scale``.
    beta_l, beta_r : Tensor, shape (M, *batch_shape)
        Each member's tail rates.
    loc, scale : Tensor, broadcastable to (M, *batch_shape)
        Each member's location and (positive) scale.

    Returns
    -------
    knot_values : Tensor, shape (*batch_shape, K)
    beta_l, beta_r : Tensor, shape (*batch_shape,)
    """
    loc = torch.as_tensor(loc, dtype=knot_values.dtype, device=knot_values.device)
    scale = torch.as_tensor(scale, dtype=knot_values.dtype, device=knot_values.device)
    knots = (loc.unsqueeze(-1) + scale.unsqueeze(-1) * knot_values).mean(0)
    tail_left = (scale / beta_l).mean(0)
    tail_right = (scale / beta_r).mean(0)
    return knots, 1.0 / tail_left, 1.0 / tail_right
