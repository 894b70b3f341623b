"""Tests for gluonts_iqf.plot.calibration_plot (PIT histogram and coverage
curve) and the PIT and coverage numbers it draws."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from gluonts.model.forecast import SampleForecast  # noqa: E402
from plot_helpers import N_DRAWS, N_SERIES  # noqa: E402
from scipy import stats  # noqa: E402

from gluonts_iqf.plot import calibration_plot as P  # noqa: E402


def test_pit_exact_for_iqf(data):
    fs, ys = data["forecasts"], data["observed"]
    pit = P.pit_values(fs, ys)
    expected = np.concatenate([f.cdf(y) for f, y in zip(fs, ys)])
    np.testing.assert_array_equal(pit, expected)
    assert pit.shape == (N_SERIES * data["H"],)
    assert np.all((pit >= 0) & (pit <= 1))


def test_pit_uniform_for_self_drawn_targets(self_drawn):
    pit = P.pit_values(*self_drawn)
    assert pit.shape == (N_SERIES * N_DRAWS * 48,)
    assert np.all((pit >= 0) & (pit <= 1))
    counts, _ = np.histogram(pit, bins=10, range=(0, 1))
    expected = pit.size / 10
    chi2 = ((counts - expected) ** 2 / expected).sum()
    # Tolerance: chi-square goodness of fit, 10 bins -> 9 degrees of freedom,
    # reject only above the 0.999 quantile (27.88).
    assert chi2 < stats.chi2.ppf(0.999, df=9), (chi2, counts)
    # and a KS test against U(0, 1) at the same level
    assert stats.kstest(pit, "uniform").pvalue > 1e-3


def test_coverage_curve_matches_levels_for_self_drawn(self_drawn):
    levels = np.linspace(0.05, 0.95, 19)
    cov = P.coverage_curve(*self_drawn, levels)
    assert cov.shape == (19,)
    # 7200 targets: binomial sd <= sqrt(0.25 / 7200) = 0.0059; allow 0.025
    # (~4 sd) per level
    np.testing.assert_allclose(cov, levels, atol=0.025)
    assert np.all(np.diff(cov) >= 0)


def test_coverage_curve_counts_and_nans(data):
    f = data["forecasts"][0]
    H = data["H"]
    q30 = f.quantile(0.3)
    # 10 targets just below q(0.3), the rest far above; 5 NaNs ignored
    y = np.where(np.arange(H) < 10, q30 - 1.0, q30 + 1e6)
    y[40:45] = np.nan
    cov = P.coverage_curve([f], [y], [0.3, 0.05])
    np.testing.assert_allclose(cov, [10 / (H - 5), 0.0])
    pit = P.pit_values([f], [y])
    assert pit.shape == (H - 5,)
    assert np.all(pit[:10] < 0.3)


def test_pit_sample_forecast_randomises_ties(data):
    start = data["forecasts"][0].start_date
    samples = np.tile(np.arange(100.0)[:, None], (1, 4))  # 0..99 per step
    sf = SampleForecast(samples, start_date=start)
    y = np.array([49.5, 10.0, -5.0, 200.0])
    pit = P.pit_values([sf], [y], seed=1)
    assert pit[0] == 0.5  # 50 of 100 samples below, no tie
    assert 0.10 <= pit[1] <= 0.11  # 10 below, 1 tie -> in [0.10, 0.11]
    assert pit[2] == 0.0 and pit[3] == 1.0
    np.testing.assert_array_equal(pit, P.pit_values([sf], [y], seed=1))
    # discrete samples: randomised ties keep the PIT of self-drawn targets uniform
    rng = np.random.default_rng(2)
    fs, ys = [], []
    for _ in range(300):
        s = rng.poisson(3.0, size=(200, 24)).astype(float)
        fs.append(SampleForecast(s, start_date=start))
        ys.append(s[rng.integers(200)])
    pit = P.pit_values(fs, ys, seed=3)
    counts, _ = np.histogram(pit, bins=10, range=(0, 1))
    chi2 = ((counts - pit.size / 10) ** 2 / (pit.size / 10)).sum()
    assert chi2 < stats.chi2.ppf(0.999, df=9), counts


def test_pit_quantile_forecast_approximates_exact(data):
    f = data["forecasts"][1]
    qf = f.to_quantile_forecast(np.round(np.arange(0.01, 1.0, 0.01), 2))
    y = data["observed"][1]
    exact = P.pit_values([f], [y])
    approx = P.pit_values([qf], [y])
    inside = (exact > 0.02) & (exact < 0.98)
    assert inside.sum() > 30
    # linear interpolation between quantiles 0.01 apart + 0.001 grid
    np.testing.assert_allclose(approx[inside], exact[inside], atol=0.01)


def test_calibration_figure(self_drawn):
    levels = np.linspace(0.1, 0.9, 9)
    fig = P.calibration(*self_drawn, levels=levels, bins=8, seed=0)
    ax_pit, ax_cov = fig.axes
    (bars,) = ax_pit.containers  # the histogram's BarContainer
    assert len(bars.patches) == 8
    heights = np.array([p.get_height() for p in bars.patches])
    pit = P.pit_values(*self_drawn, seed=0)
    np.testing.assert_allclose(
        heights, np.histogram(pit, bins=8, range=(0, 1), density=True)[0]
    )
    assert any(np.all(np.asarray(ln.get_ydata()) == 1.0) for ln in ax_pit.lines)  # uniform
    (emp,) = [ln for ln in ax_cov.lines if ln.get_label() == "empirical"]
    np.testing.assert_array_equal(emp.get_xdata(), levels)
    np.testing.assert_array_equal(emp.get_ydata(), P.coverage_curve(*self_drawn, levels))
    (ideal,) = [ln for ln in ax_cov.lines if ln.get_label() == "ideal"]
    np.testing.assert_array_equal(ideal.get_xdata(), ideal.get_ydata())


def test_calibration_into_given_figure(data, self_drawn):
    fig = plt.figure()
    assert P.calibration(*self_drawn, fig=fig) is fig
    assert len(fig.axes) == 2
    with pytest.raises(ValueError, match="empty"):
        P.calibration(*self_drawn, fig=fig)
    # sample forecasts work too
    sf = data["sample_fc"]
    fig2 = P.calibration([sf], [data["observed"][0]])
    assert fig2.axes[0].get_title() == f"PIT histogram (n = {data['H']})"
