"""The verifier's guards: refuse a dummy run that would not fit, or not end, before starting it.

Both read the prediction (torch-free). Memory: the parameters, buffers and the predicted
inference peak of :mod:`convshape.footprint` (exact on cpu and meta). Time: layers that run a
Python loop per channel (``CrossMapLRN2d``) run it on every device, meta included.
"""

from __future__ import annotations

import os

from convshape.engine import Node, Prediction, locate
from convshape.errors import RuntimeFailure
from convshape.footprint import Memory

SAFE_FRACTION = 0.5  # of the memory available when the check runs
MAX_PYTHON_STEPS = 100_000  # Python-loop iterations (torch ops each) a verification may run


def python_steps(leaves: list[Node]) -> tuple[int, Node | None]:
    """Python-loop iterations of the whole forward, and the layer with the most."""
    steps = [(n.layer.python_steps(n.input_shape), n) for n in leaves if n.layer]
    worst = max(steps, key=lambda s: s[0], default=(0, None))
    return sum(s for s, _ in steps), worst[1]


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
    size = int(value * units[unit])
    if size < 1:
        raise ValueError(f"expected a size of at least 1 byte, got {text!r}")
    if size >= 2**63:
        raise ValueError(f"expected a size below 8 EiB, got {text!r}")
    return size


def human_size(num_bytes: float) -> str:
    """``8.1 GiB``, ``512 KiB``, ``100 B``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if num_bytes < 1024:
            return f"{num_bytes:.3g} {unit}" if unit != "B" else f"{num_bytes:.0f} B"
        num_bytes /= 1024
    return f"{num_bytes:,.1f} TiB"


# layers verified in about 30 s on meta (README: Safety): a Conv/BatchNorm/ReLU chain, where
# torch's Python BatchNorm meta kernel takes about 7 ms a call (an eval and a training run)
MAX_VERIFY_LAYERS = 5_000


def guard(prediction: Prediction, device: str, max_memory: int | None, memory: Memory) -> None:
    """Refuse, before anything runs, a verification that would not fit or not end: over the
    layer cap, a Python loop of more than :data:`MAX_PYTHON_STEPS` (any device), or (not on
    meta, which allocates nothing) more bytes than the limit: the parameters, the buffers and
    the inference peak of ``memory``."""
    assert prediction.root is not None
    where = prediction.spec.input_location
    nodes = prediction.root.leaves()
    leaves = len(nodes)
    if leaves > MAX_VERIFY_LAYERS:
        raise RuntimeFailure(
            f"verifying {leaves:,} layers would take minutes (the limit is "
            f"{MAX_VERIFY_LAYERS:,}: about 30 s on the meta device)",
            hint="check it with --no-verify (formula only, up to 100,000 layers)",
        ).located(location=where)
    steps, worst = python_steps(nodes)
    if steps > MAX_PYTHON_STEPS and worst is not None:
        raise locate(
            RuntimeFailure(
                f"verifying would run a Python loop of {steps:,} steps ({worst.type_name} at "
                f"{worst.path} loops over its {worst.input_shape[1]:,} channels), over the limit "
                f"of {MAX_PYTHON_STEPS:,}, on every device, meta included",
                hint="check it with --no-verify (formula only)",
            ),
            worst,
        )
    if device == "meta":
        return  # nothing is allocated
    limit = max_memory if max_memory is not None else int(SAFE_FRACTION * available_bytes())
    need = memory.inference_bytes
    if need > limit:
        source = "--max-memory" if max_memory is not None else "half the available memory"
        raise RuntimeFailure(
            f"verifying on {device} needs {human_size(need)} ({memory.dtype}: the parameters, "
            "buffers and the most activations alive at once in one forward), over the "
            f"limit of {human_size(limit)} ({source})",
            hint="use --device meta (no memory is allocated), a smaller --batch, "
            "or raise --max-memory",
        ).located(location=where)
