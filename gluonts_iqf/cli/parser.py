"""Command-line options of ``gluonts-iqf``: the argument parser, its option
types and defaults, and the level-list option."""

from __future__ import annotations

import argparse
from typing import Any, Callable, Dict, List, Tuple

from ..levels import check_levels
from .errors import CLIError

#: Models ``--model`` accepts.
MODELS: Tuple[str, ...] = ("mqcnn", "mqf2", "deepar-iqf", "sff-iqf")

#: Defaults of ``gluonts-iqf backtest``: small enough that the default run
#: (MQ-CNN-IQF on the embedded m4_hourly) trains within a minute or two on a
#: small CPU machine; lr 3e-3 (MQ-CNN's own is 1e-3) learns more in so few
#: steps with the estimator's cosine decay.
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


class _Parser(argparse.ArgumentParser):
    """argparse that raises :class:`CLIError` (one line) instead of printing
    the usage and exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise CLIError(f"{message} (see '{self.prog} --help')")


def _positive_int(name: str) -> Callable[[str], int]:
    """Option type: a positive integer, else an error naming ``name``."""

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
    """``"0.05,0.5,0.95"`` (or a ``"start:stop[:step]"`` range) -> sorted
    distinct levels in (0, 1); :class:`CLIError` naming ``option`` and the
    problem (see :func:`gluonts_iqf.levels.check_levels`)."""
    try:
        return check_levels(text, name=option, sort=True).tolist()
    except ValueError as exc:
        raise CLIError(str(exc)) from None


def _add_data_options(p: argparse.ArgumentParser) -> None:
    """Column and frequency options of a long-format input file."""
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
    """``--threads``, ``--quiet`` and (for training) ``--device``."""
    if device:
        p.add_argument("--device", choices=("cpu", "cuda", "auto"), default=DEFAULTS["device"],
                       help="training device: cpu (default), cuda, or auto (cuda if "
                            "available); prediction and evaluation run on the CPU")
    p.add_argument("--threads", type=_positive_int("--threads"), default=None, metavar="N",
                   help="torch CPU threads (default: $OMP_NUM_THREADS if set, "
                        "else half the usable cores, at most 4, at least 1)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _add_backtest(sub) -> None:
    """The ``backtest`` sub-command and its options."""
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
                        "--data-dir or $GLUONTS_IQF_DATA_DIR), a GluonTS dataset folder, "
                        "a JSON-lines folder, or a CSV/Parquet file in long format")
    b.add_argument("--data-dir", default=None, metavar="DIR",
                   help="folder holding the raw benchmark files of known datasets "
                        "(default $GLUONTS_IQF_DATA_DIR; not needed for m4_hourly)")
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
                   help="quantile levels written to the forecast files: a comma list or "
                        f"'start:stop[:step]' (default {DEFAULTS['levels']})")
    b.add_argument("--seed", type=int, default=DEFAULTS["seed"], help="random seed (default 0)")
    b.add_argument("--output", default=DEFAULTS["output"], metavar="DIR",
                   help=f"output folder (default {DEFAULTS['output']}/)")
    b.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    b.add_argument("--max-series", type=_positive_int("--max-series"), default=None, metavar="N",
                   help="use only the first N series")
    b.add_argument("--windows", type=_positive_int("--windows"), default=1, metavar="K",
                   help="rolling origin: backtest the last K windows of H values of every series, "
                        "each forecast from the values before it by one model trained on the values "
                        "before the earliest; metrics pooled and per window (default 1)")
    b.add_argument("--baselines", default="", metavar="NAMES",
                   help="also fit statsforecast baselines on the same windows and print ours / theirs: "
                        "a comma list of seasonal_naive, auto_ets, auto_theta, auto_ces, stat_ensemble "
                        "(the average of the last three's quantiles); needs statsforecast "
                        "(pip install 'gluonts-iqf[bench]')")
    b.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    _add_runtime_options(b, device=True)


def _add_forecast(sub) -> None:
    """The ``forecast`` sub-command and its options."""
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
    f.add_argument("--input", required=True,
                   help="CSV/Parquet file in long format; with --engine ray: a Parquet file, "
                        "a folder of Parquet files or a glob pattern")
    _add_data_options(f)
    f.add_argument("--levels", default="0.5,0.9,0.95",
                   help="quantile levels: a comma list or 'start:stop[:step]' (default 0.5,0.9,0.95)")
    f.add_argument("--output", default=None,
                   help="file to write (.csv or .parquet); default: print CSV. With --engine ray: "
                        "a folder to create, of Parquet files (required)")
    f.add_argument("--overwrite", action="store_true", help="replace an existing output file or folder")
    f.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local (default): this process, batch by batch; ray: an actor pool on "
                        "Ray Data (needs pip install 'gluonts-iqf[ray]'; starts a local Ray "
                        "instance unless one is running)")
    f.add_argument("--num-workers", type=_positive_int("--num-workers"), default=None, metavar="N",
                   help="--engine ray: actors, one predictor and one CPU each (default 2)")
    f.add_argument("--covariates", default=None, metavar="COL[,COL...]",
                   help="numeric columns known in advance, for a predictor trained with them "
                        "(feat_dynamic_real): each series' last prediction_length rows are its "
                        "forecast horizon, with the covariates and an empty target")
    f.add_argument("--grouped-input", action="store_true",
                   help="--engine ray: the rows of each item are consecutive and in one file (files "
                        "sorted or grouped by item); the actors read and forecast the files piece by "
                        "piece, without the shuffle that groups rows otherwise. Rows found out of "
                        "order stop the run")
    _add_runtime_options(f)


def _add_tradeoff(sub) -> None:
    """The ``tradeoff`` sub-command and its options."""
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


def build_parser() -> argparse.ArgumentParser:
    """The ``gluonts-iqf`` parser with its ``backtest``, ``forecast`` and
    ``tradeoff`` sub-commands; bad options raise :class:`CLIError`."""
    from .. import __version__

    parser = _Parser(
        prog="gluonts-iqf",
        description="Crossing-free quantile-function forecasting (GluonTS plugin).",
    )
    parser.add_argument("--version", action="version", version=f"gluonts-iqf {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    _add_backtest(sub)
    _add_forecast(sub)
    _add_tradeoff(sub)
    return parser
