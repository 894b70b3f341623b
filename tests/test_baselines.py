"""gluonts_iqf.baselines: statsforecast's baselines as GluonTS forecasts,
checked against what each model is by definition (seasonal naive: the last
season repeated; the ensemble: the members' mean) and for its input checks."""

import numpy as np
import pandas as pd
import pytest

from gluonts_iqf import baselines as BL

pytest.importorskip("statsforecast")


@pytest.mark.parametrize("freq, season", [("h", 24), ("1H", 24), ("D", 7), ("B", 5), ("W-SUN", 52), ("W", 52),
                                          ("M", 12), ("MS", 12), ("Q", 4), ("QE-DEC", 4), ("Y", 1),
                                          ("A-DEC", 1), ("min", 1), ("15min", 1)])
def test_season_length(freq, season):
    assert BL.season_length(freq) == season


def test_check_baselines():
    assert BL.check_baselines(["auto_ets", "seasonal_naive", "auto_ets"]) == ["auto_ets", "seasonal_naive"]
    with pytest.raises(ValueError, match="unknown baseline 'prophet'"):
        BL.check_baselines(["prophet"])


def test_seasonal_naive_is_the_last_season_repeated():
    rng = np.random.default_rng(0)
    season, H = 4, 6
    long = 10 + rng.normal(size=23)
    short = np.array([3.0, 5.0])  # shorter than a season: refitted with season 1 (naive)
    q, refits = BL.baseline_quantiles("seasonal_naive", [long, short], H, season)
    assert q.shape == (2, len(BL.GRID), H) and refits == 1
    assert np.all(np.diff(q, axis=1) >= 0)
    median = q[:, BL.GRID.index(0.5)]
    np.testing.assert_allclose(median[0], np.resize(long[-season:], H), rtol=0, atol=1e-12)
    np.testing.assert_allclose(median[1], np.full(H, 5.0), rtol=0, atol=1e-12)


def test_missing_values_are_interpolated_and_all_missing_is_an_error():
    frame = BL.long_frame([np.array([1.0, np.nan, 3.0, np.nan])])
    np.testing.assert_array_equal(frame["y"].to_numpy(), [1.0, 2.0, 3.0, 3.0])
    with pytest.raises(ValueError, match="series 1: no observed value"):
        BL.long_frame([np.ones(3), np.full(3, np.nan)])


def test_stat_ensemble_is_the_members_mean():
    rng = np.random.default_rng(1)
    ys = [50 + np.cumsum(rng.normal(size=40)) for _ in range(3)]
    q, _ = BL.baseline_quantiles("stat_ensemble", ys, 5, 4)
    members = [BL.baseline_quantiles(m, ys, 5, 4)[0] for m in BL.ENSEMBLE_MEMBERS]
    np.testing.assert_allclose(q, np.mean(members, axis=0), rtol=0, atol=1e-12)


def test_shared_fits_fit_each_model_once(monkeypatch):
    """With a shared ``fitted`` dict the ensemble reuses the members fitted
    before it (and a member asked for after the ensemble reuses its fit):
    one statsforecast fit per model, the same quantiles as unshared fits."""
    rng = np.random.default_rng(3)
    ys = [50 + np.cumsum(rng.normal(size=40)) for _ in range(3)]
    alone = {name: BL.baseline_quantiles(name, ys, 5, 4)[0] for name in ("auto_ets", "stat_ensemble")}
    calls = []
    frame = BL._forecast_frame
    monkeypatch.setattr(BL, "_forecast_frame", lambda name, *a: calls.append(name) or frame(name, *a))
    fitted = {}
    q_ets, _ = BL.baseline_quantiles("auto_ets", ys, 5, 4, fitted)
    q_ens, _ = BL.baseline_quantiles("stat_ensemble", ys, 5, 4, fitted)
    q_theta, _ = BL.baseline_quantiles("auto_theta", ys, 5, 4, fitted)
    assert sorted(calls) == ["auto_ces", "auto_ets", "auto_theta"]
    np.testing.assert_array_equal(q_ets, alone["auto_ets"])
    np.testing.assert_allclose(q_ens, alone["stat_ensemble"], rtol=0, atol=1e-12)
    assert q_theta is fitted["auto_theta"].quantiles
    assert fitted["stat_ensemble"].seconds == pytest.approx(sum(fitted[m].seconds for m in BL.ENSEMBLE_MEMBERS))


def test_quantile_forecasts_start_after_each_entry():
    start = pd.Period("2024-01-01 00:00", freq="h")
    inputs = [{"start": start, "target": np.arange(10.0), "item_id": "a"},
              {"start": start + 3, "target": np.arange(5.0), "item_id": "b"}]
    q = np.sort(np.random.default_rng(2).normal(size=(2, len(BL.GRID), 3)), axis=1)
    fcs = BL.quantile_forecasts(q, inputs)
    assert [f.start_date for f in fcs] == [start + 10, start + 8]
    assert [f.item_id for f in fcs] == ["a", "b"]
    np.testing.assert_array_equal(fcs[1].quantile(0.5), q[1, BL.GRID.index(0.5)])
