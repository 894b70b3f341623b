"""IQF(compile=True): the compiled plain-IQF kernels (``_compiled``) against
the eager path (the same ``_plain`` functions run without compilation: this
checks that fusing them, and the compile-time forms of their sums, keep the
results), monotonicity, sampling, masking, serialization and the eager
fallback when compilation fails. The eager path itself is checked against
the grid, quadrature and GluonTS's ISQF in ``test_iqf*.py``.

Tolerances: float64 1e-9 relative to the value scale (the kernels round
differently), float32 2e-5. Every test here compiles kernels (seconds each
on CPU) or trains a model, except the fallback tests."""

import math
import warnings

import pytest
import torch

from gluonts.core import serde

from gluonts_iqf import IQF, IQFOutput
from gluonts_iqf.distributions import _compiled, _plain

LEVELS = [0.05, 0.2, 0.5, 0.8, 0.95]
TOL = {torch.float64: 1e-9, torch.float32: 2e-5}


def make(dtype, compile, seed=0, batch=(6, 7), std=2.0, tails="learned", levels=LEVELS):
    out = IQFOutput(knot_levels=levels, compile=compile, tails=tails)
    gen = torch.Generator().manual_seed(seed)
    raw = [std * torch.randn(*batch, d, generator=gen, dtype=torch.float64).to(dtype)
           for d in out.args_dim.values()]
    loc = torch.randn(batch[0], 1, generator=gen, dtype=torch.float64).to(dtype) * 10
    scale = (torch.rand(batch[0], 1, generator=gen, dtype=torch.float64) * 50 + 0.5).to(dtype)
    return out, raw, loc, scale


@pytest.fixture(autouse=True)
def compiled_kernels_stay_compiled(request):
    """Every test but the fallback test must run the compiled kernels: a
    compilation failure would silently switch to the eager path."""
    yield
    if "eagerly" not in request.node.name:  # the fallback and variant-limit tests
        assert not _compiled._STATE["disabled"], "a kernel failed to compile (see the RuntimeWarning)"
        assert not _compiled._STATE["limit_warned"], "a kernel ran out of compiled variants"


def close(a, b, tol, scale=1.0):
    err = ((a - b).abs() / (b.abs() + scale)).max().item()
    assert err <= tol, err


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("seed", [0, 1])
def test_compiled_queries_equal_eager(dtype, seed):
    out_e, raw, loc, scale = make(dtype, False, seed)
    out_c = IQFOutput(knot_levels=LEVELS, compile=True)
    args_e, args_c = out_e.domain_map(*raw), out_c.domain_map(*raw)
    for a, b in zip(args_c, args_e):
        assert a.shape == b.shape
        close(a, b, TOL[dtype])
    d_e = out_e.distribution(args_e, loc=loc, scale=scale)
    d_c = out_c.distribution(args_c, loc=loc, scale=scale)
    assert d_c.compile and not d_e.compile
    gen = torch.Generator().manual_seed(10 + seed)
    y = (loc + scale * 3 * torch.randn(6, 7, generator=gen, dtype=torch.float64).to(dtype))
    y_tail = loc + scale * torch.tensor([-40.0, 40.0], dtype=dtype).reshape(2, 1, 1)  # deep in both tails
    shared = torch.tensor([1e-6, 0.01, 0.05, 0.3, 0.5, 0.9, 0.95, 0.999, 1 - 1e-6], dtype=dtype).reshape(9, 1, 1)
    per_elem = torch.rand(3, 6, 7, generator=gen, dtype=torch.float64).to(dtype)
    s = scale.abs().max().item()
    close(d_c.icdf(shared), d_e.icdf(shared), TOL[dtype], s)
    close(d_c.icdf(per_elem), d_e.icdf(per_elem), TOL[dtype], s)
    close(d_c.icdf(torch.tensor(0.7, dtype=dtype)), d_e.icdf(torch.tensor(0.7, dtype=dtype)), TOL[dtype], s)
    for v in (y, y_tail):
        close(d_c.cdf(v), d_e.cdf(v), TOL[dtype], 1e-6)
        close(d_c.crps(v), d_e.crps(v), TOL[dtype], s)
    # levels 0 and 1 give -inf / inf as in the eager path
    edge = d_c.icdf(torch.tensor([0.0, 1.0], dtype=dtype).reshape(2, 1, 1))
    assert (edge[0] == -math.inf).all() and (edge[1] == math.inf).all()


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_compiled_loss_gradients_equal_eager(dtype):
    """Training loss (domain_map -> CRPS) and its gradients with respect to
    the raw outputs, loc and scale: compiled (closed-form backward) vs
    eager; and a float64 gradcheck of the compiled CRPS itself."""
    out_e, raw, loc, scale = make(dtype, False, 3)
    out_c = IQFOutput(knot_levels=LEVELS, compile=True)
    gen = torch.Generator().manual_seed(4)
    y = loc + scale * 3 * torch.randn(6, 7, generator=gen, dtype=torch.float64).to(dtype)

    def grads(out):
        r = [x.clone().requires_grad_(True) for x in raw]
        lc, sc = loc.clone().requires_grad_(True), scale.clone().requires_grad_(True)
        loss = out.loss(y, out.domain_map(*r), loc=lc, scale=sc).mean()
        return (loss,) + torch.autograd.grad(loss, r + [lc, sc])

    for a, b in zip(grads(out_c), grads(out_e)):
        close(a, b, 10 * TOL[dtype], b.abs().max().item())
    if dtype == torch.float64:
        levels = tuple(LEVELS)
        kv = torch.cumsum(torch.rand(5, 4, dtype=dtype, generator=gen) + 0.1, 0).requires_grad_(True)
        sl, sr = (torch.rand(4, dtype=dtype, generator=gen) + 0.2 for _ in range(2))
        lc = torch.randn(4, dtype=dtype, generator=gen)
        sc = torch.rand(4, dtype=dtype, generator=gen) + 0.5
        z = (lc + sc * 2 * torch.randn(3, 4, dtype=dtype, generator=gen))
        inputs = [t.detach().requires_grad_(True) for t in (kv, sl, sr, lc, sc, z)]
        c = _plain.level_constants(levels)
        assert torch.autograd.gradcheck(lambda *t: _compiled.crps(c, *t, compiled=True), inputs)


