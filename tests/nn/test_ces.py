"""Batched complex exponential smoothing against statsforecast's own CES
(``cesmodel`` at fixed parameters: its backcast filter, its forecasts, its
AICc), against the explicit state-space matrices for the forecast
variances, and against the same series one at a time (padded, batched,
with missing values)."""

import numpy as np
import pytest
import torch

import gluonts_iqf.nn.ces as ces_module
from gluonts_iqf.nn.ces import CESGrid, PARAMETERS, ces_backtested, ces_filter, ces_forecast, ces_grid, initial_states
from gluonts_iqf.nn.seasonal import fill_forward

from statistical_helpers import padded, seasonal_series, with_gaps

sf_ces = pytest.importorskip("statsforecast.ces")

#: Stable parameter sets of each kind, in statsforecast's terms (a0, a1, b0, b1).
CASES = [("N", (1.4, 0.95, None, None)), ("P", (1.5, 1.05, 0.2, None)), ("F", (1.5, 1.05, 1.3, 0.9))]
KIND = {"N": "none", "P": "partial", "F": "full"}


def one_set(kind, pars, dtype=torch.float64):
    """A grid holding the one parameter set, in the full form."""
    a0, a1, b0, b1 = pars
    if kind == "N":
        b0, b1 = 1.0, 1.0
    elif kind == "P":
        b0, b1 = 1.0 + b0, 1.0
    t = lambda v: torch.tensor([float(v)], dtype=dtype)  # noqa: E731
    return CESGrid(t(a0), t(a1), t(b0), t(b1), t(PARAMETERS[KIND[kind]]), torch.tensor([kind != "N"]))


