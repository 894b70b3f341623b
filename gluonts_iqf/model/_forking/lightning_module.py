"""The training loop shared by the forking models (MQ-CNN, MQF²): Adam,
the learning-rate schedule, the epoch loss GluonTS's checkpointing monitors,
and the final-weights rule of the cosine schedule."""

import math
import os
from typing import Optional

import lightning.pytorch as pl
import torch

from gluonts.itertools import select

from ...nn.distributed import distributed, seed_rank_streams
from .checks import check_choice

#: Inputs of the forking loss besides the prediction inputs.
TARGET_INPUTS = ["future_target", "future_observed_values"]

#: Final learning rate of the cosine schedule, relative to ``lr``.
MIN_LR_FACTOR = 0.01

#: Learning-rate schedules of :class:`ForkingLightningModule`.
LR_SCHEDULES = ("cosine", "plateau")

#: Devices with torch's fused Adam kernel.
FUSED_ADAM_DEVICES = ("cpu", "cuda")


class ForkingLightningModule(pl.LightningModule):
    """Trains a forking model (``model_cls``, set by subclasses) with its
    forking-sequence ``loss``; its ``forward`` is the prediction network.

    Parameters
    ----------
    model_kwargs
        Keyword arguments of ``model_cls``.
    input_names
        Batch fields fed to the model's ``forward`` (prediction inputs).
    lr, weight_decay
        Adam settings.
    patience
        With ``lr_schedule="plateau"``: epochs without improvement before
        ReduceLROnPlateau halves the rate.
    lr_schedule
        ``"cosine"``: the rate follows a half cosine from ``lr`` to
        ``lr * MIN_LR_FACTOR`` over the trainer's planned steps (the
        trainer's ``max_steps`` if set, else ``max_epochs x
        num_batches_per_epoch``), so the last epochs average out the gradient
        noise of the forking loss; ``"plateau"``: ReduceLROnPlateau on the
        monitored loss.
    num_batches_per_epoch
        Batches per epoch of the training loader (GluonTS loaders have no
        length), for the cosine schedule's step count.
    """

    model_cls: type = None  # type: ignore[assignment]

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
        super().__init__()
        check_choice("lr_schedule", lr_schedule, LR_SCHEDULES)
        self.lr_schedule = lr_schedule
        self.num_batches_per_epoch = num_batches_per_epoch
        self.model = self.model_cls(**model_kwargs)
        self.input_names = list(input_names)
        self.lr = lr
        self.weight_decay = weight_decay
        self.patience = patience
        self._epoch_loss: Optional[list] = None  # [sum of loss x rows, rows] of this epoch

    def forward(self, *args, **kwargs):
        return self.model.forward(*args, **kwargs)

    def setup(self, stage: str) -> None:
        """Under data-parallel training, give each rank its own random
        stream (training windows, noise), reproducible from the seed all
        ranks started with."""
        if stage == "fit" and distributed():
            seed_rank_streams(self.global_rank)

    def transfer_batch_to_device(self, batch, device, dataloader_idx: int):
        """A GluonTS batch is a flat dict of tensors (and lists such as
        forecast starts or item ids): its tensors are moved in one pass
        instead of Lightning's generic walk over the collection (a
        measurable share of a small model's step on CPU); anything else
        takes Lightning's default."""
        if isinstance(batch, dict) and not any(isinstance(v, (dict, tuple)) for v in batch.values()):
            return {
                k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v
                for k, v in batch.items()
            }
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def _loss(self, batch) -> torch.Tensor:
        return self.model.loss(
            **select(self.input_names + TARGET_INPUTS, batch, ignore_missing=True)
        ).mean()

    @staticmethod
    def _batch_size(batch) -> int:
        """Rows of the batch, given to ``self.log`` so that Lightning does not
        search the batch for it on every step."""
        return int(batch["past_target"].shape[0])

    def training_step(self, batch, batch_idx: int):  # type: ignore
        loss = self._loss(batch)
        # the epoch's "train_loss" (GluonTS's checkpoint monitor) is the
        # batch-size-weighted mean of the step losses, as Lightning's
        # on_epoch logging computes it, accumulated here and logged once per
        # epoch: Lightning's per-step logging moves its metric state on
        # every call
        n = self._batch_size(batch)
        total = loss.detach() * n
        if self._epoch_loss is None:
            self._epoch_loss = [total, n]
        else:
            self._epoch_loss[0] = self._epoch_loss[0] + total
            self._epoch_loss[1] += n
        return loss

    def on_train_epoch_start(self) -> None:
        self._epoch_loss = None

    def on_train_epoch_end(self) -> None:
        if self._epoch_loss is not None:
            total, n = self._epoch_loss
            # sync_dist: under DDP the monitored loss is the mean over ranks
            self.log("train_loss", total / n, on_epoch=True, on_step=False, prog_bar=True, sync_dist=True)
            self._epoch_loss = None

    def on_train_end(self) -> None:
        """With the cosine schedule and no validation data, make the final
        weights the ones GluonTS restores.

        GluonTS's ``train_model`` reloads the checkpoint of the epoch with
        the lowest ``train_loss``. Without validation data that is an
        in-sample loss of different random windows each epoch: across the
        last epochs its differences are sampling noise, so the pick is a
        random late epoch, trained at a higher rate than the schedule's end.
        The cosine schedule is built to end at its last step, so the final
        weights are saved next to the checkpoints and pointed to as the best
        model. With validation data (``val_loss``, a held-out measure) or
        the plateau schedule, GluonTS's choice stands.
        """
        trainer = self.trainer
        ckpt = trainer.checkpoint_callback
        if (
            self.lr_schedule != "cosine"
            or trainer.val_dataloaders is not None
            or trainer.interrupted
            or ckpt is None
            or not getattr(ckpt, "dirpath", None)
        ):
            return
        path = os.path.join(ckpt.dirpath, f"final-step={trainer.global_step}.ckpt")
        trainer.save_checkpoint(path, weights_only=True)
        ckpt.best_model_path = path

    def validation_step(self, batch, batch_idx: int):  # type: ignore
        loss = self._loss(batch)
        self.log("val_loss", loss, on_epoch=True, on_step=False, prog_bar=True,
                 batch_size=self._batch_size(batch), sync_dist=True)
        return loss

    def _planned_steps(self) -> int:
        """Training steps the trainer will run: ``max_steps`` if set, else
        ``max_epochs x num_batches_per_epoch``; a ValueError when neither is
        finite."""
        trainer = self.trainer
        if trainer.max_steps is not None and trainer.max_steps > 0:
            return int(trainer.max_steps)
        epochs = trainer.max_epochs
        per_epoch = self.num_batches_per_epoch
        if per_epoch is None:
            per_epoch = trainer.num_training_batches
        total = (epochs if epochs is not None and epochs > 0 else math.inf) * per_epoch
        if not math.isfinite(total) or total < 1:
            raise ValueError(
                "lr_schedule='cosine' needs a finite number of training steps: set "
                "max_epochs (with num_batches_per_epoch) or max_steps in trainer_kwargs, "
                "or use lr_schedule='plateau'"
            )
        return int(total)

    def configure_optimizers(self):
        params = list(self.model.parameters())
        # torch's fused Adam (one kernel instead of ~10 small ops per parameter
        # tensor; the same update up to rounding) where the device supports it
        fused = bool(params) and all(
            p.device.type in FUSED_ADAM_DEVICES and p.dtype.is_floating_point for p in params
        )
        optimizer = torch.optim.Adam(
            params, lr=self.lr, weight_decay=self.weight_decay, **({"fused": True} if fused else {})
        )
        monitor = "val_loss" if self.trainer.val_dataloaders is not None else "train_loss"
        if self.lr_schedule == "cosine":
            return {
                "optimizer": optimizer,
                "lr_scheduler": {
                    "scheduler": torch.optim.lr_scheduler.CosineAnnealingLR(
                        optimizer, T_max=self._planned_steps(), eta_min=self.lr * MIN_LR_FACTOR
                    ),
                    "interval": "step",
                },
            }
        return {
            "optimizer": optimizer,
            "lr_scheduler": {
                "scheduler": torch.optim.lr_scheduler.ReduceLROnPlateau(
                    optimizer, mode="min", factor=0.5, patience=self.patience
                ),
                "monitor": monitor,
            },
        }
