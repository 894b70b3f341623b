"""Tests for gluonts_iqf.plot.figure (PNG output, path checks, no
file or open figure left behind on error) through every plot."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from plot_helpers import _check_png  # noqa: E402

from gluonts_iqf import plot as P  # noqa: E402


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
