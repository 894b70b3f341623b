"""Local long-format tables: CSV or Parquet with one row per (series,
timestamp) -> entries like the benchmark recipes' (``target`` float32 with
NaN for missing values, ``start`` a ``pd.Period``, ``item_id`` a string,
optional covariates), with the frequency inferred when not given.

Bad input raises :class:`~gluonts_iqf.datasets.base.DataError` whose
one-line message names the problem and the item.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd

from .base import DataError, Entry, PathLike, has_suffix, listing, period_freq

#: File suffixes :func:`load_long_frame` reads (compression from the suffix).
LONG_FRAME_SUFFIXES: Tuple[str, ...] = (
    ".csv", ".csv.gz", ".csv.bz2", ".csv.zip", ".csv.xz", ".parquet", ".pq",
)


def read_frame(path: PathLike) -> pd.DataFrame:
    """Read a CSV (optionally compressed) or Parquet file into a DataFrame.

    Raises :class:`DataError` for a missing file, an unknown suffix, an
    unreadable or empty file.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(f"file not found: {p}")
    if p.is_dir():
        raise DataError(f"expected a CSV or Parquet file, got the directory {p}")
    if not has_suffix(p, LONG_FRAME_SUFFIXES):
        raise DataError(
            f"unsupported file type {p.name!r}: expected one of "
            f"{', '.join(LONG_FRAME_SUFFIXES)}"
        )
    try:
        if has_suffix(p, (".parquet", ".pq")):
            frame = pd.read_parquet(p)
        else:
            # strings stay strings (item ids like "007"); numbers are
            # converted per column below
            frame = pd.read_csv(p, dtype=str, keep_default_na=True)
    except pd.errors.EmptyDataError:
        raise DataError(f"file {p} is empty") from None
    except Exception as exc:  # parser / arrow errors: one line
        raise DataError(
            f"cannot read {p}: {type(exc).__name__}: {exc}"
        ) from None
    if frame.empty:
        raise DataError(f"file {p} has no data rows")
    return frame


def _parse_timestamps(values: pd.Series, column: str, items: pd.Series) -> pd.DatetimeIndex:
    """Column -> naive DatetimeIndex; DataError naming the first bad value
    and its item."""
    if pd.api.types.is_datetime64_any_dtype(values):
        ts = pd.DatetimeIndex(values)
    else:
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            raise DataError(
                f"column {column!r} holds numbers, not timestamps (item "
                f"{items.iloc[0]!r}, value {values.iloc[0]!r}); write dates "
                "such as 2020-01-31 or 2020-01-31 13:00"
            )
        given = values.notna().to_numpy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            try:
                ts = pd.DatetimeIndex(pd.to_datetime(values, errors="coerce"))
            except Exception:  # e.g. mixed time zones
                ts = None
            if ts is None or (np.asarray(ts.isna()) & given).any():
                # pandas guesses one format from the first value; values in
                # other formats are parsed one by one
                try:
                    ts = pd.DatetimeIndex(
                        pd.to_datetime(values, errors="coerce", format="mixed")
                    )
                except Exception as exc:
                    raise DataError(
                        f"column {column!r}: cannot parse the timestamps "
                        f"({type(exc).__name__}: {exc})"
                    ) from None
        bad = np.flatnonzero(np.asarray(ts.isna()) & given)
        if bad.size:
            i = int(bad[0])
            raise DataError(
                f"item {items.iloc[i]!r}: unparsable timestamp "
                f"{values.iloc[i]!r} in column {column!r} (row {i + 1})"
            )
    missing = np.flatnonzero(np.asarray(ts.isna()))
    if missing.size:
        i = int(missing[0])
        raise DataError(
            f"item {items.iloc[i]!r}: missing timestamp in column {column!r} "
            f"(row {i + 1})"
        )
    if ts.tz is not None:
        ts = ts.tz_localize(None)  # keep local wall-clock time
    return ts


