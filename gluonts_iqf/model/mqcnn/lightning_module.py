"""Lightning wrapper of :class:`MQCNNModel`: training/validation steps and
the optimiser, as GluonTS's own torch models do."""

import lightning.pytorch as pl
import torch

from gluonts.core.component import validated
from gluonts.itertools import select

from .module import MQCNNModel

#: Inputs of the forking loss besides the prediction inputs.
TARGET_INPUTS = ["future_target", "future_observed_values"]


class MQCNNLightningModule(pl.LightningModule):
    """Trains an :class:`MQCNNModel` (or, in subclasses, another forking
    model given by ``model_cls``) with its forking-sequence loss.

    Parameters
    ----------
    model_kwargs
        Keyword arguments of :class:`MQCNNModel`.
    input_names
        Batch fields fed to the model's ``forward`` (prediction inputs).
    lr, weight_decay
        Adam settings.
    patience
        Epochs without improvement before ReduceLROnPlateau halves the rate.
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
    ) -> None:
        super().__init__()
        self.model = self.model_cls(**model_kwargs)
        self.input_names = list(input_names)
        self.lr = lr
        self.weight_decay = weight_decay
        self.patience = patience

    def forward(self, *args, **kwargs):
        return self.model.forward(*args, **kwargs)

    def _loss(self, batch) -> torch.Tensor:
        return self.model.loss(
            **select(self.input_names + TARGET_INPUTS, batch, ignore_missing=True)
        ).mean()

    def training_step(self, batch, batch_idx: int):  # type: ignore
        loss = self._loss(batch)
        self.log("train_loss", loss, on_epoch=True, on_step=False, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx: int):  # type: ignore
        loss = self._loss(batch)
        self.log("val_loss", loss, on_epoch=True, on_step=False, prog_bar=True)
        return loss

    def configure_optimizers(self):
        optimizer = torch.optim.Adam(
            self.model.parameters(), lr=self.lr, weight_decay=self.weight_decay
        )
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
