"""Lay out a :class:`~convshape.draw_tree.Diagram` and write it as SVG text (no graphviz).

The graph is series-parallel, so a recursive layout is enough: every item is measured bottom
up (:meth:`Layout.extent`: width, height, and where its incoming and outgoing arrows meet it),
then placed top down on a vertical axis. A chain stacks its items on one axis with a labelled
arrow between each two; a fork puts its lanes side by side under a bar (or a split box), each
lane on its own axis, and ends in the merge box, which spans the lanes so every lane's arrow
goes straight down into it. Every arrow is vertical and carries the shape it holds, written to
its right; widths leave room for those labels. Text is measured as monospace (``CHAR`` per
character), and the SVG asks for a monospace font.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from convshape.draw_tree import Box, Chain, Diagram, Fork, Frame, Item, Kind, shape_text

FONT = 12
CHAR = 7.3  # px per character of a 12px monospace font (0.6 em, rounded up)
LABEL_FONT = 11
LABEL_CHAR = 6.7
LINE = 16  # px per text line in a box
PAD_X, PAD_Y = 9.0, 6.0
GAP = 34.0  # vertical room for an arrow and its label
LANE_GAP = 22.0
FRAME_PAD, FRAME_TITLE = 10.0, 20.0
BAR_OVERHANG = 14.0  # how far a merge box reaches past its outer lanes
MARGIN = 16.0

RED = ("#fde2e2", "#d32f2f", "#b71c1c")
COLOURS = {  # fill, stroke, text
    Kind.MODULE: ("#eaf1fb", "#4a6fa5", "#102a43"),
    Kind.BLOCK: ("#e6f4ea", "#3f8a55", "#0f3d1e"),
    Kind.MERGE: ("#fff3d6", "#b5892c", "#4d3600"),
    Kind.SPLIT: ("#fff3d6", "#b5892c", "#4d3600"),
    Kind.IO: ("#f2f2f2", "#777777", "#222222"),
    Kind.ERROR: RED,
}


@dataclass(frozen=True)
class Extent:
    w: float
    h: float
    top: float  # where the incoming arrow ends, below the item's top
    bottom: float  # where the outgoing arrow starts, below the item's top


def text_width(text: str, char: float = CHAR) -> float:
    return len(text) * char


def label_room(shape_label: str) -> float:
    """The width an axis needs so an arrow's label fits to its right (the axis is centred)."""
    return 2 * (6 + text_width(shape_label, LABEL_CHAR))


