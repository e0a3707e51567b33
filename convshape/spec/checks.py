"""Small checks and helpers of the spec parser: located errors, suggestions, substitution."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from convshape.errors import Location, SpecError
from convshape.layers import REGISTRY
from convshape.spec.expr import build_list, substitute


def fail(message: str, location: Location, path: str = "", **more: Any) -> SpecError:
    err = SpecError(message, hint=more.pop("hint", None))
    return err.located(location=location, spec_path=path or None, **more)  # type: ignore[return-value]


def check_expect(value: Any, loc: Location, path: str) -> tuple[int | None, ...]:
    if isinstance(value, list) and all(v is None or (type(v) is int and v >= 1) for v in value):
        return tuple(value)
    raise fail(f"'expect' must be a list of sizes (null = any), got {value!r}", loc, path)


def type_hint(item: Mapping[str, Any]) -> str | None:
    """For a layer written without `type:` but with a layer name as a key."""
    for key in item:
        if key in REGISTRY:
            return f"write `type: {key}`"
    return None


def substitute_deep(value: Any, scope: Mapping[str, Any]) -> Any:
    """:func:`substitute` through lists (``kernel_size: [$k, $k]``); layer lists keep locations.

    Iterative, so no nesting makes it recurse; a list it builds is a :func:`build_list`, which
    keeps it within the YAML reader's budgets (nodes, depth, characters).
    """
    if not isinstance(value, list):
        return substitute(value, scope)
    stack: list[tuple[list[Any], list[Any]]] = [(value, [])]  # a list, its items done so far
    while True:
        source, items = stack[-1]
        if len(items) < len(source):
            item = source[len(items)]
            if isinstance(item, list):
                stack.append((item, []))
            else:
                items.append(substitute(item, scope))
            continue
        stack.pop()
        unchanged = all(a is b for a, b in zip(items, source, strict=True))
        result = source if unchanged else build_list(items)  # unchanged: the YList, located
        if not stack:
            return result
        stack[-1][1].append(result)


def identifier(name: str, loc: Location, what: str) -> None:
    """Refuse a variable, block or parameter name that is not an identifier."""
    if not name.isidentifier() or name.startswith("__"):
        raise fail(f"{what} name '{name}' must be an identifier (letters, digits, _)", loc)
