"""Distributions: the IQF quantile function and its GluonTS output."""

from .iqf import IQF, IQFOutput

__all__ = ["IQF", "IQFOutput"]
