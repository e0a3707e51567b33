"""What a drawing shows, before any coordinates: the model as nested items.

A :class:`Chain` runs its items top to bottom; a :class:`Box` is one drawn module (a leaf, a
container shown closed, or a run of repeated blocks collapsed into ``BasicBlock x2``); a
:class:`Frame` is an open ``Sequential`` (a block or a stage) around its chain; a :class:`Fork`
is an open merge container: its branches side by side as :class:`Lane` s (``None``: the
identity, an edge straight to the merge), then the merge box, which is the container's node.
Which modules are shown, and which repeats collapse, is the table's rule
(:func:`convshape.render.display_rows` at :func:`convshape.render.default_depth`). Nothing here
imports torch; :mod:`convshape.draw_svg` and :mod:`convshape.draw` lay the items out.
"""

from __future__ import annotations

import dataclasses
import textwrap
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from convshape.containers import CONTAINERS
from convshape.engine import Node
from convshape.layers import Layer, Shape
from convshape.render import Row, default_depth, display_rows, human, title, type_text
from convshape.results import FileResult
from convshape.spec.decls import MergeDecl


class Kind(StrEnum):
    MODULE = "module"  # a leaf
    BLOCK = "block"  # a container shown closed, or a collapsed run
    MERGE = "merge"  # the merge of an open container
    SPLIT = "split"  # the split at the top of an open Split (not a module)
    IO = "io"  # the model's input and output (not modules)
    ERROR = "error"  # the module a failed prediction stopped at


@dataclass(frozen=True)
class Box:
    path: str  # the module path ("" for input, output and split boxes)
    lines: tuple[str, ...]
    hover: str
    out: Shape | None  # the shape it passes on (None: an error box, nothing comes out)
    kind: Kind
    red: bool = False


@dataclass(frozen=True)
class Chain:
    items: tuple[Item, ...]


@dataclass(frozen=True)
class Frame:
    path: str
    title: str
    hover: str
    chain: Chain
    out: Shape
    red: bool = False


@dataclass(frozen=True)
class Lane:
    into: Shape  # the branch's input (a piece of it, for Split)
    chain: Chain | None  # None: the identity
    out: Shape


@dataclass(frozen=True)
class Fork:
    split: Box | None  # Split's fork; other merges feed every branch the whole input
    lanes: tuple[Lane, ...]
    merge: Box
    out: Shape


Item = Box | Frame | Fork


@dataclass(frozen=True)
class Diagram:
    title: str
    notes: tuple[str, ...]  # grey lines under the title
    errors: tuple[str, ...]  # red lines under the title: every error's headline
    input: Shape
    chain: Chain  # input box, the model, then the output box (or the error box)


def shape_text(shape: Shape | None) -> str:
    """``1×64×56×56``: an edge's label."""
    return "-" if shape is None else "×".join(map(str, shape)) if shape else "scalar"


# ------------------------------------------------------------------------------ key arguments

_LETTERS = {"kernel_size": "k", "stride": "s", "padding": "p", "dilation": "d", "groups": "g",
            "output_padding": "op"}  # fmt: skip
_PAIRS = (("in_channels", "out_channels"), ("in_features", "out_features"))
_QUIET = {"bias", "inplace", "padding_mode", "device", "dtype"}
_BARE = {"num_features", "normalized_shape", "num_channels", "output_size", "size"}
MAX_ARGS = 34  # characters of key arguments in a box


def value_text(value: Any) -> str:
    """``3`` for ``(3, 3)``, ``3x1`` for ``(3, 1)``, else the value as Python writes it."""
    if isinstance(value, tuple | list) and value and all(v == value[0] for v in value):
        return value_text(value[0])
    if isinstance(value, tuple | list):
        return "x".join(value_text(v) for v in value)
    return str(value)


def key_args(layer: Layer) -> str:
    """``3→64 k7 s2 p3``: a layer's arguments that are not torch's defaults, shortened."""
    given = {}
    for f in dataclasses.fields(layer):
        value = getattr(layer, f.name)
        if f.default is dataclasses.MISSING or value != f.default:
            given[f.name] = value
    parts = [f"{given.pop(a)}→{given.pop(b)}" for a, b in _PAIRS if a in given and b in given]
    for name, value in given.items():
        if name in _QUIET:
            continue
        if name in _LETTERS:
            parts.append(_LETTERS[name] + value_text(value))
        elif name in _BARE:
            parts.append(value_text(value))
        else:
            parts.append(name if value is True else f"{name}={value_text(value)}")
    text = " ".join(parts)
    return text if len(text) <= MAX_ARGS else text[: MAX_ARGS - 1] + "…"


