"""Exact per-step queries of a ``QuantileFunctionForecast`` (an IQF per step).

Quantiles are ``forecast.quantile``; the cdf and the range of each step are
the IQF's own ``cdf`` and ``icdf``, evaluated on the same IQF in float64 on
the CPU whatever the forecast's dtype and device. Two quantities the IQF has
no method for are closed forms on its spline points here: the right
derivative of the quantile function (:func:`right_slopes`) and the partial
integral ``int_0^tau q`` (:func:`partial_integral`).
"""

from typing import NamedTuple, Tuple

import numpy as np
import torch
from torch import Tensor

from ..distributions import _grid
from ..distributions.iqf import IQF
from ..forecast import QuantileFunctionForecast
from ..levels import median_index
from .convolution import TAIL_LEVEL


def float64_iqf(distr: IQF, steps=slice(None)) -> IQF:
    """The steps ``steps`` (a slice or an index array) of an IQF with
    batch_shape (H,), as an eager float64 IQF on the CPU (same knots,
    pieces, tails, loc and scale)."""

    def f64(t: Tensor) -> Tensor:
        return t.detach().to(device="cpu", dtype=torch.float64)

    pieces = {}
    if distr.piece_widths is not None:
        pieces = dict(
            piece_widths=f64(distr.piece_widths[steps]),
            piece_heights=f64(distr.piece_heights[steps]),
        )
    return IQF(
        f64(distr.knot_levels),
        f64(distr.knot_values[steps]),
        f64(distr.beta_l[steps]),
        f64(distr.beta_r[steps]),
        loc=f64(distr.loc[steps]),
        scale=f64(distr.scale[steps]),
        validate_args=False,
        **pieces,
    )


class QuantileGrid(NamedTuple):
    """The spline points of H quantile functions in base units (before
    ``loc``/``scale``), relative to the knot nearest the median (small
    cancellation), with their closed-form integrals."""

    x: Tensor  # (N,) shared or (H, N): levels of the spline points
    y: Tensor  # (H, N): values of the spline points, relative to the reference knot
    s_left: Tensor  # (H,): left tail scale 1 / beta_l
    s_right: Tensor  # (H,): right tail scale 1 / beta_r
    cum: Tensor  # (H, N): int_0^{x_j} q(a) da
    mean: Tensor  # (H,): int_0^1 q(a) da


def quantile_grid(distr: IQF) -> QuantileGrid:
    """:class:`QuantileGrid` of an IQF with batch_shape (H,)."""
    levels = distr.knot_levels
    H, K = distr.batch_shape[0], levels.shape[-1]
    values = distr.knot_values.reshape(H, K)
    ref = values[:, median_index(levels.tolist())].unsqueeze(-1)  # (H, 1)
    widths = heights = None
    if distr.piece_widths is not None:
        widths = distr.piece_widths.reshape(H, K - 1, -1)
        heights = distr.piece_heights.reshape(H, K - 1, -1)
    x, y = _grid.spline_grid(levels, values - ref, widths, heights)
    s_left, s_right = 1.0 / distr.beta_l.reshape(H), 1.0 / distr.beta_r.reshape(H)
    cum, mean, _ = _grid.integrals(x, y, s_left, s_right)
    return QuantileGrid(x, y, s_left, s_right, cum, mean)


def right_slopes(grid: QuantileGrid, levels: Tensor) -> Tensor:
    """Right derivative ``dq/dalpha`` in base units at ``levels`` (n,) ->
    (H, n): piece height / piece width on a spline piece, ``s_L / alpha`` in
    the left tail, ``s_R / (1 - alpha)`` in the right tail (the right
    derivative, so a level on a knot takes the piece above it)."""
    x, y = grid.x, grid.y
    u = levels.unsqueeze(0).expand(y.shape[0], -1).contiguous()  # (H, n)
    j = _grid.find_bins(x, u)
    dx = _grid.gather_rows(x, j + 1) - _grid.gather_rows(x, j)
    dy = _grid.gather_rows(y, j + 1) - _grid.gather_rows(y, j)
    left = grid.s_left.unsqueeze(-1) / u
    right = grid.s_right.unsqueeze(-1) / (1.0 - u)
    return torch.where(u < x[..., :1], left, torch.where(u >= x[..., -1:], right, dy / dx))


