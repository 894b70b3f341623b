"""The mix of statistical members: inverse-variance weights against their
closed form, spreads against the IQF's own quantiles, and the degenerate
windows (one value, a constant series) that must not collapse the forecast."""

import pytest
import torch

from gluonts_iqf import IQF
from gluonts_iqf.distributions.gaussian import gaussian_plain_iqf
from gluonts_iqf.model.mqcnn.statistical import (
    MAX_WIDENING,
    RELATIVE_SPREAD_CEILING,
    RELATIVE_SPREAD_FLOOR,
    check_share_values,
    data_share_factor,
    inverse_variance_weights,
    member_quantiles,
    mix_statistical,
    outlier_factor,
    shrink_network,
    widen_by_disagreement,
)
from gluonts_iqf.nn.ces import ces_forecast
from gluonts_iqf.nn.damped import damped_trend_forecast
from gluonts_iqf.nn.theta import theta_forecast

LEVELS = [0.025, 0.1, 0.3, 0.5, 0.7, 0.9, 0.975]
Z90 = 1.2815515655446004  # the normal quantile at 0.9


def test_inverse_variance_weights_closed_form():
    """prior / r^2 normalised, r = spread / network's spread, clipped; a
    member whose variance is not estimable keeps its prior (1e-12)."""
    prior = (0.7, 0.15, 0.15)
    spreads = torch.tensor([[[2.0, 2.0]], [[1.0, 0.0]], [[4.0, 1e9]]], dtype=torch.float64)  # (M=3, B=1, H=2)
    w = inverse_variance_weights(prior, spreads, torch.ones(3, 1, dtype=torch.bool))
    r = torch.tensor([[1.0, 1.0], [0.5, RELATIVE_SPREAD_FLOOR], [2.0, RELATIVE_SPREAD_CEILING]], dtype=torch.float64)
    want = torch.tensor(prior, dtype=torch.float64).view(3, 1) / r ** 2
    torch.testing.assert_close(w[:, 0], want / want.sum(0), rtol=1e-12, atol=1e-12)
    not_estimable = torch.tensor([[True], [False], [True]])
    w = inverse_variance_weights(prior, spreads, not_estimable)
    want[1] = prior[1]
    torch.testing.assert_close(w[:, 0], want / want.sum(0), rtol=1e-12, atol=1e-12)
    # a zero network prior: the weights still sum to 1
    w = inverse_variance_weights((0.0, 0.5, 0.5), spreads, torch.ones(3, 1, dtype=torch.bool))
    torch.testing.assert_close(w.sum(0), torch.ones(1, 2, dtype=torch.float64))


def test_member_quantiles_give_the_central_interval():
    """The 10-90 % width read off each member's IQF (its own icdf), which for
    a Gaussian member is 2 z_0.9 std (1e-10)."""
    g = torch.Generator().manual_seed(0)
    mean = torch.randn(2, 3, 4, generator=g, dtype=torch.float64) * 10
    std = torch.rand(2, 3, 4, generator=g, dtype=torch.float64) + 0.1
    kv, bl, br = gaussian_plain_iqf(mean, std, LEVELS)
    zeros, ones = torch.zeros_like(mean), torch.ones_like(mean)
    q = member_quantiles(kv, bl, br, zeros, ones, LEVELS)
    torch.testing.assert_close(q[2] - q[0], 2 * Z90 * std, rtol=1e-10, atol=1e-10)
    loc, scale = torch.randn(2, 3, 4, generator=g, dtype=torch.float64), torch.rand(2, 3, 1, generator=g, dtype=torch.float64) + 1
    d = IQF(torch.tensor(LEVELS, dtype=torch.float64), kv, bl, br, loc=loc, scale=scale)
    want = d.icdf(torch.full_like(mean, 0.9)) - d.icdf(torch.full_like(mean, 0.1))
    q = member_quantiles(kv, bl, br, loc, scale.expand_as(loc), LEVELS)
    torch.testing.assert_close(q[2] - q[0], want)


def _network(B, H, g):
    kv = torch.cumsum(torch.rand(B, H, len(LEVELS), generator=g, dtype=torch.float64) + 0.05, -1)
    beta = torch.rand(B, H, generator=g, dtype=torch.float64) + 0.5
    return (kv, beta, beta.clone()), torch.randn(B, H, generator=g, dtype=torch.float64) * 5 + 50, \
        torch.rand(B, 1, generator=g, dtype=torch.float64) * 3 + 1


