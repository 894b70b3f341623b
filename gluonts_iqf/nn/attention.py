"""Horizon-specific decoder-encoder attention (MQ-Transformer; Eisenach,
Patel & Madeka 2020, "MQTransformer: Multi-Horizon Forecasts with Context
Dependent and Feedback-Aware Attention").

At a forecast creation time, the forecast of horizon step ``h`` may need a
part of the past that the convolutions' receptive field and the fixed
seasonal lags do not single out: the same weekday before a holiday, the
last time the series was at this level. The query of step ``h`` is built
from the encoding at the creation time and the position features (the
known covariates: calendar, events) of the step's *target* time; the keys
from the encodings and position features of every observed past position,
the values from those encodings. So each step can look up the past
positions whose context matches its own target time's ("context
alignment"), with learned position encodings instead of fixed seasonal
offsets. The decoder self-attention of the paper (over earlier forecasts)
is not part of this block.
"""

import math

import torch
from torch import Tensor, nn


class HorizonAttention(nn.Module):
    """Multi-head attention of each (creation time, horizon step) over the
    observed positions up to the creation time.

    Query of creation time ``t`` (encoding at position ``t - 1``) and step
    ``h`` (target position ``t + h - 1``): ``W_q [enc_{t-1}; x_{t+h-1}] +
    u_h``; key of position ``s``: ``W_k [enc_s; x_s]``; value ``W_v
    enc_s``; ``x`` the position features, ``u_h`` a learned embedding of
    the step. Positions ``s > t - 1`` and unobserved positions are masked;
    a creation time with no observed position gets zeros. The heads'
    outputs are concatenated and projected by ``W_o``, which starts at zero,
    so a network with the block starts as the network without it.

    Parameters
    ----------
    enc_dim
        Size ``E`` of the encodings.
    position_dim
        Position features per time step ``P`` (may be 0).
    prediction_length
        Horizon ``H``.
    num_heads, head_dim
        Heads and the size of each head's queries, keys and values.
    """

    def __init__(self, enc_dim: int, position_dim: int, prediction_length: int, num_heads: int, head_dim: int) -> None:
        super().__init__()
        if num_heads < 1 or head_dim < 1:
            raise ValueError(f"num_heads and head_dim must be >= 1, got {num_heads}, {head_dim}")
        self.num_heads, self.head_dim = num_heads, head_dim
        inner = num_heads * head_dim
        self.query_enc = nn.Linear(enc_dim, inner)
        self.query_pos = nn.Linear(position_dim, inner, bias=False)
        self.step_embedding = nn.Parameter(torch.zeros(prediction_length, inner))
        self.key = nn.Linear(enc_dim + position_dim, inner)
        self.value = nn.Linear(enc_dim, inner)
        self.out = nn.Linear(inner, inner)
        nn.init.normal_(self.step_embedding, std=1.0 / math.sqrt(inner))
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.output_dim = inner

    def forward(self, enc: Tensor, positions: Tensor, observed: Tensor, targets: Tensor, first: int) -> Tensor:
        """Attention contexts of the creation times ``first + 1 .. C``.

        Parameters
        ----------
        enc : Tensor, shape (B, C, E)
            Encodings of every window position (causal: position ``s``
            depends on positions ``<= s`` only).
        positions : Tensor, shape (B, C, P)
            Position features of the window positions.
        observed : Tensor, shape (B, C)
            1 where the target at a position was observed.
        targets : Tensor, shape (B, F, H, P)
            Position features of each creation time's target positions
            (``F = C - first``; the known covariates of the horizon).
        first : int
            The creation times read the encodings at ``first .. C - 1``.

        Returns
        -------
        Tensor, shape (B, F, H, num_heads * head_dim)
        """
        B, C, _ = enc.shape
        F_, H = targets.shape[1], targets.shape[2]
        nh, d = self.num_heads, self.head_dim
        query = (
            self.query_enc(enc[:, first:]).unsqueeze(2) + self.query_pos(targets) + self.step_embedding[:H]
        ).view(B, F_, H, nh, d)
        key = self.key(torch.cat([enc, positions], -1)).view(B, C, nh, d)
        value = self.value(enc).view(B, C, nh, d)
        scores = torch.einsum("bfhnd,bsnd->bfhns", query, key) / math.sqrt(d)
        # position s is visible to the creation time reading encoding e when s <= e and s was observed
        e = torch.arange(first, C, device=enc.device).unsqueeze(-1)  # (F, 1)
        s = torch.arange(C, device=enc.device)
        visible = (s <= e).unsqueeze(0) & (observed > 0).unsqueeze(1)  # (B, F, C)
        visible = visible[:, :, None, None, :]  # (B, F, 1, 1, C)
        # the dtype's lowest value, not -inf: a creation time with no visible
        # position then has finite weights (zeroed below) and finite gradients
        scores = scores.masked_fill(~visible, torch.finfo(scores.dtype).min)
        weights = torch.softmax(scores, dim=-1) * visible.to(scores.dtype)
        context = torch.einsum("bfhns,bsnd->bfhnd", weights, value).reshape(B, F_, H, nh * d)
        return self.out(context)
