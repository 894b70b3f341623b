"""The one level validator and parser, and the median knot."""

import numpy as np
import pytest

from gluonts_iqf.levels import check_levels, median_index, parse_levels


def test_ranges_and_lists_parse_to_exact_decimals():
    assert check_levels("0.90:0.95").tolist() == [0.9, 0.91, 0.92, 0.93, 0.94, 0.95]
    assert check_levels("0.9:0.99:0.045").tolist() == [0.9, 0.945, 0.99]
    assert check_levels("0.05, 0.5,0.95").tolist() == [0.05, 0.5, 0.95]
    assert parse_levels("0.5").tolist() == [0.5]
    assert check_levels(0.3).tolist() == [0.3]
    assert check_levels(np.array([0.1, 0.2], dtype=np.float32)).dtype == np.float64


@pytest.mark.parametrize("levels, kwargs, message", [
    ("0.9:0.95:0", {}, "step must be > 0"),
    ("0.95:0.9", {}, "greater than stop"),
    ("0.9:0.95:0.02", {}, "whole number of steps"),
    ("0.9:x", {}, "decimal numbers"),
    ("0.9:nan", {}, "finite"),
    ("0.9:", {}, "malformed"),
    ("0.1,,0.2", {}, "comma-separated"),
    ("0.1,abc", {}, "not a number"),
    ([], {}, "empty"),
    ([0.5], {"min_count": 2}, "at least 2"),
    ([0.1, float("nan")], {}, "NaN"),
    ([0.0, 0.5], {}, r"strictly inside \(0, 1\)"),
    ([0.5, 1.0], {}, r"strictly inside \(0, 1\)"),
    ([0.5, 0.1], {}, "unsorted"),
    ([0.1, 0.1], {}, "repeated"),
    ([0.1, 0.1], {"sort": True}, "repeated"),
    ([True, False], {}, "booleans"),
    (["a", "b"], {}, "numbers"),
    ([[0.1, 0.2]], {}, "one-dimensional"),
    ({0.1}, {}, "sequence"),
])
def test_bad_levels_name_the_problem(levels, kwargs, message):
    with pytest.raises(ValueError, match=message):
        check_levels(levels, **kwargs)


def test_the_argument_name_is_in_the_message_and_options_relax_order():
    with pytest.raises(ValueError, match="^knot_levels"):
        check_levels([0.2, 0.1], name="knot_levels")
    with pytest.raises(ValueError, match="--levels"):
        check_levels("0.1,2", name="--levels")
    assert check_levels([0.9, 0.1], sort=True).tolist() == [0.1, 0.9]
    assert check_levels([0.9, 0.1, 0.9], increasing=False).tolist() == [0.9, 0.1, 0.9]


def test_median_index_is_the_level_nearest_one_half():
    assert median_index([0.1, 0.5, 0.9]) == 1
    assert median_index([0.025, 0.1, 0.3, 0.45, 0.7]) == 3
    assert median_index([0.25, 0.75]) == 0  # equally near: the first
    assert median_index((0.9,)) == 0
