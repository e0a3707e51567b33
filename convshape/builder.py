"""The builder: a predicted spec -> a real ``nn.Sequential`` (the torch side; imports torch).

It walks the engine's :class:`Node` tree, so every module sits at the dotted path the engine
reports, with the inferred arguments the engine chose. A leaf becomes its layer type's
:attr:`~convshape.layers.base.Layer.torch_module`; a container the class its entry of
:data:`~convshape.containers.CONTAINERS` names in :mod:`convshape.modules`.
"""

from __future__ import annotations

import importlib
from collections import OrderedDict

from torch import nn

from convshape import modules
from convshape.containers import CONTAINERS
from convshape.engine import Node, Prediction, predict, writes_input
from convshape.errors import ConvshapeError
from convshape.layers import Layer
from convshape.spec.decls import MergeDecl, Spec


def torch_class(layer_type: type[Layer]) -> type[nn.Module]:
    """The torch module class of a registered layer type."""
    where = layer_type.torch_module
    if where is None:
        owner, name = nn, layer_type.__name__
    else:
        module_name, _, name = where.rpartition(".")
        owner = importlib.import_module(module_name)
    cls = getattr(owner, name, None)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise LookupError(f"{owner.__name__} has no module class {name}")
    return cls


def build_node(node: Node) -> nn.Module:
    if node.layer is not None:
        module = torch_class(type(node.layer))(**node.layer.kwargs())
        if not node.decl.trainable:
            module.requires_grad_(False)
        return module
    built = OrderedDict((child.key, build_node(child)) for child in node.children)
    decl = node.decl
    if not isinstance(decl, MergeDecl):
        return nn.Sequential(built)
    rule = CONTAINERS[decl.kind]
    branches, options = rule.call(decl)
    args = [built.get(key) for keyword, key in branches if keyword is None]
    kwargs = {keyword: built.get(key) for keyword, key in branches if keyword is not None}
    clone = frozenset(child.key for child in node.children if writes_input(child))
    merge: nn.Module = getattr(modules, rule.torch_class)(*args, **kwargs, **options, clone=clone)
    return merge


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
