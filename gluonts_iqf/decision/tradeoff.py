"""The service-level trade-off table: stock per service level, per step and
for the lead-time totals, and what each extra percentage point costs."""

from typing import List, Optional

import numpy as np
import pandas as pd

from ..levels import Levels, check_levels
from .checks import (
    check_dependence,
    check_lead_time,
    check_multivariate_dependence,
    check_series,
    check_univariate_series,
    is_multivariate_sample,
)
from .marginals import SAMPLE_SLOPE_STEP, JointSamples, marginals, sample_quantile, secant_slopes
from .totals import TOTAL_METHODS, joint_method, lead_time_totals

#: One percentage point of service level, the unit of the marginal stock.
PERCENTAGE_POINT = 0.01

QUANTITIES = ["stock", "extra_stock", "stock_per_pp"]


def _table(
    stock: np.ndarray, slopes: np.ndarray, levels: np.ndarray, columns: pd.MultiIndex
) -> pd.DataFrame:
    """The frame of ``stock``, its increments from the previous level (NaN
    in the first row) and ``PERCENTAGE_POINT * slopes``; stock and slopes
    (n, C) for the C targets of ``columns`` (3 C columns)."""
    extra = np.full_like(stock, np.nan)
    extra[1:] = np.diff(stock, axis=0)
    return pd.DataFrame(
        np.column_stack([stock, extra, PERCENTAGE_POINT * slopes]),
        index=pd.Index(levels, name="level"),
        columns=columns,
    )


def service_level_tradeoff(
    forecast,
    levels: Levels = "0.90:0.99",
    lead_time: Optional[int] = None,
    dependence: str = "both",
    series=None,
) -> pd.DataFrame:
    """Stock needed per service level, and what each extra point costs.

    For a service level ``alpha`` (the probability that demand does not
    exceed the stock) the stock is the quantile ``q_t(alpha)`` of each step
    ``t``, and ``Q(alpha)`` of the total demand over the first ``lead_time``
    steps (see :func:`lead_time_quantiles` for the totals' dependence
    assumptions). The extra stock for one more point is ``q_t(alpha + 0.01) -
    q_t(alpha)``, or, per infinitesimal point, ``0.01 dq_t/dalpha = 0.01 /
    f_t(q_t(alpha))``.

    Parameters
    ----------
    forecast : QuantileFunctionForecast, SampleForecast or QuantileForecast
        Univariate forecast with ``H = prediction_length`` steps, or a
        multivariate ``SampleForecast`` (samples (n, H, dim); see below).
    levels : str, float or sequence of float, n levels, default "0.90:0.99"
        Strictly increasing service levels in (0, 1); ``"start:stop"`` means
        ``start, start + 0.01, ..., stop`` and ``"start:stop:step"`` uses the
        given step (``stop`` a whole number of steps from ``start``); the
        levels are the floats nearest those decimals. A string without ``:``
        is a comma list, ``"0.9,0.95"``.
    lead_time : int, optional
        Steps summed for the totals, ``1 <= lead_time <= H``; default ``H``.
    dependence : {"comonotone", "independent", "both"}, default "both"
        Which lead-time totals to report; a multivariate ``SampleForecast``
        accepts only the default.
    series : optional
        Multivariate ``SampleForecast`` only: the aggregates of series whose
        lead-time totals are reported, as in :func:`aggregate_quantiles`.

    Returns
    -------
    pandas.DataFrame, shape (n, 3 * (H + number of totals))
        Index ``level``; columns a ``MultiIndex`` ``(quantity, target)``.
        ``quantity``: ``"stock"`` (``q_t(alpha)``, equal to
        ``forecast.quantile(alpha)``, or the total's quantile);
        ``"extra_stock"`` (``stock(alpha_i) - stock(alpha_{i-1})``, NaN in
        the first row: with ``levels="0.94:0.95"`` the second row answers
        "how much more for 95% instead of 94%"); ``"stock_per_pp"``
        (``0.01 dq/dalpha``: exact for an IQF, the right derivative of its
        piecewise-linear quantile function or exponential tails; the sum of
        the steps' slopes for the comonotone total; ``d / pmf`` of the
        convolution grid for the independent total; a finite difference for
        sample and quantile forecasts). ``target``: ``str(period)`` of each
        step, then ``"total_comonotone"``, ``"total_independent"`` and, for
        a ``SampleForecast``, ``"total_joint"``.
        ``attrs``: ``"lead_time"``, ``"steps"`` (labels of the summed
        steps), ``"forecast"`` (type name), ``"methods"`` (how each quantity
        and total is computed) and ``"approximate"`` (the ``(quantity,
        target)`` columns that are numerical approximations of the
        forecast's distribution).

        Multivariate ``SampleForecast``: columns ``(quantity, series,
        target)``; ``(quantity, str(k), step label)`` per cell (stock
        ``forecast.quantile(alpha)[t, k]``) and ``(quantity, label,
        "total_joint")`` per aggregate of ``series`` (default each series
        alone and ``"sum"`` of all), the empirical quantile of the paths'
        totals over the lead time (:func:`aggregate_quantiles`); ``attrs``
        add ``"series"``.

    Raises
    ------
    TypeError
        For an unsupported forecast type.
    ValueError
        For bad levels (outside (0, 1), unsorted, repeated, NaN, empty,
        malformed string), ``lead_time`` outside ``1..H``, an unknown
        ``dependence`` (or a non-default one for a multivariate forecast),
        or bad ``series``.

    Examples
    --------
    >>> import pandas as pd, torch
    >>> from gluonts_iqf import IQF, QuantileFunctionForecast
    >>> distr = IQF([0.1, 0.5, 0.9], torch.tensor([[0.0, 10.0, 20.0]] * 2),
    ...             beta_l=torch.ones(2), beta_r=torch.full((2,), 0.2))
    >>> fc = QuantileFunctionForecast(distr, pd.Period("2020-01-01", freq="D"))
    >>> tab = service_level_tradeoff(fc, "0.94:0.95")
    >>> tab["stock"].round(3)  # doctest: +NORMALIZE_WHITESPACE
    target  2020-01-01  2020-01-02  total_comonotone  total_independent
    level
    0.94        22.554      22.554            45.108             38.821
    0.95        23.466      23.466            46.931             39.946
    >>> float(tab.loc[0.95, ("extra_stock", "2020-01-01")].round(4))  # 5 ln 1.2
    0.9116
    >>> round(float(tab.loc[0.95, ("stock_per_pp", "2020-01-01")]), 6)  # 0.01*5/0.05
    1.0
    """
    if is_multivariate_sample(forecast):
        check_multivariate_dependence(dependence, "both")
        return _multivariate_tradeoff(forecast, levels, lead_time, series)
    check_univariate_series(series)
    marg = marginals(forecast)
    lv = check_levels(levels)
    L = check_lead_time(lead_time, marg.H)
    deps = check_dependence(dependence)

    stock = np.stack([marg.quantile(a) for a in lv])  # (n, H)
    slopes = marg.slopes(lv)  # (n, H)
    totals = lead_time_totals(marg, lv, stock, slopes, L, deps)

    labels = [str(p) for p in marg.index]
    targets: List[str] = labels + list(totals)
    frame = _table(
        np.column_stack([stock] + [t.quantile for t in totals.values()]),
        np.column_stack([slopes] + [t.slope for t in totals.values()]),
        lv,
        pd.MultiIndex.from_product([QUANTITIES, targets], names=["quantity", "target"]),
    )
    approximate = []
    for name, tot in totals.items():
        if not tot.quantile_exact:
            approximate += [("stock", name), ("extra_stock", name)]
        if not tot.slope_exact:
            approximate.append(("stock_per_pp", name))
    if not marg.slope_exact:
        approximate += [("stock_per_pp", lab) for lab in labels]
    frame.attrs["lead_time"] = L
    frame.attrs["steps"] = labels[:L]
    frame.attrs["forecast"] = type(forecast).__name__
    frame.attrs["methods"] = {
        "stock": marg.stock_method,
        "stock_per_pp": marg.slope_method,
        **{name: TOTAL_METHODS[name] for name in totals},
    }
    frame.attrs["approximate"] = sorted(approximate)
    return frame