# ---------------------------------------------------------------------------------- building


def hover(node: Node, last: Node | None = None, times: int = 1) -> str:
    """The tooltip: type, shapes, params and MACs (a collapsed run: its sums)."""
    end = last or node
    what = type_text(node) + (f" x{times}" if times > 1 else "")
    where = node.path if end is node else f"{node.path} .. {end.path}"
    params = node.num_params if times == 1 else None
    lines = [f"{where}: {what}", f"input {shape_text(node.input_shape)}",
             f"output {shape_text(end.output_shape)}"]  # fmt: skip
    if params is not None:
        lines.append(f"params {node.num_params:,}, MACs {node.macs:,}")
    if node.layer is not None:
        lines.append(node.layer.signature())
    return "\n".join(lines)


class _Builder:
    def __init__(self, result: FileResult, depth: int | None, rows: list[Row]) -> None:
        self.depth = depth
        self.rows = {row.node.path: row for row in rows}
        self.bad = {e.context.layer_path: e for e in result.errors if e.context.layer_path}
        self.full: set[str] = set()  # modules labelled by their path, not their key

    def chain(self, nodes: tuple[Node, ...] | list[Node]) -> list[Item]:
        """The items of consecutive sibling modules; a collapsed run takes its row's place."""
        out: list[Item] = []
        i = 0
        while i < len(nodes):
            row = self.rows.get(nodes[i].path)
            if row is None:  # below the depth
                i += 1
                continue
            item = self.item(row, nodes[i : i + row.times])
            if item is not None:
                out.append(item)
            i += row.times
        return out

    def item(self, row: Row, run: list[Node] | tuple[Node, ...]) -> Item | None:
        node = row.node
        if node.layer is None and not node.children:
            return None  # an empty Sequential: the identity, nothing to draw
        shown = self.depth is None or node.depth < self.depth
        if row.times > 1 or node.layer is not None or not shown:
            return self.box(row, run)
        if isinstance(node.decl, MergeDecl):
            return self.fork(node, node.decl)
        items = self.chain(node.children)
        if not items:
            return self.box(row, run)
        name = node.decl.block or node.type_name
        return Frame(node.path, f"{self.key(node)} {name}", hover(node), Chain(tuple(items)),
                     node.output_shape, node.path in self.bad)  # fmt: skip

    def key(self, node: Node) -> str:
        return node.path if node.path in self.full else node.key

    def box(self, row: Row, run: list[Node] | tuple[Node, ...]) -> Box:
        node, last = row.node, row.last
        key = self.key(node) if row.times == 1 else f"{self.key(node)}-{last.key}"
        name = node.decl.block or node.type_name
        head = f"{key} {name}" + (f" x{row.times}" if row.times > 1 else "")
        if node.layer is not None:
            detail = key_args(node.layer)
        else:
            detail = f"{human(row.params)} params, {human(row.macs)} MACs"
        red = [e for p, e in self.bad.items() if any(_within(p, n.path) for n in run)]
        text = hover(node, last, row.times) + "".join(f"\n{e.message}" for e in red)
        kind = Kind.MODULE if node.layer is not None else Kind.BLOCK
        lines = (head, detail) if detail else (head,)
        return Box(node.path, lines, text, last.output_shape, kind, bool(red))

    def fork(self, node: Node, decl: MergeDecl) -> Fork:
        rule = CONTAINERS[decl.kind]
        inputs = rule.inputs(decl, node.input_shape)
        children = {child.key: child for child in node.children}
        lanes = []
        for branch, into in zip(decl.branches, inputs, strict=True):
            child = children.get(branch.key)
            items = self.lane(child) if child is not None else []
            out = child.output_shape if child is not None else into
            lanes.append(Lane(into, Chain(tuple(items)) if items else None, out))
        split = None
        if decl.kind == "Split":
            pieces = decl.options.get("sizes") or f"chunks={decl.options.get('chunks')}"
            text = f"split dim={decl.options['dim']} {value_text(pieces)}"
            split = Box("", (text,), text, None, Kind.SPLIT)
        name = decl.block or decl.kind
        merge = Box(node.path, (f"{node.key} {name}: {_operation(decl, len(lanes))}",),
                    hover(node), node.output_shape, Kind.MERGE,
                    node.path in self.bad)  # fmt: skip
        return Fork(split, tuple(lanes), merge, node.output_shape)

    def lane(self, child: Node) -> list[Item]:
        """A branch's items: its Sequential's modules without a frame (the lane is the frame)."""
        row = self.rows.get(child.path)
        if row is None:
            return []
        item = self.item(row, [child])
        if isinstance(item, Frame) and not child.decl.block:
            return list(item.chain.items)
        return [] if item is None else [item]


