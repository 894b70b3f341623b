"""Tests for gluonts_iqf.plot.correlation (sample correlation and its heatmap)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from gluonts.model.forecast import SampleForecast  # noqa: E402

from gluonts_iqf.plot import correlation as P  # noqa: E402


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
