"""Fixtures of the plot tests, on forecasts built from the embedded M4
hourly data.

The IQF forecasts are not trained: for each of the first 3 series the knot
values are the empirical quantiles (at the 11 default knot levels) of the last
48 training values, shifted per step so that the median follows the
seasonal-naive profile (value 24 h earlier). Adding a per-step constant to
non-decreasing quantiles keeps them non-decreasing, so every IQF is valid by
construction. Tails are MQ-CNN's fitted exponential tails.

Also makes ``plot_helpers.py`` importable: pytest runs with
``--import-mode=importlib``, which does not put test folders on
``sys.path``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from gluonts.model.forecast import SampleForecast  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from plot_helpers import N_DRAWS, N_SERIES  # noqa: E402

from gluonts_iqf import IQF, QuantileFunctionForecast, datasets  # noqa: E402
from gluonts_iqf.distributions.iqf import (  # noqa: E402
    DEFAULT_KNOT_LEVELS,
    fitted_tail_scales,
)


def _iqf_forecast(train: dict, H: int) -> QuantileFunctionForecast:
    y = np.asarray(train["target"], dtype=np.float64)
    last = y[-48:]
    levels = np.asarray(DEFAULT_KNOT_LEVELS)
    base = np.quantile(last, levels)  # (K,) non-decreasing
    shift = y[-24:][np.arange(H) % 24] - np.median(last)  # (H,)
    knot_values = torch.tensor(base[None, :] + shift[:, None])  # (H, K)
    s_left, s_right = fitted_tail_scales(list(levels), knot_values)
    floor = 1e-3 * (base[-1] - base[0] + 1.0)  # flat outer knots -> finite rate
    distr = IQF(
        levels,
        knot_values,
        1.0 / s_left.clamp_min(floor),
        1.0 / s_right.clamp_min(floor),
        validate_args=True,
    )
    start = train["start"] + len(y)
    return QuantileFunctionForecast(distr, start_date=start, item_id=train["item_id"])


@pytest.fixture(scope="session")
def data():
    ds = datasets.load("m4_hourly")
    H = ds.metadata.prediction_length
    trains = ds.train[:N_SERIES]
    tests = ds.test[:N_SERIES]
    forecasts = [_iqf_forecast(tr, H) for tr in trains]
    observed = [np.asarray(te["target"][-H:], dtype=float) for te in tests]
    rng = np.random.default_rng(0)
    f = forecasts[0]
    samples = rng.normal(f.mean, np.sqrt(f.variance), size=(400, H))
    sample_fc = SampleForecast(samples, start_date=f.start_date, item_id="normal")
    return dict(
        H=H, trains=trains, tests=tests, forecasts=forecasts,
        observed=observed, sample_fc=sample_fc,
    )


@pytest.fixture(scope="session")
def self_drawn(data):
    """Targets drawn from each forecast's own distribution (seeded)."""
    torch.manual_seed(0)
    fs, ys = [], []
    for f in data["forecasts"]:
        draws = f.distribution.sample((N_DRAWS,)).numpy()  # (N_DRAWS, H)
        fs += [f] * N_DRAWS
        ys += list(draws)
    return fs, ys


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")
