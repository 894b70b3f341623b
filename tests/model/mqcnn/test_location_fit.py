"""fit_seasonal_location: the median-regression start of MQ-CNN's seasonal
location recovers an exact relation, uses the model's scale, and does
nothing without a location."""

import pytest
import torch

from gluonts_iqf import IQFOutput
from gluonts_iqf.model.mqcnn.location_fit import fit_seasonal_location
from gluonts_iqf.model.mqcnn.module import MQCNNModel
from mqcnn_helpers import B, make_batch, make_model


@pytest.mark.parametrize("per_step", [False, True])
def test_fit_seasonal_location_recovers_an_exact_relation(per_step):
    """Series with y[s] = 1.2 y[s - 4] exactly (season 4, H <= 4, so each
    step's first seasonal lag is y[s - 4]): after fit_seasonal_location (a
    negligible ridge) the seasonal location equals the targets at every
    creation time and step, shared or per step; with missing values the
    fit uses the observed ones only."""
    torch.manual_seed(0)
    H_, C_ = 3, 20
    m = MQCNNModel(H_, C_, 6, IQFOutput(knot_levels=[0.1, 0.5, 0.9]), season_length=4, num_seasonal_lags=2,
                   num_recent_lags=1, seasonal_loc=True, seasonal_loc_per_step=per_step,
                   channels_seq=(4,), dilation_seq=(1,), kernel_size_seq=(2,), decoder_mlp_dim_seq=(8,),
                   local_context_dim=4, agnostic_context_dim=4, local_mlp_dim_seq=(8,)).double()
    g = torch.Generator().manual_seed(1)
    batches = []
    for _ in range(3):
        y = torch.empty(B, C_ + H_, dtype=torch.float64)
        y[:, :4] = torch.rand(B, 4, generator=g, dtype=torch.float64) * 10 + 1
        for s_ in range(4, C_ + H_):
            y[:, s_] = 1.2 * y[:, s_ - 4]
        obs = (torch.rand(B, C_ + H_, generator=g) > 0.1).double()
        batches.append(dict(past_target=y[:, :C_] * obs[:, :C_], past_observed_values=obs[:, :C_],
                            future_target=y[:, C_:], future_observed_values=obs[:, C_:], full=y))
    fit_seasonal_location(m, batches, ridge=1e-10, iterations=50, residual_floor=1e-10)
    for b in batches:
        inputs = dict(feat_static_cat=torch.zeros(B, 1, dtype=torch.long), feat_static_real=torch.zeros(B, 1, dtype=torch.float64),
                      past_target=b["past_target"], past_observed_values=b["past_observed_values"],
                      feat_dynamic_real=torch.zeros(B, C_ + H_, 0, dtype=torch.float64))
        out = m.forking_outputs(**inputs)
        want = b["full"][:, C_ - 6 + 1 :].unfold(1, H_, 1)  # targets of creation times C-5 .. C
        # creation times whose first seasonal lags were all observed
        o = torch.cat([b["past_observed_values"], torch.ones(B, H_, dtype=torch.float64)], 1)
        t = torch.arange(C_ - 6 + 1, C_ + 1).view(-1, 1) + torch.arange(H_).view(1, -1) - 4  # (F, H) lag positions
        ok = (o[:, t] > 0) & out.informative.unsqueeze(-1)
        torch.testing.assert_close(out.loc[ok], want[ok], rtol=1e-6, atol=1e-6)


def test_fit_seasonal_location_uses_the_model_scale():
    """Without ``scaling`` the model's scale is 1, and the fit works in the
    same units: an additive relation y[s] = y[s - 4] + 5 (a bias in data
    units, which no single scaled bias could express across series of
    different sizes) is recovered exactly."""
    torch.manual_seed(0)
    H_, C_ = 3, 20
    m = MQCNNModel(H_, C_, 6, IQFOutput(knot_levels=[0.1, 0.5, 0.9]), season_length=4, num_seasonal_lags=1,
                   seasonal_loc=True, scaling=False,
                   channels_seq=(4,), dilation_seq=(1,), kernel_size_seq=(2,), decoder_mlp_dim_seq=(8,),
                   local_context_dim=4, agnostic_context_dim=4, local_mlp_dim_seq=(8,)).double()
    g = torch.Generator().manual_seed(2)
    y = torch.empty(B, C_ + H_, dtype=torch.float64)
    y[:, :4] = torch.rand(B, 4, generator=g, dtype=torch.float64) * torch.tensor([[1.0], [10.0], [100.0]], dtype=torch.float64)
    for s_ in range(4, C_ + H_):
        y[:, s_] = y[:, s_ - 4] + 5.0
    ones = torch.ones(B, C_ + H_, dtype=torch.float64)
    batch = dict(past_target=y[:, :C_], past_observed_values=ones[:, :C_], future_target=y[:, C_:],
                 future_observed_values=ones[:, C_:])
    # all observed: the flag features equal the intercept, a tiny ridge resolves that
    fit_seasonal_location(m, [batch], ridge=1e-4, iterations=50, residual_floor=1e-6)
    out = m.forking_outputs(
        feat_static_cat=torch.zeros(B, 1, dtype=torch.long), feat_static_real=torch.zeros(B, 1, dtype=torch.float64),
        past_target=y[:, :C_], past_observed_values=ones[:, :C_],
        feat_dynamic_real=torch.zeros(B, C_ + H_, 0, dtype=torch.float64),
    )
    want = y[:, C_ - 6 + 1 :].unfold(1, H_, 1)
    torch.testing.assert_close(out.loc[:, 2:], want[:, 2:], rtol=1e-5, atol=1e-5)  # creation times with y[s - 4] in the window


def test_fit_seasonal_location_is_a_noop_without_a_location():
    m = make_model()
    assert m.lag_loc is None
    fit_seasonal_location(m, [make_batch()])  # nothing to fit, no error
