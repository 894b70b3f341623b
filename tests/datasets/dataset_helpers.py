"""Helpers shared by the tests of :mod:`gluonts_iqf.datasets`: the raw
benchmark folder (``$GLUONTS_IQF_DATA_DIR``; tests that need it skip when it
is unset), small long-format tables and JSON-lines files, and the check that
bad input raises a one-line :class:`DataError`."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gluonts_iqf.datasets import DATA_DIR_ENV, DataError

RAW = Path(os.environ[DATA_DIR_ENV]) if os.environ.get(DATA_DIR_ENV) else None

needs_raw = pytest.mark.skipif(
    RAW is None or not RAW.is_dir(),
    reason=(
        f"needs the raw benchmark files: set {DATA_DIR_ENV} to their folder"
        if RAW is None
        else f"{DATA_DIR_ENV}={RAW} is not a directory"
    ),
)


def make_frame(n_a=6, n_b=5, freq="D"):
    """Two series 'a' (from 2021-01-01) and 'b' (from 2021-01-03)."""
    ts_a = pd.date_range("2021-01-01", periods=n_a, freq=freq)
    ts_b = pd.date_range("2021-01-03", periods=n_b, freq=freq)
    return pd.DataFrame(
        {
            "item_id": ["a"] * n_a + ["b"] * n_b,
            "timestamp": [str(t) for t in ts_a] + [str(t) for t in ts_b],
            "target": np.arange(n_a + n_b, dtype=float),
            "price": np.linspace(1.0, 2.0, n_a + n_b),
            "store": ["s1"] * n_a + ["s2"] * n_b,
            "size": [3.0] * n_a + [4.0] * n_b,
        }
    )


def write_csv(tmp_path, frame, name="data.csv"):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def write_jsonl(path, records, gz=False):
    text = "\n".join(json.dumps(r) for r in records) + "\n"
    if gz:
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)


def raises_data_error(match_parts, fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` raises a one-line DataError containing every
    one of ``match_parts``; returns the message."""
    with pytest.raises(DataError) as info:
        fn(*args, **kwargs)
    msg = str(info.value)
    assert "\n" not in msg
    for part in match_parts:
        assert part in msg, f"{part!r} not in {msg!r}"
    return msg
