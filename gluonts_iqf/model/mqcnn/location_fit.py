"""The seasonal location's start: a median regression fitted on training
batches before the first step (:class:`~gluonts_iqf.model.mqcnn.lightning_module.MQCNNLightningModule`'s
``seasonal_loc_fit_batches``), so the network learns the residual of a
location that already fits the data rather than of the seasonal-naive
forecast."""

from typing import Dict, Iterable

import torch
from torch import Tensor

from ...nn.location import StepwiseLinear, fit_l1_linear
from .module import MQCNNModel


@torch.no_grad()
def fit_seasonal_location(model: MQCNNModel, batches: Iterable[Dict[str, Tensor]], **fit_kwargs) -> None:
    """Start ``model``'s seasonal location at the median regression of the
    scaled targets on the scaled lag features (:func:`fit_l1_linear`,
    pulled toward the current weights), over every creation time and
    horizon step of ``batches`` (training batches: dicts with
    ``past_target``, ``past_observed_values``, ``future_target`` and
    ``future_observed_values``). One regression for the shared map, one
    per horizon step for :class:`StepwiseLinear`. Nothing to do without
    a seasonal location.
    """
    if model.lag_loc is None:
        return
    C, F_ = model.context_length, model.num_forking
    X, Y, W = [], [], []
    for b in batches:
        observed = b["past_observed_values"]
        target = b["past_target"] * observed
        _, scale, informative = model.scaler(target, observed)
        fork_scale = scale[:, C - F_ :].unsqueeze(-1)  # (B, F, 1)
        lags = model.seasonal_lags(target, observed, fork_scale, C - F_)  # (B, F, H, 2J)
        y, w = model.forking_targets(
            b["past_target"], observed, b["future_target"], b["future_observed_values"],
            informative[:, C - F_ :],
        )
        X.append(lags.flatten(0, 1))  # (B F, H, 2J)
        Y.append((y / fork_scale).flatten(0, 1))  # (B F, H)
        W.append(w.flatten(0, 1))
    X, Y, W = torch.cat(X), torch.cat(Y), torch.cat(W)
    weight, bias = model.lag_loc.weight, model.lag_loc.bias
    if isinstance(model.lag_loc, StepwiseLinear):  # weight (H, 2J), bias (H,)
        for h in range(X.shape[1]):
            start = torch.cat([weight[h], bias[h : h + 1]])
            sol = fit_l1_linear(X[:, h], Y[:, h], W[:, h], start, **fit_kwargs)
            weight[h].copy_(sol[:-1])
            bias[h].copy_(sol[-1])
    else:  # weight (1, 2J), bias (1,)
        start = torch.cat([weight[0], bias])
        sol = fit_l1_linear(X.flatten(0, 1), Y.flatten(), W.flatten(), start, **fit_kwargs)
        weight[0].copy_(sol[:-1])
        bias.copy_(sol[-1:])
