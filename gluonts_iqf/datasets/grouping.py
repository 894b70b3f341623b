"""Assembling series from the sorted rows of a long table: one pass of array
operations for all series (frequency inference per distinct spacing, the
time grid, static covariates), used by
:func:`~gluonts_iqf.datasets.frames.load_long_frame`."""

from __future__ import annotations

import warnings
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from .base import DataError, Entry, listing


def sort_rows(
    codes: np.ndarray, stamps: pd.DatetimeIndex, names: np.ndarray, column: str
) -> Tuple[np.ndarray, np.ndarray]:
    """Rows sorted by (item in order of first appearance, time), shape (n,),
    and the group bounds into that order, shape (G + 1,): item ``g`` owns
    ``order[bounds[g]:bounds[g + 1]]``. DataError naming the first item (in
    that order) with a duplicate timestamp, and the timestamp."""
    ns = stamps.asi8
    if len(codes) > 1 and (
        (codes[1:] > codes[:-1]) | ((codes[1:] == codes[:-1]) & (ns[1:] > ns[:-1]))
    ).all():
        order = np.arange(len(codes))  # already sorted (the usual layout)
    else:
        order = np.lexsort((ns, codes))
    sc, st = codes[order], ns[order]
    same_item = sc[1:] == sc[:-1]
    dup = np.flatnonzero(same_item & (st[1:] == st[:-1]))
    if dup.size:
        j = int(dup[0])
        raise DataError(
            f"item {str(names[sc[j]])!r}: duplicate timestamp {stamps[order[j]]} "
            f"in column {column!r}"
        )
    bounds = np.concatenate([[0], np.flatnonzero(~same_item) + 1, [len(sc)]])
    return order, bounds


