"""Lightning callbacks for training any GluonTS estimator data-parallel."""

import lightning.pytorch as pl

from ...nn.distributed import distributed, seed_rank_streams


class DistinctRankStreams(pl.Callback):
    """Under Lightning DDP, reseed each rank's random generators (numpy,
    Python, torch) from the common seed plus its rank when fitting starts,
    so every rank draws its own training windows (GluonTS's instance
    samplers use numpy's global generator: without this, ranks started with
    the same ``seed_everything`` train on identical batches). The forking
    estimators do this themselves; pass it in ``trainer_kwargs["callbacks"]``
    of GluonTS's own estimators (e.g. DeepAR with ``IQFOutput``)."""

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage == "fit" and distributed():
            seed_rank_streams(trainer.global_rank)
