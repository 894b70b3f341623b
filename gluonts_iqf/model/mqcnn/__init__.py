"""MQ-CNN (Wen et al. 2017) in PyTorch: module / lightning module / estimator."""

from .estimator import MQCNNEstimator
from .lightning_module import MQCNNLightningModule
from .module import MQCNNModel

__all__ = ["MQCNNEstimator", "MQCNNLightningModule", "MQCNNModel"]
