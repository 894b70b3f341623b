"""GluonTS JSON-lines folders (``FileDataset``'s format: one JSON object
per line with ``start``, ``target`` and optional features) -> entries like
the benchmark recipes', with the frequency read from a ``metadata.json``
when not given.

Bad input raises :class:`~gluonts_iqf.datasets.base.DataError` naming the
file, line and item.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np

from .base import DataError, Entry, PathLike, has_suffix, listing, period, period_freq

#: File suffixes :func:`load_jsonl_dir` reads (one JSON object per line).
JSONL_SUFFIXES: Tuple[str, ...] = (".json", ".jsonl", ".json.gz", ".jsonl.gz")


def read_metadata(path: Path) -> Optional[Dict[str, Any]]:
    """The GluonTS ``metadata.json`` next to or above a JSON-lines folder or
    file (``metadata/metadata.json`` and the parent's too, GluonTS's layout),
    as a dict; None when there is none."""
    base = path if path.is_dir() else path.parent
    for cand in (
        base / "metadata.json",
        base / "metadata" / "metadata.json",
        base.parent / "metadata.json",
        base.parent / "metadata" / "metadata.json",
    ):
        if cand.is_file():
            try:
                meta = json.loads(cand.read_text())
            except Exception as exc:
                raise DataError(f"cannot read {cand}: {exc}") from None
            if not isinstance(meta, dict):
                raise DataError(f"{cand} does not hold a JSON object")
            return meta
    return None


def _jsonl_files(path: Path) -> List[Path]:
    """The JSON-lines files of a folder in name order (hidden, ``_*`` and
    ``metadata.json`` skipped), or the file itself."""
    if path.is_file():
        return [path]
    return sorted(
        p
        for p in path.iterdir()
        if p.is_file()
        and not p.name.startswith((".", "_"))
        and has_suffix(p, JSONL_SUFFIXES)
        and p.name != "metadata.json"
    )


def load_jsonl_dir(
    path: PathLike,
    freq: Optional[str] = None,
    min_length: int = 1,
) -> List[Entry]:
    """Series from a GluonTS JSON-lines folder (or one such file).

    Every ``*.json``, ``*.jsonl``, ``*.json.gz`` file (name order; hidden
    files, ``_*`` and ``metadata.json`` skipped) holds one JSON object per
    line, as GluonTS's ``FileDataset`` reads: ``start``, ``target``
    (``null``/``"NaN"`` for missing) and optionally ``item_id``,
    ``feat_static_cat``, ``feat_static_real``, ``feat_dynamic_real``,
    ``past_feat_dynamic_real``.

    ``freq`` defaults to the ``freq`` of a ``metadata.json`` in the folder
    (or ``metadata/metadata.json``, or the parent's, GluonTS's layout).
    Entries without ``item_id`` get their running index as a string.
    Raises :class:`DataError` naming the file, line and item of bad input.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(f"file or directory not found: {p}")
    if freq is None:
        meta = read_metadata(p)
        freq = None if meta is None else meta.get("freq")
        if not freq:
            raise DataError(
                f"no frequency for {p}: add a metadata.json with \"freq\" or "
                "pass the frequency explicitly"
            )
    pfreq = period_freq(str(freq))
    files = _jsonl_files(p)
    if not files:
        raise DataError(
            f"no JSON-lines files ({', '.join(JSONL_SUFFIXES)}) in {p}"
        )
    entries: List[Entry] = []
    for f in files:
        for lineno, rec in _records(f):
            item = str(rec["item_id"]) if rec.get("item_id") is not None else str(len(entries))
            entries.append(_record_entry(rec, item, pfreq, min_length, f"{f.name} line {lineno}"))
    if not entries:
        raise DataError(f"no series in {p}")
    return entries


def _records(path: Path) -> Iterator[Tuple[int, Dict[str, Any]]]:
    """(line number, JSON object) of each non-blank line of ``path``."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as fh:  # type: ignore[operator]
            lines = fh.read().splitlines()
    except Exception as exc:
        raise DataError(f"cannot read {path}: {type(exc).__name__}: {exc}") from None
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path.name} line {lineno}"
        try:
            rec = json.loads(line)
        except ValueError as exc:
            raise DataError(f"{where}: invalid JSON ({exc})") from None
        if not isinstance(rec, dict):
            raise DataError(f"{where}: expected a JSON object")
        yield lineno, rec


#: Optional fields of a record: (name, dtype, number of dimensions).
_FEATURES: Tuple[Tuple[str, Any, int], ...] = (
    ("feat_static_cat", np.int32, 1),
    ("feat_static_real", np.float32, 1),
    ("feat_dynamic_real", np.float32, 2),
    ("past_feat_dynamic_real", np.float32, 2),
)


def _record_entry(
    rec: Dict[str, Any], item: str, pfreq: str, min_length: int, origin: str
) -> Entry:
    """One JSON record -> an entry; ``origin`` (``"<file> line <n>"``) and
    ``item`` name the record in error messages."""
    where = f"{origin} (item {item!r})"
    for key in ("start", "target"):
        if key not in rec:
            raise DataError(
                f"{where}: missing field {key!r}; fields present: "
                f"{listing(sorted(rec))}"
            )
    try:
        start = period(rec["start"], pfreq)
    except Exception:
        raise DataError(f"{where}: unparsable start {rec['start']!r}") from None
    try:
        y = np.array(
            [np.nan if v is None else v for v in rec["target"]],
            dtype=np.float32,
        )
    except (TypeError, ValueError):
        raise DataError(f"{where}: target is not a list of numbers") from None
    if y.ndim != 1:
        raise DataError(
            f"{where}: target has shape {y.shape}; only univariate "
            "(1-D) targets are supported"
        )
    if len(y) < min_length:
        raise DataError(
            f"item {item!r}: series has {len(y)} time step(s), fewer "
            f"than the required minimum of {min_length} ({origin})"
        )
    entry: Entry = {"start": start, "target": y, "item_id": item}
    for key, dtype, ndim in _FEATURES:
        if rec.get(key) is None:
            continue
        try:
            arr = np.array(
                rec[key] if dtype is np.int32 else _none_to_nan(rec[key]),
                dtype=dtype,
            )
        except (TypeError, ValueError):
            raise DataError(f"{where}: field {key!r} is not numeric") from None
        if arr.ndim == 1 and ndim == 2:
            arr = arr.reshape(1, -1)
        if arr.ndim != ndim:
            raise DataError(f"{where}: field {key!r} must be {ndim}-D")
        if dtype is np.float32 and np.isnan(arr).any():
            raise DataError(f"item {item!r}: NaN in covariate {key!r} ({origin})")
        entry[key] = arr
    return entry


def _none_to_nan(value: Any) -> Any:
    """JSON ``null`` -> NaN, in nested lists too."""
    if isinstance(value, list):
        return [_none_to_nan(v) for v in value]
    return np.nan if value is None else value
