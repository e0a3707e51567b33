"""A plain-text table of a model under every counting convention, and why they differ.

One row per leaf (or per module at a depth), one column per convention of
:data:`convshape.conventions.CONVENTIONS`, and a "why" column naming what each peer counts
differently from convshape's MACs. Rows where no convention differs are left out unless
``show_all``; the exact totals close the table.
"""

from __future__ import annotations

import textwrap

from convshape.conventions import CONVENTIONS, Counted, count
from convshape.engine import Node, Prediction
from convshape.errors import ConvshapeError

SHORT = {
    "torchvision": "tv",
    "flopcounter": "flopctr",
    "fvcore": "fvcore",
    "ptflops": "ptflops",
    "thop": "thop",
    "torchinfo": "tinfo",
}
PATH_WIDTH = 24
TYPE_WIDTH = 14
NUMBER_WIDTH = 7
WHY_WIDTH = 31


def compact(value: int) -> str:
    """``1849688064`` -> ``1.850G``: four significant digits, SI prefix."""
    for power, prefix in ((12, "T"), (9, "G"), (6, "M"), (3, "K")):
        if abs(value) >= 10**power:
            return f"{value / 10**power:.4g}{prefix}"
    return str(value)


def explain(prediction: Prediction, depth: int | None = None, show_all: bool = False) -> str:
    """The table: every convention's count per row, why they differ, and the exact totals."""
    counts: dict[str, Counted] = {}
    missing: list[str] = []
    for name in CONVENTIONS:  # a peer without a rule for a layer type: left out, and said so
        try:
            counts[name] = count(prediction, name)
        except ConvshapeError as exc:
            missing.append(f"  {name}: {exc.message}")
    rows = _rows(prediction, depth)
    lines = [_header(list(counts))]
    hidden = 0
    for node in rows:
        why = _why(node, counts)
        if not why and not show_all:
            hidden += 1
            continue
        lines += _row(node.path or ".", node.type_name, node.path, counts, why)
    lines += _totals(prediction, counts, hidden)
    if missing:
        lines += ["not counted:", *missing]
    return "\n".join(lines) + "\n"


def _rows(prediction: Prediction, depth: int | None) -> list[Node]:
    if depth is None:
        return [n for n in prediction.rows if n.layer is not None]
    return [n for n in prediction.rows if n.depth == depth or (n.depth < depth and n.layer)]


def _header(conventions: list[str]) -> str:
    names = " ".join(f"{SHORT[name]:>{NUMBER_WIDTH}}" for name in conventions)
    return f"{'module':<{PATH_WIDTH}} {'type':<{TYPE_WIDTH}} {names}  why"


def _row(label: str, type_name: str, path: str, counts: dict[str, Counted], why: str) -> list[str]:
    label = label if len(label) <= PATH_WIDTH else "…" + label[-PATH_WIDTH + 1 :]
    numbers = " ".join(
        f"{compact(counted.per_path[path]) if path else compact(counted.total):>{NUMBER_WIDTH}}"
        for counted in counts.values()
    )
    head = f"{label:<{PATH_WIDTH}} {type_name[:TYPE_WIDTH]:<{TYPE_WIDTH}} {numbers}  "
    wrapped = textwrap.wrap(why, WHY_WIDTH) or [""]
    pad = " " * len(head)
    return [(head + wrapped[0]).rstrip()] + [pad + more for more in wrapped[1:]]


def _why(node: Node, counts: dict[str, Counted]) -> str:
    """Each distinct note of the leaves under ``node``, with the conventions that give it."""
    leaves = {n.path for n in node.walk() if n.layer is not None}
    by_note: dict[str, list[str]] = {}
    for name, counted in counts.items():
        notes = sorted({counted.notes[p] for p in leaves if p in counted.notes})
        for note in notes:
            by_note.setdefault(note, []).append(SHORT[name])
    return "; ".join(f"{','.join(names)}: {note}" for note, names in by_note.items())


def _totals(prediction: Prediction, counts: dict[str, Counted], hidden: int) -> list[str]:
    lines = _row("total", "", "", counts, "")
    if hidden:
        lines.append(f"({hidden} row(s) where every convention agrees hidden; --all shows them)")
    lines.append("exact totals:")
    batch = prediction.root.input_shape[0] if prediction.root else 1
    for name, counted in counts.items():
        conv = CONVENTIONS[name]
        per = f" per sample (batch {batch})" if conv.per_sample else ""
        lines.append(f"  {name:<12} {counted.total:>18,} {conv.unit}s{per}")
    return lines
