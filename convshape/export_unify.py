"""The uses of each block, unified into one class with constructor parameters (for export).

Each predicted module becomes an expression (:class:`X`): a leaf layer with all its arguments,
a Sequential, a merge, or the use of a block's class. The uses of one block are walked side by
side: where they agree the class writes the value; where they differ it takes a parameter
(:class:`Hole`): a value (a channel count, a stride), or a whole module where the uses differ in
structure (a shortcut only some uses have). Blocks are unified innermost first, so an outer
block's uses already call the inner class.
"""

from __future__ import annotations

import dataclasses
import keyword
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from convshape.containers import CONTAINERS
from convshape.engine import Node, Prediction, writes_input
from convshape.layers import Layer, Shape
from convshape.spec.decls import MergeDecl

RESERVED = {"self", "x", "super", "torch", "nn"}


@dataclass(eq=False)
class X:
    """A module as an expression; ``shapes``/``inputs``: its output/input, per use."""

    shapes: list[Shape]
    inputs: list[Shape]
    group: Group | None = field(default=None, init=False)


@dataclass(eq=False)
class LeafX(X):
    cls: type[Layer] = Layer
    values: list[tuple[str, Any]] = field(default_factory=list)
    defaults: dict[str, Any] = field(default_factory=dict)
    frozen: bool = False


@dataclass(eq=False)
class SeqX(X):
    children: list[tuple[str, Any]] = field(default_factory=list)  # X or Hole


@dataclass(eq=False)
class MergeX(X):
    kind: str = ""
    call: list[tuple[str | None, str]] = field(default_factory=list)
    branches: dict[str, Any] = field(default_factory=dict)  # X, Hole or None
    options: list[tuple[str, Any]] = field(default_factory=list)
    clone: Any = frozenset()


@dataclass(eq=False)
class UseX(X):
    name: str = ""  # the block's class
    args: list[tuple[str, Any]] = field(default_factory=list)


@dataclass(eq=False)
class Hole:
    """A constructor parameter: its value in each use (values, or modules for ``module``)."""

    name: str
    values: list[Any]
    module: bool
    derived: str | None = None  # "4 * width": a multiple of another parameter, not one itself

    @property
    def code(self) -> str:
        return self.derived or self.name

    def annotation(self) -> str:
        if self.module:
            return "nn.Module | None" if any(v is None for v in self.values) else "nn.Module"
        kinds = []
        for value in self.values:
            text = _type_name(value)
            if text not in kinds:
                kinds.append(text)
        return " | ".join(kinds)


def _type_name(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, tuple):
        inner = {_type_name(v) for v in value}
        return f"tuple[{inner.pop()}, ...]" if len(inner) == 1 else "tuple"
    if isinstance(value, frozenset):
        return "frozenset[str]"
    return type(value).__name__


@dataclass(eq=False)
class Group:
    """One class: its name, its template, its parameters, the uses it stands for."""

    name: str
    uses: list[X]
    holes: list[Hole]
    block: str | None
    count: int
    nodes: list[Node] = field(default_factory=list)
    template: X = field(init=False)
    batched: bool = True

    def __post_init__(self) -> None:
        self.template = self.uses[0]

    def doc(self) -> str:
        if self.block is None:
            return "The whole network, as convshape builds it."
        times = "once" if self.count == 1 else f"{self.count} times"
        return f"Block {self.block}, used {times}."


def _typed(values: list[Any]) -> list[tuple[type, Any]]:
    return [(type(v), v) for v in values]


def _signature(x: X) -> tuple[Any, ...]:
    """What must agree for two modules to share code (else the place is a module parameter)."""
    if isinstance(x, LeafX):
        return ("leaf", x.cls, x.frozen)
    if isinstance(x, SeqX):
        return ("seq", tuple(k for k, _ in x.children))
    if isinstance(x, MergeX):
        return ("merge", x.kind, tuple(x.call), tuple(x.branches), tuple(k for k, _ in x.options))
    assert isinstance(x, UseX)
    return ("use", x.name, tuple(k for k, _ in x.args))


