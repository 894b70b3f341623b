"""Statistical members mixed into a network's forecast: the level-wise mix
``(1 - w_t - w_d) Q_net + w_t Q_theta + w_d Q_damped`` of the network's
plain IQF and the Gaussian-knot IQFs
(:func:`~gluonts_iqf.distributions.gaussian.gaussian_plain_iqf`) of a Theta
forecast (:mod:`gluonts_iqf.nn.theta`) and a damped-trend forecast (:mod:`gluonts_iqf.nn.damped`) of the
same input window, again a plain IQF (monotone, closed-form CRPS). The
members are fitted per series at prediction, with no training: a
statistical anchor where the network fits a series poorly, as forecast
combinations of statistical and learned models were in the M4 competition.
"""

from typing import Sequence, Tuple

import torch
from torch import Tensor

from gluonts.torch.distributions import DistributionOutput

from ...distributions.average import average_quantile_functions
from ...distributions.gaussian import gaussian_plain_iqf
from ...distributions.iqf import IQFOutput
from ...nn.damped import damped_adjusted
from ...nn.seasonal import seasonally_adjusted
from ...nn.theta import theta_adjusted


def check_statistical_weights(theta_weight: float, damped_weight: float, distr_output: DistributionOutput) -> None:
    """ValueError unless both weights are in [0, 1] with a sum of at most 1,
    and the head is a plain IQF (the mix is an IQF only then) when either is
    positive."""
    for name, w in (("theta_weight", theta_weight), ("damped_weight", damped_weight)):
        if not 0.0 <= w <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {w}")
    if theta_weight + damped_weight > 1.0 + 1e-12:
        raise ValueError(f"theta_weight + damped_weight must be at most 1, got {theta_weight} + {damped_weight}")
    if theta_weight + damped_weight > 0 and not (
        isinstance(distr_output, IQFOutput) and distr_output.num_pieces == 1
    ):
        raise ValueError(
            "theta_weight or damped_weight > 0 needs a plain IQF head (IQFOutput with num_pieces=1), "
            f"got {distr_output!r}"
        )


def mix_statistical(
    args: Tuple[Tensor, Tensor, Tensor],
    loc: Tensor,
    scale: Tensor,
    past_target: Tensor,
    past_observed: Tensor,
    knot_levels: Sequence[float],
    season: int,
    theta_weight: float,
    damped_weight: float,
) -> Tuple[Tuple[Tensor, Tensor, Tensor], Tensor, Tensor]:
    """The network's plain IQF mixed with the statistical members.

    args : ``knot_values`` (B, H, K), ``beta_l``, ``beta_r`` (B, H) of the
    network; loc : (B, H) or (B, 1); scale : (B, 1); past_target,
    past_observed : (B, C), the prediction window. Returns the mix in data
    units, ``((knot_values, beta_l, beta_r), loc (B, H) zeros, scale (B, 1)
    ones)``.
    """
    kv, beta_l, beta_r = args
    H = kv.shape[-2]
    adjusted = seasonally_adjusted(past_target, past_observed, season)
    members = [(kv, beta_l, beta_r, loc.expand_as(beta_l), scale.expand_as(beta_l))]
    weights = [1.0 - theta_weight - damped_weight]
    for weight, forecast in ((theta_weight, theta_adjusted), (damped_weight, damped_adjusted)):
        if weight > 0:
            mean, std = forecast(adjusted, H)
            members.append((*gaussian_plain_iqf(mean.to(kv.dtype), std.to(kv.dtype), knot_levels),
                            torch.zeros_like(beta_l), torch.ones_like(beta_l)))
            weights.append(weight)
    weights[0] = max(weights[0], 0.0)  # rounding of 1 - w_t - w_d
    total = sum(weights)
    stacked = [torch.stack(parts) for parts in zip(*members)]
    mixed = average_quantile_functions(*stacked, weights=[w / total for w in weights])
    zeros = torch.zeros_like(beta_l)
    return mixed, zeros, torch.ones_like(zeros[:, :1])
