"""Small checks and helpers of the spec parser: located errors, suggestions, substitution."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from convshape.errors import Location, SpecError
from convshape.layers import REGISTRY
from convshape.spec.expr import substitute


def fail(message: str, location: Location, path: str = "", **more: Any) -> SpecError:
    err = SpecError(message, hint=more.pop("hint", None))
    return err.located(location=location, spec_path=path or None, **more)  # type: ignore[return-value]


def suggest(word: str, choices: list[str]) -> str | None:
    close = difflib.get_close_matches(word, choices, n=1)
    return f"did you mean '{close[0]}'?" if close else None


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
    """:func:`substitute` through lists (``kernel_size: [$k, $k]``); layer lists keep locations."""
    if isinstance(value, list):
        items = [substitute_deep(v, scope) for v in value]
        if all(a is b for a, b in zip(items, value, strict=True)):
            return value  # unchanged: keep the YList and its locations
        return items
    return substitute(value, scope)
