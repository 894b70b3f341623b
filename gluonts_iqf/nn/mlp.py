"""The dense ReLU network used by the forking models' decoders."""

from typing import List, Optional, Sequence

from torch import nn


def mlp(in_dim: int, hidden: Sequence[int], out_dim: Optional[int] = None) -> nn.Sequential:
    """Dense ReLU layers ``hidden`` and an optional linear output layer."""
    layers: List[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(in_dim, h), nn.ReLU()]
        in_dim = h
    if out_dim is not None:
        layers.append(nn.Linear(in_dim, out_dim))
    return nn.Sequential(*layers)
