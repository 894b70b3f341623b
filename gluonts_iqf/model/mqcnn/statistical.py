"""Statistical members mixed into a network's forecast: the level-wise mix
``(1 - w_t - w_d - w_c - w_n) Q_net + w_t Q_theta + w_d Q_damped + w_c
Q_ces + w_n Q_naive`` (or with those as prior weights of an
inverse-variance combination, optionally moved per series by the members'
recent errors, :mod:`~gluonts_iqf.model.mqcnn.recent`) of the network's
plain IQF and the Gaussian-knot IQFs
(:func:`~gluonts_iqf.distributions.gaussian.gaussian_plain_iqf`) of a Theta
forecast (:mod:`gluonts_iqf.nn.theta`), a damped-trend forecast
(:mod:`gluonts_iqf.nn.damped`), a complex exponential smoothing forecast
(:mod:`gluonts_iqf.nn.ces`) and the seasonal naive forecast
(:mod:`gluonts_iqf.nn.naive`) of the same input window, again a plain IQF
(monotone, closed-form CRPS). The
members are fitted per series at prediction, with no training: a
statistical anchor where the network fits a series poorly, as forecast
combinations of statistical and learned models were in the M4 competition.
"""

import math
from typing import List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from gluonts.torch.distributions import DistributionOutput

from ...distributions.average import average_quantile_functions
from ...distributions.gaussian import gaussian_plain_iqf, standard_plain_iqf
from ...distributions.iqf import IQF, IQFOutput
from ...nn.ces import ces_backtested
from ...nn.damped import damped_backtested
from ...nn.naive import seasonal_naive_backtested
from ...nn.seasonal import Adjusted, seasonally_adjusted
from ...nn.theta import theta_backtested
from .._forking.checks import check_choice
from .recent import RECENT_POWER, recent_ends, recent_errors, recent_weights

#: How the members' weights are set (see :func:`mix_statistical`).
COMBINATIONS = ("fixed", "inverse_variance")

#: Levels read off each member: the 10-90 % interval, whose width is its
#: spread for the inverse-variance weights (inside every knot grid of the
#: default heads, so no tail extrapolation enters), and the median.
MEMBER_LEVELS = (0.1, 0.5, 0.9)

#: The standard normal quantile at 0.9: a 10-90 % width is 2 Z_90 standard deviations.
Z_90 = 1.2815515655446004

#: Largest stretch of :func:`widen_by_disagreement` is about this factor: the
#: mix's spread is floored at 1/MAX_WIDENING of the members' disagreement, so
#: members that all claim (almost) no spread but disagree cannot blow it up.
MAX_WIDENING = 10.0

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

#: The statistical members, in the order of their weights and calibrations
#: (a calibration saved before the seasonal naive member was added has the
#: first three: :func:`padded_calibration`).
MEMBERS = ("theta", "damped", "ces", "naive")

#: Observed values a window needs for its members' calibration (in the
#: backtest that fits it and in the forecasts it applies to): with fewer,
#: CES falls back to the naive forecast and Theta and the damped trend rest
#: on one or two errors, forecasts unlike those the calibration was fitted on.
MIN_CALIBRATION_VALUES = 5


#: Default weights of the Theta, damped-trend, CES and seasonal naive
#: forecasts in the predicted quantile function (with a plain IQF head; the
#: members share 0.6, the network keeps 0.4; chosen on the validation
#: windows, RESULTS.md: the seasonal naive member, with the per-series
#: weights in place, did not improve both validation windows, so it is an
#: option).
DEFAULT_THETA_WEIGHT = 0.2
DEFAULT_DAMPED_WEIGHT = 0.2
DEFAULT_CES_WEIGHT = 0.2
DEFAULT_NAIVE_WEIGHT = 0.0
#: training values at which the network keeps its whole prior share
#: (:func:`data_share_factor`; chosen on the validation windows, full and
#: with cut histories, see benchmarks/RESULTS.md)
DEFAULT_SHARE_VALUES = 5000

#: Season of the statistical members on weekly data: the yearly cycle, as
#: statsforecast and R's forecast take it (the network's lags keep GluonTS's
#: season of 1 there, which was better for them: see the estimator's
#: ``season_length``).
WEEKS_PER_YEAR = 52


