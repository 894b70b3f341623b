"""Batch forecasting on Ray Data: a saved predictor applied to a long-format
table (Parquet files or a ``ray.data.Dataset``) by a pool of actors, each
holding one predictor, with the output written as Parquet.

Needs the optional extra ``gluonts-iqf[ray]``; Ray is imported only inside
the functions here.

Pipeline (Ray Data operators; nothing is collected on the driver, which
holds the file list, block references and metadata only):

1. **Read** (tasks): Parquet files are cut into pieces of whole row groups,
   about ``rows_per_partition`` rows each, read in parallel (only the
   needed columns); a Dataset is taken as it is.
2. **Fragments** (same tasks): the rows are checked and converted
   (:func:`gluonts_iqf.datasets.frames.long_rows`: item ids, timestamps,
   numeric target; an error names the file), then the rows of each item are
   collapsed into one row holding its timestamps and values as lists: about
   ``T`` times fewer rows to shuffle, and no per-row hashing.
3. **Group by item** (all-to-all): ``repartition(num_partitions)`` (blocks
   split or joined, no shuffle) then ``sort(item_id)``. The sort's range
   partitioning puts every fragment of an item in one block, so no series
   is split across blocks; it is what Ray's own
   ``groupby(key).map_groups`` does before calling its function, but
   ``map_groups`` calls it once per series (one network call per series),
   whereas here each block is forecast in batches. A sort rather than the
   hash ``repartition(keys=...)``: its map outputs live in the object store,
   which spills to disk when full, whereas the hash shuffle's aggregator
   actors hold their partitions in memory (and it exists only in recent
   Ray versions). This stage is a barrier: forecasting starts when the
   input has been read.
4. **Forecast** (actor pool, ``num_workers`` actors of one CPU, one
   predictor each; one call per block): the fragments are expanded back to
   rows, grouped into series by
   :func:`~gluonts_iqf.datasets.frames.load_long_frame` (all its checks:
   duplicate timestamps, frequency, ...; an error names the item and its
   file) and forecast batch by batch by :func:`.batch.forecast_tables`:
   exact quantiles from the quantile function, the numbers of the
   single-process ``gluonts-iqf forecast`` (up to float32 rounding, which
   may differ in the last bit when a series sits in another batch).
5. **Write** (tasks): ``Dataset.write_parquet`` into a hidden staging
   folder next to the output, renamed onto it only when every block
   succeeded: a failed run leaves no output behind.

Grouped input (``grouped=True``, Parquet files whose items' rows are each
consecutive and in one file; :mod:`.parquet`): stages 2 and 3 are skipped.
Each read piece goes straight to an actor, which reads the rows of the
items it owns (completing the items at its edges from the neighbouring
row groups), checks that they are grouped, forecasts them and yields the
tables to the write stage: no shuffle, no barrier, no data through the
object store on the way in. The default path (a sort) makes no assumption
on the row order.

Memory: each actor holds one block (about ``rows_per_partition`` input
rows as fragments, its series and their tables) and the predictor,
whatever the number of series: more series make more blocks. The driver
holds no data. The sort's intermediate blocks go through the object store
(spilled to disk beyond its size).
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Union

import numpy as np
import pandas as pd

from ..datasets.base import DataError, listing
from ..datasets.frames import long_rows
from ..levels import check_levels
from .batch import forecast_tables
from .parquet import parquet_files, parquet_pieces, read_grouped_piece
from .predictor import load_predictor, series_to_forecast

logger = logging.getLogger(__name__)

#: The message when Ray is missing.
RAY_MISSING = (
    "batch inference on Ray needs Ray Data: pip install 'gluonts-iqf[ray]' "
    "(or pip install 'ray[data]>=2.9')"
)

#: Input rows per partition by default: about 4,000 series of 120 values,
#: a few tens of MB per worker.
ROWS_PER_PARTITION = 500_000

#: Column of the fragments that names the file each one came from.
FILE_COLUMN = "__gluonts_iqf_file"


def import_ray():
    """The ``ray`` module with ``ray.data`` loaded; ImportError with
    :data:`RAY_MISSING` when Ray Data is not installed."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise ImportError(RAY_MISSING) from None
    return ray


