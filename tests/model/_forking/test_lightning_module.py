"""The forking models' training loop (ForkingLightningModule), run through a
small MQ-CNN: the epoch loss GluonTS's checkpointing monitors, the weights
train_model restores, and the learning-rate schedules."""

import lightning.pytorch as pl
import pytest
import torch

from gluonts_iqf import MQCNNEstimator, datasets

H = 48


def estimator(root, epochs=1, batches=5, callbacks=(), **kw):
    params = dict(
        freq="h", prediction_length=H, context_length=96, num_forking=24, channels_seq=[16, 16, 16],
        batch_size=16, num_batches_per_epoch=batches,
        trainer_kwargs=dict(max_epochs=epochs, enable_progress_bar=False, enable_model_summary=False,
                            logger=False, default_root_dir=str(root), callbacks=list(callbacks)),
    )
    params.update(kw)
    return MQCNNEstimator(**params)


@pytest.fixture(scope="module")
def m4():
    ds = datasets.load("m4_hourly")
    return list(ds.train)[:30], list(ds.test)[:30]


class EpochLossRecorder(pl.Callback):
    """Step losses and batch sizes, and the logged epoch ``train_loss``."""

    def __init__(self):
        self.steps, self.epochs = [], []

    def on_train_epoch_start(self, trainer, pl_module):
        if self.steps:  # the previous epoch's value (logged by the module's epoch-end hook)
            self.epochs.append(float(trainer.callback_metrics["train_loss"]))
        self.steps.append([])

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        self.steps[-1].append((float(loss), int(batch["past_target"].shape[0])))

    def on_train_end(self, trainer, pl_module):
        self.epochs.append(float(trainer.callback_metrics["train_loss"]))
        self.best = float(trainer.checkpoint_callback.best_model_score)


def test_epoch_train_loss_is_the_weighted_mean_of_step_losses(m4, tmp_path):
    """The module accumulates the epoch's ``train_loss`` itself (one log
    call per epoch): it equals the batch-size-weighted mean of the step
    losses (float32 sums, relative tolerance 1e-5), and GluonTS's checkpoint
    callback, which monitors it, restores the epoch with the lowest one."""
    pl.seed_everything(0)
    rec = EpochLossRecorder()
    est = estimator(tmp_path, epochs=3, batches=4, callbacks=[rec], batch_size=7)
    predictor = est.train(m4[0])
    assert len(rec.epochs) == 3 and all(len(s) == 4 for s in rec.steps)
    for steps, logged in zip(rec.steps, rec.epochs):
        mean = sum(l * n for l, n in steps) / sum(n for _, n in steps)
        assert logged == pytest.approx(mean, rel=1e-5)
    assert rec.best == pytest.approx(min(rec.epochs), rel=1e-6)
    assert predictor is not None


class FinalWeights(pl.Callback):
    """The weights at the end of training, and the checkpoint callback."""

    def on_train_end(self, trainer, pl_module):
        self.final = {k: v.detach().clone() for k, v in pl_module.state_dict().items()}
        self.ckpt = trainer.checkpoint_callback


@pytest.mark.parametrize("schedule, validation", [("cosine", False), ("cosine", True), ("plateau", False)])
def test_restored_weights(m4, tmp_path, schedule, validation):
    """Cosine schedule without validation data: GluonTS's train_model
    restores the final weights (the schedule's end point); with validation
    data or the plateau schedule it restores the checkpoint GluonTS chose
    (lowest monitored loss), not a final-weights file."""
    pl.seed_everything(0)
    rec = FinalWeights()
    est = estimator(tmp_path, epochs=3, batches=3, callbacks=[rec], lr_schedule=schedule)
    out = est.train_model(m4[0][:10], validation_data=m4[0][10:14] if validation else None)
    restored = out.trained_net.state_dict()
    path = rec.ckpt.best_model_path
    if schedule == "cosine" and not validation:
        assert path.endswith("final-step=9.ckpt")
        assert all(torch.equal(restored[k], rec.final[k]) for k in rec.final)
    else:
        assert "final-step" not in path
        saved = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
        assert all(torch.equal(restored[k], saved[k]) for k in saved)


@pytest.mark.parametrize("schedule", ["cosine", "plateau"])
def test_lr_schedule(tmp_path, m4, schedule):
    """Cosine: the rate decays from lr to lr * MIN_LR_FACTOR over exactly the
    planned max_epochs x num_batches_per_epoch steps; plateau keeps lr while
    the loss improves (patience 10 epochs)."""
    from gluonts_iqf.model._forking.lightning_module import MIN_LR_FACTOR

    pl.seed_everything(0)
    est = estimator(tmp_path, epochs=2, batches=3, lr=1e-3, lr_schedule=schedule)
    out = est.train_model(m4[0][:10])
    lr = out.trainer.optimizers[0].param_groups[0]["lr"]
    expected = 1e-3 * MIN_LR_FACTOR if schedule == "cosine" else 1e-3
    assert lr == pytest.approx(expected, rel=1e-9)
    with pytest.raises(ValueError, match="lr_schedule"):
        estimator(tmp_path, lr_schedule="linear").create_lightning_module()


def test_cosine_needs_a_finite_step_count(tmp_path, m4):
    est = estimator(tmp_path, trainer_kwargs=dict(max_epochs=-1, logger=False, enable_progress_bar=False,
                                                  default_root_dir=str(tmp_path)))
    with pytest.raises(ValueError, match="finite number of training steps"):
        est.train(m4[0][:5])
