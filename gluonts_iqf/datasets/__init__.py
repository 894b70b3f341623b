"""Datasets, offline: the standard GluonTS benchmarks built from their raw
files exactly as GluonTS's dataset repository builds them, and a user's own
long-format CSV/Parquet tables and GluonTS JSON-lines folders.

* :mod:`.recipes`: the benchmark recipes (:data:`DATASETS`, :data:`EMBEDDED`);
* :mod:`.frames`: long-format tables, frequency inference;
* :mod:`.jsonl`: GluonTS JSON-lines folders;
* :mod:`.resolve`: :func:`load`, :func:`load_any`, :func:`default_data_dir`
  (explicit ``data_dir``, else ``$GLUONTS_IQF_DATA_DIR``; ``m4_hourly`` is
  embedded), :func:`backtest_split` and :func:`rolling_origin_split`;
* :mod:`.base`: :class:`DataError` and helpers the loaders share.
"""

from .base import DataError
from .frames import LONG_FRAME_SUFFIXES, infer_frequency, load_long_frame, read_frame
from .jsonl import JSONL_SUFFIXES, load_jsonl_dir
from .recipes import DATASETS, EMBEDDED
from .resolve import (
    DATA_DIR_ENV,
    RollingOrigin,
    backtest_split,
    default_data_dir,
    load,
    load_any,
    rolling_origin_split,
)

__all__ = [
    "DATASETS",
    "EMBEDDED",
    "DATA_DIR_ENV",
    "default_data_dir",
    "load",
    "DataError",
    "LONG_FRAME_SUFFIXES",
    "JSONL_SUFFIXES",
    "read_frame",
    "infer_frequency",
    "load_long_frame",
    "load_jsonl_dir",
    "load_any",
    "backtest_split",
    "RollingOrigin",
    "rolling_origin_split",
]
