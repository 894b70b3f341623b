"""Output locations: check an output folder or file before any work, write
a folder's content into a staging sibling that is renamed into place at the
end (a failed run leaves nothing behind), and write tables atomically."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Optional, Sequence

from ..scale.output import make_staging_dir as _make_staging_dir
from ..scale.output import publish_dir  # noqa: F401  (the CLI's name for it)
from .errors import CLIError


def check_output_dir(path: str, overwrite: bool) -> Path:
    """Absolute output folder; :class:`CLIError` when it exists (without
    ``overwrite``), is not a folder, or its parent is missing or read-only."""
    out = Path(path).expanduser().absolute()
    if out.exists() or out.is_symlink():
        if not out.is_dir():
            raise CLIError(f"output path {out} exists and is not a folder")
        if not overwrite:
            raise CLIError(f"output folder {out} already exists; pass --overwrite to replace it")
    parent = out.parent
    if not parent.is_dir():
        raise CLIError(f"cannot write output folder {out}: parent folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise CLIError(f"cannot write output folder {out}: {parent} is not writable")
    return out


def make_staging_dir(out: Path) -> Path:
    """:func:`gluonts_iqf.scale.output.make_staging_dir`, with a
    :class:`CLIError` when the folder cannot be made."""
    try:
        return _make_staging_dir(out)
    except OSError as exc:
        raise CLIError(f"cannot write output folder {out}: {exc.strerror or exc}") from None


def check_output_file(path: Optional[str], overwrite: bool, suffixes: Sequence[str]) -> Optional[Path]:
    """Absolute output file (None for None); :class:`CLIError` for a wrong
    extension, an existing file (without ``overwrite``) or folder, or a
    missing or read-only folder."""
    if path is None:
        return None
    out = Path(path).expanduser().absolute()
    if not any(out.name.lower().endswith(s) for s in suffixes):
        raise CLIError(f"output file {out.name!r}: use one of the extensions {', '.join(suffixes)}")
    if out.exists():
        if out.is_dir():
            raise CLIError(f"output path {out} is a folder, expected a file")
        if not overwrite:
            raise CLIError(f"output file {out} already exists; pass --overwrite to replace it")
    if not out.parent.is_dir():
        raise CLIError(f"cannot write {out}: folder {out.parent} does not exist")
    if not os.access(out.parent, os.W_OK | os.X_OK):
        raise CLIError(f"cannot write {out}: {out.parent} is not writable")
    return out


def write_frame(frame, path: Path, parquet: bool) -> None:
    """A DataFrame as Parquet or CSV, without its index."""
    if parquet:
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)


def write_frame_atomic(frame, out: Path) -> None:
    """Write to a hidden temporary sibling, then rename onto ``out`` (Parquet
    for ``.parquet``/``.pq``, else CSV); nothing is left on failure."""
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.partial-", dir=out.parent)
    os.close(fd)
    try:
        write_frame(frame, Path(tmp), parquet=out.name.lower().endswith((".parquet", ".pq")))
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
