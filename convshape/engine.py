"""The inference engine: walk a :class:`Spec` with the input shape and predict every module.

The result is a tree of :class:`Node` (one per module of the built model, containers included,
with the same dotted paths as ``model.named_modules()``) plus the first error, if any. Nothing
here imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from itertools import takewhile
from math import prod
from typing import TypeVar

from convshape.containers import CONTAINERS
from convshape.errors import ConvshapeError, ShapeError
from convshape.layers import Layer, Shape
from convshape.layers.base import fmt, forward_shape
from convshape.layers.kinds import make_for_input, rank_hint
from convshape.spec.decls import BlockDecl, Decl, LeafDecl, MergeDecl, SeqDecl, Spec, decl_type

BYTES_PER_FLOAT32 = 4


@dataclass(frozen=True)
class Node:
    """One module of the model as predicted."""

    path: str  # "4.body.0"; "" for the root
    type_name: str  # the torch class (Conv2d) or the container type (Sequential, Residual)
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

    @property
    def key(self) -> str:
        """The module's key in its parent."""
        return self.path.rsplit(".", 1)[-1]

    def walk(self) -> list[Node]:
        """This node and its descendants in ``named_modules()`` order."""
        out = [self]
        for child in self.children:
            out += child.walk()
        return out

    def leaves(self) -> list[Node]:
        return [n for n in self.walk() if n.layer is not None]


@dataclass(frozen=True)
class Totals:
    """The figures of a whole prediction, summed once (leaves only; containers hold subtotals)."""

    params: int
    trainable_params: int
    macs: int
    activation_numel: int  # every leaf's output, as "Forward activations" counts them
    input_numel: int

    @property
    def non_trainable_params(self) -> int:
        return self.params - self.trainable_params

    @property
    def flops(self) -> int:
        return 2 * self.macs

    @property
    def param_bytes(self) -> int:
        return BYTES_PER_FLOAT32 * self.params

    @property
    def activation_bytes(self) -> int:
        return BYTES_PER_FLOAT32 * self.activation_numel

    @classmethod
    def of(cls, root: Node, input_shape: Shape) -> Totals:
        leaves = root.leaves()
        return cls(
            params=sum(n.num_params for n in leaves),
            trainable_params=sum(n.trainable_params for n in leaves),
            macs=sum(n.macs for n in leaves),
            activation_numel=sum(prod(n.output_shape) for n in leaves),
            input_numel=prod(input_shape),
        )


@dataclass
class Prediction:
    spec: Spec
    root: Node | None = None
    error: ConvshapeError | None = None
    partial: list[Node] = field(default_factory=list)  # what was predicted before an error
    totals: Totals | None = None  # set when the prediction succeeded

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
    def __init__(self, expects: bool = True, training: bool = False) -> None:
        self.done: list[tuple[int, Node]] = []  # (pre-order index, node), for partial reports
        self.entered = 0
        self.expects = expects
        self.training = training

    def node(self, decl: Decl, shape: Shape, parent: str, depth: int) -> Node:
        path = f"{parent}.{decl.key}" if parent else decl.key
        if isinstance(decl, BlockDecl):  # a block's body, now that its input is known
            try:
                decl = _inherit(decl.expand(shape), decl)
            except ConvshapeError as exc:
                raise _locate(exc, decl, path, shape) from None
        order = self.entered
        self.entered += 1
        try:
            if isinstance(decl, LeafDecl):
                node = self.leaf(decl, shape, path, depth)
            elif isinstance(decl, MergeDecl):
                node = self.merge(decl, shape, path, depth)
            else:
                assert isinstance(decl, SeqDecl)
                node = self.sequence(decl, shape, path, depth)
        except ConvshapeError as exc:
            if exc.context.location is not None:
                raise  # located at an inner layer already: never add an enclosing name
            raise _locate(exc, decl, path, shape) from None
        if self.expects:
            _check_expect(decl, node, shape)
        self.done.append((order, node))
        return node

    def leaf(self, decl: LeafDecl, shape: Shape, path: str, depth: int) -> Node:
        cls = decl.cls
        layer = make_for_input(cls, decl.args, shape)
        _weightswithin_int64(layer)
        try:
            out = within_int64(forward_shape(layer, shape, self.training, empty=True))
        except ShapeError as exc:
            hint = exc.hint or rank_hint(cls, shape)
            raise ShapeError(exc.message, formula=exc.formula, hint=hint) from None
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

    def merge(self, decl: MergeDecl, shape: Shape, path: str, depth: int) -> Node:
        """Every branch on the same input, then the container type's merge rule."""
        rule = CONTAINERS[decl.kind]
        children: list[Node] = []
        outs: list[Shape] = []
        for branch, x in zip(decl.branches, rule.inputs(decl, shape), strict=True):
            layers = branch.layers
            if layers is None and children:
                stride = _stride(children[0], len(shape) - 2)
                layers = rule.auto_branch(decl, shape, outs[0], stride)
            if layers is None:  # the identity
                outs.append(x)
                continue
            children.append(self.node(_inherit(layers, decl), x, path, depth + 1))
            outs.append(children[-1].output_shape)
        out = within_int64(rule.merge(decl, outs))
        return _container(decl.kind, path, decl, shape, out, depth, children)


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
    """A frozen container (or block use) freezes what it holds."""
    return child if parent.trainable or not child.trainable else replace(child, trainable=False)


