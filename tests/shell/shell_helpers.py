"""Helpers of the ``gluonts.shell`` tests: a few short hourly series with a
daily cycle, quiet one-epoch trainer settings that write only under a given
folder, and the tiny estimators whose predictors are served."""

import numpy as np
import pandas as pd

from gluonts.torch import DeepAREstimator

from gluonts_iqf import IQFOutput, MQCNNEstimator, MQF2Estimator

FREQ = "h"
H = 6
NUM_SERIES = 6
LENGTH = 96

#: Settings of the tiny MQ-CNN, as the shell's flat hyperparameters would
#: give them (all but ``freq``, ``prediction_length``, ``trainer_kwargs``).
MQCNN_SETTINGS = dict(
    context_length=24, num_forking=4, channels_seq=[8, 8, 8], decoder_mlp_dim_seq=[8],
    local_context_dim=8, agnostic_context_dim=8, local_mlp_dim_seq=[8], num_seasonal_lags=1,
    seasonal_loc_fit_batches=2, batch_size=8, num_batches_per_epoch=3,
)


def make_series(num_series=NUM_SERIES, length=LENGTH, seed=0):
    """``num_series`` entries (item ids ``s0``, ``s1``, ...): level ``10 (i
    + 1)`` plus a daily sine of amplitude 3 and unit Gaussian noise,
    ``length`` float32 values each."""
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    return [
        {
            "start": pd.Period("2021-01-01 00:00", freq=FREQ),
            "target": (10.0 * (i + 1) + 3 * np.sin(2 * np.pi * t / 24) + rng.normal(size=length)).astype(
                np.float32
            ),
            "item_id": f"s{i}",
        }
        for i in range(num_series)
    ]


def trainer_kwargs(root):
    return dict(
        max_epochs=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        logger=False,
        default_root_dir=str(root),
    )


def make_estimator(name, root):
    """Tiny ``mqcnn`` (IQF head), ``mqf2`` or ``deepar`` (GluonTS's, with
    ``IQFOutput``): 3 batches of 8 windows, horizon ``H``."""
    if name == "mqcnn":
        return MQCNNEstimator(freq=FREQ, prediction_length=H, trainer_kwargs=trainer_kwargs(root), **MQCNN_SETTINGS)
    common = dict(freq=FREQ, prediction_length=H, batch_size=8, num_batches_per_epoch=3,
                  trainer_kwargs=trainer_kwargs(root))
    if name == "mqf2":
        return MQF2Estimator(context_length=24, channels_seq=[8, 8, 8], decoder_mlp_dim_seq=[8], hidden_dim=8,
                             context_dim=8, es_num_samples=8, num_seasonal_lags=1, **common)
    if name == "deepar":
        return DeepAREstimator(num_layers=1, hidden_size=8, dropout_rate=0.0, distr_output=IQFOutput(), **common)
    raise KeyError(name)
