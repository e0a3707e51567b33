"""The layer registry (see :mod:`convshape.layers.base`); importing this fills it."""

from convshape.layers import (  # noqa: F401  (each module registers its layer family)
    activation,
    attention,
    conv,
    fold,
    learned,
    norm,
    pad,
    pool,
    reshape,
    tensor,
    upsample,
)
from convshape.layers.base import REGISTRY, Layer, Shape
from convshape.layers.kinds import coerce, make

__all__ = ["REGISTRY", "Layer", "Shape", "coerce", "make"]
