"""An MQ-CNN ensemble: several trained MQ-CNN networks whose IQF quantile
functions are averaged level by level (as N-BEATS combined its members),
served as one IQF per series and step; and its training, one member
estimator after another."""

from types import SimpleNamespace
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from gluonts.core.component import validated
from gluonts.dataset.common import Dataset
from gluonts.torch.model.estimator import TrainOutput

from ...distributions.average import average_quantile_functions
from ...distributions.iqf import IQFOutput
from .calibration import MemberBacktest
from .lightning_module import MQCNNLightningModule


def check_averageable(members: List[MQCNNLightningModule]) -> IQFOutput:
    """The members' common head, or a ValueError naming what differs: the
    average of quantile functions is an IQF only for plain IQF heads
    (``num_pieces=1``) with the same knot levels, over the same horizon."""
    if not members:
        raise ValueError("an ensemble needs at least one member")
    heads = [m.model.distr_output for m in members]
    first = heads[0]
    for head in heads:
        if not isinstance(head, IQFOutput) or head.num_pieces != 1:
            raise ValueError(
                "ensemble members need a plain IQF head (IQFOutput with num_pieces=1), "
                f"got {head!r}"
            )
        if head.knot_levels != first.knot_levels:
            raise ValueError(
                f"ensemble members need the same knot levels, got {first.knot_levels} and {head.knot_levels}"
            )
    horizons = {m.model.prediction_length for m in members}
    if len(horizons) != 1:
        raise ValueError(f"ensemble members need the same prediction_length, got {sorted(horizons)}")
    return first


class MQCNNEnsemble(nn.Module):
    """Averages the quantile functions of trained MQ-CNN networks.

    ``forward`` takes the prediction inputs of the member with the longest
    context (C_max); a member with context ``c`` reads their last ``c``
    positions. It returns ``(knot_values (B, H, K), beta_l (B, H), beta_r
    (B, H)), loc (B, H) zeros, scale (B, 1) ones``: the average IQF in data
    units (:func:`~gluonts_iqf.distributions.average.average_quantile_functions`),
    which the members' shared ``IQFOutput`` turns into the forecast.

    Parameters
    ----------
    members
        Trained :class:`MQCNNLightningModule` objects with the same plain IQF
        head and horizon.
    """

    @validated()
    def __init__(self, members: List[MQCNNLightningModule]) -> None:
        super().__init__()
        self.distr_output = check_averageable(members)
        self.members = nn.ModuleList(members)
        self.context_length = max(m.model.context_length for m in members)

    def forward(
        self,
        feat_static_cat: Tensor,
        feat_static_real: Tensor,
        past_target: Tensor,
        past_observed_values: Tensor,
        feat_dynamic_real: Tensor,
        past_feat_dynamic_real: Optional[Tensor] = None,
    ) -> Tuple[Tuple[Tensor, Tensor, Tensor], Tensor, Tensor]:
        C = past_target.shape[1]
        knots, betas_l, betas_r, locs, scales = [], [], [], [], []
        for member in self.members:
            start = C - member.model.context_length
            (kv, beta_l, beta_r), loc, scale = member(
                feat_static_cat,
                feat_static_real,
                past_target[:, start:],
                past_observed_values[:, start:],
                feat_dynamic_real[:, start:],
                None if past_feat_dynamic_real is None else past_feat_dynamic_real[:, start:],
            )
            knots.append(kv)
            betas_l.append(beta_l)
            betas_r.append(beta_r)
            locs.append(loc.expand_as(beta_l))  # (B, H); (B, 1) zeros without a location
            scales.append(scale)  # (B, 1)
        args = average_quantile_functions(
            torch.stack(knots), torch.stack(betas_l), torch.stack(betas_r), torch.stack(locs), torch.stack(scales)
        )
        loc = torch.zeros_like(args[1])
        return args, loc, torch.ones_like(loc[:, :1])


def train_ensemble(
    estimators: Sequence[Any],
    training_data: Dataset,
    validation_data: Optional[Dataset] = None,
    from_predictor=None,
    **kwargs,
) -> TrainOutput:
    """GluonTS's training of each member estimator (``MQCNNEstimator``
    objects, one per member) on the same data, as one :class:`MQCNNEnsemble`
    served by the predictor of the member with the longest context.

    Members whose statistical backtest settings agree
    (``backtest_settings``) share one backtest. ``from_predictor`` of an
    ensemble of as many members warm-starts each member from its
    counterpart; ``ckpt_path`` (resuming a Lightning run) is not supported.
    """
    if kwargs.get("ckpt_path") is not None:
        raise ValueError("ckpt_path (resuming a Lightning run) is not supported for an ensemble")
    starts = [None] * len(estimators)
    if from_predictor is not None:
        previous = from_predictor.network
        if not isinstance(previous, MQCNNEnsemble) or len(previous.members) != len(estimators):
            raise ValueError(f"train_from needs a predictor of an ensemble of {len(estimators)} members")
        starts = [SimpleNamespace(network=m) for m in previous.members]
    shared: Dict[Tuple, Optional[MemberBacktest]] = {}  # one backtest per distinct setting
    for est in estimators:
        est._backtests = shared
    try:
        outputs = [
            est.train_model(training_data, validation_data, from_predictor=start, **kwargs)
            for est, start in zip(estimators, starts)
        ]
    finally:
        for est in estimators:
            est._backtests = None
    longest = max(range(len(outputs)), key=lambda i: estimators[i].context_length)
    network = MQCNNEnsemble(members=[o.trained_net for o in outputs])
    transformation = outputs[longest].transformation
    return TrainOutput(
        transformation=transformation,
        trained_net=network,
        trainer=outputs[-1].trainer,
        predictor=estimators[longest].create_predictor(transformation, network),
    )
