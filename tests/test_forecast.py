"""QuantileFunctionForecast: exact queries, conversions, GluonTS interop."""

import numpy as np
import pandas as pd
import pytest
import torch

from gluonts.model.forecast import QuantileForecast, SampleForecast

from gluonts_iqf import IQF, QuantileFunctionForecast

H = 6


@pytest.fixture
def forecast():
    g = torch.Generator().manual_seed(0)
    incr = torch.rand(H, 4, generator=g, dtype=torch.float64) + 0.1
    kv = torch.cumsum(incr, -1) + 10
    d = IQF([0.05, 0.3, 0.6, 0.95], kv, torch.full((H,), 2.0, dtype=torch.float64),
            torch.full((H,), 1.5, dtype=torch.float64), scale=torch.tensor(3.0, dtype=torch.float64))
    return QuantileFunctionForecast(d, start_date=pd.Period("2021-03-01 00:00", freq="h"), item_id="A")


def test_quantiles_exact_and_string_levels(forecast):
    d = forecast.distribution
    for level in [0.001, 0.05, 0.42, 0.95, 0.999]:
        np.testing.assert_array_equal(forecast.quantile(level), d.icdf(level).numpy())
    np.testing.assert_array_equal(forecast.quantile("p95"), forecast.quantile(0.95))
    np.testing.assert_array_equal(forecast.quantile("0.3"), d.icdf(0.3).numpy())
    q = forecast.quantiles([0.1, 0.5, 0.9])
    assert q.shape == (3, H) and np.all(np.diff(q, axis=0) > 0)
    np.testing.assert_array_equal(forecast.median, forecast.quantile(0.5))
    np.testing.assert_allclose(forecast.cdf(q), np.repeat([[0.1], [0.5], [0.9]], H, 1), atol=1e-12)
    with pytest.raises(ValueError):
        forecast.quantile(1.5)


def test_mean_variance_crps(forecast):
    d = forecast.distribution
    np.testing.assert_array_equal(forecast.mean, d.mean.numpy())
    np.testing.assert_array_equal(forecast.variance, d.variance.numpy())
    y = forecast.quantile(0.7)
    np.testing.assert_array_equal(forecast.crps(y), d.crps(torch.as_tensor(y)).numpy())
    assert forecast["mean"] is forecast.mean
    np.testing.assert_array_equal(forecast["0.9"], forecast.quantile(0.9))


def test_conversions(forecast):
    qf = forecast.to_quantile_forecast([0.1, "p50", 0.9])
    assert isinstance(qf, QuantileForecast)
    np.testing.assert_array_equal(qf.quantile(0.9), forecast.quantile(0.9))
    assert qf.start_date == forecast.start_date and qf.item_id == "A"
    torch.manual_seed(0)
    sf = forecast.to_sample_forecast(20000)
    assert isinstance(sf, SampleForecast) and sf.samples.shape == (20000, H)
    # sample quantiles converge to the exact ones (seeded, 3 % of the spread)
    spread = forecast.quantile(0.9) - forecast.quantile(0.1)
    assert np.all(np.abs(sf.quantile(0.5) - forecast.quantile(0.5)) < 0.03 * spread)
    assert forecast.dim() == 1 and forecast.copy_dim(0) is forecast
    assert len(forecast.index) == H and forecast.index[0] == forecast.start_date


def test_rejects_wrong_batch_shape():
    d = IQF([0.1, 0.9], torch.zeros(2, 3, 2) + torch.tensor([0.0, 1.0]), torch.ones(2, 3), torch.ones(2, 3))
    with pytest.raises(ValueError, match="batch_shape"):
        QuantileFunctionForecast(d, start_date=pd.Period("2021-01-01", freq="D"))


@pytest.mark.parametrize(
    "item_id, info, shape",
    [(None, None, (4, 3)), ("series-7", None, (4, 3)), (17, {"k": 1}, (4, 3, 2))],
)
def test_sample_forecast_fast_constructor_equals_validated(item_id, info, shape):
    """gluonts_iqf.forecast.sample_forecast builds the same SampleForecast as
    GluonTS's validated constructor: attributes, __init_args__ (repr,
    pickling) and the quantiles it answers; int item ids become str."""
    import pickle

    from gluonts_iqf.forecast import sample_forecast

    samples = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    start = pd.Period("2021-03-01 05:00", freq="h")
    ref = SampleForecast(samples, start_date=start, item_id=item_id, info=info)
    fast = sample_forecast(samples, start_date=start, item_id=item_id, info=info)
    assert type(fast) is SampleForecast
    assert fast.item_id == ref.item_id and type(fast.item_id) is type(ref.item_id)
    assert fast.start_date == ref.start_date and fast.info == ref.info
    assert fast.samples is samples
    assert list(fast.__init_args__) == list(ref.__init_args__)
    assert repr(fast) == repr(ref)
    np.testing.assert_array_equal(fast.quantile(0.3), ref.quantile(0.3))
    back = pickle.loads(pickle.dumps(fast))
    np.testing.assert_array_equal(back.samples, samples)
    assert back.item_id == ref.item_id


