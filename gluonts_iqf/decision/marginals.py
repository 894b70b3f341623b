"""Per-step views of the accepted forecasts, the common interface of the
decision functions.

A marginals object of a univariate forecast with ``H`` steps has ``index``
(the steps' periods), ``H``, ``quantile(level) -> (H,)``, ``slopes(levels
(n,)) -> (n, H)`` (``dq/dalpha``), ``support() -> (lo (H,), hi (H,))``,
``cdf(steps (s,), values (m, s)) -> (m, s)`` (the cdfs of the steps with
indices ``steps``, one column each), ``optimum_cost(tau, cu, co) -> (H,)``
and the descriptions ``stock_method``, ``slope_method``, ``slope_exact``,
``cost_exact``. :func:`marginals` picks the view of a forecast;
:class:`JointSamples` is the view of the joint sample paths (univariate or
multivariate) for aggregates over steps and series.
"""

from typing import Callable, Tuple, Union

import numpy as np
from gluonts.model.forecast import QuantileForecast, SampleForecast

from ..forecast import QuantileFunctionForecast
from .checks import Aggregate
from .convolution import TAIL_LEVEL
from .iqf_marginals import IQFMarginals

#: Half-width (in levels) of the centred secant of sample quantiles that
#: stands in for ``dq/dalpha`` of a ``SampleForecast``: the slope from
#: ``alpha - 0.01`` to ``alpha + 0.01`` (one-sided within 0.01 of 0 or 1).
SAMPLE_SLOPE_STEP = 0.01

#: Level step ``h`` of the one-sided three-point difference of GluonTS's
#: quantile interpolant (``QuantileForecast``): exact on its linear pieces up
#: to rounding, error O(h^2 / (1 - alpha)^2) on its exponential tails; at a
#: stored level it gives the right derivative, like the IQF path.
INTERPOLANT_SLOPE_STEP = 1e-5

#: Levels per side (geometric, from ``TAIL_LEVEL`` to 0.01) and in the bulk
#: (uniform on [0.01, 0.99]) of the level table that stands in for the
#: distribution of a ``QuantileForecast``.
QUANTILE_TABLE_TAIL_POINTS = 400
QUANTILE_TABLE_BULK_POINTS = 4001


def sample_quantile(sorted_values: np.ndarray, level: float) -> np.ndarray:
    """GluonTS's ``SampleForecast.quantile`` rule: the sorted value at index
    ``round((n - 1) * level)``; sorted_values (n, ...) -> (...)."""
    n = sorted_values.shape[0]
    return sorted_values[int(np.round((n - 1) * level))]


def secant_slopes(
    quantile: Callable[[float], np.ndarray], levels: np.ndarray, h: float
) -> np.ndarray:
    """Centred secant ``(q(a + h) - q(a - h)) / 2h`` (one-sided within ``h``
    of 0 or 1) at each of ``levels`` (n,) -> (n, ...)."""
    rows = []
    for a in levels:
        lo, hi = max(a - h, 0.0), min(a + h, 1.0)
        rows.append((quantile(hi) - quantile(lo)) / (hi - lo))
    return np.stack(rows)


def empirical_cost(values: np.ndarray, stock, cu: float, co: float) -> np.ndarray:
    """Mean newsvendor cost ``cu (Y - s)_+ + co (s - Y)_+`` of ``stock``
    against samples ``values`` (n, ...) -> (...)."""
    diff = values - stock
    return np.mean(cu * np.maximum(diff, 0.0) + co * np.maximum(-diff, 0.0), axis=0)


