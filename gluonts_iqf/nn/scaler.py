"""Causal scaling: each position of a series is scaled by statistics of the
values observed up to it, never after, so no forecast creation time sees the
values it is scored on (GluonTS's ``MeanScaler`` uses the whole window)."""

from typing import Tuple

import torch
from torch import Tensor, nn

#: Smallest scale (GluonTS's MeanScaler default): an all-zero series gets
#: this scale, so scaled inputs are 0 and forecasts stay finite.
MIN_SCALE = 1e-10

#: Floor of the ratio change / level in :func:`spread_scale`: a series that
#: has not changed (constant, or all zero) would get a spread of zero width;
#: the floor keeps it at least ``MIN_CHANGE_RATIO ** exponent`` times the
#: level scale (and ``log`` of the ratio finite).
MIN_CHANGE_RATIO = 1e-2


def causal_mean_abs_scale(
    target: Tensor, observed: Tensor, minimum_scale: float = MIN_SCALE
) -> Tuple[Tensor, Tensor]:
    """Expanding mean of ``|target|`` over observed values up to each position.

    Parameters
    ----------
    target, observed : Tensor, shape (B, T, *rest)
        Time along dim 1; any trailing dims (e.g. several series) are
        independent.

    Returns
    -------
    scale : Tensor, shape (B, T, *rest)
        ``scale[:, s]`` uses positions ``0..s`` only; 1 where nothing has been
        observed yet, floored at ``minimum_scale``.
    informative : Tensor, shape (B, T, *rest), bool
        Some non-zero value has been observed up to each position: before
        that the scale carries no information (1 or the floor), so creation
        times there are left out of the losses.
    """
    count = torch.cumsum(observed, dim=1)
    total = torch.cumsum(target.abs() * observed, dim=1)
    scale = torch.where(count > 0, total / count.clamp_min(1.0), torch.ones_like(total))
    return scale.clamp_min(minimum_scale), total > 0


def causal_mean_abs_change(target: Tensor, observed: Tensor, lag: int = 1) -> Tuple[Tensor, Tensor]:
    """Expanding mean of ``|target[s] - target[s - lag]|`` over the positions
    ``s`` observed together with ``s - lag`` (``lag = 1``: the one-step
    change; ``lag = m``: the seasonal change of the MASE denominator).

    Parameters
    ----------
    target, observed : Tensor, shape (B, T, *rest)
        Target (already masked) and observed flags, time along dim 1.
    lag : int
        At least 1.

    Returns
    -------
    change : Tensor, shape (B, T, *rest)
        ``change[:, s]`` uses positions ``0..s`` only; 0 where no observed
        pair has been seen yet.
    has_change : Tensor, shape (B, T, *rest), bool
        Some observed pair has been seen up to each position.
    """
    if lag < 1:
        raise ValueError(f"lag must be >= 1, got {lag}")
    both = observed[:, lag:] * observed[:, :-lag]
    diffs = (target[:, lag:] - target[:, :-lag]).abs() * both
    zero = target.new_zeros(target[:, : min(lag, target.shape[1])].shape)
    count = torch.cumsum(torch.cat([zero, both], 1), dim=1)
    total = torch.cumsum(torch.cat([zero, diffs], 1), dim=1)
    return total / count.clamp_min(1.0), count > 0


def spread_scale(level: Tensor, change: Tensor, has_change: Tensor, exponent: Tensor) -> Tensor:
    """Scale of the predictive distribution: ``level ** (1 - a) * change ** a``.

    ``level`` is the mean absolute value (:func:`causal_mean_abs_scale`),
    ``change`` the mean absolute one-step change
    (:func:`causal_mean_abs_change`); ``a = 0`` gives the level scale, ``a
    = 1`` the change scale. Computed as ``level * exp(a * log(ratio))`` with
    ``ratio = change / level`` floored at :data:`MIN_CHANGE_RATIO` (and 1
    where no change has been observed yet), so it is finite for any inputs
    and ``a = 0`` returns ``level`` exactly.

    Parameters
    ----------
    level, change : Tensor, shape (B, T, *rest)
    has_change : Tensor, shape (B, T, *rest), bool
    exponent : Tensor, shape ()
        ``a``, in [0, 1].

    Returns
    -------
    Tensor, shape (B, T, *rest)
    """
    ratio = torch.where(has_change, change / level, torch.ones_like(level))
    return level * torch.exp(exponent * torch.log(ratio.clamp_min(MIN_CHANGE_RATIO)))


class CausalMeanScaler(nn.Module):
    """GluonTS's ``MeanScaler`` made causal: position ``s`` is divided by
    the mean absolute observed value up to ``s``
    (:func:`causal_mean_abs_scale`).

    ``forward(data, observed)`` with data (already masked) and observed
    (B, T, *rest) returns ``(scaled, scale, informative)``, each
    (B, T, *rest); ``informative`` is False before the first observed
    non-zero value.
    """

    def __init__(self, minimum_scale: float = MIN_SCALE) -> None:
        super().__init__()
        self.minimum_scale = minimum_scale

    def forward(self, data: Tensor, observed: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        scale, informative = causal_mean_abs_scale(data, observed, self.minimum_scale)
        return data / scale, scale, informative


class CausalNOPScaler(nn.Module):
    """No scaling (GluonTS's ``NOPScaler``) with :class:`CausalMeanScaler`'s
    interface: scale 1 everywhere, informative once anything has been
    observed."""

    def forward(self, data: Tensor, observed: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        return data, torch.ones_like(data), torch.cumsum(observed, dim=1) > 0
