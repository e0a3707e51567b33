"""The layer registry (see :mod:`convshape.layers.base`); importing this fills it."""

from convshape.layers import conv, pool  # noqa: F401  (registers the layer families)
from convshape.layers.base import REGISTRY, Layer, Shape
from convshape.layers.kinds import coerce, make

__all__ = ["REGISTRY", "Layer", "Shape", "coerce", "make"]
