"""Helpers shared by the scale-out tests: the saved predictors' folder, the
quantile levels, long-format tables from entries and their Parquet
files."""

from pathlib import Path

import numpy as np
import pandas as pd

#: Predictors saved by an earlier version (MQ-CNN with the IQF head, MQF²
#: over the horizon, DeepAR with ``IQFOutput``; horizon 24, hourly).
SAVED = Path(__file__).resolve().parents[1] / "fixtures" / "saved_predictors"
LEVELS = [0.05, 0.1, 0.5, 0.9, 0.95]


def long_frame(series) -> pd.DataFrame:
    """Entries -> long format: item_id, timestamp, target (float64)."""
    parts = []
    for e in series:
        ts = pd.period_range(e["start"], periods=len(e["target"])).to_timestamp()
        parts.append(pd.DataFrame({"item_id": e["item_id"], "timestamp": ts,
                                   "target": np.asarray(e["target"], dtype=np.float64)}))
    return pd.concat(parts, ignore_index=True)


def write_files(frame, folder, parts=2, row_group_size=500):
    """``frame`` cut into ``parts`` Parquet files by row position (a series
    may straddle two files), small row groups."""
    folder.mkdir(parents=True, exist_ok=True)
    for k, rows in enumerate(np.array_split(np.arange(len(frame)), parts)):
        frame.iloc[rows].to_parquet(folder / f"part-{k}.parquet", index=False, row_group_size=row_group_size)
    return folder
