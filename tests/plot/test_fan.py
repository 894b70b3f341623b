"""Tests for gluonts_iqf.plot.fan (fan chart)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from plot_helpers import _bands, _forecast_kinds  # noqa: E402

from gluonts_iqf.plot import fan as P  # noqa: E402


@pytest.mark.parametrize("kind", ["iqf", "sample", "quantile"])
def test_fan_chart_bands_median_and_legend(data, kind):
    f = _forecast_kinds(data)[kind]
    levels = (0.95, 0.5, 0.8)  # unsorted on purpose
    fig = P.fan_chart(
        f, history=data["trains"][0], levels=levels, history_length=72,
        observed=data["observed"][0],
    )
    assert isinstance(fig, matplotlib.figure.Figure)
    ax = fig.axes[0]
    bands = _bands(ax)
    assert [b.get_label() for b in bands] == [
        "95% interval", "80% interval", "50% interval"
    ]  # drawn widest first ...
    zorders = [b.get_zorder() for b in bands]
    assert zorders == sorted(zorders)  # ... so narrower bands lie on top
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == [
        "history", "median", "50% interval", "80% interval", "95% interval",
        "observed",
    ]
    # band edges are the central-interval quantiles (0.95 -> q(.025), q(.975))
    for band, c in zip(bands, (0.95, 0.8, 0.5)):
        y = np.concatenate([p.vertices[:, 1] for p in band.get_paths()])
        lo = np.asarray(f.quantile((1 - c) / 2))
        hi = np.asarray(f.quantile((1 + c) / 2))
        np.testing.assert_allclose(y.min(), lo.min(), rtol=1e-12)
        np.testing.assert_allclose(y.max(), hi.max(), rtol=1e-12)
    lines = {ln.get_label(): ln for ln in ax.lines}
    np.testing.assert_allclose(lines["median"].get_ydata(), f.quantile(0.5), rtol=1e-12)
    hist = lines["history"].get_ydata()
    np.testing.assert_array_equal(hist, data["trains"][0]["target"][-72:])


def test_fan_chart_nested_bands_iqf(data):
    f = data["forecasts"][0]
    levels = (0.5, 0.8, 0.95)
    fig = P.fan_chart(f, levels=levels)
    q = f.quantiles([0.025, 0.1, 0.25, 0.5, 0.75, 0.9, 0.975])
    assert np.all(np.diff(q, axis=0) >= 0)  # nested by monotonicity
    assert len(_bands(fig.axes[0])) == 3
    # no history given -> no history line and none in the legend
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["median", "50% interval", "80% interval", "95% interval"]


def test_fan_chart_history_forms_agree(data):
    f = data["forecasts"][1]
    train = data["trains"][1]
    target = np.asarray(train["target"], dtype=float)
    index = pd.period_range(train["start"], periods=len(target), freq=train["start"].freq)
    forms = [train, pd.Series(target, index=index), target]
    got = []
    for h in forms:
        fig = P.fan_chart(f, history=h, history_length=50)
        (line,) = [ln for ln in fig.axes[0].lines if ln.get_label() == "history"]
        got.append((np.asarray(line.get_xdata()), np.asarray(line.get_ydata())))
    for x, y in got:
        np.testing.assert_array_equal(y, target[-50:])
        assert (x == got[0][0]).all()
    # the last history point is the period just before the forecast start
    assert pd.Timestamp(got[0][0][-1]) == (f.start_date - 1).to_timestamp()


def test_fan_chart_test_entry_runs_through_window(data):
    # a GluonTS test entry also covers the forecast window: drawn through it
    f, test = data["forecasts"][0], data["tests"][0]
    fig = P.fan_chart(f, history=test, history_length=24)
    (line,) = [ln for ln in fig.axes[0].lines if ln.get_label() == "history"]
    np.testing.assert_array_equal(line.get_ydata(), test["target"][-(24 + data["H"]):])


def test_fan_chart_draws_into_given_axes(data):
    fig, axes = plt.subplots(1, 2)
    out = P.fan_chart(data["forecasts"][0], ax=axes[1], title="custom")
    assert out is fig
    assert axes[1].get_title() == "custom"
    assert len(_bands(axes[1])) == 3 and not axes[0].collections