def partial_integral(grid: QuantileGrid, level: float) -> Tensor:
    """``int_0^level q(a) da`` in base units relative to the reference knot,
    (H,).

    ``level y_0 + s_L level (log(level / x_0) - 1)`` in the left tail;
    ``C_j + (level - x_j) (y_j + q(level)) / 2`` on the piece ``[x_j,
    x_{j+1}]`` (``C_j`` the integral up to ``x_j``); ``M - (1 - level)
    (q(level) + s_R)`` in the right tail (``M`` the integral up to 1).
    """
    x, y = grid.x, grid.y
    u = torch.full((y.shape[0], 1), float(level), dtype=y.dtype)
    q = _grid.quantile(x, y, grid.s_left, grid.s_right, u)[:, 0]
    j = _grid.find_bins(x, u)
    xj = _grid.gather_rows(x, j)[:, 0]
    yj = torch.gather(y, -1, j)[:, 0]
    cj = torch.gather(grid.cum, -1, j)[:, 0]
    a = torch.full_like(q, float(level))
    left = a * y[:, 0] + grid.s_left * a * (torch.log(a / x[..., 0]) - 1.0)
    mid = cj + (a - xj) * (yj + q) / 2.0
    right = grid.mean - (1.0 - a) * (q + grid.s_right)
    return torch.where(a < x[..., 0], left, torch.where(a > x[..., -1], right, mid))


class IQFMarginals:
    """Per-step queries of a ``QuantileFunctionForecast``, all exact (to
    float64 rounding): quantile, right slope, cdf, range and the expected
    newsvendor cost at a quantile."""

    stock_method = "exact quantile of the IQF (forecast.quantile)"
    slope_exact = True
    slope_method = (
        "exact right derivative of the quantile function, "
        "dq/dalpha = 1 / f(q(alpha)): scale * piece height / piece width on a "
        "spline piece, scale / (beta_l * alpha) in the left tail, "
        "scale / (beta_r * (1 - alpha)) in the right tail"
    )
    cost_exact = True

    def __init__(self, forecast: QuantileFunctionForecast) -> None:
        if not isinstance(forecast.distribution, IQF):
            raise TypeError(
                "QuantileFunctionForecast must hold an IQF distribution, got "
                f"{type(forecast.distribution).__name__}"
            )
        self.forecast = forecast
        self.index = forecast.index
        self.H = int(forecast.prediction_length)
        self.distribution = float64_iqf(forecast.distribution)  # batch (H,)
        self.scale = self.distribution.scale  # (H,)
        self.grid = quantile_grid(self.distribution)

    def quantile(self, level: float) -> np.ndarray:
        """``forecast.quantile(level)`` as float64, (H,)."""
        return np.asarray(self.forecast.quantile(level), dtype=np.float64)

    def slopes(self, levels: np.ndarray) -> np.ndarray:
        """Right derivative ``dq_t/dalpha`` at ``levels`` (n,) -> (n, H)."""
        u = torch.as_tensor(levels, dtype=torch.float64)
        return (self.scale.unsqueeze(-1) * right_slopes(self.grid, u)).T.numpy()

    def support(self) -> Tuple[np.ndarray, np.ndarray]:
        """Quantiles at ``TAIL_LEVEL`` and ``1 - TAIL_LEVEL``, each (H,)."""
        u = torch.tensor([[TAIL_LEVEL], [1.0 - TAIL_LEVEL]], dtype=torch.float64)
        with torch.no_grad():
            q = self.distribution.icdf(u).numpy()  # (2, H)
        return q[0], q[1]

    def cdf(self, steps: np.ndarray, values: np.ndarray) -> np.ndarray:
        """The cdfs of the steps with indices ``steps`` (s,) at values (m, s),
        column ``j`` at step ``steps[j]``: one call of the IQF's ``cdf``."""
        with torch.no_grad():
            return float64_iqf(self.distribution, steps).cdf(torch.as_tensor(values)).numpy()

    def optimum_cost(self, tau: float, cu: float, co: float) -> np.ndarray:
        """Expected newsvendor cost at ``q_t(tau)``, ``tau = cu / (cu + co)``:
        ``(cu + co) (tau E[Y] - int_0^tau q(a) da)``, shape (H,)."""
        base = tau * self.grid.mean - partial_integral(self.grid, tau)
        return ((cu + co) * self.scale * base).numpy()
