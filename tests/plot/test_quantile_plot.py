"""Tests for gluonts_iqf.plot.quantile_plot (quantile function of one step)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from gluonts_iqf.plot import quantile_plot as P  # noqa: E402


def test_quantile_function_is_exact_on_grid(data):
    f = data["forecasts"][2]
    step = 7
    draws = data["sample_fc"].samples[:, step]
    fig = P.quantile_function(f, step=step, samples=draws, observed=data["observed"][2][step])
    ax = fig.axes[0]
    grid = P.QUANTILE_GRID
    assert len(grid) == 999 and grid[0] == 0.001 and grid[-1] == 0.999
    qline = ax.lines[0]
    np.testing.assert_array_equal(qline.get_xdata(), grid)
    np.testing.assert_array_equal(qline.get_ydata(), f.quantiles(grid)[:, step])
    lines = {ln.get_label(): ln for ln in ax.lines}
    d = f.distribution
    np.testing.assert_array_equal(lines["knots"].get_xdata(), d.knot_levels.numpy())
    np.testing.assert_allclose(
        lines["knots"].get_ydata(),
        (d.loc[step] + d.scale[step] * d.knot_values[step]).numpy(),
        rtol=1e-12,
    )
    # the knots lie on the drawn quantile function
    np.testing.assert_allclose(
        f.quantiles(d.knot_levels.tolist())[:, step], lines["knots"].get_ydata(),
        rtol=1e-9,
    )
    emp = lines[f"empirical ({len(draws)} samples)"]
    np.testing.assert_array_equal(
        emp.get_ydata(), np.quantile(draws, grid, method="inverted_cdf")
    )
    obs = lines["observed"]
    assert np.all(np.asarray(obs.get_ydata()) == data["observed"][2][step])
    pit_line = [ln for ln in ax.lines if ln.get_label().startswith("PIT")]
    assert len(pit_line) == 1
    y = np.full(data["H"], data["observed"][2][step])
    assert pit_line[0].get_xdata()[0] == pytest.approx(f.cdf(y)[step])
    assert ax.get_xlabel().startswith("level")


def test_quantile_function_sample_forecast_samples_2d(data):
    sf = data["sample_fc"]
    fig = P.quantile_function(sf, step=0, samples=sf.samples)
    ax = fig.axes[0]
    assert "knots" not in [ln.get_label() for ln in ax.lines]
    np.testing.assert_array_equal(
        ax.lines[0].get_ydata(), [sf.quantile(a)[0] for a in P.QUANTILE_GRID]
    )
