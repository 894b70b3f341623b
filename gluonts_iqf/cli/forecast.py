"""``gluonts-iqf forecast``: quantile forecasts of a saved predictor for the
series of a CSV/Parquet file, and the pieces the other commands share (the
forecast table, loading a saved predictor and the user's series).

The work is done by :mod:`gluonts_iqf.scale`: ``--engine local`` (default)
runs the predictor batch by batch in this process
(:func:`~gluonts_iqf.scale.forecast_tables`), ``--engine ray`` on an actor
pool of Ray Data (:func:`~gluonts_iqf.scale.forecast_with_ray`). Both write
the table of :func:`forecast_frame` (same columns, same numbers).
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..scale.batch import level_name
from ..scale.predictor import PREDICTOR_INFO
from .errors import EXIT_OK, CLIError
from .parser import parse_levels
from .runtime import configure_threads, console, progress, quiet_libraries
from .staging import check_output_dir, check_output_file

__all__ = ["PREDICTOR_INFO", "level_name", "forecast_frame", "load_predictor", "load_user_series", "cmd_forecast"]


def _forecast_quantiles(forecast, levels: Sequence[float]):
    """Quantiles of one forecast, shape (len(levels), H), non-decreasing
    down each column."""
    import numpy as np

    from ..metrics import forecast_quantiles

    q = np.asarray(forecast_quantiles(forecast, list(levels)), dtype=np.float64)
    # enforce the documented non-decreasing rows for forecasts of other
    # models (ours are monotone by construction: a no-op)
    return np.maximum.accumulate(q, axis=0)


def forecast_frame(forecasts, levels: Sequence[float], targets=None):
    """Long table, one row per (item_id, timestamp): ``item_id``,
    ``timestamp``, ``step`` (1..H), ``target`` (when ``targets``, each
    shape (H,), are given), ``mean`` and one column per level.

    Per forecast object (one DataFrame each): for forecasts already made
    (``backtest`` keeps them for its metrics and plots). To forecast many
    series, :func:`gluonts_iqf.scale.forecast_tables` gives the same table
    batch by batch without per-series objects."""
    import numpy as np
    import pandas as pd

    frames = []
    for k, f in enumerate(forecasts):
        H = f.prediction_length
        q = _forecast_quantiles(f, levels)
        data: Dict[str, Any] = {
            "item_id": [str(f.item_id) if f.item_id is not None else str(k)] * H,
            "timestamp": f.index.to_timestamp(),
            "step": np.arange(1, H + 1),
        }
        if targets is not None:
            data["target"] = np.asarray(targets[k], dtype=np.float64)
        data["mean"] = np.asarray(f.mean, dtype=np.float64)
        for j, a in enumerate(levels):
            data[level_name(a)] = q[j]
        frames.append(pd.DataFrame(data))
    return pd.concat(frames, ignore_index=True)


def load_predictor(path: str, torch_device: str) -> Tuple[Any, Dict[str, Any]]:
    """A predictor saved by ``gluonts-iqf backtest`` and its
    :data:`PREDICTOR_INFO` (empty when absent); :class:`CLIError` when the
    folder is missing, not a saved predictor or unreadable."""
    from ..scale.predictor import PredictorError
    from ..scale.predictor import load_predictor as load

    try:
        return load(path, torch_device)
    except PredictorError as exc:
        raise CLIError(str(exc)) from None


def covariate_columns(args) -> List[str]:
    """The columns of ``--covariates`` (none when the option is absent)."""
    text = getattr(args, "covariates", None) or ""
    return [c.strip() for c in text.split(",") if c.strip()]


def load_user_series(args, info: Dict[str, Any], prediction_length: int) -> List[Dict[str, Any]]:
    """Series of ``--input`` for a predictor of horizon
    ``prediction_length``
    (:func:`~gluonts_iqf.scale.predictor.series_to_forecast`): DataError
    when their frequency is not the predictor's (``info["freq"]``); with
    ``--covariates``, each series' last ``prediction_length`` rows are its
    forecast horizon (covariates only)."""
    from ..scale.predictor import series_to_forecast

    return series_to_forecast(
        args.input, prediction_length, info.get("freq"), item_id=args.item_id, timestamp=args.timestamp,
        target=args.target, covariates=covariate_columns(args), freq=args.freq or None,
    )


def cmd_forecast(args) -> int:
    """Forecast every series of ``--input``; the table goes to ``--output``
    or to stdout as CSV (``--engine ray``: a folder of Parquet files)."""
    levels = parse_levels(args.levels)
    if getattr(args, "engine", "local") == "ray":
        return _forecast_on_ray(args, levels)
    for flag, given in (("--num-workers", getattr(args, "num_workers", None) is not None),
                        ("--grouped-input", getattr(args, "grouped_input", False))):
        if given:
            raise CLIError(f"{flag} needs --engine ray (the local engine runs in this process)")
    out: Optional[Path] = check_output_file(args.output, args.overwrite, (".csv", ".parquet", ".pq"))
    quiet_libraries()
    configure_threads(args.threads)
    predictor, info = load_predictor(args.predictor, "cpu")
    entries = load_user_series(args, info, predictor.prediction_length)
    from ..scale.batch import forecast_tables
    from ..scale.output import write_tables

    H = predictor.prediction_length
    with progress(len(entries), "forecasting series", not args.quiet and out is not None) as advance:
        tables = _advancing(forecast_tables(predictor, entries, levels), advance, H)
        if out is None:
            import pandas as pd

            pd.concat(list(tables), ignore_index=True).to_csv(sys.stdout, index=False)
            return EXIT_OK
        rows = write_tables(tables, out)
    console().print(f"wrote {rows} rows ({len(entries)} series x {H} steps) to {out}")
    return EXIT_OK


def _advancing(tables, advance, horizon: int):
    """``tables``, advancing the progress bar by each table's series."""
    for table in tables:
        yield table
        if advance is not None:
            advance(len(table) // horizon)


@contextlib.contextmanager
def _quiet_stderr(enabled: bool):
    """Send file descriptor 2 to /dev/null while Ray runs: Ray's processes
    and its C++ core log straight to it (bypassing Python's logging), and
    the command's errors are one line printed after the run."""
    if not enabled:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _forecast_on_ray(args, levels: Sequence[float]) -> int:
    """``--engine ray``: :func:`gluonts_iqf.scale.forecast_with_ray` into
    the folder ``--output``."""
    from ..scale.predictor import PredictorError
    from ..scale.ray_engine import forecast_with_ray, import_ray

    if args.output is None:
        raise CLIError("--engine ray writes a folder of Parquet files: give it with --output DIR")
    if str(args.input).lower().endswith((".csv", ".csv.gz", ".csv.bz2", ".csv.zip", ".csv.xz")):
        raise CLIError(f"--engine ray reads Parquet files, got {args.input}; use --engine local for CSV")
    out = check_output_dir(args.output, args.overwrite)
    quiet_libraries()
    try:
        import_ray()
    except ImportError as exc:
        raise CLIError(str(exc)) from None
    verbose = bool(os.environ.get("GLUONTS_IQF_DEBUG"))
    try:
        with _quiet_stderr(not verbose):
            summary = forecast_with_ray(
                args.predictor, args.input, out, levels, item_id=args.item_id, timestamp=args.timestamp,
                target=args.target, covariates=covariate_columns(args), freq=args.freq,
                num_workers=args.num_workers or 2,
                threads=args.threads or 1, grouped=getattr(args, "grouped_input", False),
                overwrite=args.overwrite, verbose=verbose,
            )
    except PredictorError as exc:
        raise CLIError(str(exc)) from None
    console().print(f"wrote {summary.rows} rows ({summary.series} series) in {summary.files} Parquet "
                    f"files to {summary.output}")
    return EXIT_OK
