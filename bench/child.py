"""One measurement, run by ``bench/run.py`` in a fresh process (so imports never leak between
tools and peak memory belongs to one tool).

    python bench/child.py summary SPEC          # the torchinfo peer process: build, summary
    python bench/child.py time TOOL SPEC REPEAT # in-process seconds of TOOL, imports excluded

``time`` prints one JSON line: ``{"tool", "seconds": [...], "result"}`` (``result`` is the
tool's own total, so a row can be checked against the others). Imports, the YAML spec of the
peers' model and building it are done before the clock starts; every tool gets one untimed
warm-up call, then ``REPEAT`` timed calls (1 if the warm-up took over 5 s).
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

SLOW = 5.0  # seconds: past this, one timed call is enough


def convshape_predict(spec_path: str) -> Callable[[], Any]:
    import convshape

    def run() -> Any:
        prediction = convshape.predict(convshape.load(spec_path))
        assert prediction.ok, prediction.error
        return sum(n.macs for n in prediction.rows if n.layer is not None)

    return run


def _model(spec_path: str) -> tuple[Any, Any, tuple[int, ...]]:
    import torch

    import convshape

    spec = convshape.load(spec_path)
    model = convshape.build(spec).eval()
    return model, torch.randn(spec.input_shape), tuple(spec.input_shape)


def torchinfo_summary(spec_path: str) -> Callable[[], Any]:
    import torchinfo

    model, _, shape = _model(spec_path)
    return lambda: torchinfo.summary(model, input_size=shape, verbose=0).total_mult_adds


def fvcore_flops(spec_path: str) -> Callable[[], Any]:
    import torch
    from fvcore.nn import FlopCountAnalysis

    model, x, _ = _model(spec_path)

    def run() -> Any:
        with torch.no_grad():
            analysis = FlopCountAnalysis(model, x)
            analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            return analysis.total()

    return run


def ptflops_macs(spec_path: str) -> Callable[[], Any]:
    from ptflops import get_model_complexity_info

    model, _, shape = _model(spec_path)

    def run() -> Any:
        macs, _ = get_model_complexity_info(
            model, shape[1:], as_strings=False, print_per_layer_stat=False, verbose=False
        )
        return macs

    return run


def thop_macs(spec_path: str) -> Callable[[], Any]:
    import torch
    from thop import profile

    model, x, _ = _model(spec_path)

    def run() -> Any:
        with torch.no_grad():
            macs, _ = profile(model, inputs=(x,), verbose=False)
        return macs

    return run


def flop_counter_mode(spec_path: str) -> Callable[[], Any]:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    model, x, _ = _model(spec_path)

    def run() -> Any:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x)
        return counter.get_total_flops() // 2  # FLOPs = 2 * MACs

    return run


TOOLS: dict[str, Callable[[str], Callable[[], Any]]] = {
    "convshape": convshape_predict,
    "torchinfo": torchinfo_summary,
    "fvcore": fvcore_flops,
    "ptflops": ptflops_macs,
    "thop": thop_macs,
    "FlopCounterMode": flop_counter_mode,
}


def quietly(call: Callable[[], Any]) -> Any:
    """Peers print progress and warnings; none of it belongs in the table."""
    with (
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        return call()


def time_tool(tool: str, spec_path: str, repeat: int) -> dict[str, Any]:
    run = quietly(lambda: TOOLS[tool](spec_path))
    start = time.perf_counter()
    result = quietly(run)  # warm-up
    first = time.perf_counter() - start
    seconds = []
    for _ in range(1 if first > SLOW else repeat):
        start = time.perf_counter()
        quietly(run)
        seconds.append(time.perf_counter() - start)
    return {"tool": tool, "seconds": seconds, "result": int(result)}


def summary_process(spec_path: str) -> None:
    """What a torchinfo user runs: import torch, build the model, print its summary."""
    import torchinfo

    model, _, shape = _model(spec_path)
    print(torchinfo.summary(model, input_size=shape, verbose=0))


def main(argv: list[str]) -> None:
    if argv[0] == "summary":
        summary_process(argv[1])
    elif argv[0] == "time":
        print(json.dumps(time_tool(argv[1], argv[2], int(argv[3]))))
    else:
        raise SystemExit(f"unknown mode {argv[0]!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
