"""The README's counting-conventions table: each peer's convention, by formula and measured.

    python bench/conventions_table.py     # about 30 s on 2 cores; prints Markdown

For resnet50, mobilenet_v2 and vit_b_16, every convention of
:data:`convshape.conventions.CONVENTIONS` by formula (:func:`convshape.conventions.count`, no
torch needed), in G (10^9) of the convention's unit. Where torch and the peer are installed (the
``bench`` extra), the peer runs the documented way on the model convshape builds, and the cell
gets "= peer" when the peer's own number is exactly ours, or the peer's number when it is not.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import io
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ("resnet50", "mobilenet_v2", "vit_b_16")
PEER_MODULES = {"flopcounter": "torch", "fvcore": "fvcore", "ptflops": "ptflops",
                "thop": "thop", "torchinfo": "torchinfo"}  # fmt: skip


def flopcounter(model: Any, shape: tuple[int, ...]) -> int:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    # on the meta device: on cpu, attention runs fused kernels FlopCounterMode has no formula
    # for (convshape/conventions.py docstring), so vit_b_16 would count less
    meta = copy.deepcopy(model).to_empty(device="meta")
    with torch.no_grad(), FlopCounterMode(display=False) as mode:
        meta(torch.empty(shape, device="meta"))
    return int(mode.get_total_flops())


def fvcore(model: Any, shape: tuple[int, ...]) -> int:
    import torch
    from fvcore.nn import FlopCountAnalysis

    analysis = FlopCountAnalysis(model, (torch.randn(shape),))
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    return int(analysis.total())


def ptflops(model: Any, shape: tuple[int, ...]) -> int:
    from ptflops import get_model_complexity_info

    macs, _ = get_model_complexity_info(
        model, shape[1:], as_strings=False, backend="pytorch", print_per_layer_stat=False
    )
    return int(macs)


def thop(model: Any, shape: tuple[int, ...]) -> int:
    import torch
    from thop import profile

    total, _ = profile(copy.deepcopy(model), inputs=(torch.randn(shape),), verbose=False)
    return int(total)


def torchinfo(model: Any, shape: tuple[int, ...]) -> int:
    from torchinfo import summary

    return int(summary(model, input_size=shape, verbose=0).total_mult_adds)


RUNNERS: dict[str, Callable[[Any, tuple[int, ...]], int]] = {
    "flopcounter": flopcounter,
    "fvcore": fvcore,
    "ptflops": ptflops,
    "thop": thop,
    "torchinfo": torchinfo,
}


def measured(name: str) -> dict[str, int]:
    """Each installed peer's own number for config ``name``."""
    if importlib.util.find_spec("torch") is None:
        return {}
    import torch

    import convshape

    prediction = convshape.predict(convshape.load(ROOT / "configs" / f"{name}.yaml"))
    torch.manual_seed(0)
    model = convshape.build(prediction).eval()
    shape = tuple(prediction.spec.input_shape)
    found: dict[str, int] = {}
    for peer, run in RUNNERS.items():
        if importlib.util.find_spec(PEER_MODULES[peer]) is None:
            continue
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")  # the peers' own deprecation and tracer warnings
            found[peer] = run(model, shape)
    return found


def cell(ours: int, peer: int | None) -> str:
    text = f"{ours / 1e9:.3f}"
    if peer is None:
        return text
    return f"{text} (= peer)" if peer == ours else f"{text} (peer: {peer / 1e9:.3f})"


def main() -> None:
    sys.path.insert(0, str(ROOT))
    import convshape
    from convshape.conventions import CONVENTIONS, count

    predictions = {
        n: convshape.predict(convshape.load(ROOT / f"configs/{n}.yaml")) for n in CONFIGS
    }
    peers = {name: measured(name) for name in CONFIGS}
    print("| convention | unit | " + " | ".join(CONFIGS) + " | rule |")
    print("|---|---|" + "---|" * len(CONFIGS) + "---|")
    for name, conv in CONVENTIONS.items():
        cells = [
            cell(count(predictions[config], name).total, peers[config].get(name))
            for config in CONFIGS
        ]
        print(f"| `{name}` | G{conv.unit} | " + " | ".join(cells) + f" | {conv.rule} |")


if __name__ == "__main__":
    main()
