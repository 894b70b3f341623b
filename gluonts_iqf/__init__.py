"""gluonts-iqf: crossing-free quantile-function forecasting for GluonTS."""

from .distributions import IQF, IQFOutput
from .forecast import QuantileFunctionForecast
from .model import MQCNNEstimator

__version__ = "0.1.0"

__all__ = [
    "IQF",
    "IQFOutput",
    "MQCNNEstimator",
    "QuantileFunctionForecast",
    "__version__",
]
