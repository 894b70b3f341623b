"""Tests for gluonts_iqf.plot (fan chart, quantile function, calibration,
correlation) on forecasts built from the embedded M4 hourly data.

The IQF forecasts are not trained: for each of the first 3 series the knot
values are the empirical quantiles (at the 11 default knot levels) of the last
48 training values, shifted per step so that the median follows the
seasonal-naive profile (value 24 h earlier). Adding a per-step constant to
non-decreasing quantiles keeps them non-decreasing, so every IQF is valid by
construction. Tails are MQ-CNN's fitted exponential tails.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.image as mimage  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from gluonts.model.forecast import SampleForecast  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402
from scipy import stats  # noqa: E402

from gluonts_iqf import IQF, QuantileFunctionForecast, datasets  # noqa: E402
from gluonts_iqf import plot as P  # noqa: E402
from gluonts_iqf.distributions.iqf import (  # noqa: E402
    DEFAULT_KNOT_LEVELS,
    fitted_tail_scales,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
N_SERIES = 3
N_DRAWS = 50  # self-drawn target paths per forecast -> 3 * 50 * 48 = 7200 PITs


# ---------------------------------------------------------------------- #
# fixtures
# ---------------------------------------------------------------------- #
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


@pytest.fixture(scope="module")
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


@pytest.fixture(scope="module")
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


def _forecast_kinds(data):
    f = data["forecasts"][0]
    return {
        "iqf": f,
        "sample": data["sample_fc"],
        "quantile": f.to_quantile_forecast([0.025, 0.1, 0.25, 0.5, 0.75, 0.9, 0.975]),
    }


def _check_png(path, width, height):
    with open(path, "rb") as fh:
        assert fh.read(8) == PNG_SIGNATURE
    img = mimage.imread(path)
    assert img.shape[:2] == (height, width)
    assert img.ndim == 3 and img.shape[2] in (3, 4)
    # not blank: a visible share of non-white pixels, many grey levels
    assert (img[..., :3].min(axis=-1) < 0.9).mean() > 0.02
    assert len(np.unique(img[..., 0])) > 10


def _bands(ax):
    return [
        c for c in ax.collections
        if isinstance(c, PolyCollection) and c.get_label().endswith("interval")
    ]


# ---------------------------------------------------------------------- #
# fan chart
# ---------------------------------------------------------------------- #
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


# ---------------------------------------------------------------------- #
# PNG output
# ---------------------------------------------------------------------- #
def test_every_plot_writes_a_png(data, self_drawn, tmp_path):
    f = data["forecasts"][0]
    cases = [
        ("fan.png", lambda p: P.fan_chart(f, history=data["trains"][0], path=p), (1200, 540)),
        ("qf.png", lambda p: P.quantile_function(f, step=3, path=p), (840, 540)),
        ("cal.png", lambda p: P.calibration(*self_drawn, path=p), (1320, 540)),
        ("corr.png", lambda p: P.correlation_matrix(data["sample_fc"], path=p), (780, 660)),
    ]
    for name, plot, (w, h) in cases:
        path = tmp_path / name
        fig = plot(path)
        assert isinstance(fig, matplotlib.figure.Figure)
        assert not plt.fignum_exists(fig.number)  # closed after saving
        _check_png(path, w, h)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(c[0] for c in cases)


def test_no_file_on_error(data, tmp_path):
    f = data["forecasts"][0]
    with pytest.raises(ValueError, match="levels"):
        P.fan_chart(f, levels=(0.5, 1.2), path=tmp_path / "bad.png")
    with pytest.raises(ValueError, match=r"\.png"):
        P.fan_chart(f, path=tmp_path / "fan.pdf")
    with pytest.raises(ValueError, match="marginal"):
        P.correlation_matrix(f, path=tmp_path / "corr.png")
    assert list(tmp_path.iterdir()) == []
    assert plt.get_fignums() == []  # nothing left open either


# ---------------------------------------------------------------------- #
# quantile function
# ---------------------------------------------------------------------- #
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


# ---------------------------------------------------------------------- #
# PIT and coverage
# ---------------------------------------------------------------------- #
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


# ---------------------------------------------------------------------- #
# correlation
# ---------------------------------------------------------------------- #
def _ar1_samples(rho=0.8, H=12, n=20_000, seed=0):
    idx = np.arange(H)
    corr = rho ** np.abs(idx[:, None] - idx[None, :])
    rng = np.random.default_rng(seed)
    return rng.multivariate_normal(np.zeros(H), corr, size=n), corr


def test_sample_correlation_ar1():
    x, corr = _ar1_samples()
    est = P.sample_correlation(x)
    assert est.shape == (12, 12)
    np.testing.assert_allclose(est, corr, atol=0.03)
    np.testing.assert_allclose(est, np.corrcoef(x, rowvar=False), atol=1e-12)
    np.testing.assert_array_equal(est, est.T)
    assert np.all(np.diag(est) == 1.0)


def test_sample_correlation_constant_step_is_nan():
    x, _ = _ar1_samples(H=4, n=100)
    x[:, 2] = 5.0
    est = P.sample_correlation(x)
    assert np.isnan(est[2]).all() and np.isnan(est[:, 2]).all()
    assert np.isfinite(np.delete(np.delete(est, 2, 0), 2, 1)).all()


def test_correlation_matrix_heatmap(data):
    x, _ = _ar1_samples(H=data["H"])
    sf = SampleForecast(x, start_date=data["forecasts"][0].start_date)
    for obj in (sf, x):
        fig = P.correlation_matrix(obj, title="AR(1)")
        ax, cax = fig.axes  # heatmap + colorbar
        (im,) = ax.images
        np.testing.assert_array_equal(im.get_array(), P.sample_correlation(x))
        assert im.get_clim() == (-1.0, 1.0)
        assert im.get_cmap().name == "RdBu_r"
        assert cax.get_ylabel() == "correlation"
        assert ax.get_title() == "AR(1)"


def test_correlation_matrix_rejects_marginal_forecasts(data):
    f = data["forecasts"][0]
    with pytest.raises(ValueError, match="marginal") as err:
        P.correlation_matrix(f)
    assert "MQF" in str(err.value)
    with pytest.raises(ValueError, match="joint"):
        P.correlation_matrix(f.to_quantile_forecast([0.1, 0.5, 0.9]))


# ---------------------------------------------------------------------- #
# bad input
# ---------------------------------------------------------------------- #
def _bad_calls(data):
    f = data["forecasts"][0]
    H = data["H"]
    sf = data["sample_fc"]
    y = data["observed"][0]
    mv = SampleForecast(np.zeros((10, H, 2)), start_date=f.start_date)
    weekly = pd.Series(
        np.arange(10.0), index=pd.period_range("2000-01-02", periods=10, freq="W")
    )
    return {
        "level above 1": (lambda: P.fan_chart(f, levels=(0.5, 1.5)), "levels"),
        "level 0": (lambda: P.coverage_curve([f], [y], [0.0, 0.5]), "levels"),
        "level 1": (lambda: P.calibration([f], [y], levels=[0.5, 1.0]), "levels"),
        "empty levels": (lambda: P.fan_chart(f, levels=()), "levels"),
        "fewer targets": (lambda: P.pit_values([f, f], [y]), "aligned"),
        "more targets": (lambda: P.coverage_curve([f], [y, y], [0.5]), "aligned"),
        "target length": (lambda: P.pit_values([f], [y[:-1]]), r"targets\[0\]"),
        "target 2-D": (lambda: P.pit_values([f], [y[None]]), r"targets\[0\]"),
        "no forecasts": (lambda: P.pit_values([], []), "empty"),
        "all NaN": (lambda: P.coverage_curve([f], [np.full(H, np.nan)], [0.5]), "observed"),
        "bins 0": (lambda: P.calibration([f], [y], bins=0), "bins"),
        "observed length": (lambda: P.fan_chart(f, observed=y[:5]), "observed"),
        "history 2-D": (lambda: P.fan_chart(f, history=np.zeros((3, 4))), "history"),
        "history freq": (lambda: P.fan_chart(f, history=weekly), "frequency"),
        "history_length": (lambda: P.fan_chart(f, history=y, history_length=-1), "history_length"),
        "multivariate": (lambda: P.fan_chart(mv), "multivariate"),
        "not a forecast": (lambda: P.fan_chart(np.zeros(H)), "Forecast"),
        "step too large": (lambda: P.quantile_function(f, step=H), "step"),
        "step negative": (lambda: P.quantile_function(f, step=-1), "step"),
        "samples columns": (lambda: P.quantile_function(f, samples=np.zeros((5, 3))), "samples"),
        "samples 3-D": (lambda: P.quantile_function(f, samples=np.zeros((5, 3, 2))), "samples"),
        "corr 1-D": (lambda: P.sample_correlation(np.zeros(5)), "shape"),
        "corr one path": (lambda: P.sample_correlation(np.zeros((1, 5))), "at least 2"),
        "corr NaN": (lambda: P.sample_correlation(np.array([[0.0, np.nan], [1, 2]])), "NaN"),
        "corr 3-D forecast": (lambda: P.correlation_matrix(mv), "shape"),
        "path suffix": (lambda: P.quantile_function(f, path="/tmp/x.jpg"), r"\.png"),
        "path dir": (lambda: P.fan_chart(f, path="/nonexistent-dir-xyz/a.png"), "directory"),
    }


BAD_CASES = [
    "level above 1", "level 0", "level 1", "empty levels", "fewer targets",
    "more targets", "target length", "target 2-D", "no forecasts", "all NaN",
    "bins 0", "observed length", "history 2-D", "history freq",
    "history_length", "multivariate", "not a forecast", "step too large",
    "step negative", "samples columns", "samples 3-D", "corr 1-D",
    "corr one path", "corr NaN", "corr 3-D forecast", "path suffix", "path dir",
]


def test_bad_cases_listed(data):
    assert sorted(BAD_CASES) == sorted(_bad_calls(data))


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input_raises_value_error(data, case):
    call, match = _bad_calls(data)[case]
    with pytest.raises(ValueError, match=match):
        call()
    assert plt.get_fignums() == []  # validation happens before any figure
