"""The service-level trade-off table (``gluonts_iqf.decision.tradeoff``):
level strings, layout, the planner's 94% -> 95% question, and the
multivariate ``SampleForecast`` layout."""

import math

import numpy as np
import pytest

from gluonts_iqf.decision import service_level_tradeoff


def test_level_strings_give_exact_decimal_floats(hand):
    tab = service_level_tradeoff(hand.forecast(), "0.90:0.99")
    assert tab.index.name == "level"
    assert tab.index.tolist() == [0.9, 0.91, 0.92, 0.93, 0.94, 0.95, 0.96, 0.97, 0.98, 0.99]
    tab = service_level_tradeoff(hand.forecast(), "0.90:0.92:0.005")
    assert tab.index.tolist() == [0.9, 0.905, 0.91, 0.915, 0.92]
    tab = service_level_tradeoff(hand.forecast(), (0.5, 0.8))
    assert tab.index.tolist() == [0.5, 0.8]
    tab = service_level_tradeoff(hand.forecast(), 0.9)
    assert tab.index.tolist() == [0.9]
    tab = service_level_tradeoff(hand.forecast(), "0.9, 0.95")  # a comma list
    assert tab.index.tolist() == [0.9, 0.95]


def test_layout(hand, fc):
    H, labels = hand.H, hand.labels
    tab = service_level_tradeoff(fc, [0.5, 0.9], lead_time=3)
    assert tab.columns.names == ["quantity", "target"]
    assert list(tab.columns.get_level_values(0).unique()) == [
        "stock", "extra_stock", "stock_per_pp"]
    targets = labels + ["total_comonotone", "total_independent"]
    for q in ("stock", "extra_stock", "stock_per_pp"):
        assert list(tab[q].columns) == targets
    assert tab.shape == (2, 3 * (H + 2))
    assert tab.attrs["lead_time"] == 3
    assert tab.attrs["steps"] == labels[:3]
    assert tab.attrs["forecast"] == "QuantileFunctionForecast"
    # only the numerically convolved total is approximate for an IQF
    assert tab.attrs["approximate"] == sorted(
        (q, "total_independent") for q in ("stock", "extra_stock", "stock_per_pp"))
    assert set(tab.attrs["methods"]) >= {"stock", "stock_per_pp", "total_independent"}
    only = service_level_tradeoff(fc, [0.5], dependence="comonotone")
    assert list(only["stock"].columns) == labels + ["total_comonotone"]
    only = service_level_tradeoff(fc, [0.5], dependence="independent")
    assert list(only["stock"].columns) == labels + ["total_independent"]


def test_planner_question_94_to_95(hand, fc):
    """"95% instead of 94%": the extra stock is q(0.95) - q(0.94) per step;
    both levels lie in the right tail, where it is s_R * ln(0.06 / 0.05)."""
    tab = service_level_tradeoff(fc, "0.94:0.95")
    assert tab.index.tolist() == [0.94, 0.95]
    assert tab["extra_stock"].loc[0.94].isna().all()
    extra = tab.loc[0.95, "extra_stock"][hand.labels].to_numpy()
    np.testing.assert_array_equal(extra, fc.quantile(0.95) - fc.quantile(0.94))
    analytic = [hand.scale[t] / hand.beta_r[t] * math.log(0.06 / 0.05) for t in range(hand.H)]
    np.testing.assert_allclose(extra, analytic, rtol=1e-12)
    # totals: extra stock is the difference of the total column too
    for name in ("total_comonotone", "total_independent"):
        col = tab[("stock", name)]
        assert tab.loc[0.95, ("extra_stock", name)] == col[0.95] - col[0.94]
    assert tab.loc[0.95, ("extra_stock", "total_comonotone")] == pytest.approx(
        sum(analytic), rel=1e-12)


def test_service_level_tradeoff_multivariate(joint):
    fc, samples, rule = joint.forecast, joint.samples, joint.rule
    levels = [0.5, 0.9, 0.95]
    tab = service_level_tradeoff(fc, levels, lead_time=3)
    assert tab.columns.names == ["quantity", "series", "target"]
    labels = [str(p) for p in fc.index]
    for a in levels:
        q = fc.quantile(a)  # (H, dim)
        for k in range(joint.dim):
            np.testing.assert_array_equal(tab["stock"][str(k)].loc[a, labels].to_numpy(), q[:, k])
            assert tab.loc[a, ("stock", str(k), "total_joint")] == rule(samples[:, :3, k].sum(1), a)
        assert tab.loc[a, ("stock", "sum", "total_joint")] == rule(samples[:, :3].sum((1, 2)), a)
    extra = tab.loc[0.95, ("extra_stock", "sum", "total_joint")]
    assert extra == tab.loc[0.95, ("stock", "sum", "total_joint")] - tab.loc[0.9, ("stock", "sum", "total_joint")]
    assert ("stock_per_pp", "sum", "total_joint") in tab.attrs["approximate"]
    assert ("stock", "sum", "total_joint") not in tab.attrs["approximate"]
    assert tab.attrs["steps"] == labels[:3]
    weighted = service_level_tradeoff(fc, levels, series={"value": [1.0, 2.0, 3.0]})
    assert weighted.loc[0.9, ("stock", "value", "total_joint")] == rule(
        (samples * [1.0, 2.0, 3.0]).sum((1, 2)), 0.9)