def _trapezoid(values: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Trapezoid rule along axis 0: values (T, ...) over levels (T,) -> (...)."""
    widths = np.diff(levels).reshape((-1,) + (1,) * (values.ndim - 1))
    return (0.5 * widths * (values[1:] + values[:-1])).sum(axis=0)


def _finite_samples(samples: np.ndarray) -> np.ndarray:
    """A SampleForecast's samples (n, ...) as float64; ``ValueError`` when
    there are none or any is NaN or infinite."""
    if samples.shape[0] < 1:
        raise ValueError("the SampleForecast holds no samples")
    samples = samples.astype(np.float64)
    if not np.isfinite(samples).all():
        raise ValueError("the SampleForecast has NaN or infinite samples")
    return samples


class SampleMarginals:
    """Per-step queries of a univariate GluonTS ``SampleForecast``: the
    empirical distribution of each step's samples."""

    stock_method = (
        "empirical quantile of the samples as GluonTS computes it "
        "(forecast.quantile: sorted sample at index round((n - 1) * alpha))"
    )
    slope_exact = False
    slope_method = (
        "centred secant of the empirical quantiles, "
        f"(q(alpha + {SAMPLE_SLOPE_STEP}) - q(alpha - {SAMPLE_SLOPE_STEP})) / "
        f"{2 * SAMPLE_SLOPE_STEP} (one-sided within {SAMPLE_SLOPE_STEP} of 0 "
        "or 1); approximate"
    )
    cost_exact = True  # exact for the empirical distribution

    def __init__(self, forecast: SampleForecast) -> None:
        samples = np.asarray(forecast.samples)
        if samples.ndim != 2:
            raise ValueError(
                "only univariate forecasts are supported; the SampleForecast "
                f"has samples of shape {samples.shape} (use forecast.copy_dim(i) "
                "for one dimension)"
            )
        samples = _finite_samples(samples)
        self.forecast = forecast
        self.index = forecast.index
        self.H = samples.shape[1]
        self.samples = samples  # (n, H)
        self.sorted = np.sort(samples, axis=0)  # (n, H)

    def quantile(self, level: float) -> np.ndarray:
        return np.asarray(self.forecast.quantile(level), dtype=np.float64)

    def slopes(self, levels: np.ndarray) -> np.ndarray:
        return secant_slopes(self.quantile, levels, SAMPLE_SLOPE_STEP)

    def support(self) -> Tuple[np.ndarray, np.ndarray]:
        return self.sorted[0], self.sorted[-1]

    def cdf(self, steps: np.ndarray, values: np.ndarray) -> np.ndarray:
        cols = self.sorted[:, steps].T  # (s, n)
        F = [np.searchsorted(col, v, side="right") for col, v in zip(cols, values.T)]
        return np.stack(F, axis=1) / self.sorted.shape[0]

    def optimum_cost(self, tau: float, cu: float, co: float) -> np.ndarray:
        return empirical_cost(self.samples, self.quantile(tau), cu, co)

    def joint_totals(self, lead_time: int) -> np.ndarray:
        """Sorted totals of the sample paths over the lead time, (n,)."""
        return np.sort(self.samples[:, :lead_time].sum(axis=1))


class QuantileTableMarginals:
    """Per-step queries of a univariate GluonTS ``QuantileForecast``.

    The distribution is GluonTS's own interpolant (``forecast.quantile``),
    tabulated on a dense level grid (the stored levels, a uniform bulk grid
    and geometric tail grids down to ``TAIL_LEVEL``) for the cdf and the
    expected costs; crossing stored quantiles are sorted along the levels
    (monotone rearrangement) in that table.
    """

    stock_method = (
        "GluonTS's QuantileForecast.quantile: linear interpolation between the "
        "stored levels, exponential tails beyond them"
    )
    slope_exact = False
    slope_method = (
        "one-sided three-point difference of GluonTS's quantile interpolant, "
        f"step {INTERPOLANT_SLOPE_STEP} (exact on its linear pieces up to "
        "rounding, relative error below 1e-5 on its exponential tails); "
        "approximate"
    )
    cost_exact = False

    def __init__(self, forecast: QuantileForecast) -> None:
        arr = np.asarray(forecast.forecast_array)
        if arr.ndim != 2:
            raise ValueError(
                "only univariate forecasts are supported; the QuantileForecast "
                f"has forecast_array of shape {arr.shape} (use "
                "forecast.copy_dim(i) for one dimension)"
            )
        keys = [float(k) for k in forecast.forecast_keys if k != "mean"]
        if len(keys) < 2:
            raise ValueError(
                "the QuantileForecast needs at least 2 stored quantile levels "
                f"to interpolate, got keys {forecast.forecast_keys}"
            )
        self.forecast = forecast
        self.index = forecast.index
        self.H = arr.shape[1]
        tail = np.geomspace(TAIL_LEVEL, 0.01, QUANTILE_TABLE_TAIL_POINTS)
        bulk = np.linspace(0.01, 0.99, QUANTILE_TABLE_BULK_POINTS)
        self.table_levels = np.unique(np.concatenate([tail, bulk, 1.0 - tail, keys]))  # (T,)
        table = np.stack([self.quantile(a) for a in self.table_levels])  # (T, H)
        if not np.isfinite(table).all():
            raise ValueError("the QuantileForecast has NaN or infinite values")
        self.table = np.sort(table, axis=0)

    def quantile(self, level: float) -> np.ndarray:
        return np.asarray(self.forecast.quantile(float(level)), dtype=np.float64)

    def slopes(self, levels: np.ndarray) -> np.ndarray:
        h = INTERPOLANT_SLOPE_STEP
        rows = []
        for a in levels:
            sign = 1.0 if a + h < 1.0 else -1.0  # backward only next to 1
            q0 = self.quantile(a)
            q1 = self.quantile(a + sign * h / 2)
            q2 = self.quantile(a + sign * h)
            rows.append(sign * (-3.0 * q0 + 4.0 * q1 - q2) / h)
        return np.stack(rows)

    def support(self) -> Tuple[np.ndarray, np.ndarray]:
        return self.table[0], self.table[-1]

    def cdf(self, steps: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Inverse of each step's level table, interpolating ``log(alpha)``
        below the median and ``log(1 - alpha)`` above it: exact on the
        interpolant's exponential tails, relative error ``(da / alpha)^2 / 8
        <= 3e-6`` on its linear pieces above level 0.05 (``da`` the table
        spacing)."""
        log_a, log_1ma = np.log(self.table_levels), np.log1p(-self.table_levels)
        F = []
        for q, v in zip(self.table[:, steps].T, values.T):
            left = np.exp(np.interp(v, q, log_a))
            right = -np.expm1(np.interp(v, q, log_1ma))
            F.append(np.where(left < 0.5, left, right))
        return np.stack(F, axis=1)

    def optimum_cost(self, tau: float, cu: float, co: float) -> np.ndarray:
        """``int_0^1 cu (q(a) - s)_+ + co (s - q(a))_+ da`` by the trapezoid
        rule on the level table (with ``tau`` added), ``s = q(tau)``."""
        s = self.quantile(tau)
        pos = np.searchsorted(self.table_levels, tau)
        levels = np.insert(self.table_levels, pos, tau)
        table = np.insert(self.table, pos, s, axis=0)
        diff = table - s
        loss = cu * np.maximum(diff, 0.0) + co * np.maximum(-diff, 0.0)
        return _trapezoid(loss, levels)


Marginals = Union[IQFMarginals, SampleMarginals, QuantileTableMarginals]


def marginals(forecast) -> Marginals:
    """The per-step view of a univariate forecast; ``TypeError`` for an
    unsupported type."""
    if isinstance(forecast, QuantileFunctionForecast):
        return IQFMarginals(forecast)
    if isinstance(forecast, SampleForecast):
        return SampleMarginals(forecast)
    if isinstance(forecast, QuantileForecast):
        return QuantileTableMarginals(forecast)
    raise TypeError(
        "forecast must be a gluonts_iqf QuantileFunctionForecast, a GluonTS "
        f"SampleForecast or a GluonTS QuantileForecast, got "
        f"{type(forecast).__module__}.{type(forecast).__name__} (convert other "
        "forecasts with forecast.to_sample_forecast(n))"
    )


class JointSamples:
    """The joint sample paths of a GluonTS ``SampleForecast``, univariate
    (samples (n, H)) or multivariate (samples (n, H, dim)), as (n, H, dim)
    float64, with empirical quantiles (GluonTS's rule) per cell and of
    aggregates over windows of steps and sets of series."""

    stock_method = SampleMarginals.stock_method
    slope_method = SampleMarginals.slope_method

    def __init__(self, forecast: SampleForecast) -> None:
        samples = np.asarray(forecast.samples)
        if samples.ndim not in (2, 3):
            raise ValueError(
                "a SampleForecast's samples must have shape (n, H) or (n, H, dim), "
                f"got {samples.shape}"
            )
        samples = _finite_samples(samples)
        self.forecast = forecast
        self.index = forecast.index
        self.samples = samples[..., None] if samples.ndim == 2 else samples  # (n, H, dim)
        self.n, self.H, self.dim = self.samples.shape
        self.sorted = np.sort(self.samples, axis=0)  # (n, H, dim)

    def quantile(self, level: float) -> np.ndarray:
        """Per-cell empirical quantile, (H, dim) (``forecast.quantile``)."""
        return sample_quantile(self.sorted, level)

    def slopes(self, levels: np.ndarray) -> np.ndarray:
        """Per-cell secant slopes, (n_levels, H, dim)."""
        return secant_slopes(self.quantile, levels, SAMPLE_SLOPE_STEP)

    def totals(self, start: int, stop: int, agg: Aggregate) -> np.ndarray:
        """Sorted aggregate of each sample path over steps ``[start, stop)``
        and the aggregate's series, (n,): ``sum_{t, k in indices} y_{t,k}``
        or ``sum_t sum_k w_k y_{t,k}``."""
        window = self.samples[:, start:stop]  # (n, L, dim)
        if agg.indices is not None:
            tot = window[:, :, agg.indices].sum(axis=(1, 2))
        else:
            tot = (window * agg.weights).sum(axis=(1, 2))
        return np.sort(tot)
