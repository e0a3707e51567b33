"""The human-readable reports: the plain and rich layer tables, the summary, Markdown.

Formatting only reads :class:`~convshape.results.FileResult` and its prediction's
:class:`~convshape.engine.Totals`; nothing here computes shapes or imports torch (rich is
imported by :func:`rich_table` only). :func:`safe` is the one escaping rule for user text
shown in a terminal.
"""

from __future__ import annotations

import re
from typing import IO, TYPE_CHECKING, Any, NamedTuple

from convshape.engine import Node
from convshape.results import FileResult

if TYPE_CHECKING:
    from rich.table import Table

# C0 controls but newline, DEL, C1 controls, line/paragraph separators, bidi overrides:
# anything a terminal would act on instead of showing (escape sequences, titles, reordering).
_UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def safe(text: str) -> str:
    """``text`` with every character a terminal would interpret shown escaped (``\\x1b``)."""
    return _UNSAFE.sub(lambda m: ascii(m.group())[1:-1], text)


class Marks(NamedTuple):
    verified: str
    failed: str


UNICODE_MARKS = Marks("✓", "✗")
ASCII_MARKS = Marks("ok", "X")


def marks_for(stream: IO[str] | Any) -> Marks:
    """✓/✗ where the stream's encoding can show them, else ASCII."""
    encoding = getattr(stream, "encoding", None) or "utf-8"  # a StringIO holds any text
    try:
        "".join(UNICODE_MARKS).encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return ASCII_MARKS
    return UNICODE_MARKS


def shape_text(shape: tuple[int, ...] | None) -> str:
    return "-" if shape is None else "[" + ", ".join(map(str, shape)) + "]"


def mark(result: FileResult, node: Node, marks: Marks = UNICODE_MARKS) -> str:
    if result.verification is None:
        return ""
    bad = {e.context.layer_path for e in result.errors}
    if node.path in bad:
        return marks.failed
    actual = result.verification.actual.get(node.path)
    return marks.verified if actual == node.output_shape else ""


def label(node: Node) -> str:
    """The module key, indented by depth, with the layer's own ``name`` if it differs."""
    text = "  " * (node.depth - 1) + node.key
    return f"{text} {node.name}" if node.name and node.name != node.key else text


def type_text(node: Node) -> str:
    return f"{node.decl.block} ({node.type_name})" if node.decl.block else node.type_name


def count(node: Node, value: int) -> str:
    """A leaf's own count, or a container's subtotal in parentheses (not added to totals)."""
    return f"{value:,}" if node.layer is not None else f"({value:,})"


def visible(result: FileResult, depth: int | None) -> list[Node]:
    return [n for n in result.rows if depth is None or n.depth <= depth]


def mib(n_bytes: int) -> str:
    return f"{n_bytes / 2**20:,.2f} MiB"


def status(result: FileResult) -> str:
    if result.verified and not result.errors:
        return f"verified on {result.device}"
    if result.verification is None:
        return "predicted only (not verified)"
    return "verification failed"


def summary_lines(result: FileResult) -> list[str]:
    """The totals block under the table."""
    t = result.totals
    if t is None or result.prediction is None or not result.prediction.ok:
        return []
    return [
        f"Total params: {t.params:,}  (trainable {t.trainable_params:,}, "
        f"non-trainable {t.non_trainable_params:,})",
        f"Total MACs: {t.macs:,}  FLOPs: {t.flops:,}",
        *memory_summary(result),
        f"Input {shape_text(result.spec.input_shape if result.spec else None)} -> output "
        f"{shape_text(result.prediction.output_shape)}: {status(result)}",
    ]


def memory_summary(result: FileResult) -> list[str]:
    """Two lines of memory figures (MiB = 2**20 bytes; JSON has every figure in bytes)."""
    m = result.memory
    if m is None:
        return []
    return [
        f"Memory ({m.dtype}, {m.device}, MiB): params {mib(m.param_bytes)}, buffers "
        f"{mib(m.buffer_bytes)}, grads {mib(m.grad_bytes)}, {m.optimizer} state "
        f"{mib(m.optimizer_bytes)}",
        f"Saved for backward {mib(m.saved_activation_bytes)}, inference peak "
        f"{mib(m.inference_peak_bytes)}, training step <= {mib(m.training_bound)} (a bound)"
        if m.untrainable is None
        else f"Inference peak {mib(m.inference_peak_bytes)}; no training figures: a training "
        f"forward raises at {m.untrainable}",
    ]


