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


@pytest.fixture(scope="session")
def covariate_case(tmp_path_factory):
    """A small MQ-CNN-IQF trained with one covariate known in advance
    (``promo``, which lifts the target), saved; 12 hourly series as a long
    table whose last 24 rows per series are the horizon (promo only, target
    empty), and the same series as GluonTS entries (target T, covariate T +
    24). Returns (predictor folder, long frame, entries)."""
    import torch
    from gluonts.dataset.common import ListDataset

    from gluonts_iqf.model import MQCNNEstimator

    rng = np.random.default_rng(0)
    H, T, n = 24, 96, 12
    t = np.arange(T + H)
    promo = (rng.random((n, T + H)) < 0.2).astype(np.float64)
    y = 50 + 10 * np.sin(2 * np.pi * t / 24) + 20 * promo + rng.normal(0, 2, (n, T + H))
    start = pd.Period("2024-01-01 00:00", freq="h")
    train = ListDataset([{"start": start, "target": y[k, :T], "feat_dynamic_real": promo[k:k + 1, :T],
                          "item_id": f"s{k}"} for k in range(n)], freq="h")
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("covariate_model")
    est = MQCNNEstimator(
        freq="h", prediction_length=H, context_length=48, num_feat_dynamic_real=1, batch_size=16,
        num_batches_per_epoch=5, channels_seq=[8, 8], dilation_seq=[1, 2], kernel_size_seq=[3, 3],
        trainer_kwargs=dict(max_epochs=1, enable_progress_bar=False, enable_model_summary=False, logger=False,
                            default_root_dir=str(root)),
    )
    predictor = est.train(train)
    folder = root / "predictor"
    folder.mkdir()
    predictor.serialize(folder)
    stamps = pd.period_range(start, periods=T + H).to_timestamp()
    frame = pd.concat([pd.DataFrame({"item_id": f"s{k}", "timestamp": stamps,
                                     "target": np.r_[y[k, :T], np.full(H, np.nan)], "promo": promo[k]})
                       for k in range(n)], ignore_index=True)
    entries = [{"start": start, "target": y[k, :T].astype(np.float32),
                "feat_dynamic_real": promo[k:k + 1].astype(np.float32), "item_id": f"s{k}"} for k in range(n)]
    return folder, frame, entries