def _stretched(members, w, u_levels, B, H):
    """The reference: sum_m w_m Q_m(u), stretched about its median by
    sqrt(1 + D / s^2), D the weighted variance of the members' medians and s
    the mix's 10-90 % width over 2 z_0.9, all from the members' own icdf."""
    def q(level):
        return torch.stack([m.icdf(torch.full((B, H), level, dtype=torch.float64)) for m in members])
    med, lo, hi = q(0.5), q(0.1), q(0.9)
    M = (w * med).sum(0)
    D = (w * (med - M) ** 2).sum(0)
    s = (w * (hi - lo)).sum(0) / (2 * Z90)
    lam = torch.sqrt(1 + D / s ** 2)
    return {level: M + lam * ((w * q(level)).sum(0) - M) for level in u_levels}, lam


def test_inverse_variance_mix_is_the_stretched_weighted_mean_quantile_function():
    """float64, 1e-10: at every level (tails included), the weighted mean of
    the members' quantile functions with the weights of
    inverse_variance_weights, stretched about its median by the members'
    disagreement."""
    g = torch.Generator().manual_seed(1)
    B, C, H = 4, 40, 6
    y = 50 + torch.cumsum(torch.randn(B, C, generator=g, dtype=torch.float64), -1)
    obs = torch.ones(B, C, dtype=torch.float64)
    obs[0, :25] = 0
    args, loc, scale = _network(B, H, g)
    (kv, bl, br), _, _ = mix_statistical(args, loc, scale, y, obs, LEVELS, 1, 0.15, 0.15, "inverse_variance", 0.1)
    levels = torch.tensor(LEVELS, dtype=torch.float64)
    members = [IQF(levels, *args, loc=loc, scale=scale)]
    for forecast in (theta_forecast, damped_trend_forecast, ces_forecast):
        members.append(IQF(levels, *gaussian_plain_iqf(*forecast(y, obs, H, 1), LEVELS)))
    u90, u10 = torch.full((B, H), 0.9, dtype=torch.float64), torch.full((B, H), 0.1, dtype=torch.float64)
    spreads = torch.stack([m.icdf(u90) - m.icdf(u10) for m in members])
    w = inverse_variance_weights((0.6, 0.15, 0.15, 0.1), spreads, torch.ones(4, B, dtype=torch.bool))
    u_levels = (0.01, 0.1, 0.42, 0.5, 0.9, 0.995)
    want, lam = _stretched(members, w, u_levels, B, H)
    assert (lam > 1).all()  # the members disagree
    mixed = IQF(levels, kv, bl, br)
    for level in u_levels:
        u = torch.full((B, H), level, dtype=torch.float64)
        torch.testing.assert_close(mixed.icdf(u), want[level], rtol=1e-10, atol=1e-10)


