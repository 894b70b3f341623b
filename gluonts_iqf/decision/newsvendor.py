"""The newsvendor decision: the cost-optimal service level and stock, and
the expected cost at the optimum."""

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np
import pandas as pd

from .checks import (
    check_cost,
    check_dependence,
    check_lead_time,
    check_multivariate_dependence,
    check_series,
    check_univariate_series,
    is_multivariate_sample,
)
from .convolution import independent_sum
from .marginals import JointSamples, SampleMarginals, empirical_cost, marginals, sample_quantile


def newsvendor_level(underage_cost: float, overage_cost: float) -> float:
    """Cost-optimal service level (the newsvendor critical ratio).

    Stocking ``s`` against demand ``Y`` costs ``underage_cost`` per unit
    short and ``overage_cost`` per unit left over; the expected cost ``cu
    E[(Y - s)_+] + co E[(s - Y)_+]`` is minimised by the quantile at ``cu /
    (cu + co)``.

    Parameters
    ----------
    underage_cost : float
        Cost per unit of unmet demand (e.g. lost margin), positive, finite.
    overage_cost : float
        Cost per unit of excess stock (e.g. holding, waste), positive,
        finite.

    Returns
    -------
    float
        ``underage_cost / (underage_cost + overage_cost)`` in (0, 1) (up to
        float64 rounding for extreme cost ratios).

    Raises
    ------
    ValueError
        If a cost is not a positive finite real number (booleans rejected).

    Examples
    --------
    >>> newsvendor_level(3.0, 1.0)
    0.75
    >>> newsvendor_level(19, 1)
    0.95
    """
    cu = check_cost("underage_cost", underage_cost)
    co = check_cost("overage_cost", overage_cost)
    total = cu + co
    if np.isfinite(total):
        return cu / total
    return 1.0 / (1.0 + co / cu)  # cu + co overflowed


@dataclass(frozen=True)
class OptimalStock:
    """Cost-optimal stock from :func:`optimal_stock`.

    Attributes
    ----------
    level : float
        The critical ratio ``cu / (cu + co)``.
    stock : pandas.Series, shape (H,)
        Optimal stock per step, ``q_t(level)``; index: step labels
        (``str(period)``).
    expected_cost : pandas.Series, shape (H,)
        Expected newsvendor cost ``cu E[(Y_t - s_t)_+] + co E[(s_t - Y_t)_+]``
        at that stock, per step.
    lead_time : int
        Number of leading steps in the totals.
    total_stock : dict of str to float
        Optimal stock for the total demand over the lead time, keyed by
        ``"comonotone"``, ``"independent"`` and (sample forecasts)
        ``"joint"``; see :func:`lead_time_quantiles`.
    total_expected_cost : dict of str to float
        Expected cost at each total stock, same keys.
    approximate : tuple of str
        Which of ``"stock"``, ``"expected_cost"``, ``"total_<key>"`` and
        ``"total_cost_<key>"`` are numerical approximations of the
        forecast's distribution.
    """

    level: float
    stock: pd.Series
    expected_cost: pd.Series
    lead_time: int
    total_stock: Dict[str, float]
    total_expected_cost: Dict[str, float]
    approximate: Tuple[str, ...]

    def to_frame(self) -> pd.DataFrame:
        """Stock and expected cost per step, then one row per total: shape
        (H + number of totals, 2), columns ``stock`` and ``expected_cost``,
        index the step labels then ``total_<key>``."""
        rows = pd.DataFrame({"stock": self.stock, "expected_cost": self.expected_cost})
        totals = pd.DataFrame(
            {
                "stock": [self.total_stock[k] for k in self.total_stock],
                "expected_cost": [self.total_expected_cost[k] for k in self.total_stock],
            },
            index=[f"total_{k}" for k in self.total_stock],
        )
        return pd.concat([rows, totals])