def series(n=96, m=12, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 50 + 0.1 * t + 5 * np.sin(2 * np.pi * t / m) + rng.normal(0, 1, n)


@pytest.mark.parametrize("kind,pars", CASES)
def test_filter_forecast_and_aicc_equal_statsforecast(kind, pars):
    """float64: the one-step squared errors of the final backcast pass
    (1e-9 relative), the forecasts (1e-9) and the AICc (1e-9) of
    statsforecast's ``cesmodel`` at the same fixed parameters."""
    y = series()
    model = sf_ces.cesmodel(y, 12, kind, *pars, nmse=3)
    expected = sf_ces.forecast_ces(model, 18)["mean"]
    x = torch.tensor(y)[None]
    ok = torch.ones_like(x, dtype=torch.bool)
    grid = one_set(kind, pars)
    _, sse, _ = ces_filter(x, ok, ok, 12, grid)
    np.testing.assert_allclose(float(sse[0, 0]), np.sum(model["residuals"] ** 2), rtol=1e-9)
    n, k = len(y), PARAMETERS[KIND[kind]]
    aicc = n * np.log(float(sse[0, 0])) + 2 * k + 2 * k * (k + 1) / (n - k - 1)
    np.testing.assert_allclose(aicc, model["aicc"], rtol=1e-9)
    mean, _ = ces_forecast(x, ok.to(x.dtype), 18, 12, grid=grid)
    np.testing.assert_allclose(mean[0].numpy(), expected, rtol=1e-9)


def state_space(kind, pars, m):
    """CES as x_t = F x_{t-1} + g e_t, y_t = w x_{t-1} + e_t with the state
    (l, c, s_1 .. s_m, s2_1 .. s2_m), s_1 the phase due next: (F, g, w)."""
    a0, a1, b0, b1 = pars
    if kind == "N":
        m, b0, b1 = 1, 1.0, 1.0
    elif kind == "P":
        b0, b1 = 1.0 + b0, 1.0
    d = 2 + 2 * m
    F = np.zeros((d, d))
    F[0, :2] = [1, -(1 - a1)]
    F[1, :2] = [1, 1 - a0]
    # the phase due next (slot 1) is updated and moves to the back (slot m)
    S, S2 = 2, 2 + m
    for j in range(1, m):
        F[S + j - 1, S + j] = 1
        F[S2 + j - 1, S2 + j] = 1
    F[S + m - 1, S] = 1
    F[S + m - 1, S2] = -(1 - b1)
    F[S2 + m - 1, S] = 1
    F[S2 + m - 1, S2] = 1 - b0
    g = np.zeros(d)
    g[:2] = [a0 - a1, a0 + a1]
    g[S + m - 1] = b0 - b1
    g[S2 + m - 1] = b0 + b1
    w = np.zeros(d)
    w[0] = 1
    if kind != "N":
        w[S] = 1
    return F, g, w


@pytest.mark.parametrize("kind,pars", CASES)
def test_forecast_variance_equals_the_state_space_model(kind, pars):
    """float64, 1e-9: std_h^2 = s^2 (1 + sum_{j<h} (w F^{j-1} g)^2), s^2 =
    SSE / (n - k - 1), from the explicit state-space matrices."""
    y = series()
    x = torch.tensor(y)[None]
    ok = torch.ones_like(x, dtype=torch.bool)
    grid = one_set(kind, pars)
    _, sse, _ = ces_filter(x, ok, ok, 12, grid)
    H = 30
    _, std = ces_forecast(x, ok.to(x.dtype), H, 12, grid=grid)
    F, g, w = state_space(kind, pars, 12)
    c, power = [], np.eye(len(g))
    for _ in range(H - 1):
        c.append(w @ power @ g)
        power = F @ power
    s2 = float(sse[0, 0]) / (len(y) - PARAMETERS[KIND[kind]] - 1)
    expected = np.sqrt(s2 * (1 + np.concatenate([[0.0], np.cumsum(np.square(c))])))
    np.testing.assert_allclose(std[0].numpy(), expected, rtol=1e-9)


def test_kind_choice_is_statsforecast_aicc_choice():
    """Each series gets the kind and parameter set of least AICc over the
    default grid, with seasonal kinds only from two seasons of values:
    recomputed one set at a time (1e-9)."""
    rows = [series(96, 12, 1), seasonal_series(60, 12, 2), seasonal_series(20, 12, 3)]
    y, obs = padded(rows, 96)
    mean, std = ces_forecast(y, obs, 6, 12)
    grid = ces_grid(12)
    for i, row in enumerate(rows):
        x = torch.tensor(np.asarray(row))[None]
        ok = torch.ones_like(x, dtype=torch.bool)
        best = None
        for j in range(grid.a0.numel()):
            one = CESGrid(*(v[j : j + 1] for v in grid))
            if bool(one.seasonal) and len(row) < 24:
                continue
            _, sse, _ = ces_filter(x, ok, ok, 12, one)
            n, k = len(row), float(one.k)
            aicc = n * np.log(float(sse)) + 2 * k + 2 * k * (k + 1) / (n - k - 1)
            if best is None or aicc < best[0]:
                best = (aicc, j)
        one = CESGrid(*(v[best[1] : best[1] + 1] for v in grid))
        m1, s1 = ces_forecast(x, ok.to(x.dtype), 6, 12, grid=one)
        np.testing.assert_allclose(mean[i].numpy(), m1[0].numpy(), rtol=1e-9)
        np.testing.assert_allclose(std[i].numpy(), s1[0].numpy(), rtol=1e-9)


def reference_filter(row, kind, pars, m, observed):
    """One series, statsforecast's backcast filter written out in numpy,
    with a missing value leaving a zero error (the state moves on as a
    forecast would): the final pass's sum of squared errors."""
    from statsmodels.tsa.seasonal import seasonal_decompose

    a0, a1, b0, b1 = pars
    if kind == "N":
        b0, b1 = 1.0, 1.0
    elif kind == "P":
        b0, b1 = 1.0 + b0, 1.0
    y = np.asarray(row, dtype=float)
    n = len(y)
    mm = 1 if kind == "N" else m
    l = y[: min(10, n)].mean() if kind == "N" else y[:mm].mean()
    c = l / 1.1
    s = seasonal_decompose(y, period=mm, model="additive").seasonal[:mm] if kind != "N" else np.zeros(1)
    S = np.array(s, dtype=float)  # phase t mod m
    S2 = S / 1.1
    for pass_ in range(3):
        if pass_:  # turn around one zero-error step past the end
            l, c = l - (1 - a1) * c, l + (1 - a0) * c
            S, S2 = S - (1 - b1) * S2, S + (1 - b0) * S2
        order = range(n) if pass_ != 1 else range(n - 1, -1, -1)
        sse = 0.0
        for t in order:
            p = t % mm
            e = y[t] - (l + S[p]) if observed[t] else 0.0
            sse += e * e
            l, c = l - (1 - a1) * c + (a0 - a1) * e, l + (1 - a0) * c + (a0 + a1) * e
            S[p], S2[p] = S[p] - (1 - b1) * S2[p] + (b0 - b1) * e, S[p] + (1 - b0) * S2[p] + (b0 + b1) * e
    return sse


@pytest.mark.parametrize("kind,pars", CASES)
def test_padded_batch_with_missing_values_equals_rows_alone(kind, pars):
    """float64, 1e-10: left-padded rows of different lengths, one with
    missing values (carried forward, zero errors), filtered in one batch
    equal each row filtered alone by the numpy reference."""
    full = series(72, 12, 4)
    gappy, filled = with_gaps(full, [30, 31, 50])
    rows = [series(96, 12, 5), full[-48:], gappy]
    y, obs = padded(rows, 96)
    x, started = fill_forward(y, obs)
    _, sse, _ = ces_filter(x, (obs > 0) & started, started, 12, one_set(kind, pars))
    for i, row in enumerate([rows[0], rows[1], filled]):
        observed = ~np.isnan(gappy) if i == 2 else np.ones(len(row), bool)
        expected = reference_filter(row, kind, pars, 12, observed)
        np.testing.assert_allclose(float(sse[i, 0]), expected, rtol=1e-10)


def test_short_series_get_the_naive_forecast():
    """At most 4 values (no kind has n > k + 1): the last value, with spread
    s sqrt(h), s the root mean square of the one-step changes (1e-12); a
    row with no value forecasts 0; everything finite."""
    rows = [np.array([10.0, 12.0, 11.0]), np.array([5.0]), np.array([np.nan]), np.array([3.0, 4.0, 2.0, 6.0])]
    y, obs = padded(rows, 8)
    mean, std = ces_forecast(y, obs, 4, 1)
    h = np.sqrt(np.arange(1, 5))
    np.testing.assert_allclose(mean[0].numpy(), 11.0)
    np.testing.assert_allclose(std[0].numpy(), np.sqrt((4 + 1) / 2) * h, rtol=1e-12)
    np.testing.assert_allclose(mean[1].numpy(), 5.0)
    np.testing.assert_allclose(std[1].numpy(), 0.0)
    np.testing.assert_allclose(mean[2].numpy(), 0.0)
    np.testing.assert_allclose(mean[3].numpy(), 6.0)
    np.testing.assert_allclose(std[3].numpy(), np.sqrt((1 + 4 + 16) / 3) * h, rtol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_finite_in_both_dtypes_with_constant_and_large_series(dtype):
    """A constant series (zero errors), a series around 1e7 and a seasonal
    one: finite means and non-negative finite spreads in float32 and
    float64; float32 within 1e-3 relative of float64 on the seasonal one."""
    rows = [np.full(60, 7.0), 1e7 + 1e5 * np.sin(np.arange(60) / 3.0), seasonal_series(60, 12, 6)]
    y, obs = padded(rows, 60)
    mean, std = ces_forecast(y.to(dtype), obs.to(dtype), 12, 12)
    assert torch.isfinite(mean).all() and torch.isfinite(std).all() and (std >= 0).all()
    np.testing.assert_allclose(mean[0].double().numpy(), 7.0, rtol=1e-5)
    ref, _ = ces_forecast(y, obs, 12, 12)
    np.testing.assert_allclose(mean[2].double().numpy(), ref[2].numpy(), rtol=1e-3)


def test_a_set_whose_filter_overflows_is_never_chosen():
    """float32, 300 values: an explosive parameter set (a0 = 0.05, a1 = 1.9:
    the filter's errors grow past float32's range) next to a stable one;
    the forecast is the stable set's alone (1e-6) and finite."""
    y = torch.tensor(series(300, 12, 7), dtype=torch.float32)[None]
    ok = torch.ones_like(y)
    stable = one_set("N", (1.4, 1.0, None, None), torch.float32)
    explosive = one_set("N", (0.05, 1.9, None, None), torch.float32)
    both = CESGrid(*(torch.cat([a, b]) for a, b in zip(explosive, stable)))
    _, sse, _ = ces_filter(y, ok > 0, ok > 0, 12, explosive)
    assert not torch.isfinite(sse).all()  # the overflow this test is about
    mean, std = ces_forecast(y, ok, 6, 12, grid=both)
    want, want_std = ces_forecast(y, ok, 6, 12, grid=stable)
    assert torch.isfinite(mean).all() and torch.isfinite(std).all()
    torch.testing.assert_close(mean, want, rtol=1e-6, atol=0)
    torch.testing.assert_close(std, want_std, rtol=1e-6, atol=0)


def test_backtest_is_the_unbackcast_forecast_of_each_prefix(monkeypatch):
    """float64, 1e-10: the backtest from a cut is :func:`ces_forecast` of
    the values before it, had its filter no backcast and the whole window's
    starting states (the kind chosen by the prefix's own AICc, the naive
    forecast where none fits); the window's own forecast is unchanged."""
    H, m, C = 12, 12, 96
    full = series(72, m, 4)
    gappy, _ = with_gaps(full, [30, 31, 60])
    rows = [series(96, m, 5), full[-40:], gappy, series(96, m, 6)[-14:]]
    y, obs = padded(rows, C)
    ends = [84, 72, 60, 83, 1]
    mean, std, origins = ces_backtested(y, obs, H, ends, m)
    assert origins.shape == (len(ends), len(rows), H)
    for got, want in zip((mean, std), ces_forecast(y, obs, H, m)):
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    x, started = fill_forward(y, obs)
    grid = ces_grid(m)
    window_start = initial_states(x, started, m, grid)
    filter_once = ces_module.ces_filter
    monkeypatch.setattr(ces_module, "initial_states", lambda *_: type(window_start)(*(v.clone() for v in window_start)))
    monkeypatch.setattr(ces_module, "ces_filter", lambda *a, **k: filter_once(*a, **{**k, "backcast": False}))
    for j, end in enumerate(ends):
        want, _ = ces_forecast(y[:, :end], obs[:, :end], H, m)
        torch.testing.assert_close(origins[j], want, rtol=1e-10, atol=1e-10)
