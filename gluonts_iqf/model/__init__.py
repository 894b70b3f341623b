"""Forecasting models (GluonTS estimators)."""

from .mqcnn import MQCNNEstimator
from .mqf2 import MQF2Estimator

__all__ = ["MQCNNEstimator", "MQF2Estimator"]