class Layout:
    def __init__(self) -> None:
        self.frames: list[str] = []
        self.edges: list[str] = []
        self.nodes: list[str] = []
        self.ids: set[str] = set()
        self.sizes: dict[int, Extent] = {}

    # ------------------------------------------------------------------------------ measure

    def extent(self, item: Item | Chain) -> Extent:
        known = self.sizes.get(id(item))
        if known is None:
            known = self.sizes[id(item)] = self._measure(item)
        return known

    def _measure(self, item: Item | Chain) -> Extent:
        if isinstance(item, Box):
            w, h = _box_size(item)
            return Extent(w, h, 0, h)
        if isinstance(item, Frame):
            inner = self.extent(item.chain)
            w = max(inner.w + 2 * FRAME_PAD, 2 * (text_width(item.title) + 2 * FRAME_PAD))
            h = FRAME_TITLE + inner.h + FRAME_PAD
            return Extent(w, h, FRAME_TITLE + inner.top, FRAME_TITLE + inner.bottom)
        if isinstance(item, Chain):
            return self._chain_extent(item)
        return self._fork_extent(item)

    def _chain_extent(self, chain: Chain) -> Extent:
        sizes = [self.extent(i) for i in chain.items]
        rooms = [label_room(shape_text(i.out)) for i in chain.items[:-1]]
        w = max([s.w for s in sizes] + rooms)
        h = sum(s.h for s in sizes) + GAP * (len(sizes) - 1)
        return Extent(w, h, sizes[0].top, h - sizes[-1].h + sizes[-1].bottom)

    def lane_width(self, fork: Fork, i: int) -> float:
        lane = fork.lanes[i]
        rooms = [label_room(shape_text(lane.into)), label_room(shape_text(lane.out))]
        inner = self.extent(lane.chain).w if lane.chain is not None else 0
        return max(inner, *rooms)

    def _lanes_height(self, fork: Fork) -> float:
        return max((self.extent(lane.chain).h for lane in fork.lanes if lane.chain), default=0)

    def _fork_extent(self, fork: Fork) -> Extent:
        widths = [self.lane_width(fork, i) for i in range(len(fork.lanes))]
        lanes = sum(widths) + LANE_GAP * (len(widths) - 1)
        merge_w, merge_h = _box_size(fork.merge)
        split_w, split_h = _box_size(fork.split) if fork.split else (0.0, 0.0)
        w = max(lanes + 2 * BAR_OVERHANG, merge_w, split_w)
        h = split_h + GAP + self._lanes_height(fork) + GAP + merge_h
        return Extent(w, h, 0, h)

    # -------------------------------------------------------------------------------- place

    def place(self, item: Item | Chain, cx: float, y: float) -> None:
        """Draw ``item`` with its axis at ``cx`` and its top at ``y``."""
        if isinstance(item, Box):
            self.box(item, cx, y)
        elif isinstance(item, Chain):
            self.chain(item, cx, y)
        elif isinstance(item, Frame):
            self.frame(item, cx, y)
        else:
            self.fork(item, cx, y)

    def chain(self, chain: Chain, cx: float, y: float) -> None:
        for i, item in enumerate(chain.items):
            size = self.extent(item)
            if i:  # the label in the gap, not inside a frame the arrow crosses
                start = y - GAP - self._tail(chain.items[i - 1])
                self.edge(cx, start, y + size.top, shape_text(chain.items[i - 1].out), y - GAP)
            self.place(item, cx, y)
            y += size.h + GAP

    def _tail(self, item: Item) -> float:
        """How far above the item's bottom its outgoing arrow starts."""
        size = self.extent(item)
        return size.h - size.bottom

    def frame(self, frame: Frame, cx: float, y: float) -> None:
        size = self.extent(frame)
        left = cx - size.w / 2
        stroke = RED[1] if frame.red else "#9aa5b1"
        self.frames.append(
            f'<g class="frame" data-path="{escape(frame.path)}"><title>{escape(frame.hover)}'
            f'</title><rect x="{left:.1f}" y="{y:.1f}" width="{size.w:.1f}" height="{size.h:.1f}"'
            f' rx="8" fill="none" stroke="{stroke}" stroke-dasharray="5 3"/>'
            f'<text x="{left + FRAME_PAD:.1f}" y="{y + 14:.1f}" fill="#52606d">'
            f"{escape(frame.title)}</text></g>"
        )
        self.place(frame.chain, cx, y + FRAME_TITLE)

    def fork(self, fork: Fork, cx: float, y: float) -> None:
        size = self.extent(fork)
        widths = [self.lane_width(fork, i) for i in range(len(fork.lanes))]
        left = cx - (sum(widths) + LANE_GAP * (len(widths) - 1)) / 2
        axes = []
        for w in widths:
            axes.append(left + w / 2)
            left += w + LANE_GAP
        top = y
        if fork.split is not None:
            self.box(fork.split, cx, y, (axes[0] - BAR_OVERHANG, axes[-1] + BAR_OVERHANG))
            top = y + _box_size(fork.split)[1]
        else:  # a bar from which the lanes drop
            self.frames.append(
                f'<path class="fan" d="M{min(axes[0], cx):.1f},{y:.1f} H{max(axes[-1], cx):.1f}"'
                f' stroke="#555" stroke-width="2"/>'
            )
        lanes_top = top + GAP
        merge_y = lanes_top + self._lanes_height(fork) + GAP
        for lane, axis in zip(fork.lanes, axes, strict=True):
            if lane.chain is None:  # the identity: straight to the merge
                self.edge(axis, top, merge_y, shape_text(lane.into))
                continue
            inner = self.extent(lane.chain)
            self.edge(axis, top, lanes_top + inner.top, shape_text(lane.into))
            self.place(lane.chain, axis, lanes_top)
            self.edge(axis, lanes_top + inner.bottom, merge_y, shape_text(lane.out),
                      lanes_top + inner.h)  # fmt: skip
        self.box(fork.merge, cx, merge_y, (axes[0] - BAR_OVERHANG, axes[-1] + BAR_OVERHANG))
        assert abs(merge_y + _box_size(fork.merge)[1] - (y + size.h)) < 1e-6

    # -------------------------------------------------------------------------------- write

    def edge(self, x: float, y1: float, y2: float, text: str, gap: float | None = None) -> None:
        """A downward arrow on ``x``; its label to the right, in the gap that starts at
        ``gap`` (default: where the arrow starts)."""
        start = y1 if gap is None else gap
        label_y = start + min(GAP, y2 - start) / 2 + 4
        self.edges.append(
            f'<g class="edge"><path d="M{x:.1f},{y1:.1f} V{y2 - 1:.1f}" stroke="#555" '
            f'fill="none" marker-end="url(#arrow)"/><text class="shape" x="{x + 6:.1f}" '
            f'y="{label_y:.1f}" font-size="{LABEL_FONT}" fill="#444">{escape(text)}</text></g>'
        )

    def box(self, box: Box, cx: float, y: float, span: tuple[float, float] | None = None) -> None:
        w, h = _box_size(box)
        left, right = cx - w / 2, cx + w / 2
        if span is not None:  # a merge or split box reaches over its lanes
            left, right = min(left, span[0]), max(right, span[1])
        fill, stroke, ink = RED if box.red else COLOURS[box.kind]
        rx = h / 2 if box.kind is Kind.IO else 5
        bold = ' font-weight="bold"'
        texts = "".join(
            f'<text x="{cx:.1f}" y="{y + PAD_Y + LINE * (i + 1) - 4:.1f}" text-anchor="middle"'
            f"{bold if i == 0 and box.kind is not Kind.ERROR else ''}>{escape(line)}</text>"
            for i, line in enumerate(box.lines)
        )
        shape = (
            f'<rect x="{left:.1f}" y="{y:.1f}" width="{right - left:.1f}" height="{h:.1f}" '
            f'rx="{rx:.1f}" fill="{fill}" stroke="{stroke}" stroke-width="{2 if box.red else 1}"/>'
        )
        body = f'<title>{escape(box.hover)}</title>{shape}<g fill="{ink}">{texts}</g>'
        if box.kind in (Kind.IO, Kind.SPLIT):
            self.nodes.append(f'<g class="{box.kind}">{body}</g>')
            return
        classes = "node error" if box.red else "node"
        ident = self.unique(f"m-{box.path}")
        self.nodes.append(
            f'<g class="{classes}" id="{escape(ident)}" data-path="{escape(box.path)}" '
            f'data-kind="{box.kind}">{body}</g>'
        )

    def unique(self, ident: str) -> str:
        n, found = 1, ident
        while found in self.ids:
            n += 1
            found = f"{ident}-{n}"
        self.ids.add(found)
        return found


