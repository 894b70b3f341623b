"""Argument checks of the decision functions: lead time, dependence, costs,
step windows and the aggregates of series of a multivariate forecast.

Each check returns the normalised value or raises ``ValueError`` naming the
argument and the problem. Service levels are checked by
:func:`gluonts_iqf.levels.check_levels`.
"""

from dataclasses import dataclass
from numbers import Integral, Real
from typing import Dict, List, Optional, Tuple

import numpy as np
from gluonts.model.forecast import SampleForecast

#: Accepted values of ``dependence``; ``"both"`` means the first two.
DEPENDENCES = ("comonotone", "independent", "both")

#: Label of the aggregate over all series of a multivariate forecast.
ALL_SERIES = "sum"


def _is_integer(value) -> bool:
    """An int or numpy integer, not a boolean."""
    return isinstance(value, Integral) and not isinstance(value, (bool, np.bool_))


def check_lead_time(lead_time: Optional[int], horizon: int) -> int:
    """Steps summed into the totals, ``1..horizon``; ``None`` means
    ``horizon``."""
    if lead_time is None:
        return horizon
    if not _is_integer(lead_time):
        raise ValueError(f"lead_time must be an integer number of steps, got {lead_time!r}")
    if not 1 <= int(lead_time) <= horizon:
        raise ValueError(
            f"lead_time must lie in 1..prediction_length = 1..{horizon}, got {lead_time}"
        )
    return int(lead_time)


def check_dependence(dependence: str) -> Tuple[str, ...]:
    """The totals asked for: ``("comonotone",)``, ``("independent",)`` or
    both for ``"both"``."""
    if dependence not in DEPENDENCES:
        raise ValueError(f"dependence must be one of {DEPENDENCES}, got {dependence!r}")
    if dependence == "both":
        return ("comonotone", "independent")
    return (dependence,)


def check_cost(name: str, value) -> float:
    """A positive finite real cost (booleans rejected), as a float."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    value = float(value)
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return value


def check_window(start, stop, horizon: int) -> Tuple[int, int]:
    """The step window ``[start, stop)`` of a horizon of ``horizon`` steps as
    ints; ``stop=None`` means ``horizon``."""
    stop = horizon if stop is None else stop
    for name, value in (("start", start), ("stop", stop)):
        if not _is_integer(value):
            raise ValueError(f"{name} must be an integer step index, got {value!r}")
    start, stop = int(start), int(stop)
    if not 0 <= start < stop <= horizon:
        raise ValueError(
            f"the window [start, stop) = [{start}, {stop}) must satisfy "
            f"0 <= start < stop <= prediction_length = {horizon} (a non-empty "
            "range of steps, stop exclusive)"
        )
    return start, stop


def is_multivariate_sample(forecast) -> bool:
    """A ``SampleForecast`` with samples (n, H, dim)."""
    return isinstance(forecast, SampleForecast) and np.ndim(forecast.samples) == 3


def check_multivariate_dependence(dependence: str, default: str) -> None:
    """A multivariate ``SampleForecast`` has joint totals only, so
    ``dependence`` must stay at the function's ``default`` (then ignored)."""
    check_dependence(dependence)  # unknown names first
    if dependence != default:
        raise ValueError(
            "for a multivariate SampleForecast only the joint totals of the "
            f"sample paths are available: leave dependence at its default "
            f"{default!r} (ignored); the comonotone / independent totals are "
            f"univariate, got {dependence!r} (use forecast.copy_dim(k) for one "
            "series)"
        )


def check_univariate_series(series) -> None:
    """``series=`` is for multivariate forecasts: it must be ``None`` here."""
    if series is not None:
        raise ValueError(
            "series= selects series of a multivariate SampleForecast (samples "
            "(n, H, dim)); this forecast is univariate (use aggregate_quantiles "
            "for windows of a univariate SampleForecast)"
        )


@dataclass(frozen=True)
class Aggregate:
    """One aggregate of series: the plain sum over ``indices`` or the
    weighted sum ``sum_k weights[k] * y_k``.

    Attributes
    ----------
    label : str
        Column label of the aggregate.
    indices : numpy.ndarray of int64, shape (j,), or None (weights given)
    weights : numpy.ndarray of float64, shape (dim,), or None (indices given)
    """

    label: str
    indices: Optional[np.ndarray]
    weights: Optional[np.ndarray]

    def describe(self) -> Dict[str, list]:
        """``{"indices": [...]}`` or ``{"weights": [...]}``."""
        if self.indices is not None:
            return {"indices": self.indices.tolist()}
        return {"weights": self.weights.tolist()}


def _one_aggregate(label: str, spec, dim: int) -> Aggregate:
    """An index, a sequence of distinct indices, or ``dim`` float weights."""
    if isinstance(spec, (bool, np.bool_)):
        raise ValueError(f"series {label!r}: expected indices or weights, got a boolean")
    if isinstance(spec, Integral):
        spec = [spec]
    if isinstance(spec, (str, bytes, dict, set, frozenset)):
        raise ValueError(
            f"series {label!r}: expected an index, a sequence of indices or "
            f"{dim} weights, got {spec!r}"
        )
    arr = np.asarray(spec)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(
            f"series {label!r}: expected a non-empty 1-d sequence of indices or "
            f"weights, got shape {arr.shape}"
        )
    if arr.dtype.kind == "b":
        raise ValueError(f"series {label!r}: booleans are not indices or weights: {spec!r}")
    if arr.dtype.kind in "iu":
        bad = arr[(arr < 0) | (arr >= dim)]
        if bad.size:
            raise ValueError(
                f"series {label!r}: indices {bad.tolist()} out of range for "
                f"{dim} series (0..{dim - 1})"
            )
        if np.unique(arr).size != arr.size:
            raise ValueError(f"series {label!r}: repeated indices {arr.tolist()}")
        return Aggregate(label, arr.astype(np.int64), None)
    if arr.dtype.kind != "f":
        raise ValueError(
            f"series {label!r}: expected integer indices or float weights, got {spec!r}"
        )
    if arr.size != dim:
        raise ValueError(
            f"series {label!r}: float values are weights, one per series: "
            f"expected {dim}, got {arr.size} (give integer indices to select series)"
        )
    if not np.isfinite(arr).all():
        raise ValueError(f"series {label!r}: weights must be finite, got {arr.tolist()}")
    return Aggregate(label, None, arr.astype(np.float64))


def check_series(series, dim: int) -> List[Aggregate]:
    """The aggregates of series whose totals are reported.

    ``None``: each series alone (labels ``"0"``, ``"1"``, ...) and, with
    more than one series, the sum of all (``ALL_SERIES``). An int, a
    sequence of ints (the plain sum of those series) or a sequence of
    ``dim`` floats (weights): one aggregate labelled ``"3"``,
    ``"sum[0,2]"`` or ``"weighted"``. A dict ``{label: indices or
    weights}``: one aggregate per entry.
    """
    if series is None:
        out = [Aggregate(str(k), np.array([k]), None) for k in range(dim)]
        if dim > 1:
            out.append(Aggregate(ALL_SERIES, np.arange(dim), None))
        return out
    if isinstance(series, dict):
        if not series:
            raise ValueError("series is an empty dict: give at least one aggregate")
        return [_one_aggregate(str(label), spec, dim) for label, spec in series.items()]
    agg = _one_aggregate("series", series, dim)
    if agg.indices is None:
        label = "weighted"
    elif agg.indices.size == 1:
        label = str(int(agg.indices[0]))
    else:
        label = "sum[" + ",".join(str(int(i)) for i in agg.indices) + "]"
    return [Aggregate(label, agg.indices, agg.weights)]
