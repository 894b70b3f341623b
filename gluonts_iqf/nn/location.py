"""The seasonal location of the forking models: a linear map of each horizon
step's lag features (:mod:`gluonts_iqf.nn.lags`) that starts as the
seasonal-naive forecast, and the median regression that fits it to the
training data before the network learns the residual."""

from typing import Optional

import torch
from torch import Tensor, nn


#: Starting points of the seasonal location (see :func:`seasonal_naive_linear`).
SEASONAL_LOC_INITS = ("last", "mean")


def seasonal_naive_linear(
    num_lags: int, init: str = "last", num_seasonal: Optional[int] = None
) -> nn.Linear:
    """A linear map of ``(J values, J flags)`` lag features to a location.

    The first ``num_seasonal`` (default all J) values are seasonal lags, most
    recent first; any further ones (e.g. :func:`recent_lag_offsets`) start
    with weight 0. ``init="last"`` starts it as the seasonal-naive forecast
    (weight 1 on the most recent same-phase value); ``"mean"`` as the mean of
    the seasonal lags (weights 1 / num_seasonal), a steadier start for noisy
    series. Flags and bias start at 0.
    """
    if init not in SEASONAL_LOC_INITS:
        raise ValueError(f"seasonal_loc_init must be one of {SEASONAL_LOC_INITS}, got {init!r}")
    num_seasonal = num_lags if num_seasonal is None else num_seasonal
    if not 1 <= num_seasonal <= num_lags:
        raise ValueError(f"num_seasonal must be in [1, num_lags={num_lags}], got {num_seasonal}")
    layer = nn.Linear(2 * num_lags, 1)
    with torch.no_grad():
        layer.weight.zero_()
        if init == "last":
            layer.weight[0, 0] = 1.0
        else:
            layer.weight[0, :num_seasonal] = 1.0 / num_seasonal
        layer.bias.zero_()
    return layer


class StepwiseLinear(nn.Module):
    """One linear map per horizon step: (..., H, n) -> (..., H, 1).

    The per-step version of :func:`seasonal_naive_linear`: step ``h``'s
    location is its own combination of its seasonal lags, so the weights
    can extrapolate a trend over the horizon (e.g. ``lag_1 + h (lag_1 -
    lag_2)`` for ``season_length = 1``), which one map shared by all steps
    cannot. Every step starts as ``seasonal_naive_linear(num_lags, init,
    num_seasonal)``.
    """

    def __init__(
        self,
        prediction_length: int,
        num_lags: int,
        init: str = "last",
        num_seasonal: Optional[int] = None,
    ) -> None:
        super().__init__()
        base = seasonal_naive_linear(num_lags, init, num_seasonal)
        self.weight = nn.Parameter(base.weight.detach().repeat(prediction_length, 1))  # (H, 2J)
        self.bias = nn.Parameter(base.bias.detach().repeat(prediction_length))  # (H,)

    def forward(self, x: Tensor) -> Tensor:
        return ((x * self.weight).sum(-1) + self.bias).unsqueeze(-1)


#: Smallest residual (in scaled units) in the weights of
#: :func:`fit_l1_linear`'s reweighting: a residual of zero would give an
#: infinite weight; below the floor the fit is a weighted least-squares one.
L1_RESIDUAL_FLOOR = 0.05


def fit_l1_linear(
    features: Tensor,
    target: Tensor,
    weights: Tensor,
    start: Tensor,
    ridge: float = 100.0,
    iterations: int = 8,
    residual_floor: float = L1_RESIDUAL_FLOOR,
) -> Tensor:
    """Weighted least-absolute-deviations (median) regression with an
    intercept, pulled toward ``start``, by iteratively reweighted least
    squares (IRLS).

    Minimises ``sum_i w_i |x_i . b + c - y_i|`` approximately: each
    iteration solves ``min sum_i v_i (x_i . b + c - y_i)^2 + ridge
    |(b, c) - start|^2`` with ``v_i = w_i / max(|r_i|, residual_floor)``,
    ``r`` the residuals of the previous solution (the first from
    ``start``). Computed in float64.

    Parameters
    ----------
    features : Tensor, shape (N, P)
    target, weights : Tensor, shape (N,)
        Weights >= 0 (0 leaves a row out).
    start : Tensor, shape (P + 1,)
        Starting coefficients and intercept (last), also the ridge's centre.

    Returns
    -------
    Tensor, shape (P + 1,), float64
    """
    X = torch.cat([features.double(), features.new_ones(features.shape[0], 1, dtype=torch.float64)], 1)
    y, w, start = target.double(), weights.double(), start.double()
    eye = ridge * torch.eye(X.shape[1], dtype=torch.float64, device=X.device)
    sol = start
    for _ in range(iterations):
        v = w / (X @ sol - y).abs().clamp_min(residual_floor)
        sol = torch.linalg.solve(X.T @ (X * v[:, None]) + eye, X.T @ (v * y) + ridge * start)
    return sol
