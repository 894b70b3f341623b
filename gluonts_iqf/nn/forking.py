"""Forking sequences (Wen et al. 2017): one training window yields a forecast
at each of its last ``F`` positions (creation times), each scored on the
``H`` values after it. These functions cut the per-creation-time windows
out of a series in one view, for targets, known covariates and recent
history alike."""

import torch
from torch import Tensor


def forking_windows(series: Tensor, first: int, num_forking: int, length: int) -> Tensor:
    """The ``length``-position windows starting at ``first, first + 1, ...,
    first + num_forking - 1`` of ``series``, as a view.

    Parameters
    ----------
    series : Tensor, shape (B, T, *rest)
        Time along dim 1 (``rest``: e.g. series or covariates); needs
        ``first + num_forking + length - 1 <= T``.

    Returns
    -------
    Tensor, shape (B, num_forking, length, *rest)
    """
    window = series[:, first : first + num_forking + length - 1]
    return window.unfold(1, length, 1).movedim(-1, 2)


def forking_targets(
    past: Tensor, future: Tensor, num_forking: int
) -> Tensor:
    """Targets of the last ``num_forking`` creation times of a window.

    Creation time ``t`` (``C - F < t <= C``) has seen positions ``< t`` and
    forecasts positions ``t .. t + H - 1`` of ``[past | future]``; a step
    beyond the window never occurs.

    Parameters
    ----------
    past : Tensor, shape (B, C, *rest)
    future : Tensor, shape (B, H, *rest)

    Returns
    -------
    Tensor, shape (B, F, H, *rest)
    """
    C, H = past.shape[1], future.shape[1]
    return forking_windows(torch.cat([past, future], dim=1), C - num_forking + 1, num_forking, H)


def forking_history(series: Tensor, num_forking: int, length: int) -> Tensor:
    """The ``length`` positions before each of the last ``num_forking``
    creation times of a window (positions before the window are zero).

    Parameters
    ----------
    series : Tensor, shape (B, C, *rest)

    Returns
    -------
    Tensor, shape (B, F, length, *rest)
        Row ``i`` holds positions ``t - length .. t - 1`` of creation time
        ``t = C - F + 1 + i``.
    """
    C = series.shape[1]
    pad = series.new_zeros((series.shape[0], length) + tuple(series.shape[2:]))
    return forking_windows(torch.cat([pad, series], dim=1), C - num_forking + 1, num_forking, length)
