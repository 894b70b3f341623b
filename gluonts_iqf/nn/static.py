"""Static covariates of a series as one feature vector: GluonTS's
categorical embeddings next to the real-valued static features."""

from typing import Optional, Sequence

import torch
from torch import Tensor

from gluonts.torch.modules.feature import FeatureEmbedder


def static_embedder(cardinality: Sequence[int], embedding_dimension: Sequence[int]) -> Optional[FeatureEmbedder]:
    """GluonTS's ``FeatureEmbedder`` for the categories (None without any);
    a ValueError unless there is one embedding size per category."""
    if len(cardinality) != len(embedding_dimension):
        raise ValueError(
            "cardinality and embedding_dimension must have the same length, "
            f"got {list(cardinality)} and {list(embedding_dimension)}"
        )
    return FeatureEmbedder(list(cardinality), list(embedding_dimension)) if cardinality else None


def static_features(
    embedder: Optional[FeatureEmbedder],
    feat_static_cat: Optional[Tensor],
    feat_static_real: Optional[Tensor],
    num_feat_static_real: int,
) -> Optional[Tensor]:
    """The embedded categories followed by the real static features.

    feat_static_cat (B, n_cat), feat_static_real (B, n_real) -> (B,
    sum(embedding_dimension) + num_feat_static_real), or None when the
    model has no static features (the placeholder fields GluonTS pipelines
    fill in are ignored then).
    """
    parts = []
    if embedder is not None:
        parts.append(embedder(feat_static_cat))
    if num_feat_static_real:
        parts.append(feat_static_real)
    return torch.cat(parts, dim=-1) if parts else None