@dataclass
class RayForecastSummary:
    """What :func:`forecast_with_ray` wrote."""

    output: Path  #: the output folder
    files: int  #: Parquet files in it
    rows: int  #: table rows (series x prediction_length)
    series: int  #: forecast series
    partitions: int  #: blocks of the grouping by item


def forecast_with_ray(
    predictor: Union[str, os.PathLike],
    data: Any,
    output: Union[str, os.PathLike],
    levels: Sequence[float] = (0.5, 0.9, 0.95),
    *,
    item_id: str = "item_id",
    timestamp: str = "timestamp",
    target: str = "target",
    covariates: Sequence[str] = (),
    freq: Optional[str] = None,
    num_workers: int = 2,
    num_partitions: Optional[int] = None,
    rows_per_partition: int = ROWS_PER_PARTITION,
    batch_size: Optional[int] = None,
    threads: int = 1,
    grouped: bool = False,
    overwrite: bool = False,
    verbose: bool = False,
) -> RayForecastSummary:
    """Forecast every series of ``data`` with the saved predictor on Ray
    and write the tables as Parquet files into the folder ``output``.

    Parameters
    ----------
    predictor
        Folder of a saved predictor (``Predictor.serialize``; the
        ``predictor/`` folder of ``gluonts-iqf backtest``).
    data
        A ``ray.data.Dataset`` with the columns below, or a Parquet file, a
        folder of Parquet files or a glob pattern, in long format: one row
        per (item, timestamp).
    output
        Folder to create (replaced only with ``overwrite``). It receives
        Parquet files whose union is the forecast table: ``item_id``,
        ``timestamp``, ``step``, ``mean`` and one column per level, as
        written by ``gluonts-iqf forecast``; rows of one series are
        consecutive and in step order, series are in partition order
        (``pd.read_parquet(output)`` reads them all).
    levels
        Quantile levels in (0, 1).
    item_id, timestamp, target, covariates, freq
        Columns and frequency as in
        :func:`~gluonts_iqf.datasets.load_long_frame` (the frequency is
        inferred per partition when not given; it is checked against the
        predictor's recorded one when known). Covariates are known in
        advance (the predictor's ``feat_dynamic_real``): each series' last
        ``prediction_length`` rows are its forecast horizon, with the
        covariates and an empty target (``future_rows`` of
        ``load_long_frame``).
    num_workers
        Actors in the pool, one predictor and one CPU each.
    num_partitions, rows_per_partition
        Blocks of the grouping by item (one actor call and one output file
        each); default for files: total rows / ``rows_per_partition`` (at
        least ``num_workers``), for a Dataset: ``4 * num_workers`` (pass
        ``num_partitions`` for a large one). ``rows_per_partition`` bounds
        the memory of each worker. Grouped input: one block per piece of
        about ``rows_per_partition`` rows (whole row groups), and
        ``num_partitions`` is not used.
    batch_size
        Series per network call (default: the predictor's).
    threads
        Torch threads per actor.
    grouped
        Parquet input only: the rows of each item are consecutive and all
        in one file (files sorted or grouped by item). Each piece of
        ``rows_per_partition`` rows is then forecast by an actor as it is
        read, without the shuffle (module docstring); a piece whose items'
        rows are not consecutive stops the run with a DataError naming the
        file and the item. An item split across files is not detected:
        it would get one forecast per file.
    verbose
        Keep Ray's progress bars and logs (off: quiet driver).

    Ray: a running instance (``ray.init`` by the caller, e.g. a cluster) is
    used and left running; otherwise a local one is started for the call
    and shut down after, with ``os.cpu_count() + num_workers`` logical CPUs
    (the pool's actors hold their CPU while the read and sort tasks run).
    On an instance of your own with no more CPUs than ``num_workers``, the
    pool starts with one actor and grows as CPUs free up (a warning says
    so; see :func:`actor_pool`): give it more CPUs for a full pool.

    Short series are forecast as the predictors forecast them everywhere:
    the input window is left-padded with zeros marked unobserved, so every
    item of the input gets a forecast; an item with no observed value
    stops the run with an error. Bad input (a missing column, a
    non-numeric target, an unparsable or duplicate timestamp, mixed
    frequencies within a partition) stops the run with one
    :class:`~gluonts_iqf.datasets.DataError` naming the file (or the
    partition of a Dataset) and the item; nothing is written.
    """
    from .output import staged_folder

    ray = import_ray()
    import ray.data as rd

    levels = check_levels(levels, "levels", sort=True).tolist()
    if num_workers < 1:
        raise ValueError(f"num_workers must be a positive integer, got {num_workers}")
    loaded, info = load_predictor(predictor)  # fails early, on the driver, for a bad folder
    horizon = loaded.prediction_length
    del loaded
    columns = [("item id", item_id), ("timestamp", timestamp), ("target", target)]
    columns += [("covariate", c) for c in covariates]
    wanted = list(dict.fromkeys(col for _, col in columns))
    pieces = None
    if isinstance(data, (str, os.PathLike)):
        pieces = parquet_pieces(parquet_files(data), columns, rows_per_partition)
        total = sum(p["rows"] for p in pieces)
        partitions = len(pieces) if grouped else (
            num_partitions or max(num_workers, math.ceil(total / rows_per_partition)))
    elif grouped:
        raise ValueError("grouped=True applies to Parquet input (its pieces are read by the actors); "
                         "a Dataset is grouped by the sort: leave grouped off")
    elif isinstance(data, rd.Dataset):
        names = data.schema().names
        for role, col in columns:
            if col not in names:
                raise DataError(f"input dataset: missing {role} column {col!r}; available columns: {listing(names)}")
        partitions = num_partitions or 4 * num_workers
    else:
        raise TypeError(f"data must be a ray.data.Dataset or a Parquet path, got {type(data).__name__}")

    settings = dict(item_id=item_id, timestamp=timestamp, target=target, covariates=list(covariates))
    with staged_folder(Path(output), overwrite) as staging, _ray_session(ray, num_workers, verbose) as session:
        actors = dict(
            compute=actor_pool(rd, num_workers, session.spare_cpus), num_cpus=1,
            fn_constructor_kwargs=dict(
                settings, predictor=str(Path(predictor).expanduser().absolute()), levels=levels,
                freq=freq, trained_freq=info.get("freq"), batch_size=batch_size, threads=threads,
            ),
        )
        if grouped:  # each piece read, checked and forecast by an actor
            ds = rd.from_items(pieces, override_num_blocks=len(pieces)).map_batches(
                _GroupedForecaster, batch_size=1, batch_format="pandas", **actors,
            )
        else:
            if pieces is not None:  # one read task per piece, in parallel
                ds = rd.from_items(pieces, override_num_blocks=len(pieces)).map_batches(
                    _read_fragments, batch_size=1, batch_format="pandas", fn_kwargs=settings,
                )
            else:
                ds = data.select_columns(wanted).map_batches(
                    _fragments, batch_size=None, batch_format="pandas", fn_kwargs=settings,
                )
            ds = _by_item(ds, item_id, partitions).map_batches(
                _Forecaster, batch_size=None, batch_format="pyarrow", **actors,
            )
        try:
            ds.write_parquet(str(staging))
        except Exception as exc:
            raise _user_error(exc) from None
        written = sorted(staging.glob("*.parquet"))
        rows = _count_rows(written)
    return RayForecastSummary(
        output=Path(output).expanduser().absolute(), files=len(written), rows=rows,
        series=rows // horizon if horizon else 0, partitions=partitions,
    )


