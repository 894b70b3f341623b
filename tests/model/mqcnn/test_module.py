"""MQCNNModel: shapes for every input combination, forking-sequence loss vs
one creation time at a time, causality, and the prediction path."""

import itertools

import math

import pytest
import torch

from gluonts.torch.distributions import StudentTOutput

from gluonts_iqf import IQF, IQFOutput
from gluonts_iqf.model.mqcnn.module import INIT_IQF_SLOPE, MQCNNModel
from gluonts_iqf.nn.smoothing import smoothing_features
from gluonts_iqf.nn.static import static_features
from gluonts_iqf.nn.scaler import MIN_CHANGE_RATIO, causal_mean_abs_change, causal_mean_abs_scale, spread_scale

from mqcnn_helpers import B, C, H, make_batch, make_model, prediction_inputs


COMBOS = list(itertools.product([1, 3], [0, 2], [0, 2], [(), (4, 7)]))


@pytest.mark.parametrize("n_known, n_past, n_static_real, cardinality", COMBOS)
def test_shapes_for_every_input_combination(n_known, n_past, n_static_real, cardinality):
    torch.manual_seed(0)
    m = make_model(n_known, n_past, n_static_real, cardinality)
    batch = make_batch(n_known, n_past, n_static_real, cardinality)
    args, loc, scale = m(**prediction_inputs(batch))
    assert args[0].shape == (B, H, 3) and args[1].shape == (B, H)
    assert args[3].shape == (B, H, 2, 2)
    assert loc.shape == scale.shape == (B, 1)
    fargs, floc, fscale, count, level = m.forking_outputs(**prediction_inputs(batch))
    assert fargs[0].shape == (B, C, H, 3) and fscale.shape == level.shape == (B, C, 1)
    assert count.shape == (B, C) and count.dtype == torch.bool
    assert floc is None
    loss = m.loss(**batch)
    assert loss.shape == (B,) and torch.isfinite(loss).all()
    loss.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in m.parameters() if p.grad is not None)


