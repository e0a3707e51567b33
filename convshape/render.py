"""The human-readable reports: the layer table (fitted to the terminal), the summary, Markdown.

Formatting only reads :class:`~convshape.results.FileResult` and its prediction's
:class:`~convshape.engine.Totals`; nothing here computes shapes or imports torch or rich.
:func:`safe` is the one escaping rule for user text shown in a terminal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import IO, Any, NamedTuple

from convshape.engine import Node
from convshape.receptive import Field, receptive_fields
from convshape.results import FileResult

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


def _mode(result: FileResult) -> str:
    return " in training mode" if result.spec is not None and result.spec.training else ""


def status(result: FileResult) -> str:
    if result.verified and not result.errors:
        return f"verified on {result.device}{_mode(result)}"
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
        *count_summary(result),
        *memory_summary(result),
        f"Input {shape_text(result.spec.input_shape if result.spec else None)} -> output "
        f"{shape_text(result.prediction.output_shape)}: {status(result)}",
    ]


def count_summary(result: FileResult) -> list[str]:
    """check --count: the total as that peer reports it (or why it cannot)."""
    from convshape.conventions import CONVENTIONS

    if result.count is not None:
        conv = CONVENTIONS[result.count.convention]
        per = " per sample" if conv.per_sample else ""
        return [f"As {conv.name} counts: {result.count.total:,} {conv.unit}s{per} ({conv.rule})"]
    if result.count_error is not None:
        return [f"Not countable as asked: {result.count_error}"]
    return []


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


def failure_counts(result: FileResult) -> str:
    """``2 errors (shape, mismatch), 1 warning``."""
    kinds = sorted({str(e.kind) for e in result.errors})
    parts = []
    if result.errors:
        n = len(result.errors)
        parts.append(f"{n} error{'s' if n > 1 else ''} ({', '.join(kinds)})")
    if result.warnings:
        n = len(result.warnings)
        parts.append(f"{n} warning{'s' if n > 1 else ''}")
    return ", ".join(parts)


def one_line(result: FileResult) -> str:
    """``--quiet``: one line per file."""
    if not result.ok:
        kinds = sorted({str(e.kind) for e in result.errors} | ({"warning"} if result.warnings
                                                                  else set()))  # fmt: skip
        return f"{result.file}: FAILED ({', '.join(kinds)})"
    t, prediction = result.totals, result.prediction
    assert t is not None and prediction is not None and prediction.output_shape is not None
    how = f"verified on {result.device}" if result.verified else "predicted"
    how += _mode(result)
    warned = f", {len(result.warnings)} warning(s)" if result.warnings else ""
    shape = list(prediction.output_shape)
    return f"{result.file}: ok, output {shape}, {t.params:,} params, {t.macs:,} MACs, {how}{warned}"


def title(result: FileResult) -> str:
    name = result.spec.name if result.spec and result.spec.name else ""
    return f"{result.file}{'  ' + name if name else ''}"


MAX_ROWS = 50  # a deep model's default depth keeps the table within this many rows


@dataclass(frozen=True)
class Row:
    """One line of the table: a module, or a run of identical repeated blocks collapsed."""

    node: Node  # the first of the run
    last: Node  # the last of the run
    times: int
    layer: str
    type: str
    input: tuple[int, ...]
    output: tuple[int, ...]
    params: int
    macs: int
    leaf: bool
    mark: str


def frozen(node: Node) -> bool:
    return node.num_params > 0 and node.trainable_params == 0


def display_rows(
    result: FileResult, depth: int | None, marks: Marks = UNICODE_MARKS, collapse: bool = True
) -> list[Row]:
    """The modules down to ``depth``; consecutive uses of one block in one container become one
    row ``Bottleneck x3`` (input of the first, output of the last, params and MACs summed, its
    insides not shown). A failed prediction shows the modules predicted before the error."""
    prediction = result.prediction
    if prediction is None or prediction.root is None:
        return [_row(result, [n], marks) for n in visible(result, depth)]
    rows: list[Row] = []

    def walk(children: tuple[Node, ...]) -> None:
        i = 0
        while i < len(children):
            run = [children[i]]
            while (
                collapse and i + len(run) < len(children) and _repeats(run, children[i + len(run)])
            ):
                run.append(children[i + len(run)])
            if len(run) == 2 and run[0].num_params != run[1].num_params:
                run = run[:1]  # two different uses of a block: not a repeat
            i += len(run)
            if depth is not None and run[0].depth > depth:
                continue
            rows.append(_row(result, run, marks))
            if len(run) == 1:
                walk(run[0].children)

    walk(prediction.root.children)
    return rows


def _repeats(run: list[Node], node: Node) -> bool:
    """``node`` repeats the run's block: the same block, and (after the first, which may
    change the shape, as a ResNet stage's first Bottleneck does) the same parameter count."""
    first = run[0]
    same = bool(first.decl.block) and node.decl.block == first.decl.block
    return same and (len(run) == 1 or run[-1].num_params == node.num_params)


