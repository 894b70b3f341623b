"""The ``gluonts-iqf`` command line.

Three sub-commands::

    gluonts-iqf backtest  [--dataset m4_hourly|NAME|DIR|FILE] [--data-dir DIR] [--model mqcnn|mqf2|deepar-iqf|sff-iqf]
                          [--prediction-length H] [--context-length C] [--epochs N]
                          [--batches-per-epoch B] [--levels 0.05,0.5,0.95] [--seed 0]
                          [--output DIR] [--device cpu|cuda|auto] [--max-series N] [--quiet]
    gluonts-iqf forecast  --predictor DIR --input FILE [--levels 0.5,0.9,0.95] [--output FILE]
                          [--covariates COL,...] [--engine local|ray] [--num-workers N] [--grouped-input]
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
given (see :func:`gluonts_iqf.datasets.load_long_frame`). The benchmark
datasets other than the embedded ``m4_hourly`` are read from ``--data-dir``
or ``$GLUONTS_IQF_DATA_DIR``.

Modules: :mod:`.parser` (options), :mod:`.backtest`, :mod:`.forecast`,
:mod:`.tradeoff` (the commands), :mod:`.staging` (output folders and files),
:mod:`.runtime` (threads, device, console, run record), :mod:`.app`
(:func:`main`).
"""

from .app import COMMANDS, main
from .backtest import COVERAGE_LEVELS, MODEL_HEADS, NUM_FAN_CHARTS, WQL_LEVELS, cmd_backtest
from .errors import EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, CLIError
from .forecast import PREDICTOR_INFO, cmd_forecast
from .parser import DEFAULTS, MODELS, build_parser, parse_levels
from .runtime import default_threads, process_age
from .tradeoff import cmd_tradeoff

__all__ = [
    "main",
    "CLIError",
    "DEFAULTS",
    "MODELS",
    "MODEL_HEADS",
    "COMMANDS",
    "WQL_LEVELS",
    "COVERAGE_LEVELS",
    "NUM_FAN_CHARTS",
    "PREDICTOR_INFO",
    "EXIT_OK",
    "EXIT_INTERNAL",
    "EXIT_USAGE",
    "build_parser",
    "parse_levels",
    "default_threads",
    "process_age",
    "cmd_backtest",
    "cmd_forecast",
    "cmd_tradeoff",
]
