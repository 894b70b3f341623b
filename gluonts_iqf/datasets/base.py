"""Pieces every dataset loader shares: the entry type, :class:`DataError`,
quiet ``pd.Period`` construction and frequency aliases.

An entry is a plain dict as GluonTS's ``ProcessDataEntry`` leaves it:
``target`` a 1-D float32 array (NaN for missing values), ``start`` a
``pd.Period`` with the dataset frequency, ``item_id`` and optional
``feat_*`` arrays.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Dict, Sequence, Union

import pandas as pd

PathLike = Union[str, "os.PathLike[str]"]
Entry = Dict[str, Any]

#: How many names an error message lists before "... (n more)".
MAX_LISTED = 12


class DataError(ValueError):
    """Bad input data. The message is one line naming the problem and,
    where there is one, the item (series) it concerns."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


def listing(names: Sequence[Any]) -> str:
    """``['a', 'b', ...]`` as ``"'a', 'b', ... (n more)"`` for messages."""
    names = [repr(str(n)) for n in names]
    if len(names) > MAX_LISTED:
        names = names[:MAX_LISTED] + [f"... ({len(names) - MAX_LISTED} more)"]
    return ", ".join(names)


def has_suffix(path: Path, suffixes: Sequence[str]) -> bool:
    """Whether the file name ends with one of ``suffixes`` (any case)."""
    name = path.name.lower()
    return any(name.endswith(s) for s in suffixes)


def period(start: Any, freq: str) -> pd.Period:
    """``pd.Period(start, freq)`` without pandas' FutureWarning: ``Period[B]``
    is deprecated in pandas >= 2.2, yet GluonTS builds the exchange-rate
    sets with it, so we build them the same way."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return pd.Period(start, freq=freq)


def shift(start: pd.Period, n: int) -> pd.Period:
    """``start + n`` periods, quietly (see :func:`period`)."""
    if n == 0:
        return start
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return start + n


def period_freq(freq: str) -> str:
    """The ``pd.Period`` frequency string of an offset alias (``"MS"`` and
    ``"ME"`` -> ``"M"``, ``"h"`` -> ``"h"``), so that two aliases of one
    period compare equal; :class:`DataError` for an unknown alias."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        try:
            return pd.Period("2000-01-03", freq=freq).freqstr
        except Exception:
            pass
        try:
            idx = pd.date_range("2000-01-03", periods=3, freq=freq)
            return idx.to_period().freqstr
        except Exception:
            raise DataError(
                f"unknown frequency {freq!r}: use a pandas alias such as "
                "'h', 'D', 'W', 'M', 'Q', 'Y', '15min'"
            ) from None
