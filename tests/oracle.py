"""torch as the oracle: run a layer config through the engine and through torch, compare.

``assert_agrees(type_name, kwargs, shape)`` is the one assertion every property test uses:
the engine gives torch's exact output shape and parameter count, or both fail; empty tensors
(a zero-size dimension, in the input or the output) included.
"""

from __future__ import annotations

import warnings
import zlib
from typing import Any

import pytest

torch = pytest.importorskip("torch")  # a module that imports this one is skipped without torch

from convshape.builder import torch_class  # noqa: E402
from convshape.errors import ConvshapeError  # noqa: E402
from convshape.layers import REGISTRY, coerce, make  # noqa: E402
from convshape.layers.base import forward_shape  # noqa: E402
from convshape.verifier import composite_attention, flop_counter_mode  # noqa: E402


def torch_run(
    type_name: str, kwargs: dict[str, Any], shape: tuple[int, ...], training: bool = False
) -> Any:
    """(shape, params, flops) from real torch (eval, or train() mode), or what it raised."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            # a performance note, not a shape problem (aten/src/ATen/native/Convolution.cpp)
            warnings.filterwarnings("ignore", "Using padding='same' with even kernel lengths")
            module = torch_class(REGISTRY[type_name])(**kwargs).train(training)
            x = torch.randn(shape)
            with torch.no_grad(), composite_attention(), flop_counter_mode() as counter:
                y = module(x)
    except Exception as exc:  # any torch failure is the oracle's answer
        return exc
    params = sum(p.numel() for p in module.parameters())
    return tuple(y.shape), params, counter.get_total_flops()


def engine_run(
    type_name: str, kwargs: dict[str, Any], shape: tuple[int, ...], training: bool = False
) -> Any:
    """(shape, params, macs) from the engine, or the ConvshapeError it raised."""
    cls = REGISTRY[type_name]
    try:
        layer = make(cls, {k: coerce(cls, k, v) for k, v in kwargs.items()})
        out = forward_shape(layer, shape, training, empty=True)
    except ConvshapeError as exc:
        return exc
    return out, layer.num_params(), layer.macs(shape, out)


def assert_agrees(
    type_name: str, kwargs: dict[str, Any], shape: tuple[int, ...], training: bool = False
) -> None:
    """Same shape, params and FLOPs, or both fail; ``training``: torch in train() mode, the
    engine with training's rules (the memory rules are checked on eval draws)."""
    theirs = torch_run(type_name, kwargs, shape, training)
    ours = engine_run(type_name, kwargs, shape, training)
    call = f"{type_name}(**{kwargs}) on {list(shape)}"
    if isinstance(theirs, BaseException):
        assert isinstance(ours, ConvshapeError), f"{call}: torch gave {theirs!r}, engine {ours}"
        return
    if type_name.startswith("ConvTranspose") and 0 in theirs[0] and isinstance(ours, Exception):
        # kept difference: an output size of 0 is an empty tensor from some CPU kernels and an
        # error from the others and meta; the engine refuses it (README, Layers)
        return
    assert not isinstance(ours, ConvshapeError), f"{call}: torch gave {theirs}, engine:\n{ours}"
    assert ours[0] == theirs[0], f"{call}: shape {ours[0]} != torch {theirs[0]}"
    assert ours[1] == theirs[1], f"{call}: params {ours[1]} != torch {theirs[1]}"
    assert 2 * ours[2] == theirs[2], f"{call}: 2*MACs {2 * ours[2]} != torch FLOPs {theirs[2]}"
    if not training and 0 not in shape and 0 not in ours[0]:  # empty tensors: not modelled
        assert_memory(type_name, kwargs, shape)


MEMORY_SHARE = 4  # one draw in 4 (by a hash of the draw) also checks the memory rules


def assert_memory(type_name: str, kwargs: dict[str, Any], shape: tuple[int, ...]) -> None:
    """The memory rules on the same draw: saved for backward (the input requiring grad, as
    inside a model) and the inference peak, on meta, against torch's measurement. Every
    layer type's samples are checked in full by test_memory.py; here a quarter of the draws
    (about 8 ms each) keeps the suite's time."""
    import memory_oracle

    if not shape or zlib.crc32(repr((type_name, kwargs, shape)).encode()) % MEMORY_SHARE:
        return  # a spec's input has a batch dimension; or not this draw
    prediction = memory_oracle.one_layer(type_name, kwargs, shape)
    memory_oracle.assert_memory_agrees(prediction, "meta", input_grad=True)
