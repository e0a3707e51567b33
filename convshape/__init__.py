"""convshape: predict, explain and verify the shapes of a PyTorch CNN written as YAML.

``load`` and ``predict`` never import torch; ``build`` and ``verify`` do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from convshape.engine import Node, Prediction, predict
from convshape.errors import ConvshapeError, ShapeError, SpecError, YamlError
from convshape.spec.decls import Spec
from convshape.spec.parse import load

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "ConvshapeError",
    "Node",
    "Prediction",
    "ShapeError",
    "Spec",
    "SpecError",
    "YamlError",
    "build",
    "load",
    "predict",
    "verify",
]


def build(spec: Spec | Prediction) -> nn.Sequential:
    """The real ``nn.Sequential`` (imports torch)."""
    from convshape.builder import build as _build

    return _build(spec)


def verify(spec: Spec | Prediction, **options: Any) -> Any:
    """Run the model on a dummy tensor and diff every layer against the prediction.

    Options: ``device`` ("cpu", "cuda" or "meta"), ``max_memory`` (bytes). Imports torch.
    """
    from convshape.verifier import verify as _verify

    prediction = spec if isinstance(spec, Prediction) else predict(spec)
    return _verify(prediction, **options)
