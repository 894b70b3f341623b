"""Where data comes from: benchmark names -> their raw files (the explicit
``data_dir``, else ``$GLUONTS_IQF_DATA_DIR``; the embedded ``m4_hourly``
from the package), any name, folder or file -> a dataset
(:func:`load_any`), and the train/test split of a backtest.

Benchmark files are never looked up relative to the working directory: a
benchmark dataset asked for without a data directory is an error that says
how to give one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

import numpy as np
from gluonts.dataset.common import MetaData, TrainDatasets

from .base import DataError, Entry, PathLike, has_suffix
from .frames import LONG_FRAME_SUFFIXES, load_long_frame
from .jsonl import JSONL_SUFFIXES, load_jsonl_dir, read_metadata
from .recipes import DATASETS, EMBEDDED, RAW_FILES, build

#: Environment variable naming the directory that holds the raw files.
DATA_DIR_ENV = "GLUONTS_IQF_DATA_DIR"


def package_data_dir() -> Path:
    """The package's ``data`` folder (the embedded datasets' raw files)."""
    return Path(__file__).resolve().parent.parent / "data"


def default_data_dir(name: Optional[str] = None) -> Path:
    """Directory :func:`load` reads ``name`` from when no ``data_dir`` is given.

    For an embedded dataset (see :data:`EMBEDDED`) this is the package's
    ``data`` directory; otherwise ``$GLUONTS_IQF_DATA_DIR`` (evaluated on
    every call). Raises ``FileNotFoundError`` naming the dataset and the ways
    to give the directory when the variable is unset or empty.
    """
    if name is not None and name in EMBEDDED:
        return package_data_dir()
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    what = f"Dataset {name!r}" if name is not None else "The benchmark datasets"
    needs = (
        f" needs the raw file(s) {', '.join(repr(f) for f in RAW_FILES[name])}"
        if name in RAW_FILES
        else " need their raw files"
    )
    raise FileNotFoundError(
        f"{what}{needs} and no data directory was given. Pass the folder "
        f"holding them as gluonts_iqf.datasets.load(..., data_dir=DIR) (on "
        f"the command line: --data-dir DIR) or set the environment variable "
        f"{DATA_DIR_ENV}. Only {', '.join(EMBEDDED)} is embedded in the package."
    )


def _resolve_files(name: str, data_dir: Path, explicit: bool) -> Dict[str, Path]:
    """Map each raw file of ``name`` to an existing path in ``data_dir``, or
    raise ``FileNotFoundError`` listing the missing ones.

    ``X.gz`` may also be given uncompressed as ``X`` (except the tarball).
    """
    found: Dict[str, Path] = {}
    missing: List[str] = []
    for fname in RAW_FILES[name]:
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
        Directory holding the raw files (the names GluonTS's sources publish,
        e.g. ``Weekly-train.csv.gz``; ``.gz`` optional for the CSV/JSON
        files). Defaults to :func:`default_data_dir` ``(name)``: the package
        for ``m4_hourly``, else ``$GLUONTS_IQF_DATA_DIR``.
    prediction_length
        Override for ``metadata.prediction_length`` only; the train/test split
        is unchanged (see :mod:`gluonts_iqf.datasets.recipes`).

    Returns
    -------
    TrainDatasets
        ``train`` and ``test`` as lists of processed entries, fresh on every
        call.

    Raises
    ------
    ValueError
        Unknown name (the known ones are listed) or a bad
        ``prediction_length``.
    FileNotFoundError
        No data directory for a dataset that is not embedded, or raw files
        missing from it.
    """
    if name not in DATASETS:
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
    return build(name, files, prediction_length)


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
    a benchmark dataset without a data directory or without its raw files,
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
        meta = read_metadata(p / "train") or {}
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
                freq=train[0]["start"].freqstr,
                prediction_length=int(pl) if pl else None,
            ),
            train=train,
            test=test,
        )
    if p.is_dir() or has_suffix(p, JSONL_SUFFIXES):
        entries = load_jsonl_dir(p, freq, min_length=min_length)
        meta = read_metadata(p) or {}
        pl = meta.get("prediction_length")
    elif has_suffix(p, LONG_FRAME_SUFFIXES):
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
            freq=entries[0]["start"].freqstr,
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


class RollingOrigin(NamedTuple):
    """A rolling-origin backtest: ``train`` ends before the earliest window;
    ``windows[k]`` holds the series that end with window ``k + 1`` counted
    from the end (``windows[0]``: the last ``H`` values), each forecast from
    the values before its window; ``skipped[k]``: series too short for
    window ``k + 1``, or whose window is all missing."""

    train: List[Entry]
    windows: List[List[Entry]]
    skipped: List[int]


def rolling_origin_split(
    data: TrainDatasets,
    prediction_length: int,
    windows: int = 1,
    min_train_length: int = 1,
) -> RollingOrigin:
    """The last ``windows`` windows of ``prediction_length`` values of every
    test series, with one training set that ends before the earliest.

    With one window this is :func:`backtest_split` exactly. With more, the
    series are :func:`backtest_split`'s test series (one per item: a dataset
    whose test split holds several windows per series is an error, its own
    windows are the backtest); window ``k`` (1 = the last) is each series
    without its last ``(k - 1) H`` values, forecast over its last ``H``; the
    training set is each series without its last ``windows * H`` values.
    Series too short for a window are left out of it (counted), and out of
    training when nothing is left before the earliest window.

    Raises :class:`DataError` for ``windows < 1``, several test windows per
    series, or no series with ``min_train_length`` values before the
    earliest window.
    """
    K = int(windows)
    if K < 1:
        raise DataError(f"windows must be >= 1, got {windows}")
    train, test = backtest_split(data, prediction_length, min_train_length)
    if K == 1:
        return RollingOrigin(train, [test], [0])
    H = int(prediction_length)
    if len(test) != len(train):
        raise DataError(
            f"the dataset's test split holds {len(test)} series for {len(train)} training series "
            "(several test windows per series): a rolling-origin backtest needs one test series per "
            "item; use one window (the dataset's own windows)"
        )
    out, skipped = [], []
    for k in range(K):
        keep = []
        for e in test:
            cut = _cut(e, k * H)
            long_enough = len(cut["target"]) >= H + min_train_length
            if long_enough and not np.isnan(np.asarray(cut["target"][-H:], dtype=float)).all():
                keep.append(cut)
        out.append(keep)
        skipped.append(len(test) - len(keep))
    first = [_cut(e, K * H) for e in test if len(e["target"]) - K * H >= min_train_length]
    if not first:
        raise DataError(
            f"no series has {min_train_length} value(s) before the earliest of {K} windows of "
            f"{H} values: use fewer windows or a shorter prediction_length"
        )
    return RollingOrigin(first, out, skipped)