def actor_pool(rd, num_workers: int, spare_cpus: float):
    """The forecasting actors' pool: ``num_workers`` actors of one CPU from
    the start when the instance has CPUs to spare for the other tasks;
    otherwise a pool that starts with one actor and grows to
    ``num_workers`` as CPUs free up. A fixed pool that takes every CPU would
    wait forever: its actors get work only after the read and sort tasks,
    and (grouped input too) hand their tables to the write tasks, which
    then find no CPU."""
    if spare_cpus >= 1:
        return rd.ActorPoolStrategy(size=num_workers)
    logger.warning(
        "the Ray instance has %g CPUs for %d forecasting workers and the read, grouping and write "
        "tasks: the pool starts with 1 worker and grows as CPUs free up (give the instance more than "
        "num_workers CPUs for a full pool from the start)", spare_cpus + num_workers, num_workers,
    )
    return rd.ActorPoolStrategy(min_size=1, max_size=num_workers)


class _ray_session:
    """Start a local Ray instance for the run unless one is running (then
    use it and leave it running); quiet Ray's logs and progress bars
    unless ``verbose``; shut down what was started."""

    def __init__(self, ray, num_workers: int, verbose: bool) -> None:
        self.ray, self.num_workers, self.verbose = ray, num_workers, verbose
        self.started = False
        self._levels: Dict[str, int] = {}

    def __enter__(self):
        import ray.data as rd

        if not self.verbose:
            for name in ("ray", "ray.data", "ray.train", "ray.tune"):
                logger = logging.getLogger(name)
                self._levels[name] = logger.level
                logger.setLevel(logging.CRITICAL)
        if not self.ray.is_initialized():
            cpus = (os.cpu_count() or 1) + self.num_workers
            self.ray.init(
                num_cpus=cpus, include_dashboard=False, log_to_driver=self.verbose,
                logging_level=logging.INFO if self.verbose else logging.ERROR,
            )
            self.started = True
        #: CPUs of the instance beyond one per worker (for the read, sort
        #: and write tasks); at least ``os.cpu_count()`` when started here
        self.spare_cpus = float(self.ray.cluster_resources().get("CPU", 0.0)) - self.num_workers
        ctx = rd.DataContext.get_current()
        ctx.enable_progress_bars = self.verbose
        ctx.print_on_execution_start = self.verbose
        ctx.log_internal_stack_trace = self.verbose
        return self

    def __exit__(self, *exc) -> None:
        if self.started:
            self.ray.shutdown()
        for name, level in self._levels.items():
            logging.getLogger(name).setLevel(level)