def optimal_stock(
    forecast,
    underage_cost: float,
    overage_cost: float,
    lead_time: Optional[int] = None,
    dependence: str = "comonotone",
    series=None,
) -> OptimalStock:
    """Cost-optimal stock per step and for the lead-time total.

    The newsvendor optimum is the quantile at the critical ratio ``tau = cu /
    (cu + co)`` (:func:`newsvendor_level`). At ``s = q(tau)`` the expected
    cost has the closed form

    ``cu E[(Y - s)_+] + co E[(s - Y)_+] = (cu + co) (tau E[Y] - int_0^tau q(a) da)``

    (write ``E[(Y - s)_+] = int_tau^1 (q - s)``, ``E[(s - Y)_+] = int_0^tau
    (s - q)`` and use ``cu = tau (cu + co)``, ``co = (1 - tau) (cu + co)``),
    which for an IQF is exact: its mean and the partial integral of a
    piecewise-linear quantile function with logarithmic tails.

    Parameters
    ----------
    forecast : QuantileFunctionForecast, SampleForecast or QuantileForecast
        Univariate forecast with ``H`` steps, or a multivariate
        ``SampleForecast`` (samples (n, H, dim)).
    underage_cost, overage_cost : float
        Positive finite costs per unit short / per unit left over.
    lead_time : int, optional
        Steps summed for the totals, ``1..H``; default ``H``.
    dependence : {"comonotone", "independent", "both"}, default "comonotone"
        Which totals to compute (sample forecasts always add ``"joint"``); a
        multivariate ``SampleForecast`` accepts only the default.
    series : optional
        Multivariate ``SampleForecast`` only: the aggregates of series for
        the joint totals, as in :func:`aggregate_quantiles`.

    Returns
    -------
    OptimalStock

    Notes
    -----
    Expected costs: IQF, the closed form above; ``SampleForecast``, the mean
    over the samples (exact for them); ``QuantileForecast``, the trapezoid
    rule of ``int_0^1 cu (q(a) - s)_+ + co (s - q(a))_+ da`` on a dense
    level table of GluonTS's interpolant. The comonotone total's cost is the
    sum of the per-step costs (exact: at a common level every ``q_t(a) -
    q_t(tau)`` has the sign of ``a - tau``); the independent total's stock
    and cost come from the convolution of :func:`lead_time_quantiles`
    (approximate).

    Multivariate ``SampleForecast``: ``stock`` and ``expected_cost`` are
    indexed by ``(series, step)`` (per-cell empirical quantile and cost);
    the totals are the joint ones only, keyed ``"joint:<label>"`` per
    aggregate of ``series`` (default ``"joint:0"``, ..., ``"joint:sum"``),
    with their empirical expected cost.

    Raises
    ------
    TypeError
        For an unsupported forecast type.
    ValueError
        For bad costs (or a critical ratio that rounds to 0 or 1), lead
        time, dependence or series.

    Examples
    --------
    >>> import pandas as pd, torch
    >>> from gluonts_iqf import IQF, QuantileFunctionForecast
    >>> distr = IQF([0.1, 0.5, 0.9], torch.tensor([[0.0, 10.0, 20.0]] * 2),
    ...             torch.ones(2), torch.ones(2))
    >>> fc = QuantileFunctionForecast(distr, pd.Period("2020-01-01", freq="D"))
    >>> opt = optimal_stock(fc, underage_cost=3.0, overage_cost=1.0)
    >>> opt.level
    0.75
    >>> opt.stock.tolist()
    [16.25, 16.25]
    >>> opt.total_stock
    {'comonotone': 32.5}
    """
    tau = newsvendor_level(underage_cost, overage_cost)
    cu, co = float(underage_cost), float(overage_cost)
    if not 0.0 < tau < 1.0:
        raise ValueError(
            f"the critical ratio cu / (cu + co) = {tau} rounds to 0 or 1 in "
            f"float64 for underage_cost={cu!r}, overage_cost={co!r}"
        )
    if is_multivariate_sample(forecast):
        check_multivariate_dependence(dependence, "comonotone")
        return _multivariate_optimal_stock(forecast, tau, cu, co, lead_time, series)
    check_univariate_series(series)
    marg = marginals(forecast)
    L = check_lead_time(lead_time, marg.H)
    deps = check_dependence(dependence)

    labels = [str(p) for p in marg.index]
    stock = marg.quantile(tau)  # (H,)
    cost = marg.optimum_cost(tau, cu, co)  # (H,)
    total_stock: Dict[str, float] = {}
    total_cost: Dict[str, float] = {}
    approximate: List[str] = []
    if not marg.cost_exact:
        approximate.append("expected_cost")
    if "comonotone" in deps:
        total_stock["comonotone"] = float(stock[:L].sum())
        total_cost["comonotone"] = float(cost[:L].sum())
        if not marg.cost_exact:
            approximate.append("total_cost_comonotone")
    if "independent" in deps:
        hist = independent_sum(marg, L)
        s = float(hist.quantile(np.array([tau]))[0])
        total_stock["independent"] = s
        total_cost["independent"] = hist.expected_cost(s, cu, co)
        approximate += ["total_independent", "total_cost_independent"]
    if isinstance(marg, SampleMarginals):
        totals = marg.joint_totals(L)
        s = float(sample_quantile(totals, tau))
        total_stock["joint"] = s
        total_cost["joint"] = float(empirical_cost(totals, s, cu, co))
    return OptimalStock(
        level=tau,
        stock=pd.Series(stock, index=labels, name="stock"),
        expected_cost=pd.Series(cost, index=labels, name="expected_cost"),
        lead_time=L,
        total_stock=total_stock,
        total_expected_cost=total_cost,
        approximate=tuple(approximate),
    )


def _multivariate_optimal_stock(forecast, tau, cu, co, lead_time, series) -> OptimalStock:
    """:func:`optimal_stock` of a multivariate SampleForecast."""
    joint = JointSamples(forecast)
    L = check_lead_time(lead_time, joint.H)
    aggs = check_series(series, joint.dim)
    stock = joint.quantile(tau)  # (H, dim)
    cost = empirical_cost(joint.samples, stock, cu, co)  # (H, dim)
    index = pd.MultiIndex.from_product(
        [[str(k) for k in range(joint.dim)], [str(p) for p in joint.index]],
        names=["series", "step"],
    )
    total_stock: Dict[str, float] = {}
    total_cost: Dict[str, float] = {}
    for agg in aggs:
        tot = joint.totals(0, L, agg)
        s = float(sample_quantile(tot, tau))
        total_stock[f"joint:{agg.label}"] = s
        total_cost[f"joint:{agg.label}"] = float(empirical_cost(tot, s, cu, co))
    return OptimalStock(
        level=tau,
        stock=pd.Series(stock.T.reshape(-1), index=index, name="stock"),
        expected_cost=pd.Series(cost.T.reshape(-1), index=index, name="expected_cost"),
        lead_time=L,
        total_stock=total_stock,
        total_expected_cost=total_cost,
        approximate=(),
    )
