"""Distributions: the IQF quantile function, the MQF² convex quantile map,
and their GluonTS outputs."""

from .convex import ConvexQuantileMap, ConvexQuantileOutput
from .iqf import IQF, IQFOutput

__all__ = ["ConvexQuantileMap", "ConvexQuantileOutput", "IQF", "IQFOutput"]
