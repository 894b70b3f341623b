"""Tests for gluonts_iqf.datasets.base: DataError and the shared helpers."""

import pandas as pd
import pytest

from gluonts_iqf.datasets import DataError
from gluonts_iqf.datasets.base import listing, period_freq


def test_data_error_is_value_error():
    assert issubclass(DataError, ValueError)
    assert str(DataError("two\nlines")) == "two lines"


def test_listing_shortens_long_lists():
    assert listing(["a", 1]) == "'a', '1'"
    long = listing([str(i) for i in range(20)])
    assert long.endswith("... (8 more)") and "'11'" in long and "'12'" not in long


@pytest.mark.parametrize("alias, expected", [("h", "h"), ("MS", "M"), ("ME", "M"), ("D", "D")])
def test_period_freq_normalises_aliases(alias, expected):
    assert period_freq(alias) == expected == pd.Period("2000-01-03", freq=expected).freqstr


def test_period_freq_unknown_alias():
    with pytest.raises(DataError, match="unknown frequency 'fortnightly-ish'"):
        period_freq("fortnightly-ish")
