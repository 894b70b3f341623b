"""Lightning wrapper of :class:`MQF2Model`: the forking training loop with the
MQF² model (its ``forward`` returns joint sample paths)."""

from typing import Optional

from gluonts.core.component import validated

from .._forking.lightning_module import ForkingLightningModule
from .module import MQF2Model


class MQF2LightningModule(ForkingLightningModule):
    """Trains an :class:`MQF2Model` with its forking energy-score (or
    likelihood) loss.

    Parameters
    ----------
    model_kwargs
        Keyword arguments of :class:`MQF2Model`.
    input_names, lr, weight_decay, patience, lr_schedule, num_batches_per_epoch
        As :class:`~gluonts_iqf.model._forking.lightning_module.ForkingLightningModule`.
    """

    model_cls = MQF2Model

    @validated()
    def __init__(
        self,
        model_kwargs: dict,
        input_names: list,
        lr: float = 1e-3,
        weight_decay: float = 1e-8,
        patience: int = 10,
        lr_schedule: str = "cosine",
        num_batches_per_epoch: Optional[int] = None,
    ) -> None:
        super().__init__(
            model_kwargs, input_names, lr=lr, weight_decay=weight_decay, patience=patience,
            lr_schedule=lr_schedule, num_batches_per_epoch=num_batches_per_epoch,
        )
