"""``convshape draw``: the architecture as a graph, in SVG or in mermaid (for Markdown).

One box per drawn module (a leaf, a closed container, a run of repeated blocks collapsed), the
predicted shape on every arrow, branches side by side and merges as merge boxes, an open block
or stage as a dashed frame; the module that failed, and every module a verification found wrong,
in red. The modules shown are the table's (:func:`convshape.render.display_rows` at the
default depth, or ``depth``). Pure Python: the SVG is written here
(:mod:`convshape.draw_svg`), so no graphviz is needed; nothing here imports torch.

:func:`mermaid` returns bare ``flowchart TD`` text, as a ``.mmd`` file holds it; to show it in
a README or a pull request, put it between a ```` ```mermaid ```` fence and a closing one.
"""

from __future__ import annotations

from convshape.draw_svg import write_svg
from convshape.draw_tree import Box, Chain, Fork, Frame, Item, Kind, diagram, shape_text
from convshape.layers import Shape
from convshape.results import FileResult

__all__ = ["mermaid", "svg"]


def svg(result: FileResult, depth: int | None = None) -> str:
    """The drawing as an SVG document (modules down to ``depth``; None: as the table)."""
    return write_svg(diagram(result, depth))


def mermaid(result: FileResult, depth: int | None = None) -> str:
    """The drawing as a mermaid flowchart, without a Markdown fence."""
    drawn = diagram(result, depth)
    out = _Mermaid()
    out.lines += [f"    %% {line}" for line in (drawn.title, *drawn.notes, *drawn.errors)]
    out.chain(drawn.chain, None, drawn.input, "    ")
    out.lines.append(
        "    classDef error fill:#fde2e2,stroke:#d32f2f,color:#b71c1c,stroke-width:2px"
    )
    if out.red:
        out.lines.append(f"    class {','.join(out.red)} error")
    return "\n".join(out.lines) + "\n"


_SHAPES = {  # mermaid's node shapes: open, close
    Kind.MODULE: ("[", "]"),
    Kind.BLOCK: ("[[", "]]"),
    Kind.MERGE: ("{{", "}}"),
    Kind.SPLIT: ("[/", "\\]"),
    Kind.IO: ("([", "])"),
    Kind.ERROR: ("[", "]"),
}


def quoted(*lines: str) -> str:
    """A mermaid label: in double quotes, with its own quotes and angle brackets as entities,
    lines joined by ``<br/>``."""
    escaped = []
    for text in lines:
        for char, entity in (("#", "#35;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
            text = text.replace(char, entity)
        escaped.append(text)
    return '"' + "<br/>".join(escaped) + '"'


class _Mermaid:
    def __init__(self) -> None:
        self.lines = ["flowchart TD"]
        self.count = 0
        self.red: list[str] = []

    def new(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def node(self, box: Box, indent: str) -> str:
        """Define the box's node: ``m<N>`` for a module, ``io<N>``/``split<N>`` for the rest."""
        prefix = {Kind.IO: "io", Kind.SPLIT: "split"}.get(box.kind, "m")
        ident = self.new(prefix)
        start, end = _SHAPES[box.kind]
        self.lines.append(f"{indent}{ident}{start}{quoted(*box.lines)}{end}")
        if box.red:
            self.red.append(ident)
        return ident

    def edge(self, source: str | None, target: str, shape: Shape | None, indent: str) -> None:
        if source is not None:
            self.lines.append(f"{indent}{source} -->|{quoted(shape_text(shape))}| {target}")

    def chain(self, chain: Chain, source: str | None, shape: Shape | None, indent: str) -> str:
        """Draw the chain after ``source`` (its arrow carries ``shape``); return its last node."""
        current = source
        for item in chain.items:
            current = self.item(item, current, shape, indent)
            shape = item.out
        assert current is not None
        return current

    def item(self, item: Item, source: str | None, shape: Shape | None, indent: str) -> str:
        if isinstance(item, Box):
            ident = self.node(item, indent)
            self.edge(source, ident, shape, indent)
            return ident
        if isinstance(item, Frame):
            self.lines.append(f"{indent}subgraph {self.new('f')}[{quoted(item.title)}]")
            last = self.chain(item.chain, source, shape, indent + "    ")
            self.lines.append(f"{indent}end")
            return last
        return self.fork(item, source, shape, indent)

    def fork(self, fork: Fork, source: str | None, shape: Shape | None, indent: str) -> str:
        """Each lane from the fork's source (or its split), then one arrow per lane into the
        merge; an identity lane is an arrow from the source straight to the merge."""
        if fork.split is not None:
            split = self.node(fork.split, indent)
            self.edge(source, split, shape, indent)
            source = split
        into: list[tuple[str | None, Shape]] = []
        for lane in fork.lanes:
            if lane.chain is None:
                into.append((source, lane.into))
            else:
                into.append((self.chain(lane.chain, source, lane.into, indent), lane.out))
        merge = self.node(fork.merge, indent)
        for last, out in into:
            self.edge(last, merge, out, indent)
        return merge