@pytest.mark.slow
def test_compiled_monotone_and_finite_on_extreme_parameters():
    """Quantiles non-decreasing in the level and cdf in the value (sorted
    queries, float32), finite everywhere, for tiny and huge raw outputs."""
    for std in (1e-3, 1.0, 30.0):
        out, raw, loc, scale = make(torch.float32, True, 5, std=std)
        d = out.distribution(out.domain_map(*raw), loc=loc, scale=scale * 1e6)
        u = torch.linspace(1e-7, 1 - 1e-7, 2001).reshape(-1, 1, 1)
        q = d.icdf(u)
        assert torch.isfinite(q).all() and (q.diff(dim=0) >= 0).all()
        f = d.cdf(q)
        assert (f.diff(dim=0) >= 0).all() and ((f >= 0) & (f <= 1)).all()
        assert torch.isfinite(d.crps(q[::100])).all()


@pytest.mark.slow
def test_compiled_samples_follow_the_distribution():
    """Seeded: cdf of the samples is uniform (Kolmogorov-Smirnov statistic
    per series < 0.03 for 20,000 draws; the 1% critical value is 0.0115),
    sample mean within 5 standard errors of the closed-form mean; the same
    seed gives the same samples."""
    out, raw, loc, scale = make(torch.float64, True, 6, batch=(3, 2))
    d = out.distribution(out.domain_map(*raw), loc=loc, scale=scale)
    torch.manual_seed(0)
    s = d.sample((20000,))
    torch.manual_seed(0)
    assert torch.equal(s, d.sample((20000,)))
    assert s.shape == (20000, 3, 2) and torch.isfinite(s).all()
    u = d.cdf(s).sort(0).values
    grid = (torch.arange(1, 20001, dtype=torch.float64) / 20000).reshape(-1, 1, 1)
    assert (u - grid).abs().max() < 0.03
    se = (d.variance / 20000).sqrt()
    assert ((s.mean(0) - d.mean).abs() < 5 * se).all()
    # the same uniforms as the eager path: equal samples up to rounding
    eager = IQF(d.knot_levels, d.knot_values, d.beta_l, d.beta_r, loc=d.loc, scale=d.scale)
    torch.manual_seed(1)
    a = d.sample((50,))
    torch.manual_seed(1)
    close(a, eager.sample((50,)), 1e-9, d.scale.max().item())


@pytest.mark.slow
def test_compiled_loss_masks_non_finite_targets():
    out, raw, loc, scale = make(torch.float32, True, 7)
    y = loc + scale * torch.randn(6, 7)
    y[0, :3] = float("nan")
    y[1, 2] = float("inf")
    r = [x.clone().requires_grad_(True) for x in raw]
    loss = out.loss(y, out.domain_map(*r), loc=loc, scale=scale)
    assert torch.isfinite(loss).all() and (loss[0, :3] == 0).all() and loss[1, 2] == 0
    loss.mean().backward()
    assert all(torch.isfinite(x.grad).all() for x in r)


@pytest.mark.slow
def test_compile_flag_serializes_and_reaches_the_distribution():
    out = IQFOutput(knot_levels=LEVELS, compile=True)
    back = serde.decode(serde.encode(out))
    assert back.compile is True and back.knot_levels == LEVELS
    d = back.distribution(back.domain_map(*make(torch.float64, True)[1]))
    assert d.compile and d.expand((2, 6, 7)).compile
    # spline pieces and fitted tails take the eager path (compile ignored there)
    for kw in (dict(num_pieces=3), dict(tails="fitted")):
        o = IQFOutput(knot_levels=LEVELS, compile=True, **kw)
        raw = make(torch.float64, False, 8, tails=kw.get("tails", "learned"))[1]
        if "num_pieces" in kw:
            gen = torch.Generator().manual_seed(8)
            raw = [torch.randn(6, 7, dim, generator=gen, dtype=torch.float64) for dim in o.args_dim.values()]
        e = IQFOutput(knot_levels=LEVELS, **kw)
        y = torch.randn(6, 7, dtype=torch.float64)
        torch.testing.assert_close(o.loss(y, o.domain_map(*raw)), e.loss(y, e.domain_map(*raw)),
                                   rtol=1e-9, atol=1e-12)


