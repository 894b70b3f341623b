"""benchmarks/_accuracy_records.py: record keys and results files."""

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import _accuracy_records as R  # noqa: E402


def test_cut_histories_have_their_own_record_keys():
    """A record of histories cut to K horizons never takes the key of the
    uncut window's record (a re-run would otherwise skip it as done)."""
    assert R.record_key("validation", "d", "mqcnn", "default", 0) == "validation|d|mqcnn|default|0"
    assert R.record_key("validation", "d", "mqcnn", "default", 0, 2) == "validation|d|mqcnn|default|0|history2"
    assert R.record_key("test", "d", "auto_ets", "default", None, 3).endswith("|-|history3")


def test_results_files_ending_in_gz_are_gzipped_and_read_back(tmp_path):
    import gzip
    import json

    results = {"records": {"k": {"metrics": {"MASE": 1.5}, "series": {"ql": [0.1, 0.2]}}}}
    R.save_results(tmp_path / "r.json.gz", results)
    assert json.loads(gzip.decompress((tmp_path / "r.json.gz").read_bytes())) == results
    assert R.load_results(tmp_path / "r.json.gz") == results
    R.save_results(tmp_path / "r.json", results)
    assert json.loads((tmp_path / "r.json").read_text()) == results
    assert R.load_results(tmp_path / "missing.json.gz") == {"records": {}}


def test_merge_adds_the_records_of_other_files_the_later_winning(tmp_path):
    """Records of several runs in one file: keys only in one file are kept,
    a key in several takes the last file's record, and the result is written
    back to the first file."""
    R.save_results(tmp_path / "a.json", {"records": {"x": {"v": 1}, "y": {"v": 1}}})
    R.save_results(tmp_path / "b.json.gz", {"records": {"y": {"v": 2}, "z": {"v": 2}}})
    R.save_results(tmp_path / "c.json", {"records": {"z": {"v": 3}}})
    merged = R.merge_results(tmp_path / "a.json", [str(tmp_path / "b.json.gz"), str(tmp_path / "c.json")])
    assert merged == {"records": {"x": {"v": 1}, "y": {"v": 2}, "z": {"v": 3}}}
    assert R.load_results(tmp_path / "a.json") == merged


def test_environment_names_the_code_versions_and_machine():
    env = R.environment()
    assert set(env) == {"date", "commit", "versions", "python", "cpu"}
    assert env["date"].endswith(" UTC") and env["versions"]["numpy"] is not None
    if (R.REPO / ".git").exists():  # a clone: the short commit, marked when the package differs from it
        assert re.fullmatch(r"[0-9a-f]{7,}(\+dirty)?", env["commit"]), env["commit"]