class Unifier:
    """Every block's classes (:attr:`groups`, innermost first) and the root expression."""

    def __init__(self, prediction: Prediction) -> None:
        assert prediction.root is not None
        self.prediction = prediction
        self.uses: dict[int, UseX] = {}
        self.groups: list[Group] = []
        self.holes: list[Hole] = []
        self.batched = not prediction.spec.unbatched
        instances: dict[str, list[Node]] = defaultdict(list)
        heights: dict[str, int] = defaultdict(int)
        self._collect(prediction.root, instances, heights)
        names: set[str] = set()
        for block in sorted(instances, key=lambda b: (heights[b], b)):
            self._unify_block(block, instances[block], names)

    def _collect(
        self, node: Node, instances: dict[str, list[Node]], heights: dict[str, int]
    ) -> int:
        height = max((self._collect(c, instances, heights) for c in node.children), default=0)
        block = node.decl.block
        if block is not None and node.layer is None:
            instances[block].append(node)
            heights[block] = max(heights[block], height + 1)
            return height + 1
        return height

    def root(self) -> X:
        assert self.prediction.root is not None
        self.holes = []
        x = self.expr(self.prediction.root, top=True)
        return x

    # ------------------------------------------------------------------------- expressions

    def expr(self, node: Node, top: bool = False) -> X:
        shapes, inputs = [node.output_shape], [node.input_shape]
        use = None if top else self.uses.get(id(node))
        if use is not None:
            return UseX(shapes, inputs, name=use.name, args=use.args)
        if node.layer is not None:
            fields = dataclasses.fields(node.layer)
            return LeafX(
                shapes,
                inputs,
                cls=type(node.layer),
                values=[(f.name, getattr(node.layer, f.name)) for f in fields],
                defaults={f.name: f.default for f in fields},
                frozen=not node.decl.trainable,
            )
        decl = node.decl
        if not isinstance(decl, MergeDecl):
            return SeqX(shapes, inputs, children=[(c.key, self.expr(c)) for c in node.children])
        call, options = CONTAINERS[decl.kind].call(decl)
        children = {child.key: child for child in node.children}
        return MergeX(
            shapes,
            inputs,
            kind=decl.kind,
            call=call,
            branches={
                b.key: self.expr(children[b.key]) if b.key in children else None
                for b in decl.branches
            },
            options=sorted(options.items()),
            clone=frozenset(c.key for c in node.children if writes_input(c)),
        )

    # ------------------------------------------------------------------------------ blocks

    def _unify_block(self, block: str, nodes: list[Node], names: set[str]) -> None:
        exprs = [self.expr(node, top=True) for node in nodes]
        kinds: dict[tuple[Any, ...], list[int]] = {}
        for i, x in enumerate(exprs):
            kinds.setdefault(_signature(x), []).append(i)
        for n, members in enumerate(kinds.values()):
            name = _unique(block if n == 0 else f"{block}{n + 1}", names)
            names.add(name)
            self.holes = []
            template = self.unify([exprs[i] for i in members], "module")
            assert isinstance(template, X)
            group = Group(name, [template], self.holes, block, len(members))
            group.nodes = [nodes[i] for i in members]
            group.batched = self.batched
            _name_holes(group)
            _derive(group)
            own(template, group)
            self.groups.append(group)
            for k, i in enumerate(members):
                args = [(h.name, h.values[k]) for h in group.holes if h.derived is None]
                self.uses[id(nodes[i])] = UseX([], [], name=name, args=args)

    def unify(self, xs: list[Any], hint: str) -> Any:
        """The template of ``xs`` (one module per use): X, a module :class:`Hole`, or None."""
        if all(x is None for x in xs):
            return None
        first = xs[0]
        if any(not isinstance(x, X) for x in xs) or any(
            _signature(x) != _signature(first) for x in xs
        ):
            hole = Hole(hint, list(xs), module=True)
            self.holes.append(hole)
            return hole
        shapes = [s for x in xs for s in x.shapes]
        inputs = [s for x in xs for s in x.inputs]
        if isinstance(first, LeafX):
            values = [(k, self.value([x.values[i][1] for x in xs], k))
                      for i, (k, _) in enumerate(first.values)]  # fmt: skip
            return LeafX(shapes, inputs, cls=first.cls, values=values, defaults=first.defaults,
                         frozen=first.frozen)  # fmt: skip
        if isinstance(first, SeqX):
            children = [(k, self.unify([x.children[i][1] for x in xs], _hint(k)))
                        for i, (k, _) in enumerate(first.children)]  # fmt: skip
            return SeqX(shapes, inputs, children=children)
        if isinstance(first, MergeX):
            branches = {k: self.unify([x.branches[k] for x in xs], _hint(k))
                        for k in first.branches}  # fmt: skip
            options = [(k, self.value([x.options[i][1] for x in xs], k))
                       for i, (k, _) in enumerate(first.options)]  # fmt: skip
            clone = self.value([x.clone for x in xs], "clone")
            return MergeX(shapes, inputs, kind=first.kind, call=first.call, branches=branches,
                          options=options, clone=clone)  # fmt: skip
        assert isinstance(first, UseX)
        args = []
        for i, (k, _) in enumerate(first.args):
            values = [x.args[i][1] for x in xs]
            modules = any(isinstance(v, X) for v in values)
            args.append((k, self.unify(values, k) if modules else self.value(values, k)))
        return UseX(shapes, inputs, name=first.name, args=args)

    def value(self, values: list[Any], hint: str) -> Any:
        """The value all uses share, else a value :class:`Hole` (one per distinct vector)."""
        typed = _typed(values)
        if all(t == typed[0] for t in typed):
            return values[0]
        for hole in self.holes:
            if not hole.module and _typed(hole.values) == typed:
                return hole
        hole = Hole(hint, list(values), module=False)
        self.holes.append(hole)
        return hole