def test_widening_by_disagreement():
    """Members that agree on the median: no stretch; two Gaussians of
    standard deviation 1 with medians -1 and 1, weights 1/2: D = 1, s = 1,
    stretch sqrt(2) about the median 0 (1e-12); members with no spread that
    disagree: the stretch is capped near MAX_WIDENING."""
    levels = [0.1, 0.5, 0.9]
    w = torch.full((2, 1, 1), 0.5, dtype=torch.float64)
    def gaussians(means, std):
        kv, bl, br = gaussian_plain_iqf(torch.tensor(means, dtype=torch.float64).view(2, 1, 1),
                                        torch.full((2, 1, 1), std, dtype=torch.float64), levels)
        q = torch.stack([kv[..., 0], kv[..., 1], kv[..., 2]])  # (3, M, B, H): the knots are the levels
        mixed = (kv * w.unsqueeze(-1)).sum(0), 1 / (w / bl).sum(0), 1 / (w / br).sum(0)
        return mixed, q
    mixed, q = gaussians([3.0, 3.0], 1.0)
    out = widen_by_disagreement(mixed, w, q)
    for a, b in zip(out, mixed):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    mixed, q = gaussians([-1.0, 1.0], 1.0)
    kv, bl, br = widen_by_disagreement(mixed, w, q)
    torch.testing.assert_close(kv, 2 ** 0.5 * mixed[0], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(bl, mixed[1] / 2 ** 0.5, rtol=1e-12, atol=1e-12)
    mixed, q = gaussians([-1.0, 1.0], 0.0)
    kv, _, _ = widen_by_disagreement(mixed, w, q)
    width = (kv[..., 2] - kv[..., 0]) / (mixed[0][..., 2] - mixed[0][..., 0])
    assert torch.isfinite(kv).all() and float(width) <= (1 + MAX_WIDENING ** 2) ** 0.5 * (1 + 1e-9)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_degenerate_windows_do_not_collapse_the_forecast(dtype):
    """A window with one value keeps the prior weights (its members have no
    variance estimate); a constant window's zero-spread members are floored
    at a tenth of the network's spread: finite, strictly increasing knots,
    and the mix keeps a share of the network's spread."""
    g = torch.Generator().manual_seed(2)
    B, C, H = 2, 30, 5
    y = torch.zeros(B, C, dtype=dtype)
    obs = torch.zeros(B, C, dtype=dtype)
    y[0, -1], obs[0, -1] = 7.0, 1.0  # one value
    y[1], obs[1] = 3.0, 1.0  # constant
    args, loc, scale = (tuple(a.to(dtype) for a in _network(B, H, g)[0]), *(t.to(dtype) for t in _network(B, H, g)[1:]))
    inv = mix_statistical(args, loc, scale, y, obs, LEVELS, 1, 0.15, 0.15, "inverse_variance", 0.1)
    fixed = mix_statistical(args, loc, scale, y, obs, LEVELS, 1, 0.15, 0.15, "fixed", 0.1)
    kv = inv[0][0]
    assert torch.isfinite(kv).all() and (kv.diff(dim=-1) > 0).all()
    # one value: the prior weights (then the stretch by the members' disagreement)
    assert (kv[0].diff(dim=-1) >= fixed[0][0][0].diff(dim=-1) * (1 - 1e-5)).all()
    # the median (knot 0.5) is the prior mix's, up to the rounding of the stretch about it
    tol = 1e-5 if dtype == torch.float32 else 1e-10
    torch.testing.assert_close(kv[0, :, 3], fixed[0][0][0, :, 3], rtol=tol, atol=tol * float(kv[0].abs().max()))
    net_width = (loc.unsqueeze(-1) + scale.unsqueeze(-1) * args[0])[1, :, 5] - (loc.unsqueeze(-1) + scale.unsqueeze(-1) * args[0])[1, :, 1]
    width = kv[1, :, 5] - kv[1, :, 1]
    # the network's weight is at least 0.6 / (0.6 + 0.4 / 0.1^2) of it
    assert (width >= net_width * 0.6 / (0.6 + 0.4 / RELATIVE_SPREAD_FLOOR ** 2) * (1 - 1e-5)).all()


def test_calibrated_members_in_the_inverse_variance_mix():
    """float64, 1e-10: with a calibration, each member's quantile function
    is mean + std Z with Z's given quantiles (standard_plain_iqf) on windows
    of at least MIN_CALIBRATION_VALUES values, Gaussian on shorter ones; the
    weights still come from the members' Gaussian spreads; the mix is the
    stretched weighted mean of these quantile functions. The standard
    normal's own quantiles as the calibration give the uncalibrated mix."""
    from scipy.stats import norm

    from gluonts_iqf.distributions.gaussian import standard_plain_iqf
    from gluonts_iqf.model.mqcnn.statistical import MIN_CALIBRATION_VALUES

    g = torch.Generator().manual_seed(3)
    B, C, H = 4, 40, 6
    y = 50 + torch.cumsum(torch.randn(B, C, generator=g, dtype=torch.float64), -1)
    obs = torch.ones(B, C, dtype=torch.float64)
    obs[0, : C - (MIN_CALIBRATION_VALUES - 1)] = 0  # too short for the calibration
    args, loc, scale = _network(B, H, g)
    z = norm.ppf(LEVELS)
    calibration = [((z + 0.4) * 1.3).tolist(), None, (z * 0.8 - 0.2).tolist()]
    (kv, bl, br), _, _ = mix_statistical(args, loc, scale, y, obs, LEVELS, 1, 0.15, 0.15, "inverse_variance", 0.1,
                                         calibration)
    levels = torch.tensor(LEVELS, dtype=torch.float64)
    members, spreads = [IQF(levels, *args, loc=loc, scale=scale)], []
    for cal, forecast in zip(calibration, (theta_forecast, damped_trend_forecast, ces_forecast)):
        mean, std = forecast(y, obs, H, 1)
        gaussian = gaussian_plain_iqf(mean, std, LEVELS)
        fitted = standard_plain_iqf(mean, std, LEVELS, cal) if cal is not None else gaussian
        parts = [torch.cat([gp[:1], fp[1:]]) for gp, fp in zip(gaussian, fitted)]  # row 0: Gaussian
        members.append(IQF(levels, *parts))
        spreads.append(2 * Z90 * std)
    u90, u10 = torch.full((B, H), 0.9, dtype=torch.float64), torch.full((B, H), 0.1, dtype=torch.float64)
    spreads = torch.stack([members[0].icdf(u90) - members[0].icdf(u10)] + spreads)
    w = inverse_variance_weights((0.6, 0.15, 0.15, 0.1), spreads, torch.ones(4, B, dtype=torch.bool))
    u_levels = (0.01, 0.1, 0.42, 0.5, 0.9, 0.995)
    want, _ = _stretched(members, w, u_levels, B, H)
    mixed = IQF(levels, kv, bl, br)
    for level in u_levels:
        u = torch.full((B, H), level, dtype=torch.float64)
        torch.testing.assert_close(mixed.icdf(u), want[level], rtol=1e-10, atol=1e-10)
    plain = mix_statistical(args, loc, scale, y, obs, LEVELS, 1, 0.15, 0.15, "inverse_variance", 0.1)[0]
    normal = mix_statistical(args, loc, scale, y, obs, LEVELS, 1, 0.15, 0.15, "inverse_variance", 0.1,
                             [z.tolist()] * 3)[0]
    for a, b in zip(normal, plain):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_member_iqf_rows():
    """member_iqf: Gaussian without a calibration; with one, the calibrated
    IQF on the rows marked calibrated and the Gaussian on the others
    (exact), whether all, some or none are marked."""
    from scipy.stats import norm

    from gluonts_iqf.distributions.gaussian import standard_plain_iqf
    from gluonts_iqf.model.mqcnn.statistical import member_iqf

    g = torch.Generator().manual_seed(4)
    mean = torch.randn(3, 5, generator=g, dtype=torch.float64) * 10
    std = torch.rand(3, 5, generator=g, dtype=torch.float64) + 0.1
    z = (norm.ppf(LEVELS) + 0.3).tolist()
    gaussian = gaussian_plain_iqf(mean, std, LEVELS)
    fitted = standard_plain_iqf(mean, std, LEVELS, z)
    for a, b in zip(member_iqf(mean, std, LEVELS, None, None), gaussian):
        assert torch.equal(a, b)
    for rows in ([True, True, True], [True, False, True], [False, False, False]):
        marked = torch.tensor(rows)
        for a, f, gs in zip(member_iqf(mean, std, LEVELS, z, marked), fitted, gaussian):
            for i, r in enumerate(rows):
                assert torch.equal(a[i], f[i] if r else gs[i])


def test_outlier_factor_closed_form():
    """float64, 1e-12: z = RMS over the steps of |median - centre| / sd, the
    centre and sd the members' prior-weighted mean and standard deviation;
    factor min(1, (z0 / z)^2); a series whose members have no variance
    estimate keeps 1; members of zero spread agreeing with the network up
    to rounding: 1."""
    dt = torch.float64
    means = torch.tensor([[[10.0, 10.0], [0.0, 0.0], [5.0, 5.0], [1.0, 1.0]],
                          [[20.0, 20.0], [0.0, 0.0], [5.0, 5.0], [1.0, 1.0]]], dtype=dt)  # (M'=2, B=4, H=2)
    stds = torch.tensor([[[1.0, 3.0], [1.0, 1.0], [2.0, 2.0], [0.0, 0.0]],
                         [[3.0, 1.0], [1.0, 1.0], [2.0, 2.0], [0.0, 0.0]]], dtype=dt)
    prior = torch.tensor([0.3, 0.1], dtype=dt)
    median = torch.tensor([[12.5 + 4.0, 12.5 - 2.0], [0.5, -0.5], [105.0, 105.0], [1.0, 1.0]], dtype=dt)
    estimable = torch.tensor([True, True, False, True])
    got = outlier_factor(median, means, stds, prior, estimable, 2.0)
    # series 0: centre 12.5, sd 1.5 (step 0) and 2.5 (step 1): z^2 = ((4/1.5)^2 + (2/2.5)^2) / 2
    z0 = (((4 / 1.5) ** 2 + (2 / 2.5) ** 2) / 2) ** 0.5
    want = torch.tensor([min(1.0, (2.0 / z0) ** 2), 1.0, 1.0, 1.0], dtype=dt)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    # per-series priors (M', B) weigh the centre per series
    per_series = torch.tensor([[0.3, 0.3, 0.3, 0.3], [0.1, 0.1, 0.1, 0.1]], dtype=dt)
    torch.testing.assert_close(outlier_factor(median, means, stds, per_series, estimable, 2.0), want, rtol=1e-12, atol=1e-12)
    # a flat window's members (sd 0, floored at the centre's rounding, eps x 1)
    # and a network 0.5 away: (2 eps / 0.5)^2, no weight
    far = median.clone()
    far[3] = 1.5
    eps = torch.finfo(dt).eps
    got = float(outlier_factor(far, means, stds, prior, estimable, 2.0)[3])
    assert got == pytest.approx(16 * eps ** 2, rel=1e-9)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_network_outlier_z_gives_a_far_network_way(dtype):
    """A noisy flat window and a network whose quantile function sits 40
    standard deviations above it: with network_outlier_z = 2 the mix's
    median moves to the members' (within 1 of the window's level, against
    more than 5 above it without); a network within the members' range is
    untouched (the same mix, 1e-5 / 1e-10); the knots stay finite and
    increasing."""
    g = torch.Generator().manual_seed(3)
    B, C, H = 2, 60, 4
    y = (100 + torch.randn(B, C, generator=g, dtype=torch.float64)).to(dtype)
    obs = torch.ones(B, C, dtype=dtype)
    levels = torch.tensor(LEVELS, dtype=torch.float64)
    z = torch.distributions.Normal(0.0, 1.0).icdf(levels).to(dtype)
    kv = z.expand(B, H, -1).clone()
    beta = torch.ones(B, H, dtype=dtype)
    loc = torch.tensor([[140.0], [100.0]], dtype=dtype).expand(B, H).clone()  # series 0 far, series 1 near
    scale = torch.ones(B, 1, dtype=dtype)
    args = (kv, beta, beta.clone())
    off = mix_statistical(args, loc, scale, y, obs, LEVELS, 1, 0.2, 0.2, "inverse_variance", 0.2)[0][0]
    on = mix_statistical(args, loc, scale, y, obs, LEVELS, 1, 0.2, 0.2, "inverse_variance", 0.2,
                         network_outlier_z=2.0)[0][0]
    med = LEVELS.index(0.5)
    level = float(y[0].mean())
    assert float(off[0, :, med].min()) > level + 5
    assert float((on[0, :, med] - level).abs().max()) < 1.0
    tol = 1e-5 if dtype == torch.float32 else 1e-10
    torch.testing.assert_close(on[1], off[1], rtol=tol, atol=tol * 100)
    assert torch.isfinite(on).all() and (on.diff(dim=-1) > 0).all()
    fixed = mix_statistical(args, loc, scale, y, obs, LEVELS, 1, 0.2, 0.2, "fixed", 0.2, network_outlier_z=2.0)[0][0]
    assert float((fixed[0, :, med] - level).abs().max()) < 1.0


def test_data_share_factor_and_shrink_network_closed_form():
    """min(1, N / N0), 1 when off (N0 = 0); the network's share (1 - sum of
    the members' weights) times the factor, the members sharing the rest in
    their own proportions (exact up to 1e-15); no change at factor 1 or
    without members."""
    assert data_share_factor(500, 2000) == 0.25
    assert data_share_factor(5000, 2000) == 1.0 and data_share_factor(10, 0) == 1.0
    assert data_share_factor(-3, 100) == 0.0
    weights = [0.2, 0.1, 0.1, 0.0]  # network 0.6
    out = shrink_network(weights, 0.25)  # network 0.15, members 0.85 in proportions 2:1:1
    assert out == pytest.approx([0.425, 0.2125, 0.2125, 0.0], abs=1e-15)
    assert 1 - sum(out) == pytest.approx(0.15, abs=1e-15)
    assert shrink_network(weights, 0.0) == pytest.approx([0.5, 0.25, 0.25, 0.0], abs=1e-15)
    assert shrink_network(weights, 1.0) == weights
    assert shrink_network([0.0, 0.0, 0.0, 0.0], 0.1) == [0.0, 0.0, 0.0, 0.0]
    for bad in (-1, 1.5, True, "10"):
        with pytest.raises(ValueError, match="network_share_values"):
            check_share_values(bad)
    check_share_values(0)
