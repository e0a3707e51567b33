"""The warning codes (their rules live in :mod:`convshape.lint`), and ``allow:`` lists.

Kept apart from the rules so the spec parser can check an ``allow:`` without the engine.
"""

from __future__ import annotations

from typing import Any

from convshape.errors import Location, SpecError, did_you_mean

CODES = {
    "CS101": "the input has no batch dimension, by accident",
    "CS102": "Linear on a feature map: a forgotten Flatten",
    "CS103": "Dropout right before BatchNorm",
    "CS104": "a stride larger than the kernel skips input positions",
    "CS105": "pooling or conv drops border positions by floor division",
    "CS106": "an empty tensor: a dimension of size 0",
}


def check_allow(value: Any, loc: Location, path: str) -> frozenset[str]:
    """An ``allow:`` list of warning codes."""
    codes = value if isinstance(value, list) else [value]
    for code in codes:
        if code not in CODES:
            hint = did_you_mean(str(code), CODES) or f"the codes: {', '.join(CODES)}"
            err = SpecError(f"'allow' lists {code!r}, which is not a warning code", hint=hint)
            raise err.located(location=loc, spec_path=path)
    return frozenset(codes)
