"""The ``gluonts-iqf`` command line.

Three sub-commands::

    gluonts-iqf backtest  [--dataset m4_hourly|NAME|DIR|FILE] [--model mqcnn|deepar-iqf|sff-iqf]
                          [--prediction-length H] [--context-length C] [--epochs N]
                          [--batches-per-epoch B] [--levels 0.05,0.5,0.95] [--seed 0]
                          [--output DIR] [--device cpu|cuda|auto] [--max-series N] [--quiet]
    gluonts-iqf forecast  --predictor DIR --input FILE [--levels 0.5,0.9,0.95] [--output FILE]
    gluonts-iqf tradeoff  --predictor DIR --input FILE --item ID [--levels 0.90:0.99] [--lead-time N]

``backtest`` trains a model on the training part of a dataset, forecasts the
last ``prediction_length`` values of every test series, prints a metrics table
and writes into the output folder (default ``gluonts-iqf-output/``):

``metrics.json``
    metrics, settings, seed, library versions, hardware and wall times.
``forecasts.parquet`` / ``forecasts.csv``
    long format, one row per (series, forecast step): ``item_id``,
    ``timestamp`` (start of the period), ``step`` (1..H), ``target`` (the
    observed value), ``mean`` and one column per quantile level named by the
    level (``"0.05"``, ``"0.5"``, ...). Levels are non-decreasing along a row.
``predictor/``
    the trained GluonTS predictor (``Predictor.deserialize`` reads it back;
    ``gluonts-iqf forecast --predictor`` uses it).
``fan_chart_<k>.png``, ``quantile_function.png``, ``calibration.png``
    plots of :mod:`gluonts_iqf.plot`; ``correlation.png`` (the forecast's
    correlation across horizon steps) for models with joint sample paths
    (``mqf2``, ``deepar-iqf``).

Everything is written into a temporary sibling folder that is renamed into
place at the end, so a failed run leaves no output folder behind. Bad input
(unknown dataset, bad data, bad option values, an existing output folder
without ``--overwrite``) prints one line ``error: <message>`` on stderr and
exits with status 2.

Local data for ``--dataset`` / ``--input``: CSV or Parquet in long format,
one row per (series, timestamp), columns chosen with ``--item-id``,
``--timestamp``, ``--target``; the frequency is inferred unless ``--freq`` is
given (see :func:`gluonts_iqf.datasets.load_long_frame`).
"""

from __future__ import annotations

import time

_T_START = time.perf_counter()

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple  # noqa: E402

__all__ = ["main", "CLIError", "DEFAULTS", "MODELS"]

#: Models ``--model`` accepts.
MODELS: Tuple[str, ...] = ("mqcnn", "mqf2", "deepar-iqf", "sff-iqf")

#: Defaults of ``gluonts-iqf backtest``. Chosen so that the default run
#: (MQ-CNN-IQF on the embedded m4_hourly: 414 series, H = 48) finishes in
#: well under 3 minutes on 2 shared CPU cores including imports, measured:
#: one gradient step (batch 32, context 2H = 96, 8 forks, transformed series
#: cached) costs ~0.03 s of one core, so 30 x 30 steps train in well under a
#: minute. lr 3e-3 instead of MQ-CNN's 1e-3 learns far more in so few steps
#: (with the estimator's cosine decay); more forks per window (24, 48, 96)
#: cost proportionally more without a better backtest here, and MQ-CNN's
#: estimator default of 4 (see ``MQCNNEstimator``) costs ~30 % less per step
#: than 8 at the same benchmark accuracy.
DEFAULTS: Dict[str, Any] = {
    "dataset": "m4_hourly",
    "model": "mqcnn",
    "epochs": 30,
    "batches_per_epoch": 30,
    "batch_size": 32,
    # forecast creation times per window (the encoder window is the
    # estimator's default): MQ-CNN's estimator default, 4; MQF2 8
    "num_forking": {"mqcnn": 4, "mqf2": 8},
    "levels": "0.05,0.1,0.25,0.5,0.75,0.9,0.95",
    "seed": 0,
    "output": "gluonts-iqf-output",
    "device": "cpu",
    "lr": 3e-3,
}

#: Levels of the GluonTS Evaluator's mean weighted quantile loss.
WQL_LEVELS: Tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
#: Levels whose coverage is always reported.
COVERAGE_LEVELS: Tuple[float, ...] = (0.05, 0.5, 0.95)
#: Number of series drawn as fan charts.
NUM_FAN_CHARTS = 4
#: Marker file written next to the serialized predictor.
PREDICTOR_INFO = "gluonts_iqf.json"

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2


