"""Python calls laid out as ``ruff format`` lays them out (default width 88), for export.

A call that fits on its line (with its comment) stays on one line. One that does not, or that
holds a module with a comment, is split one argument per line with a trailing comma, which
ruff keeps as written (the "magic trailing comma"). A comment that would make a one-line call
too long goes on its own line above it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

WIDTH = 88

Arg = tuple[str | None, "Call | str"]  # (keyword or None, the value's code)


@dataclass
class Call:
    """``func(args)suffix``; ``func`` empty: a parenthesised tuple (``brackets`` "[]": a list)."""

    func: str
    args: list[Arg] = field(default_factory=list)
    brackets: str = "()"
    suffix: str = ""
    comment: str | None = None


@dataclass
class Line:
    call: Call


@dataclass
class Code:
    """What the generated text needs besides torch: convshape.modules classes, OrderedDict."""

    helpers: set[str] = field(default_factory=set)
    ordered_dict: bool = False


def literal(value: Any) -> str:
    """Python source for a spec value, quoted as ruff quotes (double quotes)."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, tuple):
        items = [literal(v) for v in value]
        return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
    if isinstance(value, list):
        return f"[{', '.join(literal(v) for v in value)}]"
    if isinstance(value, frozenset):
        return f"frozenset({{{', '.join(literal(v) for v in sorted(value))}}})"
    raise TypeError(f"no literal for {value!r}")


def _commented(call: Call | str) -> bool:
    """Whether a comment sits inside (a one-line form would lose it)."""
    if isinstance(call, str):
        return False
    return any(isinstance(v, Call) and (v.comment or _commented(v)) for _, v in call.args)


def flat(code: Call | str) -> str:
    if isinstance(code, str):
        return code
    args = ", ".join(f"{k}={flat(v)}" if k else flat(v) for k, v in code.args)
    if not code.func and code.brackets == "()" and len(code.args) == 1:
        args += ","
    return f"{code.func}{code.brackets[0]}{args}{code.brackets[1]}{code.suffix}"


def render(line: Line | Call | str, indent: int, prefix: str = "", end: str = "") -> list[str]:
    """The lines of ``prefix + call + end`` at ``indent`` spaces."""
    call = line.call if isinstance(line, Line) else line
    pad = " " * indent
    one = f"{pad}{prefix}{flat(call)}{end}"
    comment = call.comment if isinstance(call, Call) else None
    if not _commented(call):
        if comment and len(one) + 4 + len(comment) <= WIDTH:
            return [f"{one}  # {comment}"]
        if len(one) <= WIDTH or isinstance(call, str) or not call.args:
            return [f"{pad}# {comment}", one] if comment else [one]
    assert isinstance(call, Call)
    head = f"{pad}{prefix}{call.func}{call.brackets[0]}"
    lines = [f"{pad}# {comment}"] if comment else []
    lines.append(head)
    for keyword, value in call.args:
        lines += render(value, indent + 4, f"{keyword}=" if keyword else "", ",")
    lines.append(f"{pad}{call.brackets[1]}{call.suffix}{end}")
    return lines
