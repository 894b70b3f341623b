"""Tests for gluonts_iqf.datasets.frames: long-format CSV / Parquet tables
(load_long_frame, read_frame, frequency inference).

Every bad input must raise DataError (a ValueError) whose one-line message
names the problem and, where there is one, the item.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from dataset_helpers import make_frame, raises_data_error, write_csv

from gluonts_iqf import datasets as D
from gluonts_iqf.datasets import DataError


# ---------------------------------------------------------------------- #
# load_long_frame: good input
# ---------------------------------------------------------------------- #
def test_csv_basic_entries(tmp_path):
    path = write_csv(tmp_path, make_frame())
    entries = D.load_long_frame(path)
    assert [e["item_id"] for e in entries] == ["a", "b"]
    a, b = entries
    assert a["start"] == pd.Period("2021-01-01", freq="D")
    assert b["start"] == pd.Period("2021-01-03", freq="D")
    assert a["target"].dtype == np.float32 and a["target"].shape == (6,)
    np.testing.assert_array_equal(a["target"], np.arange(6, dtype=np.float32))
    np.testing.assert_array_equal(b["target"], np.arange(6, 11, dtype=np.float32))
    assert "feat_dynamic_real" not in a
    assert a["start"].freqstr == "D"


def test_parquet_equals_csv(tmp_path):
    frame = make_frame(freq="h")
    csv = D.load_long_frame(write_csv(tmp_path, frame))
    pq_frame = frame.copy()
    pq_frame["timestamp"] = pd.to_datetime(pq_frame["timestamp"])
    pq_path = tmp_path / "data.parquet"
    pq_frame.to_parquet(pq_path)
    pq = D.load_long_frame(pq_path)
    assert len(pq) == len(csv) == 2
    for x, y in zip(csv, pq):
        assert x["start"] == y["start"] and x["start"].freqstr == "h"
        assert x["item_id"] == y["item_id"]
        np.testing.assert_array_equal(x["target"], y["target"])


def test_custom_columns_rows_unsorted_and_missing_values(tmp_path):
    frame = make_frame().rename(columns={"item_id": "sku", "timestamp": "date", "target": "sales"})
    frame.loc[2, "sales"] = np.nan  # empty cell -> NaN
    frame = frame.sample(frac=1.0, random_state=0)  # any row order
    entries = D.load_long_frame(
        write_csv(tmp_path, frame), item_id="sku", timestamp="date", target="sales"
    )
    a = next(e for e in entries if e["item_id"] == "a")
    assert np.isnan(a["target"][2])
    np.testing.assert_array_equal(a["target"][[0, 1, 3, 4, 5]], [0, 1, 3, 4, 5])


def test_covariates_and_static_covariates(tmp_path):
    frame = make_frame()
    entries = D.load_long_frame(
        write_csv(tmp_path, frame),
        covariates=["price", "size"],
        static_covariates=["store", "size"],
    )
    a, b = entries
    assert a["feat_dynamic_real"].shape == (2, 6)
    assert a["feat_dynamic_real"].dtype == np.float32
    np.testing.assert_allclose(a["feat_dynamic_real"][0], frame["price"][:6], rtol=1e-6)
    np.testing.assert_array_equal(a["feat_static_cat"], [0])  # 's1'
    np.testing.assert_array_equal(b["feat_static_cat"], [1])  # 's2'
    np.testing.assert_array_equal(b["feat_static_real"], [4.0])


def test_future_rows_carry_covariates_only():
    """future_rows=2: the last two time steps of each series leave the
    target and stay in the covariates (T + 2 columns); a value in a future
    row's target, a series with nothing before its horizon, and a negative
    count are errors."""
    rows = []
    for item, n in (("a", 6), ("b", 4)):
        for t in range(n):
            rows.append({"item_id": item, "timestamp": pd.Timestamp("2024-01-01") + pd.Timedelta(hours=t),
                         "target": float(10 * t + 1) if t < n - 2 else np.nan, "price": float(t)})
    frame = pd.DataFrame(rows)
    a, b = D.load_long_frame(frame, covariates=["price"], future_rows=2)
    np.testing.assert_array_equal(a["target"], [1, 11, 21, 31])
    np.testing.assert_array_equal(a["feat_dynamic_real"], [[0, 1, 2, 3, 4, 5]])
    assert b["target"].shape == (2,) and b["feat_dynamic_real"].shape == (1, 4)
    plain = D.load_long_frame(frame, covariates=["price"])  # without: the empty rows are missing values
    assert plain[0]["target"].shape == (6,) and np.isnan(plain[0]["target"][-2:]).all()
    filled = frame.copy()
    filled.loc[4, "target"] = 5.0  # item a, its first future step
    with pytest.raises(DataError, match=r"item 'a': the last 2 time steps are the forecast horizon .* "
                                        r"has a value at 2024-01-01 04:00 \(5\)"):
        D.load_long_frame(filled, covariates=["price"], future_rows=2)
    with pytest.raises(DataError, match="item 'b'.*fewer than the required minimum of 5"):
        D.load_long_frame(frame, covariates=["price"], future_rows=2, min_length=3)
    with pytest.raises(ValueError, match="future_rows must be >= 0"):
        D.load_long_frame(frame, future_rows=-1)


def test_explicit_freq_fills_gaps_with_nan(tmp_path):
    frame = make_frame().drop(index=[2, 3])  # 'a' misses 2021-01-03 and -04
    path = write_csv(tmp_path, frame)
    a = D.load_long_frame(path, freq="D")[0]
    assert len(a["target"]) == 6
    assert np.isnan(a["target"][[2, 3]]).all()
    # without freq the other series ('b', regular) fixes the grid: same result
    a2 = D.load_long_frame(path)[0]
    np.testing.assert_array_equal(np.isnan(a2["target"]), np.isnan(a["target"]))


def test_monthly_month_end_and_month_start(tmp_path):
    for stamps in (["2020-01-31", "2020-02-29", "2020-03-31"], ["2020-01-01", "2020-02-01", "2020-03-01"]):
        frame = pd.DataFrame({"item_id": "x", "timestamp": stamps, "target": [1, 2, 3]})
        e = D.load_long_frame(write_csv(tmp_path, frame))[0]
        assert e["start"] == pd.Period("2020-01", freq="M")


def test_single_series_without_item_column(tmp_path):
    frame = make_frame().drop(columns=["item_id"]).iloc[:6]
    e = D.load_long_frame(write_csv(tmp_path, frame), item_id=None)
    assert len(e) == 1 and e[0]["item_id"] == "0"


def test_item_ids_stay_strings(tmp_path):
    frame = pd.DataFrame(
        {"item_id": ["007"] * 3, "timestamp": ["2020-01-01", "2020-01-02", "2020-01-03"], "target": [1, 2, 3]}
    )
    assert D.load_long_frame(write_csv(tmp_path, frame))[0]["item_id"] == "007"


# ---------------------------------------------------------------------- #
# load_long_frame: bad input
# ---------------------------------------------------------------------- #
def test_missing_file(tmp_path):
    raises_data_error(["not found", "nope.csv"], D.load_long_frame, tmp_path / "nope.csv")


def test_unsupported_suffix(tmp_path):
    p = tmp_path / "data.xlsx"
    p.write_text("x")
    raises_data_error(["unsupported file type", "data.xlsx"], D.load_long_frame, p)


def test_empty_file(tmp_path):
    p = tmp_path / "empty.csv"
    p.write_text("")
    raises_data_error(["empty"], D.load_long_frame, p)


@pytest.mark.parametrize(
    "kwargs, role, col",
    [
        ({"target": "sales"}, "target", "sales"),
        ({"timestamp": "date"}, "timestamp", "date"),
        ({"item_id": "sku"}, "item id", "sku"),
        ({"covariates": ["promo"]}, "covariate", "promo"),
    ],
)
def test_missing_column_lists_available(tmp_path, kwargs, role, col):
    msg = raises_data_error(
        [f"missing {role} column {col!r}", "available columns", "'item_id'", "'timestamp'", "'target'"],
        D.load_long_frame, write_csv(tmp_path, make_frame()), **kwargs,
    )
    assert "'price'" in msg


def test_unparsable_timestamp_names_item_and_value(tmp_path):
    frame = make_frame()
    frame.loc[7, "timestamp"] = "not-a-date"
    raises_data_error(["item 'b'", "unparsable timestamp", "'not-a-date'"], D.load_long_frame, write_csv(tmp_path, frame))


def test_numeric_timestamps_rejected(tmp_path):
    frame = make_frame()
    frame["timestamp"] = np.arange(len(frame))
    frame.to_parquet(tmp_path / "n.parquet")
    raises_data_error(["holds numbers, not timestamps", "item 'a'"], D.load_long_frame, tmp_path / "n.parquet")
    # in a CSV they are text: reported as unparsable
    raises_data_error(["item 'a'", "unparsable timestamp '0'"], D.load_long_frame, write_csv(tmp_path, frame))


def test_duplicate_timestamp_names_item_and_timestamp(tmp_path):
    frame = make_frame()
    frame.loc[8, "timestamp"] = frame.loc[7, "timestamp"]  # within 'b'
    raises_data_error(["item 'b'", "duplicate timestamp", "2021-01-04"], D.load_long_frame, write_csv(tmp_path, frame))


def test_non_numeric_target(tmp_path):
    frame = make_frame()
    frame["target"] = frame["target"].astype(object)
    frame.loc[1, "target"] = "lots"
    raises_data_error(["item 'a'", "non-numeric value 'lots'", "'target'"], D.load_long_frame, write_csv(tmp_path, frame))


def test_irregular_timestamps_name_item(tmp_path):
    frame = make_frame()
    frame.loc[8, "timestamp"] = "2021-01-05 06:00"  # 'b' off the daily grid
    raises_data_error(["item 'b'", "irregular"], D.load_long_frame, write_csv(tmp_path, frame))


def test_irregular_everywhere_cannot_infer(tmp_path):
    frame = pd.DataFrame(
        {"item_id": "z", "timestamp": ["2020-01-01", "2020-01-02", "2020-01-04", "2020-01-07"], "target": range(4)}
    )
    raises_data_error(["item 'z'", "irregular", "cannot infer the frequency"], D.load_long_frame, write_csv(tmp_path, frame))


def test_frequencies_disagree(tmp_path):
    a = make_frame(freq="D").iloc[:6]
    b = make_frame(freq="h").iloc[6:]
    msg = raises_data_error(["disagree", "item 'a'", "item 'b'"], D.load_long_frame, write_csv(tmp_path, pd.concat([a, b])))
    assert "'D'" in msg and "'h'" in msg


def test_too_few_timestamps_to_infer(tmp_path):
    frame = make_frame().iloc[:2]
    raises_data_error(["item 'a'", "cannot infer the frequency from 2"], D.load_long_frame, write_csv(tmp_path, frame))


def test_unknown_frequency():
    with pytest.raises(DataError, match="unknown frequency 'fortnightly-ish'"):
        D.load_long_frame(make_frame(), freq="fortnightly-ish")


def test_explicit_freq_coarser_than_data(tmp_path):
    frame = make_frame(freq="h")
    raises_data_error(["item 'a'", "same 'D' period"], D.load_long_frame, write_csv(tmp_path, frame), freq="D")


def test_series_shorter_than_minimum(tmp_path):
    raises_data_error(
        ["item 'b'", "5 time step(s)", "minimum of 6"],
        D.load_long_frame, write_csv(tmp_path, make_frame()), min_length=6,
    )


def test_nan_in_covariate(tmp_path):
    frame = make_frame()
    frame.loc[7, "price"] = np.nan
    raises_data_error(["item 'b'", "NaN in covariate 'price'", "2021-01-04"],
            D.load_long_frame, write_csv(tmp_path, frame), covariates=["price"])


def test_covariate_missing_row_is_nan(tmp_path):
    frame = make_frame().drop(index=[2])
    raises_data_error(["item 'a'", "NaN in covariate 'price'", "missing row"],
            D.load_long_frame, write_csv(tmp_path, frame), covariates=["price"], freq="D")


def test_static_covariate_varies(tmp_path):
    frame = make_frame()
    frame.loc[1, "store"] = "s9"
    raises_data_error(["item 'a'", "static covariate 'store' varies"],
            D.load_long_frame, write_csv(tmp_path, frame), static_covariates=["store"])


def test_missing_item_id(tmp_path):
    frame = make_frame()
    frame.loc[3, "item_id"] = np.nan
    raises_data_error(["missing item id", "row 4"], D.load_long_frame, write_csv(tmp_path, frame))


def test_all_missing_target(tmp_path):
    frame = make_frame()
    frame.loc[:5, "target"] = np.nan
    raises_data_error(["item 'a'", "no observed target values"], D.load_long_frame, write_csv(tmp_path, frame))


# ---------------------------------------------------------------------- #
# grouping without a per-series loop: same entries as series by series
# ---------------------------------------------------------------------- #
def _reference_entries(frame, freq=None, covariates=(), static_covariates=()):
    """Entries built item by item with pandas (the per-series way), for
    good input: items in order of first appearance, each placed on the
    ``pfreq`` periods from its first timestamp."""
    from gluonts_iqf.datasets.base import period_freq

    items = frame["item_id"].astype(str)
    stamps = pd.DatetimeIndex(pd.to_datetime(frame["timestamp"]))
    if freq is None:
        found = {pd.infer_freq(stamps[(items == i).to_numpy()].sort_values()) for i in pd.unique(items)}
        assert len(found) == 1
        freq = found.pop()
    pfreq = period_freq(freq)
    codes = {}
    for c in static_covariates:
        if not pd.api.types.is_numeric_dtype(frame[c]):
            codes[c] = {v: k for k, v in enumerate(sorted(frame[c].astype(str).unique()))}
    entries = []
    for item in pd.unique(items):
        rows = np.flatnonzero((items == item).to_numpy())
        rows = rows[np.argsort(stamps[rows].asi8, kind="stable")]
        periods = stamps[rows].to_period(pfreq)
        grid = pd.period_range(periods[0], periods[-1], freq=pfreq)
        pos = grid.get_indexer(periods)
        y = np.full(len(grid), np.nan, dtype=np.float32)
        y[pos] = frame["target"].to_numpy(dtype=np.float64)[rows]
        entry = {"start": periods[0], "target": y, "item_id": item}
        if covariates:
            x = np.full((len(covariates), len(grid)), np.nan, dtype=np.float32)
            for k, c in enumerate(covariates):
                x[k, pos] = frame[c].to_numpy(dtype=np.float64)[rows]
            entry["feat_dynamic_real"] = x
        reals = [float(frame[c].iloc[rows[0]]) for c in static_covariates if c not in codes]
        cats = [codes[c][str(frame[c].iloc[rows[0]])] for c in static_covariates if c in codes]
        if reals:
            entry["feat_static_real"] = np.array(reals, dtype=np.float32)
        if cats:
            entry["feat_static_cat"] = np.array(cats, dtype=np.int32)
        entries.append(entry)
    return entries


def _assert_same_entries(got, expected):
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert list(g) == list(e)
        assert g["item_id"] == e["item_id"]
        assert g["start"] == e["start"] and g["start"].freqstr == e["start"].freqstr
        for key in set(g) - {"item_id", "start"}:
            assert g[key].dtype == e[key].dtype and g[key].shape == e[key].shape, key
            np.testing.assert_array_equal(g[key], e[key])  # NaN positions included


@pytest.mark.parametrize("seed", range(12))
def test_grouping_equals_the_series_by_series_result(seed):
    """Random good tables (shuffled rows, frequencies from 15 minutes to
    months, gaps with an explicit frequency, NaN targets, covariates,
    static covariates, timestamps as text, datetime64[ns] or [us]): the
    entries equal those built item by item. Exact (same float32 casts)."""
    rng = np.random.default_rng(seed)
    freq = ["h", "2h", "15min", "D", "W-WED", "MS", "ME"][seed % 7]
    explicit = seed % 3 == 0
    parts = []
    for g in range(int(rng.integers(1, 7))):
        n = int(rng.integers(3, 30))
        start = pd.Timestamp("2021-01-06") + pd.Timedelta(days=int(rng.integers(0, 5)) * 7)
        ts = pd.date_range(start, periods=n, freq=freq)
        if explicit and n > 4:
            ts = ts.delete(int(rng.integers(1, n - 1)))  # a gap -> NaN
        y = rng.normal(size=len(ts))
        y[rng.random(len(ts)) < 0.2] = np.nan
        y[0] = 1.0
        parts.append(pd.DataFrame({
            "item_id": f"s{g}", "timestamp": ts, "target": y,
            "price": rng.normal(size=len(ts)), "store": f"st{g % 2}", "size": float(g),
        }))
    frame = pd.concat(parts).sample(frac=1.0, random_state=seed).reset_index(drop=True)
    if seed % 4 == 1:
        frame["timestamp"] = frame["timestamp"].astype(str)
    elif seed % 4 == 2:
        frame["timestamp"] = frame["timestamp"].astype("datetime64[us]")
    kwargs = dict(freq=freq if explicit else None)
    if not explicit:  # covariates need every period present
        kwargs.update(covariates=["price"], static_covariates=["store", "size"])
    got = D.load_long_frame(frame, **kwargs)
    expected = _reference_entries(frame, **kwargs)
    _assert_same_entries(got, expected)


@pytest.mark.parametrize("freq", ["h", "3h", "30min", "10s", "D", "3D", "W-SUN", "W-WED", "2W-MON",
                                  "MS", "ME", "QS-JAN", "YS", "B"])
def test_inferred_frequency_equals_pd_infer_freq(freq):
    """Many series on one frequency from different starts: the frequency
    ``load_long_frame`` infers (once per spacing, or per grid) is
    ``pd.infer_freq`` of each series."""
    frames, found = [], set()
    for k in range(5):
        start = pd.Timestamp("2021-01-01") + pd.Timedelta(days=3 * k, hours=k if freq[-1] in "hs" else 0)
        ts = pd.date_range(start, periods=6 + k, freq=freq)
        found.add(pd.infer_freq(ts))
        frames.append(pd.DataFrame({"item_id": f"s{k}", "timestamp": ts, "target": np.arange(len(ts), dtype=float)}))
    assert len(found) == 1
    entries = D.load_long_frame(pd.concat(frames, ignore_index=True))
    from gluonts_iqf.datasets.base import period_freq

    assert entries[0]["start"].freqstr == period_freq(found.pop())


def test_the_first_bad_item_is_named():
    """Several bad items of different kinds: the first one in order of
    appearance is named, with its own error (as a loop over the items)."""
    frame = make_frame(n_a=6, n_b=5)
    c = make_frame(n_a=6, n_b=5).assign(item_id=lambda f: f["item_id"].map({"a": "c", "b": "d"}))
    frame = pd.concat([frame, c], ignore_index=True)
    frame.loc[frame["item_id"] == "d", "target"] = np.nan  # d: no observed value
    frame.loc[8, "price"] = np.nan  # b: NaN covariate
    raises_data_error(["item 'b'", "NaN in covariate 'price'"],
                      D.load_long_frame, frame, covariates=["price"])
    raises_data_error(["item 'b'", "5 time step(s)"], D.load_long_frame, frame, min_length=6)
    raises_data_error(["item 'd'", "no observed target values"], D.load_long_frame, frame)


def test_long_rows_checks_and_converts_each_row():
    frame = make_frame().sample(frac=1.0, random_state=1)  # index not 0..n-1
    rows = D.frames.long_rows(frame, covariates=["price"])
    assert list(rows.names) == list(pd.unique(frame["item_id"]))
    assert rows.codes.dtype == np.int64 and len(rows.codes) == len(frame)
    assert rows.stamps.dtype == "datetime64[ns]" and rows.values.dtype == np.float64
    np.testing.assert_array_equal(rows.values, frame["target"].to_numpy())
    np.testing.assert_array_equal(rows.cov_values[0], frame["price"].to_numpy())
    bad = make_frame()
    bad.loc[3, "target"] = "x"
    raises_data_error(["item 'a'", "non-numeric value 'x'"], D.frames.long_rows, bad)


def test_item_ids_with_one_string_form_are_one_item():
    frame = pd.DataFrame({"item_id": [1, "1", 1], "target": [1.0, 2.0, 3.0],
                          "timestamp": ["2020-01-01", "2020-01-02", "2020-01-03"]})
    entries = D.load_long_frame(frame)
    assert len(entries) == 1 and entries[0]["item_id"] == "1"
    np.testing.assert_array_equal(entries[0]["target"], [1.0, 2.0, 3.0])