class CLIError(Exception):
    """Bad input; reported as one line ``error: <message>``, exit status 2."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


# ---------------------------------------------------------------------- #
# argument parsing
# ---------------------------------------------------------------------- #
class _Parser(argparse.ArgumentParser):
    """argparse that raises :class:`CLIError` (one line) instead of printing
    the usage and exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise CLIError(f"{message} (see '{self.prog} --help')")


def _positive_int(name: str):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{name} must be a positive integer, got {text!r}"
            ) from None
        if value < 1:
            raise argparse.ArgumentTypeError(
                f"{name} must be a positive integer, got {text!r}"
            )
        return value

    parse.__name__ = name
    return parse


def parse_levels(text: str, option: str = "--levels") -> List[float]:
    """``"0.05,0.5,0.95"`` -> sorted distinct floats in (0, 1)."""
    parts = [p.strip() for p in str(text).split(",")]
    if not parts or any(p == "" for p in parts):
        raise CLIError(f"{option}: expected a comma-separated list of levels in (0, 1), got {text!r}")
    levels = []
    for p in parts:
        try:
            value = float(p)
        except ValueError:
            raise CLIError(f"{option}: {p!r} is not a number (levels must lie in (0, 1))") from None
        if not (0.0 < value < 1.0) or math.isnan(value):
            raise CLIError(f"{option}: level {p} is outside (0, 1)")
        levels.append(value)
    if len(set(levels)) != len(levels):
        raise CLIError(f"{option}: repeated level in {text!r}")
    return sorted(levels)


def _level_name(level: float) -> str:
    return repr(float(level)) if len(repr(float(level))) < 12 else f"{level:.6g}"


def _add_data_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("columns of a CSV/Parquet file (long format)")
    g.add_argument("--item-id", default="item_id", metavar="COL",
                   help="column naming the series (default: item_id)")
    g.add_argument("--timestamp", default="timestamp", metavar="COL",
                   help="column of dates/times (default: timestamp)")
    g.add_argument("--target", default="target", metavar="COL",
                   help="column to forecast (default: target)")
    g.add_argument("--freq", default=None,
                   help="pandas frequency (h, D, W, M, ...); default: inferred "
                        "(must agree across series); with --freq gaps become NaN")


