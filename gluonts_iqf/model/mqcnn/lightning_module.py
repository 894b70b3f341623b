"""Lightning wrapper of :class:`MQCNNModel`: the forking training loop, and
the fit of the seasonal location before the first step."""

from typing import Optional

from gluonts.core.component import validated

from ...nn.distributed import broadcast_module
from .._forking.checks import check_at_least
from .._forking.lightning_module import (  # noqa: F401  (public names of this module before 0.2)
    FUSED_ADAM_DEVICES,
    LR_SCHEDULES,
    MIN_LR_FACTOR,
    TARGET_INPUTS,
    ForkingLightningModule,
)
from .location_fit import fit_seasonal_location
from .module import MQCNNModel


class MQCNNLightningModule(ForkingLightningModule):
    """Trains an :class:`MQCNNModel` with its forking-sequence loss.

    Parameters
    ----------
    model_kwargs
        Keyword arguments of :class:`MQCNNModel`.
    input_names, lr, weight_decay, patience, lr_schedule, num_batches_per_epoch
        As :class:`~gluonts_iqf.model._forking.lightning_module.ForkingLightningModule`.
    seasonal_loc_fit_batches
        Before the first step, fit the model's seasonal location on this many
        training batches (:func:`~gluonts_iqf.model.mqcnn.location_fit.fit_seasonal_location`); 0 keeps
        its seasonal-naive start. Skipped when resuming from a checkpoint
        and when weights were loaded before training (GluonTS's
        ``train_from``): the fit initialises, it must not overwrite them.
    """

    model_cls = MQCNNModel

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
        seasonal_loc_fit_batches: int = 0,
    ) -> None:
        check_at_least("seasonal_loc_fit_batches", seasonal_loc_fit_batches, 0)
        super().__init__(
            model_kwargs, input_names, lr=lr, weight_decay=weight_decay, patience=patience,
            lr_schedule=lr_schedule, num_batches_per_epoch=num_batches_per_epoch,
        )
        self.seasonal_loc_fit_batches = seasonal_loc_fit_batches
        self._weights_loaded = False

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        self._weights_loaded = True
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def on_train_start(self) -> None:
        """Fit the seasonal location on ``seasonal_loc_fit_batches`` batches
        drawn from the training loader."""
        n = self.seasonal_loc_fit_batches
        if not n or self.trainer.ckpt_path is not None or self._weights_loaded:
            return
        batches = []
        for batch in self.trainer.train_dataloader:  # a GluonTS loader yields num_batches_per_epoch batches a pass
            batches.append(self.transfer_batch_to_device(batch, self.device, 0))
            if len(batches) == n:
                break
        fit_seasonal_location(self.model, batches)
        if self.model.lag_loc is not None:  # every DDP rank fitted on its own batches: keep rank 0's
            broadcast_module(self.model.lag_loc)
