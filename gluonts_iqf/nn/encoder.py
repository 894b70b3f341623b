"""Dilated causal 1-D convolutions (MQ-CNN's encoder), evaluated only where
they are needed.

At a forking step the decoder reads the encoding at a few creation times
(the last ``num_forking`` positions in training, the last one at
prediction); :meth:`CausalConvEncoder.positions` crops the window to their
receptive field and, when few positions are kept, evaluates each layer only
at the rows those outputs depend on (a sparse plan, cached per shape).
"""

from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

#: :meth:`CausalConvEncoder.positions` evaluates only the rows the kept
#: outputs depend on when they are at most this fraction of the full
#: convolutions' rows (summed over layers); above it the dense convolutions,
#: one optimised kernel per layer, are faster than gathering the taps.
SPARSE_MAX_ROW_FRACTION = 0.5


class CausalConvEncoder(nn.Module):
    """Dilated causal convolutions with ReLU.

    Input (B, T, C_in) -> output (B, T, channels[-1]); position ``s`` of the
    output depends on input positions ``<= s`` only.

    Parameters
    ----------
    in_channels
        Input features per position.
    channels, dilations, kernel_sizes
        One entry per layer (MQ-CNN's defaults: 30, 30, 30 / 1, 3, 9 / 7, 3, 3).
    """

    def __init__(
        self,
        in_channels: int,
        channels: Sequence[int],
        dilations: Sequence[int],
        kernel_sizes: Sequence[int],
    ) -> None:
        super().__init__()
        if not (len(channels) == len(dilations) == len(kernel_sizes)):
            raise ValueError(
                "channels_seq, dilation_seq and kernel_size_seq must have the "
                f"same length, got {len(channels)}, {len(dilations)}, "
                f"{len(kernel_sizes)}"
            )
        layers = []
        c_in = in_channels
        for c, d, k in zip(channels, dilations, kernel_sizes):
            layers.append(nn.ConstantPad1d(((k - 1) * d, 0), 0.0))
            layers.append(nn.Conv1d(c_in, c, kernel_size=k, dilation=d))
            layers.append(nn.ReLU())
            c_in = c
        self.net = nn.Sequential(*layers)
        self.receptive_field = 1 + sum((k - 1) * d for d, k in zip(dilations, kernel_sizes))

        self._taps = [(d, k) for d, k in zip(dilations, kernel_sizes)]
        self._plans: Dict[Tuple[int, int, torch.device], Tuple[List[Tuple[Tensor, int]], int]] = {}

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.transpose(1, 2)).transpose(1, 2)

    def positions(self, x: Tensor, first: int) -> Tensor:
        """Encodings of positions ``first .. T - 1`` of x (B, T, C_in) ->
        (B, T - first, channels[-1]), equal (up to float rounding) to
        ``forward(x)[:, first:]``.

        The window is first cropped to positions from ``first -
        (receptive_field - 1)`` (every kept output sees the inputs it sees in
        the full window; the zero padding at the cropped start reaches
        earlier outputs only). When few positions are kept (the forking
        creation times of training, the last position of prediction), each
        layer is then evaluated only at the positions the kept outputs
        depend on (:meth:`_sparse`; with dilations 1, 3, 9 and 4 kept
        positions, 28 + 12 + 4 rows instead of 3 x 34); otherwise the full
        convolutions run over the cropped window.
        """
        T = x.shape[1]
        start = max(0, first - (self.receptive_field - 1))
        x = x[:, start:]
        plan = self._sparse_plan(T - start, first - start, x.device)
        if plan is None:
            return self(x)[:, first - start :]
        return self._sparse(x, plan)

    def _sparse_plan(self, T: int, first: int, device: torch.device) -> Optional[List[Tuple[Tensor, int]]]:
        """:meth:`_plan` for the outputs ``first .. T - 1`` when its rows (all
        layers together) are at most ``SPARSE_MAX_ROW_FRACTION`` of the full
        convolutions' ``num_layers x T`` rows, else None (use the full
        convolutions)."""
        plan, rows = self._plan(T, first, device)
        return plan if rows <= SPARSE_MAX_ROW_FRACTION * len(self._taps) * T else None

    def _plan(self, T: int, first: int, device: torch.device) -> Tuple[List[Tuple[Tensor, int]], int]:
        """Sparse evaluation plan for the outputs at positions ``first ..
        T - 1`` of a window of T positions: per layer, the input rows each
        needed output reads (an index tensor (P_l, k) into the previous
        layer's kept rows plus one zero row at index ``num_rows`` for
        positions before the window) and the number of kept input rows; and
        the number of output rows all layers evaluate. Cached per
        ``(T, first, device)``."""
        key = (T, first, device)
        cached = self._plans.get(key)
        if cached is not None:
            return cached
        needed = [list(range(first, T))]  # output positions per layer, last layer first
        for d, k in reversed(self._taps):
            nxt = sorted({p - j * d for p in needed[0] for j in range(k) if p - j * d >= 0})
            needed.insert(0, nxt)
        plan = []
        for l, (d, k) in enumerate(self._taps):
            rows = needed[l]  # kept rows of this layer's input (layer 0: all T positions)
            if l == 0:
                rows = list(range(T))
            where = {p: i for i, p in enumerate(rows)}
            zero = len(rows)
            idx = [[where.get(p - (k - 1 - j) * d, zero) for j in range(k)] for p in needed[l + 1]]
            plan.append((torch.tensor(idx, dtype=torch.long, device=device), len(rows)))
        self._plans[key] = (plan, sum(len(n) for n in needed[1:]))
        return self._plans[key]

    def _sparse(self, x: Tensor, plan: List[Tuple[Tensor, int]]) -> Tensor:
        """Evaluate the layers at the rows of ``plan`` (:meth:`_plan`):
        x (B, T, C_in) -> (B, P, channels[-1]), P = the plan's kept outputs.

        Each layer is one product of the gathered taps (B P_l, k C) with the
        flattened kernel (k C, C_out)."""
        B = x.shape[0]
        h = x
        convs = [m for m in self.net if isinstance(m, nn.Conv1d)]
        for (idx, n_rows), conv in zip(plan, convs):
            assert h.shape[1] == n_rows
            c_in = h.shape[-1]
            h = torch.cat([h, h.new_zeros(B, 1, c_in)], 1)  # row n_rows: the causal zero padding
            P, k = idx.shape
            taps = h[:, idx.reshape(-1)].reshape(B * P, k * c_in)
            W = conv.weight.permute(2, 1, 0).reshape(k * c_in, -1)  # (k C_in, C_out), tap-major
            out = taps @ W if conv.bias is None else torch.addmm(conv.bias, taps, W)
            h = torch.relu(out).reshape(B, P, -1)
        return h
