"""``QuantileFunctionForecast``: a GluonTS forecast that holds a whole
quantile function per forecast step and answers any level exactly, and
draws samples (inverse-cdf) only when asked for them."""

from collections import OrderedDict
from typing import Dict, Iterator, List, Optional, Sequence, Union

import numpy as np
import pandas as pd
import torch

from gluonts.core.component import validated
from gluonts.dataset.field_names import FieldName
from gluonts.itertools import select
from gluonts.model.forecast import Forecast, Quantile, QuantileForecast, SampleForecast
from gluonts.model.forecast_generator import (
    ForecastGenerator,
    make_distribution_forecast,
)
from gluonts.torch.model.forecast import DistributionForecast

from .distributions.iqf import IQF
from .distributions.iqf_output import QuantileFunctionForecastGenerator, check_num_samples  # noqa: F401 (public here too)

Level = Union[float, str]

#: Sample paths a :class:`QuantileFunctionForecast` holds in ``samples`` when
#: no count is given: the default of ``gluonts.shell``'s request
#: configuration (``ForecastConfig.num_samples``) and of GluonTS's
#: ``num_parallel_samples``.
DEFAULT_NUM_SAMPLES = 100


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
    num_samples : int, optional
        Rows of :attr:`samples` (default :data:`DEFAULT_NUM_SAMPLES`, 100).
        :class:`QuantileFunctionForecastGenerator` sets it to the
        ``num_samples`` passed to ``predictor.predict`` (as
        ``gluonts.shell``'s server passes the request's); GluonTS's
        ``DistributionForecastGenerator`` drops that argument, so forecasts
        it makes keep the default.
    seed : int, optional
        Seed of the uniforms behind :attr:`samples` and
        :meth:`to_sample_forecast`, see :meth:`draw_samples`.

    Every query is closed-form (no sampling): ``quantile(level)`` for any level
    in [0, 1] (float, or a GluonTS string such as ``"p95"`` / ``"0.95"``),
    ``quantiles(levels)``, ``mean``, ``median``, ``variance``, ``cdf(y)``.
    Quantiles are non-decreasing in the level by construction.

    Samples exist for consumers that need them (``gluonts.shell``'s
    ``"samples"`` output type reads ``forecast.samples``): :attr:`samples` is
    drawn on first access, never before, and never used by the exact
    queries above.
    """

    def __init__(
        self,
        distribution: IQF,
        start_date: pd.Period,
        item_id: Optional[str] = None,
        info: Optional[Dict] = None,
        num_samples: Optional[int] = None,
        seed: Optional[int] = None,
    ) -> None:
        if len(distribution.batch_shape) != 1:
            raise ValueError(
                "QuantileFunctionForecast needs a distribution with batch_shape "
                f"(prediction_length,), got {tuple(distribution.batch_shape)}"
            )
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise ValueError(f"seed must be an int or None, got {seed!r}")
        super().__init__(distribution, start_date=start_date, item_id=item_id, info=info)
        self._num_samples = DEFAULT_NUM_SAMPLES if num_samples is None else check_num_samples(num_samples)
        self.seed = None if seed is None else int(seed)
        self._samples: Optional[np.ndarray] = None

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

    def draw_samples(self, num_samples: int) -> np.ndarray:
        """Fresh inverse-cdf draws, shape (num_samples, prediction_length).

        Each value is ``q_t(U)``, the IQF's exact quantile function of step
        ``t`` at a uniform level ``U`` (``IQF.sample``: levels clamped into
        the open interval (0, 1)); all ``num_samples x prediction_length``
        levels are independent, so the draws follow each step's marginal and
        carry no dependence across steps (an IQF has none to give).

        Seeding: with ``seed=None`` the uniforms come from torch's global
        generator, as every GluonTS sampler's do, so ``torch.manual_seed(s)``
        before drawing (or before predicting, when forecasts are read in
        order) reproduces them. With an int ``seed`` they come from torch's
        CPU generator (and the distribution's CUDA device's) seeded with it
        inside ``torch.random.fork_rng``: the same ``(seed, num_samples)``
        always gives the same array, and the global generator is left
        untouched. Give different series different seeds, or their draws
        share the same levels.
        """
        num_samples = check_num_samples(num_samples)
        with torch.no_grad():
            if self.seed is None:
                samples = self.distribution.sample((num_samples,))
            else:
                device = self.distribution.knot_levels.device
                cuda = device.type == "cuda"
                with torch.random.fork_rng(devices=[device] if cuda else []):
                    torch.random.default_generator.manual_seed(self.seed)
                    if cuda:
                        with torch.cuda.device(device):
                            torch.cuda.manual_seed(self.seed)
                    samples = self.distribution.sample((num_samples,))
        return samples.cpu().numpy()

    @property
    def num_samples(self) -> int:
        """Rows of :attr:`samples`; setting a different count discards the
        samples drawn so far (the next access draws anew)."""
        return self._num_samples

    @num_samples.setter
    def num_samples(self, value: int) -> None:
        value = check_num_samples(value)
        if value != self._num_samples:
            self._samples = None
        self._num_samples = value

    @property
    def samples(self) -> np.ndarray:
        """Sample paths, shape (num_samples, prediction_length): drawn by
        :meth:`draw_samples` on first access, then kept, so every reader
        (``gluonts.shell``'s ``"samples"`` output, repeated accesses) sees
        the same array. Mean and quantiles never use them."""
        if self._samples is None:
            self._samples = self.draw_samples(self._num_samples)
        return self._samples

    def to_sample_forecast(self, num_samples: int = 200) -> SampleForecast:
        """GluonTS ``SampleForecast`` of ``num_samples`` fresh draws per step
        from :meth:`draw_samples` (marginals only: IQF carries no dependence
        across steps; with a ``seed``, ``to_sample_forecast(n)`` holds the
        same array as ``samples`` when ``n == num_samples``)."""
        return SampleForecast(
            samples=self.draw_samples(num_samples),
            start_date=self.start_date,
            item_id=self.item_id,
            info=self.info,
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


#: ``SampleForecast.__init__`` without GluonTS's ``@validated`` wrapper (which
#: builds a pydantic model of the arguments: ~10 us per forecast, a tenth of
#: the whole prediction time of a small model). None if GluonTS changes it.
_SAMPLE_FORECAST_INIT = getattr(SampleForecast.__init__, "__wrapped__", None)


def sample_forecast(
    samples: np.ndarray,
    start_date: pd.Period,
    item_id: Optional[str] = None,
    info: Optional[Dict] = None,
) -> SampleForecast:
    """A GluonTS ``SampleForecast`` equal to ``SampleForecast(samples,
    start_date, item_id, info)``, built without re-validating arguments
    that already have the validated types (array of 2 or 3 dims, ``Period``,
    ``str``/None, ``dict``/None; pydantic would pass them through
    unchanged, and turns an ``int`` item id into its ``str``, as done here);
    anything else takes GluonTS's validated constructor, as
    does the first forecast of the process (which installs the class's
    ``__repr__``/pickling hooks). ``__init_args__`` is set as
    ``@validated`` sets it, so repr, pickling and serde behave the same."""
    if type(item_id) is int:  # pydantic's str coercion of the Optional[str] field
        item_id = str(item_id)
    fast = (
        _SAMPLE_FORECAST_INIT is not None
        and "__getnewargs_ex__" in SampleForecast.__dict__
        and isinstance(samples, np.ndarray)
        and samples.ndim in (2, 3)
        and isinstance(start_date, pd.Period)
        and (item_id is None or type(item_id) is str)
        and (info is None or type(info) is dict)
    )
    if not fast:
        return SampleForecast(samples, start_date=start_date, item_id=item_id, info=info)
    forecast = SampleForecast.__new__(SampleForecast)
    forecast.__init_args__ = OrderedDict(
        [("info", info), ("item_id", item_id), ("samples", samples), ("start_date", start_date)]
    )
    _SAMPLE_FORECAST_INIT(forecast, samples=samples, start_date=start_date, item_id=item_id, info=info)
    return forecast


class JointSampleForecastGenerator(ForecastGenerator):
    """Forecast generator of joint sample paths (the MQF² predictor's).

    Like GluonTS's ``SampleForecastGenerator`` but asks the network for all
    ``num_samples`` paths in one call (``prediction_net(**inputs,
    num_samples=n)``, returning (B, n, H) or (B, n, H, dim)) instead of
    looping over calls of ``num_parallel_samples`` each, and builds the
    ``SampleForecast`` objects with :func:`sample_forecast`."""

    @validated()
    def __init__(self) -> None:
        pass

    def __call__(
        self,
        inference_data_loader,
        prediction_net,
        input_names: List[str],
        output_transform=None,
        num_samples: Optional[int] = None,
        **kwargs,
    ) -> Iterator[Forecast]:
        for batch in inference_data_loader:
            inputs = select(input_names, batch, ignore_missing=True)
            outputs = prediction_net(**inputs, num_samples=num_samples)
            outputs = outputs.cpu().numpy() if isinstance(outputs, torch.Tensor) else np.asarray(outputs)
            if output_transform is not None:  # on numpy outputs, as in GluonTS's generators
                outputs = output_transform(batch, outputs)
            starts = batch[FieldName.FORECAST_START]
            if len(outputs) != len(starts):
                raise RuntimeError(
                    f"the network returned {len(outputs)} forecasts for a batch of {len(starts)} series"
                )
            item_ids = batch.get(FieldName.ITEM_ID)
            infos = batch.get("info")
            for i, paths in enumerate(outputs):
                yield sample_forecast(
                    paths,
                    start_date=starts[i],
                    item_id=None if item_ids is None else item_ids[i],
                    info=None if infos is None else infos[i],
                )
