"""Max, Avg, LP and adaptive pooling against torch: same shape, or both fail."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from oracle import assert_agrees, engine_run

pytestmark = pytest.mark.torch


def per_dim(draw: st.DrawFn, ndim: int, lo: int, hi: int) -> int | list[int]:
    if draw(st.booleans()):
        return draw(st.integers(lo, hi))
    return [draw(st.integers(lo, hi)) for _ in range(ndim)]


def input_shape(draw: st.DrawFn, ndim: int, extra_rank: int = 0) -> tuple[int, ...]:
    hi = {1: 16, 2: 11, 3: 7}[ndim]
    lead = draw(st.sampled_from([1, 2]) if not extra_rank else st.integers(0, 3))
    return tuple(draw(st.integers(1, 4)) for _ in range(lead)) + tuple(
        draw(st.integers(1, hi)) for _ in range(ndim)
    )


@st.composite
def pool_case(draw: st.DrawFn) -> tuple[str, dict[str, Any], tuple[int, ...]]:
    ndim = draw(st.sampled_from([1, 2, 3]))
    family = draw(st.sampled_from(["MaxPool", "AvgPool", "LPPool"]))
    kernel = per_dim(draw, ndim, 1, 4)
    kwargs: dict[str, Any] = {"kernel_size": kernel}
    if draw(st.booleans()):
        kwargs["stride"] = per_dim(draw, ndim, 1, 3)
    if family != "LPPool":
        kwargs["padding"] = per_dim(draw, ndim, 0, 2)
    if family == "MaxPool":
        kwargs["dilation"] = per_dim(draw, ndim, 1, 3)
    if family == "LPPool":
        kwargs["norm_type"] = draw(st.sampled_from([1, 2, 3.5]))
        if ndim == 1:
            kwargs["kernel_size"] = draw(st.integers(1, 4))
    kwargs["ceil_mode"] = draw(st.booleans())
    shape = input_shape(draw, ndim, extra_rank=draw(st.integers(0, 5)) == 0)
    return f"{family}{ndim}d", kwargs, shape


@st.composite
def adaptive_case(draw: st.DrawFn) -> tuple[str, dict[str, Any], tuple[int, ...]]:
    ndim = draw(st.sampled_from([1, 2, 3]))
    family = draw(st.sampled_from(["AdaptiveAvgPool", "AdaptiveMaxPool"]))
    size: Any = draw(st.integers(1, 6))
    if ndim > 1 and draw(st.booleans()):
        size = [draw(st.one_of(st.none(), st.integers(1, 6))) for _ in range(ndim)]
    shape = input_shape(draw, ndim, extra_rank=draw(st.integers(0, 3)) == 0)
    return f"{family}{ndim}d", {"output_size": size}, shape


@st.composite
def fractional_case(draw: st.DrawFn) -> tuple[str, dict[str, Any], tuple[int, ...]]:
    ndim = draw(st.sampled_from([2, 3]))
    kwargs: dict[str, Any] = {"kernel_size": per_dim(draw, ndim, 1, 4)}
    if draw(st.booleans()):
        kwargs["output_size"] = per_dim(draw, ndim, 1, 8)
    else:
        ratio = st.floats(0.05, 0.95)
        kwargs["output_ratio"] = (
            draw(ratio) if draw(st.booleans()) else [draw(ratio) for _ in range(ndim)]
        )
    shape = input_shape(draw, ndim, extra_rank=draw(st.integers(0, 5)) == 0)
    return f"FractionalMaxPool{ndim}d", kwargs, shape


@given(fractional_case())
def test_fractional_max_pool_matches_torch(
    case: tuple[str, dict[str, Any], tuple[int, ...]],
) -> None:
    assert_agrees(*case)


@given(pool_case())
def test_pool_matches_torch(case: tuple[str, dict[str, Any], tuple[int, ...]]) -> None:
    assert_agrees(*case)


@given(adaptive_case())
def test_adaptive_pool_matches_torch(case: tuple[str, dict[str, Any], tuple[int, ...]]) -> None:
    assert_agrees(*case)


CASES = [  # hand-checked: the seed tutorials and torch's pooling docs (torch/nn/modules/pooling.py)
    ("MaxPool2d", dict(kernel_size=3, stride=2, padding=1), (20, 16, 50, 32), (20, 16, 25, 16)),
    ("MaxPool2d", dict(kernel_size=2, stride=2), (2, 6, 30, 30), (2, 6, 15, 15)),
    ("MaxPool2d", dict(kernel_size=2, stride=1), (2, 6, 13, 13), (2, 6, 12, 12)),
    ("MaxPool1d", dict(kernel_size=2, stride=2, padding=1, ceil_mode=True), (1, 1, 5), (1, 1, 3)),
    ("MaxPool2d", dict(kernel_size=2, ceil_mode=True), (1, 1, 7, 7), (1, 1, 4, 4)),
    ("MaxPool1d", dict(kernel_size=1, stride=3, ceil_mode=True), (1, 1, 4), (1, 1, 2)),
    ("AvgPool2d", dict(kernel_size=4, padding=2), (1, 1, 3, 3), (1, 1, 1, 1)),
    ("AdaptiveAvgPool2d", dict(output_size=1), (10, 10), (1, 1)),
    ("AdaptiveAvgPool2d", dict(output_size=[None, 3]), (2, 3, 10, 8), (2, 3, 10, 3)),
]


@pytest.mark.parametrize(("type_name", "kwargs", "shape", "expected"), CASES)
def test_hand_checked(
    type_name: str, kwargs: dict[str, Any], shape: tuple[int, ...], expected: tuple[int, ...]
) -> None:
    assert engine_run(type_name, kwargs, shape)[0] == expected
    assert_agrees(type_name, kwargs, shape)


@pytest.mark.parametrize(
    ("type_name", "kwargs", "shape", "message"),
    [
        ("MaxPool2d", dict(kernel_size=3, padding=2, dilation=2), (1, 1, 9, 9),
         "pad should be at most half of kernel size"),
        ("AvgPool3d", dict(kernel_size=4, padding=2), (1, 1, 3, 3, 3),
         "AvgPool3d: input image (T: 3 H: 3 W: 3) smaller than kernel size"),
        ("MaxPool2d", dict(kernel_size=5), (1, 1, 4, 9), "output height would be 0"),
    ],
)  # fmt: skip
def test_refused_like_torch(
    type_name: str, kwargs: dict[str, Any], shape: tuple[int, ...], message: str
) -> None:
    assert str(engine_run(type_name, kwargs, shape)).startswith(message)
    assert_agrees(type_name, kwargs, shape)