def test_sample_forecast_fast_constructor_validates_other_types():
    """Arguments of other types go through GluonTS's validation (same errors)."""
    from gluonts_iqf.forecast import sample_forecast

    with pytest.raises(Exception):
        sample_forecast(np.zeros((2, 3)), start_date=pd.Period("2021-03-01", freq="D"), item_id=np.int64(3))
    with pytest.raises(AssertionError, match="2-dimensional or 3-dimensional"):
        sample_forecast(np.zeros(3), start_date=pd.Period("2021-03-01", freq="D"))


def test_joint_sample_forecast_generator():
    """One network call with num_samples per batch; output_transform gets the
    numpy outputs (as in GluonTS's generators); one SampleForecast per row
    with its start and item id; the generator survives serde."""
    from gluonts.core import serde

    from gluonts_iqf.forecast import JointSampleForecastGenerator

    calls = []

    class Net(torch.nn.Module):
        def forward(self, x, num_samples=None):
            calls.append(num_samples)
            return x.unsqueeze(1).expand(-1, num_samples, -1) + torch.arange(num_samples).view(1, -1, 1)

    starts = [pd.Period("2021-01-01", freq="D"), pd.Period("2021-02-01", freq="D")]
    batch = {"x": torch.arange(6.0).reshape(2, 3), "forecast_start": starts, "item_id": ["a", 7]}
    seen = []

    def transform(b, out):
        seen.append(type(out))
        return out * 2

    gen = serde.decode(serde.encode(JointSampleForecastGenerator()))
    fc = list(gen([batch], Net(), ["x"], output_transform=transform, num_samples=4))
    assert calls == [4] and seen == [np.ndarray]
    assert [f.samples.shape for f in fc] == [(4, 3), (4, 3)]
    np.testing.assert_array_equal(fc[1].samples[2], 2 * (np.arange(3.0, 6.0) + 2))
    assert [f.start_date for f in fc] == starts and [f.item_id for f in fc] == ["a", "7"]


# --------------------------------------------------------------------------- #
# samples on request (gluonts.shell's "samples" output type)
# --------------------------------------------------------------------------- #
def test_samples_are_lazy_and_exact_queries_never_use_them(forecast):
    """Nothing is drawn until ``samples`` is read; mean, quantiles, variance
    and cdf stay the IQF's closed forms, before and after the draw; the drawn
    array is kept (every reader sees the same one)."""
    from gluonts_iqf.forecast import DEFAULT_NUM_SAMPLES

    d = forecast.distribution
    levels = [0.1, 0.5, 0.9]
    mean, q = forecast.mean.copy(), forecast.quantiles(levels)
    forecast.variance, forecast.cdf(q), forecast.to_quantile_forecast(levels)
    assert forecast._samples is None
    samples = forecast.samples
    assert forecast.num_samples == DEFAULT_NUM_SAMPLES == 100
    assert samples.shape == (DEFAULT_NUM_SAMPLES, H) and samples.dtype == np.float64
    assert forecast.samples is samples
    np.testing.assert_array_equal(forecast.mean, d.mean.numpy())
    np.testing.assert_array_equal(forecast.mean, mean)
    np.testing.assert_array_equal(forecast.quantiles(levels), q)
    np.testing.assert_array_equal(forecast.quantile(0.5), d.icdf(0.5).numpy())
    assert not np.allclose(samples.mean(axis=0), mean, rtol=0, atol=1e-12)  # a sample mean is not the mean


def test_samples_follow_the_quantile_functions(forecast):
    """Inverse-cdf draws follow each step's IQF: the probability integral
    transforms ``F_t(y)`` of n = 4000 seeded draws pass a Kolmogorov-Smirnov
    test against U(0, 1) at every step, with the 1 % critical distance
    1.63 / sqrt(n) as tolerance; draws of different steps are uncorrelated
    (|r| < 4 / sqrt(n))."""
    from scipy import stats

    n = 4000
    torch.manual_seed(0)
    samples = forecast.draw_samples(n)
    assert samples.shape == (n, H) and np.isfinite(samples).all()
    pit = forecast.cdf(samples)
    for t in range(H):
        assert stats.kstest(pit[:, t], "uniform").statistic < 1.63 / np.sqrt(n), t
    r = np.corrcoef(samples.T)[np.triu_indices(H, 1)]
    assert np.abs(r).max() < 4 / np.sqrt(n)


