"""Forecasting models (GluonTS estimators), and the callback that makes any
GluonTS estimator draw distinct training windows on each DDP rank."""

from ._forking.callbacks import DistinctRankStreams
from .mqcnn import MQCNNEstimator
from .mqf2 import MQF2Estimator

__all__ = ["DistinctRankStreams", "MQCNNEstimator", "MQF2Estimator"]
