"""TrainingWindows: the training batches of GluonTS's splitter at the same
split points, drawn uniformly over the admissible (series, split point)
pairs."""

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from gluonts.dataset.loader import as_stacked_batches
from gluonts.transform import ExpectedNumInstanceSampler, InstanceSampler, UniformSplitSampler

from gluonts_iqf import MQCNNEstimator, MQF2Estimator
from gluonts_iqf.model._forking.lightning_module import TARGET_INPUTS
from gluonts_iqf.model._forking.windows import TrainingWindows, uniform_window_sampler

H = 6


class FixedPoint(InstanceSampler):
    """Samples one given split point (for comparing with the splitter)."""

    point: int = 0

    def __call__(self, ts: np.ndarray) -> np.ndarray:
        return np.array([self.point])


def _entry(target, item, freq="h", **extra):
    return {"target": np.asarray(target, dtype=np.float32), "start": pd.Period("2020-01-01", freq=freq),
            "item_id": item, **extra}


def _cases():
    """(estimator, raw training entries): NaNs, series shorter than the
    context, every covariate kind, no time/age features, multivariate."""
    rng = np.random.default_rng(3)
    noisy = rng.normal(50, 5, 80).astype(np.float32)
    noisy[rng.random(80) < 0.2] = np.nan
    plain = [_entry(noisy, "nan"), _entry(noisy[:9], "short"), _entry(np.arange(40.0), "ramp")]
    cov = [_entry(rng.normal(size=t), f"c{i}", feat_dynamic_real=rng.normal(size=(2, t)).astype(np.float32),
                  past_feat_dynamic_real=rng.normal(size=(1, t)).astype(np.float32),
                  feat_static_real=[float(i), 2.0], feat_static_cat=[i % 3])
           for i, t in enumerate([60, 15])]
    multi = [_entry(rng.normal(size=(2, n)), f"m{n}", freq="2h") for n in (50, 10)]
    return [
        (MQCNNEstimator(freq="h", prediction_length=H, context_length=12), plain),
        (MQCNNEstimator(freq="h", prediction_length=H, context_length=12, time_features=[],
                        use_age_feature=False), plain),
        (MQCNNEstimator(freq="h", prediction_length=H, context_length=12, num_feat_dynamic_real=2,
                        num_past_feat_dynamic_real=1, num_feat_static_real=2, cardinality=[3]), cov),
        (MQF2Estimator(freq="2h", prediction_length=H, target_dim=2, context_length=12), multi),
    ]


@pytest.mark.parametrize("case", range(4))
def test_batches_equal_the_gluonts_splitter(case):
    """At every admissible split point of every series, the window equals the
    splitter's output stacked by GluonTS's loader: values, dtypes, shapes."""
    est, entries = _cases()[case]
    data = list(est.create_transformation().apply(entries, is_train=True))
    names = est.input_names() + TARGET_INPUTS
    windows = TrainingWindows(data, est.context_length, H, batch_size=1, field_names=names, min_future=H)
    checked = 0
    for i, entry in enumerate(data):
        T = entry["target"].shape[-1]
        for t in range(0, T - H + 1):
            est.train_sampler = FixedPoint(point=t)
            ref = next(iter(as_stacked_batches(est._splitter("training").apply([entry], is_train=True),
                                               batch_size=1, field_names=names, output_type=torch.tensor)))
            got = windows.batch(torch.tensor([i]), torch.tensor([t]))
            assert set(ref) == set(got) == set(names) - ({"past_feat_dynamic_real"} - set(got))
            for k in ref:
                assert ref[k].dtype == got[k].dtype and ref[k].shape == got[k].shape, (k, t)
                assert torch.equal(ref[k], got[k]), (k, i, t)
            checked += 1
    assert checked == sum(max(e["target"].shape[-1] - H + 1, 0) for e in data)


def test_draws_are_uniform_over_admissible_pairs():
    """Seeded: 24,000 draws over the 54 admissible (series, split point)
    pairs of series of length 10, 20 and 45 (H = 6, min_past = 2; a length-7
    series has none and is never drawn) pass a chi-square test of
    uniformity at level 0.001, and only admissible pairs occur."""
    lengths = [10, 20, 7, 45]
    data = [{"target": np.arange(n, dtype=np.float32) + 1000 * i} for i, n in enumerate(lengths)]
    windows = TrainingWindows(data, context_length=4, prediction_length=H, batch_size=400,
                              field_names=["future_target"], min_past=2, min_future=H, num_batches_per_epoch=60)
    np.random.seed(0)
    counts = {}
    for batch in windows:
        first = batch["future_target"][:, 0].numpy().astype(int)  # = 1000 i + t
        for v in first:
            counts[v] = counts.get(v, 0) + 1
    admissible = {1000 * i + t for i, n in enumerate(lengths) for t in range(2, n - H + 1)}
    assert set(counts) == admissible and len(admissible) == 54
    observed = np.array([counts[k] for k in sorted(admissible)])
    assert stats.chisquare(observed).pvalue > 1e-3


