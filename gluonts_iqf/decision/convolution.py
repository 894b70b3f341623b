"""The total of independent steps: each step's distribution is rounded to a
common grid and the grids are convolved with the FFT (:class:`SumHistogram`).
"""

from typing import Callable, List, Optional, Tuple

import numpy as np

#: Levels below ``TAIL_LEVEL`` and above ``1 - TAIL_LEVEL`` of each step are
#: folded into the outermost grid cells of the convolution (and left out of
#: the level tables of a ``QuantileForecast``): 1e-9 per side and step is far
#: below any service level a planner asks for.
TAIL_LEVEL = 1e-9

#: Grid cells spanning the support of the total: at least
#: ``CONVOLUTION_MIN_CELLS``, ``CONVOLUTION_CELLS_PER_STEP`` per summed step so
#: the rounding of each summand to the grid stays small against the spread of
#: the total, at most ``CONVOLUTION_MAX_CELLS`` (a 4M-point real FFT, ~64 MiB).
CONVOLUTION_MIN_CELLS = 2**16
CONVOLUTION_CELLS_PER_STEP = 2**11
CONVOLUTION_MAX_CELLS = 2**22

#: Values per call of the steps' cdf in :class:`SumHistogram`, which asks for
#: blocks of steps padded to a common length: enough to amortise a call's
#: overhead, few enough to stay in cache.
CDF_BLOCK_VALUES = 2**15

#: Pairs with a vector up to this long are convolved directly
#: (``numpy.convolve``), which beats the FFT there.
DIRECT_CONVOLUTION_SIZE = 64


def _fft_size(n: int) -> int:
    """The power of two >= ``n`` (>= 2)."""
    return 1 << max(int(n) - 1, 1).bit_length()


def convolve_all(pmfs: List[np.ndarray]) -> np.ndarray:
    """Convolution of probability vectors, pairwise in a balanced tree.

    Each round convolves neighbours with a real FFT of the pair's output
    length, so the work is ``O(N log N log L)`` for ``L`` vectors summing to
    length ``N`` instead of ``L`` transforms of the full length. FFT
    round-off can leave tiny negative masses: they are clipped to 0.
    ``pmfs``: L arrays of shapes (n_i,) -> array (sum(n_i - 1) + 1,).
    """
    pmfs = list(pmfs)
    while len(pmfs) > 1:
        paired = []
        for a, b in zip(pmfs[0::2], pmfs[1::2]):
            n = a.size + b.size - 1
            if min(a.size, b.size) <= DIRECT_CONVOLUTION_SIZE:
                c = np.convolve(a, b)
            else:
                nfft = _fft_size(n)
                c = np.fft.irfft(np.fft.rfft(a, nfft) * np.fft.rfft(b, nfft), nfft)[:n]
            paired.append(np.clip(c, 0.0, None))
        if len(pmfs) % 2:
            paired.append(pmfs[-1])
        pmfs = paired
    return pmfs[0]


def step_blocks(lengths: np.ndarray, budget: int) -> List[np.ndarray]:
    """Steps grouped into blocks of similar ``lengths`` whose padded size
    (steps x the longest in the block) stays within ``budget`` (a step
    longer than ``budget`` is a block of its own); lengths (L,) -> arrays of
    step indices, shortest steps first."""
    blocks, current = [], []
    for t in np.argsort(lengths, kind="stable"):  # ascending: step t is the block's longest
        if current and (len(current) + 1) * int(lengths[t]) > budget:
            blocks.append(np.array(current))
            current = []
        current.append(t)
    blocks.append(np.array(current))
    return blocks


def default_cells(steps: int) -> int:
    """Grid cells for a sum of ``steps`` steps (see ``CONVOLUTION_*``)."""
    cells = max(CONVOLUTION_MIN_CELLS, CONVOLUTION_CELLS_PER_STEP * steps)
    return min(cells, CONVOLUTION_MAX_CELLS)


