"""Shared helpers of the MQ-CNN module tests: a small model and a random
batch with a padded start."""

import torch

from gluonts_iqf import IQFOutput
from gluonts_iqf.model.mqcnn.module import MQCNNModel

B, C, H = 3, 20, 5


def make_model(n_known=2, n_past=0, n_static_real=0, cardinality=(), num_forking=C, distr_output=None, **kw):
    return MQCNNModel(
        prediction_length=H,
        context_length=C,
        num_forking=num_forking,
        distr_output=distr_output or IQFOutput(knot_levels=[0.1, 0.5, 0.9], num_pieces=2),
        num_feat_dynamic_real=n_known,
        num_past_feat_dynamic_real=n_past,
        num_feat_static_real=n_static_real,
        cardinality=list(cardinality),
        embedding_dimension=[2] * len(cardinality),
        channels_seq=(8, 8),
        dilation_seq=(1, 2),
        kernel_size_seq=(3, 2),
        decoder_mlp_dim_seq=(16,),
        local_context_dim=6,
        agnostic_context_dim=4,
        local_mlp_dim_seq=(8,),
        **kw,
    )


def make_batch(n_known=2, n_past=0, n_static_real=0, cardinality=(), seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    batch = dict(
        feat_static_cat=torch.stack([torch.randint(0, c, (B,), generator=g) for c in cardinality], -1)
        if cardinality else torch.zeros(B, 1, dtype=torch.long),
        feat_static_real=torch.randn(B, max(n_static_real, 1), generator=g, dtype=dtype),
        past_target=(torch.rand(B, C, generator=g, dtype=dtype) * 50 + 10),
        past_observed_values=(torch.rand(B, C, generator=g) > 0.1).to(dtype),
        feat_dynamic_real=torch.randn(B, C + H, n_known, generator=g, dtype=dtype),
        future_target=torch.rand(B, H, generator=g, dtype=dtype) * 50 + 10,
        future_observed_values=(torch.rand(B, H, generator=g) > 0.1).to(dtype),
    )
    batch["past_observed_values"][0, :7] = 0  # a padded start
    if n_past:
        batch["past_feat_dynamic_real"] = torch.randn(B, C, n_past, generator=g, dtype=dtype)
    return batch


def prediction_inputs(batch):
    return {k: v for k, v in batch.items() if not k.startswith("future_")}
