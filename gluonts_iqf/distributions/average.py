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

from typing import Optional, Sequence, Tuple, Union

import torch
from torch import Tensor


def average_quantile_functions(
    knot_values: Tensor,
    beta_l: Tensor,
    beta_r: Tensor,
    loc: Tensor,
    scale: Tensor,
    weights: Optional[Union[Sequence[float], Tensor]] = None,
) -> Tuple[Tensor, Tensor, Tensor]:
    """Parameters, in data units (``loc`` 0, ``scale`` 1), of the level-wise
    (weighted) mean of M plain IQFs with the same knot levels.

    Parameters
    ----------
    knot_values : Tensor, shape (M, *batch_shape, K)
        Each member's knot values before its ``loc`` / ``scale``.
    beta_l, beta_r : Tensor, shape (M, *batch_shape)
        Each member's tail rates.
    loc, scale : Tensor, broadcastable to (M, *batch_shape)
        Each member's location and (positive) scale.
    weights : M non-negative floats summing to 1, or Tensor (M, *batch_shape), optional
        The members' weights (default equal); a tensor gives each series and
        step its own weights (non-negative, summing to 1 over M: not checked,
        as that would synchronise a GPU).

    Returns
    -------
    knot_values : Tensor, shape (*batch_shape, K)
    beta_l, beta_r : Tensor, shape (*batch_shape,)
    """
    loc = torch.as_tensor(loc, dtype=knot_values.dtype, device=knot_values.device)
    scale = torch.as_tensor(scale, dtype=knot_values.dtype, device=knot_values.device)
    M = knot_values.shape[0]
    if weights is None:
        w = knot_values.new_full((M,), 1.0 / M)
    elif isinstance(weights, Tensor):
        if weights.shape != knot_values.shape[:-1]:
            raise ValueError(f"weights of shape {tuple(weights.shape)}: expected {tuple(knot_values.shape[:-1])}")
        w = weights.to(knot_values.dtype)
    else:
        ws = [float(x) for x in weights]
        if len(ws) != M or min(ws) < 0 or abs(sum(ws) - 1.0) > 1e-6:
            raise ValueError(f"weights must be {M} non-negative numbers summing to 1, got {ws}")
        w = torch.tensor(ws, dtype=knot_values.dtype, device=knot_values.device)
    wb = w if w.dim() > 1 else w.view(M, *([1] * (knot_values.dim() - 2)))  # (M, *batch) or (M, 1, ..., 1)
    knots = (wb.unsqueeze(-1) * (loc.unsqueeze(-1) + scale.unsqueeze(-1) * knot_values)).sum(0)
    tail_left = (wb * scale / beta_l).sum(0)
    tail_right = (wb * scale / beta_r).sum(0)
    return knots, 1.0 / tail_left, 1.0 / tail_right
