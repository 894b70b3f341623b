"""Statistical members mixed into a network's forecast: the level-wise mix
``(1 - w_t - w_d) Q_net + w_t Q_theta + w_d Q_damped`` (or with those as
prior weights of an inverse-variance combination) of the network's
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
from ...distributions.iqf import IQF, IQFOutput
from ...nn.damped import damped_adjusted
from ...nn.seasonal import seasonally_adjusted
from ...nn.theta import theta_adjusted
from .._forking.checks import check_choice

#: How the members' weights are set (see :func:`mix_statistical`).
COMBINATIONS = ("fixed", "inverse_variance")

#: The central interval whose width is a member's spread for the
#: inverse-variance weights (the 10-90 % interval: inside every knot grid
#: of the default heads, so no tail extrapolation enters).
SPREAD_LEVELS = (0.1, 0.9)

#: A member's spread relative to the network's is clipped to [0.1, 1000]:
#: a member never gets more than 100 times its prior share per unit of the
#: network's, so a window with no variation (a constant series, whose
#: statistical members have zero spread) cannot collapse the forecast onto
#: one member; the ceiling keeps the weights' sum positive when the
#: network's prior weight is 0.
RELATIVE_SPREAD_FLOOR = 0.1
RELATIVE_SPREAD_CEILING = 1000.0

#: One-step errors a statistical member's variance needs; with fewer (a
#: series of one or two values) the member keeps its prior weight.
MIN_ERRORS = 2


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


def member_spreads(
    knot_values: Tensor, beta_l: Tensor, beta_r: Tensor, loc: Tensor, scale: Tensor, knot_levels: Sequence[float]
) -> Tensor:
    """Width of each member's central interval ``SPREAD_LEVELS`` (M, B, H)
    from its plain IQF ((M, B, H, K) knots, (M, B, H) tails, loc, scale)."""
    levels = torch.tensor(knot_levels, dtype=knot_values.dtype, device=knot_values.device)
    d = IQF(levels, knot_values, beta_l, beta_r, loc=loc, scale=scale)
    u = torch.tensor(SPREAD_LEVELS, dtype=knot_values.dtype, device=knot_values.device)
    q = d.icdf(u.view(2, *([1] * beta_l.dim())).expand(2, *beta_l.shape))
    return q[1] - q[0]


def inverse_variance_weights(prior: Sequence[float], spreads: Tensor, estimable: Tensor) -> Tensor:
    """Weights ``prior_m / r_m^2`` normalised over the members (M, B, H),
    ``r_m`` each member's spread relative to the network's (member 0),
    clipped to [RELATIVE_SPREAD_FLOOR, RELATIVE_SPREAD_CEILING]; members
    whose variance is not ``estimable`` (M, B) keep ``r = 1``, their prior."""
    tiny = torch.finfo(spreads.dtype).tiny
    r = spreads / spreads[:1].clamp(min=tiny)
    r = r.clamp(min=RELATIVE_SPREAD_FLOOR, max=RELATIVE_SPREAD_CEILING)
    r = torch.where(estimable.unsqueeze(-1), r, torch.ones_like(r))
    r = torch.cat([torch.ones_like(r[:1]), r[1:]])  # the network: its prior
    w = torch.as_tensor(prior, dtype=spreads.dtype, device=spreads.device).view(-1, 1, 1) / (r * r)
    return w / w.sum(0, keepdim=True)


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
    combination: str = "fixed",
) -> Tuple[Tuple[Tensor, Tensor, Tensor], Tensor, Tensor]:
    """The network's plain IQF mixed with the statistical members.

    args : ``knot_values`` (B, H, K), ``beta_l``, ``beta_r`` (B, H) of the
    network; loc : (B, H) or (B, 1); scale : (B, 1); past_target,
    past_observed : (B, C), the prediction window. ``combination``:
    ``"fixed"`` mixes with the weights ``(1 - w_t - w_d, w_t, w_d)``;
    ``"inverse_variance"`` takes them as prior weights divided by each
    member's squared spread per series and step
    (:func:`inverse_variance_weights`, as Bates & Granger combine
    forecasts). Returns the mix in data units, ``((knot_values, beta_l,
    beta_r), loc (B, H) zeros, scale (B, 1) ones)``.
    """
    check_choice("combination", combination, COMBINATIONS)
    kv, beta_l, beta_r = args
    H = kv.shape[-2]
    adjusted = seasonally_adjusted(past_target, past_observed, season)
    members = [(kv, beta_l, beta_r, loc.expand_as(beta_l), scale.expand_as(beta_l))]
    weights = [max(1.0 - theta_weight - damped_weight, 0.0)]  # max: rounding of 1 - w_t - w_d
    for weight, forecast in ((theta_weight, theta_adjusted), (damped_weight, damped_adjusted)):
        if weight > 0:
            mean, std = forecast(adjusted, H)
            members.append((*gaussian_plain_iqf(mean.to(kv.dtype), std.to(kv.dtype), knot_levels),
                            torch.zeros_like(beta_l), torch.ones_like(beta_l)))
            weights.append(weight)
    total = sum(weights)
    prior = [w / total for w in weights]
    stacked = [torch.stack(parts) for parts in zip(*members)]
    if combination == "inverse_variance":
        errors = adjusted.started.sum(-1) - 1  # one-step errors behind each member's variance (B,)
        estimable = (errors >= MIN_ERRORS).expand(len(members), -1)
        mix_weights = inverse_variance_weights(prior, member_spreads(*stacked, knot_levels), estimable)
    else:
        mix_weights = prior
    mixed = average_quantile_functions(*stacked, weights=mix_weights)
    zeros = torch.zeros_like(beta_l)
    return mixed, zeros, torch.ones_like(zeros[:, :1])
