"""``QuantileFunctionForecast``: a GluonTS forecast that holds a whole
quantile function per forecast step and answers any level exactly."""

from typing import Dict, Optional, Sequence, Union

import numpy as np
import pandas as pd
import torch

from gluonts.model.forecast import Quantile, QuantileForecast, SampleForecast
from gluonts.model.forecast_generator import make_distribution_forecast
from gluonts.torch.model.forecast import DistributionForecast

from .distributions.iqf import IQF

Level = Union[float, str]


class QuantileFunctionForecast(DistributionForecast):
    """Forecast of ``prediction_length`` steps, each an exact quantile function.

    Parameters
    ----------
    distribution : IQF, batch_shape (prediction_length,)
        The per-step quantile functions.
    start_date : pandas.Period
        First forecast step.
    item_id, info
        As in GluonTS's ``Forecast``.

    Every query is closed-form (no sampling): ``quantile(level)`` for any level
    in [0, 1] (float, or a GluonTS string such as ``"p95"`` / ``"0.95"``),
    ``quantiles(levels)``, ``mean``, ``median``, ``variance``, ``cdf(y)``.
    Quantiles are non-decreasing in the level by construction.
    """

    def __init__(
        self,
        distribution: IQF,
        start_date: pd.Period,
        item_id: Optional[str] = None,
        info: Optional[Dict] = None,
    ) -> None:
        if len(distribution.batch_shape) != 1:
            raise ValueError(
                "QuantileFunctionForecast needs a distribution with batch_shape "
                f"(prediction_length,), got {tuple(distribution.batch_shape)}"
            )
        super().__init__(distribution, start_date=start_date, item_id=item_id, info=info)

    @staticmethod
    def _level(level: Level) -> float:
        value = Quantile.parse(level).value
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"quantile level must lie in [0, 1], got {level!r}")
        return value

    def quantile(self, level: Level) -> np.ndarray:
        """Exact quantile at one level, shape (prediction_length,)."""
        with torch.no_grad():
            return self.distribution.icdf(self._level(level)).cpu().numpy()

    def quantiles(self, levels: Sequence[Level]) -> np.ndarray:
        """Exact quantiles at several levels, shape (len(levels),
        prediction_length), computed in one call."""
        u = torch.tensor([self._level(a) for a in levels], dtype=torch.float64)
        with torch.no_grad():
            return self.distribution.icdf(u.reshape(-1, 1)).cpu().numpy()

    @property
    def mean(self) -> np.ndarray:
        """Exact mean, shape (prediction_length,)."""
        if self._mean is None:
            with torch.no_grad():
                self._mean = self.distribution.mean.cpu().numpy()
        return self._mean

    @property
    def variance(self) -> np.ndarray:
        """Exact variance, shape (prediction_length,)."""
        with torch.no_grad():
            return self.distribution.variance.cpu().numpy()

    def cdf(self, y) -> np.ndarray:
        """``P(Y_t <= y_t)``; ``y`` of shape (prediction_length,) or
        (n, prediction_length) (or a scalar), same shape back."""
        with torch.no_grad():
            return self.distribution.cdf(torch.as_tensor(np.asarray(y))).cpu().numpy()

    def crps(self, y) -> np.ndarray:
        """Closed-form CRPS of observations ``y``, shape as :meth:`cdf`."""
        with torch.no_grad():
            return self.distribution.crps(torch.as_tensor(np.asarray(y))).cpu().numpy()

    def to_quantile_forecast(self, levels: Sequence[Level]) -> QuantileForecast:
        """GluonTS ``QuantileForecast`` at ``levels`` (keys as strings)."""
        keys = [str(self._level(a)) for a in levels]
        return QuantileForecast(
            forecast_arrays=self.quantiles(levels),
            start_date=self.start_date,
            forecast_keys=keys,
            item_id=self.item_id,
            info=self.info,
        )

    def to_sample_forecast(self, num_samples: int = 200) -> SampleForecast:
        """GluonTS ``SampleForecast`` with ``num_samples`` independent draws
        per step (marginals only: IQF carries no dependence across steps)."""
        with torch.no_grad():
            samples = self.distribution.sample((num_samples,)).cpu().numpy()
        return SampleForecast(
            samples=samples, start_date=self.start_date, item_id=self.item_id, info=self.info
        )

    def dim(self) -> int:
        return 1

    def copy_dim(self, dim: int) -> "QuantileFunctionForecast":
        if dim != 0:
            raise ValueError(f"univariate forecast has only dim 0, got {dim}")
        return self

    def __repr__(self) -> str:
        return (
            f"QuantileFunctionForecast(item_id={self.item_id!r}, start_date="
            f"{self.start_date}, prediction_length={self.prediction_length}, "
            f"distribution={self.distribution!r})"
        )


@make_distribution_forecast.register(IQF)
def _make_quantile_function_forecast(distr: IQF, *args, **kwargs) -> QuantileFunctionForecast:
    """GluonTS's ``DistributionForecastGenerator`` dispatches here, so every
    GluonTS estimator whose predictor uses ``distr_output.forecast_generator``
    returns :class:`QuantileFunctionForecast` with ``IQFOutput``."""
    return QuantileFunctionForecast(distr, *args, **kwargs)