def infer_frequency(
    timestamps: Dict[str, pd.DatetimeIndex]
) -> str:
    """One offset alias for all series (``pd.infer_freq`` per series).

    ``timestamps`` maps item id -> sorted, unique timestamps. Series with
    fewer than 3 timestamps or with gaps cannot be inferred on their own and
    adopt the others' frequency (their fit is checked when the grid is
    built). Raises :class:`DataError` when series disagree or when no series
    has a regular frequency.
    """
    found: Dict[str, str] = {}
    irregular: Optional[str] = None
    short: Optional[Tuple[str, int]] = None
    for item, ts in timestamps.items():
        if len(ts) < 3:
            short = short or (item, len(ts))
            continue
        f = pd.infer_freq(ts)
        if f is None:
            irregular = irregular or item
            continue
        found.setdefault(f, item)
    if len(found) > 1:
        (f1, i1), (f2, i2) = list(found.items())[:2]
        raise DataError(
            f"series disagree on the frequency: item {i1!r} is {f1!r}, item "
            f"{i2!r} is {f2!r}; pass one frequency explicitly"
        )
    if found:
        return next(iter(found))
    if irregular is not None:
        raise DataError(
            f"item {irregular!r}: irregular timestamps, cannot infer the "
            "frequency; pass the frequency explicitly (gaps become NaN)"
        )
    item, n = short if short is not None else ("?", 0)
    raise DataError(
        f"item {item!r}: cannot infer the frequency from {n} timestamp(s); "
        "pass the frequency explicitly"
    )


def _check_columns(frame: pd.DataFrame, wanted: Dict[str, str]) -> None:
    """DataError naming the first missing column ({role: column}) and
    listing the available ones."""
    available = [str(c) for c in frame.columns]
    for role, col in wanted.items():
        if col not in frame.columns:
            raise DataError(
                f"missing {role} column {col!r}; available columns: "
                f"{listing(available)}"
            )


def _numeric(values: pd.Series, column: str, items: pd.Series, stamps) -> np.ndarray:
    """Column -> float64 with NaN for empty cells; DataError naming the first
    non-numeric value, its item and timestamp."""
    if pd.api.types.is_bool_dtype(values):
        return values.to_numpy(dtype=np.float64)
    num = pd.to_numeric(values, errors="coerce")
    bad = np.flatnonzero(num.isna().to_numpy() & values.notna().to_numpy())
    if bad.size:
        i = int(bad[0])
        raise DataError(
            f"item {items.iloc[i]!r}: non-numeric value {values.iloc[i]!r} in "
            f"column {column!r} at {stamps[i]}"
        )
    return num.to_numpy(dtype=np.float64)


