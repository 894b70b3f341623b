"""Aggregates over windows of steps and sets of series from joint sample
paths: ``aggregate_quantiles`` and the multivariate ``SampleForecast``
paths of ``lead_time_quantiles`` / ``service_level_tradeoff`` /
``optimal_stock``, against numpy on hand-made samples (GluonTS's quantile
rule), bad windows / series, and an MQF2Estimator(target_dim=2) forecast."""

import numpy as np
import pandas as pd
import pytest
from gluonts.model.forecast import SampleForecast

from gluonts_iqf.decision import (
    aggregate_quantiles,
    lead_time_quantiles,
    optimal_stock,
    service_level_tradeoff,
)

START = pd.Period("2021-03-01", freq="D")
N, H, DIM = 101, 5, 3
LEVELS = [0.05, 0.25, 0.5, 0.73, 0.9, 0.995]


def gluonts_rule(values, level):
    """GluonTS's SampleForecast.quantile: sorted value at round((n-1) a)."""
    v = np.sort(values)
    return v[int(np.round((v.size - 1) * level))]


@pytest.fixture
def samples():
    # integer-valued draws: every sum is exact in float64, in any order, so
    # the comparisons below are exact equalities; the series are dependent
    # (a shared component) so that the joint totals differ from anything
    # computed from the marginals alone
    rng = np.random.default_rng(0)
    common = rng.integers(-20, 20, size=(N, H, 1))
    own = rng.integers(0, 50, size=(N, H, DIM))
    return (common * np.array([1, 2, -1]) + own).astype(np.float64)


@pytest.fixture
def fc(samples):
    return SampleForecast(samples=samples, start_date=START)


@pytest.mark.parametrize("start, stop", [(0, H), (0, 1), (1, 3), (4, 5), (2, None)])
def test_default_aggregates_equal_numpy(fc, samples, start, stop):
    tab = aggregate_quantiles(fc, LEVELS, start=start, stop=stop)
    stop_ = H if stop is None else stop
    window = samples[:, start:stop_]
    assert list(tab.columns) == ["0", "1", "2", "sum"]
    for a in LEVELS:
        for k in range(DIM):
            assert tab.loc[a, str(k)] == gluonts_rule(window[:, :, k].sum(1), a)
        assert tab.loc[a, "sum"] == gluonts_rule(window.sum((1, 2)), a)
    assert tab.attrs["window"] == (start, stop_)
    assert tab.attrs["steps"] == [str(p) for p in fc.index[start:stop_]]
    assert tab.attrs["num_samples"] == N
    assert tab.attrs["series"]["sum"] == {"indices": [0, 1, 2]}


def test_one_step_one_series_is_gluonts_quantile(fc):
    tab = aggregate_quantiles(fc, LEVELS, start=3, stop=4)
    for a in LEVELS:
        np.testing.assert_array_equal(tab.loc[a, ["0", "1", "2"]].to_numpy(), fc.quantile(a)[3])


def test_subsets_weights_and_dicts(fc, samples):
    w = np.array([0.5, 2.0, -1.0])
    tab = aggregate_quantiles(
        fc, LEVELS, start=1, stop=4,
        series={"pair": [0, 2], "value": w, "one": 1, "np": np.array([2, 1])},
    )
    win = samples[:, 1:4]
    assert list(tab.columns) == ["pair", "value", "one", "np"]
    for a in LEVELS:
        assert tab.loc[a, "pair"] == gluonts_rule(win[:, :, [0, 2]].sum((1, 2)), a)
        assert tab.loc[a, "value"] == gluonts_rule((win * w).sum((1, 2)), a)
        assert tab.loc[a, "one"] == gluonts_rule(win[:, :, 1].sum(1), a)
        assert tab.loc[a, "np"] == gluonts_rule(win[:, :, [1, 2]].sum((1, 2)), a)
    assert tab.attrs["series"]["value"] == {"weights": w.tolist()}
    assert list(aggregate_quantiles(fc, [0.5], series=[0, 2]).columns) == ["sum[0,2]"]
    assert list(aggregate_quantiles(fc, [0.5], series=1).columns) == ["1"]
    assert list(aggregate_quantiles(fc, [0.5], series=[1.0, 1.0, 0.0]).columns) == ["weighted"]


def test_dependence_is_kept(samples):
    """Series 0 and 2 move against each other (common component with
    weights +1 and -1): the quantiles of their joint sum are those of the
    paths, not of independently shuffled ones."""
    fc = SampleForecast(samples=samples, start_date=START)
    rng = np.random.default_rng(1)
    shuffled = samples.copy()
    shuffled[:, :, 2] = samples[rng.permutation(N), :, 2]
    tab = aggregate_quantiles(fc, [0.05, 0.95], series=[0, 2])
    tab_s = aggregate_quantiles(SampleForecast(samples=shuffled, start_date=START), [0.05, 0.95], series=[0, 2])
    spread = tab.loc[0.95].iloc[0] - tab.loc[0.05].iloc[0]
    spread_s = tab_s.loc[0.95].iloc[0] - tab_s.loc[0.05].iloc[0]
    assert spread < spread_s  # negative dependence narrows the sum