def _add_runtime_options(p: argparse.ArgumentParser, device: bool = False) -> None:
    if device:
        p.add_argument("--device", choices=("cpu", "cuda", "auto"), default=DEFAULTS["device"],
                       help="training device: cpu (default), cuda, or auto (cuda if "
                            "available); prediction and evaluation run on the CPU")
    p.add_argument("--threads", type=_positive_int("--threads"), default=None, metavar="N",
                   help="torch CPU threads (default: $OMP_NUM_THREADS if set, "
                        "else half the usable cores, at most 4, at least 1)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="gluonts-iqf",
        description="Crossing-free quantile-function forecasting (GluonTS plugin).",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"gluonts-iqf {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    b = sub.add_parser(
        "backtest",
        help="train a model, backtest it, write metrics, forecasts, predictor and plots",
        description=(
            "Train on the training part of a dataset, forecast the last "
            "prediction_length values of each test series, print the metrics "
            "and write metrics.json, forecasts.{parquet,csv}, predictor/ and "
            "PNG plots to the output folder. With no arguments: MQ-CNN-IQF on "
            "the embedded m4_hourly."
        ),
    )
    b.add_argument("--dataset", default=DEFAULTS["dataset"], metavar="NAME|DIR|FILE",
                   help="embedded/known dataset name (default m4_hourly; others need "
                        "--data-dir), a GluonTS dataset folder, a JSON-lines folder, "
                        "or a CSV/Parquet file in long format")
    b.add_argument("--data-dir", default=None, metavar="DIR",
                   help="folder holding the raw benchmark files of known datasets "
                        "(default $GLUONTS_IQF_DATA_DIR, else ../shared/data/raw)")
    _add_data_options(b)
    b.add_argument("--model", default=DEFAULTS["model"], metavar="MODEL",
                   help=f"one of {', '.join(MODELS)} (default mqcnn)")
    b.add_argument("--prediction-length", type=_positive_int("--prediction-length"), default=None, metavar="H",
                   help="forecast horizon H (default: the dataset's; required for files)")
    b.add_argument("--context-length", type=_positive_int("--context-length"), default=None, metavar="C",
                   help="encoder window (default: max(2*H, 5 seasons) for mqcnn, 2*H for "
                        "mqf2, GluonTS's default for deepar-iqf (H) and sff-iqf (10*H))")
    b.add_argument("--num-forking", type=_positive_int("--num-forking"), default=None, metavar="F",
                   help=f"mqcnn/mqf2 forecast creation times per window (default "
                        f"min({DEFAULTS['num_forking']['mqcnn']}, context length) for mqcnn, "
                        f"min({DEFAULTS['num_forking']['mqf2']}, context length) for mqf2)")
    b.add_argument("--epochs", type=_positive_int("--epochs"), default=DEFAULTS["epochs"], metavar="N",
                   help=f"training epochs (default {DEFAULTS['epochs']})")
    b.add_argument("--batches-per-epoch", type=_positive_int("--batches-per-epoch"),
                   default=DEFAULTS["batches_per_epoch"], metavar="B",
                   help=f"gradient steps per epoch (default {DEFAULTS['batches_per_epoch']})")
    b.add_argument("--batch-size", type=_positive_int("--batch-size"), default=DEFAULTS["batch_size"], metavar="N",
                   help=f"training batch size (default {DEFAULTS['batch_size']})")
    b.add_argument("--lr", type=float, default=DEFAULTS["lr"],
                   help=f"Adam learning rate (default {DEFAULTS['lr']})")
    b.add_argument("--levels", default=DEFAULTS["levels"],
                   help=f"quantile levels written to the forecast files (default {DEFAULTS['levels']})")
    b.add_argument("--seed", type=int, default=DEFAULTS["seed"], help="random seed (default 0)")
    b.add_argument("--output", default=DEFAULTS["output"], metavar="DIR",
                   help=f"output folder (default {DEFAULTS['output']}/)")
    b.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    b.add_argument("--max-series", type=_positive_int("--max-series"), default=None, metavar="N",
                   help="use only the first N series")
    b.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    _add_runtime_options(b, device=True)

    f = sub.add_parser(
        "forecast",
        help="quantile forecasts from a saved predictor for the series in a CSV/Parquet file",
        description=(
            "Load a predictor saved by 'gluonts-iqf backtest' (its predictor/ "
            "folder) and forecast the next prediction_length steps after the "
            "end of each series in --input. Output: one row per (item_id, "
            "timestamp) with step, mean and one column per level; written to "
            "--output (.csv or .parquet) or printed as CSV."
        ),
    )
    f.add_argument("--predictor", required=True, help="folder of a saved predictor")
    f.add_argument("--input", required=True, help="CSV/Parquet file in long format")
    _add_data_options(f)
    f.add_argument("--levels", default="0.5,0.9,0.95", help="quantile levels (default 0.5,0.9,0.95)")
    f.add_argument("--output", default=None, help="file to write (.csv or .parquet); default: print CSV")
    f.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    _add_runtime_options(f)

    t = sub.add_parser(
        "tradeoff",
        help="service level vs stock table for one series",
        description=(
            "Forecast one series with a saved predictor and print, for each "
            "service level, the stock needed over the lead time, the extra "
            "stock from the previous level and the stock per percentage point "
            "(gluonts_iqf.decision.service_level_tradeoff)."
        ),
    )
    t.add_argument("--predictor", required=True, help="folder of a saved predictor")
    t.add_argument("--input", required=True, help="CSV/Parquet file in long format")
    t.add_argument("--item", required=True, help="item id of the series")
    _add_data_options(t)
    t.add_argument("--levels", default="0.90:0.99",
                   help="service levels: 'start:stop[:step]' or a comma list (default 0.90:0.99)")
    t.add_argument("--lead-time", type=_positive_int("--lead-time"), default=None,
                   help="steps summed for the totals (default: the whole horizon)")
    t.add_argument("--output", default=None, help="also write the full table to this CSV file")
    t.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    _add_runtime_options(t)
    return parser


