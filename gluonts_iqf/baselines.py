"""The statistical baselines a forecaster tries first, as GluonTS forecasts:
statsforecast's ``SeasonalNaive``, ``AutoETS``, ``AutoTheta`` and
``AutoCES`` (quantiles from their Gaussian prediction intervals, the point
forecast as median) and ``stat_ensemble``, the level-wise average of the
last three's quantiles.

One implementation for the accuracy benchmark (``benchmarks/``) and for
``gluonts-iqf backtest --baselines``. statsforecast is an optional
dependency (the ``bench`` extra): :func:`require_statsforecast` says how to
install it.
"""

from __future__ import annotations

import time
import warnings
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

#: Baselines by name; ``stat_ensemble`` averages :data:`ENSEMBLE_MEMBERS`.
BASELINES: Tuple[str, ...] = ("seasonal_naive", "auto_ets", "auto_theta", "auto_ces", "stat_ensemble")
ENSEMBLE_MEMBERS: Tuple[str, ...] = ("auto_ets", "auto_theta", "auto_ces")
#: Quantile levels of the baselines' forecasts: 0.05, 0.10, ..., 0.95.
GRID: Tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(1, 20))
#: statsforecast's ``level=`` (central interval widths, percent) giving :data:`GRID`.
INTERVALS: Tuple[int, ...] = tuple(range(10, 100, 10))
#: Season lengths by the frequency's unit (GluonTS's normalised name), as
#: statsforecast's documentation uses them (weekly data: a year of 52
#: weeks); any other unit (minutes, seconds...): 1.
SEASON_BY_UNIT = {"h": 24, "D": 7, "B": 5, "W": 52, "ME": 12, "QE": 4, "YE": 1}


class Fitted(NamedTuple):
    """One baseline's forecasts of a set of series (:func:`baseline_quantiles`)."""

    #: (n, len(GRID), H)
    quantiles: np.ndarray
    #: series refitted with season 1
    refits: int
    #: fit-and-forecast wall time (``stat_ensemble``: its members' together)
    seconds: float


def require_statsforecast() -> None:
    """Raise :class:`ImportError` with the install command when statsforecast
    is missing."""
    try:
        import statsforecast  # noqa: F401
    except ImportError:
        raise ImportError(
            "the statistical baselines need statsforecast: pip install 'gluonts-iqf[bench]'"
        ) from None


def check_baselines(names: Sequence[str]) -> List[str]:
    """``names`` without repeats, in order; :class:`ValueError` naming an
    unknown one."""
    out: List[str] = []
    for name in names:
        if name not in BASELINES:
            raise ValueError(f"unknown baseline {name!r}; choose from {', '.join(BASELINES)}")
        if name not in out:
            out.append(name)
    return out


def season_length(freq: str) -> int:
    """The baselines' season for a pandas frequency string (``"h"``,
    ``"1H"``, ``"W-SUN"``, ``"MS"``, ``"QE-DEC"``...): by its unit,
    :data:`SEASON_BY_UNIT`, 1 for others (minutes, seconds...)."""
    from gluonts.time_feature import norm_freq_str
    from pandas.tseries.frequencies import to_offset

    with warnings.catch_warnings():  # pandas' deprecated aliases ("H", "A-DEC") still parse
        warnings.simplefilter("ignore")
        unit = norm_freq_str(to_offset(str(freq)).name)
    return SEASON_BY_UNIT.get(unit, 1)


def _model(name: str, season: int):
    from statsforecast.models import AutoCES, AutoETS, AutoTheta, SeasonalNaive

    return {
        "seasonal_naive": lambda: SeasonalNaive(season_length=season),
        "auto_ets": lambda: AutoETS(season_length=season),
        "auto_theta": lambda: AutoTheta(season_length=season),
        "auto_ces": lambda: AutoCES(season_length=season),
    }[name]()


