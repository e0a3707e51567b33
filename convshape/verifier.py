"""The verifier: run the real model on a dummy tensor and diff every module against the prediction.

Forward pre/post hooks on every module (containers and leaves) record each output shape and the
FLOPs ``FlopCounterMode`` counted inside it; a stack of entered modules tells which one raised
when torch fails. The model is built directly on the requested device (``meta`` allocates no
storage at all), run in eval mode under ``no_grad``; hooks are removed in ``finally``.

Memory, to the byte: the eval run also tracks every activation storage alive (the inference
peak), and a second, training-mode run accounts what autograd saves for backward
(:mod:`convshape.measure`); both are diffed against :mod:`convshape.footprint` per module.

Values, not only shapes (cpu and cuda): when the model has in-place layers, it runs a second
time with every ``inplace`` flag off; the outputs must agree, or an in-place layer overwrote a
tensor that another path still reads (reported at the first module whose output differs).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils import flop_counter
from torch.utils._python_dispatch import _disable_current_modes
from torch.utils.flop_counter import FlopCounterMode

from convshape.builder import build
from convshape.engine import Node, Prediction, locate
from convshape.errors import ConvshapeError, MismatchError, RuntimeFailure
from convshape.footprint import Memory, footprint
from convshape.layers.base import fmt
from convshape.measure import Live, Saved, TrainingFailure, live_bytes, saved_for_backward
from convshape.memory import guard

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}

Shape = tuple[int, ...]


@dataclass
class Verification:
    device: str
    completed: bool = False
    actual: dict[str, Shape] = field(default_factory=dict)  # module path -> output shape
    flops: dict[str, int] = field(default_factory=dict)  # module path -> FlopCounterMode count
    order: list[str] = field(default_factory=list)  # module paths as their forward finished
    errors: list[ConvshapeError] = field(default_factory=list)
    live: Live | None = None  # activation bytes alive in the eval run
    saved: Saved | None = None  # bytes autograd saved in the training run


def check_device(device: str) -> None:
    """Refuse a device this machine cannot run, before any work."""
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeFailure(
            "--device cuda: CUDA is not available here "
            f"(torch {torch.__version__}, built with CUDA {torch.version.cuda or 'none'})",
            hint="use --device cpu, or --device meta to check shapes without allocating",
        )
    if device not in ("cpu", "cuda", "meta"):
        raise RuntimeFailure(f"unknown device {device!r}; use cpu, cuda or meta")


class _Recorder:
    """The hooks: output shapes, FLOPs per module, and the stack of modules being run."""

    def __init__(self, counter: FlopCounterMode, result: Verification) -> None:
        self.counter = counter
        self.result = result
        self.stack: list[tuple[str, int]] = []  # (path, flops when entered)

    def pre(self, path: str) -> Callable[..., None]:
        def hook(module: nn.Module, args: Any) -> None:
            self.stack.append((path, self.counter.get_total_flops()))

        return hook

    def post(self, path: str) -> Callable[..., None]:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            _, flops_before = self.stack.pop()
            self.result.flops[path] = self.counter.get_total_flops() - flops_before
            self.result.order.append(path)
            if isinstance(output, torch.Tensor):
                self.result.actual[path] = tuple(output.shape)

        return hook


# FlopCounterMode counts scaled_dot_product_attention on cuda and meta (its flash and
# efficient kernels), but not the CPU flash kernel (0 FLOPs): count it by the same formula.
def _sdpa_flops(query: Shape, key: Shape, value: Shape, *args: Any, **kwargs: Any) -> int:
    return flop_counter.sdpa_flop_count(query, key, value)  # type: ignore[no-any-return, no-untyped-call]


_UNCOUNTED = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _sdpa_flops}


_DISPATCH = inspect.unwrap(flop_counter._FlopCounterMode.__torch_dispatch__)
_IMPLICIT = torch._C.DispatchKey.CompositeImplicitAutograd


class _Counting(flop_counter._FlopCounterMode):  # type: ignore[no-untyped-call]
    """FlopCounterMode's own dispatch mode, without what imports ``torch._dynamo`` (2 s on a
    slow machine, longer than verifying ResNet-50 on meta; nothing here is compiled):

    - torch wraps every mode's ``__torch_dispatch__`` in a lazy "disable dynamo" decorator;
      ``_should_skip_dynamo`` is the hook torch gives mode authors to opt out;
    - an op outside the FLOP registry that has a Python decomposition (``torch._decomp``:
      batch norm, ...) is run as itself instead of decomposed, since those decompositions
      are wrapped the same way. None of them holds a counted op for any layer convshape
      builds: ``tests/test_verifier.py`` checks the counts equal torch's FlopCounterMode's,
      module by module, for every layer sample and config.
    """

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        return False

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        registry = self.counter.flop_registry
        if _IMPLICIT in getattr(func, "py_kernels", {}) and func._overloadpacket not in registry:
            out = func(*args, **kwargs)
            packet = func._overloadpacket
            return self.counter._count_flops(packet, out, args, kwargs)  # type: ignore[no-untyped-call]
        return _DISPATCH(self, func, types, args, kwargs)


class _FlopCounter(FlopCounterMode):
    """torch's FlopCounterMode with :class:`_Counting` as its dispatch mode (torch's own
    ``__enter__``, with that one class swapped)."""

    def __enter__(self) -> _FlopCounter:
        self.flop_counts.clear()
        self.mod_tracker.__enter__()  # type: ignore[no-untyped-call]
        self.mode = _Counting(self)
        self.mode.__enter__()  # type: ignore[no-untyped-call]
        return self


def flop_counter_mode() -> FlopCounterMode:
    """torch's FlopCounterMode, counting the CPU flash attention kernel too, without importing
    torch._dynamo (:class:`_Counting`)."""
    return _FlopCounter(display=False, custom_mapping=_UNCOUNTED)


@contextmanager
def composite_attention() -> Iterator[None]:
    """Attention's fused inference kernels (``torch._native_multi_head_attention``) hide
    their matmuls from FlopCounterMode: run the composite path, whose ops it counts."""
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)


@contextmanager
def _seeded(device: str) -> Iterator[None]:
    """The same random numbers for every run whose values are compared (FractionalMaxPool
    draws where its windows fall, in eval too); the caller's generator state is restored."""
    devices = [torch.cuda.current_device()] if device == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(0)
        yield