#: Around the message of an error raised in a Ray worker: Ray passes a
#: task's exception to the driver as text inside its own (with its
#: traceback, and words appended), so the message is found by these marks.
_MARKS = ("<<gluonts-iqf:", ":gluonts-iqf>>")


def _worker_error(message: str) -> DataError:
    """A DataError raised in a Ray worker, its message marked for
    :func:`_user_error`."""
    return DataError(f"{_MARKS[0]}{message}{_MARKS[1]}")


def _user_error(exc: BaseException) -> BaseException:
    """The DataError a worker raised (:func:`_worker_error`), with its
    message only, out of Ray's wrapping; ``exc`` itself for anything
    else."""
    import re

    pattern = re.compile(re.escape(_MARKS[0]) + r"(.*?)" + re.escape(_MARKS[1]), re.S)
    seen, stack = set(), [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        for text in (str(e), *map(str, getattr(e, "args", ()))):
            found = pattern.search(text)
            if found:
                return DataError(found.group(1))
        stack.extend([getattr(e, "cause", None), e.__cause__, e.__context__])
    return exc


def _count_rows(files: Sequence[Path]) -> int:
    """Rows of Parquet ``files``, from their metadata."""
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)


def _where(places: Sequence[Any]) -> str:
    """Where rows came from, for messages: ``"file a.parquet"``, ``"files
    a.parquet, b.parquet"`` or ``"a partition of the input dataset"``
    (``places`` holds such texts, one per fragment)."""
    names = [str(p) for p in dict.fromkeys(places) if p]
    if not names:
        return "a partition of the input dataset"
    if len(names) == 1:
        return names[0]
    files = [n[len("file "):] if n.startswith("file ") else n for n in names]
    return "files " + ", ".join(files[:5]) + (f" ({len(files) - 5} more)" if len(files) > 5 else "")


def _by_item(ds, item_id: str, partitions: int):
    """Stage 3: ``partitions`` blocks sorted by item id, all fragments of
    an item in one block (the sort's range partitioning puts equal keys in
    one partition; Ray's own ``groupby().map_groups`` relies on it too).
    The block count is set first (``repartition`` without a shuffle: blocks
    split or joined), because the sort keeps it."""
    return ds.repartition(partitions).sort(item_id)


