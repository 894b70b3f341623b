"""Demand totals (``gluonts_iqf.decision.totals``): lead-time totals of a
univariate forecast, and ``aggregate_quantiles`` over windows of steps and
sets of series from joint sample paths, against numpy on hand-made samples
(GluonTS's quantile rule) and on an MQF2Estimator(target_dim=2) forecast."""

import numpy as np
import pandas as pd
import pytest
import torch
from gluonts.model.forecast import SampleForecast

from gluonts_iqf import IQF, QuantileFunctionForecast
from gluonts_iqf.decision import (
    aggregate_quantiles,
    lead_time_quantiles,
    optimal_stock,
    service_level_tradeoff,
)


# ----- lead-time totals of a univariate forecast --------------------------- #
def test_comonotone_total_is_sum_of_step_quantiles(hand, fc):
    labels = hand.labels
    tab = service_level_tradeoff(fc, "0.50:0.99", lead_time=3)
    np.testing.assert_allclose(
        tab[("stock", "total_comonotone")], tab["stock"][labels[:3]].sum(axis=1), rtol=1e-14)
    np.testing.assert_allclose(
        tab[("stock_per_pp", "total_comonotone")],
        tab["stock_per_pp"][labels[:3]].sum(axis=1), rtol=1e-14)
    full = service_level_tradeoff(fc, "0.50:0.99")  # default: whole horizon
    assert full.attrs["lead_time"] == hand.H
    np.testing.assert_allclose(
        full[("stock", "total_comonotone")], full["stock"][labels].sum(axis=1), rtol=1e-14)


def test_lead_time_quantiles_agrees_with_tradeoff_table(fc):
    levels = [0.3, 0.9]
    lt = lead_time_quantiles(fc, levels, lead_time=3)
    tab = service_level_tradeoff(fc, levels, lead_time=3)
    assert list(lt.columns) == ["total_comonotone", "total_independent"]
    assert lt.attrs["lead_time"] == 3
    assert lt.attrs["approximate"] == ["total_independent"]
    for name in lt.columns:
        np.testing.assert_array_equal(lt[name], tab[("stock", name)])
    only = lead_time_quantiles(fc, levels, dependence="comonotone")
    assert list(only.columns) == ["total_comonotone"]


# ----- aggregates of joint sample paths ------------------------------------ #
@pytest.mark.parametrize("start, stop", [(0, 5), (0, 1), (1, 3), (4, 5), (2, None)])
def test_default_aggregates_equal_numpy(joint, start, stop):
    fc, rule = joint.forecast, joint.rule
    tab = aggregate_quantiles(fc, joint.levels, start=start, stop=stop)
    stop_ = joint.H if stop is None else stop
    window = joint.samples[:, start:stop_]
    assert list(tab.columns) == ["0", "1", "2", "sum"]
    for a in joint.levels:
        for k in range(joint.dim):
            assert tab.loc[a, str(k)] == rule(window[:, :, k].sum(1), a)
        assert tab.loc[a, "sum"] == rule(window.sum((1, 2)), a)
    assert tab.attrs["window"] == (start, stop_)
    assert tab.attrs["steps"] == [str(p) for p in fc.index[start:stop_]]
    assert tab.attrs["num_samples"] == joint.n
    assert tab.attrs["series"]["sum"] == {"indices": [0, 1, 2]}


def test_one_step_one_series_is_gluonts_quantile(joint):
    tab = aggregate_quantiles(joint.forecast, joint.levels, start=3, stop=4)
    for a in joint.levels:
        np.testing.assert_array_equal(tab.loc[a, ["0", "1", "2"]].to_numpy(), joint.forecast.quantile(a)[3])


def test_subsets_weights_and_dicts(joint):
    fc, rule = joint.forecast, joint.rule
    w = np.array([0.5, 2.0, -1.0])
    tab = aggregate_quantiles(
        fc, joint.levels, start=1, stop=4,
        series={"pair": [0, 2], "value": w, "one": 1, "np": np.array([2, 1])},
    )
    win = joint.samples[:, 1:4]
    assert list(tab.columns) == ["pair", "value", "one", "np"]
    for a in joint.levels:
        assert tab.loc[a, "pair"] == rule(win[:, :, [0, 2]].sum((1, 2)), a)
        assert tab.loc[a, "value"] == rule((win * w).sum((1, 2)), a)
        assert tab.loc[a, "one"] == rule(win[:, :, 1].sum(1), a)
        assert tab.loc[a, "np"] == rule(win[:, :, [1, 2]].sum((1, 2)), a)
    assert tab.attrs["series"]["value"] == {"weights": w.tolist()}
    assert list(aggregate_quantiles(fc, [0.5], series=[0, 2]).columns) == ["sum[0,2]"]
    assert list(aggregate_quantiles(fc, [0.5], series=1).columns) == ["1"]
    assert list(aggregate_quantiles(fc, [0.5], series=[1.0, 1.0, 0.0]).columns) == ["weighted"]


