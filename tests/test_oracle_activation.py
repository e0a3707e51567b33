"""Activations and dropouts against torch (eval mode): same shape and params, or both fail."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from oracle import assert_agrees

import convshape.layers.activation  # noqa: F401  (registers the family)
from convshape.layers import REGISTRY, coerce, make
from convshape.layers.base import Shape, forward_shape
from convshape.layers.kinds import required

pytestmark = pytest.mark.torch

FLOATS = st.sampled_from([-2.0, -0.5, 0.0, 0.5, 1.0, 3.0])
INPLACE = {"inplace": st.booleans()}
P = {"p": st.sampled_from([0.0, 0.2, 0.5, 1.0, -0.1, 1.5]), **INPLACE}
DIM = {"dim": st.integers(-6, 5)}

Fields = dict[str, st.SearchStrategy[Any]]


def _each(names: str, fields: Fields) -> dict[str, Fields]:
    return {name: fields for name in names.split()}


# every kwarg that can make torch raise is drawn over valid and invalid values
KWARGS: dict[str, Fields] = {
    **_each("Sigmoid Tanh LogSigmoid Softsign Tanhshrink Softmax2d", {}),
    **_each("ReLU ReLU6 Hardsigmoid Hardswish SiLU Mish SELU", INPLACE),
    "ELU": {"alpha": FLOATS, **INPLACE},
    "CELU": {"alpha": FLOATS, **INPLACE},
    "LeakyReLU": {"negative_slope": FLOATS, **INPLACE},
    "Hardshrink": {"lambd": FLOATS},
    "Softshrink": {"lambd": FLOATS},
    "Softplus": {"beta": FLOATS, "threshold": FLOATS},
    "GELU": {"approximate": st.sampled_from(["none", "tanh", "Tanh"])},
    "Threshold": {"threshold": FLOATS, "value": FLOATS, **INPLACE},
    "RReLU": {"lower": FLOATS, "upper": FLOATS, **INPLACE},
    "Hardtanh": {"min_val": FLOATS, "max_val": FLOATS, **INPLACE},
    "PReLU": {"num_parameters": st.integers(0, 8), "init": FLOATS},
    "GLU": DIM,
    "Softmax": DIM,
    "Softmin": DIM,
    "LogSoftmax": DIM,
    **_each("Dropout AlphaDropout FeatureAlphaDropout Dropout1d Dropout2d Dropout3d", P),
}


@st.composite
def shapes(draw: st.DrawFn, channels: int) -> Shape:
    """Ranks 0-5, sizes 1-6; dim 1 is often ``channels`` (PReLU's channel dim)."""
    dims = draw(st.lists(st.integers(1, 6), max_size=5))
    if len(dims) >= 2 and draw(st.booleans()):
        dims[1] = channels
    return tuple(dims)


@pytest.mark.parametrize("type_name", sorted(KWARGS))
@given(data=st.data())
def test_activation_agrees(type_name: str, data: st.DataObject) -> None:
    must = required(REGISTRY[type_name])  # the others are sometimes left to their defaults
    kwargs = {
        name: data.draw(strategy, label=name)
        for name, strategy in KWARGS[type_name].items()
        if name in must or data.draw(st.integers(0, 3), label=f"give {name}")
    }
    shape = data.draw(shapes(kwargs.get("num_parameters", 1)), label="shape")
    assert_agrees(type_name, kwargs, shape)


def test_covers_torch_nn() -> None:
    """Every torch.nn activation and dropout of one tensor is registered and tested."""
    modules = torch.nn.modules
    names = set(modules.activation.__all__) | set(modules.dropout.__all__)
    names -= {"MultiheadAttention"}  # takes query, key and value
    assert names == set(KWARGS)
    assert names <= set(REGISTRY)


def _engine(type_name: str, kwargs: dict[str, Any], shape: Shape) -> tuple[Shape, int]:
    cls = REGISTRY[type_name]
    layer = make(cls, {k: coerce(cls, k, v) for k, v in kwargs.items()})
    return forward_shape(layer, shape), layer.num_params()


@pytest.mark.parametrize(
    ("type_name", "kwargs", "shape", "out", "params"),
    [
        ("ReLU", {}, (2, 3, 4), (2, 3, 4), 0),
        ("PReLU", {}, (), (), 1),
        ("PReLU", {"num_parameters": 3}, (2, 3, 5), (2, 3, 5), 3),
        ("GLU", {}, (2, 6), (2, 3), 0),
        ("GLU", {"dim": 0}, (8, 5), (4, 5), 0),
        ("Softmax", {"dim": -1}, (2, 7), (2, 7), 0),
        ("Dropout2d", {"p": 0.1}, (2, 3, 4, 4), (2, 3, 4, 4), 0),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_table(
    type_name: str, kwargs: dict[str, Any], shape: Shape, out: Shape, params: int
) -> None:
    assert _engine(type_name, kwargs, shape) == (out, params)


def test_explain_prelu_and_glu() -> None:
    prelu = make(REGISTRY["PReLU"], {"num_parameters": 3})
    assert prelu.explain((2, 3, 5), (2, 3, 5)) == [
        "PReLU keeps the shape: [2, 3, 5] -> [2, 3, 5]",
        "params = num_parameters = 3",
    ]
    glu = make(REGISTRY["GLU"], {"dim": 1})
    assert glu.explain((2, 6), (2, 3)) == [
        "GLU halves dim 1 (a * sigmoid(b) of its two halves): 6 / 2 = 3",
        "[2, 6] -> [2, 3]",
    ]


OVERFLOW = [  # float arguments ATen converts to float32 on every forward: beyond 3.4e38 it raises
    ("ELU", {"alpha": 1e39}),
    ("ELU", {"alpha": -1e39}),
    ("CELU", {"alpha": 3e-116}),  # 1 / alpha overflows
    ("CELU", {"alpha": 2.9e-39}),
    ("CELU", {"alpha": 3e-39}),  # 1 / alpha = 3.3e38 fits
    ("LeakyReLU", {"negative_slope": 1e39}),
    ("Softplus", {"beta": 1e39}),
    ("Softplus", {"threshold": -1e39}),
    ("Threshold", {"threshold": 0.0, "value": 1e39}),
    ("Hardtanh", {"min_val": -1e39, "max_val": 1.0}),
    ("Hardshrink", {"lambd": 1e39}),
    ("RReLU", {"lower": -1e39, "upper": 0.3}),
    ("ELU", {"alpha": 3.4e38}),  # fits
]


@pytest.mark.parametrize(("type_name", "kwargs"), OVERFLOW, ids=[f"{t}-{k}" for t, k in OVERFLOW])
def test_float32_overflow_of_arguments(type_name: str, kwargs: dict[str, float]) -> None:
    assert_agrees(type_name, kwargs, (2, 3))
    assert_agrees(type_name, kwargs, (0, 3))  # raised on an empty tensor too
