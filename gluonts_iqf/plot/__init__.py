"""Plots for probabilistic forecasts: fan chart, quantile function,
calibration (PIT histogram + coverage) and cross-horizon correlation.

Every plotting function draws into the ``ax`` (or ``fig``) it is given, or
into a new figure, and returns the matplotlib ``Figure``; nothing is ever
shown. With ``path="name.png"`` the figure is saved as PNG at
:data:`DPI` dots per inch and then closed; the file is written to a temporary
name first and renamed, so a failure leaves no partial file behind. All input
checks run before anything is drawn or written, and bad input raises
``ValueError`` naming the problem.

Forecasts may be :class:`~gluonts_iqf.forecast.QuantileFunctionForecast`
(exact quantiles and CDF), GluonTS ``SampleForecast`` (samples of shape
``(num_samples, prediction_length)``) or GluonTS ``QuantileForecast`` (and
any univariate GluonTS forecast with ``quantile(level)``).

The numbers behind the calibration and correlation plots are public pure
functions: :func:`pit_values`, :func:`coverage_curve` (both from
:mod:`gluonts_iqf.metrics`), :func:`sample_correlation`.

Modules: :mod:`.figure` (shared figure helpers, :data:`DPI`), :mod:`.fan`
(:func:`fan_chart`), :mod:`.quantile_plot` (:func:`quantile_function`,
:data:`QUANTILE_GRID`), :mod:`.calibration_plot` (:func:`calibration`),
:mod:`.correlation` (:func:`sample_correlation`,
:func:`correlation_matrix`).
"""

from ..metrics import coverage_curve, pit_values
from .calibration_plot import calibration
from .correlation import correlation_matrix, sample_correlation
from .fan import HistoryLike as HistoryLike  # type of fan_chart's ``history``
from .fan import fan_chart
from .figure import DPI
from .quantile_plot import QUANTILE_GRID, quantile_function

__all__ = [
    "DPI",
    "QUANTILE_GRID",
    "fan_chart",
    "quantile_function",
    "calibration",
    "correlation_matrix",
    "pit_values",
    "coverage_curve",
    "sample_correlation",
]
