"""Forecasting models (GluonTS estimators)."""

from .mqcnn import MQCNNEstimator

__all__ = ["MQCNNEstimator"]