def test_univariate_windows(samples):
    uni = samples[:, :, 1]
    fc = SampleForecast(samples=uni, start_date=START)
    tab = aggregate_quantiles(fc, LEVELS, start=2, stop=5)
    assert list(tab.columns) == ["0"]
    for a in LEVELS:
        assert tab.loc[a, "0"] == gluonts_rule(uni[:, 2:5].sum(1), a)
    # the lead-time window equals the existing univariate joint total
    lt = lead_time_quantiles(fc, LEVELS, lead_time=3)
    np.testing.assert_array_equal(aggregate_quantiles(fc, LEVELS, 0, 3)["0"], lt["total_joint"])


def test_lead_time_quantiles_multivariate(fc, samples):
    tab = lead_time_quantiles(fc, LEVELS, lead_time=2, series={"all": [0, 1, 2], "0": 0})
    assert tab.attrs["lead_time"] == 2
    for a in LEVELS:
        assert tab.loc[a, "all"] == gluonts_rule(samples[:, :2].sum((1, 2)), a)
        assert tab.loc[a, "0"] == gluonts_rule(samples[:, :2, 0].sum(1), a)
    pd.testing.assert_frame_equal(lead_time_quantiles(fc, LEVELS), aggregate_quantiles(fc, LEVELS), check_like=False)


def test_service_level_tradeoff_multivariate(fc, samples):
    levels = [0.5, 0.9, 0.95]
    tab = service_level_tradeoff(fc, levels, lead_time=3)
    assert tab.columns.names == ["quantity", "series", "target"]
    labels = [str(p) for p in fc.index]
    for a in levels:
        q = fc.quantile(a)  # (H, DIM)
        for k in range(DIM):
            np.testing.assert_array_equal(tab["stock"][str(k)].loc[a, labels].to_numpy(), q[:, k])
            assert tab.loc[a, ("stock", str(k), "total_joint")] == gluonts_rule(samples[:, :3, k].sum(1), a)
        assert tab.loc[a, ("stock", "sum", "total_joint")] == gluonts_rule(samples[:, :3].sum((1, 2)), a)
    extra = tab.loc[0.95, ("extra_stock", "sum", "total_joint")]
    assert extra == tab.loc[0.95, ("stock", "sum", "total_joint")] - tab.loc[0.9, ("stock", "sum", "total_joint")]
    assert ("stock_per_pp", "sum", "total_joint") in tab.attrs["approximate"]
    assert ("stock", "sum", "total_joint") not in tab.attrs["approximate"]
    assert tab.attrs["steps"] == labels[:3]
    weighted = service_level_tradeoff(fc, levels, series={"value": [1.0, 2.0, 3.0]})
    assert weighted.loc[0.9, ("stock", "value", "total_joint")] == gluonts_rule(
        (samples * [1.0, 2.0, 3.0]).sum((1, 2)), 0.9)


def test_optimal_stock_multivariate(fc, samples):
    cu, co = 3.0, 1.0
    opt = optimal_stock(fc, cu, co, lead_time=4)
    q = fc.quantile(0.75)
    assert opt.stock.index.names == ["series", "step"]
    for k in range(DIM):
        np.testing.assert_array_equal(opt.stock.loc[str(k)].to_numpy(), q[:, k])
        direct = np.mean(cu * np.maximum(samples[:, :, k] - q[:, k], 0)
                         + co * np.maximum(q[:, k] - samples[:, :, k], 0), axis=0)
        np.testing.assert_allclose(opt.expected_cost.loc[str(k)].to_numpy(), direct, rtol=1e-12)
    assert set(opt.total_stock) == {"joint:0", "joint:1", "joint:2", "joint:sum"}
    tot = samples[:, :4].sum((1, 2))
    s = gluonts_rule(tot, 0.75)
    assert opt.total_stock["joint:sum"] == s
    cost = np.mean(cu * np.maximum(tot - s, 0) + co * np.maximum(s - tot, 0))
    assert opt.total_expected_cost["joint:sum"] == pytest.approx(cost, rel=1e-12)
    assert opt.approximate == ()
    assert len(opt.to_frame()) == DIM * H + 4


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(start=-1), "0 <= start < stop"),
        (dict(start=3, stop=3), "0 <= start < stop"),
        (dict(start=4, stop=2), "0 <= start < stop"),
        (dict(stop=H + 1), "0 <= start < stop"),
        (dict(start=0.5), "start must be an integer"),
        (dict(stop=True), "stop must be an integer"),
        (dict(series=[0, 3]), "out of range"),
        (dict(series=-1), "out of range"),
        (dict(series=[1, 1]), "repeated"),
        (dict(series=[]), "non-empty"),
        (dict(series=[1.0, 2.0]), "one per series"),
        (dict(series=[1.0, np.nan, 0.0]), "finite"),
        (dict(series=[True, False, True]), "booleans"),
        (dict(series=True), "boolean"),
        (dict(series="sum"), "expected an index"),
        (dict(series={}), "empty dict"),
        (dict(series=[[0, 1]]), "1-d"),
    ],
)
def test_bad_windows_and_series(fc, kwargs, message):
    with pytest.raises(ValueError, match=message):
        aggregate_quantiles(fc, [0.5], **kwargs)