def _forecast_frame(name: str, season: int, df, H: int) -> np.ndarray:
    """statsforecast's quantiles (n, len(GRID), H) of every series of the long
    frame ``df`` (``unique_id``, ``ds``, ``y``), NaN where the model gives
    none."""
    from statsforecast import StatsForecast
    from statsforecast.models import Naive

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = StatsForecast(models=[_model(name, season)], freq=1, n_jobs=1,
                            fallback_model=Naive()).forecast(df=df, h=H, level=list(INTERVALS))
    out = out.sort_values(["unique_id", "ds"])
    col = [c for c in out.columns if c not in ("unique_id", "ds") and "-lo-" not in c and "-hi-" not in c][0]
    cols = [f"{col}-lo-{w}" for w in reversed(INTERVALS)] + [col] + [f"{col}-hi-{w}" for w in INTERVALS]
    n = out["unique_id"].nunique()
    q = out[cols].to_numpy().reshape(n, H, len(GRID)).transpose(0, 2, 1)
    return np.sort(q, axis=1)  # the intervals are symmetric; sorting guards rounding


def long_frame(targets: Sequence[np.ndarray]):
    """The long frame statsforecast takes: one row per value, ``unique_id``
    the series' position; missing values interpolated (statsforecast takes
    no NaN; a series with none observed is an error)."""
    import pandas as pd

    frames = []
    for i, y in enumerate(targets):
        y = np.asarray(y, dtype=np.float64)
        if not np.isfinite(y).any():
            raise ValueError(f"series {i}: no observed value to fit a baseline on")
        y = pd.Series(y).interpolate(limit_direction="both").to_numpy()
        frames.append(pd.DataFrame({"unique_id": i, "ds": np.arange(len(y)), "y": y}))
    return pd.concat(frames, ignore_index=True)


def baseline_quantiles(name: str, targets: Sequence[np.ndarray], H: int, season: int,
                       fitted: Optional[Dict[str, Fitted]] = None) -> Tuple[np.ndarray, int]:
    """Quantiles (n, len(GRID), H) of baseline ``name`` fitted on each series
    of ``targets`` (the values before the forecast), and how many series
    were refitted with season 1 because the seasonal model gave no forecast
    (too short for it), as a forecaster would. ``stat_ensemble``: the mean
    of its members' quantiles (each refitted alike).

    ``fitted``: a dict shared by the calls on the same ``targets``, ``H`` and
    ``season``, which keeps each model's :class:`Fitted`: a model is fitted
    once, and ``stat_ensemble`` uses members fitted before it (and they it).
    """
    require_statsforecast()
    check_baselines([name])
    if fitted is not None and name in fitted:
        return fitted[name].quantiles, fitted[name].refits
    t0 = time.perf_counter()
    if name == "stat_ensemble":
        shared = {} if fitted is None else fitted
        parts = [baseline_quantiles(m, targets, H, season, shared) for m in ENSEMBLE_MEMBERS]
        q = np.mean([p for p, _ in parts], axis=0)
        refits = max(r for _, r in parts)
        seconds = sum(shared[m].seconds for m in ENSEMBLE_MEMBERS)
    else:
        df = long_frame(targets)
        q = _forecast_frame(name, season, df, H)
        bad = np.flatnonzero(~np.isfinite(q).all(axis=(1, 2)))
        if len(bad) and season > 1:
            q[bad] = _forecast_frame(name, 1, df[df["unique_id"].isin(bad)], H)
        if not np.isfinite(q).all():
            raise RuntimeError(f"{name}: non-finite forecasts for {int((~np.isfinite(q).all(axis=(1, 2))).sum())} series")
        refits = len(bad)
        seconds = time.perf_counter() - t0
    if fitted is not None:
        fitted[name] = Fitted(q, refits, seconds)
    return q, refits


def quantile_forecasts(q: np.ndarray, inputs) -> list:
    """GluonTS ``QuantileForecast`` objects of quantiles ``q`` (n,
    len(GRID), H) for the entries ``inputs`` (each starts after its
    entry's last value)."""
    from gluonts.model.forecast import QuantileForecast

    keys = [str(level) for level in GRID]
    return [
        QuantileForecast(forecast_arrays=q[i], start_date=e["start"] + len(e["target"]),
                         forecast_keys=keys, item_id=e.get("item_id"))
        for i, e in enumerate(inputs)
    ]