def _box_size(box: Box) -> tuple[float, float]:
    return (
        max(text_width(line) for line in box.lines) + 2 * PAD_X,
        LINE * len(box.lines) + 2 * PAD_Y,
    )


def _header(diagram: Diagram) -> list[tuple[str, str, str]]:
    """(text, colour, weight) lines above the graph."""
    lines = [(diagram.title, "#102a43", "bold")]
    lines += [(note, "#52606d", "normal") for note in diagram.notes]
    lines += [(err if len(err) <= 110 else err[:109] + "…", RED[2], "normal")
              for err in diagram.errors]  # fmt: skip
    return lines


def write_svg(diagram: Diagram) -> str:
    layout = Layout()
    size = layout.extent(diagram.chain)
    header = _header(diagram)
    head_h = LINE * len(header) + 10
    width = max(size.w, *(text_width(t) for t, _, _ in header)) + 2 * MARGIN
    height = head_h + size.h + 2 * MARGIN
    layout.place(diagram.chain, width / 2, MARGIN + head_h)
    texts = "".join(
        f'<text x="{MARGIN}" y="{MARGIN + LINE * (i + 1) - 4:.1f}" fill="{colour}" '
        f'font-weight="{weight}">{escape(text)}</text>'
        for i, (text, colour, weight) in enumerate(header)
    )
    return "\n".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="monospace" '
            f'font-size="{FONT}">',
            f"<title>{escape(diagram.title)}</title>",
            '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
            'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
            'fill="#555"/></marker></defs>',
            '<rect width="100%" height="100%" fill="white"/>',
            f'<g class="header">{texts}</g>',
            *layout.frames,
            *layout.edges,
            *layout.nodes,
            "</svg>",
            "",
        ]
    )
