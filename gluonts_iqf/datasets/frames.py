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
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd

from .base import DataError, Entry, PathLike, has_suffix, listing, period_freq
from .grouping import infer_grouped_frequency, SeriesBuilder, sort_rows, static_codes

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
    future_rows: int = 0,
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
        Minimum number of time steps per series (of its target, without
        the future rows).
    future_rows
        For forecasting with covariates known in advance: each series' last
        ``future_rows`` time steps (the forecast horizon) carry only the
        covariates, their target empty. The entry's ``target`` stops before
        them; its ``feat_dynamic_real`` covers them too, ``T +
        future_rows`` columns, as GluonTS predictors expect.

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
        covariates, a static covariate that varies within a series, a
        target value in a future row.
    """
    if future_rows < 0:
        raise ValueError(f"future_rows must be >= 0, got {future_rows}")
    covariates = list(covariates or [])
    static_covariates = list(static_covariates or [])
    if isinstance(path, pd.DataFrame):
        frame = path
        if frame.empty:
            raise DataError("the table has no data rows")
    else:
        frame = read_frame(path)
    rows = long_rows(frame, item_id, timestamp, target, covariates, static_covariates)
    frame, codes, names, stamps, values, cov_values = rows
    order, bounds = sort_rows(codes, stamps, names, timestamp)
    sorted_stamps = stamps[order]

    if freq is None:
        offset_alias = infer_grouped_frequency(sorted_stamps, bounds, names)
        strict = True
    else:
        offset_alias = str(freq)
        strict = False
    pfreq = period_freq(offset_alias)
    codes = static_codes(frame, static_covariates)
    entries = SeriesBuilder(
        frame, order, bounds, names, sorted_stamps, values, covariates, cov_values,
        static_covariates, codes, pfreq, offset_alias, strict, min_length + future_rows,
    ).entries()
    return [split_future(e, future_rows) for e in entries] if future_rows else entries


def split_future(entry: Entry, future_rows: int) -> Entry:
    """``entry`` with its last ``future_rows`` time steps taken off the
    target (they must be empty: DataError naming the item and the first
    period that holds a value); the covariates keep them."""
    y = entry["target"]
    tail = y[-future_rows:]
    filled = np.flatnonzero(~np.isnan(tail))
    if len(filled):
        period = entry["start"] + (len(y) - future_rows + int(filled[0]))
        raise DataError(
            f"item {entry['item_id']!r}: the last {future_rows} time steps are the forecast horizon and "
            f"carry only covariates, but the target has a value at {period} ({tail[filled[0]]:g})"
        )
    return dict(entry, target=y[:-future_rows])


class LongRows(NamedTuple):
    """The rows of a long-format table, checked and converted column by
    column (:func:`long_rows`), before they are grouped into series."""

    frame: pd.DataFrame  # the table, positional row index
    codes: np.ndarray  # (n,) int64 item code of each row
    names: np.ndarray  # (G,) item ids (str) in order of first appearance
    stamps: pd.DatetimeIndex  # (n,) naive timestamps
    values: np.ndarray  # (n,) float64 target, NaN for empty cells
    cov_values: List[np.ndarray]  # (n,) float64 per covariate


def long_rows(
    frame: pd.DataFrame,
    item_id: Optional[str] = "item_id",
    timestamp: str = "timestamp",
    target: str = "target",
    covariates: Sequence[str] = (),
    static_covariates: Sequence[str] = (),
) -> LongRows:
    """Check and convert the columns of a long-format table row by row, in
    array operations: the columns exist, every row has an item id and a
    parsable timestamp, target and covariates are numeric.

    The first half of :func:`load_long_frame` (same arguments, same
    :class:`DataError` messages naming the column, item and value); also
    used on each partition of a distributed run before its rows are
    shuffled by item.
    """
    wanted = {"timestamp": timestamp, "target": target}
    if item_id is not None:
        wanted["item id"] = item_id
    for c in covariates:
        _check_columns(frame, {"covariate": c})
    for c in static_covariates:
        _check_columns(frame, {"static covariate": c})
    _check_columns(frame, wanted)

    if not isinstance(frame.index, pd.RangeIndex) or frame.index.start != 0 or frame.index.step != 1:
        frame = frame.reset_index(drop=True)  # positional row numbers (a copy)
    codes, names = _item_codes(frame, item_id)
    items = _RowItems(codes, names)
    stamps = _parse_timestamps(frame[timestamp], timestamp, items)
    values = _numeric(frame[target], target, items, stamps)
    cov_values = [_numeric(frame[c], c, items, stamps) for c in covariates]
    return LongRows(frame, codes, names, stamps, values, cov_values)


class _RowItems:
    """The item id of each row, looked up as ``items.iloc[i]`` (the
    interface of the string Series the error messages of
    :func:`_parse_timestamps` and :func:`_numeric` read) without
    materialising one string per row."""

    def __init__(self, codes: np.ndarray, names: np.ndarray) -> None:
        self._codes, self._names = codes, names

    @property
    def iloc(self) -> "_RowItems":
        return self

    def __getitem__(self, row: int) -> str:
        return str(self._names[self._codes[row]])


def _item_codes(frame: pd.DataFrame, item_id: Optional[str]) -> Tuple[np.ndarray, np.ndarray]:
    """Integer code of each row's item, shape (n,), and the item ids as
    strings, shape (G,), in order of first appearance; DataError naming the
    first row without an id. Only the distinct values are turned into
    strings (two values with one string form, e.g. ``1`` and ``"1"``, are
    one item, as with a per-row ``astype(str)``)."""
    n = len(frame)
    if item_id is None:
        return np.zeros(n, dtype=np.int64), np.array(["0"], dtype=object)
    raw = frame[item_id]
    miss = np.flatnonzero(raw.isna().to_numpy())
    if miss.size:
        raise DataError(
            f"missing item id in column {item_id!r} (row {int(miss[0]) + 1})"
        )
    codes, uniques = pd.factorize(raw, sort=False)
    as_text = np.asarray(pd.Index(uniques).astype(str), dtype=object)
    merged, names = pd.factorize(as_text, sort=False)
    if len(names) < len(as_text):  # distinct values with one string form
        codes = merged[codes]
    return codes.astype(np.int64, copy=False), np.asarray(names, dtype=object)