def default_statistical_season(freq: str, season_length: int) -> int:
    """The statistical members' season: 52 for (single-)weekly data, else
    ``season_length``."""
    from pandas.tseries.frequencies import to_offset
    from pandas.tseries.offsets import Week

    offset = to_offset(freq)
    return WEEKS_PER_YEAR if isinstance(offset, Week) and offset.n == 1 else season_length


def statistical_forecasts(
    past_target: Tensor,
    past_observed: Tensor,
    H: int,
    season: int,
    active: Sequence[bool],
    ends: Sequence[int] = (),
) -> Tuple[List[Optional[Tuple[Tensor, Tensor, Tensor]]], Adjusted]:
    """Each active member's Gaussian forecast and backtest ``(mean, std,
    origins)``: mean and std (B, H), and the mean forecasts (J, B, H) from
    each position of ``ends`` (each in 1..C) of the values before it, from
    the same fit (None for an inactive member), in :data:`MEMBERS` order;
    and the window seasonally adjusted for Theta and the damped trend.

    past_target, past_observed : (B, C), the window (unobserved values 0).
    """
    adjusted = seasonally_adjusted(past_target, past_observed, season)
    forecasts = (
        lambda: theta_backtested(adjusted, H, ends),
        lambda: damped_backtested(adjusted, H, ends),
        # CES and the seasonal naive forecast model the season themselves: they take the window as it is
        lambda: ces_backtested(past_target, past_observed, H, ends, season),
        lambda: seasonal_naive_backtested(past_target, past_observed, H, ends, season),
    )
    return [forecast() if on else None for on, forecast in zip(active, forecasts)], adjusted


def member_iqf(
    mean: Tensor, std: Tensor, knot_levels: Sequence[float], calibration: Optional[Sequence[float]],
    calibrated: Optional[Tensor],
) -> Tuple[Tensor, Tensor, Tensor]:
    """A member's plain IQF: Gaussian, or with the standard quantiles of its
    ``calibration`` (K values at the knot levels) on the ``calibrated``
    series (B,), bool (:func:`~gluonts_iqf.distributions.gaussian.standard_plain_iqf`).

    mean, std : (B, H) -> ``knot_values`` (B, H, K), ``beta_l``, ``beta_r`` (B, H).
    """
    if calibration is None:
        return gaussian_plain_iqf(mean, std, knot_levels)
    fitted = standard_plain_iqf(mean, std, knot_levels, calibration)
    if bool(calibrated.all()):
        return fitted
    gaussian = gaussian_plain_iqf(mean, std, knot_levels)
    rows = calibrated.view(-1, 1)
    return (torch.where(rows.unsqueeze(-1), fitted[0], gaussian[0]),
            torch.where(rows, fitted[1], gaussian[1]), torch.where(rows, fitted[2], gaussian[2]))


def padded_calibration(calibration: Optional[Sequence]) -> Optional[list]:
    """A calibration with one entry per member of :data:`MEMBERS`: one saved
    with fewer (before a member was added) gets None (Gaussian) for the
    later ones."""
    if calibration is None:
        return None
    return list(calibration) + [None] * (len(MEMBERS) - len(calibration))


def check_statistical_weights(
    theta_weight: float, damped_weight: float, distr_output: DistributionOutput, ces_weight: float = 0.0,
    naive_weight: float = 0.0,
) -> None:
    """ValueError unless the weights are in [0, 1] with a sum of at most 1,
    and the head is a plain IQF (the mix is an IQF only then) when any is
    positive."""
    weights = (("theta_weight", theta_weight), ("damped_weight", damped_weight), ("ces_weight", ces_weight),
               ("naive_weight", naive_weight))
    for name, w in weights:
        if not 0.0 <= w <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {w}")
    total = theta_weight + damped_weight + ces_weight + naive_weight
    if total > 1.0 + 1e-12:
        raise ValueError(
            f"theta_weight + damped_weight + ces_weight + naive_weight must be at most 1, got "
            f"{theta_weight} + {damped_weight} + {ces_weight} + {naive_weight}"
        )
    if total > 0 and not (
        isinstance(distr_output, IQFOutput) and distr_output.num_pieces == 1
    ):
        raise ValueError(
            "theta_weight, damped_weight, ces_weight or naive_weight > 0 needs a plain IQF head "
            f"(IQFOutput with num_pieces=1), got {distr_output!r}"
        )


