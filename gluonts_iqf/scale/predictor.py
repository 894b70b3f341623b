"""Loading a saved predictor with its run record, and reading the series
it is to forecast: with the frequency it was trained on, and with the
covariates it takes known over its horizon."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from ..datasets.base import DataError, period_freq

#: Marker file written next to the serialized predictor (frequency, horizon,
#: model, levels and dataset of the run that trained it).
PREDICTOR_INFO = "gluonts_iqf.json"


class PredictorError(ValueError):
    """A predictor folder that is missing, not a saved predictor or
    unreadable; the message is one line naming the folder."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


def load_predictor(path: Union[str, Path], device: str = "cpu") -> Tuple[Any, Dict[str, Any]]:
    """A predictor saved with GluonTS's ``Predictor.serialize`` (e.g. by
    ``gluonts-iqf backtest``) on ``device``, and its :data:`PREDICTOR_INFO`
    record (empty when absent); :class:`PredictorError` when the folder is
    missing, not a saved predictor or unreadable."""
    from gluonts.model.predictor import Predictor

    p = Path(path).expanduser()
    if not p.exists():
        raise PredictorError(f"predictor folder not found: {p}")
    if not p.is_dir() or not (p / "gluonts-config.json").is_file() and not (p / "type.txt").is_file():
        raise PredictorError(
            f"{p} is not a saved predictor (no gluonts-config.json); give the predictor/ "
            "folder written by 'gluonts-iqf backtest'"
        )
    try:
        predictor = Predictor.deserialize(p, device=device)
    except Exception as exc:
        raise PredictorError(f"cannot load the predictor in {p}: {type(exc).__name__}: {exc}") from None
    info: Dict[str, Any] = {}
    if (p / PREDICTOR_INFO).is_file():
        with contextlib.suppress(Exception):
            info = json.loads((p / PREDICTOR_INFO).read_text())
    return predictor, info


def check_frequency(entries: List[Dict[str, Any]], trained: Optional[str], explicit: bool) -> None:
    """DataError when the series' frequency (``entries[0]["start"]``) is
    not ``trained``, the predictor's (None: unknown, nothing to check);
    ``explicit``: the frequency was given, not inferred (the message then
    does not suggest passing it)."""
    if not trained or not entries:
        return
    got = entries[0]["start"].freqstr
    if period_freq(got) != period_freq(trained):
        raise DataError(
            f"the input's frequency {got!r} differs from the predictor's {trained!r}"
            + ("" if explicit else f"; pass --freq {trained} to place the timestamps on its grid")
        )


def series_to_forecast(
    source: Any, prediction_length: int, trained_freq: Optional[str], *, item_id: str = "item_id",
    timestamp: str = "timestamp", target: str = "target", covariates: Sequence[str] = (),
    freq: Optional[str] = None,
) -> List[Dict[str, Any]]:
    """Entries of the long table ``source`` (a file or a DataFrame, as
    :func:`~gluonts_iqf.datasets.load_long_frame` reads it) for a
    predictor of horizon ``prediction_length``: covariates are known in
    advance, so with any, each series' last ``prediction_length`` rows are
    its horizon (``future_rows``); the frequency is checked against
    ``trained_freq`` (:func:`check_frequency`). DataError for bad input."""
    from ..datasets.frames import load_long_frame

    covariates = list(covariates)
    entries = load_long_frame(
        source, item_id=item_id, timestamp=timestamp, target=target, freq=freq, covariates=covariates,
        min_length=1, future_rows=prediction_length if covariates else 0,
    )
    check_frequency(entries, trained_freq, explicit=freq is not None)
    return entries