def _unit_ns(stamps: pd.DatetimeIndex) -> int:
    """Nanoseconds per integer step of ``stamps.asi8`` (1 for
    datetime64[ns]; Parquet files may hold [us] or [ms])."""
    return int(np.timedelta64(1, np.datetime_data(stamps.dtype)[0]) // np.timedelta64(1, "ns"))


#: Uniform spacings (ns) below this infer a frequency that depends on the
#: spacing alone (and, for whole weeks, the weekday): no month-anchored rule
#: of ``pd.infer_freq`` can hold for dates fewer than 20 days apart.
_SPACING_ONLY_BELOW = 20 * 86_400 * 10**9


def infer_grouped_frequency(
    stamps: pd.DatetimeIndex, bounds: np.ndarray, names: np.ndarray
) -> str:
    """:func:`infer_frequency` of the sorted, grouped timestamps (item ``g``
    owns ``stamps[bounds[g]:bounds[g + 1]]``), same result and errors.

    ``pd.infer_freq`` runs once per distinct spacing (and weekday, for whole
    weeks) of the uniformly spaced series less than 20 days apart, and once
    per distinct timestamp grid of the others (monthly, business days,
    irregular series), instead of once per series."""
    ns = stamps.asi8
    first, lengths = bounds[:-1], np.diff(bounds)
    G = len(lengths)
    freqs = np.full(G, None, dtype=object)
    long = lengths >= 3
    # spacing per row (0 at each group's first row) and per group
    d = np.diff(ns, prepend=ns[:1])
    delta = np.zeros(G, dtype=np.int64)
    delta[long] = d[first[long] + 1]
    mismatch = d != np.repeat(delta, lengths)
    mismatch[first] = False
    uniform = long & (np.add.reduceat(mismatch.astype(np.int64), first) == 0)
    unit = _unit_ns(stamps)
    simple = uniform & (delta < _SPACING_ONLY_BELOW // unit)
    week = 7 * 86_400 * 10**9 // unit
    weekday = np.where(delta % week == 0, stamps[first].weekday, -1)
    keys = np.stack([delta, weekday], axis=1)
    rep = np.flatnonzero(simple)
    if rep.size:
        _, at, inverse = np.unique(keys[rep], axis=0, return_index=True, return_inverse=True)
        found = [pd.infer_freq(stamps[first[g]:first[g] + 3]) for g in rep[at]]
        freqs[rep] = np.asarray(found, dtype=object)[inverse.ravel()]
    cache: Dict[bytes, Optional[str]] = {}
    for g in np.flatnonzero(long & ~simple):
        grid = ns[first[g]:first[g] + lengths[g]]
        key = grid.tobytes()
        if key not in cache:
            cache[key] = pd.infer_freq(stamps[first[g]:first[g] + lengths[g]])
        freqs[g] = cache[key]

    known = np.flatnonzero(long & (freqs != None))  # noqa: E711 (object array)
    fcodes, fnames = pd.factorize(freqs[known], sort=False)  # in order of items
    if len(fnames) > 1:
        _, at = np.unique(fcodes, return_index=True)
        (f1, g1), (f2, g2) = zip(fnames[:2], known[at[:2]])
        raise DataError(
            f"series disagree on the frequency: item {str(names[g1])!r} is {f1!r}, item "
            f"{str(names[g2])!r} is {f2!r}; pass one frequency explicitly"
        )
    if len(fnames):
        return str(fnames[0])
    irregular = np.flatnonzero(long)
    if irregular.size:
        raise DataError(
            f"item {str(names[irregular[0]])!r}: irregular timestamps, cannot infer the "
            "frequency; pass the frequency explicitly (gaps become NaN)"
        )
    short = np.flatnonzero(~long)
    item, n = (str(names[short[0]]), int(lengths[short[0]])) if short.size else ("?", 0)
    raise DataError(
        f"item {item!r}: cannot infer the frequency from {n} timestamp(s); "
        "pass the frequency explicitly"
    )


def _fixed_spacing(offset_alias: str) -> Optional[int]:
    """Nanoseconds between consecutive points of a fixed-length frequency
    (hours, minutes, days, ...: ``date_range`` steps of equal length for
    naive timestamps), None for calendar ones (weeks, months, business
    days) or an alias pandas does not know."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            offset = pd.tseries.frequencies.to_offset(offset_alias)
    except ValueError:
        return None
    if isinstance(offset, pd.offsets.Tick):
        return int(offset.nanos)
    if type(offset) is pd.offsets.Day:  # not a Tick from pandas 3 on
        return int(offset.n) * 86_400 * 10**9
    return None


class SeriesBuilder:
    """The entries of :func:`load_long_frame` from its rows grouped by item
    (``order``, ``bounds`` of :func:`sort_rows`), built with array
    operations over all rows at once.

    Each check (two timestamps in one period, a timestamp off the inferred
    grid, a series shorter than ``min_length``, no observed target, NaN in
    a covariate, a static covariate that is NaN or varies) is first
    detected for all items at once; the flagged items are then re-checked
    one by one, in order, by the per-item code (:func:`_time_steps`,
    :func:`_static_features`), so the first error raised, and its message,
    are those of a loop over the items in order.
    """

    def __init__(
        self, frame, order, bounds, names, stamps, values, covariates, cov_values,
        static_covariates, static_codes, pfreq, offset_alias, strict, min_length,
    ) -> None:
        self.frame, self.order, self.bounds, self.names = frame, order, bounds, names
        self.stamps = stamps  # sorted by (item, time)
        self.values = values[order]
        self.covariates = list(covariates)
        self.cov_values = [c[order] for c in cov_values]
        self.static_covariates, self.static_codes = list(static_covariates), static_codes
        self.pfreq, self.offset_alias, self.strict = pfreq, offset_alias, strict
        self.min_length = min_length
        self.first, self.lengths = bounds[:-1], np.diff(bounds)
        self.group = np.repeat(np.arange(len(self.lengths)), self.lengths)  # item of each row

    def entries(self) -> List[Entry]:
        """One entry per item, in order of first appearance."""
        G = len(self.lengths)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            periods = self.stamps.to_period(self.pfreq)
        mult = max(int(getattr(periods.freq, "n", 1)), 1)
        ordinals = periods.asi8
        steps = (ordinals - np.repeat(ordinals[self.first], self.lengths)) // mult
        length = steps[self.bounds[1:] - 1] + 1  # time steps per item, (G,)
        offsets = np.concatenate([[0], np.cumsum(length)])
        pos = np.repeat(offsets[:-1], self.lengths) + steps  # row -> flat position

        flagged = np.zeros(G, dtype=bool)
        same = self.group[1:] == self.group[:-1]
        flagged[self.group[1:][same & (ordinals[1:] == ordinals[:-1])]] = True
        grid_checked = True
        if self.strict:
            spacing = _fixed_spacing(self.offset_alias)
            unit = _unit_ns(self.stamps)
            if spacing is None or spacing % unit:  # calendar frequency: per item, once per grid
                grid_checked = False
                flagged |= self.lengths >= 2
            else:
                ns = self.stamps.asi8
                off = (ns - np.repeat(ns[self.first], self.lengths)) % (spacing // unit) != 0
                flagged[self.group[off]] = True
        flagged |= length < self.min_length
        observed = np.bincount(self.group, weights=~np.isnan(self.values), minlength=G)
        flagged |= observed == 0

        target = np.full(offsets[-1], np.nan, dtype=np.float32)
        target[pos] = self.values
        cov = None
        if self.covariates:
            cov = np.full((offsets[-1], len(self.covariates)), np.nan, dtype=np.float32)
            for k, col in enumerate(self.cov_values):
                cov[pos, k] = col
            flagged |= np.logical_or.reduceat(np.isnan(cov).any(axis=1), offsets[:-1])
        for c in self.static_covariates:
            col = self.frame[c].to_numpy()[self.order]
            na = np.asarray(pd.isna(col))
            flagged[self.group[na]] = True
            varies = same & (col[1:] != col[:-1]) & ~na[1:] & ~na[:-1]
            flagged[self.group[1:][varies]] = True

        starts = periods[self.first]
        if flagged.any():
            self._recheck(np.flatnonzero(flagged), starts, steps, length, observed, cov, offsets, grid_checked)
        reals, cats = self._static_values()
        targets = np.split(target, offsets[1:-1])
        entries: List[Entry] = [
            {"start": start, "target": y, "item_id": str(item)}
            for start, y, item in zip(starts, targets, self.names)
        ]
        if cov is not None:
            for entry, a, b in zip(entries, offsets[:-1], offsets[1:]):
                entry["feat_dynamic_real"] = np.ascontiguousarray(cov[a:b].T)
        if reals is not None:
            for entry, r in zip(entries, reals):
                entry["feat_static_real"] = r
        if cats is not None:
            for entry, r in zip(entries, cats):
                entry["feat_static_cat"] = r
        return entries

    def _recheck(self, groups, starts, steps, length, observed, cov, offsets, grid_checked) -> None:
        """Re-check the flagged items in order with the per-item code and
        raise the first error (flags may include items that pass: with a
        calendar frequency every item is checked against its grid, once per
        distinct grid)."""
        passed_grids = set()
        for g in groups:
            item = str(self.names[g])
            a, b = self.bounds[g], self.bounds[g + 1]
            ts = self.stamps[a:b]
            key = ts.asi8.tobytes()
            if grid_checked or key not in passed_grids:
                _time_steps(item, ts, self.pfreq, self.offset_alias, self.strict)
                passed_grids.add(key)
            if length[g] < self.min_length:
                raise DataError(
                    f"item {item!r}: series has {int(length[g])} time step(s), fewer than "
                    f"the required minimum of {self.min_length}"
                )
            if observed[g] == 0:
                raise DataError(f"item {item!r}: no observed target values")
            if cov is not None:
                for k, name in enumerate(self.covariates):
                    nan = np.flatnonzero(np.isnan(cov[offsets[g]:offsets[g + 1], k]))
                    if nan.size:
                        when = starts[g] + int(nan[0])
                        raise DataError(
                            f"item {item!r}: NaN in covariate {name!r} at {when}"
                            + (" (missing row)" if nan[0] not in steps[a:b] else "")
                        )
            _static_features(self.frame, self.order[a:b], item, self.static_covariates, self.static_codes)

    def _static_values(self) -> Tuple[Optional[np.ndarray], Optional[np.ndarray]]:
        """Each item's numeric static covariates, float32 (G, n_real), and
        the codes of the others, int32 (G, n_cat); None where there are
        none (the value of the item's first row: constant, checked)."""
        reals, cats = [], []
        for c in self.static_covariates:
            first = pd.Series(self.frame[c].to_numpy()[self.order[self.first]])
            if c in self.static_codes:
                cats.append(first.astype(str).map(self.static_codes[c]).to_numpy(dtype=np.int64))
            else:
                reals.append(pd.to_numeric(first).to_numpy(dtype=np.float64))
        return (
            np.stack(reals, axis=1).astype(np.float32) if reals else None,
            np.stack(cats, axis=1).astype(np.int32) if cats else None,
        )


def _time_steps(
    item: str, ts: pd.DatetimeIndex, pfreq: str, offset_alias: str, strict: bool
) -> Tuple[pd.Period, np.ndarray]:
    """First period and the time step of each sorted timestamp, shape (n,).

    Each timestamp is placed in its ``pfreq`` period; two in one period are
    an error. ``strict`` (inferred frequency) also requires every timestamp
    to lie on the ``offset_alias`` grid from the first one.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        periods = ts.to_period(pfreq)
    mult = max(int(getattr(periods.freq, "n", 1)), 1)
    ordinals = periods.asi8
    same = np.flatnonzero(ordinals[1:] == ordinals[:-1])
    if same.size:
        j = int(same[0])
        raise DataError(
            f"item {item!r}: timestamps {ts[j]} and {ts[j + 1]} fall in the "
            f"same {pfreq!r} period: irregular timestamps or a frequency "
            "coarser than the data"
        )
    if strict and len(ts) >= 2:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            grid = pd.date_range(ts[0], ts[-1], freq=offset_alias)
        off_grid = ~ts.isin(grid)
        if off_grid.any():
            bad = ts[int(np.flatnonzero(off_grid)[0])]
            raise DataError(
                f"item {item!r}: irregular timestamps: {bad} is not on the "
                f"{offset_alias!r} grid that starts at {ts[0]}; pass the "
                "frequency explicitly to place timestamps in periods"
            )
    return periods[0], (ordinals - ordinals[0]) // mult


def static_codes(
    frame: pd.DataFrame, static_covariates: Sequence[str]
) -> Dict[str, Dict[Any, int]]:
    """Integer codes (over the sorted distinct values of the whole table) of
    each non-numeric static covariate; numbers stored as text are numeric."""
    codes: Dict[str, Dict[Any, int]] = {}
    for c in static_covariates:
        col = frame[c]
        if not pd.api.types.is_numeric_dtype(col):
            num = pd.to_numeric(col, errors="coerce")
            if not (num.isna() & col.notna()).any():
                continue
            codes[c] = {
                v: i for i, v in enumerate(sorted(col.dropna().astype(str).unique()))
            }
    return codes


def _static_features(
    frame: pd.DataFrame,
    rows: np.ndarray,
    item: str,
    static_covariates: Sequence[str],
    static_codes: Dict[str, Dict[Any, int]],
) -> Tuple[List[float], List[int]]:
    """The series' value of each static covariate: (numeric ones, codes of
    the others); DataError when one is NaN or varies within the series."""
    reals: List[float] = []
    cats: List[int] = []
    for c in static_covariates:
        col = frame[c].iloc[rows]
        distinct = col.dropna().unique()
        if col.isna().any():
            raise DataError(f"item {item!r}: NaN in static covariate {c!r}")
        if len(distinct) != 1:
            raise DataError(
                f"item {item!r}: static covariate {c!r} varies within the "
                f"series ({listing(distinct[:3])})"
            )
        if c in static_codes:
            cats.append(static_codes[c][str(distinct[0])])
        else:
            reals.append(float(pd.to_numeric(distinct[0])))
    return reals, cats


