"""Inventory decisions from probabilistic forecasts.

The planner's question -- "if I guarantee 95% in-stock instead of 94%, how
much more stock do I need?" -- is about the forecast's quantile function
``q_t(alpha)`` of each step ``t``: stocking ``q_t(alpha)`` covers demand with
probability ``alpha`` (the cycle service level).

Public functions: :func:`service_level_tradeoff` (stock per service level,
per step and for the lead-time total, with the extra stock per point),
:func:`lead_time_quantiles` (quantiles of the lead-time total under stated
dependence assumptions), :func:`aggregate_quantiles` (any window of steps
and set of series, from joint sample paths), :func:`newsvendor_level` and
:func:`optimal_stock` (the cost-optimal level and stock).

Accepted forecasts: a ``QuantileFunctionForecast`` (exact: the IQF's own
quantiles and cdf, closed-form slopes and costs, in float64); a GluonTS
``SampleForecast``, univariate or multivariate (GluonTS's empirical
quantiles, secant slopes, and totals from the joint sample paths; a
multivariate one has joint totals only); a univariate GluonTS
``QuantileForecast`` (GluonTS's interpolant, differentiated and tabulated
numerically). Anything else raises ``TypeError``: convert e.g. a
``DistributionForecast`` with ``forecast.to_sample_forecast(n)``.

Modules: :mod:`.checks` (argument checks), :mod:`.marginals` and
:mod:`.iqf_marginals` (per-step views of each forecast type),
:mod:`.convolution` (the sum of independent steps), :mod:`.totals`,
:mod:`.tradeoff`, :mod:`.newsvendor` (the public functions).
"""

from .newsvendor import OptimalStock, newsvendor_level, optimal_stock
from .totals import aggregate_quantiles, lead_time_quantiles
from .tradeoff import service_level_tradeoff

__all__ = [
    "OptimalStock",
    "aggregate_quantiles",
    "lead_time_quantiles",
    "newsvendor_level",
    "optimal_stock",
    "service_level_tradeoff",
]
