"""Helpers shared by the distribution tests: the spline-grid reference of an
IQF's queries and small GluonTS estimators with an IQF head."""

import lightning.pytorch as pl
import torch

from gluonts.torch import (
    DeepAREstimator,
    DLinearEstimator,
    PatchTSTEstimator,
    SimpleFeedForwardEstimator,
    TemporalFusionTransformerEstimator,
    TiDEEstimator,
)

from gluonts_iqf.distributions import _grid


def grid_reference(d):
    """cdf, crps and quantile functions of the IQF ``d`` through the grid
    formulas (:mod:`gluonts_iqf.distributions._grid`), and its integrals
    ``mean``, ``first_moment`` (B,) and ``cum`` (B, N) on the grid."""
    p, g = d._params, d._grid
    cum, mean, a1 = _grid.integrals(g.x, g.y, p.s_left, p.s_right)

    def cdf(value):
        z, ss = d._to_flat(value)
        return d._from_flat(_grid.cdf(g.x, g.y, p.s_left, p.s_right, d._standardize(z)), ss)

    def crps(value):
        z, ss = d._to_flat(value)
        c = _grid.crps(g.x, g.y, p.s_left, p.s_right, cum, mean, a1, d._standardize(z))
        return d._from_flat(p.scale * c, ss)

    def icdf(value):
        u, ss = d._to_flat(value)
        q = _grid.quantile(g.x, g.y, p.s_left, p.s_right, u)
        return d._from_flat(p.loc + p.scale * (p.ref + q), ss)

    return cdf, crps, icdf, mean, a1, cum


class FiniteTraining(pl.Callback):
    """Records every training loss and fails on a non-finite loss or
    gradient."""

    def __init__(self):
        self.losses = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        self.losses.append(float(loss))

    def on_after_backward(self, trainer, pl_module):
        for name, p in pl_module.named_parameters():
            if p.grad is not None and not torch.isfinite(p.grad).all():
                raise AssertionError(f"non-finite gradient in {name}")


def trainer_kwargs(root, callbacks=()):
    return dict(
        max_epochs=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        logger=False,
        default_root_dir=str(root),
        callbacks=list(callbacks),
    )


def make_estimator(name, distr_output, root, callbacks=(), batches=6):
    kw = dict(
        prediction_length=48,
        batch_size=32,
        num_batches_per_epoch=batches,
        distr_output=distr_output,
        trainer_kwargs=trainer_kwargs(root, callbacks),
    )
    if name == "deepar":
        return DeepAREstimator(freq="h", num_layers=1, hidden_size=16, **kw)
    if name == "sff":
        return SimpleFeedForwardEstimator(hidden_dimensions=[32, 32], **kw)
    if name == "tft":
        return TemporalFusionTransformerEstimator(freq="h", hidden_dim=16, **kw)
    if name == "patchtst":
        return PatchTSTEstimator(
            patch_len=16, context_length=96, d_model=16, num_encoder_layers=1, **kw
        )
    if name == "dlinear":
        return DLinearEstimator(**kw)
    if name == "tide":
        return TiDEEstimator(freq="h", **kw)
    raise KeyError(name)