def one_line(result: FileResult) -> str:
    """``--quiet``: one line per file."""
    if not result.ok:
        kinds = sorted({str(e.kind) for e in result.errors} | ({"warning"} if result.warnings
                                                                  else set()))  # fmt: skip
        return f"{result.file}: FAILED ({', '.join(kinds)})"
    t, prediction = result.totals, result.prediction
    assert t is not None and prediction is not None and prediction.output_shape is not None
    how = f"verified on {result.device}" if result.verified else "predicted"
    warned = f", {len(result.warnings)} warning(s)" if result.warnings else ""
    shape = list(prediction.output_shape)
    return f"{result.file}: ok, output {shape}, {t.params:,} params, {t.macs:,} MACs, {how}{warned}"


COLUMNS = (
    ("Layer", "left"),
    ("Type", "left"),
    ("Input", "left"),
    ("Output", "left"),
    ("Params", "right"),
    ("MACs", "right"),
    ("OK", "left"),
)


def title(result: FileResult) -> str:
    name = result.spec.name if result.spec and result.spec.name else ""
    return f"{result.file}{'  ' + name if name else ''}"


def cells(
    result: FileResult, depth: int | None, marks: Marks = UNICODE_MARKS
) -> list[tuple[str, ...]]:
    """The table's rows as text, one tuple of :data:`COLUMNS` per visible module."""
    return [
        (
            label(node),
            type_text(node),
            shape_text(node.input_shape),
            shape_text(node.output_shape),
            count(node, node.num_params),
            count(node, node.macs),
            mark(result, node, marks),
        )
        for node in visible(result, depth)
    ]


def plain_table(result: FileResult, depth: int | None, marks: Marks = UNICODE_MARKS) -> str:
    """The table for a pipe or a file: columns two spaces apart, a dashed rule under the
    header, no colour, then the totals."""
    rows = [tuple(h for h, _ in COLUMNS), *cells(result, depth, marks)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = [title(result), _line(rows[0], widths), "  ".join("-" * w for w in widths)]
    lines += [_line(row, widths) for row in rows[1:]]
    return "\n".join([*lines, *summary_lines(result), ""])


def _line(row: tuple[str, ...], widths: list[int]) -> str:
    parts = [
        text.rjust(w) if justify == "right" else text.ljust(w)
        for text, w, (_, justify) in zip(row, widths, COLUMNS, strict=True)
    ]
    return "  ".join(parts).rstrip()


def rich_table(result: FileResult, depth: int | None, marks: Marks = UNICODE_MARKS) -> Table:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    grid = Table(title=Text(safe(title(result))), box=box.SIMPLE_HEAD, title_justify="left")
    for header, justify in COLUMNS:
        grid.add_column(header, justify=justify, no_wrap=header != "Type")  # type: ignore[arg-type]
    for row in cells(result, depth, marks):
        grid.add_row(*(Text(safe(cell)) for cell in row))
    return grid


def markdown(result: FileResult, depth: int | None) -> str:
    name = result.spec.name if result.spec and result.spec.name else result.file
    lines = [
        f"### {_md(name)} (`{result.file}`)",
        "",
        "| Layer | Type | Input | Output | Params | MACs | OK |",
        "|---|---|---|---|--:|--:|:-:|",
    ]
    for node in visible(result, depth):
        indent = "&nbsp;&nbsp;" * (node.depth - 1)
        key = node.key + (f" {node.name}" if node.name and node.name != node.key else "")
        lines.append(
            f"| {indent}`{key}` | {_md(type_text(node))} | {shape_text(node.input_shape)} | "
            f"{shape_text(node.output_shape)} | {count(node, node.num_params)} | "
            f"{count(node, node.macs)} | {mark(result, node)} |"
        )
    lines.append("")
    lines += [f"- {line}" for line in summary_lines(result)]
    lines += [f"- **error**: `{e.headline}`" for e in result.errors]
    lines += [f"- **warning**: `{w.headline}`" for w in result.warnings]
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|")
