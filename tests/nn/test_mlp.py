"""The decoder MLP."""

import torch
from torch import nn

from gluonts_iqf.nn.mlp import mlp


def test_mlp_layers_and_output():
    """Hidden ReLU layers of the given sizes and an optional linear output;
    no hidden layers and no output is the identity."""
    net = mlp(5, [8, 6], 3)
    kinds = [type(m) for m in net]
    assert kinds == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear]
    assert [m.out_features for m in net if isinstance(m, nn.Linear)] == [8, 6, 3]
    x = torch.randn(4, 5)
    assert net(x).shape == (4, 3)
    assert (mlp(5, [7])(x) >= 0).all()  # ends in a ReLU without an output layer
    assert torch.equal(mlp(5, [])(x), x)
