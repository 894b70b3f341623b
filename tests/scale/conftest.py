"""Fixtures of the scale-out tests: real m4_hourly series, the same series
as a long-format table, and a local Ray instance (skipped when Ray is not
installed).

Also makes ``scale_helpers.py`` importable: pytest runs with
``--import-mode=importlib``, which does not put test folders on
``sys.path``."""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scale_helpers import long_frame  # noqa: E402

from gluonts_iqf import datasets  # noqa: E402


@pytest.fixture(scope="session")
def m4_series():
    """40 real m4_hourly series (the last 150 values of each test series,
    hourly timestamps from different starts), one of them only 5 values
    long (shorter than every predictor's context: padded)."""
    test = list(datasets.load("m4_hourly").test)[:40]
    series = []
    for k, e in enumerate(test):
        y = np.asarray(e["target"][-150:], dtype=np.float32)
        if k == 3:
            y = y[-5:]
        start = pd.Period("2024-03-01 00:00", freq="h") + 7 * k
        series.append({"start": start, "target": y, "item_id": f"store-{k:02d}"})
    return series


@pytest.fixture(scope="session")
def m4_long(m4_series):
    return long_frame(m4_series)


@pytest.fixture(scope="module")
def ray_local():
    """A local Ray instance for a module's tests (2 CPUs, no dashboard, no
    network); shut down after them. Skipped without Ray."""
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    import logging

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    yield ray
    ray.shutdown()