# ---------------------------------------------------------------------- #
# runtime set-up
# ---------------------------------------------------------------------- #
def default_threads() -> int:
    """Half the usable cores, at most 4, at least 1. MQ-CNN batches are small:
    on 2 shared cores, 2 torch threads cost ~10x the CPU time per batch of 1
    thread (OpenMP spin-waits), for no wall-time gain."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(4, cores // 2))


def _configure_threads(requested: Optional[int]) -> int:
    import torch

    if requested is not None:
        torch.set_num_threads(requested)
    elif not os.environ.get("OMP_NUM_THREADS"):
        torch.set_num_threads(default_threads())
    return torch.get_num_threads()


def _quiet_libraries() -> None:
    """Keep the console to our table and progress bars."""
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning",
                 "lightning_fabric", "gluonts"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module=r"lightning(\..*)?")
    warnings.filterwarnings("ignore", module=r"pytorch_lightning(\..*)?")
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=r".*Using `json`-module.*")
    warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=r".*LeafSpec.*")


def _resolve_device(device: str) -> Tuple[str, str]:
    """``--device`` -> (lightning accelerator, torch device)."""
    import torch

    if device == "cpu":
        return "cpu", "cpu"
    has_cuda = torch.cuda.is_available()
    if device == "cuda":
        if not has_cuda:
            raise CLIError("--device cuda: no CUDA device is available (use --device cpu)")
        return "gpu", "cuda"
    return ("gpu", "cuda") if has_cuda else ("cpu", "cpu")


def _console(stderr: bool = False):
    from rich.console import Console

    console = Console(stderr=stderr, highlight=False, soft_wrap=False)
    if not console.is_terminal and not os.environ.get("COLUMNS"):
        # piped / captured output: do not squeeze tables into 80 columns
        console = Console(stderr=stderr, highlight=False, soft_wrap=False, width=160)
    return console


@contextlib.contextmanager
def _progress(total: int, description: str, enabled: bool) -> Iterator[Any]:
    """A rich progress bar over ``total`` series (no-op when disabled)."""
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=_console(stderr=True), transient=True,
    ) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n=1: progress.advance(task, n)


def _tracked(items: Iterable[Any], advance) -> Iterator[Any]:
    for x in items:
        yield x
        if advance is not None:
            advance()


# ---------------------------------------------------------------------- #
# output locations
# ---------------------------------------------------------------------- #
def _check_output_dir(path: str, overwrite: bool) -> Path:
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


def _make_staging_dir(out: Path) -> Path:
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    except OSError as exc:
        raise CLIError(f"cannot write output folder {out}: {exc.strerror or exc}") from None
    # mkdtemp makes it private (0700); the output folder gets the usual
    # umask-based permissions, like one made by mkdir
    umask = os.umask(0)
    os.umask(umask)
    with contextlib.suppress(OSError):
        os.chmod(staging, 0o777 & ~umask)
    return staging


def _publish_dir(staging: Path, out: Path) -> None:
    """Rename ``staging`` to ``out`` (replacing an existing ``out``)."""
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        os.rename(out, old / "x")
    try:
        os.rename(staging, out)
    except OSError:
        if old is not None:  # put the previous folder back
            os.rename(old / "x", out)
            shutil.rmtree(old, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _check_output_file(path: Optional[str], overwrite: bool, suffixes: Sequence[str]) -> Optional[Path]:
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


def _write_frame_atomic(frame, out: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.partial-", dir=out.parent)
    os.close(fd)
    try:
        _write_frame(frame, Path(tmp), parquet=out.name.lower().endswith((".parquet", ".pq")))
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _write_frame(frame, path: Path, parquet: bool) -> None:
    if parquet:
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)


# ---------------------------------------------------------------------- #
# shared helpers
# ---------------------------------------------------------------------- #
def process_age() -> Optional[float]:
    """Seconds since this process started (Linux ``/proc``), so timings
    include the interpreter start and every import; None elsewhere."""
    try:
        with open("/proc/self/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        start_ticks = int(fields[19])  # field 22 of proc(5): starttime
        with open("/proc/uptime") as fh:
            uptime = float(fh.read().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def _since_start() -> float:
    age = process_age()
    return age if age is not None else time.perf_counter() - _T_START


def _versions() -> Dict[str, str]:
    import gluonts
    import lightning
    import numpy
    import pandas
    import torch

    from . import __version__

    return {
        "gluonts_iqf": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "gluonts": gluonts.__version__,
        "lightning": lightning.__version__,
        "numpy": numpy.__version__,
        "pandas": pandas.__version__,
    }


def _hardware(torch_device: str, threads: int) -> Dict[str, Any]:
    import torch

    info: Dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": threads,
        "device": torch_device,
    }
    if torch_device == "cuda":
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def _finite(x: Any) -> Any:
    """JSON-safe: NaN/inf -> None, numpy scalars -> Python."""
    if isinstance(x, dict):
        return {str(k): _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    if hasattr(x, "item") and not isinstance(x, (str, bytes)):
        try:
            x = x.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _forecast_quantiles(forecast, levels: Sequence[float]):
    import numpy as np

    from .metrics import forecast_quantiles

    q = np.asarray(forecast_quantiles(forecast, list(levels)), dtype=np.float64)
    # enforce the documented non-decreasing rows for forecasts of other
    # models (ours are monotone by construction: a no-op)
    return np.maximum.accumulate(q, axis=0)


def _forecast_frame(forecasts, levels: Sequence[float], targets=None):
    """Long table: one row per (item_id, timestamp)."""
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
            data[_level_name(a)] = q[j]
        frames.append(pd.DataFrame(data))
    return pd.concat(frames, ignore_index=True)


def _load_predictor(path: str, torch_device: str):
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


def _load_user_series(args, info: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Series of ``--input`` with the predictor's frequency."""
    from . import datasets
    from .datasets import DataError, _period_freq

    entries = datasets.load_long_frame(
        args.input, item_id=args.item_id, timestamp=args.timestamp, target=args.target,
        freq=args.freq, min_length=1,
    )
    trained = info.get("freq")
    if trained:
        got = entries[0]["start"].freqstr
        if _period_freq(got) != _period_freq(trained):
            raise DataError(
                f"the input's frequency {got!r} differs from the predictor's {trained!r}"
                + ("" if args.freq else f"; pass --freq {trained} to place the timestamps on its grid")
            )
    return entries


