"""MQF² (Kan et al. 2022): module / lightning module / estimator."""

from .estimator import MQF2Estimator
from .lightning_module import MQF2LightningModule
from .module import MQF2Model

__all__ = ["MQF2Estimator", "MQF2LightningModule", "MQF2Model"]
