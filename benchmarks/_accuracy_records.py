"""The accuracy benchmark's records: their keys, the results file (JSON,
gzipped when its name ends in ``.gz``), merging files, and the code,
versions and machine each record was run with."""

import datetime as _dt
import gzip
import json
import platform
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

from _common import REPO, cpu_model, package_version


def record_key(split: str, dataset: str, model: str, tag: str, seed: Optional[int],
               max_history: Optional[int] = None) -> str:
    """A record's key in the results file; histories cut by ``--max-history``
    get their own keys."""
    key = f"{split}|{dataset}|{model}|{tag}|{'-' if seed is None else seed}"
    return key if max_history is None else f"{key}|history{max_history}"


def load_results(path: Path) -> Dict[str, Any]:
    """The records of a results file (gzipped when its name ends in ``.gz``)."""
    path = Path(path)
    if path.exists():
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        return json.loads(raw.decode())
    return {"records": {}}


def save_results(path: Path, results: Dict[str, Any]) -> None:
    """Write the records; a name ending in ``.gz`` is gzipped (records kept
    with ``--keep-series`` are ~50 KB each as text)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(results, indent=1, sort_keys=True)
    path.write_bytes(gzip.compress(text.encode(), mtime=0) if path.suffix == ".gz" else text.encode())


def environment() -> Dict[str, Any]:
    """Where a record comes from: date, commit (``+dirty`` when the package
    differs from it), library versions, Python and CPU."""
    import subprocess

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                            text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain", "gluonts_iqf"], cwd=REPO,
                                capture_output=True, text=True).stdout.strip())
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit + ("+dirty" if dirty else ""),
        "versions": {p: package_version(p) for p in ("torch", "gluonts", "lightning", "statsforecast", "numpy")},
        "python": platform.python_version(),
        "cpu": cpu_model(),
    }


def merge_results(path: Path, others: Sequence[str]) -> Dict[str, Any]:
    """The records of ``path`` with those of ``others`` added (later files
    win on equal keys); written back to ``path``."""
    results = load_results(path)
    for other in others:
        results["records"].update(load_results(Path(other))["records"])
    save_results(path, results)
    return results