# ---------------------------------------------------------------------- #
# backtest
# ---------------------------------------------------------------------- #
def _subset(train, test, n: Optional[int]):
    if n is None:
        return train, test
    ids: List[Any] = []
    for e in test:
        if e.get("item_id") not in ids:
            ids.append(e.get("item_id"))
        if len(ids) == n:
            break
    keep = set(ids)
    sub_test = [e for e in test if e.get("item_id") in keep]
    sub_train = [e for e in train if e.get("item_id") in keep]
    if not sub_train:  # ids do not match across splits: positional
        sub_train = list(train)[:n]
    return sub_train, sub_test


def _estimator(args, freq: str, H: int, trainer_kwargs: Dict[str, Any]):
    from .distributions.iqf import IQFOutput

    common = dict(
        prediction_length=H,
        batch_size=args.batch_size,
        num_batches_per_epoch=args.batches_per_epoch,
        lr=args.lr,
        trainer_kwargs=trainer_kwargs,
    )
    if args.model in ("mqcnn", "mqf2"):
        # context: the estimator's default (MQ-CNN: max(2H, seasonal lags x
        # season); MQF2: 2H) unless given
        C = args.context_length
        F_default = DEFAULTS["num_forking"][args.model]
        F = args.num_forking or (min(F_default, C) if C else F_default)
        if C is not None and F > C:
            raise CLIError(f"--num-forking {F} is larger than the context length {C}")
        if args.model == "mqcnn":
            from .model.mqcnn.estimator import MQCNNEstimator as Estimator

            extra = {"distr_output": IQFOutput()}
        else:
            from .model.mqf2.estimator import MQF2Estimator as Estimator

            extra = {}
        try:
            est = Estimator(freq=freq, context_length=C, num_forking=F, **extra, **common)
        except ValueError as err:
            raise CLIError(str(err)) from None
        return est, {"context_length": est.context_length, "num_forking": est.num_forking}
    if args.num_forking is not None:
        raise CLIError(f"--num-forking applies to --model mqcnn or mqf2 only, not {args.model}")
    if args.model == "deepar-iqf":
        from gluonts.torch.model.deepar import DeepAREstimator

        est = DeepAREstimator(freq=freq, context_length=args.context_length,
                              distr_output=IQFOutput(), **common)
        return est, {"context_length": est.context_length}
    from gluonts.torch.model.simple_feedforward import SimpleFeedForwardEstimator

    est = SimpleFeedForwardEstimator(context_length=args.context_length,
                                     distr_output=IQFOutput(), **common)
    return est, {"context_length": est.context_length}


def _check_model(name: str) -> str:
    if name not in MODELS:
        raise CLIError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    return name


