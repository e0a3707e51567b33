"""Normalisation layers against torch (eval mode): same shape and params, or both fail."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from oracle import assert_agrees

import convshape.layers.norm  # noqa: F401  (registers the family)
from convshape.errors import ShapeError
from convshape.layers import REGISTRY, coerce, make
from convshape.layers.base import Shape, forward_shape

pytestmark = pytest.mark.torch

SIZES = st.one_of(st.just(1), st.integers(1, 8))  # 1 often: the "one value" checks
EPS = st.sampled_from([1e-5, 1e-3, 0.0, -1.0])
MOMENTUM = st.sampled_from([0.1, 0.5, None])
FLOATS = st.sampled_from([-2.0, 0.0, 1e-4, 0.75, 1.0, 3.0])


@st.composite
def shapes(draw: st.DrawFn, ranks: list[int], dim: int | None = None, size: int = 0) -> Shape:
    """A shape of one of ``ranks``; often with ``size`` at ``dim`` (negative: from the end)."""
    rank = draw(st.sampled_from(ranks))
    dims = draw(st.lists(SIZES, min_size=rank, max_size=rank))
    if dim is not None and -rank <= dim < rank and draw(st.integers(0, 3)):
        dims[dim] = size
    return tuple(dims)


def _flags(draw: st.DrawFn, *names: str) -> dict[str, bool]:
    return {name: draw(st.booleans()) for name in names}


@given(data=st.data())
def test_batchnorm_agrees(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(["BatchNorm1d", "BatchNorm2d", "BatchNorm3d"]))
    n = data.draw(st.integers(1, 8))
    kwargs: dict[str, Any] = {
        "num_features": n,
        "eps": data.draw(EPS),
        "momentum": data.draw(MOMENTUM),
        **_flags(data.draw, "affine", "track_running_stats", "bias"),
    }
    ndim = int(name[-2])
    ranks = [ndim + 1, ndim + 3, 1] + [ndim + 2] * 4 + ([2] * 3 if ndim == 1 else [])
    shape = data.draw(shapes(ranks, dim=1, size=n))
    assert_agrees(name, kwargs, shape)


@given(data=st.data())
def test_instancenorm_agrees(data: st.DataObject) -> None:
    ndim = data.draw(st.integers(1, 3))
    n = data.draw(st.integers(1, 8))
    kwargs: dict[str, Any] = {
        "num_features": n,
        "eps": data.draw(EPS),
        "momentum": data.draw(MOMENTUM),
        **_flags(data.draw, "affine", "track_running_stats", "bias"),
    }
    # the channel dim sits ndim+1 from the end in both the batched and unbatched forms
    ranks = [ndim, ndim + 3] + [ndim + 1, ndim + 2] * 3
    shape = data.draw(shapes(ranks, dim=-ndim - 1, size=n))
    assert_agrees(f"InstanceNorm{ndim}d", kwargs, shape)


@given(data=st.data())
def test_groupnorm_agrees(data: st.DataObject) -> None:
    groups = data.draw(st.integers(1, 4))
    channels = data.draw(st.one_of(st.integers(1, 8), st.integers(1, 3).map(groups.__mul__)))
    kwargs: dict[str, Any] = {
        "num_groups": groups,
        "num_channels": channels,
        "eps": data.draw(EPS),
        **_flags(data.draw, "affine", "bias"),
    }
    divisible = data.draw(st.integers(1, 3).map(groups.__mul__))  # maybe not num_channels
    size = data.draw(st.sampled_from([channels, channels, channels, divisible]))
    shape = data.draw(shapes([0, 1, 2, 3, 3, 4], dim=1, size=size))
    assert_agrees("GroupNorm", kwargs, shape)


@given(data=st.data())
def test_layernorm_and_rmsnorm_agree(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(["LayerNorm", "RMSNorm"]))
    normalized = data.draw(st.lists(st.integers(1, 5), min_size=1, max_size=3))
    if len(normalized) == 1 and data.draw(st.booleans()):
        ns: int | list[int] = normalized[0]
    else:
        ns = normalized
    kwargs: dict[str, Any] = {
        "normalized_shape": ns,
        "elementwise_affine": data.draw(st.booleans()),
    }
    if name == "LayerNorm":
        kwargs |= {"eps": data.draw(EPS), "bias": data.draw(st.booleans())}
    else:
        kwargs["eps"] = data.draw(st.sampled_from([None, 1e-6, 0.0, -1.0]))
    shape = [*data.draw(st.lists(SIZES, max_size=2)), *normalized]
    how = data.draw(st.sampled_from(["fits", "one dim off", "any"]))
    if how == "one dim off":
        shape[data.draw(st.integers(0, len(shape) - 1))] = data.draw(SIZES)
    elif how == "any":
        shape = list(data.draw(shapes([0, 1, 2, 3, 4])))
    assert_agrees(name, kwargs, tuple(shape))


@given(data=st.data())
def test_local_response_norm_agrees(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(["LocalResponseNorm", "CrossMapLRN2d"]))
    kwargs: dict[str, Any] = {
        "size": data.draw(st.integers(0, 9)),
        "alpha": data.draw(FLOATS),
        "beta": data.draw(FLOATS),
        "k": data.draw(st.sampled_from([1.0, 2.0, 0.5])),
    }
    ranks = [0, 1, 2, 3, 5] + [4] * (6 if name == "CrossMapLRN2d" else 2)
    shape = data.draw(shapes(ranks))
    assert_agrees(name, kwargs, shape)


def _engine(type_name: str, kwargs: dict[str, Any], shape: Shape) -> tuple[Shape, int]:
    cls = REGISTRY[type_name]
    layer = make(cls, {k: coerce(cls, k, v) for k, v in kwargs.items()})
    return forward_shape(layer, shape), layer.num_params()


@pytest.mark.parametrize(
    ("type_name", "kwargs", "shape", "params"),
    [
        ("BatchNorm2d", {"num_features": 4}, (2, 4, 8, 8), 2 * 4),
        ("BatchNorm1d", {"num_features": 6, "affine": False}, (3, 6), 0),
        ("BatchNorm3d", {"num_features": 4, "bias": False}, (2, 4, 3, 3, 3), 4),
        ("InstanceNorm2d", {"num_features": 4}, (4, 5, 5), 0),
        ("InstanceNorm2d", {"num_features": 4, "affine": True}, (2, 4, 5, 5), 2 * 4),
        ("GroupNorm", {"num_groups": 2, "num_channels": 6}, (2, 6, 7), 2 * 6),
        ("LayerNorm", {"normalized_shape": [4, 5]}, (3, 4, 5), 2 * 4 * 5),
        ("LayerNorm", {"normalized_shape": 10, "bias": False}, (2, 10), 10),
        ("RMSNorm", {"normalized_shape": [4, 5]}, (4, 5), 4 * 5),
        ("LocalResponseNorm", {"size": 5}, (1, 3, 6, 6), 0),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_table(type_name: str, kwargs: dict[str, Any], shape: Shape, params: int) -> None:
    assert _engine(type_name, kwargs, shape) == (shape, params)


def test_explain_batchnorm2d() -> None:
    layer = make(REGISTRY["BatchNorm2d"], {"num_features": 4})
    assert layer.explain((2, 4, 8, 8), (2, 4, 8, 8)) == [
        "BatchNorm2d keeps the shape: [2, 4, 8, 8] -> [2, 4, 8, 8]",
        "params = 2 * num_features (weight, bias)",
        "       = 2 * 4 = 8",
        "(running_mean, running_var, num_batches_tracked are buffers, not params)",
    ]


@pytest.mark.parametrize(
    ("type_name", "shape", "channels"),
    [
        ("BatchNorm1d", (8, 3), 3),
        ("BatchNorm1d", (8, 3, 5), 3),
        ("BatchNorm2d", (8, 3, 5), None),
        ("InstanceNorm1d", (3, 5), 3),
        ("InstanceNorm2d", (2, 3, 5, 5), 3),
        ("InstanceNorm3d", (3, 5), None),
        ("GroupNorm", (2, 6), 6),
        ("GroupNorm", (6,), None),
    ],
)
def test_infer(type_name: str, shape: Shape, channels: int | None) -> None:
    assert REGISTRY[type_name].infer(shape) == channels


def test_mismatch_hint() -> None:
    layer = make(REGISTRY["BatchNorm2d"], {"num_features": 4})
    with pytest.raises(ShapeError) as info:
        forward_shape(layer, (2, 5, 3, 3))
    assert info.value.hint == "num_features: 5 would fit this input (or leave it out to infer it)"
    assert "running_mean should contain 5 elements not 4" in info.value.formula[0]
