"""Training batches of the forking estimators drawn in a few array operations.

GluonTS's training loader streams the dataset through an instance splitter:
for every sampled window it copies the entry dict, slices and pads each
field, and the loader then stacks the windows field by field. For the small
MQ-CNN network that Python work is ~2 ms per batch of 32, about a sixth of
a training step (measured with cProfile on tourism monthly).
:class:`TrainingWindows` holds the transformed series once, concatenated
along time with ``context_length`` zeros (unobserved) in front of each, and
cuts a batch out with one gather per field.
"""

from typing import Any, Dict, Iterable, Iterator, List, Optional

import numpy as np
import torch

from gluonts.dataset.field_names import FieldName
from gluonts.transform import ExpectedNumInstanceSampler, InstanceSampler


class RecentInstanceSampler(ExpectedNumInstanceSampler):
    """GluonTS's ``ExpectedNumInstanceSampler`` restricted to the split
    points of the last ``max_history`` admissible positions of each series
    (all of them when None).

    A forecast is made at the end of a series; training windows from its
    recent history teach the dynamics that hold there (N-BEATS's ``L_H``,
    Oreshkin et al. 2020). The bounds are ``max(min_past, b - max_history +
    1) .. b`` with ``b = len - min_future``.
    """

    max_history: Optional[int] = None

    def _get_bounds(self, ts: np.ndarray):
        a, b = super()._get_bounds(ts)
        if self.max_history is not None:
            a = max(a, b - self.max_history + 1)
        return a, b


def uniform_window_sampler(sampler: Optional[InstanceSampler]) -> bool:
    """Whether :class:`TrainingWindows` draws the windows ``sampler`` would.

    GluonTS's ``ExpectedNumInstanceSampler`` (with ``min_instances = 0``)
    keeps each admissible split point of a series with one probability
    (``num_instances`` over the mean number of admissible points): over a
    pass of the data every admissible (series, split point) pair is equally
    likely, which is what :class:`TrainingWindows` draws. Other samplers
    (or subclasses) choose differently and keep GluonTS's splitter.
    """
    return (
        type(sampler) in (ExpectedNumInstanceSampler, RecentInstanceSampler)
        and sampler.min_instances == 0
        and sampler.axis == -1
    )