def _row(result: FileResult, run: list[Node], marks: Marks) -> Row:
    first, last = run[0], run[-1]
    kind = type_text(first) + (" frozen" if all(frozen(n) for n in run) else "")
    worst = next((m for m in (mark(result, n, marks) for n in run) if m == marks.failed), None)
    return Row(
        first, last, len(run), label(first), kind, first.input_shape, last.output_shape,
        sum(n.num_params for n in run), sum(n.macs for n in run), first.layer is not None,
        worst or mark(result, last, marks),
    )  # fmt: skip


def default_depth(result: FileResult) -> int | None:
    """All rows when they are few; else the deepest level whose table (repeats collapsed)
    stays within :data:`MAX_ROWS`."""
    if len(result.rows) <= MAX_ROWS:
        return None
    deepest = max(n.depth for n in result.rows)
    best = 1
    for depth in range(1, deepest + 1):
        if len(display_rows(result, depth)) > MAX_ROWS:
            break
        best = depth
    return best


def human(value: int) -> str:
    """``25.6M``, ``1.81G``, ``513K``, ``96``: three significant digits (``--units``)."""
    for unit, scale in (("T", 10**12), ("G", 10**9), ("M", 10**6), ("K", 10**3)):
        if value >= scale:
            return f"{value / scale:.3g}{unit}"
    return str(value)


class Layout(NamedTuple):
    units: bool  # K/M/G numbers
    input: bool  # the Input column shown
    short_type: bool  # block names without their torch class
    batch: int | None  # the batch size dropped from every shape, or None
    fields: dict[str, Field | None] | None = None  # a receptive-field column


def field_text(field: Field | None) -> str:
    """``435/32`` (size / effective stride, square), ``7x5/2x1``, ``-`` where undefined."""
    if field is None:
        return "-"
    size, stride = field.size, field.stride
    if len(set(size)) == 1 and len(set(stride)) == 1:
        return f"{size[0]}/{stride[0]}"
    return "x".join(map(str, size)) + "/" + "x".join(map(str, stride))


def _batch(result: FileResult, rows: list[Row]) -> int | None:
    """The batch size when every shown shape starts with it (so it can go), else None."""
    if result.spec is None or result.spec.unbatched or not rows:
        return None
    n = result.spec.input_shape[0]
    shapes = [s for r in rows for s in (r.input, r.output)]
    return n if all(len(s) >= 2 and s[0] == n for s in shapes) else None


def _cells(result: FileResult, rows: list[Row], how: Layout) -> list[list[str]]:
    def shape(value: tuple[int, ...]) -> str:
        return shape_text(value[1:] if how.batch is not None else value)

    def number(row: Row, value: int) -> str:
        text = human(value) if how.units else f"{value:,}"
        return text if row.leaf and row.times == 1 else f"({text})"

    verified = result.verification is not None
    header = ["Layer", "Type", "Input", "Output", "Params", "MACs"]
    header += (["Field/stride"] if how.fields is not None else []) + (["OK"] if verified else [])
    out = [header]
    for row in rows:
        kind = row.type.split(" (")[0] if how.short_type else row.type
        if row.times > 1:
            kind += f" x{row.times}"
        line = [row.layer, kind, shape(row.input), shape(row.output), number(row, row.params),
                number(row, row.macs)]  # fmt: skip
        if how.fields is not None:  # a collapsed run: the last one's field
            line.append(field_text(how.fields.get(row.last.path)))
        out.append(line + ([row.mark] if verified else []))
    if not how.input:
        for line in out:
            del line[2]
    return out


