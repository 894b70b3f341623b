"""``gluonts-iqf forecast``: quantile forecasts of a saved predictor for the
series of a CSV/Parquet file, and the pieces the other commands share (the
forecast table, loading a saved predictor and the user's series)."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .errors import EXIT_OK, CLIError
from .parser import parse_levels
from .runtime import configure_threads, console, progress, quiet_libraries, tracked
from .staging import check_output_file, write_frame_atomic

#: Marker file written next to the serialized predictor (frequency, horizon,
#: model, levels and dataset of the run that trained it).
PREDICTOR_INFO = "gluonts_iqf.json"


def level_name(level: float) -> str:
    """Column name of a quantile level: ``"0.05"``, ``"0.5"``, ... (at most
    6 significant digits for long decimals)."""
    return repr(float(level)) if len(repr(float(level))) < 12 else f"{level:.6g}"


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
    shape (H,), are given), ``mean`` and one column per level."""
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
    from gluonts.model.predictor import Predictor

    p = Path(path).expanduser()
    if not p.exists():
        raise CLIError(f"predictor folder not found: {p}")
    if not p.is_dir() or not (p / "gluonts-config.json").is_file() and not (p / "type.txt").is_file():
        raise CLIError(
            f"{p} is not a saved predictor (no gluonts-config.json); give the predictor/ "
            "folder written by 'gluonts-iqf backtest'"
        )
    try:
        predictor = Predictor.deserialize(p, device=torch_device)
    except Exception as exc:
        raise CLIError(f"cannot load the predictor in {p}: {type(exc).__name__}: {exc}") from None
    info: Dict[str, Any] = {}
    if (p / PREDICTOR_INFO).is_file():
        with contextlib.suppress(Exception):
            info = json.loads((p / PREDICTOR_INFO).read_text())
    return predictor, info


def load_user_series(args, info: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Series of ``--input``; DataError when their frequency is not the
    predictor's (``info["freq"]``)."""
    from ..datasets import DataError, load_long_frame
    from ..datasets.base import period_freq

    entries = load_long_frame(
        args.input, item_id=args.item_id, timestamp=args.timestamp, target=args.target,
        freq=args.freq, min_length=1,
    )
    trained = info.get("freq")
    if trained:
        got = entries[0]["start"].freqstr
        if period_freq(got) != period_freq(trained):
            raise DataError(
                f"the input's frequency {got!r} differs from the predictor's {trained!r}"
                + ("" if args.freq else f"; pass --freq {trained} to place the timestamps on its grid")
            )
    return entries


def cmd_forecast(args) -> int:
    """Forecast every series of ``--input``; the table goes to ``--output``
    or to stdout as CSV."""
    levels = parse_levels(args.levels)
    out: Optional[Path] = check_output_file(args.output, args.overwrite, (".csv", ".parquet", ".pq"))
    quiet_libraries()
    configure_threads(args.threads)
    predictor, info = load_predictor(args.predictor, "cpu")
    entries = load_user_series(args, info)
    with progress(len(entries), "forecasting series", not args.quiet and out is not None) as advance:
        forecasts = list(tracked(predictor.predict(entries), advance))
    frame = forecast_frame(forecasts, levels)
    if out is None:
        frame.to_csv(sys.stdout, index=False)
    else:
        write_frame_atomic(frame, out)
        console().print(f"wrote {len(frame)} rows ({len(forecasts)} series x "
                        f"{predictor.prediction_length} steps) to {out}")
    return EXIT_OK