class TrainingWindows:
    """An endless stream of training batches, the windows drawn uniformly
    over every admissible (series, split point) pair.

    A batch equals, field by field (values, dtypes and layout), the stacked
    output of GluonTS's ``TFTInstanceSplitter`` at the same split points
    (tested): ``past_target`` / ``past_observed_values`` (B, C[, dim]),
    ``future_target`` / ``future_observed_values`` (B, H[, dim]),
    ``feat_dynamic_real`` (B, C + H, n), ``past_feat_dynamic_real``
    (B, C, m), ``feat_static_cat`` (B, n_cat) and ``feat_static_real``
    (B, n_real); positions before a series' start are zeros, with observed
    0. Split point ``t`` of a series of length ``T`` is admissible when
    ``min_past <= t <= T - min_future`` (the sampler's bounds), so the
    future part always lies inside the series, and, with ``max_history``,
    ``t > T - min_future - max_history`` (:class:`RecentInstanceSampler`).

    Differences from GluonTS's stream (``Cyclic`` data + splitter +
    ``as_stacked_batches``): the draws are independent, with replacement,
    where GluonTS walks the data in order, so one batch holds neighbouring
    series unless a shuffle buffer is set; each admissible pair has the
    same probability in both. Random numbers come from ``numpy.random``
    (as GluonTS's samplers), so ``lightning.seed_everything`` fixes them.

    Parameters
    ----------
    data
        Transformed training entries (``create_transformation()`` applied
        with ``is_train=True``); read once, on the first batch.
    context_length, prediction_length
        Past and future window lengths ``C`` and ``H``.
    batch_size
        Windows per batch.
    field_names
        The batch fields to return (the model's inputs and targets).
    min_past, min_future
        Bounds of the split points, as GluonTS's instance samplers.
    num_batches_per_epoch
        Batches per ``iter()``, as ``as_stacked_batches`` (None: endless).
    max_history
        Only the last ``max_history`` admissible split points of each series
        (None: all), as :class:`RecentInstanceSampler`.
    """

    #: Fields with a time axis sliced over the whole window (known covariates).
    KNOWN = (FieldName.FEAT_DYNAMIC_REAL,)
    #: Fields with a time axis sliced over the past only.
    PAST_ONLY = (FieldName.PAST_FEAT_DYNAMIC_REAL,)
    #: Fields split into ``past_`` and ``future_`` parts.
    SPLIT = (FieldName.TARGET, FieldName.OBSERVED_VALUES)
    #: Static fields, one row per series.
    STATIC = (FieldName.FEAT_STATIC_CAT, FieldName.FEAT_STATIC_REAL)

    def __init__(
        self,
        data: Iterable[Dict[str, Any]],
        context_length: int,
        prediction_length: int,
        batch_size: int,
        field_names: List[str],
        min_past: int = 0,
        min_future: int = 0,
        num_batches_per_epoch: Optional[int] = None,
        max_history: Optional[int] = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.data = data
        self.C, self.H = context_length, prediction_length
        self.batch_size = batch_size
        self.field_names = list(field_names)
        self.min_past, self.min_future = min_past, min_future
        self.max_history = max_history
        self.num_batches_per_epoch = num_batches_per_epoch
        self._store: Optional[Dict[str, Any]] = None

    # ------------------------------------------------------------------ #
    def _build(self) -> Dict[str, Any]:
        """Concatenate the series along time (C zeros in front of each).

        Returns the per-field stores (time-major torch tensors, static fields
        (N_series, ...)), ``offset`` (the store row where each series' block,
        its C zeros included, begins: the window at split point t starts at
        row ``offset + t``), and ``cum`` / ``before`` (the cumulative count of
        admissible split points through / before each series, for drawing
        one uniformly) and ``first`` (each series' first admissible split
        point).
        """
        C = self.C
        time_fields = [f for f in self.SPLIT + self.KNOWN + self.PAST_ONLY if f in self._wanted_sources()]
        pieces: Dict[str, list] = {f: [] for f in time_fields}
        static: Dict[str, list] = {f: [] for f in self.STATIC if f in self.field_names}
        offsets, counts, firsts = [], [], []
        offset = 0
        for entry in self.data:
            T = np.shape(entry[FieldName.TARGET])[-1]
            n = T - self.min_future - self.min_past + 1
            if n <= 0:
                continue  # no admissible split point, as GluonTS's samplers
            if self.max_history is not None:
                n = min(n, self.max_history)
            firsts.append(T - self.min_future - n + 1)  # the first admissible split point
            for f in time_fields:
                x = np.asarray(entry[f])
                pad = np.zeros(x.shape[:-1] + (C,), dtype=x.dtype)
                pieces[f].append(np.concatenate([pad, x], axis=-1))
            for f in static:
                static[f].append(np.asarray(entry[f]))
            offsets.append(offset)  # split point t is row offset + C + t
            counts.append(n)
            offset += C + T
        if not counts:
            raise ValueError(
                "no training window: every series is shorter than "
                f"min_past + min_future = {self.min_past + self.min_future}"
            )
        # time-major (rows, ...) so a window is one gather along dim 0
        store = {f: torch.from_numpy(np.ascontiguousarray(np.concatenate(v, axis=-1).T)) for f, v in pieces.items()}
        for f, v in static.items():
            store[f] = torch.from_numpy(np.stack(v))
        store["offset"] = torch.tensor(offsets, dtype=torch.int64)
        store["cum"] = np.cumsum(counts)
        store["before"] = store["cum"] - np.asarray(counts)
        store["first"] = np.asarray(firsts)
        return store

    def _wanted_sources(self) -> set:
        """Source fields of the requested batch fields."""
        wanted = set()
        for name in self.field_names:
            for f in self.SPLIT:
                if name in (f"past_{f}", f"future_{f}"):
                    wanted.add(f)
            if name in self.KNOWN + self.PAST_ONLY:
                wanted.add(name)
        return wanted

    def batch(self, series: torch.Tensor, split: torch.Tensor) -> Dict[str, torch.Tensor]:
        """The windows of ``series`` (B,) at admissible split points ``split``
        (B,), both int64 tensors (split point in the series' own positions)."""
        store = self._ensure()
        C, H = self.C, self.H
        start = store["offset"][series] + split  # window's first store row
        rows = start.unsqueeze(1) + torch.arange(C + H)  # (B, C + H)
        out: Dict[str, torch.Tensor] = {}
        for f in self.SPLIT:
            if f in store:
                w = store[f][rows]  # (B, C + H[, dim])
                out[f"past_{f}"], out[f"future_{f}"] = w[:, :C], w[:, C:]
        for f in self.KNOWN:
            if f in store:
                out[f] = store[f][rows]
        for f in self.PAST_ONLY:
            if f in store:
                out[f] = store[f][rows[:, :C]]
        for f in self.STATIC:
            if f in store:
                out[f] = store[f][series]
        return {k: out[k] for k in self.field_names if k in out}

    def _ensure(self) -> Dict[str, Any]:
        if self._store is None:
            self._store = self._build()
        return self._store

    def draw(self) -> Dict[str, torch.Tensor]:
        """One batch at uniformly drawn (series, split point) pairs."""
        store = self._ensure()
        cum = store["cum"]
        u = np.random.randint(0, int(cum[-1]), size=self.batch_size)
        series = np.searchsorted(cum, u, side="right")
        split = u - store["before"][series] + store["first"][series]
        return self.batch(torch.from_numpy(series), torch.from_numpy(split))

    def __iter__(self) -> Iterator[Dict[str, torch.Tensor]]:
        n = self.num_batches_per_epoch
        i = 0
        while n is None or i < n:
            yield self.draw()
            i += 1