@pytest.mark.parametrize("num_forking", [C, 7, 1])
@pytest.mark.parametrize("lags", [
    dict(), dict(season_length=4, num_seasonal_lags=2, seasonal_loc=True),
    dict(season_length=1, num_seasonal_lags=3, seasonal_loc=True, seasonal_loc_per_step=True),
    dict(season_length=4, num_seasonal_lags=2, num_recent_lags=2, seasonal_loc=True),
    dict(season_length=3, num_seasonal_lags=1, num_recent_lags=1, seasonal_loc=True, seasonal_loc_per_step=True),
    dict(season_length=4, num_seasonal_lags=2, num_recent_lags=1, seasonal_loc=True, smoothing_features=True),
    dict(season_length=1, num_seasonal_lags=3, seasonal_loc=True, seasonal_loc_per_step=True, smoothing_features=True),
    dict(season_length=4, num_seasonal_lags=2, seasonal_loc=True, spread_exponent=0.7),
    dict(spread_exponent=0.3, learn_spread_exponent=True),
    dict(season_length=4, num_seasonal_lags=2, seasonal_loc=True, attention_heads=2, attention_dim=3),
])
def test_forking_loss_equals_one_creation_time_at_a_time(num_forking, lags):
    """The vectorised forking loss equals an explicit loop that, for each
    creation time t, decodes from the encoding at t - 1 with the
    covariates, targets and mask of positions t .. t + H - 1 (and, with
    attention, the attention block called for that creation time alone)."""
    torch.manual_seed(0)
    m = make_model(n_known=2, n_past=1, n_static_real=1, cardinality=(3,), num_forking=num_forking, history_window=6, **lags).double()
    if m.lag_loc is not None:  # move off the seasonal-naive start
        torch.nn.init.normal_(m.lag_loc.weight)
    if m.attention is not None:  # off the zero start of its output
        torch.nn.init.normal_(m.attention.out.weight)
    batch = make_batch(2, 1, 1, (3,), dtype=torch.float64)
    got = m.loss(**batch)

    static = static_features(m.embedder, batch["feat_static_cat"], batch["feat_static_real"], m.num_feat_static_real)
    enc, scale, count = m.encode(
        batch["past_target"], batch["past_observed_values"], batch["feat_dynamic_real"],
        batch["past_feat_dynamic_real"], static,
    )
    full_y = torch.cat([batch["past_target"], batch["future_target"]], 1)
    full_o = torch.cat([batch["past_observed_values"], batch["future_observed_values"]], 1)
    num = torch.zeros(B, dtype=torch.float64)
    den = torch.zeros(B, dtype=torch.float64)
    a = float(m.spread_exponent.detach())
    y_obs = batch["past_target"] * batch["past_observed_values"]
    for t in range(C - num_forking + 1, C + 1):
        s = scale[:, t - 1 : t]  # (B, 1)
        # the distribution's scale: level ** (1 - a) * (mean |one-step change|
        # over pairs observed at both ends, positions < t) ** a
        sp = torch.empty(B, 1, dtype=torch.float64)
        for b in range(B):
            ch = [abs(float(y_obs[b, q] - y_obs[b, q - 1])) for q in range(1, t)
                  if batch["past_observed_values"][b, q] and batch["past_observed_values"][b, q - 1]]
            ratio = sum(ch) / len(ch) / float(s[b, 0]) if ch else 1.0
            sp[b, 0] = float(s[b, 0]) * max(ratio, MIN_CHANGE_RATIO) ** a
        W = m.history_window
        past_y = torch.cat([torch.zeros(B, W, dtype=torch.float64), batch["past_target"] * batch["past_observed_values"]], 1)
        past_o = torch.cat([torch.zeros(B, W, dtype=torch.float64), batch["past_observed_values"]], 1)
        hist = torch.cat([past_y[:, t : t + W] / s, past_o[:, t : t + W]], -1).unsqueeze(1)  # positions t-W .. t-1
        # seasonal lags of step h: positions t + h - m (h // m + 1 + j), zero/unobserved before 0
        J, m_ = m.num_seasonal_lags, m.season_length
        lag_y = torch.zeros(B, H, J, dtype=torch.float64)
        lag_o = torch.zeros(B, H, J, dtype=torch.float64)
        for h in range(H):
            for j in range(J):
                pos = t + h - m_ * (h // m_ + 1 + j)
                assert pos < t
                if pos >= 0:
                    lag_y[:, h, j] = past_y[:, W + pos] / s[:, 0]
                    lag_o[:, h, j] = past_o[:, W + pos]
        # recent lags (every step alike): positions t - r and t - r - m, r = 1 .. R
        R = m.num_recent_lags if J and m_ > 1 else 0
        rec_y = torch.zeros(B, H, 2 * R, dtype=torch.float64)
        rec_o = torch.zeros(B, H, 2 * R, dtype=torch.float64)
        for r in range(R):
            for k, pos in enumerate((t - 1 - r, t - 1 - r - m_)):
                if pos >= 0:
                    rec_y[:, :, 2 * r + k] = (past_y[:, W + pos] / s[:, 0]).unsqueeze(-1)
                    rec_o[:, :, 2 * r + k] = past_o[:, W + pos].unsqueeze(-1)
        lag_y, lag_o = torch.cat([lag_y, rec_y], -1), torch.cat([lag_o, rec_o], -1)
        if m.use_smoothing:  # the smoothing features (tested against formulas in tests/nn) of creation time t
            feats = smoothing_features(y_obs, batch["past_observed_values"], s.unsqueeze(-1), t - 1,
                                       m_, m.slope_length)[:, 0]  # (B, 2K)
            K = feats.shape[-1] // 2
            lag_y = torch.cat([lag_y, feats[:, None, :K].expand(-1, H, -1)], -1)
            lag_o = torch.cat([lag_o, feats[:, None, K:].expand(-1, H, -1)], -1)
        lag_in = torch.cat([lag_y, lag_o], -1).unsqueeze(1) if J else None
        cov = batch["feat_dynamic_real"][:, t : t + H].unsqueeze(1)
        context = None
        if m.attention is not None:  # the attention of the window cut at t: over the encodings of positions <= t - 1
            context = m.attention(enc[:, :t], batch["feat_dynamic_real"][:, :t], batch["past_observed_values"][:, :t],
                                  cov, t - 1)
        args, base = m.decode(
            enc[:, t - 1 : t], static, torch.log(s).unsqueeze(-1), cov, hist, lag_in, context,
        )
        args = tuple(a.squeeze(1) for a in args)
        loc = None if base is None else base.squeeze(1) * s
        values = m.distr_output.loss(full_y[:, t : t + H], args, loc=loc, scale=sp) / s  # scaled units
        w = full_o[:, t : t + H] * count[:, t - 1 : t]
        num += (values * w).sum(-1)
        den += w.sum(-1)
    torch.testing.assert_close(got, num / den.clamp_min(1.0), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("smoothing, attention", [(False, 0), (True, 0), (False, 2)])
def test_no_creation_time_sees_its_targets(smoothing, attention):
    """d(parameters of creation time t) / d(target at positions >= t) == 0,
    and != 0 for earlier positions (autograd, float64), with and without the
    smoothing features and the decoder-encoder attention."""
    torch.manual_seed(0)
    m = make_model(n_known=1, history_window=8, season_length=3, num_seasonal_lags=2, num_recent_lags=2,
                   seasonal_loc=True, spread_exponent=0.5, smoothing_features=smoothing,
                   attention_heads=attention).double()
    torch.nn.init.normal_(m.lag_loc.weight)  # the recent lags' weights start at 0
    if attention:
        torch.nn.init.normal_(m.attention.out.weight)
    batch = make_batch(1, dtype=torch.float64)
    batch["past_observed_values"] = torch.ones(B, C, dtype=torch.float64)
    past = batch["past_target"].clone().requires_grad_(True)
    inputs = {**prediction_inputs(batch), "past_target": past}
    args, floc, fscale, _, _ = m.forking_outputs(**inputs)
    for f, t in [(0, 1), (5, 6), (C - 1, C)]:
        out = args[0][:, f].sum() + fscale[:, f].sum() + floc[:, f].sum()
        (grad,) = torch.autograd.grad(out, past, retain_graph=True)
        assert (grad[:, t:] == 0).all(), f"creation time {t} sees later targets"
        assert (grad[:, :t].abs().sum(-1) > 0).all()


@pytest.mark.parametrize("attention", [0, 2])
def test_last_creation_time_is_the_prediction_path(attention):
    torch.manual_seed(0)
    m = make_model(n_known=2, n_past=2, history_window=5, spread_exponent=0.5, learn_spread_exponent=True,
                   attention_heads=attention)
    if attention:
        torch.nn.init.normal_(m.attention.out.weight)
    batch = make_batch(2, 2)
    args, loc, scale = m(**prediction_inputs(batch))
    fargs, floc, fscale, _, _ = m.forking_outputs(**prediction_inputs(batch))
    for a, fa in zip(args, fargs):
        torch.testing.assert_close(a, fa[:, -1])
    torch.testing.assert_close(scale, fscale[:, -1])
    assert (loc == 0).all() and floc is None
    # with a seasonal location: the prediction's loc is the last fork's
    m = make_model(n_known=2, history_window=5, season_length=4, num_seasonal_lags=2, num_recent_lags=2,
                   seasonal_loc=True)
    torch.nn.init.normal_(m.lag_loc.weight)
    batch = make_batch(2)
    args, loc, scale = m(**prediction_inputs(batch))
    fargs, floc, fscale, _, _ = m.forking_outputs(**prediction_inputs(batch))
    assert loc.shape == (B, H)
    torch.testing.assert_close(loc, floc[:, -1])
    for a, fa in zip(args, fargs):
        torch.testing.assert_close(a, fa[:, -1])


@pytest.mark.parametrize("spread", [dict(), dict(spread_exponent=0.5, learn_spread_exponent=True)])
def test_any_gluonts_distribution_output(spread):
    """A GluonTS output (Student-t) trains and predicts, with the level scale
    or the spread scale as its scale."""
    torch.manual_seed(0)
    m = make_model(distr_output=StudentTOutput(), **spread)
    batch = make_batch()
    args, _, scale = m(**prediction_inputs(batch))
    assert args[0].shape == (B, H) and scale.shape == (B, 1) and (scale > 0).all()
    loss = m.loss(**batch)
    assert torch.isfinite(loss).all()
    loss.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in m.parameters() if p.grad is not None)


def test_loss_units():
    """'data' units = 'scaled' units times each creation time's scale."""
    torch.manual_seed(0)
    batch = make_batch(dtype=torch.float64)
    batch["past_observed_values"] = torch.ones(B, C, dtype=torch.float64)
    batch["future_observed_values"] = torch.ones(B, H, dtype=torch.float64)
    m_scaled = make_model(num_forking=1).double()
    m_data = make_model(num_forking=1, loss_units="data").double()
    m_data.load_state_dict(m_scaled.state_dict())
    _, _, _, _, fscale = m_scaled.forking_outputs(**prediction_inputs(batch))
    torch.testing.assert_close(m_data.loss(**batch), m_scaled.loss(**batch) * fscale[:, 0, 0])
    # 'volume' = 'data' divided by the batch's mean scale (a constant)
    m_volume = make_model(num_forking=1, loss_units="volume").double()
    m_volume.load_state_dict(m_scaled.state_dict())
    torch.testing.assert_close(m_volume.loss(**batch), m_data.loss(**batch) / fscale[:, 0, 0].mean())
    # the constant carries no gradient: d loss / d params = d data-loss / d params / mean scale
    g_volume = torch.autograd.grad(m_volume.loss(**batch).sum(), list(m_volume.parameters()), allow_unused=True)
    g_data = torch.autograd.grad(m_data.loss(**batch).sum(), list(m_data.parameters()), allow_unused=True)
    for gv, gd in zip(g_volume, g_data):
        if gd is not None:
            torch.testing.assert_close(gv, gd / fscale[:, 0, 0].mean())
    with pytest.raises(ValueError, match="loss_units"):
        make_model(loss_units="original")


@pytest.mark.parametrize("season", [1, 3])
def test_mase_loss_units(season):
    """'mase' units = 'data' units divided by the mean |y[s] - y[s - m]| of
    the creation time's past (observed pairs only; an explicit loop here),
    m = season_length; a series that never changed falls back to the floor
    MIN_CHANGE_RATIO x its level."""
    torch.manual_seed(0)
    batch = make_batch(dtype=torch.float64)
    batch["past_target"][2] = 7.0  # constant: no change at all
    m_data = make_model(num_forking=3, loss_units="data", season_length=season).double()
    m_mase = make_model(num_forking=3, loss_units="mase", season_length=season).double()
    m_mase.load_state_dict(m_data.state_dict())
    y, o = batch["past_target"] * batch["past_observed_values"], batch["past_observed_values"]
    want = torch.empty(B, 3, dtype=torch.float64)
    _, _, _, informative, level = m_data.forking_outputs(**prediction_inputs(batch))
    for b in range(B):
        for f, t in enumerate(range(C - 3 + 1, C + 1)):  # creation time t sees positions < t
            diffs = [abs(float(y[b, s] - y[b, s - season])) for s in range(season, t) if o[b, s] and o[b, s - season]]
            lv = float(level[b, f, 0])
            want[b, f] = max(sum(diffs) / len(diffs), MIN_CHANGE_RATIO * lv) if diffs else lv
    got = m_mase.seasonal_error_scale(batch["past_target"], o, level)[..., 0]
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(got[2], MIN_CHANGE_RATIO * level[2, :, 0], rtol=1e-12, atol=0)
    # the loss: data-unit values / that scale, averaged with the same weights
    target, weights = m_data.forking_targets(batch["past_target"], o, batch["future_target"],
                                             batch["future_observed_values"], informative)
    args, loc, spread, _, _ = m_data.forking_outputs(**prediction_inputs(batch))
    values = m_data.distr_output.loss(target=target, distr_args=args, loc=loc, scale=spread) / want.unsqueeze(-1)
    expected = (values * weights).flatten(1).sum(1) / weights.flatten(1).sum(1)
    torch.testing.assert_close(m_mase.loss(**batch), expected)


def test_spread_exponent_parameter():
    """Learned: a parameter that gets a finite gradient from the loss and is
    clamped to [0, 1]; fixed: no parameter; 0 fixed: the level scale."""
    batch = make_batch(dtype=torch.float64)
    torch.manual_seed(0)
    m = make_model(spread_exponent=0.5, learn_spread_exponent=True).double()
    assert any(p is m.spread_exponent for p in m.parameters())
    m.loss(**batch).sum().backward()
    assert torch.isfinite(m.spread_exponent.grad) and m.spread_exponent.grad != 0
    with torch.no_grad():
        m.spread_exponent.fill_(1.7)  # an optimiser step past the range: used as 1
    _, _, sp, _, level = m.forking_outputs(**prediction_inputs(batch))
    y = batch["past_target"] * batch["past_observed_values"]
    change, has = causal_mean_abs_change(y, batch["past_observed_values"])
    full_level, _ = causal_mean_abs_scale(y, batch["past_observed_values"])
    torch.testing.assert_close(sp[..., 0], spread_scale(full_level, change, has, torch.tensor(1.0, dtype=torch.float64)))
    fixed = make_model(spread_exponent=0.5)
    assert not any(n == "spread_exponent" for n, _ in fixed.named_parameters())
    torch.manual_seed(0)
    plain = make_model().double()
    _, _, sp0, _, level0 = plain.forking_outputs(**prediction_inputs(batch))
    assert torch.equal(sp0, level0)
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match="spread_exponent"):
            make_model(spread_exponent=bad)


