"""Neural-network building blocks (no GluonTS dependency)."""

from .picnn import PICNN

__all__ = ["PICNN"]
