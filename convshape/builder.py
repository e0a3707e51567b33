"""The builder: a predicted spec -> a real ``nn.Sequential`` (the torch side; imports torch).

It walks the engine's :class:`Node` tree, so every module sits at the dotted path the engine
reports, with the inferred arguments the engine chose.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from convshape.engine import Node, Prediction, predict
from convshape.errors import ConvshapeError
from convshape.modules import Concat, Residual
from convshape.spec.model import Spec


def torch_class(type_name: str) -> type[nn.Module]:
    """The torch class of a registered layer type."""
    cls = getattr(nn, type_name, None)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise LookupError(f"torch {nn.__name__} has no layer {type_name}")
    return cls


def build_node(node: Node) -> nn.Module:
    if node.layer is not None:
        module = torch_class(node.type_name)(**node.layer.kwargs())
        if not node.decl.trainable:
            module.requires_grad_(False)
        return module
    children = OrderedDict(
        (child.path.rsplit(".", 1)[-1], build_node(child)) for child in node.children
    )
    if node.type_name == "Residual":
        shortcut = children.get("shortcut")
        return Residual(children["body"], shortcut)  # type: ignore[arg-type]
    if node.type_name == "Concat":
        return Concat(list(children.values()), node.decl.dim)  # type: ignore[arg-type, attr-defined]
    return nn.Sequential(children)


def build(spec_or_prediction: Spec | Prediction) -> nn.Sequential:
    """A real ``nn.Sequential`` for a spec whose prediction succeeded."""
    prediction = (
        spec_or_prediction
        if isinstance(spec_or_prediction, Prediction)
        else predict(spec_or_prediction)
    )
    if prediction.error is not None:
        raise prediction.error
    assert prediction.root is not None
    model = build_node(prediction.root)
    assert isinstance(model, nn.Sequential)
    return model


__all__ = ["ConvshapeError", "build", "torch_class"]
