"""Conv and ConvTranspose against torch: same shape, params and FLOPs, or both fail."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from oracle import assert_agrees, engine_run, torch

from convshape.layers.formulas import same_padding

pytestmark = pytest.mark.torch

ND = st.sampled_from([1, 2, 3])


def per_dim(draw: st.DrawFn, ndim: int, lo: int, hi: int) -> int | list[int]:
    """An int, or (sometimes) a list of one value per spatial dim."""
    if draw(st.booleans()):
        return draw(st.integers(lo, hi))
    return [draw(st.integers(lo, hi)) for _ in range(ndim)]


def input_shape(draw: st.DrawFn, ndim: int, channels: int) -> tuple[int, ...]:
    hi = {1: 14, 2: 10, 3: 7}[ndim]
    spatial = [draw(st.integers(1, hi)) for _ in range(ndim)]
    if draw(st.integers(0, 9)) == 0:  # sometimes the wrong channel count
        channels = draw(st.integers(1, 8))
    if draw(st.booleans()):
        return (channels, *spatial)  # unbatched
    return (draw(st.integers(1, 3)), channels, *spatial)


@st.composite
def conv_case(draw: st.DrawFn) -> tuple[str, dict[str, Any], tuple[int, ...]]:
    ndim = draw(ND)
    groups = draw(st.sampled_from([1, 1, 1, 2, 3]))
    in_channels = draw(st.integers(1, 3)) * groups + draw(st.sampled_from([0, 0, 0, 0, 1]))
    out_channels = draw(st.integers(1, 3)) * groups + draw(st.sampled_from([0, 0, 0, 0, 1]))
    mode = draw(st.sampled_from(["zeros", "zeros", "reflect", "replicate", "circular"]))
    padding: Any = draw(
        st.one_of(st.just("same"), st.just("valid"), st.builds(lambda: None).map(lambda _: None))
    )
    if padding is None:
        padding = per_dim(draw, ndim, -1 if mode != "zeros" else 0, 3)
    stride = draw(st.sampled_from([1, 1, 2, 3])) if padding != "same" else 1
    if draw(st.integers(0, 9)) == 0:
        stride = 2  # sometimes 'same' with a stride: torch refuses
    kwargs = dict(
        in_channels=in_channels,
        out_channels=out_channels,
        kernel_size=per_dim(draw, ndim, 1, 5),
        stride=stride,
        padding=padding,
        dilation=per_dim(draw, ndim, 1, 3),
        groups=groups,
        bias=draw(st.booleans()),
        padding_mode=mode,
    )
    return f"Conv{ndim}d", kwargs, input_shape(draw, ndim, in_channels)


@st.composite
def transpose_case(draw: st.DrawFn) -> tuple[str, dict[str, Any], tuple[int, ...]]:
    ndim = draw(ND)
    groups = draw(st.sampled_from([1, 1, 2]))
    in_channels = draw(st.integers(1, 3)) * groups
    kwargs = dict(
        in_channels=in_channels,
        out_channels=draw(st.integers(1, 3)) * groups + draw(st.sampled_from([0, 0, 0, 1])),
        kernel_size=per_dim(draw, ndim, 1, 4),
        stride=per_dim(draw, ndim, 1, 3),
        padding=per_dim(draw, ndim, 0, 3),
        output_padding=per_dim(draw, ndim, 0, 2),
        groups=groups,
        bias=draw(st.booleans()),
        dilation=per_dim(draw, ndim, 1, 3),
    )
    return f"ConvTranspose{ndim}d", kwargs, input_shape(draw, ndim, in_channels)


@given(conv_case())
def test_conv_matches_torch(case: tuple[str, dict[str, Any], tuple[int, ...]]) -> None:
    assert_agrees(*case)


@given(transpose_case())
def test_conv_transpose_matches_torch(case: tuple[str, dict[str, Any], tuple[int, ...]]) -> None:
    assert_agrees(*case)


SEEDS = [  # the seed tutorials' worked examples, hand-checked
    ("Conv2d", dict(in_channels=3, out_channels=16, kernel_size=3, stride=1, padding=1),
     (32, 3, 256, 256), (32, 16, 256, 256)),
    ("Conv1d", dict(in_channels=128, out_channels=256, kernel_size=3, stride=1, padding=1),
     (32, 128, 10), (32, 256, 10)),
    ("Conv2d", dict(in_channels=3, out_channels=6, kernel_size=3), (64, 3, 32, 32),
     (64, 6, 30, 30)),
    ("Conv2d", dict(in_channels=1, out_channels=1, kernel_size=3), (1, 1, 5, 5), (1, 1, 3, 3)),
    ("Conv2d", dict(in_channels=1, out_channels=1, kernel_size=3, stride=2), (1, 1, 5, 5),
     (1, 1, 2, 2)),
    ("Conv2d", dict(in_channels=1, out_channels=1, kernel_size=3, padding=1), (1, 1, 5, 5),
     (1, 1, 5, 5)),
    ("Conv2d", dict(in_channels=16, out_channels=33, kernel_size=3, stride=2),
     (20, 16, 50, 100), (20, 33, 24, 49)),
    ("Conv2d", dict(in_channels=16, out_channels=33, kernel_size=[3, 5], stride=[2, 1],
                    padding=[4, 2]), (20, 16, 50, 100), (20, 33, 28, 100)),
    ("Conv2d", dict(in_channels=16, out_channels=33, kernel_size=[3, 5], stride=[2, 1],
                    padding=[4, 2], dilation=[3, 1]), (20, 16, 50, 100), (20, 33, 26, 100)),
    ("Conv2d", dict(in_channels=10, out_channels=5, kernel_size=3, groups=5), (1, 10, 8, 8),
     (1, 5, 6, 6)),
    ("Conv2d", dict(in_channels=3, out_channels=3, kernel_size=5), (1, 3, 360, 640),
     (1, 3, 356, 636)),
    ("Conv2d", dict(in_channels=3, out_channels=5, kernel_size=3, stride=2), (1, 3, 356, 636),
     (1, 5, 177, 317)),
]  # fmt: skip


@pytest.mark.parametrize(("type_name", "kwargs", "shape", "expected"), SEEDS)
def test_seed_examples(
    type_name: str, kwargs: dict[str, Any], shape: tuple[int, ...], expected: tuple[int, ...]
) -> None:
    out, _, _ = engine_run(type_name, kwargs, shape)
    assert out == expected
    assert_agrees(type_name, kwargs, shape)


def test_groups_not_dividing_in_channels_is_refused_like_torch() -> None:
    err = engine_run("Conv2d", dict(in_channels=10, out_channels=5, kernel_size=3, groups=6),
                     (1, 10, 8, 8))  # fmt: skip
    assert str(err).startswith("in_channels must be divisible by groups")
    assert_agrees("Conv2d", dict(in_channels=10, out_channels=5, kernel_size=3, groups=6),
                  (1, 10, 8, 8))  # fmt: skip


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")
@pytest.mark.parametrize(("kernel", "dilation"), [(4, 1), (2, 3), (6, 2), (3, 1)])
def test_same_padding_puts_the_extra_element_last(kernel: int, dilation: int) -> None:
    """torch's values prove the split: 'same' equals an explicit F.pad by our (left, right)."""
    F = torch.nn.functional

    left, right = same_padding(kernel, dilation)
    assert left + right == dilation * (kernel - 1) and right - left in (0, 1)
    conv = torch.nn.Conv1d(1, 1, kernel, padding="same", dilation=dilation, bias=False)
    x = torch.randn(1, 1, 11)
    with torch.no_grad():
        want = F.conv1d(F.pad(x, (left, right)), conv.weight, dilation=dilation)
        assert torch.equal(conv(x), want)


@pytest.mark.parametrize(
    ("kwargs", "params"),
    [
        (dict(in_channels=4, out_channels=6, kernel_size=3, groups=2), 6 * 2 * 3 * 3 + 6),
        (dict(in_channels=16, out_channels=33, kernel_size=3, bias=False), 33 * 16 * 9),
    ],
)
def test_conv_params_hand_checked(kwargs: dict[str, Any], params: int) -> None:
    assert engine_run("Conv2d", kwargs, (1, kwargs["in_channels"], 9, 9))[1] == params


def test_transpose_params_hand_checked() -> None:
    kwargs = dict(in_channels=4, out_channels=6, kernel_size=3, groups=2)
    assert engine_run("ConvTranspose2d", kwargs, (1, 4, 5, 5))[1] == 4 * 3 * 3 * 3 + 6