class SumHistogram:
    """Distribution of a sum of independent steps on a regular grid.

    Each step's distribution is rounded to the grid ``lo_t + k d``: the atom
    at ``lo_t + k d`` gets the probability of ``[lo_t + (k - 1/2) d, lo_t +
    (k + 1/2) d)`` from the step's cdf (the tails below ``lo_t`` and above
    ``hi_t`` fold into the outermost atoms). The atoms are convolved
    (:func:`convolve_all`) and each atom ``start + k d`` of the sum is spread
    uniformly over its cell, so the cdf of the total is piecewise linear and
    its quantile function continuous.

    Parameters
    ----------
    cdf : callable ``(steps (s,), values (m, s)) -> (m, s)``
        The cdfs of the steps with indices ``steps``, column ``j`` of
        ``values`` at step ``steps[j]``.
    lo, hi : numpy.ndarray, shape (L,)
        Per-step range covered by the grid (e.g. the quantiles at
        ``TAIL_LEVEL`` and ``1 - TAIL_LEVEL``).
    cells : int, optional
        Grid cells across ``sum(hi - lo)``; default :func:`default_cells`.

    Attributes
    ----------
    start : float
        Value of the first atom of the sum.
    step : float
        Grid spacing ``d`` (0.0 when every step is a single atom).
    pmf : numpy.ndarray, shape (N,)
        Probabilities of the atoms ``start + k * step``.
    """

    def __init__(
        self,
        cdf: Callable[[np.ndarray, np.ndarray], np.ndarray],
        lo: np.ndarray,
        hi: np.ndarray,
        cells: Optional[int] = None,
    ) -> None:
        lo = np.asarray(lo, dtype=np.float64)
        hi = np.asarray(hi, dtype=np.float64)
        cells = default_cells(lo.size) if cells is None else cells
        widths = np.maximum(hi - lo, 0.0)
        total = float(widths.sum())
        self.start = float(lo.sum())
        if not total > 0.0:  # every step is one atom: so is the sum
            self.step = 0.0
            self.pmf = np.ones(1)
            return
        d = total / cells
        # grid points per step: lo_t + k d, k = 0..n_t - 1, reaching at least
        # hi_t; the cells' edges lo_t + (k + 1/2) d, k < n_t - 1, difference F_t
        n_edges = np.ceil(widths / d).astype(np.int64)
        offsets = (np.arange(n_edges.max()) + 0.5) * d
        pmfs: List[np.ndarray] = [None] * lo.size
        for block in step_blocks(n_edges, CDF_BLOCK_VALUES):
            edges = lo[block] + offsets[: n_edges[block].max(), None]  # (m, s)
            F = np.ascontiguousarray(cdf(block, edges).T) if edges.size else edges.T  # (s, m)
            np.clip(F, 0.0, 1.0, out=F)
            for t, F_t in zip(block, F):
                F_t = np.maximum.accumulate(F_t[: n_edges[t]])
                pmfs[t] = np.diff(np.concatenate([[0.0], F_t, [1.0]]))  # (n_t + 1,)
        pmf = convolve_all(pmfs)
        self.step = d
        self.pmf = pmf / pmf.sum()

    def _locate(self, levels: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Cell index ``k`` with ``G_{k-1} < a <= G_k`` and the fraction of
        the cell's mass below ``a``; levels (n,) -> two (n,)."""
        G = np.cumsum(self.pmf)
        k = np.minimum(np.searchsorted(G, levels, side="left"), G.size - 1)
        below = np.where(k > 0, G[k - 1], 0.0)
        p = self.pmf[k]
        frac = np.clip(np.divide(levels - below, p, out=np.ones_like(p), where=p > 0), 0.0, 1.0)
        return k, frac

    def quantile(self, levels: np.ndarray) -> np.ndarray:
        """Quantiles of the total at ``levels`` (n,) -> (n,)."""
        levels = np.asarray(levels, dtype=np.float64)
        if self.step == 0.0:
            return np.full(levels.shape, self.start)
        k, frac = self._locate(levels)
        return self.start + (k - 0.5 + frac) * self.step

    def slope(self, levels: np.ndarray) -> np.ndarray:
        """``dQ/dalpha = d / pmf_k``, 1 / density of the spread atoms:
        levels (n,) -> (n,)."""
        levels = np.asarray(levels, dtype=np.float64)
        if self.step == 0.0:
            return np.zeros(levels.shape)
        k, _ = self._locate(levels)
        p = self.pmf[k]
        return np.divide(self.step, p, out=np.full_like(p, np.inf), where=p > 0)

    @property
    def mean(self) -> float:
        """Mean of the spread atoms (that of the atoms: spreading is
        symmetric)."""
        return float(self.start + self.step * np.dot(np.arange(self.pmf.size), self.pmf))

    def expected_cost(self, stock: float, cu: float, co: float) -> float:
        """``cu E[(S - s)_+] + co E[(s - S)_+]`` for the spread atoms.

        ``E[(s - S)_+] = int_{-inf}^s G(y) dy`` integrates the piecewise
        linear cdf exactly; ``E[(S - s)_+] = E[(s - S)_+] - s + E[S]``.
        """
        s = float(stock)
        if self.step == 0.0:
            return cu * max(self.start - s, 0.0) + co * max(s - self.start, 0.0)
        d = self.step
        G = np.cumsum(self.pmf)
        G_prev = np.concatenate([[0.0], G[:-1]])
        area = np.cumsum(0.5 * d * (G_prev + G))  # integral up to each cell's top
        lower = self.start - 0.5 * d  # where G starts rising from 0
        pos = (s - lower) / d
        if pos <= 0.0:
            below = 0.0
        elif pos >= self.pmf.size:
            below = area[-1] + (s - (lower + self.pmf.size * d))
        else:
            k = int(pos)
            r = (pos - k) * d
            G_s = G_prev[k] + self.pmf[k] * r / d
            below = (area[k - 1] if k > 0 else 0.0) + 0.5 * r * (G_prev[k] + G_s)
        above = below - s + self.mean
        return float(cu * max(above, 0.0) + co * below)


def independent_sum(marginals, lead_time: int) -> SumHistogram:
    """The sum of the first ``lead_time`` steps of ``marginals`` taken as
    independent: their ``cdf(steps, values)`` on the grid spanning each
    step's ``support()``."""
    lo, hi = marginals.support()
    return SumHistogram(marginals.cdf, lo[:lead_time], hi[:lead_time])
