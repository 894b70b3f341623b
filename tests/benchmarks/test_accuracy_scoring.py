"""benchmarks/_accuracy_scoring.py: the benchmark's metrics against GluonTS's Evaluator and hand-worked values."""

import sys
from pathlib import Path

import numpy as np
import pytest

from gluonts_iqf.baselines import GRID

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import _accuracy_scoring as S  # noqa: E402


def test_mase_is_averaged_over_the_series_where_it_is_defined():
    """A series whose history never changes has an infinite MASE in GluonTS;
    the benchmark's MASE is the mean over the others (worked out by hand:
    a history 1, 3, 2, 4 has mean absolute change 5/3, a median 4 against
    truths 5, 2 errs by 1.5 on average, MASE 0.9) and counts it."""
    import pandas as pd
    from gluonts.model.forecast import QuantileForecast

    assert S.mean_defined_mase(np.array([1.0, np.inf, 3.0, np.nan])) == (2.0, 2)
    assert np.isnan(S.mean_defined_mase(np.array([np.inf]))[0])
    start = pd.Period("2000", freq="Y")
    inputs = [{"target": np.array([1.0, 3.0, 2.0, 4.0]), "start": start},
              {"target": np.array([7.0, 7.0, 7.0, 7.0]), "start": start}]
    truth = [np.array([5.0, 2.0]), np.array([7.0, 8.0])]
    forecasts = [QuantileForecast(np.full((len(GRID), 2), m), start_date=start + 4,
                                  forecast_keys=[str(q) for q in GRID]) for m in (4.0, 7.0)]
    out = S.score(forecasts, inputs, truth, "Y")
    assert out["MASE_undefined"] == 1
    assert out["MASE"] == np.float64(1.5 / (5.0 / 3.0))


def test_series_parts_rebuild_every_metric_of_the_score():
    """The per-series parts kept with ``--keep-series`` give back the
    Evaluator's wQL and sMAPE, the defined-series MASE and the coverage
    error of :func:`score` (to the parts' 9 significant digits), on the
    whole set and on a subset scored on its own."""
    import pandas as pd
    from gluonts.model.forecast import QuantileForecast
    from scipy.stats import norm

    rng = np.random.default_rng(0)
    start = pd.Period("2000-01", freq="M")
    inputs, truth, forecasts = [], [], []
    for i in range(7):
        level = 10.0 ** rng.uniform(0, 3)
        history = level * (1 + 0.2 * rng.standard_normal(24))
        history = np.full(24, level) if i == 3 else history  # no change: MASE undefined
        inputs.append({"target": history, "start": start})
        truth.append(level * (1 + 0.2 * rng.standard_normal(6)))
        z = norm.ppf(np.asarray(GRID))[:, None]
        forecasts.append(QuantileForecast(level * (1 + 0.2 * z) * np.ones((1, 6)), start_date=start + 24,
                                          forecast_keys=[str(q) for q in GRID]))

    def rebuilt(parts, idx):
        ql, ab = np.asarray(parts["ql"])[idx], np.asarray(parts["abs"])[idx]
        mase, smape = np.asarray(parts["mase"])[idx], np.asarray(parts["smape"])[idx]
        hits, observed = np.asarray(parts["hits"])[idx], np.asarray(parts["observed"])[idx]
        return {"mean_wQuantileLoss": ql.sum() / ab.sum(), "MASE": mase[np.isfinite(mase)].mean(),
                "sMAPE": np.nanmean(smape),
                "coverage_error": np.abs(hits.sum(0) / observed.sum() - np.asarray(GRID)).mean()}

    out = S.score(forecasts, inputs, truth, "M", parts=True)
    assert out["MASE_undefined"] == 1 and out["series"]["observed"] == [6] * 7
    for key, value in rebuilt(out["series"], np.arange(7)).items():
        assert value == pytest.approx(out[key], rel=1e-8), key
    idx = [0, 2, 5]
    sub = S.score([forecasts[i] for i in idx], [inputs[i] for i in idx], [truth[i] for i in idx], "M")
    assert "series" not in sub
    for key, value in rebuilt(out["series"], idx).items():
        assert value == pytest.approx(sub[key], rel=1e-8), key