def _hint(key: str) -> str:
    return key if key.isidentifier() else f"module_{key}"


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 1
    while candidate in taken or candidate in RESERVED or keyword.iskeyword(candidate):
        n += 1
        candidate = f"{name}_{n}"
    return candidate


def _name_holes(group: Group) -> None:
    """A value parameter takes the name of the block's parameter (or var) that has its value in
    every use, else the argument's name; then numbered where names collide."""
    taken: set[str] = set()
    args = [dict(node.decl.block_args) for node in group.nodes]
    for hole in group.holes:
        name = hole.name
        if not hole.module:
            for param in args[0] if args else {}:
                values = [a.get(param) for a in args]
                if param not in taken and _typed(values) == _typed(hole.values):
                    name = param
                    break
        hole.name = _unique(name, taken)
        taken.add(hole.name)


def _derive(group: Group) -> None:
    """A parameter that is a fixed multiple of an earlier one in every use (ResNet's
    ``4 * width``) is written as that product instead."""
    ints = [h for h in group.holes if not h.module and all(type(v) is int for v in h.values)]
    for i, hole in enumerate(ints):
        for base in ints[:i]:
            if base.derived is None and all(v > 0 for v in base.values):
                ratios = {v // b for v, b in zip(hole.values, base.values, strict=True)}
                exact = all(v % b == 0 for v, b in zip(hole.values, base.values, strict=True))
                if exact and len(ratios) == 1 and (k := ratios.pop()) > 1:
                    hole.derived = f"{k} * {base.name}"
                    break


def own(x: Any, group: Group) -> None:
    """Mark every expression of a template as the group's (shape comments use its holes)."""
    if not isinstance(x, X):
        return
    x.group = group
    if isinstance(x, SeqX):
        for _, child in x.children:
            own(child, group)
    elif isinstance(x, MergeX):
        for branch in x.branches.values():
            own(branch, group)
    elif isinstance(x, UseX):
        for _, value in x.args:
            own(value, group)


# ---------------------------------------------------------------------------- shape comments

SPATIAL = {3: ("L",), 4: ("H", "W"), 5: ("D", "H", "W")}


def shape_comment(shapes: list[Shape], group: Group | None) -> str:
    """``(N, 64, 56, 56)``; where the uses differ, the parameter or input size that gives the
    size (``(N, width, H/2, W/2)``), else ``?``."""
    if not shapes:
        return "?"
    if any(len(s) != len(shapes[0]) for s in shapes):
        return "?"
    holes, inputs = _symbols(group) if group is not None else ([], [])
    dims = []
    for d in range(len(shapes[0])):
        values = [s[d] for s in shapes]
        if d == 0 and (group is None or group.batched):
            dims.append("N")
        else:
            same = [inputs[d]] if d < len(inputs) and len(shapes[0]) == len(inputs) else []
            dims.append(_dim_text(values, holes + same + inputs, holes, same + inputs))
    return f"({', '.join(dims)}{',' if len(dims) == 1 else ''})"


Symbol = tuple[str, list[int]]


def _symbols(group: Group) -> tuple[list[Symbol], list[Symbol]]:
    """The int parameters, and the input's sizes by dim (``C``, ``H``, ...), per use."""
    holes = [
        (h.code.replace(" ", ""), h.values)
        for h in group.holes
        if not h.module and all(type(v) is int and v > 0 for v in h.values)
    ]
    symbols: list[Symbol] = []
    inputs = group.template.inputs
    if inputs and all(len(s) == len(inputs[0]) for s in inputs):
        rank = len(inputs[0])
        names = ("N", "C", *SPATIAL.get(rank, ()))
        lead = 0 if group.batched else 1
        for d in range(rank):
            name = names[d + lead] if d + lead < len(names) else f"d{d}"
            symbols.append((name, [s[d] for s in inputs]))
    return holes, symbols


def _dim_text(
    values: list[int], symbols: list[Symbol], holes: list[Symbol], inputs: list[Symbol]
) -> str:
    """A size that differs between uses, as a symbol: a parameter or an input size, a multiple
    or a fraction of one, or an input size divided by a parameter (a stride, rounded up)."""
    if all(v == values[0] for v in values):
        return str(values[0])
    for name, vector in symbols:
        if vector == values:
            return name
    for size, sizes in inputs:
        for name, vector in holes:
            if all(v == -(-w // h) for v, w, h in zip(values, sizes, vector, strict=True)):
                return f"{size}/{name}"
    for name, vector in symbols:
        if all(v > 0 for v in vector):
            up = {v // w for v, w in zip(values, vector, strict=True) if v % w == 0}
            if len(up) == 1 and all(v % w == 0 for v, w in zip(values, vector, strict=True)):
                return f"{up.pop()}*{name}"
            down = {w // v for v, w in zip(values, vector, strict=True) if v and w % v == 0}
            if len(down) == 1 and all(
                v and w % v == 0 for v, w in zip(values, vector, strict=True)
            ):
                return f"{name}/{down.pop()}"
    return "?"
