"""Neural-network building blocks with no model of their own (no GluonTS
estimator logic): the PICNN of MQF², the causal convolution encoder, MQ-Transformer's
decoder-encoder attention, the MLP,
causal scalers, static-feature embedding, seasonal-lag features and the seasonal location, and the
forking-window cuts shared by MQ-CNN and MQF²."""

from .attention import HorizonAttention
from .encoder import CausalConvEncoder
from .forking import forking_history, forking_targets, forking_windows
from .lags import gather_seasonal_lags, recent_lag_offsets, seasonal_lag_offsets
from .location import StepwiseLinear, fit_l1_linear, seasonal_naive_linear
from .mlp import mlp
from .picnn import PICNN
from .scaler import CausalMeanScaler, CausalNOPScaler, causal_mean_abs_change, causal_mean_abs_scale, spread_scale
from .static import static_embedder, static_features

__all__ = [
    "CausalConvEncoder",
    "CausalMeanScaler",
    "CausalNOPScaler",
    "HorizonAttention",
    "PICNN",
    "StepwiseLinear",
    "causal_mean_abs_change",
    "causal_mean_abs_scale",
    "fit_l1_linear",
    "forking_history",
    "forking_targets",
    "forking_windows",
    "gather_seasonal_lags",
    "mlp",
    "recent_lag_offsets",
    "seasonal_lag_offsets",
    "seasonal_naive_linear",
    "spread_scale",
    "static_embedder",
    "static_features",
]