def _multivariate_tradeoff(forecast, levels, lead_time, series) -> pd.DataFrame:
    """:func:`service_level_tradeoff` of a multivariate SampleForecast."""
    joint = JointSamples(forecast)
    lv = check_levels(levels)
    L = check_lead_time(lead_time, joint.H)
    aggs = check_series(series, joint.dim)
    labels = [str(p) for p in joint.index]
    stock = np.stack([joint.quantile(a) for a in lv])  # (n, H, dim)
    slopes = joint.slopes(lv)  # (n, H, dim)
    # series-major cells: (k, t) -> column k * H + t
    cols = [(str(k), lab) for k in range(joint.dim) for lab in labels]
    stock_cols = [stock.transpose(0, 2, 1).reshape(len(lv), -1)]
    slope_cols = [slopes.transpose(0, 2, 1).reshape(len(lv), -1)]
    for agg in aggs:
        tot = joint.totals(0, L, agg)

        def q(a: float, tot=tot) -> np.ndarray:
            return sample_quantile(tot, a)

        stock_cols.append(np.array([[q(a)] for a in lv], dtype=np.float64))
        slope_cols.append(secant_slopes(q, lv, SAMPLE_SLOPE_STEP).reshape(-1, 1))
        cols.append((agg.label, "total_joint"))
    frame = _table(
        np.column_stack(stock_cols),
        np.column_stack(slope_cols),
        lv,
        pd.MultiIndex.from_tuples(
            [(qn,) + c for qn in QUANTITIES for c in cols], names=["quantity", "series", "target"]
        ),
    )
    frame.attrs["lead_time"] = L
    frame.attrs["steps"] = labels[:L]
    frame.attrs["forecast"] = type(forecast).__name__
    frame.attrs["series"] = {agg.label: agg.describe() for agg in aggs}
    frame.attrs["methods"] = {
        "stock": joint.stock_method,
        "stock_per_pp": joint.slope_method,
        "total_joint": joint_method(0, L),
    }
    frame.attrs["approximate"] = sorted(("stock_per_pp",) + c for c in cols)
    return frame
