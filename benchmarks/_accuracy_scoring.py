"""How the accuracy benchmark scores a set of forecasts: GluonTS's
``Evaluator`` for wQL, MASE, sMAPE and coverage, the coverage error over
the GRID levels and the crossing rate, and the per-series parts from which
the bootstrap rebuilds every metric on a resample of the series."""

import warnings
from typing import Any, Dict, List, Tuple

import numpy as np

from gluonts_iqf.baselines import GRID

#: Levels of the mean weighted quantile loss (GluonTS's ``mean_wQuantileLoss``).
EVAL_LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def mean_defined_mase(per_series: np.ndarray) -> Tuple[float, int]:
    """Mean MASE over the series where it is defined, and how many it is not
    defined for: a history without any change over a season has a zero
    seasonal error, and GluonTS's per-series MASE is infinite (or NaN) there,
    which would make its mean infinite for every model alike (short yearly
    series on the third validation window)."""
    ok = np.isfinite(per_series)
    return (float(per_series[ok].mean()) if ok.any() else float("nan")), int((~ok).sum())


def series_parts(items, forecasts, truth) -> Dict[str, list]:
    """Per-series parts from which every metric of :func:`score` is rebuilt
    on any subset or resample of the series (``accuracy_bootstrap.py``):
    ``ql`` the mean over EVAL_LEVELS of each series' quantile loss, ``abs``
    its absolute target sum (wQL = sum ql / sum abs), ``mase`` and ``smape``
    (the metrics' means over series), ``hits`` its observed values at or
    below each GRID quantile and ``observed`` its observed values (coverage =
    sum hits / sum observed). ``items`` is the Evaluator's per-series frame."""
    from gluonts_iqf.metrics import coverage_curve

    ql = np.mean([items[f"QuantileLoss[{q}]"].to_numpy(dtype=float) for q in EVAL_LEVELS], axis=0)
    observed = [int(np.isfinite(y).sum()) for y in truth]
    hits = [np.rint(coverage_curve([f], [y], list(GRID)) * n).astype(int).tolist() if n else [0] * len(GRID)
            for f, y, n in zip(forecasts, truth, observed)]
    return {"ql": _digits9(ql), "abs": _digits9(items["abs_target_sum"]), "mase": _digits9(items["MASE"]),
            "smape": _digits9(items["sMAPE"]), "hits": hits, "observed": observed}


def _digits9(x) -> List[float]:
    """Values to 9 significant digits: relative rounding 5e-9, about half
    the text of full precision."""
    return [float(f"{v:.9g}") for v in np.asarray(x, dtype=float)]


def score(forecasts, inputs, truth, freq: str, parts: bool = False) -> Dict[str, Any]:
    """The metrics of a set of forecasts (with ``parts``, also the
    per-series parts of :func:`series_parts` under ``"series"``)."""
    import pandas as pd
    from gluonts.env import env
    from gluonts.evaluation import Evaluator

    from gluonts_iqf.metrics import coverage_curve, crossing_rate

    tss = []
    for e, y in zip(inputs, truth):
        full = np.concatenate([np.asarray(e["target"], dtype=float), y])
        idx = pd.period_range(start=e["start"], periods=len(full), freq=e["start"].freq)
        tss.append(pd.DataFrame(full, index=idx))
    with env._let(use_tqdm=False), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        agg, items = Evaluator(quantiles=list(EVAL_LEVELS), num_workers=0)(
            iter(tss), iter(forecasts), num_series=len(forecasts))
    curve = coverage_curve(forecasts, truth, list(GRID))
    mase = mean_defined_mase(items["MASE"].to_numpy(dtype=float))
    out = {
        "mean_wQuantileLoss": float(agg["mean_wQuantileLoss"]),
        "MASE": mase[0],
        "MASE_undefined": mase[1],
        "sMAPE": float(agg["sMAPE"]),
        "ND": float(agg["ND"]),
        "Coverage[0.1]": float(agg["Coverage[0.1]"]),
        "Coverage[0.5]": float(agg["Coverage[0.5]"]),
        "Coverage[0.9]": float(agg["Coverage[0.9]"]),
        "coverage_error": float(np.mean(np.abs(curve - np.asarray(GRID)))),
        "crossing_rate": float(crossing_rate(forecasts, GRID)),
    }
    if parts:
        out["series"] = series_parts(items, forecasts, truth)
    return out