def check_outlier_z(network_outlier_z: float) -> None:
    """ValueError unless ``network_outlier_z`` is finite and >= 0."""
    if not (math.isfinite(network_outlier_z) and network_outlier_z >= 0):
        raise ValueError(f"network_outlier_z must be finite and >= 0, got {network_outlier_z}")


def check_share_values(network_share_values: int) -> None:
    """ValueError unless ``network_share_values`` is an integer >= 0."""
    if isinstance(network_share_values, bool) or not isinstance(network_share_values, int) \
            or network_share_values < 0:
        raise ValueError(f"network_share_values must be an integer >= 0, got {network_share_values!r}")


def data_share_factor(training_values: int, full_values: int) -> float:
    """``min(1, N / N0)``: the fraction of its prior share that a network
    trained on ``training_values`` observed values keeps, full at
    ``full_values`` (0: always full). On a few hundred values the network
    learns little about how a series continues and can extrapolate a trend
    the data do not support; the members are fitted per series and do not
    depend on the training set's size."""
    if full_values <= 0:
        return 1.0
    return min(1.0, max(training_values, 0) / full_values)


def shrink_network(weights: Sequence[float], factor: float) -> List[float]:
    """The members' weights (in :data:`MEMBERS` order; the network has ``1 -
    sum``) rescaled so that the network keeps ``factor`` of its share and
    the members share the rest in their own proportions. Unchanged when
    ``factor`` is 1 or no member has a weight (the network is the whole
    forecast then)."""
    total = sum(weights)
    if factor >= 1.0 or total <= 0.0:
        return [float(w) for w in weights]
    network = max(1.0 - total, 0.0) * max(factor, 0.0)
    return [float(w) * (1.0 - network) / total for w in weights]


def member_quantiles(
    knot_values: Tensor, beta_l: Tensor, beta_r: Tensor, loc: Tensor, scale: Tensor, knot_levels: Sequence[float]
) -> Tensor:
    """Each member's quantiles at ``MEMBER_LEVELS`` (0.1, 0.5, 0.9), shape
    (3, M, B, H), from its plain IQF ((M, B, H, K) knots, (M, B, H) tails,
    loc, scale)."""
    levels = torch.tensor(knot_levels, dtype=knot_values.dtype, device=knot_values.device)
    d = IQF(levels, knot_values, beta_l, beta_r, loc=loc, scale=scale)
    u = torch.tensor(MEMBER_LEVELS, dtype=knot_values.dtype, device=knot_values.device)
    return d.icdf(u.view(3, *([1] * beta_l.dim())).expand(3, *beta_l.shape))


def widen_by_disagreement(
    mixed: Tuple[Tensor, Tensor, Tensor], weights: Tensor, quantiles: Tensor
) -> Tuple[Tensor, Tensor, Tensor]:
    """The mix stretched about its median by ``lambda = sqrt(1 + D / s^2)``:
    ``D`` the weighted variance of the members' medians, ``s`` the mix's
    standard deviation read off its 10-90 % width (a Gaussian's). A level-wise
    mean of quantile functions keeps the members' average spread but drops
    their disagreement, the between-member term of the law of total variance;
    this puts it back. Medians are unchanged and the result is again a plain
    IQF (knots and tail scales times ``lambda`` about the median).

    mixed : ``knot_values`` (B, H, K), ``beta_l``, ``beta_r`` (B, H), in data
    units; weights : (M, B, H); quantiles : (3, M, B, H) from
    :func:`member_quantiles`.
    """
    kv, beta_l, beta_r = mixed
    median = (weights * quantiles[1]).sum(0)
    between = (weights * (quantiles[1] - median) ** 2).sum(0)
    sd = (weights * (quantiles[2] - quantiles[0])).sum(0) / (2 * Z_90)
    sd = torch.maximum(sd, between.sqrt() / MAX_WIDENING)  # lambda <= sqrt(1 + MAX_WIDENING^2)
    lam = torch.sqrt(1 + between / sd.clamp(min=torch.finfo(sd.dtype).tiny) ** 2)
    m = median.unsqueeze(-1)
    return m + lam.unsqueeze(-1) * (kv - m), beta_l / lam, beta_r / lam


