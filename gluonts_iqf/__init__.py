"""gluonts-iqf: crossing-free quantile-function forecasting for GluonTS."""

from .distributions import IQF, IQFOutput
from .forecast import QuantileFunctionForecast

__version__ = "0.1.0"

__all__ = ["IQF", "IQFOutput", "QuantileFunctionForecast", "__version__"]
