"""Argument checks (``gluonts_iqf.decision.checks``) through the public
functions: levels, lead time, dependence, costs, windows and series."""

import numpy as np
import pytest
from gluonts.model.forecast import SampleForecast

from gluonts_iqf.decision import (
    aggregate_quantiles,
    lead_time_quantiles,
    newsvendor_level,
    optimal_stock,
    service_level_tradeoff,
)
from gluonts_iqf.decision.checks import check_series


@pytest.mark.parametrize("levels, message", [
    ([0.0, 0.5], r"strictly inside \(0, 1\)"),
    ([0.5, 1.0], r"strictly inside \(0, 1\)"),
    ([-0.1], r"strictly inside \(0, 1\)"),
    ([0.9, 0.5], "unsorted"),
    ([0.5, 0.5], "repeated"),
    ([0.5, float("nan")], "NaN"),
    ([], "empty"),
    (np.array([[0.5, 0.6]]), "one-dimensional"),
    (["a", "b"], "must be numbers"),
    ([True, False], "booleans"),
    ({0.5, 0.6}, "sequence of floats"),
    # a string without ':' is a comma list (gluonts_iqf.levels): its entry
    # '0.90-0.99' is not a number
    ("0.90-0.99", "'0.90-0.99' is not a number"),
    ("0.90:", "malformed levels string"),
    ("0.9:0.95:0.01:1", "malformed levels string"),
    ("0.9:abc", "decimal numbers"),
    ("0.9:nan", "finite"),
    ("0.99:0.90", "greater than stop"),
    ("0.90:0.99:0", "step must be > 0"),
    ("0.90:0.99:-0.01", "step must be > 0"),
    ("0.90:0.995", "whole number of steps"),
    ("0.90:1.0", r"strictly inside \(0, 1\)"),
])
def test_bad_levels(fc, levels, message):
    with pytest.raises(ValueError, match=message):
        service_level_tradeoff(fc, levels)
    with pytest.raises(ValueError, match=message):
        lead_time_quantiles(fc, levels)


@pytest.mark.parametrize("lead_time", [0, -1, 5, 1.5, True, "2"])  # 5: one past H = 4
def test_bad_lead_time(fc, lead_time):
    assert fc.prediction_length == 4
    with pytest.raises(ValueError, match="lead_time"):
        service_level_tradeoff(fc, [0.5], lead_time=lead_time)
    with pytest.raises(ValueError, match="lead_time"):
        optimal_stock(fc, 1.0, 1.0, lead_time=lead_time)
    with pytest.raises(ValueError, match="lead_time"):
        lead_time_quantiles(fc, [0.5], lead_time=lead_time)


def test_lead_time_accepts_numpy_integers(fc):
    assert service_level_tradeoff(fc, [0.5], lead_time=np.int64(2)).attrs["lead_time"] == 2


@pytest.mark.parametrize("dependence", ["joint", "Both", None])
def test_bad_dependence(fc, dependence):
    for call in (lambda: service_level_tradeoff(fc, [0.5], dependence=dependence),
                 lambda: lead_time_quantiles(fc, [0.5], dependence=dependence),
                 lambda: optimal_stock(fc, 1.0, 1.0, dependence=dependence)):
        with pytest.raises(ValueError, match="dependence must be one of"):
            call()


@pytest.mark.parametrize("cu, co, name", [
    (0.0, 1.0, "underage_cost"), (-1.0, 1.0, "underage_cost"),
    (1.0, 0.0, "overage_cost"), (1.0, float("inf"), "overage_cost"),
    (float("nan"), 1.0, "underage_cost"), (True, 1.0, "underage_cost"),
    ("3", 1.0, "underage_cost"), (1.0, None, "overage_cost"),
])
def test_bad_costs(hand, cu, co, name):
    with pytest.raises(ValueError, match=f"{name} must be a positive finite number"):
        newsvendor_level(cu, co)
    with pytest.raises(ValueError, match=name):
        optimal_stock(hand.forecast(), cu, co)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(start=-1), "0 <= start < stop"),
        (dict(start=3, stop=3), "0 <= start < stop"),
        (dict(start=4, stop=2), "0 <= start < stop"),
        (dict(stop=6), "0 <= start < stop"),  # one past H = 5
        (dict(start=0.5), "start must be an integer"),
        (dict(stop=True), "stop must be an integer"),
        (dict(series=[0, 3]), "out of range"),
        (dict(series=-1), "out of range"),
        (dict(series=[1, 1]), "repeated"),
        (dict(series=[]), "non-empty"),
        (dict(series=[1.0, 2.0]), "one per series"),
        (dict(series=[1.0, np.nan, 0.0]), "finite"),
        (dict(series=[True, False, True]), "booleans"),
        (dict(series=True), "boolean"),
        (dict(series="sum"), "expected an index"),
        (dict(series={}), "empty dict"),
        (dict(series=[[0, 1]]), "1-d"),
    ],
)
def test_bad_windows_and_series(joint, kwargs, message):
    assert joint.H == 5
    with pytest.raises(ValueError, match=message):
        aggregate_quantiles(joint.forecast, [0.5], **kwargs)


def test_series_labels():
    assert [a.label for a in check_series(None, 3)] == ["0", "1", "2", "sum"]
    assert [a.label for a in check_series(None, 1)] == ["0"]
    assert [a.label for a in check_series(np.int64(2), 3)] == ["2"]
    assert [a.label for a in check_series([2, 0], 3)] == ["sum[2,0]"]
    weighted = check_series([0.5, 1.0, 0.0], 3)
    assert [a.label for a in weighted] == ["weighted"]
    assert weighted[0].describe() == {"weights": [0.5, 1.0, 0.0]}
    assert check_series({"a": 1}, 3)[0].describe() == {"indices": [1]}


def test_bad_calls_of_the_lead_time_functions(joint):
    fc, H = joint.forecast, joint.H
    for call in (lambda: lead_time_quantiles(fc, [0.5], dependence="independent"),
                 lambda: service_level_tradeoff(fc, [0.5], dependence="comonotone"),
                 lambda: optimal_stock(fc, 1.0, 1.0, dependence="both")):
        with pytest.raises(ValueError, match="only the joint totals"):
            call()
    with pytest.raises(ValueError, match="dependence must be one of"):
        lead_time_quantiles(fc, [0.5], dependence="joint")
    with pytest.raises(ValueError, match="out of range"):
        service_level_tradeoff(fc, [0.5], series=[5])
    with pytest.raises(ValueError, match="lead_time must lie"):
        lead_time_quantiles(fc, [0.5], lead_time=H + 1)
    uni = SampleForecast(samples=joint.samples[:, :, 0], start_date=joint.start)
    for call in (lambda: lead_time_quantiles(uni, [0.5], series=0),
                 lambda: service_level_tradeoff(uni, [0.5], series=[0]),
                 lambda: optimal_stock(uni, 1.0, 1.0, series=0)):
        with pytest.raises(ValueError, match="series= selects series"):
            call()
    bad = joint.samples.copy()
    bad[0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        aggregate_quantiles(SampleForecast(samples=bad, start_date=joint.start), [0.5])