def load_long_frame(
    path: Union[PathLike, pd.DataFrame],
    item_id: Optional[str] = "item_id",
    timestamp: str = "timestamp",
    target: str = "target",
    freq: Optional[str] = None,
    covariates: Optional[Sequence[str]] = None,
    static_covariates: Optional[Sequence[str]] = None,
    min_length: int = 1,
) -> List[Entry]:
    """Series from a long-format table: one row per (item, timestamp).

    Parameters
    ----------
    path
        CSV (``.csv``, optionally ``.gz``/``.bz2``/``.zip``/``.xz``) or
        Parquet (``.parquet``/``.pq``) file, or a DataFrame.
    item_id
        Column naming the series; ``None`` for a single series (item id
        ``"0"``). Ids become strings.
    timestamp
        Column of dates/times (any format pandas parses; time zones dropped,
        local time kept).
    target
        Numeric column to forecast; empty cells become NaN.
    freq
        Pandas frequency alias (``"h"``, ``"D"``, ``"W"``, ``"M"``, ...).
        Default: ``pd.infer_freq`` per series, which must agree across series
        (:func:`infer_frequency`). With an explicit ``freq`` each timestamp is
        placed in its period and missing periods become NaN.
    covariates
        Numeric columns stacked as ``feat_dynamic_real``, shape
        ``(len(covariates), T)``; NaN (or a missing period) is an error.
    static_covariates
        Columns constant within each series: numeric ones become
        ``feat_static_real``, others ``feat_static_cat`` (integer codes over
        the sorted distinct values of the whole table).
    min_length
        Minimum number of time steps per series.

    Returns
    -------
    list of dict
        Entries in order of first appearance of each item:
        ``{"start": pd.Period, "target": float32 (T,), "item_id": str}``
        plus ``feat_dynamic_real`` / ``feat_static_real`` /
        ``feat_static_cat`` when asked for. ``entry["start"].freqstr`` is the
        frequency.

    Raises
    ------
    DataError
        Missing file or column (the available columns are listed),
        unparsable or duplicate timestamps, non-numeric targets, irregular or
        unknown frequency, a series shorter than ``min_length``, NaN in
        covariates, a static covariate that varies within a series.
    """
    covariates = list(covariates or [])
    static_covariates = list(static_covariates or [])
    if isinstance(path, pd.DataFrame):
        frame = path
        if frame.empty:
            raise DataError("the table has no data rows")
    else:
        frame = read_frame(path)
    wanted = {"timestamp": timestamp, "target": target}
    if item_id is not None:
        wanted["item id"] = item_id
    for c in covariates:
        _check_columns(frame, {"covariate": c})
    for c in static_covariates:
        _check_columns(frame, {"static covariate": c})
    _check_columns(frame, wanted)

    frame = frame.reset_index(drop=True)
    items = _item_ids(frame, item_id)
    stamps = _parse_timestamps(frame[timestamp], timestamp, items)
    values = _numeric(frame[target], target, items, stamps)
    cov_values = [_numeric(frame[c], c, items, stamps) for c in covariates]
    groups = _group_rows(items, stamps, timestamp)

    if freq is None:
        offset_alias = infer_frequency({item: stamps[rows] for item, rows in groups})
        strict = True
    else:
        offset_alias = str(freq)
        strict = False
    pfreq = period_freq(offset_alias)
    static_codes = _static_codes(frame, static_covariates)

    entries: List[Entry] = []
    for item, rows in groups:
        start, steps = _time_steps(item, stamps[rows], pfreq, offset_alias, strict)
        length = int(steps[-1]) + 1
        if length < min_length:
            raise DataError(
                f"item {item!r}: series has {length} time step(s), fewer than "
                f"the required minimum of {min_length}"
            )
        y = np.full(length, np.nan, dtype=np.float32)
        y[steps] = values[rows]
        if np.isnan(y).all():
            raise DataError(f"item {item!r}: no observed target values")
        entry: Entry = {
            "start": start,
            "target": y,
            "item_id": item,
        }
        if covariates:
            x = np.full((len(covariates), length), np.nan, dtype=np.float32)
            for k, (name, col) in enumerate(zip(covariates, cov_values)):
                x[k, steps] = col[rows]
                nan = np.flatnonzero(np.isnan(x[k]))
                if nan.size:
                    when = start + int(nan[0])
                    raise DataError(
                        f"item {item!r}: NaN in covariate {name!r} at {when}"
                        + (" (missing row)" if nan[0] not in steps else "")
                    )
            entry["feat_dynamic_real"] = x
        reals, cats = _static_features(frame, rows, item, static_covariates, static_codes)
        if reals:
            entry["feat_static_real"] = np.array(reals, dtype=np.float32)
        if cats:
            entry["feat_static_cat"] = np.array(cats, dtype=np.int32)
        entries.append(entry)
    return entries


def _item_ids(frame: pd.DataFrame, item_id: Optional[str]) -> pd.Series:
    """The item id of each row as a string (``"0"`` for every row when
    ``item_id`` is None); DataError naming the first row without one."""
    if item_id is None:
        return pd.Series(["0"] * len(frame))
    raw_items = frame[item_id]
    miss = np.flatnonzero(raw_items.isna().to_numpy())
    if miss.size:
        raise DataError(
            f"missing item id in column {item_id!r} (row {int(miss[0]) + 1})"
        )
    return raw_items.astype(str)


