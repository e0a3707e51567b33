"""The inference engine: walk a :class:`Spec` with the input shape and predict every module.

The result is a tree of :class:`Node` (one per module of the built model, containers included,
with the same dotted paths as ``model.named_modules()``) plus the first error, if any. Nothing
here imports torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from itertools import takewhile

from convshape.errors import ConvshapeError, ShapeError
from convshape.layers import REGISTRY, Layer, Shape, make
from convshape.layers.base import fmt, forward_shape
from convshape.spec.model import (
    AUTO,
    ConcatDecl,
    Decl,
    LeafDecl,
    Origin,
    ResidualDecl,
    SeqDecl,
    Spec,
)


@dataclass(frozen=True)
class Node:
    """One module of the model as predicted."""

    path: str  # "4.body.0"; "" for the root
    type_name: str  # the torch class: Conv2d, Sequential, Residual, Concat
    decl: Decl
    input_shape: Shape
    output_shape: Shape
    depth: int
    layer: Layer | None = None  # leaves only, with inferred arguments filled in
    children: tuple[Node, ...] = ()
    num_params: int = 0
    trainable_params: int = 0
    macs: int = 0

    @property
    def name(self) -> str | None:
        return self.decl.name

    def walk(self) -> list[Node]:
        """This node and its descendants in ``named_modules()`` order."""
        out = [self]
        for child in self.children:
            out += child.walk()
        return out


@dataclass
class Prediction:
    spec: Spec
    root: Node | None = None
    error: ConvshapeError | None = None
    partial: list[Node] = field(default_factory=list)  # what was predicted before an error

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def rows(self) -> list[Node]:
        """Every module but the root, in ``named_modules()`` order."""
        if self.root is not None:
            return self.root.walk()[1:]
        return self.partial

    @property
    def output_shape(self) -> Shape | None:
        return self.root.output_shape if self.root else None


class _Walker:
    def __init__(self) -> None:
        self.done: list[tuple[int, Node]] = []  # (pre-order index, node), for partial reports
        self.entered = 0

    def node(self, decl: Decl, shape: Shape, parent: str, depth: int) -> Node:
        path = f"{parent}.{decl.key}" if parent else decl.key
        order = self.entered
        self.entered += 1
        try:
            if isinstance(decl, LeafDecl):
                node = self.leaf(decl, shape, path, depth)
            elif isinstance(decl, ResidualDecl):
                node = self.residual(decl, shape, path, depth)
            elif isinstance(decl, ConcatDecl):
                node = self.concat(decl, shape, path, depth)
            else:
                assert isinstance(decl, SeqDecl)
                node = self.sequence(decl, shape, path, depth)
            _check_expect(decl, node.output_shape)
        except ConvshapeError as exc:
            raise _locate(exc, decl, path, shape) from None
        self.done.append((order, node))
        return node

    def leaf(self, decl: LeafDecl, shape: Shape, path: str, depth: int) -> Node:
        cls, args = decl.cls, dict(decl.args)
        if cls.inferred and cls.inferred not in args:
            value = cls.infer(shape)
            if value is None:
                raise ShapeError(f"cannot infer {cls.inferred} from an input of shape {fmt(shape)}")
            args[cls.inferred] = value
        layer = make(cls, args)
        out = _within_int64(forward_shape(layer, shape))
        params = layer.num_params()
        trainable = params if decl.trainable else 0
        macs = layer.macs(shape, out)
        return Node(path, cls.__name__, decl, shape, out, depth, layer, (), params, trainable, macs)

    def sequence(self, decl: SeqDecl, shape: Shape, path: str, depth: int) -> Node:
        children: list[Node] = []
        current = shape
        for child in decl.children:
            try:
                node = self.node(_inherit(child, decl), current, path, depth + 1)
            except ShapeError as exc:
                raise _with_source(exc, child, children[-1] if children else None) from None
            children.append(node)
            current = node.output_shape
        return _container("Sequential", path, decl, shape, current, depth, children)

    def residual(self, decl: ResidualDecl, shape: Shape, path: str, depth: int) -> Node:
        assert decl.body is not None
        body = self.node(_inherit(decl.body, decl), shape, path, depth + 1)
        shortcut = decl.shortcut
        if shortcut == AUTO:
            shortcut = _projection(decl, shape, body.output_shape)
        children = [body]
        added = shape
        if isinstance(shortcut, SeqDecl):
            children.append(self.node(_inherit(shortcut, decl), shape, path, depth + 1))
            added = children[-1].output_shape
        if added != body.output_shape:
            what = "the shortcut" if isinstance(shortcut, SeqDecl) else "the identity shortcut"
            raise ShapeError(
                f"cannot add body and shortcut: body gives {fmt(body.output_shape)}, "
                f"{what} gives {fmt(added)}",
                hint="use `shortcut: auto` for a 1x1 conv + BatchNorm projection"
                if shortcut is None
                else None,
            )
        return _container("Residual", path, decl, shape, body.output_shape, depth, children)

    def concat(self, decl: ConcatDecl, shape: Shape, path: str, depth: int) -> Node:
        children = [self.node(_inherit(b, decl), shape, path, depth + 1) for b in decl.branches]
        outs = [c.output_shape for c in children]
        rank = len(outs[0])
        if not -rank <= decl.dim < rank:
            raise ShapeError(f"Concat dim={decl.dim} is out of range for rank-{rank} outputs")
        dim = decl.dim % rank
        for i, out in enumerate(outs):
            if len(out) != rank or any(
                a != b for j, (a, b) in enumerate(zip(out, outs[0], strict=True)) if j != dim
            ):
                raise ShapeError(
                    f"branch {i} gives {fmt(out)}, branch 0 gives {fmt(outs[0])}: "
                    f"Concat needs every size equal except along dim {dim}",
                )
        total = sum(out[dim] for out in outs)
        result = (*outs[0][:dim], total, *outs[0][dim + 1 :])
        return _container("Concat", path, decl, shape, result, depth, children)


def _container(
    type_name: str,
    path: str,
    decl: Decl,
    shape: Shape,
    out: Shape,
    depth: int,
    children: list[Node],
) -> Node:
    return Node(
        path,
        type_name,
        decl,
        shape,
        out,
        depth,
        None,
        tuple(children),
        sum(c.num_params for c in children),
        sum(c.trainable_params for c in children),
        sum(c.macs for c in children),
    )


def _inherit(child: Decl, parent: Decl) -> Decl:
    """A frozen container freezes what it holds."""
    return child if parent.trainable or not child.trainable else replace(child, trainable=False)


def _projection(decl: ResidualDecl, shape: Shape, out: Shape) -> SeqDecl | None:
    """`shortcut: auto`: identity if the body keeps the shape, else 1x1 conv (stride) + BN."""
    if out == shape:
        return None
    ndim = len(shape) - 2
    conv, norm = REGISTRY.get(f"Conv{ndim}d"), REGISTRY.get(f"BatchNorm{ndim}d")
    if len(out) != len(shape) or conv is None or norm is None:
        raise ShapeError(
            f"shortcut: auto needs a batched 1d-3d input with the body keeping the rank; "
            f"got {fmt(shape)} -> {fmt(out)}"
        )
    stride = tuple(math.ceil(i / o) for i, o in zip(shape[2:], out[2:], strict=True))
    origin = Origin(decl.origin.location, f"{decl.origin.spec_path}.shortcut", decl.origin.via)
    args = {"out_channels": out[1], "kernel_size": 1, "stride": stride, "bias": False}
    children = (
        LeafDecl(key="0", origin=origin, cls=conv, args=args),
        LeafDecl(key="1", origin=origin, cls=norm),
    )
    return SeqDecl(key="shortcut", origin=origin, children=children)


MAX_NUMEL = 2**63 - 1  # torch sizes and element counts are int64


def _within_int64(out: Shape, what: str = "output") -> Shape:
    """Refuse an output no torch tensor can have (and keep later formulas finite)."""
    numel = 1
    for size in out:
        numel *= size
    if numel > MAX_NUMEL:
        raise ShapeError(
            f"{what} {fmt(out)} would have about 2**{numel.bit_length() - 1} elements, more "
            "than a torch tensor can hold (2**63 - 1)"
        )
    return out


def _with_source(exc: ShapeError, decl: Decl, previous: Node | None) -> ShapeError:
    """A declared ``in_channels`` / ``in_features`` / ``num_features`` that does not fit: add
    where the input came from. After a reshape (Flatten, Unflatten) that is the reshape's
    formula, so the fitting value is derived in front of the user:
    ``size = prod(input[1:4]) = 3 * 8 * 8 = 192``; otherwise the previous layer's shapes."""
    if not isinstance(decl, LeafDecl) or previous is None or previous.layer is None:
        return exc
    field, shape = decl.cls.inferred, previous.output_shape
    if field is None or field not in decl.args or decl.cls.infer(shape) in (None, decl.args[field]):
        return exc  # nothing declared, or the declared value fits: the error is about another thing
    who = f"the input comes from {previous.decl.origin.spec_path} ({previous.type_name})"
    if len(shape) == len(previous.input_shape):
        lines = [f"{who}: {fmt(previous.input_shape)} -> {fmt(shape)}"]
    else:
        explain = previous.layer.explain(previous.input_shape, shape)
        shaping = takewhile(lambda line: not line.startswith(("params", "MACs")), explain)
        lines = [f"{who}:", *(f"  {line}" for line in shaping)]
    return ShapeError(
        exc.message, formula=[*exc.formula, *lines], hint=exc.hint, context=exc.context
    )


