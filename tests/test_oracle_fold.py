"""Fold and Unfold against torch."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from hypothesis import event, given
from hypothesis import strategies as st
from oracle import assert_agrees, engine_run, torch_run

import convshape.layers.fold as fold
from convshape.errors import ConvshapeError, ShapeError
from convshape.layers import REGISTRY, coerce, make
from convshape.layers.base import forward_shape

pytestmark = pytest.mark.torch

Shape = tuple[int, ...]
SIZE = st.integers(1, 12)


def test_registered() -> None:
    for name in ("Fold", "Unfold"):
        assert REGISTRY[name] is getattr(fold, name)
        assert hasattr(torch.nn, name)


def pair(lo: int, hi: int, fit: bool) -> st.SearchStrategy[Any]:
    """An int or a list of 2; when not ``fit``, sometimes a list of the wrong length."""
    lists = st.lists(st.integers(lo, hi), min_size=2 if fit else 1, max_size=2 if fit else 3)
    return st.one_of(st.integers(lo, hi), lists)


def block_args(data: st.DataObject, fit: bool) -> dict[str, Any]:
    """kernel_size, dilation, padding, stride; out of range (0, -1) when not ``fit``."""
    low = 1 if fit else 0
    return {
        "kernel_size": data.draw(pair(low, 4, fit)),
        "dilation": data.draw(pair(low, 3, fit)),
        "padding": data.draw(pair(0 if fit else -1, 3, fit)),
        "stride": data.draw(pair(low, 3, fit)),
    }


def note(type_name: str, kwargs: dict[str, Any], shape: Shape) -> None:
    ours = engine_run(type_name, kwargs, shape)
    event("engine refuses" if isinstance(ours, ConvshapeError) else "engine accepts")


@given(st.data())
def test_unfold_agrees_with_torch(data: st.DataObject) -> None:
    fit = data.draw(st.integers(0, 3)) > 0
    kwargs = block_args(data, fit)
    rank = data.draw(st.sampled_from([3, 4]) if fit else st.integers(1, 5))
    shape = tuple(data.draw(st.lists(SIZE, min_size=rank, max_size=rank)))
    note("Unfold", kwargs, shape)
    assert_agrees("Unfold", kwargs, shape)


@given(st.data())
def test_fold_agrees_with_torch(data: st.DataObject) -> None:
    """torch's own Unfold makes a fitting input; then C or L is sometimes off by one."""
    fit = data.draw(st.integers(0, 3)) > 0
    kwargs = {"output_size": data.draw(pair(1, 12, fit)), **block_args(data, fit)}
    lead = data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=2))  # (C,) or (N, C)
    size = kwargs["output_size"]
    image = (*lead, *([size, size] if isinstance(size, int) else size))
    columns = torch_run("Unfold", {k: v for k, v in kwargs.items() if k != "output_size"}, image)
    if isinstance(columns, Exception) or 0 in columns[0]:
        shape = tuple(data.draw(st.lists(SIZE, min_size=2, max_size=3)))
    else:
        shape = columns[0]
    if not fit or data.draw(st.integers(0, 3)) == 0:
        dim = data.draw(st.integers(0, len(shape) - 1))
        off_by_one = max(shape[dim] + data.draw(st.sampled_from([-1, 1])), 1)
        shape = (*shape[:dim], off_by_one, *shape[dim + 1 :])
    note("Fold", kwargs, shape)
    assert_agrees("Fold", kwargs, shape)


# ------------------------------------------------------------------------ hand-checked tables

GOOD = [
    ("Unfold", {"kernel_size": 2}, (2, 3, 5, 5), (2, 3 * 2 * 2, 4 * 4)),
    ("Unfold", {"kernel_size": [2, 3]}, (3, 5, 7), (3 * 2 * 3, 4 * 5)),  # unbatched
    ("Unfold", {"kernel_size": 3, "padding": 1, "stride": 2}, (1, 1, 8, 8), (1, 9, 4 * 4)),
    ("Unfold", {"kernel_size": 3, "dilation": 2}, (1, 2, 9, 5), (1, 18, 5 * 1)),
    ("Fold", {"output_size": [4, 5], "kernel_size": 2}, (1, 12, 12), (1, 3, 4, 5)),
    ("Fold", {"output_size": [4, 5], "kernel_size": 2}, (12, 12), (3, 4, 5)),  # unbatched
    ("Fold", {"output_size": 2, "kernel_size": 1, "padding": 5}, (1, 9, 144), (1, 9, 2, 2)),
]


@pytest.mark.parametrize(
    ("type_name", "kwargs", "shape", "expected"),
    GOOD,
    ids=[f"{t}-{list(s)}" for t, _, s, _ in GOOD],
)
def test_fold_table(type_name: str, kwargs: dict[str, Any], shape: Shape, expected: Shape) -> None:
    cls = REGISTRY[type_name]
    layer = make(cls, {k: coerce(cls, k, v) for k, v in kwargs.items()})
    assert forward_shape(layer, shape) == expected
    assert layer.num_params() == 0
    assert tuple(getattr(torch.nn, type_name)(**kwargs)(torch.randn(shape)).shape) == expected


BAD = [
    ("Unfold", {"kernel_size": 6}, (1, 1, 5, 7), "no sliding block fits along the height"),
    ("Unfold", {"kernel_size": 1}, (1, 1, 5, 5, 5), "3D .unbatched. or 4D"),
    ("Fold", {"output_size": [4, 5], "kernel_size": 2}, (1, 13, 12), "not divisible"),
    ("Fold", {"output_size": [4, 5], "kernel_size": 2}, (1, 12, 13), "3 \\* 4 = 12"),
    ("Fold", {"output_size": 1, "kernel_size": 3}, (1, 9, 1), "blocks_H = -1"),
    ("Fold", {"output_size": [4, 5], "kernel_size": 2}, (1, 1, 12, 12), "2D .unbatched. or 3D"),
]


@pytest.mark.parametrize(
    ("type_name", "kwargs", "shape", "message"),
    BAD,
    ids=[f"{t}-{list(s)}" for t, _, s, _ in BAD],
)
def test_fold_errors(type_name: str, kwargs: dict[str, Any], shape: Shape, message: str) -> None:
    cls = REGISTRY[type_name]
    layer = make(cls, {k: coerce(cls, k, v) for k, v in kwargs.items()})
    with pytest.raises(ShapeError, match=message):
        forward_shape(layer, shape)
    assert isinstance(torch_run(type_name, kwargs, shape), Exception)


def test_fold_explain() -> None:
    cls = REGISTRY["Fold"]
    args = {"output_size": [4, 5], "kernel_size": 2, "stride": [1, 2]}
    layer = make(cls, {k: coerce(cls, k, v) for k, v in args.items()})
    out = forward_shape(layer, (1, 12, 6))
    assert out == (1, 3, 4, 5)
    assert layer.explain((1, 12, 6), out) == [
        "blocks_H = floor((H_out + 2*padding - dilation*(kernel_size-1) - 1) / stride) + 1",
        "         = floor((4 + 2*0 - 1*(2-1) - 1) / 1) + 1 = 3",
        "blocks_W = floor((W_out + 2*padding - dilation*(kernel_size-1) - 1) / stride) + 1",
        "         = floor((5 + 2*0 - 1*(2-1) - 1) / 2) + 1 = 2",
        "L = blocks_H * blocks_W = 3 * 2 = 6",
        "C_out = C_in / (kernel_h * kernel_w) = 12 / (2 * 2) = 3",
        "(H_out, W_out) = output_size = [4, 5]",
    ]