def test_failed_compilation_warns_once_and_runs_eagerly(monkeypatch):
    """A backend failure (e.g. no C++ compiler) is reported once; the same
    kernels then run eagerly and give the eager results."""
    def broken(*args, **kwargs):
        raise RuntimeError("no working C++ compiler found")

    monkeypatch.setattr(_compiled, "_COMPILED", {name: broken for name in _compiled._EAGER})
    monkeypatch.setitem(_compiled._STATE, "disabled", False)
    out, raw, loc, scale = make(torch.float64, True, 9)
    e = IQFOutput(knot_levels=LEVELS)
    y = torch.randn(6, 7, dtype=torch.float64)
    with pytest.warns(RuntimeWarning, match="torch.compile failed"):
        first = out.loss(y, out.domain_map(*raw), loc=loc, scale=scale)
    assert _compiled._STATE["disabled"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = out.loss(y, out.domain_map(*raw), loc=loc, scale=scale)
    expected = e.loss(y, e.domain_map(*raw), loc=loc, scale=scale)
    torch.testing.assert_close(first, expected, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(again, expected, rtol=1e-9, atol=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("est_name", ["sff", "deepar"])
def test_gluonts_estimators_train_and_predict_with_compile(est_name, tmp_path):
    """Drop-in with ``IQFOutput(compile=True)``: GluonTS's SimpleFeedForward
    (distribution forecasts) and DeepAR (``loc=None``, autoregressive
    sampling) train on the embedded M4 hourly data with the same seeded
    losses as the eager head (relative 1e-3 over 4 steps: the paths round
    differently), predict, and their predictors round-trip through
    serialization to identical forecasts."""
    from pathlib import Path

    import lightning.pytorch as pl
    import numpy as np
    from gluonts.evaluation import make_evaluation_predictions
    from gluonts.model import Predictor

    from distribution_helpers import FiniteTraining, make_estimator

    from gluonts_iqf import datasets
    from gluonts_iqf.metrics import crossing_rate

    ds = datasets.load("m4_hourly")
    train, test = list(ds.train)[:20], list(ds.test)[:6]
    losses = {}
    for compile in (True, False):
        check = FiniteTraining()
        pl.seed_everything(0)  # torch and numpy (GluonTS's instance sampler)
        est = make_estimator(est_name, IQFOutput(knot_levels=LEVELS, compile=compile),
                             tmp_path / str(compile), [check], batches=4)
        predictor = est.train(train)
        losses[compile] = check.losses
        if compile:
            compiled = predictor
    np.testing.assert_allclose(losses[True], losses[False], rtol=1e-3)
    (tmp_path / "pred").mkdir()
    compiled.serialize(Path(tmp_path / "pred"))
    loaded = Predictor.deserialize(Path(tmp_path / "pred"))
    assert loaded.prediction_net.model.distr_output.compile  # the setting survives serde
    out = []
    for p in (compiled, loaded):
        torch.manual_seed(3)
        fc, _ = make_evaluation_predictions(test, p, num_samples=50)
        out.append(list(fc))
    for a, b in zip(*out):
        np.testing.assert_array_equal(a.quantile(0.9), b.quantile(0.9))
        assert np.isfinite(a.quantile(0.5)).all()
    assert crossing_rate(out[0]) == 0.0


@pytest.mark.slow
def test_variant_limit_runs_new_variants_eagerly(monkeypatch):
    """When a kernel has used up its compiled variants, a new variant (here:
    new knot levels) runs eagerly with one warning and the same results;
    compilation stays enabled for the variants already compiled."""
    import torch._dynamo

    monkeypatch.setattr(_compiled, "RECOMPILE_LIMIT", 1)
    monkeypatch.setattr(torch._dynamo.config, "recompile_limit", 1)
    monkeypatch.setitem(_compiled._STATE, "limit_warned", False)
    levels = [0.07, 0.3, 0.61, 0.93]  # not used by any other test: a new variant
    out = IQFOutput(knot_levels=levels, compile=True)
    eager = IQFOutput(knot_levels=levels)
    gen = torch.Generator().manual_seed(11)
    raw = [torch.randn(3, 4, d, generator=gen, dtype=torch.float64) for d in out.args_dim.values()]
    u = torch.rand(5, 3, 4, generator=gen, dtype=torch.float64)
    expected = eager.distribution(eager.domain_map(*raw)).icdf(u)
    with pytest.warns(RuntimeWarning, match="limit of compiled variants"):
        got = out.distribution(out.domain_map(*raw)).icdf(u)
    torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-9)
    assert not _compiled._STATE["disabled"]