def outlier_factor(
    network_median: Tensor, means: Tensor, stds: Tensor, member_prior: Tensor, estimable: Tensor, z0: float
) -> Tensor:
    """Per series, ``min(1, (z0 / z)^2)``: ``z`` the root mean square over
    the horizon of the network's median's distance from the members'
    prior-weighted mean forecast, in the members' prior-weighted standard
    deviations. A network whose median leaves everything the members have
    seen of the series' noise (on little training data it can extrapolate a
    trend into a flat series) keeps its prior share only within ``z0`` of
    them, and loses it with the squared distance beyond (as an
    inverse-variance weight would). Series whose members' variance is not
    ``estimable`` keep 1.

    network_median : (B, H); means, stds : (M', B, H) of the members;
    member_prior : (M',) or (M', B); estimable : (B,). Returns (B,).
    """
    w = member_prior.view(-1, 1, 1) if member_prior.dim() == 1 else member_prior.unsqueeze(-1)
    w = w / w.sum(0, keepdim=True)
    centre = (w * means).sum(0)
    # floor: the centre's rounding (a flat window's members have sd 0; any
    # distance beyond rounding is then far)
    info = torch.finfo(stds.dtype)
    sd = torch.maximum((w * stds).sum(0), info.eps * centre.abs()).clamp(min=info.tiny)
    z = ((network_median - centre) / sd).pow(2).mean(-1).sqrt()
    factor = (z0 / z.clamp(min=torch.finfo(z.dtype).tiny)).pow(2).clamp(max=1.0)
    return torch.where(estimable & torch.isfinite(factor), factor, torch.ones_like(factor))