def _check_expect(decl: Decl, out: Shape) -> None:
    want = decl.expect
    if want is None:
        return
    if len(want) != len(out) or any(
        w is not None and w != o for w, o in zip(want, out, strict=False)
    ):
        shown = "[" + ", ".join("null" if w is None else str(w) for w in want) + "]"
        raise ShapeError(f"output shape {fmt(out)} does not match expect: {shown}")


def _locate(exc: ConvshapeError, decl: Decl, path: str, shape: Shape) -> ConvshapeError:
    origin = decl.origin
    return exc.located(
        location=origin.location,
        layer_path=path or None,
        spec_path=origin.spec_path,
        layer_name=decl.name,
        layer_type=f"{decl.block}: {decl_type(decl)}" if decl.block else decl_type(decl),
        input_shape=shape,
        via=origin.via,
    )


def predict(spec: Spec) -> Prediction:
    """Every module's shapes, params and MACs; stops at the first impossible layer."""
    walker = _Walker()
    try:
        _within_int64(spec.input_shape, "input")
    except ShapeError as exc:
        return Prediction(spec, None, exc.located(location=spec.input_location))
    try:
        root = walker.sequence(spec.root, spec.input_shape, "", 0)
    except ConvshapeError as exc:
        return Prediction(spec, None, exc, [node for _, node in sorted(walker.done)])
    return Prediction(spec, root)


def decl_type(decl: Decl) -> str:
    """The torch class a declaration builds: Conv2d, Sequential, Residual or Concat."""
    if isinstance(decl, LeafDecl):
        return decl.cls.__name__
    return {ResidualDecl: "Residual", ConcatDecl: "Concat"}.get(type(decl), "Sequential")