def _stride(node: Node, ndim: int) -> tuple[int, ...] | None:
    """The product of a branch's window strides per spatial dim; None if one of its parts
    changes spatial sizes other than by a stride (padding, upsampling, adaptive pooling).
    A part that keeps the spatial size (a squeeze-excitation Gate) counts as stride 1."""
    if ndim < 1:
        return None
    same_rank = len(node.input_shape) == len(node.output_shape)
    if same_rank and node.input_shape[-ndim:] == node.output_shape[-ndim:]:
        return (1,) * ndim
    if node.layer is not None:
        step = node.layer.window_stride()
        return step if step is not None and len(step) == ndim else None
    if node.type_name != "Sequential":  # a merge: its branches agree; the first one tells
        return _stride(node.children[0], ndim) if node.children else None
    total = [1] * ndim
    for child in node.children:
        step = _stride(child, ndim)
        if step is None:
            return None
        total = [a * b for a, b in zip(total, step, strict=True)]
    return tuple(total)


MAX_NUMEL = 2**63 - 1  # torch sizes and element counts are int64
MAX_BYTES = 2**63 - 1  # and so is a storage's byte count, on every device, meta included


def within_int64(out: Shape, what: str = "output") -> Shape:
    """Refuse an output no torch tensor can have, even on meta (and keep formulas finite)."""
    numel = prod(out)
    if numel > MAX_NUMEL:
        raise ShapeError(
            f"{what} {fmt(out)} would have about 2**{numel.bit_length() - 1} elements, more "
            "than a torch tensor can hold (2**63 - 1)"
        )
    if numel * BYTES_PER_FLOAT32 > MAX_BYTES:
        raise ShapeError(
            f"{what} {fmt(out)} would need about 2**{(numel * 4).bit_length() - 1} bytes as "
            "float32, more than torch can allocate, even on meta (2**63 - 1 bytes)"
        )
    return out


def _weightswithin_int64(layer: Layer) -> None:
    """Refuse weights torch cannot allocate, even on meta, at the layer (not in the builder)."""
    params = layer.num_params()
    if params * BYTES_PER_FLOAT32 > MAX_BYTES:
        raise ShapeError(
            f"the weights would have about 2**{params.bit_length() - 1} elements, "
            f"2**{(params * 4).bit_length() - 1} bytes as float32: more than torch can "
            "allocate, even on meta (2**63 - 1 bytes)"
        )


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


def _check_expect(decl: Decl, node: Node, shape: Shape) -> None:
    """``expect:``, reported at the ``expect`` itself (a block's use site, not its body)."""
    want, out = decl.expect, node.output_shape
    if want is None:
        return
    if len(want) != len(out) or any(
        w is not None and w != o for w, o in zip(want, out, strict=False)
    ):
        shown = "[" + ", ".join("null" if w is None else str(w) for w in want) + "]"
        err = ShapeError(f"output shape {fmt(out)} does not match expect: {shown}")
        origin = decl.use or decl.origin
        raise err.located(
            location=decl.expect_location or origin.location,
            layer_path=node.path or None,
            spec_path=origin.spec_path,
            layer_name=decl.name,
            layer_type=node_type(decl),
            input_shape=shape,
            via=origin.via,
        )


E = TypeVar("E", bound=ConvshapeError)


def locate(exc: E, node: Node) -> E:
    """``exc`` with the place of a predicted module: the one home for locating at a node."""
    located = _locate(exc, node.decl, node.path, node.input_shape)
    assert isinstance(located, type(exc))
    return located


def _locate(exc: ConvshapeError, decl: Decl, path: str, shape: Shape) -> ConvshapeError:
    origin = decl.origin
    return exc.located(
        location=origin.location,
        layer_path=path or None,
        spec_path=origin.spec_path,
        layer_name=decl.name,
        layer_type=node_type(decl),
        input_shape=shape,
        via=origin.via,
    )


def node_type(decl: Decl) -> str:
    """``Bottleneck: Residual`` for a block instance, else the type."""
    return f"{decl.block}: {decl_type(decl)}" if decl.block else decl_type(decl)


def predict(spec: Spec) -> Prediction:
    """Every module's shapes, params and MACs; stops at the first impossible layer."""
    if spec.restart is not None:
        spec.restart()
    walker = _Walker(spec.expects, spec.training)
    try:
        within_int64(spec.input_shape, "input")
    except ShapeError as exc:
        return Prediction(spec, None, exc.located(location=spec.input_location))
    try:
        root = walker.sequence(spec.root, spec.input_shape, "", 0)
    except ConvshapeError as exc:
        return Prediction(spec, None, exc, [node for _, node in sorted(walker.done)])
    return Prediction(spec, root, totals=Totals.of(root, spec.input_shape))


def writes_input(node: Node) -> bool:
    """Whether running ``node`` overwrites the tensor it is given: an in-place layer reached
    before any layer that makes a new tensor (views and identities pass the input on).
    Merges protect their branches, so they never write their input."""
    if node.layer is not None:
        return node.layer.writes_input()
    if node.type_name != "Sequential":
        return False  # a merge gives each branch that would write its input a copy
    for child in node.children:
        if writes_input(child):
            return True
        if not _aliases_input(child):
            return False
    return False


def _aliases_input(node: Node) -> bool:
    if node.layer is not None:
        return node.layer.aliases_input()
    return node.type_name == "Sequential" and all(_aliases_input(c) for c in node.children)
