"""The ``budget:`` mapping of a spec, read: which figure, what limit, written where.

Counts (``params``, ``macs``) take powers of 1000 (``25M`` = 25,000,000); byte figures take
powers of 1024 (``2G``, ``2GiB`` = 2**31). :mod:`convshape.budget` checks them.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from math import isfinite

from convshape.errors import Location

UNITS = {  # figure -> "count" or "bytes"; the names of the JSON contract
    "params": "count",
    "trainable_params": "count",
    "macs": "count",
    "flops": "count",
    "param_bytes": "bytes",
    "saved_activation_bytes": "bytes",
    "inference_peak_bytes": "bytes",
    "inference_bytes": "bytes",
    "training_peak_bound_bytes": "bytes",
}
COUNT_SCALES = {"K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
BYTE_SCALES = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


@dataclass(frozen=True)
class Budget:
    figure: str  # a key of UNITS
    limit: int
    text: str  # as written: "25M"
    source: str  # "budget.params" or "--max-params"
    location: Location | None = None  # where the spec sets it


def parse_limit(figure: str, value: object) -> int:
    """``25M`` -> 25,000,000 for a count; ``2GiB`` or ``2G`` -> 2**31 for bytes; a plain
    number is itself. ValueError says what would do."""
    unit = UNITS[figure]
    scales = COUNT_SCALES if unit == "count" else BYTE_SCALES
    example = "25M or 4.1G" if unit == "count" else "512MiB or 2G"
    bad = ValueError(f"expected a number or a size such as {example}, got {value!r}")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise bad
    if isinstance(value, float) and not isfinite(value):
        raise bad
    number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value) if isinstance(
        value, int) else Decimal(0)  # fmt: skip
    if isinstance(value, str):
        body = value.strip().upper().replace("_", "").replace(",", "")
        if unit == "bytes":
            body = body.removesuffix("B").removesuffix("I")
        scale = scales.get(body[-1:], 1)
        digits = body[:-1] if body[-1:] in scales else body
        try:
            number = Decimal(digits) * scale  # exact: 4.1G is 4,100,000,000
        except InvalidOperation:
            raise bad from None
        if not number.is_finite():
            raise bad
    if not 0 < number < 2**63:
        raise ValueError(f"expected a positive limit below 2**63, got {value!r}")
    return int(number)
