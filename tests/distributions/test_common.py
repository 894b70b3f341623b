"""Helpers shared by the IQF's modules (``_common``): row blocks, and the
compile-time forms of the running and per-row sums."""

import pytest
import torch

from gluonts_iqf import IQFOutput
from gluonts_iqf.distributions import _common


def test_blocked_passes_equal_whole_batch(monkeypatch):
    """Row blocks of any size give the same numbers as one block (the
    floored softmax of the domain map and the shape integrals of the CRPS)."""
    out = IQFOutput(knot_levels=[0.1, 0.3, 0.5, 0.7, 0.9], num_pieces=3)
    gen = torch.Generator().manual_seed(0)
    raw = [torch.randn(40, 3, dim, generator=gen, dtype=torch.float64) for dim in out.args_dim.values()]
    loc = 10 * torch.randn(40, 3, generator=gen, dtype=torch.float64)
    scale = torch.rand(40, 3, generator=gen, dtype=torch.float64) * 5 + 0.5
    args = out.domain_map(*raw)
    y = out.distribution(args, loc=loc, scale=scale).sample()
    ref = out.distribution(args, loc=loc, scale=scale).crps(y)
    monkeypatch.setattr(_common, "BLOCK_ELEMENTS", 50)
    args2 = out.domain_map(*raw)
    torch.testing.assert_close(args2[3], args[3], rtol=0, atol=1e-15)
    torch.testing.assert_close(out.distribution(args2, loc=loc, scale=scale).crps(y), ref, rtol=1e-10, atol=1e-10)


def test_row_blocks_cover_the_rows():
    blocks = _common.row_blocks(10, _common.BLOCK_ELEMENTS // 3)
    assert [(b.start, b.stop) for b in blocks] == [(0, 3), (3, 6), (6, 9), (9, 10)]


@pytest.mark.slow
def test_compiled_sums_equal_eager():
    """``cumulative_sum`` and ``sum_rows`` give the same numbers eagerly and
    under ``torch.compile`` (where they run as loops of additions; the
    running sum adds ``start`` first, so equal to rounding)."""
    gen = torch.Generator().manual_seed(2)
    v = torch.randn(5, 3, 7, generator=gen, dtype=torch.float64)
    start = torch.randn(1, 3, 7, generator=gen, dtype=torch.float64)

    def both(v, start):
        return _common.cumulative_sum(v, 0, start), torch.stack(_common.sum_rows(v))

    compiled = torch.compile(both, fullgraph=True)
    for a, b in zip(compiled(v, start), both(v, start)):
        torch.testing.assert_close(a, b, rtol=1e-14, atol=1e-14)
