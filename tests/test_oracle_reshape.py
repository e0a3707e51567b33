"""Linear, Identity, Flatten/Unflatten, Upsample*, Pixel(Un)Shuffle, ChannelShuffle vs torch."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from oracle import assert_agrees

from convshape.errors import ConvshapeError, ShapeError, SpecError
from convshape.layers import REGISTRY, Layer, coerce, make, reshape, upsample
from convshape.layers.base import forward_shape

pytestmark = pytest.mark.torch

Shape = tuple[int, ...]


def shapes(min_rank: int = 0, max_rank: int = 5, max_size: int = 6) -> st.SearchStrategy[Shape]:
    return st.lists(st.integers(1, max_size), min_size=min_rank, max_size=max_rank).map(tuple)


def build(type_name: str, kwargs: dict[str, Any]) -> Layer:
    cls = REGISTRY[type_name]
    return make(cls, {k: coerce(cls, k, v) for k, v in kwargs.items()})


NAMES = {
    reshape: ["Linear", "Identity", "Flatten", "Unflatten"]
    + ["PixelShuffle", "PixelUnshuffle", "ChannelShuffle"],
    upsample: ["Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d"],
}


def test_registered() -> None:
    """Importing the modules registers each class under its torch name."""
    for module, names in NAMES.items():
        for name in names:
            assert REGISTRY[name] is getattr(module, name) is not None
            assert hasattr(torch.nn, name)


# ------------------------------------------------------------------------ property tests


def fits(data: st.DataObject) -> bool:
    """Three draws in four build a config torch accepts; the rest may be anything."""
    return data.draw(st.integers(0, 3)) > 0


@given(st.data())
def test_linear(data: st.DataObject) -> None:
    in_f, out_f = data.draw(st.integers(1, 8)), data.draw(st.integers(1, 8))
    shape = data.draw(shapes(0, 4))
    if shape and fits(data):
        shape = (*shape[:-1], in_f)
    kwargs = {"in_features": in_f, "out_features": out_f, "bias": data.draw(st.booleans())}
    assert_agrees("Linear", kwargs, shape)


@given(shapes(0, 5))
def test_identity(shape: Shape) -> None:
    assert_agrees("Identity", {}, shape)


@given(st.data())
def test_flatten(data: st.DataObject) -> None:
    shape = data.draw(shapes(0, 5))
    if fits(data):
        n = max(len(shape), 1)  # a 0-d input wraps dims as 1-d
        start, end = sorted(data.draw(st.lists(st.integers(0, n - 1), min_size=2, max_size=2)))
        start -= data.draw(st.sampled_from([0, n]))  # the same dim, counted from the end
        end -= data.draw(st.sampled_from([0, n]))
    else:
        start, end = data.draw(st.integers(-6, 5)), data.draw(st.integers(-6, 5))
    assert_agrees("Flatten", {"start_dim": start, "end_dim": end}, shape)


@given(st.data())
def test_unflatten(data: st.DataObject) -> None:
    fit = fits(data)
    sizes = data.draw(st.lists(st.sampled_from([-1, 1, 2, 3, 4]), min_size=1, max_size=3))
    shape = data.draw(shapes(1 if fit else 0, 4))
    dim = data.draw(st.integers(-len(shape), len(shape) - 1) if fit else st.integers(-5, 4))
    if fit:
        if sizes.count(-1) > 1:
            sizes = [1 if s == -1 else s for s in sizes]
        fill = data.draw(st.integers(1, 3))  # what a -1 stands for
        known = [fill if s == -1 else s for s in sizes]
        shape = (*shape[: dim % len(shape)], prod_of(known), *shape[dim % len(shape) + 1 :])
    assert_agrees("Unflatten", {"dim": dim, "unflattened_size": sizes}, shape)


def prod_of(values: list[int]) -> int:
    total = 1
    for v in values:
        total *= v
    return total


@given(st.data())
def test_pixel_shuffle(data: st.DataObject) -> None:
    r = data.draw(st.integers(-1, 3))
    shape = data.draw(shapes(1, 5, 5))
    if fits(data) and r > 0:
        lead = data.draw(shapes(0, 2, 3))
        shape = (*lead, r * r * data.draw(st.integers(1, 3)), *data.draw(shapes(2, 2, 5)))
    assert_agrees("PixelShuffle", {"upscale_factor": r}, shape)


@given(st.data())
def test_pixel_unshuffle(data: st.DataObject) -> None:
    r = data.draw(st.integers(-1, 3))
    shape = data.draw(shapes(1, 5, 5))
    if fits(data) and r > 0:
        h, w = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
        shape = (*data.draw(shapes(1, 3, 3)), h * r, w * r)
    assert_agrees("PixelUnshuffle", {"downscale_factor": r}, shape)


@given(st.data())
def test_channel_shuffle(data: st.DataObject) -> None:
    groups = data.draw(st.integers(-1, 4))
    shape = data.draw(shapes(1, 5, 5))
    if fits(data) and groups > 0:
        channels = groups * data.draw(st.integers(1, 3))
        shape = (data.draw(st.integers(1, 3)), channels, *data.draw(shapes(1, 3, 4)))
    assert_agrees("ChannelShuffle", {"groups": groups}, shape)


SCALES = st.one_of(
    st.sampled_from([0.29, 0.3, 0.5, 0.7, 1.1, 1.5, 2.0, 3.0, 2, 1]),
    st.floats(0.05, 3.0, allow_nan=False),
)
MODE_RANKS = {
    "nearest": [3, 4, 5],
    "nearest-exact": [3, 4, 5],
    "area": [3, 4, 5],
    "linear": [3],
    "bilinear": [4],
    "bicubic": [4],
    "trilinear": [5],
    "lanczos": [4],  # not a mode of Upsample (it needs antialias): always fails
}


def interp_args(data: st.DataObject, rank: int, fit: bool) -> dict[str, Any]:
    """size or scale_factor: one of them, as long as the spatial dims when ``fit``;
    otherwise sometimes both, neither, or a tuple of the wrong length."""
    n = rank - 2 if fit else data.draw(st.sampled_from([rank - 2, 1, 2, 3]))
    n = max(n, 1)
    sizes = st.one_of(st.integers(1, 12), st.tuples(*[st.integers(1, 12)] * n))
    scales = st.one_of(SCALES, st.tuples(*[SCALES] * n))
    which = data.draw(st.sampled_from(["size", "scale"] if fit else ["both", "neither"] * 2))
    kwargs: dict[str, Any] = {}
    if which in ("size", "both"):
        kwargs["size"] = data.draw(sizes)
    if which in ("scale", "both"):
        kwargs["scale_factor"] = data.draw(scales)
    return kwargs


def interp_shape(data: st.DataObject, ranks: list[int]) -> Shape:
    rank = data.draw(st.sampled_from(ranks))
    lead = data.draw(st.lists(st.integers(1, 2), min_size=2, max_size=2))
    spatial = data.draw(st.lists(st.integers(1, 12), min_size=rank - 2, max_size=rank - 2))
    return tuple([*lead, *spatial][:rank])


@given(st.data())
def test_upsample(data: st.DataObject) -> None:
    fit = fits(data)
    mode = data.draw(st.sampled_from(list(MODE_RANKS)))
    shape = interp_shape(data, MODE_RANKS[mode] if fit else [2, 3, 4, 5, 6])
    kwargs = {**interp_args(data, len(shape), fit), "mode": mode}
    if not fit or mode in ("linear", "bilinear", "bicubic", "trilinear"):
        kwargs["align_corners"] = data.draw(st.sampled_from([None, True, False]))
    if not fit or "scale_factor" in kwargs:
        kwargs["recompute_scale_factor"] = data.draw(st.sampled_from([None, True, False]))
    assert_agrees("Upsample", kwargs, shape)


# (scale, L_in) whose product lands just below an integer in double precision: 100 * 0.29 is
# 28.999999999999996, so torch gives 28, not 29
ROUNDING = [(0.29, 100), (0.58, 50), (1.16, 25), (1.4, 45), (0.35, 180), (0.7, 90), (2.05, 60)]


@given(
    st.one_of(
        st.sampled_from(ROUNDING),
        st.tuples(st.integers(5, 300).map(lambda k: k / 100), st.integers(1, 200)),
    ),
    st.sampled_from(["nearest", "nearest-exact", "area", "linear"]),
    st.sampled_from([None, True, False]),
)
def test_upsample_float_truncation(
    case: tuple[float, int], mode: str, recompute: bool | None
) -> None:
    scale, length = case
    kwargs = {"scale_factor": scale, "mode": mode, "recompute_scale_factor": recompute}
    assert_agrees("Upsample", kwargs, (1, 1, length))


@given(st.data(), st.sampled_from(["UpsamplingNearest2d", "UpsamplingBilinear2d"]))
def test_upsampling_2d(data: st.DataObject, type_name: str) -> None:
    fit = fits(data)
    ranks = ([4] if "Bilinear" in type_name else [3, 4, 5]) if fit else [2, 3, 4, 5, 6]
    shape = interp_shape(data, ranks)
    assert_agrees(type_name, interp_args(data, len(shape), fit), shape)


# ------------------------------------------------------------------------ hand-checked tables

TABLE = [
    ("Upsample", {"scale_factor": 0.29}, (1, 1, 100), (1, 1, 28), 0, 0),  # 28.999999999999996
    ("Upsample", {"scale_factor": 1.5}, (1, 1, 5), (1, 1, 7), 0, 0),
    ("Upsample", {"scale_factor": 1.1, "mode": "linear"}, (1, 1, 10), (1, 1, 11), 0, 0),
    ("Upsample", {"scale_factor": (2.0, 3.0)}, (1, 1, 5, 5), (1, 1, 10, 15), 0, 0),
    ("Upsample", {"size": 7, "mode": "trilinear"}, (2, 3, 4, 5, 6), (2, 3, 7, 7, 7), 0, 0),
    ("UpsamplingNearest2d", {"scale_factor": 2}, (1, 1, 5), (1, 1, 10), 0, 0),
    ("UpsamplingBilinear2d", {"size": (3, 4)}, (1, 1, 5, 5), (1, 1, 3, 4), 0, 0),
    ("Linear", {"in_features": 400, "out_features": 120}, (1, 400), (1, 120), 48120, 48000),
    ("Linear", {"in_features": 5, "out_features": 6}, (2, 3, 5), (2, 3, 6), 36, 2 * 3 * 5 * 6),
    ("Linear", {"in_features": 5, "out_features": 6, "bias": False}, (5,), (6,), 30, 30),
    ("Identity", {}, (), (), 0, 0),
    ("Flatten", {}, (2, 16, 5, 5), (2, 400), 0, 0),
    ("Flatten", {"start_dim": 0, "end_dim": -1}, (), (1,), 0, 0),
    ("Flatten", {"start_dim": -3, "end_dim": 1}, (3, 4, 5), (12, 5), 0, 0),
    ("Unflatten", {"dim": 1, "unflattened_size": [2, -1]}, (2, 10), (2, 2, 5), 0, 0),
    ("Unflatten", {"dim": -1, "unflattened_size": [2, 2]}, (3, 4), (3, 2, 2), 0, 0),
    ("PixelShuffle", {"upscale_factor": 2}, (1, 8, 3, 3), (1, 2, 6, 6), 0, 0),
    ("PixelShuffle", {"upscale_factor": 2}, (1, 2, 8, 3, 3), (1, 2, 2, 6, 6), 0, 0),
    ("PixelUnshuffle", {"downscale_factor": 2}, (1, 4, 4), (4, 2, 2), 0, 0),
    ("ChannelShuffle", {"groups": 2}, (2, 4, 3), (2, 4, 3), 0, 0),
]


@pytest.mark.parametrize(
    ("type_name", "kwargs", "shape", "out", "params", "macs"),
    TABLE,
    ids=[f"{row[0]}-{i}" for i, row in enumerate(TABLE)],
)
def test_table(
    type_name: str, kwargs: dict[str, Any], shape: Shape, out: Shape, params: int, macs: int
) -> None:
    layer = build(type_name, kwargs)
    assert forward_shape(layer, shape) == out
    assert layer.num_params() == params
    assert layer.macs(shape, out) == macs
    assert_agrees(type_name, kwargs, shape)


ERRORS = [
    ("Linear", {"in_features": 4, "out_features": 6}, (2, 3, 5), ShapeError, "(6x5 and 4x6)"),
    ("Linear", {"in_features": 4, "out_features": 6}, (), ShapeError, "0-d input"),
    ("Flatten", {}, (3,), ShapeError, "start_dim=1 is out of range for a 1-d input"),
    ("Flatten", {"start_dim": 1, "end_dim": 0}, (3, 4), ShapeError, "comes after end_dim"),
    ("Unflatten", {"dim": 1, "unflattened_size": [3, -1]}, (2, 10), ShapeError, "(10)"),
    ("PixelShuffle", {"upscale_factor": 2}, (1, 6, 3, 3), ShapeError, "divisible by"),
    ("PixelUnshuffle", {"downscale_factor": 2}, (1, 5, 4), ShapeError, "height (5)"),
    ("ChannelShuffle", {"groups": 2}, (4, 3), ShapeError, "more than 2 dims"),
    ("Upsample", {"scale_factor": 0.1}, (1, 1, 5), ShapeError, "output length would be 0"),
    ("Upsample", {"scale_factor": 2, "mode": "bilinear"}, (1, 5, 5, 5, 5), ShapeError, "4-d"),
    ("Upsample", {"scale_factor": 2}, (3, 5), ShapeError, "3-d, 4-d or 5-d"),
    ("Upsample", {"size": 2, "scale_factor": 2}, (1, 1, 5), SpecError, "only one of"),
    ("Upsample", {}, (1, 1, 5), SpecError, "either size or scale_factor"),
    ("Upsample", {"scale_factor": 2, "align_corners": True}, (1, 1, 5), SpecError, "align"),
    ("Upsample", {"size": (3, 7, 2)}, (1, 1, 5, 5), ShapeError, "size has 3 entries"),
]


@pytest.mark.parametrize(
    ("type_name", "kwargs", "shape", "error", "fragment"),
    ERRORS,
    ids=[f"{row[0]}-{i}" for i, row in enumerate(ERRORS)],
)
def test_errors(
    type_name: str,
    kwargs: dict[str, Any],
    shape: Shape,
    error: type[ConvshapeError],
    fragment: str,
) -> None:
    with pytest.raises(error) as info:
        forward_shape(build(type_name, kwargs), shape)
    assert fragment in str(info.value)
    assert_agrees(type_name, kwargs, shape)


def test_linear_mismatch_hint() -> None:
    with pytest.raises(ShapeError) as info:
        forward_shape(build("Linear", {"in_features": 4, "out_features": 6}), (2, 5))
    assert info.value.hint == "in_features: 5 would fit this input (or leave it out to infer it)"
    assert REGISTRY["Linear"].infer((2, 3, 5)) == 5
    assert REGISTRY["Linear"].infer(()) is None


def test_explain() -> None:
    up = build("Upsample", {"scale_factor": 0.29})
    assert up.explain((1, 1, 100), (1, 1, 28)) == [
        "mode='nearest': (N, C, *spatial) -> (N, C, *out): [1, 1, 100] -> [1, 1, 28]",
        "L_out = floor(L_in * scale_factor)",
        "      = floor(100 * 0.29) = 28",
        "        (100 * 0.29 is 28.999999999999996 in double precision, "
        "and torch truncates the double)",
    ]
    linear = build("Linear", {"in_features": 400, "out_features": 120})
    assert linear.explain((1, 400), (1, 120)) == [
        "(*, in_features) -> (*, out_features): [1, 400] -> [1, 120]",
        "params = in_features * out_features + out_features",
        "       = 400 * 120 + 120 = 48120",
        "MACs = prod(leading dims) * in_features * out_features",
        "     = 1 * 400 * 120 = 48000",
    ]


def test_upsample_kwargs_build_torch() -> None:
    """A YAML list scale_factor reaches torch as a tuple (torch calls float() on a list)."""
    layer = build("Upsample", {"scale_factor": [2, 3], "mode": "bilinear"})
    module = torch.nn.Upsample(**layer.kwargs())
    assert tuple(module(torch.zeros(1, 1, 4, 5)).shape) == (1, 1, 8, 15)
