"""Static covariates as one feature vector."""

import pytest
import torch

from gluonts_iqf.nn.static import static_embedder, static_features


def test_static_features_concatenate_embeddings_and_reals():
    """Embedded categories (GluonTS's FeatureEmbedder) then the real
    features; None without static features; mismatched embedding sizes fail."""
    torch.manual_seed(0)
    emb = static_embedder([3, 5], [2, 4])
    cat = torch.tensor([[0, 4], [2, 1]])
    real = torch.tensor([[1.5], [-2.0]])
    out = static_features(emb, cat, real, 1)
    assert out.shape == (2, 2 + 4 + 1)
    torch.testing.assert_close(out[:, :6], emb(cat))
    torch.testing.assert_close(out[:, 6:], real)
    assert static_features(None, cat, real, 0) is None
    assert static_features(None, None, None, 0) is None
    assert static_embedder([], []) is None
    with pytest.raises(ValueError, match="embedding_dimension"):
        static_embedder([3], [2, 2])