def _within(path: str, container: str) -> bool:
    return path == container or path.startswith(container + ".")


def _operation(decl: MergeDecl, lanes: int) -> str:
    dim = decl.options.get("dim")
    return {
        "Residual": "add" if lanes > 1 else "body only",
        "Concat": f"cat dim={dim}",
        "Split": f"cat dim={dim}",
        "Gate": "mul",
    }.get(decl.kind, decl.kind)


def _error_box(result: FileResult) -> Box:
    err = result.errors[0]
    ctx = err.context
    head = f"{ctx.layer_path or ''} {ctx.layer_type or ''}".strip() or "error"
    wrapped = textwrap.wrap(err.message, 44)
    lines = (head, *wrapped[:4]) if len(wrapped) <= 4 else (head, *wrapped[:3], "…")
    return Box(ctx.layer_path or "", lines, err.render(), None, Kind.ERROR, True)


def _partial(builder: _Builder, nodes: list[Node], depth: int | None) -> list[Item]:
    """The modules predicted before an error: each outermost one, in order."""
    done = {n.path for n in nodes}
    tops = [n for n in nodes if n.path.rpartition(".")[0] not in done]
    tops = [n for n in tops if (depth is None or n.depth <= depth)]
    builder.full = {n.path for n in tops}  # out of their containers: the path tells where
    return builder.chain(tops)


def diagram(result: FileResult, depth: int | None = None) -> Diagram:
    """The items to draw: modules down to ``depth`` (None: as the table's default, with
    repeated blocks collapsed)."""
    chosen = depth if depth is not None else default_depth(result)
    rows = display_rows(result, chosen, collapse=depth is None)
    builder = _Builder(result, chosen, rows)
    prediction = result.prediction
    spec = result.spec
    shape: Shape = spec.input_shape if spec is not None else ()
    start = Box("", ("input",), f"input {shape_text(shape)}", shape, Kind.IO)
    items: list[Item] = [start]
    if prediction is not None and prediction.root is not None:
        items += builder.chain(prediction.root.children)
        end = prediction.root.output_shape
        items.append(Box("", ("output",), f"output {shape_text(end)}", end, Kind.IO))
    else:
        items += _partial(builder, prediction.partial if prediction else [], chosen)
        if result.errors:
            items.append(_error_box(result))
    notes = _notes(result, chosen, depth, rows)
    headlines = tuple(e.headline for e in result.errors)
    return Diagram(title(result), notes, headlines, shape, Chain(tuple(items)))


def _notes(
    result: FileResult, chosen: int | None, depth: int | None, rows: list[Row]
) -> tuple[str, ...]:
    t = result.totals
    notes = []
    if t is not None:
        notes.append(f"{t.params:,} params, {t.macs:,} MACs")
    if result.prediction is not None and not result.prediction.ok:
        notes.append("the modules predicted before the error")
    deepest = max((n.depth for n in result.rows), default=0)
    collapsed = depth is None and any(row.times > 1 for row in rows)
    if chosen is not None and chosen < deepest:
        notes.append(f"depth {chosen} of {deepest}" + (", repeats collapsed" if collapsed else "")
                     + "; --depth N draws more")  # fmt: skip
    elif collapsed:
        notes.append("repeated blocks collapsed; --depth N draws every module")
    if result.verification is not None:
        notes.append(
            "verified on " + (result.device or "?") if result.verified else "verification failed"
        )
    return tuple(notes)
