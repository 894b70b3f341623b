"""gluonts-iqf: crossing-free quantile-function forecasting for GluonTS."""

from .distributions import ConvexQuantileMap, ConvexQuantileOutput, IQF, IQFOutput
from .forecast import QuantileFunctionForecast
from .model import MQCNNEstimator, MQF2Estimator
from .nn import PICNN

__version__ = "0.1.0"

__all__ = [
    "ConvexQuantileMap",
    "ConvexQuantileOutput",
    "IQF",
    "IQFOutput",
    "MQCNNEstimator",
    "MQF2Estimator",
    "PICNN",
    "QuantileFunctionForecast",
    "__version__",
]
