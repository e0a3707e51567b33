"""The verifier's memory guard: refuse a dummy run that would not fit, before allocating it.

The estimate comes from the prediction (torch-free): float32 parameters, plus the input, plus
twice the largest activation (a layer's input and output are alive together under no_grad).
"""

from __future__ import annotations

import os
from math import prod

from convshape.engine import Prediction
from convshape.errors import RuntimeFailure

BYTES = 4  # float32
SAFE_FRACTION = 0.5  # of the memory available when the check runs


def estimate_bytes(prediction: Prediction) -> int:
    assert prediction.totals is not None and prediction.root is not None
    largest = max((prod(n.output_shape) for n in prediction.root.leaves()), default=0)
    t = prediction.totals
    return BYTES * (t.params + t.input_numel + 2 * largest)


def available_bytes() -> int:
    """MemAvailable from /proc/meminfo (Linux), else physical memory."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def parse_size(text: str) -> int:
    """``512M``, ``2G``, ``1.5GB``, ``1000000`` -> bytes."""
    units = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
    body = text.strip().upper().removesuffix("B").removesuffix("I")
    unit = body[-1] if body and body[-1] in units else ""
    number = body[: len(body) - len(unit)]
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"expected a size such as 512M or 2G, got {text!r}") from None
    if not 0 < value < 2**63:  # also refuses nan and inf
        raise ValueError(f"expected a positive size, got {text!r}")
    return int(value * units[unit])


def human_size(num_bytes: float) -> str:
    """``8.1 GiB``, ``512 KiB``, ``100 B``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if num_bytes < 1024:
            return f"{num_bytes:.3g} {unit}" if unit != "B" else f"{num_bytes:.0f} B"
        num_bytes /= 1024
    return f"{num_bytes:,.1f} TiB"


def guard(prediction: Prediction, device: str, max_memory: int | None) -> None:
    """Refuse (located at the spec's ``input``) a run whose estimate exceeds the limit."""
    if device == "meta":
        return  # nothing is allocated
    limit = max_memory if max_memory is not None else int(SAFE_FRACTION * available_bytes())
    need = estimate_bytes(prediction)
    if need > limit:
        where = "--max-memory" if max_memory is not None else "half the available memory"
        err = RuntimeFailure(
            f"verifying on {device} needs about {human_size(need)} (float32 params, input and "
            f"the largest activations), over the limit of {human_size(limit)} ({where})",
            hint="use --device meta (no memory is allocated), a smaller --batch, "
            "or raise --max-memory",
        )
        raise err.located(location=prediction.spec.input_location)
