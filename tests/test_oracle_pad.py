"""Zero/Constant/Reflection/Replication/CircularPad 1d/2d/3d against torch."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from hypothesis import event, given
from hypothesis import strategies as st
from oracle import assert_agrees, engine_run, torch_run

import convshape.layers.pad as pad
from convshape.errors import ConvshapeError, ShapeError, SpecError
from convshape.layers import REGISTRY, coerce, make
from convshape.layers.base import forward_shape

pytestmark = pytest.mark.torch

Shape = tuple[int, ...]
FAMILIES = ["ZeroPad", "ConstantPad", "ReflectionPad", "ReplicationPad", "CircularPad"]
SIZE = st.one_of(st.just(1), st.integers(1, 12))  # 1 often: circular's overlap needs N = C = 1


def test_registered() -> None:
    for family in FAMILIES:
        for ndim in (1, 2, 3):
            name = f"{family}{ndim}d"
            assert REGISTRY[name] is getattr(pad, name)
            assert REGISTRY[name].ndim == ndim
            assert hasattr(torch.nn, name)


@st.composite
def pad_cases(draw: st.DrawFn, family: str) -> tuple[str, dict[str, Any], Shape]:
    """A layer of ``family`` and an input: mostly a rank it takes, pads around each size."""
    ndim = draw(st.integers(1, 3))
    if draw(st.integers(0, 3)) == 0:  # any rank, often a wrong one
        rank = draw(st.integers(max(ndim - 2, 1), ndim + 3))
    elif family in ("ZeroPad", "ConstantPad"):  # constant pads the last dims of any rank
        rank = draw(st.integers(ndim, ndim + 3))
    else:
        rank = ndim + draw(st.sampled_from([1, 2]))  # unbatched or batched
    shape = tuple(draw(SIZE) for _ in range(rank))
    sizes = [12] * max(ndim - rank, 0) + list(shape[-ndim:])  # the padded dims, outer first
    if draw(st.booleans()):  # pads every mode takes: out >= 1, pad < size
        pairs = [st.integers(-((s - 1) // 2), s - 1) for s in sizes]
    else:  # crops, over-crops, and pads past the size
        pairs = [st.integers(-s - 2, s + 2) for s in sizes]
    pads = [draw(pair) for pair in reversed(pairs) for _ in "lr"]  # the last dim first
    padding = draw(st.one_of(st.just(pads), st.integers(-3, 6)))
    kwargs: dict[str, Any] = {"padding": padding}
    if family == "ConstantPad":
        kwargs["value"] = draw(st.sampled_from([0, 0.5, -1.0, 3]))
    return f"{family}{ndim}d", kwargs, shape


@pytest.mark.parametrize("family", FAMILIES)
@given(data=st.data())
def test_pad_agrees_with_torch(family: str, data: st.DataObject) -> None:
    type_name, kwargs, shape = data.draw(pad_cases(family))
    ours = engine_run(type_name, kwargs, shape)
    event("engine refuses" if isinstance(ours, ConvshapeError) else "engine accepts")
    assert_agrees(type_name, kwargs, shape)


@given(st.data())
def test_circular_crop_and_pad_on_one_dim(data: st.DataObject) -> None:
    """One side crops, the other pads: torch's centre and wrap copies fail in narrow cases
    (an overlap is only seen when every dim before the padded one has size 1)."""
    size = data.draw(st.integers(1, 12))
    crop = data.draw(st.integers(-2 * size, -1))
    grow = data.draw(st.integers(1, size))
    pads = [crop, grow] if data.draw(st.booleans()) else [grow, crop]
    lead = data.draw(st.lists(st.sampled_from([1, 1, 2]), min_size=1, max_size=2))
    assert_agrees("CircularPad1d", {"padding": pads}, (*lead, size))


# ------------------------------------------------------------------------ hand-checked tables

GOOD = [
    ("ReflectionPad2d", {"padding": [1, 2, 3, 4]}, (1, 3, 5, 5), (1, 3, 5 + 3 + 4, 5 + 1 + 2)),
    ("ZeroPad2d", {"padding": 2}, (3, 4, 4), (3, 8, 8)),
    ("ZeroPad2d", {"padding": 1}, (1, 1, 1, 3, 3), (1, 1, 1, 5, 5)),  # any rank >= 2
    ("ConstantPad1d", {"padding": [-2, 1], "value": 0.5}, (2, 3, 5), (2, 3, 4)),
    ("ConstantPad1d", {"padding": [2, -3], "value": 1}, (1, 3), (1, 2)),  # crop all, then pad
    ("ConstantPad3d", {"padding": [1, 1, 2, 2, 3, 3], "value": 1}, (2, 4, 4, 4), (2, 10, 8, 6)),
    ("ReflectionPad3d", {"padding": 1}, (1, 2, 3, 4, 5), (1, 2, 5, 6, 7)),
    ("ReplicationPad1d", {"padding": [1, 20]}, (1, 1, 5), (1, 1, 26)),  # no pad < size limit
    ("ReplicationPad2d", {"padding": [-1, 0, 2, 2]}, (4, 3, 3), (4, 7, 2)),
    ("CircularPad1d", {"padding": [5, 5]}, (1, 1, 5), (1, 1, 15)),  # pad == size is allowed
    ("CircularPad3d", {"padding": [2, 0, 2, 0, -1, 5]}, (2, 5, 7, 7), (2, 9, 9, 9)),  # C > 1
]


@pytest.mark.parametrize(
    ("type_name", "kwargs", "shape", "expected"),
    GOOD,
    ids=[f"{t}-{list(s)}" for t, _, s, _ in GOOD],
)
def test_pad_table(type_name: str, kwargs: dict[str, Any], shape: Shape, expected: Shape) -> None:
    cls = REGISTRY[type_name]
    layer = make(cls, {k: coerce(cls, k, v) for k, v in kwargs.items()})
    assert forward_shape(layer, shape) == expected
    assert layer.num_params() == 0
    assert tuple(getattr(torch.nn, type_name)(**kwargs)(torch.randn(shape)).shape) == expected


BAD = [
    ("ReflectionPad1d", {"padding": [5, 0]}, (1, 1, 5), "reflect padding must be smaller"),
    ("ReflectionPad1d", {"padding": 1}, (1, 1, 1, 5), "3D .batched. input to ReflectionPad1d"),
    ("ZeroPad1d", {"padding": [-5, 10]}, (1, 3), "crops more than the input has"),
    ("ZeroPad2d", {"padding": 1}, (7,), "pads the last 2 dims"),
    ("ReplicationPad2d", {"padding": [-3, -3, 0, 0]}, (1, 1, 5, 5), "output width would be -1"),
    ("CircularPad1d", {"padding": 1}, (1, 1, 1, 5), "expected 2D or 3D input"),
    ("CircularPad1d", {"padding": [6, 0]}, (1, 1, 5), "wraps around more than once"),
    ("CircularPad1d", {"padding": [3, -7]}, (1, 1, 5), "crops past the input"),
    ("CircularPad3d", {"padding": [2, 0, 2, 0, -1, 5]}, (1, 5, 7, 7), "into its own crop"),
]


@pytest.mark.parametrize(
    ("type_name", "kwargs", "shape", "message"),
    BAD,
    ids=[f"{t}-{k['padding']}-{list(s)}" for t, k, s, _ in BAD],
)
def test_pad_errors(type_name: str, kwargs: dict[str, Any], shape: Shape, message: str) -> None:
    cls = REGISTRY[type_name]
    layer = make(cls, {k: coerce(cls, k, v) for k, v in kwargs.items()})
    with pytest.raises(ShapeError, match=message):
        forward_shape(layer, shape, empty=True)
    assert isinstance(torch_run(type_name, kwargs, shape), Exception)


EMPTY = [  # torch gives an empty tensor (the engine too, with warning CS106)
    ("ReflectionPad2d", {"padding": [-2, -3, 0, 0]}, (1, 1, 5, 5), (1, 1, 5, 0)),
    ("ConstantPad2d", {"padding": [-2, 0, 0, 0], "value": 1.0}, (1, 3, 4, 2), (1, 3, 4, 0)),
    ("ZeroPad1d", {"padding": [-3, 0]}, (2, 3), (2, 0)),
    ("CircularPad1d", {"padding": [-2, -3]}, (1, 1, 5), (1, 1, 0)),
]


@pytest.mark.parametrize(
    ("type_name", "kwargs", "shape", "expected"),
    EMPTY,
    ids=[f"{t}-{k['padding']}-{list(s)}" for t, k, s, _ in EMPTY],
)
def test_pad_to_nothing(
    type_name: str, kwargs: dict[str, Any], shape: Shape, expected: Shape
) -> None:
    cls = REGISTRY[type_name]
    layer = make(cls, {k: coerce(cls, k, v) for k, v in kwargs.items()})
    assert forward_shape(layer, shape, empty=True) == expected
    assert torch_run(type_name, kwargs, shape)[0] == expected
    with pytest.raises(ShapeError, match="would have size 0"):
        forward_shape(layer, shape)  # what `sizes` uses: an empty output is no valid size


@pytest.mark.parametrize("padding", [[1, 2], [1, 2, 3, 4, 5, 6], [1.5, 1, 1, 1]])
def test_pad_tuple_of_wrong_length_is_refused(padding: list[Any]) -> None:
    """torch's _quadruple passes any tuple through (ZeroPad2d((1, 2)) pads only W): refused."""
    with pytest.raises(SpecError, match="a list of 4 ints"):
        coerce(REGISTRY["ZeroPad2d"], "padding", padding)


def test_pad_explain() -> None:
    cls = REGISTRY["ReflectionPad2d"]
    layer = make(cls, {"padding": coerce(cls, "padding", [1, -2, 3, 4])})
    out = forward_shape(layer, (1, 3, 5, 5))
    assert out == (1, 3, 12, 4)
    assert layer.explain((1, 3, 5, 5), out) == [
        "padding = (1, -2, 3, 4) as (left, right, top, bottom)",
        "H_out = H_in + padding_top + padding_bottom",
        "      = 5 + 3 + 4 = 12",
        "W_out = W_in + padding_left + padding_right",
        "      = 5 + 1 + (-2) = 4",
    ]