def test_invalid_settings():
    with pytest.raises(ValueError, match="num_forking"):
        make_model(num_forking=C + 1)
    with pytest.raises(ValueError, match="same length"):
        MQCNNModel(H, C, C, IQFOutput(), channels_seq=(8, 8), dilation_seq=(1,), kernel_size_seq=(3, 3))
    with pytest.raises(ValueError, match="attention_heads"):
        make_model(attention_heads=-1)
    with pytest.raises(ValueError, match="attention_dim"):
        make_model(attention_heads=1, attention_dim=0)


def test_model_lag_offsets_append_the_recent_lags():
    """The model's lag offsets are each step's seasonal lags followed by the
    recent ones; without seasonal lags there are no recent ones either; a
    bad season fails at construction."""
    m = make_model(season_length=4, num_seasonal_lags=2, num_recent_lags=1)
    assert m.lag_offsets.tolist() == [[4, 8, 1, 5], [3, 7, 1, 5], [2, 6, 1, 5], [1, 5, 1, 5], [4, 8, 1, 5]]
    assert make_model(season_length=4, num_seasonal_lags=0, num_recent_lags=2).lag_offsets.shape == (H, 0)
    with pytest.raises(ValueError, match="season_length"):
        make_model(season_length=0, num_seasonal_lags=1)


