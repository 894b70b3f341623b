"""Trains one estimator in this process or under Lightning DDP and writes
what the DDP tests check (run as a script by tests/model/_forking/test_ddp.py;
Lightning's DDP launcher starts the second rank by running it again).

usage: python ddp_run.py OUTDIR MODEL DEVICES BATCH_SIZE
MODEL: mqcnn, mqf2 or deepar (GluonTS's DeepAR with IQFOutput).
Writes, per rank: ``rank{r}.pt`` (the parameters at the end of training and
the step losses); rank 0 also ``predictor/`` (the serialized predictor).
"""

import json
import os
import sys
from pathlib import Path

import lightning.pytorch as pl
import torch


class Record(pl.Callback):
    """Step losses, and the parameters at the end of training (before
    GluonTS reloads a checkpoint)."""

    def __init__(self):
        self.losses, self.logged = [], []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.losses.append(float(outputs["loss"] if isinstance(outputs, dict) else outputs))

    def on_train_epoch_start(self, trainer, pl_module):
        # the previous epoch's loss as the checkpoint monitors it (logged by
        # the module's own epoch-end hook, which runs after the callbacks')
        if "train_loss" in trainer.callback_metrics:
            self.logged.append(float(trainer.callback_metrics["train_loss"]))

    def on_train_end(self, trainer, pl_module):
        self.logged.append(float(trainer.callback_metrics["train_loss"]))
        self.params = {k: v.detach().clone() for k, v in pl_module.state_dict().items()}


def main(outdir: str, model: str, devices: int, batch_size: int) -> None:
    from gluonts_iqf import IQFOutput, MQCNNEstimator, MQF2Estimator, datasets

    torch.set_num_threads(1)
    out = Path(outdir)
    data = [dict(e, target=e["target"][-300:]) for e in list(datasets.load("m4_hourly").train)[:24]]
    rec = Record()
    trainer = dict(max_epochs=4, accelerator="cpu", devices=devices, enable_progress_bar=False,
                   enable_model_summary=False, logger=False, default_root_dir=str(out / "root"),
                   callbacks=[rec])
    if devices > 1:
        trainer["strategy"] = "ddp"
    common = dict(prediction_length=24, batch_size=batch_size, num_batches_per_epoch=10, trainer_kwargs=trainer)
    pl.seed_everything(0)
    if model == "mqcnn":
        est = MQCNNEstimator(freq="h", context_length=72, channels_seq=[8, 8, 8], lr=1e-2, **common)
    elif model == "mqf2":
        est = MQF2Estimator(freq="h", hidden_dim=8, context_dim=8, es_num_samples=8, num_parallel_samples=50,
                            lr_schedule="cosine", lr=1e-2, **common)
    else:
        from gluonts.torch import DeepAREstimator

        from gluonts_iqf.model import DistinctRankStreams

        trainer["callbacks"].append(DistinctRankStreams())  # GluonTS's module does not reseed per rank
        est = DeepAREstimator(freq="h", num_layers=1, hidden_size=8, distr_output=IQFOutput(), lr=1e-2, **common)
    output = est.train_model(data)
    rank = int(os.environ.get("LOCAL_RANK", 0))
    torch.save({"params": rec.params, "losses": rec.losses, "logged": rec.logged, "world": devices},
               out / f"rank{rank}.pt")
    if rank == 0:
        (out / "predictor").mkdir(exist_ok=True)
        output.predictor.serialize(out / "predictor")
        (out / "done.json").write_text(json.dumps({"steps": len(rec.losses)}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
