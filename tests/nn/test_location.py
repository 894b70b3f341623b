"""The seasonal location: its seasonal-naive start, the per-step map, and
the median regression that fits it."""

import pytest
import torch

from gluonts_iqf.nn.location import StepwiseLinear, fit_l1_linear, seasonal_naive_linear


def test_seasonal_naive_linear_leaves_extra_lags_at_zero():
    """The "mean" start averages the seasonal lags only; extra (recent) lags
    and every flag start at weight 0; num_seasonal outside [1, J] fails."""
    lin = seasonal_naive_linear(5, "mean", num_seasonal=3)
    assert lin.weight.tolist()[0] == pytest.approx([1 / 3] * 3 + [0.0] * 7)
    assert seasonal_naive_linear(5, "last", num_seasonal=3).weight.tolist()[0] == [1.0] + [0.0] * 9
    with pytest.raises(ValueError, match="num_seasonal"):
        seasonal_naive_linear(2, "mean", num_seasonal=3)


def test_stepwise_location_is_one_map_per_step():
    """StepwiseLinear(H, J) applies row h of its weights to step h's lags:
    equal to H separate linear maps; a per-step weight change moves only
    that step."""
    torch.manual_seed(0)
    lin = StepwiseLinear(5, 3, "mean").double()
    shared = seasonal_naive_linear(3, "mean").double()
    x = torch.randn(2, 4, 5, 6, dtype=torch.float64)
    torch.testing.assert_close(lin(x), shared(x))
    before = lin(x).detach()
    with torch.no_grad():
        lin.weight[2, 1] += 1.0
    # against its own output before the change (the same operations in the
    # same order), not nn.Linear's matrix product, whose rounding differs by
    # an ulp with the BLAS kernel
    diff = (lin(x) - before).squeeze(-1)
    torch.testing.assert_close(diff[..., 2], x[..., 2, 1])
    assert diff[..., [0, 1, 3, 4]].abs().max() == 0


def _weighted_l1(X, y, w, sol):
    return float((w * (X.double() @ sol[:-1] + sol[-1] - y.double()).abs()).sum())


def test_fit_l1_linear_matches_linear_programming():
    """With a negligible ridge, the IRLS fit reaches the weighted L1 optimum
    of scipy's linear program (min w.(u + v) s.t. X b + c + u - v = y, u, v
    >= 0) within 1e-4 relative, below the least-squares fit's (heavy-tailed
    noise); with the default ridge (pulled toward the start) its objective
    is still below the start's; rows of weight 0 do not matter."""
    from scipy.optimize import linprog

    g = torch.Generator().manual_seed(0)
    N, P = 200, 4
    X = torch.randn(N, P, generator=g, dtype=torch.float64)
    u = torch.rand(N, generator=g, dtype=torch.float64)
    noise = -torch.sign(u - 0.5) * torch.log1p(-2 * (u - 0.5).abs())  # Laplace(0, 1) by inversion
    y = X @ torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64) + 0.7 + 3 * noise
    w = torch.rand(N, generator=g, dtype=torch.float64)
    w[:20] = 0.0
    start = torch.zeros(P + 1, dtype=torch.float64)

    c = torch.cat([torch.zeros(P + 1, dtype=torch.float64), w, w]).numpy()
    A = torch.cat([X, torch.ones(N, 1, dtype=torch.float64), torch.eye(N, dtype=torch.float64), -torch.eye(N, dtype=torch.float64)], 1).numpy()
    bounds = [(None, None)] * (P + 1) + [(0, None)] * (2 * N)
    lp = linprog(c, A_eq=A, b_eq=y.numpy(), bounds=bounds, method="highs")
    assert lp.status == 0
    exact = fit_l1_linear(X, y, w, start, ridge=1e-9, iterations=200, residual_floor=1e-7)
    assert _weighted_l1(X, y, w, exact) <= lp.fun * (1 + 1e-4)

    X1 = torch.cat([X, torch.ones(N, 1, dtype=torch.float64)], 1)
    lsq = torch.linalg.solve(X1.T @ (X1 * w[:, None]), X1.T @ (w * y))
    assert _weighted_l1(X, y, w, exact) < _weighted_l1(X, y, w, lsq)
    default = fit_l1_linear(X, y, w, start)
    assert _weighted_l1(X, y, w, default) < _weighted_l1(X, y, w, start)

    y2 = y.clone()
    y2[:20] += 1e3  # rows of weight 0
    torch.testing.assert_close(fit_l1_linear(X, y2, w, start), default)
