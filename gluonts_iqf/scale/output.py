"""Writing forecast tables so that a failed run leaves nothing in place: a
file is written to a hidden sibling and renamed onto its name at the end; a
folder is filled as a hidden sibling folder and renamed at the end."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

import pandas as pd

#: Rows per Parquet row group when tables are streamed into one file.
ROW_GROUP_ROWS = 262_144


def write_tables(tables: Iterable[pd.DataFrame], out: Path) -> int:
    """Write the concatenation of ``tables`` (same columns and dtypes) to
    ``out``; returns the number of rows.

    Parquet (``.parquet``/``.pq``) is streamed: tables are gathered into
    row groups of about :data:`ROW_GROUP_ROWS` rows, so memory holds one row
    group, not the whole output. CSV is concatenated and written in one
    ``to_csv`` call, so its text (e.g. dates written without a time when
    every timestamp is midnight) is what one table gives. Either way the
    file goes to a hidden sibling renamed onto ``out`` at the end; on any
    error it is removed and ``out`` is untouched."""
    parquet = out.name.lower().endswith((".parquet", ".pq"))
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.partial-", dir=out.parent)
    os.close(fd)
    rows = 0
    try:
        if parquet:
            writer = None
            pending, pending_rows = [], 0
            for table in tables:
                pending.append(table)
                pending_rows += len(table)
                if pending_rows >= ROW_GROUP_ROWS:
                    writer = _write_group(writer, pending, tmp)
                    rows += pending_rows
                    pending, pending_rows = [], 0
            if pending or writer is None:
                writer = _write_group(writer, pending, tmp)
                rows += pending_rows
            writer.close()
        else:
            frame = pd.concat(list(tables), ignore_index=True)
            frame.to_csv(tmp, index=False)
            rows = len(frame)
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return rows


def _write_group(writer, frames, path: str):
    """Append ``frames`` as one row group (opening the writer with their
    schema on the first call); returns the writer."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not frames:
        raise ValueError("no forecast tables to write")
    table = pa.Table.from_pandas(pd.concat(frames, ignore_index=True), preserve_index=False)
    if writer is None:
        writer = pq.ParquetWriter(path, table.schema)
    writer.write_table(table, row_group_size=max(len(table), 1))
    return writer


@contextlib.contextmanager
def staged_folder(out: Path, overwrite: bool) -> Iterator[Path]:
    """A fresh hidden sibling of ``out`` to write into; renamed onto
    ``out`` when the block ends without error (replacing an existing
    ``out`` only with ``overwrite``), removed when it raises.

    Raises ``FileExistsError`` before anything is written when ``out``
    exists and not ``overwrite``, ``NotADirectoryError`` when it is a file,
    ``FileNotFoundError`` when its parent folder is missing."""
    out = Path(out).expanduser().absolute()
    if out.exists():
        if not out.is_dir():
            raise NotADirectoryError(f"output path {out} exists and is not a folder")
        if not overwrite:
            raise FileExistsError(f"output folder {out} already exists; pass overwrite=True (--overwrite) to replace it")
    if not out.parent.is_dir():
        raise FileNotFoundError(f"cannot write output folder {out}: parent folder {out.parent} does not exist")
    staging = make_staging_dir(out)
    try:
        yield staging
        publish_dir(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def make_staging_dir(out: Path) -> Path:
    """A fresh hidden sibling of ``out`` to write into, with the permissions
    ``mkdir`` would give ``out`` (``mkdtemp`` makes it private, 0700)."""
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    with contextlib.suppress(OSError):
        os.chmod(staging, 0o777 & ~umask)
    return staging


def publish_dir(staging: Path, out: Path) -> None:
    """Rename ``staging`` onto ``out``; an existing ``out`` is moved aside
    first and put back if the rename fails."""
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        os.rename(out, old / "x")
    try:
        os.rename(staging, out)
    except OSError:
        if old is not None:
            os.rename(old / "x", out)
            shutil.rmtree(old, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
