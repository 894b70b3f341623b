"""Forecasting many series: a vectorised single-process path and batch
inference on Ray Data.

* :mod:`.batch`: :func:`forecast_tables`, a saved predictor run batch by
  batch, each batch one long table (quantiles and means of the whole batch
  in one distribution call, timestamps built for the whole batch); the
  table layout of ``gluonts-iqf forecast``.
* :mod:`.predictor`: :func:`load_predictor` (a saved predictor and its run
  record), :func:`check_frequency` and :func:`series_to_forecast` (a long
  table read for a predictor: covariates over its horizon, its frequency).
* :mod:`.output`: :func:`write_tables` (a file written in row groups and
  renamed into place) and :func:`staged_folder` (a folder published by one
  rename at the end).
* :mod:`.parquet`: the files and read pieces of a Parquet source, and
  :func:`read_grouped_piece` (a piece of input grouped by item, read with
  the items at its edges completed).
* :mod:`.ray_engine`: :func:`forecast_with_ray`, the same tables from an
  actor pool on Ray Data (optional extra ``gluonts-iqf[ray]``; Ray is
  imported only when it runs).
"""

from .batch import forecast_tables, forecast_timestamps, level_name, table_columns
from .output import staged_folder, write_tables
from .parquet import parquet_files, parquet_pieces, read_grouped_piece
from .predictor import PREDICTOR_INFO, PredictorError, check_frequency, load_predictor, series_to_forecast
from .ray_engine import RAY_MISSING, RayForecastSummary, forecast_with_ray, import_ray

__all__ = [
    "forecast_tables",
    "forecast_timestamps",
    "level_name",
    "table_columns",
    "write_tables",
    "staged_folder",
    "parquet_files",
    "parquet_pieces",
    "read_grouped_piece",
    "PREDICTOR_INFO",
    "PredictorError",
    "check_frequency",
    "series_to_forecast",
    "load_predictor",
    "RAY_MISSING",
    "RayForecastSummary",
    "forecast_with_ray",
    "import_ray",
]
