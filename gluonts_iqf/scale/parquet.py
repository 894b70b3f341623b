"""Parquet input of batch forecasting: the files of a source, read tasks
over their row groups, and the reading of one task's rows when the input is
grouped by item (no shuffle needed).

A *piece* is consecutive row groups of one file, about ``rows_per_piece``
rows, found from the files' metadata alone (:func:`parquet_pieces`).

*Grouped input* (:func:`read_grouped_piece`): every item's rows are
consecutive, in one file (a file written sorted or grouped by item, e.g.
Spark's ``repartition(item).sortWithinPartitions(item)``, or one file per
item or per store). Then each piece can be forecast on its own: a piece
owns the items whose first row lies in it, reads on into the next row
groups to complete its last item, and leaves to the previous piece the
rows of the item that began there. Each piece checks that its items' rows
are consecutive (:func:`check_consecutive`); that no item is in two files
cannot be checked without an exchange of all item ids, so it is the
caller's promise.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple, Union

import numpy as np
import pandas as pd

from ..datasets.base import DataError, listing

#: Parquet file suffixes read from a folder.
PARQUET_SUFFIXES = (".parquet", ".pq")


def parquet_files(source: Union[str, os.PathLike]) -> List[Path]:
    """The Parquet files of ``source``: a file, a folder (its ``*.parquet``
    / ``*.pq`` files, recursively) or a glob pattern, sorted; DataError
    when there are none."""
    text = os.fspath(source)
    p = Path(text).expanduser()
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.is_file() and f.name.lower().endswith(PARQUET_SUFFIXES)
                       and not any(part.startswith((".", "_")) for part in f.relative_to(p).parts))
        if not files:
            raise DataError(f"no Parquet files (*.parquet, *.pq) in folder {p}")
        return files
    if glob.has_magic(text):
        files = sorted(Path(f) for f in glob.glob(os.path.expanduser(text), recursive=True) if Path(f).is_file())
        if not files:
            raise DataError(f"no files match {text!r}")
        return files
    if not p.exists():
        raise DataError(f"file not found: {p}")
    return [p]


def parquet_pieces(files: Sequence[Path], columns: Sequence[Tuple[str, str]], rows_per_piece: int) -> List[Dict[str, Any]]:
    """Read tasks over ``files``: consecutive row groups of one file, about
    ``rows_per_piece`` rows each, as ``{"file", "row_groups", "rows"}``
    (from the files' metadata; nothing is read). DataError naming the first
    file that is unreadable or lacks one of ``columns`` ((role, column);
    the available ones are listed), or when there are no rows at all."""
    import pyarrow.parquet as pq

    pieces: List[Dict[str, Any]] = []
    for f in files:
        try:
            meta = pq.ParquetFile(f)
        except Exception as exc:
            raise DataError(f"file {f}: cannot read it as Parquet ({type(exc).__name__}: {exc})") from None
        names = meta.schema_arrow.names
        for role, col in columns:
            if col not in names:
                raise DataError(
                    f"file {f}: missing {role} column {col!r}; available columns: {listing(names)}"
                )
        groups: List[int] = []
        rows = 0
        for k in range(meta.metadata.num_row_groups):
            n = meta.metadata.row_group(k).num_rows
            if groups and rows + n > rows_per_piece:
                pieces.append({"file": str(f), "row_groups": groups, "rows": rows})
                groups, rows = [], 0
            if n:
                groups.append(k)
                rows += n
        if groups:
            pieces.append({"file": str(f), "row_groups": groups, "rows": rows})
    if not pieces:
        raise DataError(f"the input has no data rows ({len(files)} file(s), first {files[0]})")
    return pieces


def leading_run(ids: Any, value: Any) -> int:
    """How many of the first elements of the Arrow array ``ids`` equal
    ``value`` (an Arrow scalar; nulls never equal). Compares a head that
    grows 16-fold while it is all equal: an item's run is short next to a
    row group."""
    import pyarrow.compute as pc

    n = len(ids)
    if n == 0 or not value.is_valid:
        return 0
    size = 64
    while True:
        head = ids.slice(0, min(size, n))
        same = pc.fill_null(pc.equal(head, value), False).to_numpy(zero_copy_only=False)
        if not same.all():
            return int(np.argmin(same))
        if len(head) == n:
            return n
        size *= 16


def read_grouped_piece(path: Union[str, os.PathLike], row_groups: Sequence[int], columns: Sequence[str],
                       item_id: str) -> pd.DataFrame:
    """The rows of the items a piece owns, for grouped input (module
    docstring): the rows of row groups ``row_groups`` (consecutive) of
    ``path``, without the leading rows of the item that the row groups
    before began, plus the rows in the row groups after that complete the
    piece's last item. Over all pieces of a grouped file, every row is read
    once and every item by one piece. Only the item id column of the row
    groups next to the piece is read to find the edges.

    DataError naming the file and the item when the items' rows in
    ``row_groups`` are not consecutive (:func:`check_consecutive`): an
    input sorted by time, or in no order, stops here. The check sees one
    piece: an item whose runs fall in two pieces without another item of
    the same piece between them goes undetected."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    f = pq.ParquetFile(path)
    groups = list(row_groups)
    table = f.read_row_groups(groups, columns=list(columns))
    ids = table.column(item_id)
    check_consecutive(ids, f"file {path} (row groups {groups[0]}-{groups[-1]})")
    start = 0
    for k in range(groups[0] - 1, -1, -1):  # the last row before the piece (empty row groups skipped)
        before = f.read_row_group(k, columns=[item_id]).column(0)
        if len(before):
            start = leading_run(ids, before[-1])
            break
    parts = [table.slice(start)]
    if table.num_rows > start:  # the piece begins an item: complete its last one
        last = ids[-1]
        for k in range(groups[-1] + 1, f.metadata.num_row_groups):
            after = f.read_row_group(k, columns=[item_id]).column(0)
            n = leading_run(after, last)
            if n:
                parts.append(f.read_row_group(k, columns=list(columns)).slice(0, n))
            if n < len(after):
                break
    return pa.concat_tables(parts).to_pandas()


def check_consecutive(ids: Any, where: str) -> None:
    """DataError naming ``where`` and the first item whose rows in ``ids``
    (an Arrow array or chunked array of item ids in row order) are not
    consecutive: the input is then not grouped by item. Nulls are left to
    the frame's own checks (they name them)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks()
    ids = ids.drop_null()
    if len(ids) < 3:
        return
    runs = 1 + pc.sum(pc.not_equal(ids[1:], ids[:-1])).as_py()
    if runs == pc.count_distinct(ids).as_py():
        return
    codes, names = pd.factorize(ids.to_numpy(zero_copy_only=False), sort=False)
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    s = starts[np.argmax(pd.Series(codes[starts]).duplicated().to_numpy())]  # a second run's first row
    raise DataError(
        f"{where}: the rows of item {str(names[codes[s]])!r} are not consecutive (row {s} of the piece "
        f"starts a second run of them): grouped input needs each item's rows together in one file; sort "
        f"the files by item, or run without grouped input (a shuffle groups the rows)"
    )
