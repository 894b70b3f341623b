"""What a module needs to stay consistent under data-parallel training
(Lightning DDP): the ranks agree on anything initialised from data, and each
rank draws its own random stream."""

import random

import numpy as np
import torch
from torch import nn


def distributed() -> bool:
    """Whether a torch.distributed process group with several ranks runs."""
    return torch.distributed.is_available() and torch.distributed.is_initialized() and (
        torch.distributed.get_world_size() > 1
    )


def broadcast_module(module: nn.Module, src: int = 0) -> None:
    """Copy ``module``'s parameters and buffers from rank ``src`` to every
    rank (in place): after a data-dependent initialisation each rank computed
    from its own batch, all ranks hold rank ``src``'s values. A no-op
    outside a process group."""
    if not distributed():
        return
    with torch.no_grad():
        for t in list(module.parameters()) + list(module.buffers()):
            torch.distributed.broadcast(t.data, src=src)


def seed_rank_streams(rank: int) -> int:
    """Reseed numpy's, Python's and torch's global generators with a seed
    drawn from numpy's current state plus ``rank``: ranks started from the
    same seed (``lightning.seed_everything``) then draw distinct training
    windows and noise, and a run is reproducible from that seed. Returns
    the new seed."""
    seed = int(np.random.randint(0, 2**31 - 1 - 1024)) + int(rank)
    np.random.seed(seed)
    random.seed(seed)
    torch.manual_seed(seed)
    return seed
