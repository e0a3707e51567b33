"""The human-readable reports: the rich layer table, the summary line, and Markdown.

Formatting only reads :class:`FileResult` and the totals of :mod:`convshape.report`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from convshape.check import FileResult
from convshape.engine import Node
from convshape.report import totals

if TYPE_CHECKING:
    from rich.table import Table

VERIFIED, FAILED, UNCHECKED = "✓", "✗", ""


def shape_text(shape: tuple[int, ...] | None) -> str:
    return "-" if shape is None else "[" + ", ".join(map(str, shape)) + "]"


def mark(result: FileResult, node: Node) -> str:
    if result.verification is None:
        return UNCHECKED
    bad = {e.context.layer_path for e in result.errors}
    if node.path in bad:
        return FAILED
    actual = result.verification.actual.get(node.path)
    return VERIFIED if actual == node.output_shape else UNCHECKED


def label(node: Node) -> str:
    key = node.path.rsplit(".", 1)[-1]
    text = "  " * (node.depth - 1) + key
    return f"{text} {node.name}" if node.name and node.name != key else text


def type_text(node: Node) -> str:
    return f"{node.decl.block} ({node.type_name})" if node.decl.block else node.type_name


def count(node: Node, value: int) -> str:
    """A leaf's own count, or a container's subtotal in parentheses (not added to totals)."""
    return f"{value:,}" if node.layer is not None else f"({value:,})"


def visible(result: FileResult, depth: int | None) -> list[Node]:
    return [n for n in result.rows if depth is None or n.depth <= depth]


def mib(n_bytes: int) -> str:
    return f"{n_bytes / 2**20:,.2f} MB"


def summary_lines(result: FileResult) -> list[str]:
    """The totals block under the table."""
    if result.prediction is None or not result.prediction.ok:
        return []
    t = totals(result)
    how = (
        f"verified on {result.device}"
        if result.verified and result.ok
        else "predicted only (not verified)"
        if result.verification is None
        else "verification failed"
    )
    return [
        f"Total params: {t['params']:,}  (trainable {t['trainable_params']:,}, "
        f"non-trainable {t['non_trainable_params']:,})",
        f"Total MACs: {t['macs']:,}  FLOPs: {t['flops']:,}",
        f"Params size (float32): {mib(t['param_bytes'])}  "
        f"Forward activations (float32): {mib(t['activation_bytes'])}",
        f"Input {shape_text(result.spec.input_shape if result.spec else None)} -> output "
        f"{shape_text(result.prediction.output_shape)}: {how}",
    ]


COLUMNS = (
    ("Layer", "left"),
    ("Type", "left"),
    ("Input", "left"),
    ("Output", "left"),
    ("Params", "right"),
    ("MACs", "right"),
    ("OK", "center"),
)


def title(result: FileResult) -> str:
    name = result.spec.name if result.spec and result.spec.name else ""
    return f"{result.file}{'  ' + name if name else ''}"


def cells(result: FileResult, depth: int | None) -> list[tuple[str, ...]]:
    """The table's rows as text, one tuple of :data:`COLUMNS` per visible module."""
    return [
        (
            label(node),
            type_text(node),
            shape_text(node.input_shape),
            shape_text(node.output_shape),
            count(node, node.num_params),
            count(node, node.macs),
            mark(result, node),
        )
        for node in visible(result, depth)
    ]


def table(result: FileResult, depth: int | None, fancy: bool) -> Table:
    from rich import box
    from rich.table import Table

    grid = Table(
        title=title(result),
        box=box.SIMPLE_HEAD if fancy else box.ASCII,
        title_justify="left",
        show_edge=fancy,
    )
    for header, justify in COLUMNS:
        grid.add_column(header, justify=justify, no_wrap=header != "Type")  # type: ignore[arg-type]
    for row in cells(result, depth):
        grid.add_row(*row)
    return grid


# Printable ASCII without "[": rich prints such text verbatim (no markup, tab or wide character).
_VERBATIM = re.compile(r"[ -Z\\\]-~]*")


def plain_table(result: FileResult, depth: int | None, width: int) -> str | None:
    """The lines rich draws for ``table(result, depth, fancy=False)`` on a ``width``-column
    console with no terminal, without importing rich (~50x faster on ResNet-50).

    None where the result would not be certain to match: text rich could interpret (markup,
    tabs, wide characters), or a table or title that rich would have to wrap.
    """
    head = title(result)
    rows = cells(result, depth)
    if not all(_VERBATIM.fullmatch(text) for row in rows for text in row[:2]):
        return None
    if not _VERBATIM.fullmatch(head):
        return None
    widths = [max([len(h), *(len(row[i]) for row in rows)]) for i, (h, _) in enumerate(COLUMNS)]
    table_width = sum(widths) + 3 * len(widths) - 1  # one space each side, "|" between
    if table_width > width or len(head) > table_width:
        return None
    lines = [head.ljust(table_width), _line([h for h, _ in COLUMNS], widths)]
    lines.append("+".join("-" * (w + 2) for w in widths))
    lines += [_line(row, widths) for row in rows]
    return "\n".join(lines)


def _line(row: tuple[str, ...] | list[str], widths: list[int]) -> str:
    out = []
    for text, w, (_, justify) in zip(row, widths, COLUMNS, strict=True):
        if justify == "left":
            text = text.ljust(w)
        elif justify == "right":
            text = text.rjust(w)
        else:  # rich centres with the odd space on the right
            left = (w - len(text)) // 2
            text = " " * left + text + " " * (w - len(text) - left)
        out.append(f" {text} ")
    return "|".join(out)


def markdown(result: FileResult, depth: int | None) -> str:
    name = result.spec.name if result.spec and result.spec.name else result.file
    lines = [
        f"### {name} (`{result.file}`)",
        "",
        "| Layer | Type | Input | Output | Params | MACs | OK |",
        "|---|---|---|---|--:|--:|:-:|",
    ]
    for node in visible(result, depth):
        indent = "&nbsp;&nbsp;" * (node.depth - 1)
        key = node.path.rsplit(".", 1)[-1] + (f" {node.name}" if node.name else "")
        lines.append(
            f"| {indent}`{key}` | {type_text(node)} | {shape_text(node.input_shape)} | "
            f"{shape_text(node.output_shape)} | {count(node, node.num_params)} | "
            f"{count(node, node.macs)} | "
            f"{mark(result, node)} |"
        )
    lines.append("")
    lines += [f"- {line}" for line in summary_lines(result)]
    lines += [f"- **error**: `{e.headline}`" for e in result.errors]
    return "\n".join(lines) + "\n"
