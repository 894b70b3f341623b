"""Tests for gluonts_iqf.datasets.jsonl: GluonTS JSON-lines folders
(load_jsonl_dir), read as GluonTS's FileDataset reads them; bad input raises
a one-line DataError naming the file, line and item."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from dataset_helpers import raises_data_error, write_jsonl

from gluonts_iqf import datasets as D


def test_jsonl_dir_with_metadata(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    (d / "metadata.json").write_text(json.dumps({"freq": "h", "prediction_length": 3}))
    write_jsonl(d / "a.json", [{"start": "2020-01-01 00:00", "target": [1, 2, None, 4], "item_id": "x"}])
    write_jsonl(d / "b.jsonl.gz", [{"start": "2020-01-02 05:00", "target": [5.0, "NaN", 7],
                                "feat_dynamic_real": [[1, 2, 3]], "feat_static_cat": [2]}], gz=True)
    write_jsonl(d / "c.jsonl", [{"start": "2020-01-03", "target": [8, 9]}])
    (d / ".hidden.json").write_text("garbage")
    entries = D.load_jsonl_dir(d)
    assert [e["item_id"] for e in entries] == ["x", "1", "2"]
    assert entries[0]["start"] == pd.Period("2020-01-01 00:00", freq="h")
    assert entries[0]["target"].dtype == np.float32 and np.isnan(entries[0]["target"][2])
    assert np.isnan(entries[1]["target"][1])
    assert entries[1]["feat_dynamic_real"].shape == (1, 3)
    assert entries[1]["feat_static_cat"].dtype == np.int32


def test_jsonl_matches_gluonts_filedataset(tmp_path):
    from gluonts.dataset.common import FileDataset

    d = tmp_path / "data"
    d.mkdir()
    write_jsonl(d / "data.json", [{"start": "2020-01-01", "target": [1.0, 2.0, 3.0]},
                             {"start": "2020-02-01", "target": [4.0, 5.0]}])
    ours = D.load_jsonl_dir(d, freq="D")
    theirs = list(FileDataset(d, freq="D"))
    assert len(ours) == len(theirs)
    for x, y in zip(ours, theirs):
        assert x["start"] == y["start"]
        np.testing.assert_array_equal(x["target"], y["target"])


def test_jsonl_errors(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    raises_data_error(["no frequency"], D.load_jsonl_dir, d)
    raises_data_error(["no JSON-lines files"], D.load_jsonl_dir, d, freq="D")
    (d / "a.json").write_text('{"start": "2020-01-01", "target": [1, 2]}\n{not json}\n')
    raises_data_error(["a.json line 2", "invalid JSON"], D.load_jsonl_dir, d, freq="D")
    write_jsonl(d / "a.json", [{"start": "2020-01-01", "item_id": "q"}])
    raises_data_error(["a.json line 1", "item 'q'", "missing field 'target'"], D.load_jsonl_dir, d, freq="D")
    write_jsonl(d / "a.json", [{"start": "yesterday-ish", "target": [1], "item_id": "q"}])
    raises_data_error(["item 'q'", "unparsable start"], D.load_jsonl_dir, d, freq="D")
    write_jsonl(d / "a.json", [{"start": "2020-01-01", "target": [1, 2], "item_id": "q"}])
    raises_data_error(["item 'q'", "minimum of 3"], D.load_jsonl_dir, d, freq="D", min_length=3)
    write_jsonl(d / "a.json", [{"start": "2020-01-01", "target": [1, 2], "item_id": "q",
                           "feat_dynamic_real": [[1, None]]}])
    raises_data_error(["item 'q'", "NaN in covariate 'feat_dynamic_real'"], D.load_jsonl_dir, d, freq="D")
    raises_data_error(["not found"], D.load_jsonl_dir, tmp_path / "missing", freq="D")
