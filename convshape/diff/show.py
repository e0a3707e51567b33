"""The diff as a table, Markdown (for a PR comment) and JSON."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from convshape.diff.compare import NUMBERS, Diff, Figure, Module, Row, skeleton
from convshape.render import safe, shape_text

# ------------------------------------------------------------------------------ rendering


def _count(n: int | None) -> str:
    return "-" if n is None else f"{n:,}"


def _signed(n: int | None) -> str:
    """``+1,024``, ``-3``, ``0``; ``-`` for no figure."""
    if n is None:
        return "-"
    return f"{n:+,}" if n else "0"


def _percent(figure: Figure) -> str:
    """``+3.2%``, ``-<0.1%`` for a change too small to show, ``new`` from 0."""
    pct, delta = figure.percent, figure.delta
    if delta is None:
        return ""
    if pct is None:
        return "new" if delta else ""
    if delta and abs(pct) < 0.05:
        return "+<0.1%" if delta > 0 else "-<0.1%"
    return f"{pct:+.1f}%" if delta else "0.0%"


def _both(old: str | None, new: str | None, arrow: str) -> str:
    """One side's text, or ``old -> new`` when they differ."""
    if old is None or new is None or old == new:
        return new if new is not None else old or ""
    return f"{old}{arrow}{new}"


def _row_cells(row: Row, has_memory: bool, arrow: str) -> list[str]:
    old, new, side = row.old, row.new, row.side

    def both(text: Callable[[Module], str]) -> str:
        return _both(None if old is None else text(old), None if new is None else text(new), arrow)

    moved = old is not None and new is not None and skeleton(old.path) != skeleton(new.path)
    cells = [
        both(lambda m: m.path) if moved else row.path,
        row.status,
        both(lambda m: m.type_text),
        both(lambda m: shape_text(m.output_shape)),
    ]
    fields = NUMBERS if has_memory else NUMBERS[:2]
    for field in fields:
        value, delta = getattr(side, field), row.delta(field)
        wrap = side.container and field != "saved_bytes"  # subtotals, as `check` shows them
        shown = [_count(value), _signed(delta) if delta else ""]
        cells += [f"({text})" if wrap and text else text for text in shown]
    return cells


TABLE_HEAD = ("Layer", "Status", "Type", "Output", "Params", "+/-", "MACs", "+/-")
MEMORY_HEAD = ("Saved B", "+/-")


def _counts_line(d: Diff, hidden: int) -> str:
    c = d.counts
    line = f"{c['changed']} changed, {c['added']} added, {c['removed']} removed, "
    return line + (f"{hidden} unchanged not shown" if hidden else f"{c['same']} unchanged")


def _side_title(file: str, name: str | None) -> str:
    return f"{file} ({name})" if name else file


def diff_table(d: Diff, only_changes: bool = True) -> str:
    """Plain text: a title, the rows (only the changed ones by default, then how many were
    not shown), columns two spaces apart under a dashed rule, then the totals with signed
    changes and percentages.

    A row's Layer is its new path (a removed module's: its old one), ``old -> new`` when a key
    was renamed or the module moved; a container's Params and MACs are subtotals, in
    parentheses as ``check`` shows them."""
    lines = [safe(f"{_side_title(d.old, d.old_name)} -> {_side_title(d.new, d.new_name)}")]
    rows = d.changes if only_changes else list(d.rows)
    if rows:
        head = TABLE_HEAD + (MEMORY_HEAD if d.has_memory else ())
        body = [[safe(c) for c in _row_cells(r, d.has_memory, " -> ")] for r in rows]
        left = 4  # Layer, Status, Type, Output: left-aligned; the numbers right-aligned
        lines += _grid([list(head), *body], left, rule_after=1)
    else:
        lines.append(f"no module changed ({len(d.rows)} compared)")
    lines.append(_counts_line(d, len(d.rows) - len(rows)))
    lines.append("")
    figures = [
        [f.label, _count(f.old), _count(f.new), _signed(f.delta), _percent(f)] for f in d.totals
    ]
    lines += _grid([["Totals", "old", "new", "change", "%"], *figures], 1, rule_after=1)
    if d.memory:
        lines.append(f"(bytes: {d.memory}; Saved B: what each module saves for backward)")
    return "\n".join(lines) + "\n"