def test_recent_lags_give_the_level_corrected_seasonal_naive():
    """With weights (1 on the step's last seasonal lag, +1 on y[t-1], -1 on
    y[t-1-m]) the seasonal location is exactly y[t+h-m'] + y[t-1] - y[t-1-m]
    (m' the step's seasonal offset), the seasonal-naive forecast moved by the
    latest change over a season, at every creation time."""
    torch.manual_seed(0)
    m_ = 4
    m = make_model(n_known=1, season_length=m_, num_seasonal_lags=2, num_recent_lags=1,
                   seasonal_loc=True).double()
    with torch.no_grad():
        m.lag_loc.weight.zero_()
        m.lag_loc.weight[0, [0, 2, 3]] = torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64)
    batch = make_batch(1, dtype=torch.float64)
    batch["past_observed_values"] = torch.ones(B, C, dtype=torch.float64)
    _, floc, _, _, _ = m.forking_outputs(**prediction_inputs(batch))
    y = batch["past_target"]
    for f, t in enumerate(range(1, C + 1)):
        for h in range(H):
            parts = [t + h - m_ * (h // m_ + 1), t - 1, t - 1 - m_]
            v = [y[:, p] if p >= 0 else torch.zeros(B, dtype=torch.float64) for p in parts]
            torch.testing.assert_close(floc[:, f, h], v[0] + v[1] - v[2], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("per_step", [False, True])
@pytest.mark.parametrize("num_recent", [0, 1])
def test_seasonal_loc_starts_as_seasonal_naive(per_step, num_recent):
    """A fresh model with ``seasonal_loc`` and its IQF head's weights zeroed
    (its initial biases kept) has median = the seasonal-naive forecast: the
    head starts centred at 0 and the location at the last same-phase value
    (one map shared by the steps, or one per step: StepwiseLinear)."""
    torch.manual_seed(0)
    m = make_model(n_known=1, season_length=4, num_seasonal_lags=2, num_recent_lags=num_recent,
                   seasonal_loc=True, seasonal_loc_per_step=per_step,
                   distr_output=IQFOutput(knot_levels=[0.1, 0.5, 0.9])).double()
    J = 2 + 2 * num_recent
    assert m.lag_loc.weight.shape == ((H, 2 * J) if per_step else (1, 2 * J))
    with torch.no_grad():
        for proj in m.args_proj.proj:
            proj.weight.zero_()
    batch = make_batch(1, dtype=torch.float64)
    batch["past_observed_values"] = torch.ones(B, C, dtype=torch.float64)
    args, loc, scale = m(**prediction_inputs(batch))
    distr = m.distr_output.distribution(args, loc=loc, scale=scale)
    y = batch["past_target"]
    naive = torch.stack([y[:, C - 4 + (h % 4)] for h in range(H)], 1)
    torch.testing.assert_close(distr.icdf(torch.tensor(0.5, dtype=torch.float64)), naive)
    # the initial 0.1-0.9 spread is INIT_IQF_SLOPE x 0.8 scaled units
    spread = distr.icdf(torch.tensor(0.9, dtype=torch.float64)) - distr.icdf(torch.tensor(0.1, dtype=torch.float64))
    torch.testing.assert_close(spread, INIT_IQF_SLOPE * 0.8 * scale.expand(-1, H))


@pytest.mark.parametrize("first", [0, 3, C - 7, C - 1])
def test_cropped_encoder_equals_the_full_window(first):
    """Encoding only positions first..C-1 (convolutions over the cropped
    window plus the receptive field) gives exactly the full-window values."""
    torch.manual_seed(0)
    m = make_model(n_known=2, n_past=1, n_static_real=1, cardinality=(3,)).double()
    batch = make_batch(2, 1, 1, (3,), dtype=torch.float64)
    static = static_features(m.embedder, batch["feat_static_cat"], batch["feat_static_real"], m.num_feat_static_real)
    args = (batch["past_target"], batch["past_observed_values"], batch["feat_dynamic_real"],
            batch["past_feat_dynamic_real"], static)
    full, scale, informative = m.encode(*args)
    crop, scale2, informative2 = m.encode(*args, first=first)
    assert crop.shape == (B, C - first, full.shape[-1])
    torch.testing.assert_close(crop, full[:, first:], rtol=0, atol=1e-13)
    assert torch.equal(scale, scale2) and torch.equal(informative, informative2)


def test_seasonal_spread_uses_the_change_over_a_season():
    """With seasonal_spread the spread scale's change statistic is the mean
    |y[s] - y[s - m]| (lag season_length), else the one-step change; a
    perfectly periodic series then gets the floored (narrow) spread."""
    torch.manual_seed(0)
    m_ = 4
    batch = make_batch(dtype=torch.float64)
    period = torch.tensor([5.0, 9.0, 2.0, 7.0], dtype=torch.float64)
    batch["past_target"][0] = period.repeat(C // m_)
    batch["past_observed_values"] = torch.ones(B, C, dtype=torch.float64)
    kw = dict(season_length=m_, num_seasonal_lags=1, spread_exponent=1.0)
    seasonal = make_model(seasonal_spread=True, **kw).double()
    onestep = make_model(seasonal_spread=False, **kw).double()
    y, o = batch["past_target"], batch["past_observed_values"]
    level, _ = causal_mean_abs_scale(y, o)
    for model, lag in ((seasonal, m_), (onestep, 1)):
        change, has = causal_mean_abs_change(y, o, lag)
        want = spread_scale(level, change, has, torch.tensor(1.0, dtype=torch.float64))
        torch.testing.assert_close(model.distribution_scale(y, o, level), want)
    narrow = seasonal.distribution_scale(y, o, level)[0, -1]
    torch.testing.assert_close(narrow, MIN_CHANGE_RATIO * level[0, -1])
    assert onestep.distribution_scale(y, o, level)[0, -1] > 10 * narrow


@pytest.mark.parametrize("wt, wd, wc, wn", [(0.3, 0.0, 0.0, 0.0), (0.2, 0.2, 0.0, 0.0), (1.0, 0.0, 0.0, 0.0),
                                            (0.0, 1.0, 0.0, 0.0), (0.1, 0.1, 0.2, 0.0), (0.0, 0.0, 1.0, 0.0),
                                            (0.1, 0.1, 0.1, 0.3), (0.0, 0.0, 0.0, 1.0)])
def test_statistical_weights_mix_the_quantile_functions(wt, wd, wc, wn):
    """float64, 1e-10: the forecast with ``theta_weight=wt, damped_weight=wd,
    ces_weight=wc, naive_weight=wn`` is, at every level (tails included),
    ``1 - wt - wd - wc - wn`` times the network's quantile plus ``wt`` /
    ``wd`` / ``wc`` / ``wn`` times the Gaussian-knot IQFs of the Theta,
    damped-trend, CES and seasonal naive forecasts of the same window."""
    from gluonts_iqf.distributions.gaussian import gaussian_plain_iqf
    from gluonts_iqf.nn.ces import ces_forecast
    from gluonts_iqf.nn.damped import damped_trend_forecast
    from gluonts_iqf.nn.naive import seasonal_naive_forecast
    from gluonts_iqf.nn.theta import theta_forecast

    torch.manual_seed(0)
    head = IQFOutput(knot_levels=[0.05, 0.25, 0.5, 0.75, 0.95])
    kw = dict(distr_output=head, season_length=4, num_seasonal_lags=2, seasonal_loc=True)
    plain = make_model(**kw).double()
    mixed = make_model(theta_weight=wt, damped_weight=wd, ces_weight=wc, naive_weight=wn, **kw).double()
    mixed.load_state_dict(plain.state_dict())
    inputs = prediction_inputs(make_batch(dtype=torch.float64))
    u = torch.tensor([0.01, 0.05, 0.3, 0.5, 0.8, 0.99], dtype=torch.float64).view(-1, 1, 1).expand(-1, B, H)
    want = (1 - wt - wd - wc - wn) * head.distribution(*plain(**inputs)).icdf(u)
    levels = torch.tensor(head.knot_levels, dtype=torch.float64)
    for w, forecast in ((wt, theta_forecast), (wd, damped_trend_forecast), (wc, ces_forecast),
                        (wn, seasonal_naive_forecast)):
        mean, std = forecast(inputs["past_target"], inputs["past_observed_values"], H, 4)
        want = want + w * IQF(levels, *gaussian_plain_iqf(mean, std, head.knot_levels)).icdf(u)
    got = head.distribution(*mixed(**inputs)).icdf(u)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
    loss = mixed.loss(**make_batch(dtype=torch.float64))  # training is the network's own loss
    torch.testing.assert_close(loss, plain.loss(**make_batch(dtype=torch.float64)))


def test_statistical_weight_checks():
    with pytest.raises(ValueError, match="theta_weight must be in"):
        make_model(distr_output=IQFOutput(), theta_weight=1.5)
    with pytest.raises(ValueError, match="damped_weight must be in"):
        make_model(distr_output=IQFOutput(), damped_weight=-0.1)
    with pytest.raises(ValueError, match="at most 1"):
        make_model(distr_output=IQFOutput(), theta_weight=0.6, damped_weight=0.5)
    with pytest.raises(ValueError, match="ces_weight must be in"):
        make_model(distr_output=IQFOutput(), ces_weight=1.1)
    with pytest.raises(ValueError, match="at most 1"):
        make_model(distr_output=IQFOutput(), theta_weight=0.5, ces_weight=0.6)
    with pytest.raises(ValueError, match="naive_weight must be in"):
        make_model(distr_output=IQFOutput(), naive_weight=-0.5)
    with pytest.raises(ValueError, match="at most 1"):
        make_model(distr_output=IQFOutput(), theta_weight=0.5, naive_weight=0.6)
    with pytest.raises(ValueError, match="plain IQF head"):
        make_model(naive_weight=0.3)
    with pytest.raises(ValueError, match="member_recent_cuts"):
        make_model(distr_output=IQFOutput(), member_recent_cuts=-1)
    with pytest.raises(ValueError, match="member_recent_power"):
        make_model(distr_output=IQFOutput(), member_recent_power=math.nan)
    with pytest.raises(ValueError, match="network_outlier_z"):
        make_model(distr_output=IQFOutput(), network_outlier_z=-0.5)
    with pytest.raises(ValueError, match="plain IQF head"):
        make_model(ces_weight=0.3)
    with pytest.raises(ValueError, match="plain IQF head"):
        make_model(theta_weight=0.3)  # the default test head has spline pieces
    with pytest.raises(ValueError, match="plain IQF head"):
        make_model(distr_output=StudentTOutput(), damped_weight=0.3)
