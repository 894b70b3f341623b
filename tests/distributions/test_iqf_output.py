"""IQFOutput: settings, domain map, loc/scale semantics, losses, bad input,
and hypothesis property tests of IQF over extreme parameters."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from gluonts.core import serde

from gluonts_iqf import IQF, IQFOutput
from gluonts_iqf.distributions.iqf import DEFAULT_KNOT_LEVELS


def raw_args(out, batch=(4, 5), seed=0, dtype=torch.float64, std=1.0):
    gen = torch.Generator().manual_seed(seed)
    return [
        std * torch.randn(*batch, d, generator=gen, dtype=torch.float64).to(dtype)
        for d in out.args_dim.values()
    ]


# ---------------------------------------------------------------- settings
@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(knot_levels=[0.5, 0.1, 0.9]), "unsorted"),
        (dict(knot_levels=[0.1, 0.5, 0.5, 0.9]), "repeated"),
        (dict(knot_levels=[0.0, 0.5]), r"strictly inside \(0, 1\)"),
        (dict(knot_levels=[0.5, 1.2]), r"strictly inside \(0, 1\)"),
        (dict(knot_levels=[0.5]), "at least 2"),
        (dict(num_pieces=0), "num_pieces must be >= 1"),
        (dict(num_pieces=2.5), "num_pieces"),
        (dict(loss="mse"), "loss must be one of"),
        (dict(tails="gaussian"), "tails must be one of"),
        (dict(loss="quantile"), "loss='quantile'"),
        (dict(loss="quantile", tails="fitted", num_pieces=3), "loss='quantile'"),
        (dict(min_slope=0.0), "min_slope"),
    ],
)
def test_bad_settings_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        IQFOutput(**kwargs)


def test_bad_distribution_arguments_raise():
    kv = torch.tensor([[0.0, 1.0, 2.0]])
    b = torch.ones(1)
    with pytest.raises(ValueError, match="unsorted"):
        IQF([0.5, 0.1, 0.9], kv, b, b)
    with pytest.raises(ValueError, match=r"shape \(\*batch_shape, 2\)"):
        IQF([0.1, 0.9], kv, b, b)
    with pytest.raises(ValueError, match="together"):
        IQF([0.1, 0.5, 0.9], kv, b, b, piece_widths=torch.full((1, 2, 2), 0.5))
    with pytest.raises(ValueError):  # decreasing knot values
        IQF([0.1, 0.5, 0.9], torch.tensor([[0.0, 2.0, 1.0]]), b, b, validate_args=True)
    with pytest.raises(ValueError):  # non-positive tail rate
        IQF([0.1, 0.5, 0.9], kv, -b, b, validate_args=True)
    d = IQF([0.1, 0.5, 0.9], kv, b, b)
    for bad in [-0.1, 1.5, float("nan")]:
        with pytest.raises(ValueError, match=r"levels must lie in \[0, 1\]"):
            d.icdf(torch.tensor([0.2, bad]).reshape(2, 1))


def test_serde_round_trip_and_defaults():
    out = IQFOutput(knot_levels=[0.05, 0.5, 0.95], num_pieces=4, loss="nll", min_slope=1e-3)
    back = serde.decode(serde.encode(out))
    assert isinstance(back, IQFOutput)
    assert back.knot_levels == [0.05, 0.5, 0.95] and back.num_pieces == 4
    assert back.loss_name == "nll" and back.min_slope == 1e-3
    assert back.args_dim == out.args_dim
    assert serde.encode(back) == serde.encode(out)
    default = IQFOutput()
    assert default.knot_levels == list(DEFAULT_KNOT_LEVELS)
    assert default.args_dim == {"knot_values": 11, "tails": 2}
    assert IQFOutput(num_pieces=3).args_dim["piece_widths"] == 10 * 3
    assert "tails" not in IQFOutput(tails="fitted", loss="quantile").args_dim


def test_settings_reach_domain_map():
    """min_slope arrives: very negative raw slopes floor at min_slope * gap."""
    for floor in [1e-4, 1e-2]:
        out = IQFOutput(knot_levels=[0.1, 0.5, 0.9], min_slope=floor)
        raw = [torch.full((2, 3), -50.0, dtype=torch.float64), torch.full((2, 2), -50.0, dtype=torch.float64)]
        kv, bl, br = out.domain_map(*raw)
        gaps = torch.diff(kv, dim=-1)
        torch.testing.assert_close(gaps, torch.full_like(gaps, 0.4 * floor), rtol=1e-6, atol=0)
        torch.testing.assert_close(1 / bl, torch.full_like(bl, 0.1 * floor), rtol=1e-6, atol=0)


def test_domain_map_shapes_and_monotone():
    out = IQFOutput(knot_levels=[0.1, 0.3, 0.5, 0.7, 0.9], num_pieces=3)
    args = out.domain_map(*raw_args(out, std=30.0))
    kv, bl, br, w, h = args
    assert kv.shape == (4, 5, 5) and bl.shape == (4, 5) and w.shape == (4, 5, 4, 3)
    assert (torch.diff(kv, dim=-1) > 0).all() and (bl > 0).all() and (br > 0).all()
    torch.testing.assert_close(w.sum(-1), torch.ones(4, 5, 4, dtype=w.dtype))
    assert (w > 0).all() and (h > 0).all()
    # the resulting distribution passes torch's own argument validation
    IQF(out.knot_levels, *args, validate_args=True)


def test_distribution_respects_loc_and_scale():
    out = IQFOutput(num_pieces=2)
    args = out.domain_map(*raw_args(out))
    base = out.distribution(args)
    loc = torch.linspace(-1e3, 1e3, 5, dtype=torch.float64)
    scale = torch.linspace(0.1, 50, 5, dtype=torch.float64)
    d = out.distribution(args, loc=loc, scale=scale)
    y = d.sample((3,))
    z = (y - loc) / scale
    u = torch.rand(3, 4, 5, dtype=torch.float64)
    tol = dict(rtol=1e-10, atol=1e-9)
    torch.testing.assert_close(d.icdf(u), loc + scale * base.icdf(u), **tol)
    torch.testing.assert_close(d.cdf(y), base.cdf(z), **tol)
    torch.testing.assert_close(d.log_prob(y), base.log_prob(z) - torch.log(scale), **tol)
    torch.testing.assert_close(d.crps(y), scale * base.crps(z), **tol)
    torch.testing.assert_close(d.mean, loc + scale * base.mean, **tol)
    torch.testing.assert_close(d.variance, scale**2 * base.variance, **tol)
    # loc=None with a scale (DeepAR's call) and loc only
    torch.testing.assert_close(out.distribution(args, scale=scale).mean, scale * base.mean, **tol)
    torch.testing.assert_close(out.distribution(args, loc=loc).mean, loc + base.mean, **tol)


@pytest.mark.parametrize("loss", ["crps", "nll", "quantile"])
def test_loss_values_and_units(loss):
    kw = dict(tails="fitted") if loss == "quantile" else {}
    out = IQFOutput(loss=loss, **kw)
    args = out.domain_map(*raw_args(out))
    scale = torch.rand(4, 1, dtype=torch.float64) * 10 + 1
    loc = torch.randn(4, 1, dtype=torch.float64)
    d = out.distribution(args, loc=loc, scale=scale)
    target = d.sample()
    value = out.loss(target, args, loc=loc, scale=scale)
    assert value.shape == target.shape
    if loss == "crps":
        torch.testing.assert_close(value, d.crps(target))
    elif loss == "nll":
        torch.testing.assert_close(value, -d.log_prob(target))
    else:
        # trapezoid-weighted pinball at the knots == CRPS of the linear
        # interpolant restricted to [a_1, a_K], by quadrature
        levels = np.array(out.knot_levels)
        b = (1, 2)
        q = lambda a: d.icdf(torch.tensor(a, dtype=torch.float64))[b].item()
        y = target[b].item()
        w = np.empty_like(levels)
        w[0], w[-1] = (levels[1] - levels[0]) / 2, (levels[-1] - levels[-2]) / 2
        w[1:-1] = (levels[2:] - levels[:-2]) / 2
        ref = sum(2 * wk * (y - q(a)) * (a - (y < q(a))) for a, wk in zip(levels, w))
        assert value[b].item() == pytest.approx(ref, rel=1e-10)


@pytest.mark.parametrize("loss", ["crps", "nll"])
def test_non_finite_targets_give_zero_loss_and_finite_gradients(loss):
    out = IQFOutput(loss=loss, num_pieces=2)
    raw = [r.requires_grad_(True) for r in raw_args(out)]
    args = out.domain_map(*raw)
    target = out.distribution(args).sample().detach()
    target[0, 0], target[1, 2], target[3, 4] = float("nan"), float("inf"), -float("inf")
    value = out.loss(target, args, scale=torch.full((4, 1), 2.0, dtype=torch.float64))
    assert torch.isfinite(value).all()
    assert value[0, 0] == 0 and value[1, 2] == 0 and value[3, 4] == 0
    value.sum().backward()
    assert all(torch.isfinite(r.grad).all() for r in raw)


def test_extreme_raw_outputs_are_finite():
    """Raw network outputs of std 100 (docs/methods.md, "Reference values
    for tests") in float32: losses, cdf, crps finite; cdf in [0, 1];
    crps >= 0."""
    for pieces in [1, 10]:
        out = IQFOutput(knot_levels=[0.1, 0.3, 0.5, 0.7, 0.9], num_pieces=pieces)
        args = out.domain_map(*raw_args(out, dtype=torch.float32, std=100.0))
        d = out.distribution(args, scale=torch.full((4, 1), 3.0))
        y = 100 * torch.randn(4, 5)
        c, f = d.crps(y), d.cdf(y)
        assert torch.isfinite(c).all() and (c >= -1e-4 * y.abs().max()).all()
        assert ((f >= 0) & (f <= 1)).all()
        assert torch.isfinite(out.loss(y, args)).all()


# ---------------------------------------------------------------- hypothesis
def _positive(lo, hi):
    """Log-uniform floats in [lo, hi]."""
    return st.floats(math.log10(lo), math.log10(hi)).map(lambda e: 10.0**e)


@st.composite
def iqf_params(draw, dtype):
    K = draw(st.integers(2, 7))
    S = draw(st.sampled_from([1, 1, 2, 5]))
    levels = sorted(draw(st.sets(st.floats(1e-3, 1 - 1e-3), min_size=K, max_size=K)))
    if min(np.diff(levels)) < 1e-4:
        levels = list(np.linspace(0.05, 0.95, K))
    incr = [draw(_positive(1e-8, 1e8)) for _ in range(K - 1)]
    first = draw(st.floats(-1e8, 1e8))
    kv = torch.tensor([first] + incr, dtype=torch.float64).cumsum(0).to(dtype)
    beta_l, beta_r = draw(_positive(1e-8, 1e8)), draw(_positive(1e-8, 1e8))
    pieces = {}
    if S > 1:
        fr = lambda: torch.tensor(
            [[draw(_positive(1e-3, 1.0)) for _ in range(S)] for _ in range(K - 1)],
            dtype=torch.float64,
        )
        w, h = fr(), fr()
        pieces = dict(piece_widths=(w / w.sum(-1, keepdim=True)).to(dtype), piece_heights=(h / h.sum(-1, keepdim=True)).to(dtype))
    loc = draw(st.floats(-1e8, 1e8))
    scale = draw(_positive(1e-8, 1e8))
    return IQF(
        levels, kv, torch.tensor(beta_l, dtype=dtype), torch.tensor(beta_r, dtype=dtype),
        loc=torch.tensor(loc, dtype=dtype), scale=torch.tensor(scale, dtype=dtype),
        validate_args=False, **pieces,
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@settings(max_examples=150, deadline=None, derandomize=True)
@given(data=st.data())
def test_property_monotone_and_finite(dtype, data):
    """Over random parameters including extreme ones (increments, tail rates
    and scales from 1e-8 to 1e8): quantiles non-decreasing in the level,
    cdf non-decreasing in the value and inside [0, 1], CRPS finite and
    non-negative up to rounding, moments finite, no NaN anywhere."""
    d = data.draw(iqf_params(dtype))
    u = torch.linspace(0, 1, 2001, dtype=dtype)[1:-1]
    q = d.icdf(u)
    assert not torch.isnan(q).any()
    assert (q[1:] >= q[:-1]).all()
    f = d.cdf(q)
    assert ((f >= 0) & (f <= 1)).all() and (f[1:] >= f[:-1]).all()
    ys = torch.cat([q[::50], q[:1] - d.scale * 10, q[-1:] + d.scale * 10])
    c = d.crps(ys)
    assert torch.isfinite(c).all()
    spread = (q[-1] - q[0]).abs() + ys.abs().max()
    assert (c >= -1e-5 * spread).all()
    assert not torch.isnan(d.log_prob(ys)).any()
    assert torch.isfinite(d.mean) and not torch.isnan(d.variance)
    s = d.sample((64,))
    assert torch.isfinite(s).all()