def _read_fragments(pieces: pd.DataFrame, item_id: str, timestamp: str, target: str,
                    covariates: List[str]) -> "Any":
    """Stage 2 for Parquet files: read each piece (row groups of one file,
    only the needed columns) and collapse it into fragments
    (:func:`_fragments`), errors naming the file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = list(dict.fromkeys([item_id, timestamp, target, *covariates]))
    tables = []
    for name, groups in zip(pieces["file"], pieces["row_groups"]):
        try:
            rows = pq.ParquetFile(name).read_row_groups(list(groups), columns=columns).to_pandas()
        except Exception as exc:  # a file changed or damaged since it was listed
            raise _worker_error(f"file {name}: cannot read row groups {list(groups)}: "
                                f"{type(exc).__name__}: {exc}") from None
        tables.append(_fragments(rows, item_id, timestamp, target, covariates, where=f"file {name}"))
    return pa.concat_tables(tables)


def _fragments(rows: pd.DataFrame, item_id: str, timestamp: str, target: str, covariates: List[str],
               where: str = "a partition of the input dataset") -> "Any":
    """Stage 2: rows in long format -> one row per item with the item's
    timestamps and values as lists (F rows for F items), and the file
    (``where``) they came from; rows checked by ``long_rows``
    (DataError prefixed by ``where``)."""
    import pyarrow as pa

    if rows.empty:  # an empty block of a Dataset
        data = {item_id: pa.array([], pa.string()), FILE_COLUMN: pa.array([], pa.string()),
                timestamp: pa.array([], pa.list_(pa.timestamp("ns"))), target: pa.array([], pa.list_(pa.float64()))}
        data.update({c: pa.array([], pa.list_(pa.float64())) for c in covariates})
        return pa.table(data)
    try:
        checked = long_rows(rows, item_id, timestamp, target, covariates)
    except DataError as exc:
        raise _worker_error(f"{where}: {exc}") from None
    order = np.lexsort((checked.stamps.asi8, checked.codes))
    codes = checked.codes[order]
    bounds = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1], True]).astype(np.int32)
    offsets = pa.array(bounds, type=pa.int32())
    n = len(bounds) - 1
    data = {
        item_id: pa.array(checked.names[codes[bounds[:-1]]].astype(str), type=pa.string()),
        FILE_COLUMN: pa.array([where] * n, type=pa.string()),
        timestamp: pa.ListArray.from_arrays(offsets, _nanoseconds(checked.stamps[order], where)),
        target: pa.ListArray.from_arrays(offsets, pa.array(checked.values[order], type=pa.float64())),
    }
    for c, values in zip(covariates, checked.cov_values):
        data[c] = pa.ListArray.from_arrays(offsets, pa.array(values[order], type=pa.float64()))
    return pa.table(data)


def _nanoseconds(stamps: pd.DatetimeIndex, where: str) -> "Any":
    """Timestamps as an Arrow timestamp[ns] array (one type for every
    partition); DataError naming ``where`` for dates beyond 1677-2262."""
    import pyarrow as pa

    try:
        return pa.array(np.asarray(stamps.as_unit("ns")))
    except (OverflowError, ValueError, pd.errors.OutOfBoundsDatetime) as exc:
        raise _worker_error(f"{where}: timestamps outside 1677-2262 are not supported on Ray ({exc})") from None


class _Forecaster:
    """Stage 4, an actor: loads the predictor once, then turns each
    partition of fragments into forecast tables (yielded in row groups of
    about ``output.ROW_GROUP_ROWS`` rows)."""

    def __init__(self, predictor: str, levels: List[float], item_id: str, timestamp: str, target: str,
                 covariates: List[str], freq: Optional[str], trained_freq: Optional[str],
                 batch_size: Optional[int], threads: int) -> None:
        import torch

        torch.set_num_threads(threads)
        self.predictor, _ = load_predictor(predictor)
        self.levels, self.freq, self.trained_freq = levels, freq, trained_freq
        self.item_id, self.timestamp, self.target, self.covariates = item_id, timestamp, target, covariates
        self.batch_size = batch_size

    def __call__(self, block) -> Iterator[Any]:
        import pyarrow.compute as pc

        if block.num_rows == 0:
            return
        counts = pc.list_value_length(block.column(self.target)).to_numpy(zero_copy_only=False)
        codes, names = pd.factorize(block.column(self.item_id).to_numpy(zero_copy_only=False), sort=False)
        frame = pd.DataFrame({
            self.item_id: pd.Categorical.from_codes(np.repeat(codes, counts), categories=names),
            self.timestamp: pc.list_flatten(block.column(self.timestamp)).to_numpy(zero_copy_only=False),
            self.target: pc.list_flatten(block.column(self.target)).to_numpy(zero_copy_only=False),
        })
        for c in self.covariates:
            frame[c] = pc.list_flatten(block.column(c)).to_numpy(zero_copy_only=False)

        def where(exc: DataError) -> str:  # the file(s) of the item the error names
            files = block.column(FILE_COLUMN).to_pandas().astype(str).to_numpy()
            item = next((n for n in names if f"item {str(n)!r}" in str(exc)), None)
            return _where(files[codes == list(names).index(item)] if item is not None else files)

        yield from self._tables(frame, where)

    def _tables(self, frame: pd.DataFrame, where) -> Iterator[Any]:
        """Forecast tables of the long ``frame`` in row groups of about
        ``output.ROW_GROUP_ROWS`` rows; a DataError of the checks, or a
        ValueError of the predictor's own input checks (their messages
        start with ``"item "``, e.g. covariates the predictor was not
        trained with), is raised again prefixed by ``where(exc)``, for the
        driver."""
        import pyarrow as pa

        from .output import ROW_GROUP_ROWS

        try:
            entries = series_to_forecast(
                frame, self.predictor.prediction_length, self.trained_freq, item_id=self.item_id,
                timestamp=self.timestamp, target=self.target, covariates=self.covariates, freq=self.freq,
            )
        except DataError as exc:
            raise _worker_error(f"{where(exc)}: {exc}") from None
        pending, rows = [], 0
        for table in _input_errors(forecast_tables(self.predictor, entries, self.levels, self.batch_size), where):
            pending.append(table)
            rows += len(table)
            if rows >= ROW_GROUP_ROWS:
                yield pa.Table.from_pandas(pd.concat(pending, ignore_index=True), preserve_index=False)
                pending, rows = [], 0
        if pending:
            yield pa.Table.from_pandas(pd.concat(pending, ignore_index=True), preserve_index=False)


def _input_errors(tables: Iterator[Any], where) -> Iterator[Any]:
    """``tables``, with a ValueError of the predictor's input checks (a
    message starting with ``"item "``) raised as a marked DataError
    prefixed by ``where(exc)``; any other error as it is."""
    while True:
        try:
            table = next(tables)
        except StopIteration:
            return
        except ValueError as exc:
            if not str(exc).startswith("item "):
                raise
            raise _worker_error(f"{where(exc)}: {exc}") from None
        yield table


class _GroupedForecaster(_Forecaster):
    """Stage 4 for grouped input: each call gets one piece (a file's row
    groups), reads the rows of the items it owns and checks that they are
    grouped (:func:`~.parquet.read_grouped_piece`), and forecasts them."""

    def __call__(self, pieces: pd.DataFrame) -> Iterator[Any]:
        columns = list(dict.fromkeys([self.item_id, self.timestamp, self.target, *self.covariates]))
        for name, groups in zip(pieces["file"], pieces["row_groups"]):
            try:
                frame = read_grouped_piece(name, list(groups), columns, self.item_id)
            except DataError as exc:  # not grouped
                raise _worker_error(str(exc)) from None
            except Exception as exc:  # a file changed or damaged since it was listed
                raise _worker_error(f"file {name}: cannot read row groups {list(groups)}: "
                                    f"{type(exc).__name__}: {exc}") from None
            if len(frame):  # else the piece lies inside an item that began before it
                yield from self._tables(frame, lambda exc, name=name: f"file {name}")