def test_sample_count_and_seed():
    """``num_samples`` sets the rows (a new count discards earlier draws,
    bad counts raise). Without a seed the draws follow torch's global
    generator (``torch.manual_seed`` reproduces them); with a seed they are
    the same on every draw, leave the global generator alone, and
    ``to_sample_forecast(num_samples)`` holds the same array."""
    g = torch.Generator().manual_seed(1)
    kv = torch.cumsum(torch.rand(H, 3, generator=g) + 0.1, -1)
    d = IQF([0.1, 0.5, 0.9], kv, torch.ones(H), torch.ones(H))
    start = pd.Period("2021-03-01", freq="D")

    f = QuantileFunctionForecast(d, start, num_samples=7)
    assert f.samples.shape == (7, H)
    first = f.samples
    f.num_samples = 7
    assert f.samples is first
    f.num_samples = 9
    assert f.samples.shape == (9, H)
    for bad in [0, -1, 2.5, True, "3"]:
        with pytest.raises(ValueError, match="num_samples"):
            QuantileFunctionForecast(d, start, num_samples=bad)
        with pytest.raises(ValueError, match="num_samples"):
            f.draw_samples(bad)
    with pytest.raises(ValueError, match="seed"):
        QuantileFunctionForecast(d, start, seed=1.5)

    torch.manual_seed(3)
    a = QuantileFunctionForecast(d, start).samples
    torch.manual_seed(3)
    b = QuantileFunctionForecast(d, start).samples
    np.testing.assert_array_equal(a, b)

    state = torch.get_rng_state()
    s1 = QuantileFunctionForecast(d, start, seed=11)
    s2 = QuantileFunctionForecast(d, start, seed=11)
    np.testing.assert_array_equal(s1.samples, s2.samples)
    np.testing.assert_array_equal(s1.to_sample_forecast(s1.num_samples).samples, s1.samples)
    assert torch.equal(torch.get_rng_state(), state)
    other = QuantileFunctionForecast(d, start, seed=12).samples
    assert not np.array_equal(other, s1.samples)


def test_quantile_function_forecast_generator():
    """The generator hands ``predict``'s ``num_samples`` to each forecast
    (drawing nothing itself); without it (None or 0) forecasts keep the
    default count, a negative one raises; it survives serde."""
    from gluonts.core import serde

    from gluonts_iqf import IQFOutput
    from gluonts_iqf.distributions.iqf import DEFAULT_KNOT_LEVELS
    from gluonts_iqf.forecast import DEFAULT_NUM_SAMPLES, QuantileFunctionForecastGenerator

    K = len(DEFAULT_KNOT_LEVELS)

    class Net(torch.nn.Module):
        """IQFOutput's distribution arguments (knots (B, H, K), tail rates
        (B, H)), loc and scale (B, H), the knots shifted by ``x`` (B, H)."""

        def forward(self, x):
            ones = torch.ones_like(x)
            return (torch.linspace(-2, 2, K) + x[..., None], ones, ones), torch.zeros_like(x), ones

    starts = [pd.Period("2021-01-01", freq="D"), pd.Period("2021-02-01", freq="D")]
    batch = {"x": torch.tensor([[0.0] * H, [5.0] * H]), "forecast_start": starts, "item_id": ["a", "b"]}
    gen = serde.decode(serde.encode(QuantileFunctionForecastGenerator(IQFOutput())))
    assert isinstance(gen, QuantileFunctionForecastGenerator)
    fc = list(gen([batch], Net(), ["x"], None, num_samples=37))
    assert [type(f) for f in fc] == [QuantileFunctionForecast] * 2
    assert [f.start_date for f in fc] == starts and [f.item_id for f in fc] == ["a", "b"]
    assert all(f.num_samples == 37 and f._samples is None for f in fc)
    assert fc[1].samples.shape == (37, H)
    np.testing.assert_allclose(fc[1].median - fc[0].median, 5.0, rtol=1e-6)
    for not_given in (None, 0):
        default = list(gen([batch], Net(), ["x"], None, num_samples=not_given))
        assert all(f.num_samples == DEFAULT_NUM_SAMPLES for f in default)
    with pytest.raises(ValueError, match="num_samples"):
        list(gen([batch], Net(), ["x"], None, num_samples=-3))