def cmd_backtest(args) -> int:
    timings: Dict[str, float] = {}
    t_cmd = time.perf_counter()
    started = _since_start()  # interpreter start + imports so far
    model = _check_model(args.model)
    levels = parse_levels(args.levels)
    if not (args.lr > 0 and math.isfinite(args.lr)):
        raise CLIError(f"--lr must be a positive number, got {args.lr}")
    out = _check_output_dir(args.output, args.overwrite)
    console = _console()

    t0 = time.perf_counter()
    import lightning
    import numpy as np
    from gluonts.env import env
    from gluonts.evaluation import Evaluator, make_evaluation_predictions

    from . import datasets, metrics, plot
    from .forecast import QuantileFunctionForecast

    timings["imports_s"] = started + time.perf_counter() - t0
    _quiet_libraries()
    threads = _configure_threads(args.threads)
    accelerator, torch_device = _resolve_device(args.device)

    # ---- data (all checks before any training or writing)
    t0 = time.perf_counter()
    try:
        data = datasets.load_any(
            args.dataset, data_dir=args.data_dir, freq=args.freq,
            item_id=args.item_id, timestamp=args.timestamp, target=args.target,
        )
    except datasets.DataError as exc:
        if "required file(s)" in str(exc):  # a known dataset without its raw files
            raise CLIError(f"{exc} On the command line: --data-dir DIR") from None
        raise
    H = args.prediction_length or data.metadata.prediction_length
    if not H:
        raise CLIError(f"--prediction-length is required for {args.dataset} (it declares no horizon)")
    train, test = datasets.backtest_split(data, H, min_train_length=1)
    train, test = _subset(train, test, args.max_series)
    freq = data.metadata.freq
    timings["load_s"] = time.perf_counter() - t0

    # ---- model
    lightning.seed_everything(args.seed, verbose=False)
    trainer_kwargs = dict(
        max_epochs=args.epochs, accelerator=accelerator, devices=1,
        enable_progress_bar=not args.quiet, enable_model_summary=False,
        logger=False,
    )
    estimator, model_settings = _estimator(args, freq, H, trainer_kwargs)
    settings = {
        "dataset": args.dataset, "freq": freq, "prediction_length": H,
        "num_train_series": len(train), "num_test_series": len(test),
        "model": model, **model_settings,
        "distr_output": "IQFOutput()", "loss": "closed-form CRPS",
        "epochs": args.epochs, "batches_per_epoch": args.batches_per_epoch,
        "batch_size": args.batch_size, "gradient_steps": args.epochs * args.batches_per_epoch,
        "lr": args.lr, "levels": levels, "seed": args.seed,
        "device": torch_device, "torch_threads": threads, "max_series": args.max_series,
    }
    _print_settings(console, settings)

    staging = _make_staging_dir(out)
    try:
        t0 = time.perf_counter()
        # Lightning's checkpoints go to a scratch folder, never the output
        with tempfile.TemporaryDirectory(prefix="gluonts-iqf-lightning-") as work:
            estimator.trainer_kwargs["default_root_dir"] = work
            predictor = estimator.train(train, cache_data=True)
        # forecasts are evaluated, written and plotted with numpy: predict on
        # the CPU (well under a second for the default run)
        predictor = predictor.to("cpu")
        timings["train_s"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        forecast_it, ts_it = make_evaluation_predictions(test, predictor)
        with _progress(len(test), "forecasting series", not args.quiet) as advance:
            forecasts = list(_tracked(forecast_it, advance))
        tss = list(ts_it)
        timings["predict_s"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        targets = [np.asarray(ts.to_numpy(), dtype=np.float64).ravel()[-H:] for ts in tss]
        with env._let(use_tqdm=False), np.errstate(all="ignore"):
            agg, _ = Evaluator(quantiles=WQL_LEVELS, num_workers=0)(tss, forecasts, num_series=len(tss))
        results = _metrics(forecasts, targets, agg, levels, metrics, QuantileFunctionForecast)
        timings["evaluate_s"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        frame = _forecast_frame(forecasts, levels, targets)
        _write_frame(frame, staging / "forecasts.parquet", parquet=True)
        _write_frame(frame, staging / "forecasts.csv", parquet=False)
        (staging / "predictor").mkdir()
        predictor.serialize(staging / "predictor")
        (staging / "predictor" / PREDICTOR_INFO).write_text(json.dumps(
            {"freq": freq, "prediction_length": H, "model": model, "levels": levels,
             "dataset": args.dataset}, indent=2))
        plots: List[str] = []
        if not args.no_plots:
            plots = _plots(staging, forecasts, test, targets, H, plot)
        timings["write_s"] = time.perf_counter() - t0
        timings["total_s"] = time.perf_counter() - t_cmd
        timings["process_s"] = _since_start()

        report = {
            "command": ["gluonts-iqf"] + list(args.argv),
            "metrics": results,
            "gluonts_evaluator": agg,
            "settings": settings,
            "seed": args.seed,
            "timings_s": timings,
            "versions": _versions(),
            "hardware": _hardware(torch_device, threads),
            "files": sorted(["metrics.json", "forecasts.parquet", "forecasts.csv", "predictor/"] + plots),
            "forecast_columns": list(frame.columns),
        }
        (staging / "metrics.json").write_text(json.dumps(_finite(report), indent=2, default=str))
        _publish_dir(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _print_metrics(console, results, timings, out, report["files"])
    return EXIT_OK


def _metrics(forecasts, targets, agg, levels, metrics, qff_type) -> Dict[str, Any]:
    import numpy as np

    res: Dict[str, Any] = {"mean_wQuantileLoss": float(agg["mean_wQuantileLoss"])}
    res["wQuantileLoss"] = {f"{a:.1f}": float(agg[f"wQuantileLoss[{a}]"]) for a in WQL_LEVELS}
    if all(isinstance(f, qff_type) for f in forecasts):
        total = 0.0
        count = 0
        abs_sum = 0.0
        for f, y in zip(forecasts, targets):
            ok = ~np.isnan(y)
            c = np.asarray(f.crps(np.nan_to_num(y)), dtype=np.float64)[ok]
            total += float(c.sum())
            count += int(ok.sum())
            abs_sum += float(np.abs(y[ok]).sum())
        res["crps"] = total / max(count, 1)
        res["crps_weighted"] = total / abs_sum if abs_sum > 0 else float("nan")
        res["crps_method"] = (
            "exact closed-form CRPS of the quantile functions (QuantileFunctionForecast.crps); "
            "crps = mean per observed point, crps_weighted = sum CRPS / sum |y|"
        )
    else:
        res["crps"] = float("nan")
        res["crps_weighted"] = float(agg["mean_wQuantileLoss"])
        res["crps_method"] = "GluonTS weighted CRPS approximation: mean_wQuantileLoss over 0.1..0.9"
    res["MASE"] = float(agg["MASE"])
    res["sMAPE"] = float(agg["sMAPE"])
    res["ND"] = float(agg["ND"])
    cov_levels = sorted(set(COVERAGE_LEVELS) | set(levels))
    res["coverage"] = {_level_name(a): float(metrics.coverage(forecasts, targets, a)) for a in cov_levels}
    res["crossing_rate"] = float(metrics.crossing_rate(forecasts))
    return res


def _plots(staging: Path, forecasts, test, targets, H: int, plot) -> List[str]:
    import matplotlib
    from gluonts.model.forecast import SampleForecast

    matplotlib.use("Agg", force=True)
    names = []
    for k in range(min(NUM_FAN_CHARTS, len(forecasts))):
        name = f"fan_chart_{k}.png"
        plot.fan_chart(forecasts[k], history=test[k], history_length=3 * H, path=staging / name,
                       levels=(0.5, 0.8, 0.9))
        names.append(name)
    y0 = targets[0][0]
    plot.quantile_function(forecasts[0], step=0, observed=None if y0 != y0 else float(y0),
                           path=staging / "quantile_function.png")
    names.append("quantile_function.png")
    plot.calibration(forecasts, targets, path=staging / "calibration.png")
    names.append("calibration.png")
    if isinstance(forecasts[0], SampleForecast):  # joint paths (MQF2, DeepAR)
        plot.correlation_matrix(forecasts[0], path=staging / "correlation.png",
                                title="correlation of the forecast across horizon steps")
        names.append("correlation.png")
    return names


def _print_settings(console, s: Dict[str, Any]) -> None:
    extra = ""
    if s["model"] == "mqcnn":
        extra = f", num_forking={s['num_forking']}"
    console.print(
        f"[bold]backtest[/bold] {s['model']} (IQF head) on [bold]{s['dataset']}[/bold]: "
        f"{s['num_test_series']} series, freq={s['freq']}, prediction_length={s['prediction_length']}, "
        f"context_length={s['context_length']}{extra}; "
        f"{s['epochs']} epochs x {s['batches_per_epoch']} batches of {s['batch_size']}, "
        f"seed={s['seed']}, device={s['device']}, threads={s['torch_threads']}"
    )


def _print_metrics(console, r: Dict[str, Any], timings: Dict[str, float], out: Path,
                   files: Sequence[str]) -> None:
    from rich.table import Table

    table = Table(title="backtest metrics", title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("note", style="dim")
    table.add_row("mean wQL", f"{r['mean_wQuantileLoss']:.4f}", "GluonTS Evaluator, levels 0.1..0.9")
    if r["crps"] == r["crps"]:
        table.add_row("CRPS", f"{r['crps']:.4f}", "exact closed form, mean per point")
        table.add_row("weighted CRPS", f"{r['crps_weighted']:.4f}", "sum CRPS / sum |y|")
    else:
        table.add_row("weighted CRPS", f"{r['crps_weighted']:.4f}", "approximation: mean wQL")
    table.add_row("MASE", f"{r['MASE']:.4f}", "GluonTS Evaluator")
    for a in ("0.05", "0.5", "0.95"):
        table.add_row(f"coverage {a}", f"{r['coverage'][a]:.3f}", f"share of y <= q({a}); ideal {a}")
    table.add_row("crossing rate", f"{r['crossing_rate']:.4f}", "199 levels 0.005..0.995; ideal 0")
    for key, label in (("imports_s", "start-up + imports"), ("load_s", "load data"), ("train_s", "training"),
                       ("predict_s", "prediction"), ("evaluate_s", "evaluation"),
                       ("write_s", "writing + plots"), ("process_s", "total (process)")):
        if key in timings:
            table.add_row(f"time: {label}", f"{timings[key]:.1f} s", "")
    console.print(table)
    pngs = [f for f in files if f.endswith(".png")]
    listed = [f for f in files if not f.endswith(".png")] + ([f"{len(pngs)} PNG plots"] if pngs else [])
    console.print(f"wrote {out}/: {', '.join(listed)}")


# ---------------------------------------------------------------------- #
# forecast
# ---------------------------------------------------------------------- #
def cmd_forecast(args) -> int:
    levels = parse_levels(args.levels)
    out = _check_output_file(args.output, args.overwrite, (".csv", ".parquet", ".pq"))
    _quiet_libraries()
    _configure_threads(args.threads)
    predictor, info = _load_predictor(args.predictor, "cpu")
    entries = _load_user_series(args, info)
    with _progress(len(entries), "forecasting series", not args.quiet and out is not None) as advance:
        forecasts = list(_tracked(predictor.predict(entries), advance))
    frame = _forecast_frame(forecasts, levels)
    if out is None:
        frame.to_csv(sys.stdout, index=False)
    else:
        _write_frame_atomic(frame, out)
        _console().print(f"wrote {len(frame)} rows ({len(forecasts)} series x "
                         f"{predictor.prediction_length} steps) to {out}")
    return EXIT_OK


# ---------------------------------------------------------------------- #
# tradeoff
# ---------------------------------------------------------------------- #
def cmd_tradeoff(args) -> int:
    from .decision import _check_levels as check_service_levels

    levels: Any = args.levels
    if ":" not in levels:  # comma list (or one level) -> floats, in order
        try:
            levels = [float(p) for p in levels.split(",")]
        except ValueError:
            raise CLIError(
                f"--levels: expected 'start:stop[:step]' or a comma list of levels, got {args.levels!r}"
            ) from None
    try:
        levels = check_service_levels(levels)
    except (TypeError, ValueError) as exc:
        raise CLIError(f"--levels: {exc}") from None
    out = _check_output_file(args.output, args.overwrite, (".csv",))
    _quiet_libraries()
    _configure_threads(args.threads)
    predictor, info = _load_predictor(args.predictor, "cpu")
    H = predictor.prediction_length
    if args.lead_time is not None and args.lead_time > H:
        raise CLIError(f"--lead-time {args.lead_time} exceeds the predictor's horizon {H}")
    entries = _load_user_series(args, info)
    chosen = [e for e in entries if e["item_id"] == str(args.item)]
    if not chosen:
        from .datasets import _listing

        raise CLIError(
            f"unknown item {args.item!r} in {args.input}; items: "
            f"{_listing([e['item_id'] for e in entries])}"
        )
    forecast = next(iter(predictor.predict(chosen)))
    from .decision import service_level_tradeoff

    try:
        table = service_level_tradeoff(forecast, levels=levels, lead_time=args.lead_time)
    except (TypeError, ValueError) as exc:
        raise CLIError(str(exc)) from None
    _print_tradeoff(_console(), table, str(args.item))
    if out is not None:
        flat = table.copy()
        flat.columns = [f"{q}|{t}" for q, t in flat.columns]
        _write_frame_atomic(flat.reset_index(), out)
    return EXIT_OK


def _print_tradeoff(console, table, item: str) -> None:
    from rich.table import Table

    L = table.attrs["lead_time"]
    steps = table.attrs["steps"]
    totals = [t for t in table["stock"].columns if str(t).startswith("total_")]
    first = steps[0]
    rt = Table(
        title=(f"item {item}: stock per service level, lead time {L} "
               f"step{'s' if L > 1 else ''} ({steps[0]} .. {steps[-1]})"),
        title_justify="left",
        caption=("stock = quantile of demand; extra = more stock than the previous row; "
                 "per pp = stock per percentage point of service level. comonotone total: "
                 "steps perfectly dependent (upper bound); independent: steps independent"),
        caption_justify="left",
    )
    rt.add_column("service level", justify="right")
    rt.add_column(f"stock step 1\n({first})", justify="right")
    for t in totals:
        kind = t.replace("total_", "")
        rt.add_column(f"total stock\n({kind})", justify="right")
        rt.add_column("extra", justify="right")
        rt.add_column("per pp", justify="right")

    def fmt(x: float) -> str:
        return "" if x != x else f"{x:,.2f}"

    for level, row in table.iterrows():
        cells = [f"{level:.4g}", fmt(row[("stock", first)])]
        for t in totals:
            cells += [fmt(row[("stock", t)]), fmt(row[("extra_stock", t)]), fmt(row[("stock_per_pp", t)])]
        rt.add_row(*cells)
    console.print(rt)
    approx = table.attrs.get("approximate") or []
    if approx:
        console.print(f"[dim]numerical approximations: {', '.join('/'.join(c) for c in approx)}[/dim]")


# ---------------------------------------------------------------------- #
# entry point
# ---------------------------------------------------------------------- #
_COMMANDS = {"backtest": cmd_backtest, "forecast": cmd_forecast, "tradeoff": cmd_tradeoff}


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; returns the exit status (0 ok, 2 bad input,
    1 unexpected failure)."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        from .datasets import DataError
    except Exception:  # pragma: no cover - broken installation
        raise
    try:
        args = build_parser().parse_args(argv)
        if args.command is None:
            raise CLIError("choose a command: backtest, forecast or tradeoff (see 'gluonts-iqf --help')")
        args.argv = argv
        return _COMMANDS[args.command](args)
    except (CLIError, DataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug or an environment problem: one line too
        msg = " ".join(f"{type(exc).__name__}: {exc}".split())
        print(f"error: unexpected failure: {msg}", file=sys.stderr)
        if os.environ.get("GLUONTS_IQF_DEBUG"):
            raise
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
