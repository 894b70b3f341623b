"""Lightning wrapper of :class:`MQF2Model`."""

import lightning.pytorch as pl
import torch

from gluonts.core.component import validated
from gluonts.itertools import select

from ..mqcnn.lightning_module import TARGET_INPUTS
from .module import MQF2Model


class MQF2LightningModule(pl.LightningModule):
    """Trains an :class:`MQF2Model` with its forking energy-score (or
    likelihood) loss; ``forward`` returns joint sample paths.

    Parameters
    ----------
    model_kwargs
        Keyword arguments of :class:`MQF2Model`.
    input_names
        Batch fields of the prediction inputs.
    lr, weight_decay, patience
        Adam and ReduceLROnPlateau settings.
    """

    @validated()
    def __init__(
        self,
        model_kwargs: dict,
        input_names: list,
        lr: float = 1e-3,
        weight_decay: float = 1e-8,
        patience: int = 10,
    ) -> None:
        super().__init__()
        self.model = MQF2Model(**model_kwargs)
        self.input_names = list(input_names)
        self.lr, self.weight_decay, self.patience = lr, weight_decay, patience

    def forward(self, *args, **kwargs):
        return self.model.forward(*args, **kwargs)

    def _loss(self, batch) -> torch.Tensor:
        return self.model.loss(**select(self.input_names + TARGET_INPUTS, batch, ignore_missing=True)).mean()

    def training_step(self, batch, batch_idx: int):  # type: ignore
        loss = self._loss(batch)
        self.log("train_loss", loss, on_epoch=True, on_step=False, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx: int):  # type: ignore
        loss = self._loss(batch)
        self.log("val_loss", loss, on_epoch=True, on_step=False, prog_bar=True)
        return loss

    def configure_optimizers(self):
        optimizer = torch.optim.Adam(self.model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        monitor = "val_loss" if self.trainer.val_dataloaders is not None else "train_loss"
        return {
            "optimizer": optimizer,
            "lr_scheduler": {
                "scheduler": torch.optim.lr_scheduler.ReduceLROnPlateau(
                    optimizer, mode="min", factor=0.5, patience=self.patience
                ),
                "monitor": monitor,
            },
        }