def test_epoch_length_and_seed():
    data = [{"target": np.arange(30, dtype=np.float32)}]
    windows = TrainingWindows(data, 5, 3, batch_size=4, field_names=["past_target"], min_future=3,
                              num_batches_per_epoch=7)
    np.random.seed(1)
    a = [b["past_target"] for b in windows]
    np.random.seed(1)
    b = [b["past_target"] for b in windows]
    assert len(a) == 7 and all(torch.equal(x, y) for x, y in zip(a, b))
    assert a[0].shape == (4, 5)


def test_no_admissible_window_is_a_clear_error():
    windows = TrainingWindows([{"target": np.zeros(3, dtype=np.float32)}], 5, 4, batch_size=2,
                              field_names=["past_target"], min_future=4)
    with pytest.raises(ValueError, match="no training window"):
        windows.draw()
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        TrainingWindows([], 5, 4, batch_size=0, field_names=["past_target"])


def test_which_samplers_are_vectorised(tmp_path):
    """The default sampler uses TrainingWindows; other samplers,
    cache_data=False and MQF2 (training_windows = False) keep GluonTS's
    splitter stream."""
    assert uniform_window_sampler(ExpectedNumInstanceSampler(num_instances=1.0, min_future=H))
    assert not uniform_window_sampler(ExpectedNumInstanceSampler(num_instances=1.0, min_instances=1))
    assert not uniform_window_sampler(UniformSplitSampler(p=0.5))
    est, entries = _cases()[0]
    data = est.create_transformation().apply(entries, is_train=True)
    module = est.create_lightning_module()
    assert isinstance(est.create_training_data_loader(data, module), TrainingWindows)
    for other in (MQCNNEstimator(freq="h", prediction_length=H, cache_data=False),
                  MQCNNEstimator(freq="h", prediction_length=H, train_sampler=UniformSplitSampler(p=0.5))):
        assert not isinstance(other.create_training_data_loader(data, module), TrainingWindows)
    mqf2, multi = _cases()[3]
    mdata = mqf2.create_transformation().apply(multi, is_train=True)
    assert not isinstance(mqf2.create_training_data_loader(mdata, mqf2.create_lightning_module()), TrainingWindows)


def test_recent_history_restricts_the_split_points(tmp_path):
    """RecentInstanceSampler keeps the last max_history admissible split
    points (GluonTS's splitter samples only there, seeded); TrainingWindows
    with the same max_history draws exactly those, uniformly; MQ-CNN's
    training_history=h uses it with max_history = round(h H), and the
    vectorised windows take it."""
    from gluonts_iqf.model._forking.windows import RecentInstanceSampler

    sampler = RecentInstanceSampler(num_instances=50.0, min_past=2, min_future=H, max_history=5)
    assert sampler._get_bounds(np.zeros(30)) == (20, 24)
    assert sampler._get_bounds(np.zeros(10)) == (2, 4)  # fewer than 5: all of them
    np.random.seed(0)
    assert set(sampler(np.zeros(30))) <= set(range(20, 25))
    lengths = [30, 10]
    data = [{"target": np.arange(n, dtype=np.float32) + 1000 * i} for i, n in enumerate(lengths)]
    windows = TrainingWindows(data, context_length=4, prediction_length=H, batch_size=200,
                              field_names=["future_target"], min_past=2, min_future=H, max_history=5,
                              num_batches_per_epoch=20)
    np.random.seed(0)
    seen = np.concatenate([b["future_target"][:, 0].numpy().astype(int) for b in windows])
    admissible = {t for t in range(20, 25)} | {1000 + t for t in range(2, 5)}
    assert set(seen) == admissible
    assert stats.chisquare(np.unique(seen, return_counts=True)[1]).pvalue > 1e-3
    assert uniform_window_sampler(sampler)
    est = MQCNNEstimator(freq="h", prediction_length=H, context_length=12, training_history=1.5)
    assert isinstance(est.train_sampler, RecentInstanceSampler) and est.train_sampler.max_history == 9
    entries = _cases()[0][1]
    loader = est.create_training_data_loader(est.create_transformation().apply(entries, is_train=True),
                                             est.create_lightning_module())
    assert isinstance(loader, TrainingWindows) and loader.max_history == 9
    with pytest.raises(ValueError, match="training_history"):
        MQCNNEstimator(freq="h", prediction_length=H, training_history=0)
