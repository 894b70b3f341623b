"""Fixtures of the decision tests.

``hand``: a 4-step IQF forecast and its quantile function, right slope, cdf
and expected newsvendor cost written out by hand from the knot values, tail
rates, loc and scale (closed forms independent of the package; costs by
scipy quadrature). ``fc``: that forecast; ``mc_paths``: 10**6 seeded draws
of it. ``joint``: integer-valued, dependent sample paths (n, H, dim) and
their ``SampleForecast``, for aggregates over steps and series.
"""

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from gluonts.model.forecast import SampleForecast
from scipy import integrate

from gluonts_iqf import IQF, QuantileFunctionForecast


class HandIQF:
    """The 4-step fixture IQF (knots at levels 0.1, 0.5, 0.9), by hand."""

    start = pd.Period("2020-01-01", freq="D")
    knot_levels = [0.1, 0.5, 0.9]
    # per step t: knot values (before loc/scale), tail rates, loc, scale
    knot_values = [[0.0, 1.0, 2.0], [1.0, 3.0, 4.0], [2.0, 2.5, 5.0], [0.0, 4.0, 6.0]]
    beta_l = [1.0, 2.0, 0.5, 1.5]
    beta_r = [0.5, 1.0, 2.0, 0.25]
    loc = [10.0, 0.0, -5.0, 3.0]
    scale = [2.0, 1.0, 0.5, 3.0]
    H = 4
    labels = [str(p) for p in pd.period_range(start, periods=4, freq="D")]

    def forecast(self, dtype=torch.float64, values=None, beta_l=None, beta_r=None, loc=None, scale=None):
        """A ``QuantileFunctionForecast`` of these parameters (or others)."""
        t = lambda v, default: torch.tensor(default if v is None else v, dtype=dtype)  # noqa: E731
        distr = IQF(self.knot_levels, t(values, self.knot_values), t(beta_l, self.beta_l),
                    t(beta_r, self.beta_r), loc=t(loc, self.loc), scale=t(scale, self.scale))
        return QuantileFunctionForecast(distr, start_date=self.start, item_id="x")

    def quantile(self, t, a):
        v0, v1, v2 = self.knot_values[t]
        if a < 0.1:
            z = v0 + math.log(a / 0.1) / self.beta_l[t]
        elif a <= 0.5:
            z = v0 + (v1 - v0) * (a - 0.1) / 0.4
        elif a <= 0.9:
            z = v1 + (v2 - v1) * (a - 0.5) / 0.4
        else:
            z = v2 - math.log((1 - a) / 0.1) / self.beta_r[t]
        return self.loc[t] + self.scale[t] * z

    def slope(self, t, a):
        """Right derivative dq/da of step t."""
        v0, v1, v2 = self.knot_values[t]
        if a < 0.1:
            s = 1 / (self.beta_l[t] * a)
        elif a < 0.5:
            s = (v1 - v0) / 0.4
        elif a < 0.9:
            s = (v2 - v1) / 0.4
        else:
            s = 1 / (self.beta_r[t] * (1 - a))
        return self.scale[t] * s

    def cdf(self, t, y):
        v0, v1, v2 = self.knot_values[t]
        z = (y - self.loc[t]) / self.scale[t]
        if z < v0:
            return 0.1 * math.exp(self.beta_l[t] * (z - v0))
        if z <= v1:
            return 0.1 + 0.4 * (z - v0) / (v1 - v0)
        if z <= v2:
            return 0.5 + 0.4 * (z - v1) / (v2 - v1)
        return 1 - 0.1 * math.exp(-self.beta_r[t] * (z - v2))

    def cost(self, t, s, cu, co):
        """E[cu (Y - s)+ + co (s - Y)+] = int_0^1 of the loss at q(a), by quad."""

        def loss(a):
            d = self.quantile(t, a) - s
            return cu * max(d, 0.0) + co * max(-d, 0.0)

        points = sorted({0.1, 0.5, 0.9, min(max(self.cdf(t, s), 1e-12), 1 - 1e-12)})
        value, err = integrate.quad(loss, 0.0, 1.0, points=points, limit=500, epsabs=1e-13, epsrel=1e-12)
        assert err < 1e-9
        return value


@pytest.fixture(scope="session")
def hand():
    return HandIQF()


@pytest.fixture(scope="session")
def fc(hand):
    return hand.forecast()


#: Monte Carlo draws of ``mc_paths``.
MC_DRAWS = 10**6


@pytest.fixture(scope="session")
def mc_paths(fc):
    """10**6 seeded draws from ``fc.distribution``, independent across
    steps, (n, H)."""
    torch.manual_seed(1234)
    with torch.no_grad():
        return fc.distribution.sample((MC_DRAWS,)).numpy()


@pytest.fixture(scope="session")
def mc_se():
    def se(totals_sorted, a, n):
        """Standard error of the empirical a-quantile: sqrt(a(1-a)/n) /
        density, with the density from the Monte Carlo quantiles 0.005
        apart."""
        q_hi, q_lo = np.quantile(totals_sorted, [min(a + 0.005, 1), max(a - 0.005, 0)])
        return math.sqrt(a * (1 - a) / n) * (q_hi - q_lo) / 0.01

    return se


def gluonts_rule(values, level):
    """GluonTS's SampleForecast.quantile: sorted value at round((n-1) a)."""
    v = np.sort(values)
    return v[int(np.round((v.size - 1) * level))]


@pytest.fixture
def joint():
    """Integer-valued draws (n, H, dim) = (101, 5, 3): every sum is exact in
    float64, in any order, so comparisons are exact equalities; the series
    share a component (weights 1, 2, -1), so joint totals differ from
    anything computed from the marginals alone."""
    start = pd.Period("2021-03-01", freq="D")
    n, H, dim = 101, 5, 3
    rng = np.random.default_rng(0)
    common = rng.integers(-20, 20, size=(n, H, 1))
    own = rng.integers(0, 50, size=(n, H, dim))
    samples = (common * np.array([1, 2, -1]) + own).astype(np.float64)
    return SimpleNamespace(
        start=start, n=n, H=H, dim=dim, samples=samples,
        forecast=SampleForecast(samples=samples, start_date=start),
        levels=[0.05, 0.25, 0.5, 0.73, 0.9, 0.995], rule=gluonts_rule,
    )