def test_dependence_is_kept(joint):
    """Series 0 and 2 move against each other (common component with
    weights +1 and -1): the quantiles of their joint sum are those of the
    paths, not of independently shuffled ones."""
    samples = joint.samples
    rng = np.random.default_rng(1)
    shuffled = samples.copy()
    shuffled[:, :, 2] = samples[rng.permutation(joint.n), :, 2]
    tab = aggregate_quantiles(joint.forecast, [0.05, 0.95], series=[0, 2])
    tab_s = aggregate_quantiles(SampleForecast(samples=shuffled, start_date=joint.start), [0.05, 0.95],
                                series=[0, 2])
    spread = tab.loc[0.95].iloc[0] - tab.loc[0.05].iloc[0]
    spread_s = tab_s.loc[0.95].iloc[0] - tab_s.loc[0.05].iloc[0]
    assert spread < spread_s  # negative dependence narrows the sum


def test_univariate_windows(joint):
    uni = joint.samples[:, :, 1]
    fc = SampleForecast(samples=uni, start_date=joint.start)
    tab = aggregate_quantiles(fc, joint.levels, start=2, stop=5)
    assert list(tab.columns) == ["0"]
    for a in joint.levels:
        assert tab.loc[a, "0"] == joint.rule(uni[:, 2:5].sum(1), a)
    # the lead-time window equals the existing univariate joint total
    lt = lead_time_quantiles(fc, joint.levels, lead_time=3)
    np.testing.assert_array_equal(aggregate_quantiles(fc, joint.levels, 0, 3)["0"], lt["total_joint"])


def test_lead_time_quantiles_multivariate(joint):
    fc, samples, levels = joint.forecast, joint.samples, joint.levels
    tab = lead_time_quantiles(fc, levels, lead_time=2, series={"all": [0, 1, 2], "0": 0})
    assert tab.attrs["lead_time"] == 2
    for a in levels:
        assert tab.loc[a, "all"] == joint.rule(samples[:, :2].sum((1, 2)), a)
        assert tab.loc[a, "0"] == joint.rule(samples[:, :2, 0].sum(1), a)
    pd.testing.assert_frame_equal(lead_time_quantiles(fc, levels), aggregate_quantiles(fc, levels),
                                  check_like=False)


def test_non_sample_forecasts_raise_type_error(joint):
    distr = IQF([0.1, 0.5, 0.9], torch.tensor([[0.0, 1.0, 2.0]] * 3), torch.ones(3), torch.ones(3))
    fc = QuantileFunctionForecast(distr, joint.start)
    with pytest.raises(TypeError, match="joint sample paths"):
        aggregate_quantiles(fc, [0.5])


def test_mqf2_target_dim_2_forecast_end_to_end(joint, tmp_path):
    """A tiny MQF2Estimator(target_dim=2) trained a few seeded steps: its
    multivariate SampleForecast goes through the aggregate API and matches
    numpy on its own joint paths."""
    import lightning.pytorch as pl

    from gluonts_iqf import MQF2Estimator

    rule, levels = joint.rule, joint.levels
    H, k, T = 3, 2, 120
    rng = np.random.default_rng(4)
    base = 10 + rng.normal(size=T).cumsum() * 0.1
    values = np.stack([base + rng.normal(size=T), 2 * base + rng.normal(size=T)])  # (k, T)
    train = [{"target": values.astype(np.float32), "start": joint.start}]
    pl.seed_everything(0)
    est = MQF2Estimator(
        freq="D", prediction_length=H, target_dim=k, hidden_dim=8, context_dim=8,
        es_num_samples=8, batch_size=8, num_batches_per_epoch=3,
        trainer_kwargs=dict(max_epochs=1, enable_progress_bar=False, enable_model_summary=False,
                            logger=False, default_root_dir=str(tmp_path)),
    )
    predictor = est.train(train)
    torch.manual_seed(0)
    f = next(iter(predictor.predict(train, num_samples=200)))
    assert isinstance(f, SampleForecast) and f.samples.shape == (200, H, k)
    paths = np.asarray(f.samples, dtype=np.float64)
    tab = aggregate_quantiles(f, levels, start=1, stop=3)
    assert list(tab.columns) == ["0", "1", "sum"]
    for a in levels:
        for j in range(k):
            assert tab.loc[a, str(j)] == rule(paths[:, 1:3, j].sum(1), a)
        assert tab.loc[a, "sum"] == rule(paths[:, 1:3].sum((1, 2)), a)
    assert (np.diff(tab.to_numpy(), axis=0) >= 0).all()
    lt = lead_time_quantiles(f, [0.9], lead_time=2, series=[0.5, 0.5])
    assert lt.loc[0.9, "weighted"] == rule((paths[:, :2] * 0.5).sum((1, 2)), 0.9)
    trade = service_level_tradeoff(f, [0.9, 0.95])
    np.testing.assert_array_equal(trade["stock"]["1"].loc[0.95, [str(p) for p in f.index]].to_numpy(),
                                  f.quantile(0.95)[:, 1])
    opt = optimal_stock(f, 9.0, 1.0)
    assert opt.total_stock["joint:sum"] == rule(paths.sum((1, 2)), 0.9)
    with pytest.raises(ValueError, match="0 <= start < stop"):
        aggregate_quantiles(f, [0.5], start=2, stop=H + 1)
