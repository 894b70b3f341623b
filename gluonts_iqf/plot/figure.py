"""Figure helpers shared by the plots: path checks, figure creation, PNG
saving (temporary file renamed into place), closing, the draw-then-save
wrapper :func:`_finish`, interval labels and period-to-timestamp axes."""

from __future__ import annotations

import os
import uuid
from typing import Any, Optional

import pandas as pd

#: Resolution of PNG files written with ``path=``.
DPI = 120


def _check_path(path) -> Optional[str]:
    if path is None:
        return None
    path = os.fspath(path)
    if os.path.splitext(path)[1].lower() != ".png":
        raise ValueError(f"path must name a .png file, got {path!r}")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise ValueError(f"directory of path does not exist: {parent!r}")
    return path


def _new_figure(figsize, ncols: int = 1, **kwargs):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        1, ncols, figsize=figsize, layout="constrained", **kwargs
    )
    return fig, axes


def _close(fig) -> None:
    import matplotlib.pyplot as plt

    plt.close(fig)


def _save(fig, path: Optional[str]) -> None:
    """Write ``fig`` to ``path`` as PNG via a temporary file in the same
    directory (renamed into place, so no partial file survives an error),
    then close it. The file gets the usual umask-based permissions."""
    if path is None:
        return
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(
        directory, f".{os.path.basename(path)}.{uuid.uuid4().hex}.tmp"
    )
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as fh:
            fig.savefig(fh, format="png", dpi=DPI)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _close(fig)


def _finish(fig, created: bool, path: Optional[str], draw) -> Any:
    """Run ``draw()``; on failure close a figure we created; then save."""
    try:
        draw()
        _save(fig, path)
    except BaseException:
        if created:
            _close(fig)
        raise
    return fig


def _level_label(level: float) -> str:
    return f"{100 * level:.4g}% interval"


def _as_time(index: pd.PeriodIndex) -> pd.DatetimeIndex:
    return index.to_timestamp(how="start")