def _width(table: list[list[str]]) -> int:
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    return sum(widths) + 2 * (len(widths) - 1)


def fitted(
    result: FileResult,
    rows: list[Row],
    width: int | None,
    units: bool,
    fields: dict[str, Field | None] | None = None,
) -> tuple[list[list[str]], Layout]:
    """The cells at the first layout that fits ``width``: drop the common batch dimension,
    then human units, then short type names, then the Input column (each row's input is the
    row above's output); text cells are cut last (never a number)."""
    batch = _batch(result, rows)
    tries = [
        Layout(units, True, False, batch, fields),
        Layout(True, True, False, batch, fields),
        Layout(True, True, True, batch, fields),
        Layout(True, False, True, batch, fields),
    ]
    for how in tries:
        table = _cells(result, rows, how)
        if width is None or _width(table) <= width:
            return table, how
    assert width is not None
    return _cut(table, width), how


def _cut(table: list[list[str]], width: int) -> list[list[str]]:
    """Cut the Layer and Type texts (the widest first) with an ellipsis until the table fits."""
    for _ in range(200):
        widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
        excess = sum(widths) + 2 * (len(widths) - 1) - width
        if excess <= 0:
            break
        col = 0 if widths[0] >= widths[1] else 1
        target = max(6, widths[col] - excess)
        if target >= widths[col]:
            break
        for line in table[1:]:
            if len(line[col]) > target:
                line[col] = line[col][: target - 1] + "…"
    return table


def plain_table(
    result: FileResult,
    depth: int | None,
    marks: Marks = UNICODE_MARKS,
    width: int | None = None,
    units: bool = False,
    receptive: bool = False,
) -> str:
    """The table: columns two spaces apart, a dashed rule under the header, no colour, fitted
    to ``width`` (None: as wide as it needs), then the totals; ``receptive``: a column of
    receptive field / effective stride."""
    chosen = depth if depth is not None else default_depth(result)
    rows = display_rows(result, chosen, marks, collapse=depth is None)
    fields = None
    if receptive and result.prediction is not None:
        fields = receptive_fields(result.prediction)
    table, how = fitted(result, rows, width, units, fields)
    notes = []
    if how.batch is not None:
        notes.append(f"shapes without the batch dimension (N = {how.batch})")
    if depth is None and any(row.times > 1 for row in rows):
        notes.append("repeated blocks collapsed")
    if depth is None and (chosen is not None or any(row.times > 1 for row in rows)):
        deepest = max(n.depth for n in result.rows)
        shown = f"depth {chosen} of {deepest}, " if chosen is not None and chosen < deepest else ""
        notes.append(f"{shown}--depth N shows every module")
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    right = {"Params", "MACs"}
    lines = [title(result), *(wrap(f"({', '.join(notes)})", width) if notes else [])]
    for i, line in enumerate(table):
        parts = [
            cell.rjust(w) if table[0][j] in right else cell.ljust(w)
            for j, (cell, w) in enumerate(zip(line, widths, strict=True))
        ]
        lines.append("  ".join(parts).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    summary = [part for line in summary_lines(result) for part in wrap(line, width)]
    return "\n".join([*lines, *summary, ""])


def wrap(line: str, width: int | None) -> list[str]:
    """A summary line broken after its commas to fit ``width``, continued indented."""
    if width is None or len(line) <= width:
        return [line]
    out, current = [], ""
    for piece in line.split(", "):
        candidate = f"{current}, {piece}" if current else piece
        if current and len(candidate) + 1 > width:
            out.append(current + ",")
            current = "  " + piece
        else:
            current = candidate
    return [*out, current]


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
