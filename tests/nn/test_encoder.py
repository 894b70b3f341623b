"""CausalConvEncoder: causality, and the cropped / sparse evaluation of a
few positions against the full convolutions."""

import pytest
import torch

from gluonts_iqf.nn.encoder import CausalConvEncoder


@pytest.mark.parametrize("channels, dilations, kernels, T", [
    ((30, 30, 30), (1, 3, 9), (7, 3, 3), 40),  # the defaults, window longer than the receptive field (31)
    ((30, 30, 30), (1, 3, 9), (7, 3, 3), 10),  # shorter: taps before the window read the zero padding
    ((5,), (2,), (4,), 9),
    ((8, 6), (1, 1), (1, 2), 1),
])
def test_encoder_last_position_equals_the_full_convolutions(channels, dilations, kernels, T):
    """The last position alone (``positions(x, T - 1)``: only the rows the
    last output depends on) equals the full convolutions' last position, in
    value (float64, tolerance 1e-13) and in parameter gradients (1e-12)."""
    torch.manual_seed(0)
    enc = CausalConvEncoder(6, channels, dilations, kernels).double()
    x = torch.randn(3, T, 6, dtype=torch.float64)
    full = enc(x)[:, -1:]
    last = enc.positions(x, T - 1)
    assert last.shape == (3, 1, channels[-1])
    torch.testing.assert_close(last, full, rtol=0, atol=1e-13)
    w = torch.randn_like(full)
    g_full = torch.autograd.grad((full * w).sum(), list(enc.parameters()))
    g_last = torch.autograd.grad((enc.positions(x, T - 1) * w).sum(), list(enc.parameters()))
    for a, b in zip(g_full, g_last):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("T, first, sparse", [
    (100, 96, True),  # the training default: 4 forking positions, 28 + 12 + 4 of 3 x 34 rows
    (100, 99, True),  # prediction: the last position
    (100, 40, False),  # many positions: the full convolutions of the cropped window
    (20, 18, True),  # window shorter than the receptive field (31): zero padding
    (20, 16, False),  # 19 + 8 + 4 = 31 rows > 0.5 x 3 x 20
    (40, 0, False),  # every position
])
def test_encoder_positions_equal_the_full_convolutions(T, first, sparse):
    """CausalConvEncoder.positions (cropped window, sparse rows when few
    positions are kept) equals the full convolutions' positions first ..
    T - 1 in value (float64, 1e-13) and in the gradients of the parameters
    and of the input (1e-12); the sparse plan is used exactly when the needed
    rows are at most SPARSE_MAX_ROW_FRACTION of the full rows."""
    torch.manual_seed(0)
    enc = CausalConvEncoder(6, (30, 30, 30), (1, 3, 9), (7, 3, 3)).double()
    x = torch.randn(3, T, 6, dtype=torch.float64, requires_grad=True)
    full = enc(x)[:, first:]
    got = enc.positions(x, first)
    assert got.shape == (3, T - first, 30)
    torch.testing.assert_close(got, full, rtol=0, atol=1e-13)
    w = torch.randn_like(full)
    params = [x] + list(enc.parameters())
    g_full = torch.autograd.grad((full * w).sum(), params)
    g_got = torch.autograd.grad((enc.positions(x, first) * w).sum(), params)
    for a, b in zip(g_full, g_got):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    start = max(0, first - (enc.receptive_field - 1))
    assert (enc._sparse_plan(T - start, first - start, x.device) is not None) == sparse