def _group_rows(
    items: pd.Series, stamps: pd.DatetimeIndex, column: str
) -> List[Tuple[str, np.ndarray]]:
    """(item, row indices sorted by time) per item, in order of first
    appearance; DataError naming the first duplicate timestamp."""
    codes, uniques = pd.factorize(items, sort=False)
    order = np.lexsort((stamps.asi8, codes))
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    groups = []
    for rows in np.split(order, bounds):
        item = str(uniques[codes[rows[0]]])
        ts = stamps[rows]
        dup = np.flatnonzero(ts[1:] == ts[:-1])
        if dup.size:
            raise DataError(
                f"item {item!r}: duplicate timestamp {ts[int(dup[0])]} "
                f"in column {column!r}"
            )
        groups.append((item, rows))
    return groups


def _time_steps(
    item: str, ts: pd.DatetimeIndex, pfreq: str, offset_alias: str, strict: bool
) -> Tuple[pd.Period, np.ndarray]:
    """First period and the time step of each sorted timestamp, shape (n,).

    Each timestamp is placed in its ``pfreq`` period; two in one period are
    an error. ``strict`` (inferred frequency) also requires every timestamp
    to lie on the ``offset_alias`` grid from the first one.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        periods = ts.to_period(pfreq)
    mult = max(int(getattr(periods.freq, "n", 1)), 1)
    ordinals = periods.asi8
    same = np.flatnonzero(ordinals[1:] == ordinals[:-1])
    if same.size:
        j = int(same[0])
        raise DataError(
            f"item {item!r}: timestamps {ts[j]} and {ts[j + 1]} fall in the "
            f"same {pfreq!r} period: irregular timestamps or a frequency "
            "coarser than the data"
        )
    if strict and len(ts) >= 2:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            grid = pd.date_range(ts[0], ts[-1], freq=offset_alias)
        off_grid = ~ts.isin(grid)
        if off_grid.any():
            bad = ts[int(np.flatnonzero(off_grid)[0])]
            raise DataError(
                f"item {item!r}: irregular timestamps: {bad} is not on the "
                f"{offset_alias!r} grid that starts at {ts[0]}; pass the "
                "frequency explicitly to place timestamps in periods"
            )
    return periods[0], (ordinals - ordinals[0]) // mult


def _static_codes(
    frame: pd.DataFrame, static_covariates: Sequence[str]
) -> Dict[str, Dict[Any, int]]:
    """Integer codes (over the sorted distinct values of the whole table) of
    each non-numeric static covariate; numbers stored as text are numeric."""
    codes: Dict[str, Dict[Any, int]] = {}
    for c in static_covariates:
        col = frame[c]
        if not pd.api.types.is_numeric_dtype(col):
            num = pd.to_numeric(col, errors="coerce")
            if not (num.isna() & col.notna()).any():
                continue
            codes[c] = {
                v: i for i, v in enumerate(sorted(col.dropna().astype(str).unique()))
            }
    return codes


def _static_features(
    frame: pd.DataFrame,
    rows: np.ndarray,
    item: str,
    static_covariates: Sequence[str],
    static_codes: Dict[str, Dict[Any, int]],
) -> Tuple[List[float], List[int]]:
    """The series' value of each static covariate: (numeric ones, codes of
    the others); DataError when one is NaN or varies within the series."""
    reals: List[float] = []
    cats: List[int] = []
    for c in static_covariates:
        col = frame[c].iloc[rows]
        distinct = col.dropna().unique()
        if col.isna().any():
            raise DataError(f"item {item!r}: NaN in static covariate {c!r}")
        if len(distinct) != 1:
            raise DataError(
                f"item {item!r}: static covariate {c!r} varies within the "
                f"series ({listing(distinct[:3])})"
            )
        if c in static_codes:
            cats.append(static_codes[c][str(distinct[0])])
        else:
            reals.append(float(pd.to_numeric(distinct[0])))
    return reals, cats