def _grid(rows: list[list[str]], left: int, rule_after: int) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]

    def line(row: list[str]) -> str:
        cells = [
            text.ljust(w) if i < left else text.rjust(w)
            for i, (text, w) in enumerate(zip(row, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    out = [line(row) for row in rows]
    out.insert(rule_after, "  ".join("-" * w for w in widths))
    return out


MARKDOWN_ROWS = 100  # changed rows in a Markdown table: about 20,000 characters


def _md(text: str) -> str:
    return safe(text).replace("|", "\\|")


def diff_markdown(d: Diff, max_rows: int = MARKDOWN_ROWS) -> str:
    """For a pull-request comment: a title, one line of the totals' changes, then a table of
    the changed rows (the first ``max_rows``: a comment holds 65,536 characters)."""
    title = f"### convshape diff: `{_md(d.old)}` → `{_md(d.new)}`"
    if d.new_name and d.new_name == d.old_name:
        title += f" ({_md(d.new_name)})"
    elif d.old_name or d.new_name:
        title += f" ({_md(d.old_name or '-')} → {_md(d.new_name or '-')})"
    changed, unchanged = [], []
    params = d.figure("params")
    for f in d.totals:
        if f.key == "trainable_params" and (f.old, f.new) == (params.old, params.new):
            continue  # every parameter trains: the same figure twice
        if f.delta:
            pct = _percent(f)
            change = f"**{_signed(f.delta)}**" + (f", {pct}" if pct else "")
            changed.append(f"{f.label} {_count(f.old)} → {_count(f.new)} ({change})")
        elif f.delta == 0:
            unchanged.append(f.label)
    summary = " · ".join(changed) if changed else "no total changed"
    if unchanged and changed:
        summary += f" · unchanged: {', '.join(unchanged)}"
    lines = [title, "", summary, ""]
    rows = d.changes
    if rows:
        head = ["Layer", "Status", "Type", "Output", "Params", "Δ Params", "MACs", "Δ MACs"]
        align_row = ["---"] * 4 + ["--:"] * 4
        if d.has_memory:
            head += ["Saved B", "Δ Saved B"]
            align_row += ["--:"] * 2
        lines += [_md_row(head), _md_row(align_row)]
        for row in rows[:max_rows]:
            cells = [_md(c) for c in _row_cells(row, d.has_memory, " → ")]
            cells[0] = f"`{cells[0]}`"
            cells[1] = f"**{cells[1]}**" if row.status != "changed" else cells[1]
            lines.append(_md_row(cells))
        lines.append("")
        if len(rows) > max_rows:
            more = len(rows) - max_rows
            lines += [f"... and {more:,} more changed rows (the JSON output has every row).", ""]
    else:
        lines += ["No module changed.", ""]
    lines.append(_counts_line(d, len(d.rows) - len(rows)) + ".")
    if d.memory:
        lines.append(f"Memory figures in bytes ({d.memory}).")
    return "\n".join(lines) + "\n"


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def diff_json(d: Diff) -> dict[str, Any]:
    """``{"old", "new", "totals": {key: {"old", "new", "delta"}}, "counts", "rows"}``; every
    row, unchanged ones included, as ``{"path", "name", "status", "old", "new", "delta"}``."""
    return {
        "old": d.old,
        "new": d.new,
        "totals": {f.key: {"old": f.old, "new": f.new, "delta": f.delta} for f in d.totals},
        "counts": d.counts,
        "rows": [row.as_json() for row in d.rows],
    }