def _dummy(shape: Shape, device: str, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    if device == "meta":
        return torch.empty(shape, device="meta", dtype=dtype)
    return torch.randn(shape, device=device, dtype=dtype)


def verify(
    prediction: Prediction,
    device: str = "cpu",
    max_memory: int | None = None,
    model: nn.Module | None = None,
    memory: Memory | None = None,
) -> Verification:
    """Build the model on ``device`` (or take ``model``, already there), run it, diff it.

    ``memory`` is the prediction's footprint (default: float32 on ``device``); the model runs
    in its dtype. A given model gets its hooks removed and its train/eval mode restored
    afterwards.
    """
    check_device(device)
    result = Verification(device)
    if memory is None:
        memory = footprint(prediction, device=device)
    try:
        guard(prediction, device, max_memory, memory)
    except ConvshapeError as exc:
        result.errors.append(exc)
        return result
    counter = flop_counter_mode()
    recorder = _Recorder(counter, result)
    handles = []
    was_training = model.training if model is not None else False
    dtype = DTYPES[memory.dtype]
    assert prediction.root is not None
    leaves = {n.path for n in prediction.root.leaves()}
    try:
        if model is None:
            with torch.device(device):
                model = build(prediction).to(dtype)
        training = prediction.spec.training  # check --train: the model in train()
        model.train(training)
        for path, module in model.named_modules():
            if path:
                handles.append(module.register_forward_pre_hook(recorder.pre(path)))
                handles.append(module.register_forward_hook(recorder.post(path)))
        x = _dummy(prediction.spec.input_shape, device, dtype)
        given = x.clone()
        tracked = live_bytes(model, given, leaves)
        with torch.no_grad(), composite_attention(), _seeded(device), counter, tracked as live:
            y = model(given)
        del given
        result.completed = True
        result.live = None if training else live  # the inference peak is eval's
        for handle in handles:
            handle.remove()
        handles = []
        if device != "meta":
            if training:  # aliasing does not depend on the mode; eval draws no dropout noise
                y = _run(model.eval(), x, [], None)
            result.errors.extend(_values(model, x, y, result, prediction))
        del y
        if memory.untrainable is None:  # else training raises, as predicted: nothing to prove
            result.saved = saved_for_backward(model, x, {n.path for n in prediction.rows})
    except TrainingFailure as exc:
        result.errors.append(_training_error(exc, prediction))
    except Exception as exc:  # torch's own failure is the finding here
        result.errors.append(_runtime_error(exc, recorder, prediction))
    finally:
        for handle in handles:
            handle.remove()
        if model is not None:
            model.train(was_training)
    if result.completed:
        found = diff(prediction, result)
        empty = (
            any(0 in n.output_shape for n in prediction.rows) or 0 in prediction.spec.input_shape
        )
        if not found and not empty:  # memory of empty tensors is not modelled (warning CS106)
            result.errors.extend(memory_diff(prediction, memory, result))
        result.errors.extend(found)
    return result


def _checksum(t: torch.Tensor) -> float:
    # outside the dispatch modes: neither a FLOP nor a tensor of the model's
    with _disable_current_modes():
        return float(t.detach().double().abs().sum())


def _values(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, result: Verification, prediction: Prediction
) -> list[ConvshapeError]:
    """Run again with every ``inplace`` flag off; the outputs must agree. Where they do not,
    both runs again with a checksum of every module's output, to name the first that differs
    (checksums on every run cost more than the runs)."""
    flagged = [m for m in model.modules() if getattr(m, "inplace", None) is True]
    if not flagged:
        return []
    y2 = _run(model, x, flagged, None)
    if torch.allclose(y, y2, rtol=1e-4, atol=1e-5):
        return []
    worst = float((y - y2).abs().max())
    sums: dict[str, float] = {}
    again: dict[str, float] = {}
    _run(model, x, [], sums)
    _run(model, x, flagged, again)
    nodes = {n.path: n for n in prediction.rows}
    path = next((p for p in result.order if p in again and not _close(sums.get(p), again[p])), None)
    err = MismatchError(
        f"values differ from the same model with every in-place flag off (max |difference| "
        f"of the output {worst:.3g}): an in-place layer overwrites a tensor another path "
        "still reads",
        hint="set inplace: false on the layer that starts a branch",
    )
    node = nodes.get(path) if path else None
    return [locate(err, node) if node else err]


def _run(
    model: nn.Module, x: torch.Tensor, off: list[nn.Module], sums: dict[str, float] | None
) -> torch.Tensor:
    """One eval forward with the ``inplace`` flags of ``off`` off, recording each module's
    output checksum into ``sums`` when it is given."""
    handles = (
        [module.register_forward_hook(_sum_hook(path, sums))
         for path, module in model.named_modules() if path]
        if sums is not None
        else []
    )  # fmt: skip
    try:
        for m in off:
            m.inplace = False  # type: ignore[assignment]
        with torch.no_grad(), _seeded(x.device.type):
            return model(x.clone())  # type: ignore[no-any-return]
    finally:
        for m in off:
            m.inplace = True  # type: ignore[assignment]
        for handle in handles:
            handle.remove()


def _sum_hook(path: str, sums: dict[str, float]) -> Callable[..., None]:
    def hook(module: nn.Module, args: Any, output: Any) -> None:
        if isinstance(output, torch.Tensor):
            sums[path] = _checksum(output)

    return hook


def _close(a: float | None, b: float) -> bool:
    return a is not None and abs(a - b) <= 1e-4 * max(abs(a), abs(b)) + 1e-5


def _runtime_error(exc: Exception, recorder: _Recorder, prediction: Prediction) -> ConvshapeError:
    nodes = {n.path: n for n in prediction.rows}
    path = recorder.stack[-1][0] if recorder.stack else None
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    err = RuntimeFailure(f"torch raised {type(exc).__name__}: {message}")
    node = nodes.get(path) if path else None
    if node is None:
        return err
    predicted = [
        f"predicted for this layer: {fmt(node.input_shape)} -> {fmt(node.output_shape)}",
    ]
    err = RuntimeFailure(err.message, formula=predicted)
    return locate(err, node)


def _training_error(exc: TrainingFailure, prediction: Prediction) -> ConvshapeError:
    cause = exc.__cause__ or exc
    message = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    err = RuntimeFailure(
        f"the training-mode forward (for the saved-tensor check) failed: torch raised "
        f"{type(cause).__name__}: {message}"
    )
    node = {n.path: n for n in prediction.rows}.get(exc.path)
    return locate(err, node) if node else err.located(location=prediction.spec.input_location)


def memory_diff(
    prediction: Prediction, memory: Memory, result: Verification
) -> list[ConvshapeError]:
    """Bytes saved for backward per module, and the inference peak: exact, or a mismatch."""
    errors: list[ConvshapeError] = []
    saved = result.saved
    if saved is not None:
        found: dict[str, ConvshapeError] = {}
        for node in reversed(prediction.rows):
            ours, theirs = memory.saved.get(node.path, 0), saved.by_module.get(node.path, 0)
            inner = any(path.startswith(node.path + ".") for path in found)
            if ours != theirs and not inner:
                found[node.path] = locate(
                    MismatchError(
                        f"predicted {ours:,} bytes saved for backward by this module, "
                        f"autograd saved {theirs:,}"
                    ),
                    node,
                )
        errors += [found[n.path] for n in prediction.rows if n.path in found]
        if not errors and memory.saved_activation_bytes != saved.total:
            errors.append(
                MismatchError(
                    f"predicted {memory.saved_activation_bytes:,} bytes saved for backward, "
                    f"autograd saved {saved.total:,}"
                ).located(location=prediction.spec.input_location)
            )
    live = result.live
    if live is not None and live.peak != memory.inference_peak_bytes:
        assert prediction.root is not None
        where = next(
            (
                n
                for n in prediction.root.leaves()
                if (memory.peak_in.get(n.path), memory.after.get(n.path))
                != (live.peak_in.get(n.path), live.after.get(n.path))
            ),
            None,
        )
        err = MismatchError(
            f"predicted an inference peak of {memory.inference_peak_bytes:,} bytes alive, "
            f"torch had {live.peak:,}",
            formula=[]
            if where is None
            else [
                f"first difference while {where.path} ran: predicted "
                f"{memory.peak_in.get(where.path, 0):,} bytes alive, torch "
                f"{live.peak_in.get(where.path, 0):,}"
            ],
        )
        errors.append(
            locate(err, where) if where else err.located(location=prediction.spec.input_location)
        )
    return errors


def diff(prediction: Prediction, result: Verification) -> list[ConvshapeError]:
    """A mismatch for every module whose shape or FLOPs differ from the prediction.

    A container is reported only when none of its descendants is: the innermost module that
    disagrees is where the formula went wrong.
    """
    found: dict[str, ConvshapeError] = {}
    for node in reversed(prediction.rows):
        message = _disagreement(node, result)
        inner = any(path.startswith(node.path + ".") for path in found)
        if message and not inner:
            found[node.path] = locate(MismatchError(message), node)
    return [found[n.path] for n in prediction.rows if n.path in found]


def _disagreement(node: Node, result: Verification) -> str | None:
    actual = result.actual.get(node.path)
    if actual is None:
        return "the module never ran in the forward pass"
    if actual != node.output_shape:
        return f"predicted output {fmt(node.output_shape)}, torch gave {fmt(actual)}"
    counted = result.flops.get(node.path, 0)
    if node.layer is not None and counted != 2 * node.macs:
        return f"predicted {2 * node.macs:,} FLOPs (2 * MACs), FlopCounterMode counted {counted:,}"
    return None