def inverse_variance_weights(prior, spreads: Tensor, estimable: Tensor) -> Tensor:
    """Weights ``prior_m / r_m^2`` normalised over the members (M, B, H),
    ``r_m`` each member's spread relative to the network's (member 0),
    clipped to [RELATIVE_SPREAD_FLOOR, RELATIVE_SPREAD_CEILING]; members
    whose variance is not ``estimable`` (M, B) keep ``r = 1``, their prior.
    ``prior``: M floats, or a tensor (M, B) of per-series priors."""
    tiny = torch.finfo(spreads.dtype).tiny
    r = spreads / spreads[:1].clamp(min=tiny)
    r = r.clamp(min=RELATIVE_SPREAD_FLOOR, max=RELATIVE_SPREAD_CEILING)
    r = torch.where(estimable.unsqueeze(-1), r, torch.ones_like(r))
    r = torch.cat([torch.ones_like(r[:1]), r[1:]])  # the network: its prior
    prior = torch.as_tensor(prior, dtype=spreads.dtype, device=spreads.device)
    w = (prior.view(-1, 1, 1) if prior.dim() == 1 else prior.unsqueeze(-1)) / (r * r)
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
    ces_weight: float = 0.0,
    calibration: Optional[Sequence[Optional[Sequence[float]]]] = None,
    naive_weight: float = 0.0,
    recent_cuts: int = 0,
    recent_power: float = RECENT_POWER,
    network_outlier_z: float = 0.0,
) -> Tuple[Tuple[Tensor, Tensor, Tensor], Tensor, Tensor]:
    """The network's plain IQF mixed with the statistical members.

    args : ``knot_values`` (B, H, K), ``beta_l``, ``beta_r`` (B, H) of the
    network; loc : (B, H) or (B, 1); scale : (B, 1); past_target,
    past_observed : (B, C), the prediction window. ``combination``:
    ``"fixed"`` mixes with the weights ``(1 - w_t - w_d - w_c - w_n, w_t,
    w_d, w_c, w_n)``;
    ``"inverse_variance"`` takes them as prior weights divided by each
    member's squared spread per series and step
    (:func:`inverse_variance_weights`, as Bates & Granger combine
    forecasts) and stretches the mix by the members' disagreement
    (:func:`widen_by_disagreement`). ``calibration``: per member of
    :data:`MEMBERS`, None (Gaussian) or its standard quantiles at the knot
    levels (:mod:`~gluonts_iqf.model.mqcnn.calibration`), used on windows
    with at least :data:`MIN_CALIBRATION_VALUES` observed values; the
    inverse-variance weights then use the members' Gaussian spreads. With
    ``recent_cuts`` > 0 the members' weights are moved per series by their
    errors on the window's last ``recent_cuts`` horizons
    (:mod:`~gluonts_iqf.model.mqcnn.recent`, power ``recent_power``).
    With ``network_outlier_z`` > 0 the network's prior weight is multiplied
    per series by :func:`outlier_factor` (its median's distance from the
    members' forecasts). Returns the mix in data units, ``((knot_values, beta_l,
    beta_r), loc (B, H) zeros, scale (B, 1) ones)``.
    """
    check_choice("combination", combination, COMBINATIONS)
    kv, beta_l, beta_r = args
    H = kv.shape[-2]
    member_weights = (theta_weight, damped_weight, ces_weight, naive_weight)
    active = [w > 0 for w in member_weights]
    calibration = padded_calibration(calibration) if calibration is not None else [None] * len(MEMBERS)
    ends = recent_ends(past_target.shape[-1], H, recent_cuts)
    forecasts, adjusted = statistical_forecasts(past_target, past_observed, H, season, active, ends)
    calibrated = past_observed.sum(-1) >= MIN_CALIBRATION_VALUES  # (B,)
    members = [(kv, beta_l, beta_r, loc.expand_as(beta_l), scale.expand_as(beta_l))]
    weights = [max(1.0 - sum(member_weights), 0.0)]  # max: rounding of 1 - sum
    stds = []
    for weight, forecast, cal in zip(member_weights, forecasts, calibration):
        if forecast is not None:
            mean, std = (x.to(kv.dtype) for x in forecast[:2])
            members.append((*member_iqf(mean, std, knot_levels, cal, calibrated),
                            torch.zeros_like(beta_l), torch.ones_like(beta_l)))
            weights.append(weight)
            stds.append(std)
    total = sum(weights)
    prior = [w / total for w in weights]
    if ends and len(members) > 1:  # a window long enough for a cut, and members to weigh
        origins = torch.stack([f[2] for f in forecasts if f is not None])  # (M - 1, J, B, H)
        errors = recent_errors(past_target, past_observed, ends, origins).to(kv.dtype)
        moved = recent_weights(prior[1:], errors, recent_power)  # (M - 1, B)
        prior = torch.cat([torch.full_like(moved[:1], prior[0]), moved])  # (M, B)
    stacked = [torch.stack(parts) for parts in zip(*members)]
    estimable = adjusted.started.sum(-1) - 1 >= MIN_ERRORS  # one-step errors behind each member's variance (B,)
    outlier = network_outlier_z > 0 and len(members) > 1
    quantiles = member_quantiles(*stacked, knot_levels) if outlier or combination == "inverse_variance" else None
    if outlier:
        prior = torch.as_tensor(prior, dtype=kv.dtype, device=kv.device)
        prior = prior.unsqueeze(-1).expand(-1, kv.shape[0]) if prior.dim() == 1 else prior  # (M, B)
        means = torch.stack([f[0] for f in forecasts if f is not None]).to(kv.dtype)
        factor = outlier_factor(quantiles[1, 0], means, torch.stack(stds), prior[1:], estimable, network_outlier_z)
        prior = torch.cat([prior[:1] * factor, prior[1:]])
        prior = prior / prior.sum(0, keepdim=True)  # the members' priors are positive
    if combination == "inverse_variance":
        estimable = estimable.expand(len(members), -1)
        spreads = quantiles[2] - quantiles[0]
        if any(c is not None for c in calibration):
            # the weights compare the members' own variances; a calibration
            # shapes each member's distribution, not its weight
            spreads = torch.cat([spreads[:1], 2 * Z_90 * torch.stack(stds)])
        mix_weights = inverse_variance_weights(prior, spreads, estimable)
        mixed = widen_by_disagreement(average_quantile_functions(*stacked, weights=mix_weights), mix_weights, quantiles)
    else:
        if isinstance(prior, Tensor):
            prior = prior.unsqueeze(-1).expand_as(stacked[1])  # per series: (M, B, H)
        mixed = average_quantile_functions(*stacked, weights=prior)
    zeros = torch.zeros_like(beta_l)
    return mixed, zeros, torch.ones_like(zeros[:, :1])
