"""Forecast tables batch by batch: a saved GluonTS ``PyTorchPredictor`` run
over batches of series, each batch turned into one long table in the
layout of ``gluonts-iqf forecast`` with array operations over the batch.

The per-series way (``predictor.predict`` yielding one forecast object per
series, then one DataFrame, one ``to_timestamp`` and one quantile/mean
evaluation per series) spends most of its time in per-series Python. Here
IQF forecasts never become per-series objects: the network's output for a
batch of B series is one batched ``IQF`` (batch_shape (B, H)) whose
quantiles at all L levels come from one ``icdf`` call, shape (L, B, H), and
whose means from one ``mean``; sample forecasts (MQF², DeepAR) are stacked
to (B, S, H) and read off the sorted samples as GluonTS reads them. The
table has the same columns, row order and values as the per-series
``gluonts_iqf.cli.forecast.forecast_frame``.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence

import numpy as np
import pandas as pd
import torch

from ..distributions.iqf import IQF
from ..distributions.iqf_output import IQFOutput
from ..metrics import forecast_quantiles

#: Fields the predictor passes from the input entries to the forecasts.
_PASSED_FIELDS = ["forecast_start", "item_id", "info"]


def level_name(level: float) -> str:
    """Column name of a quantile level: ``"0.05"``, ``"0.5"``, ... (at most
    6 significant digits for long decimals)."""
    return repr(float(level)) if len(repr(float(level))) < 12 else f"{level:.6g}"


def table_columns(levels: Sequence[float]) -> List[str]:
    """Columns of a forecast table: ``item_id``, ``timestamp``, ``step``,
    ``mean`` and one per level (:func:`level_name`)."""
    return ["item_id", "timestamp", "step", "mean"] + [level_name(a) for a in levels]


def forecast_tables(
    predictor, entries: Iterable[Dict[str, Any]], levels: Sequence[float], batch_size: Optional[int] = None,
) -> Iterator[pd.DataFrame]:
    """Forecast tables of ``entries``, one per batch of series.

    Parameters
    ----------
    predictor
        A GluonTS ``PyTorchPredictor`` (``input_transform``,
        ``prediction_net``, ``forecast_generator``, ``batch_size``).
    entries
        Series as GluonTS entries (``start``, ``target``, ``item_id``, ...).
    levels
        Quantile levels in (0, 1), sorted (one column each).
    batch_size
        Series per network call; default the predictor's.

    Yields
    ------
    pandas.DataFrame
        B * H rows per batch of B series, series in input order, steps 1..H
        within each: ``item_id`` (str; the running series number when an
        entry has none), ``timestamp`` (start of the forecast period),
        ``step``, ``mean``, one float64 column per level (non-decreasing
        along a row). Concatenated, the tables equal ``forecast_frame`` of
        ``predictor.predict(entries)``.

    How each batch is evaluated depends on the predictor's forecast
    generator: a ``DistributionForecastGenerator`` whose distribution is an
    :class:`~gluonts_iqf.distributions.iqf.IQF` -> one batched ``icdf`` and
    ``mean``; any other generator -> its forecasts for the batch, stacked
    into (B, S, H) when they are sample forecasts, else read one by one
    (``metrics.forecast_quantiles``); the table is built per batch either
    way.
    """
    from gluonts.dataset.loader import InferenceDataLoader
    from gluonts.itertools import select
    from gluonts.torch.batchify import batchify
    from gluonts.transform import SelectFields

    levels = [float(a) for a in levels]
    loader = InferenceDataLoader(
        entries,
        transform=predictor.input_transform
        + SelectFields(predictor.input_names + _PASSED_FIELDS, allow_missing=True),
        batch_size=batch_size or predictor.batch_size,
        stack_fn=lambda data: batchify(data, predictor.device),
    )
    net = predictor.prediction_net
    net.eval()
    generator = predictor.forecast_generator
    distr_output = getattr(generator, "distr_output", None)
    batched_iqf = isinstance(distr_output, IQFOutput)
    u = torch.tensor(levels, dtype=torch.float64).reshape(-1, 1, 1)
    done = 0
    with torch.no_grad():
        for batch in loader:
            starts = list(batch["forecast_start"])
            if batched_iqf:
                outputs = net(**select(predictor.input_names, batch, ignore_missing=True))
                distr = distr_output.distribution(*outputs)
                if not isinstance(distr, IQF):  # a subclass built something else
                    raise TypeError(f"expected an IQF from {type(distr_output).__name__}, got {type(distr).__name__}")
                quantiles = distr.icdf(u).cpu().numpy().astype(np.float64, copy=False)  # (L, B, H)
                mean = distr.mean.cpu().numpy().astype(np.float64)  # (B, H)
            else:
                forecasts = list(generator(
                    inference_data_loader=[batch], prediction_net=net, input_names=predictor.input_names,
                    output_transform=predictor.output_transform, num_samples=None,
                ))
                quantiles, mean = _forecast_arrays(forecasts, levels)
            items = batch.get("item_id")
            names = [str(done + k) if items is None or items[k] is None else str(items[k]) for k in range(len(starts))]
            yield _table(names, starts, np.maximum.accumulate(quantiles, axis=0), mean, levels)
            done += len(starts)


def _forecast_arrays(forecasts: List[Any], levels: Sequence[float]):
    """Quantiles (L, B, H) and means (B, H), float64, of B GluonTS
    forecasts: from the stacked samples (as ``SampleForecast.quantile``
    reads them: the sample of rank ``round((S - 1) * level)``) when all are
    univariate sample forecasts with as many samples, else one by one."""
    from gluonts.model.forecast import SampleForecast

    if forecasts and all(type(f) is SampleForecast and f.samples.ndim == 2 for f in forecasts) \
            and len({f.samples.shape for f in forecasts}) == 1:
        samples = np.stack([f.samples for f in forecasts])  # (B, S, H)
        S = samples.shape[1]
        ranks = [int(np.round((S - 1) * a)) for a in levels]
        ordered = np.sort(samples, axis=1)
        quantiles = np.moveaxis(ordered[:, ranks, :], 1, 0).astype(np.float64)
        mean = np.mean(samples, axis=1).astype(np.float64)
        return quantiles, mean
    quantiles = np.stack([forecast_quantiles(f, levels) for f in forecasts], axis=1)
    mean = np.stack([np.asarray(f.mean, dtype=np.float64) for f in forecasts])
    return quantiles.astype(np.float64, copy=False), mean


def forecast_timestamps(starts: Sequence[pd.Period], horizon: int) -> pd.DatetimeIndex:
    """Start timestamps of ``horizon`` periods from each start, shape
    (B * horizon,), series after series: ``pd.period_range(start,
    periods=horizon).to_timestamp()`` for the whole batch at once (one
    conversion per distinct frequency)."""
    freqs = [p.freqstr for p in starts]
    if len(set(freqs)) > 1:  # rare: series of several frequencies
        return pd.DatetimeIndex(np.concatenate([
            np.asarray(pd.period_range(p, periods=horizon).to_timestamp()) for p in starts
        ]))
    first = starts[0]
    offsets = pd.period_range(first, periods=horizon).asi8 - first.ordinal  # (H,)
    ordinals = np.fromiter((p.ordinal for p in starts), dtype=np.int64, count=len(starts))
    periods = pd.PeriodIndex(
        pd.arrays.PeriodArray((ordinals[:, None] + offsets[None, :]).ravel(), dtype=pd.PeriodDtype(first.freq))
    )
    return periods.to_timestamp()


def _table(names: List[str], starts: List[pd.Period], quantiles: np.ndarray, mean: np.ndarray,
           levels: Sequence[float]) -> pd.DataFrame:
    """One batch's table from quantiles (L, B, H) and means (B, H)."""
    B, H = mean.shape
    data: Dict[str, Any] = {
        "item_id": np.repeat(np.asarray(names, dtype=object), H),
        "timestamp": forecast_timestamps(starts, H),
        "step": np.tile(np.arange(1, H + 1), B),
        "mean": mean.reshape(-1),
    }
    for j, a in enumerate(levels):
        data[level_name(a)] = quantiles[j].reshape(-1)
    return pd.DataFrame(data)
