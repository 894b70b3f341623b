"""The shared base of the forking-sequence estimators (MQ-CNN, MQF²): the
GluonTS transformations and prediction windows, the training-window loader,
the Lightning training loop and the estimator base class."""

from .estimator import ForkingEstimator
from .lightning_module import ForkingLightningModule

__all__ = ["ForkingEstimator", "ForkingLightningModule"]
