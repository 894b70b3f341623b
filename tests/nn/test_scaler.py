"""Causal scalers: expanding mean absolute value and one-step change, the
spread scale between them, and the scaler objects."""

import pytest
import torch

from gluonts_iqf.nn.scaler import (
    MIN_CHANGE_RATIO,
    CausalMeanScaler,
    CausalNOPScaler,
    causal_mean_abs_change,
    causal_mean_abs_scale,
    spread_scale,
)


def test_causal_scale():
    y = torch.tensor([[0.0, 2.0, -4.0, 0.0, 6.0]])
    obs = torch.tensor([[0.0, 1.0, 1.0, 0.0, 1.0]])
    scale, informative = causal_mean_abs_scale(y, obs)
    torch.testing.assert_close(scale, torch.tensor([[1.0, 2.0, 3.0, 3.0, 4.0]]))
    assert informative.tolist() == [[False, True, True, True, True]]
    zero, informative = causal_mean_abs_scale(torch.zeros(1, 3), torch.ones(1, 3))
    assert (zero == 1e-10).all() and not informative.any()
    # a zero first value: not informative until a non-zero value arrives
    _, informative = causal_mean_abs_scale(torch.tensor([[0.0, 0.0, 5.0]]), torch.ones(1, 3))
    assert informative.tolist() == [[False, False, True]]


def test_causal_mean_abs_change():
    """Mean |y[s] - y[s-1]| over pairs observed at both ends, up to each s."""
    y = torch.tensor([[1.0, 3.0, 0.0, 7.0, 4.0, 10.0]])
    obs = torch.tensor([[1.0, 1.0, 0.0, 1.0, 1.0, 1.0]])  # position 2 missing
    change, has = causal_mean_abs_change(y * obs, obs)
    # pairs: (0,1) |2|; (1,2), (2,3) unobserved; (3,4) |3|; (4,5) |6|
    torch.testing.assert_close(change, torch.tensor([[0.0, 2.0, 2.0, 2.0, 2.5, 11.0 / 3.0]]))
    assert has.tolist() == [[False, True, True, True, True, True]]
    change, has = causal_mean_abs_change(torch.zeros(2, 4), torch.ones(2, 4))
    assert (change == 0).all() and has[:, 1:].all()
    # lag 2 (a seasonal change): pairs (1,3) |4| and (3,5) |3|; (0,2), (2,4) unobserved
    change, has = causal_mean_abs_change(y * obs, obs, lag=2)
    torch.testing.assert_close(change, torch.tensor([[0.0, 0.0, 0.0, 4.0, 4.0, 3.5]]))
    assert has.tolist() == [[False, False, False, True, True, True]]
    short, has = causal_mean_abs_change(y[:, :1], obs[:, :1], lag=2)  # shorter than the lag
    assert short.shape == (1, 1) and not has.any()
    with pytest.raises(ValueError, match="lag"):
        causal_mean_abs_change(y, obs, lag=0)


def test_spread_scale_interpolates_level_and_change():
    """a = 0 -> the level exactly; a = 1 -> the change (ratio above the
    floor); in between the geometric interpolation; ratio floored at
    MIN_CHANGE_RATIO; no observed change -> the level; finite gradients
    with respect to the exponent (float64 gradcheck)."""
    level = torch.tensor([[2.0, 4.0, 5.0, 1e-10]], dtype=torch.float64)
    change = torch.tensor([[1.0, 0.0, 3.0, 0.0]], dtype=torch.float64)
    has = torch.tensor([[True, True, False, True]])
    t = lambda a: torch.tensor(a, dtype=torch.float64)  # noqa: E731
    torch.testing.assert_close(spread_scale(level, change, has, t(0.0)), level, rtol=0, atol=0)
    torch.testing.assert_close(
        spread_scale(level, change, has, t(1.0)),
        torch.tensor([[1.0, 4.0 * MIN_CHANGE_RATIO, 5.0, 1e-10 * MIN_CHANGE_RATIO]], dtype=torch.float64),
    )
    torch.testing.assert_close(
        spread_scale(level, change, has, t(0.5))[0, 0], torch.tensor(2.0 ** 0.5, dtype=torch.float64)
    )
    a = t(0.4).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a: spread_scale(level, change, has, a), (a,))


@pytest.mark.parametrize("shape", [(3, 7), (3, 7, 2)])
def test_scaler_objects(shape):
    """CausalMeanScaler returns data / scale with the scale and flags of
    causal_mean_abs_scale (also for trailing series dims, each column
    independent); CausalNOPScaler keeps the data, scale 1, informative once
    anything has been observed."""
    g = torch.Generator().manual_seed(0)
    y = torch.randn(*shape, generator=g, dtype=torch.float64) * 5
    obs = (torch.rand(*shape, generator=g) > 0.3).double()
    y = y * obs
    scaled, scale, informative = CausalMeanScaler()(y, obs)
    want, flags = causal_mean_abs_scale(y, obs)
    assert torch.equal(scale, want) and torch.equal(informative, flags)
    torch.testing.assert_close(scaled * scale, y, rtol=1e-12, atol=1e-12)
    if len(shape) == 3:  # per-column results equal the 2-D computation
        for k in range(shape[2]):
            col, _ = causal_mean_abs_scale(y[..., k], obs[..., k])
            assert torch.equal(scale[..., k], col)
            change, has = causal_mean_abs_change(y, obs)
            c2, h2 = causal_mean_abs_change(y[..., k], obs[..., k])
            assert torch.equal(change[..., k], c2) and torch.equal(has[..., k], h2)
    same, one, seen = CausalNOPScaler()(y, obs)
    assert torch.equal(same, y) and (one == 1).all()
    assert torch.equal(seen, torch.cumsum(obs, 1) > 0)
