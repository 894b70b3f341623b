"""IQF on every available device (CUDA where present): the same numbers as
on CPU, gradients on the device, and device moves of an estimator's output."""

import pytest
import torch

from gluonts_iqf import IQFOutput

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("pieces", [1, 4])
def test_device_matches_cpu(device, dtype, pieces):
    out = IQFOutput(knot_levels=[0.05, 0.25, 0.5, 0.75, 0.95], num_pieces=pieces)
    g = torch.Generator().manual_seed(0)
    raw = [torch.randn(8, 12, d, generator=g, dtype=torch.float64).to(dtype) for d in out.args_dim.values()]
    scale = torch.rand(8, 1, generator=g, dtype=torch.float64).to(dtype) * 10 + 1
    y = (torch.randn(8, 12, generator=g, dtype=torch.float64) * 5).to(dtype)
    u = torch.rand(3, 8, 12, generator=g, dtype=torch.float64).to(dtype)

    def run(dev):
        r = [t.to(dev).requires_grad_(True) for t in raw]
        d = out.distribution(out.domain_map(*r), scale=scale.to(dev))
        loss = out.loss(y.to(dev), out.domain_map(*r), scale=scale.to(dev)).mean()
        loss.backward()
        vals = [d.icdf(u.to(dev)), d.cdf(y.to(dev)), d.log_prob(y.to(dev)), d.crps(y.to(dev)), d.mean, d.variance]
        assert all(v.device.type == torch.device(dev).type for v in vals)
        assert d.sample((4,)).device.type == torch.device(dev).type
        return [v.detach().cpu() for v in vals] + [t.grad.cpu() for t in r]

    tol = dict(rtol=1e-4, atol=1e-4) if dtype == torch.float32 else dict(rtol=1e-10, atol=1e-10)
    for a, b in zip(run(device), run("cpu")):
        torch.testing.assert_close(a, b, **tol)