def test_bad_calls_of_the_lead_time_functions(fc, samples):
    for call in (lambda: lead_time_quantiles(fc, [0.5], dependence="independent"),
                 lambda: service_level_tradeoff(fc, [0.5], dependence="comonotone"),
                 lambda: optimal_stock(fc, 1.0, 1.0, dependence="both")):
        with pytest.raises(ValueError, match="only the joint totals"):
            call()
    with pytest.raises(ValueError, match="dependence must be one of"):
        lead_time_quantiles(fc, [0.5], dependence="joint")
    with pytest.raises(ValueError, match="out of range"):
        service_level_tradeoff(fc, [0.5], series=[5])
    with pytest.raises(ValueError, match="lead_time must lie"):
        lead_time_quantiles(fc, [0.5], lead_time=H + 1)
    uni = SampleForecast(samples=samples[:, :, 0], start_date=START)
    for call in (lambda: lead_time_quantiles(uni, [0.5], series=0),
                 lambda: service_level_tradeoff(uni, [0.5], series=[0]),
                 lambda: optimal_stock(uni, 1.0, 1.0, series=0)):
        with pytest.raises(ValueError, match="series= selects series"):
            call()
    bad = samples.copy()
    bad[0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        aggregate_quantiles(SampleForecast(samples=bad, start_date=START), [0.5])


def test_non_sample_forecasts_raise_type_error():
    import torch

    from gluonts_iqf import IQF, QuantileFunctionForecast

    distr = IQF([0.1, 0.5, 0.9], torch.tensor([[0.0, 1.0, 2.0]] * 3), torch.ones(3), torch.ones(3))
    fc = QuantileFunctionForecast(distr, START)
    with pytest.raises(TypeError, match="joint sample paths"):
        aggregate_quantiles(fc, [0.5])


def test_mqf2_target_dim_2_forecast_end_to_end(tmp_path):
    """A tiny MQF2Estimator(target_dim=2) trained a few seeded steps: its
    multivariate SampleForecast goes through the aggregate API and matches
    numpy on its own joint paths."""
    import lightning.pytorch as pl
    import torch

    from gluonts_iqf import MQF2Estimator

    H, k, T = 3, 2, 120
    rng = np.random.default_rng(4)
    base = 10 + rng.normal(size=T).cumsum() * 0.1
    values = np.stack([base + rng.normal(size=T), 2 * base + rng.normal(size=T)])  # (k, T)
    train = [{"target": values.astype(np.float32), "start": START}]
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
    tab = aggregate_quantiles(f, LEVELS, start=1, stop=3)
    assert list(tab.columns) == ["0", "1", "sum"]
    for a in LEVELS:
        for j in range(k):
            assert tab.loc[a, str(j)] == gluonts_rule(paths[:, 1:3, j].sum(1), a)
        assert tab.loc[a, "sum"] == gluonts_rule(paths[:, 1:3].sum((1, 2)), a)
    assert (np.diff(tab.to_numpy(), axis=0) >= 0).all()
    lt = lead_time_quantiles(f, [0.9], lead_time=2, series=[0.5, 0.5])
    assert lt.loc[0.9, "weighted"] == gluonts_rule((paths[:, :2] * 0.5).sum((1, 2)), 0.9)
    trade = service_level_tradeoff(f, [0.9, 0.95])
    np.testing.assert_array_equal(trade["stock"]["1"].loc[0.95, [str(p) for p in f.index]].to_numpy(),
                                  f.quantile(0.95)[:, 1])
    opt = optimal_stock(f, 9.0, 1.0)
    assert opt.total_stock["joint:sum"] == gluonts_rule(paths.sum((1, 2)), 0.9)
    with pytest.raises(ValueError, match="0 <= start < stop"):
        aggregate_quantiles(f, [0.5], start=2, stop=H + 1)
