"""Padding layers: Zero/Constant/Reflection/Replication/CircularPad 1d/2d/3d.

Every module hands its pad tuple to ``F.pad`` (torch/nn/modules/padding.py), which dispatches
in aten/src/ATen/native/PadNd.cpp. The tuple lists the **last** dim first:
``(W_left, W_right, H_top, H_bottom, D_front, D_back)``; each padded dim becomes
``size + before + after``, and a negative pad crops (allowed in every mode, within limits).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

from convshape.errors import ShapeError
from convshape.layers.argtypes import PadSpec
from convshape.layers.base import (
    AXES,
    AXIS_WORDS,
    Device,
    Layer,
    Saves,
    Shape,
    Strides,
    dim_formula,
    first_empty,
    fmt,
    non_batch,
    ntuple,
    register,
    split_batch,
    too_small,
)

# torch's names for the two sides of each padded dim (torch/nn/modules/padding.py docs)
SIDES = {
    "L": ("left", "right"),
    "W": ("left", "right"),
    "H": ("top", "bottom"),
    "D": ("front", "back"),
}

Span = tuple[int, int]  # [start, end) along one dim


def _num(value: int) -> str:
    return f"({value})" if value < 0 else str(value)


def _aten_slice(size: int, start: int, end: int) -> Span:
    """The [start, end) that ``Tensor.slice`` keeps of a dim of ``size``.

    aten/src/ATen/native/TensorShape.cpp ``slice``: negative bounds count from the end once,
    then both are clamped into [0, size] with end >= start.
    """
    start += size if start < 0 else 0
    end += size if end < 0 else 0
    start = min(max(start, 0), size)
    return start, min(max(end, start), size)


def _copy_fits(dst: Span, src: Span) -> bool:
    """``dst.copy_(src)`` broadcasts: equal lengths, or a source of length 1."""
    return dst[1] - dst[0] == src[1] - src[0] or src[1] - src[0] == 1


@dataclass(frozen=True)
class _PadNd(Layer):
    takes_unbatched = True
    padding: PadSpec

    def _pairs(self) -> list[tuple[int, int]]:
        """(before, after) per padded dim, outermost first (the tuple lists the last dim first)."""
        flat = ntuple(self.padding, 2 * self.ndim)
        return [(flat[2 * i], flat[2 * i + 1]) for i in reversed(range(self.ndim))]

    def _where(self, axis: str, pair: tuple[int, int], size: int) -> str:
        return f"padding {pair} on a {AXIS_WORDS[axis]} of {size}"

    def _check_rank(self, shape: Shape) -> None:
        # aten/src/ATen/native/PadNd.cpp _pad_enum: non-constant modes take (C, *s) or (N, C, *s)
        split_batch(shape, self.ndim, self.type_name)

    def _check_pads(self, shape: Shape) -> None:
        """Mode-specific limits on the pads, before the output size is computed."""

    def _texts(self, spatial: Shape) -> list[list[str]]:
        texts = []
        for axis, size, (lo, hi) in zip(AXES[self.ndim], spatial, self._pairs(), strict=True):
            before, after = SIDES[axis]
            texts.append(
                dim_formula(
                    axis,
                    f"{axis}_in + padding_{before} + padding_{after}",
                    f"{size} + {_num(lo)} + {_num(hi)}",
                    size + lo + hi,
                )
            )
        return texts

    def output_shape(self, shape: Shape) -> Shape:
        self._check_rank(shape)
        self._check_pads(shape)
        lead, spatial = shape[: len(shape) - self.ndim], shape[len(shape) - self.ndim :]
        outs = [size + lo + hi for size, (lo, hi) in zip(spatial, self._pairs(), strict=True)]
        self._check_outs(outs, spatial)
        return (*lead, *outs)

    def _check_outs(self, outs: list[int], spatial: Shape) -> None:
        """Constant and circular padding give an empty tensor for a size of 0 (warning CS106);
        below 0 is refused."""
        if min(outs) < 0:
            too_small(AXES[self.ndim], outs, self._texts(spatial))

    def explain(self, shape: Shape, out: Shape) -> list[str]:
        axes = AXES[self.ndim]
        names = ", ".join(side for axis in reversed(axes) for side in SIDES[axis])
        values = ", ".join(map(str, ntuple(self.padding, 2 * self.ndim)))
        lines = [f"padding = ({values}) as ({names})"]
        for text in self._texts(shape[len(shape) - self.ndim :]):
            lines += text
        return lines


class _ZeroPadNd(_PadNd):
    """Constant mode (F.pad's 'constant'); ConstantPad adds the fill value."""

    def saves(
        self, shape: Shape, strides: Strides, out: Shape, at: Device, grad_in: bool, learns: bool
    ) -> Saves:
        return Saves()  # its backward only slices: nothing kept

    takes_unbatched = False  # any rank: no unbatched form

    def _check_rank(self, shape: Shape) -> None:
        # aten/src/ATen/native/PadNd.cpp _pad_enum: len(pad) <= 2 * input.dim(); any rank above
        if len(shape) < self.ndim:
            raise ShapeError(
                f"{self.type_name} pads the last {self.ndim} dims, but the input "
                f"{fmt(shape)} has only {len(shape)}"
            )

    def _check_pads(self, shape: Shape) -> None:
        # aten/src/ATen/native/PadNd.cpp constant_pad_nd: negative pads are applied first as
        # narrow() (before, then after), which needs the remaining length to stay >= 0
        spatial = shape[len(shape) - self.ndim :]
        for axis, size, (lo, hi) in zip(AXES[self.ndim], spatial, self._pairs(), strict=True):
            kept = size + min(lo, 0) + min(hi, 0)
            if kept < 0:
                raise ShapeError(
                    f"negative padding crops more than the input has: "
                    f"{self._where(axis, (lo, hi), size)}",
                    formula=[
                        f"{axis}_in + negative padding >= 0 (cropped before padding)",
                        f"{size} + {_num(min(lo, 0))} + {_num(min(hi, 0))} = {kept} < 0",
                    ],
                )


@dataclass(frozen=True)
class _ConstantPadNd(_ZeroPadNd):
    value: float


@register
class ZeroPad1d(_ZeroPadNd):
    ndim = 1


@register
class ZeroPad2d(_ZeroPadNd):
    ndim = 2


@register
class ZeroPad3d(_ZeroPadNd):
    ndim = 3


@register
class ConstantPad1d(_ConstantPadNd):
    ndim = 1


@register
class ConstantPad2d(_ConstantPadNd):
    ndim = 2


@register
class ConstantPad3d(_ConstantPadNd):
    ndim = 3


def padding_empty_error(shape: Shape, ndim: int) -> str | None:
    """ReflectionPad.cpp / ReplicationPadding.cpp: only the batch may be empty."""
    if first_empty(shape, non_batch(shape, ndim)) is None:
        return None
    return (
        f"Expected {ndim + 1}D or {ndim + 2}D (batch mode) tensor with possibly 0 batch size and "
        f"other non-zero dimensions for input, but got: {fmt(shape)}"
    )


def _check_sides(layer: _PadNd, outs: list[int], spatial: Shape) -> None:
    """ReflectionPad.cpp / ReplicationPadding.cpp: 1-d needs an output width >= 1; 2-d and 3-d
    raise only when *every* output size is below 1, and give an empty tensor otherwise."""
    if min(outs) < 0 or ((layer.ndim == 1 or max(outs) < 1) and min(outs) < 1):
        too_small(AXES[layer.ndim], outs, layer._texts(spatial))


class _ReflectionPadNd(_PadNd):
    def empty_error(self, shape: Shape) -> str | None:
        return padding_empty_error(shape, self.ndim)

    def _check_outs(self, outs: list[int], spatial: Shape) -> None:
        _check_sides(self, outs, spatial)

    def _check_pads(self, shape: Shape) -> None:
        # aten/src/ATen/native/ReflectionPad.cpp: each pad < its dim (negatives always pass),
        # checked W first, then H, then D
        spatial = shape[len(shape) - self.ndim :]
        checks = zip(AXES[self.ndim], spatial, self._pairs(), strict=True)
        for axis, size, (lo, hi) in reversed(list(checks)):
            if lo >= size or hi >= size:
                raise ShapeError(
                    f"reflect padding must be smaller than the input: "
                    f"{self._where(axis, (lo, hi), size)}",
                    formula=[
                        f"padding_{SIDES[axis][0]} < {axis}_in and "
                        f"padding_{SIDES[axis][1]} < {axis}_in",
                        f"{lo} < {size} and {hi} < {size} is false",
                    ],
                )


@register
class ReflectionPad1d(_ReflectionPadNd):
    ndim = 1


@register
class ReflectionPad2d(_ReflectionPadNd):
    ndim = 2


@register
class ReflectionPad3d(_ReflectionPadNd):
    ndim = 3


class _ReplicationPadNd(_PadNd):
    """aten/src/ATen/native/ReplicationPadding.cpp: no limit on the pads, only on the output."""

    def empty_error(self, shape: Shape) -> str | None:
        return padding_empty_error(shape, self.ndim)

    def _check_outs(self, outs: list[int], spatial: Shape) -> None:
        _check_sides(self, outs, spatial)


@register
class ReplicationPad1d(_ReplicationPadNd):
    ndim = 1


@register
class ReplicationPad2d(_ReplicationPadNd):
    ndim = 2


@register
class ReplicationPad3d(_ReplicationPadNd):
    ndim = 3


class _CircularPadNd(_PadNd):
    def saves(
        self, shape: Shape, strides: Strides, out: Shape, at: Device, grad_in: bool, learns: bool
    ) -> Saves:
        return Saves()  # its backward only slices: nothing kept

    def _check_rank(self, shape: Shape) -> None:
        # torch/nn/modules/padding.py CircularPadNd._check_input_dim
        if len(shape) not in (self.ndim + 1, self.ndim + 2):
            raise ShapeError(
                f"expected {self.ndim + 1}D or {self.ndim + 2}D input to {self.type_name} "
                f"(got {len(shape)}D input {fmt(shape)})"
            )

    def _check_pads(self, shape: Shape) -> None:
        # aten/src/ATen/native/PadNd.cpp _pad_circular_symint: pad <= size, outer dim first
        spatial = shape[len(shape) - self.ndim :]
        for axis, size, (lo, hi) in zip(AXES[self.ndim], spatial, self._pairs(), strict=True):
            if lo > size or hi > size:
                raise ShapeError(
                    f"circular padding wraps around more than once: "
                    f"{self._where(axis, (lo, hi), size)}",
                    formula=[
                        f"padding_{SIDES[axis][0]} <= {axis}_in and "
                        f"padding_{SIDES[axis][1]} <= {axis}_in",
                        f"{lo} <= {size} and {hi} <= {size} is false",
                    ],
                )

    def output_shape(self, shape: Shape) -> Shape:
        out = super().output_shape(shape)
        self._check_copies(shape, out)
        return out

    def _check_copies(self, shape: Shape, out: Shape) -> None:
        """The copies _pad_circular_symint makes, which fail when a crop and a pad mix badly."""
        first = len(shape) - self.ndim
        axes, pairs = AXES[self.ndim], self._pairs()
        dims = zip(axes, shape[first:], out[first:], pairs, strict=True)
        for axis, size, size_out, (lo, hi) in dims:
            # the input, cropped by the negative pads, is copied into the output's centre
            dst = _aten_slice(size_out, max(lo, 0), size_out - max(hi, 0))
            src = _aten_slice(size, max(-lo, 0), size - max(-hi, 0))
            if not _copy_fits(dst, src):
                raise ShapeError(
                    f"circular padding crops past the input: {self._where(axis, (lo, hi), size)} "
                    f"leaves {src[1] - src[0]} input elements for {dst[1] - dst[0]} output slots",
                )
        for i in reversed(range(self.ndim)):  # then the wrap-around copies, last dim first
            self._check_wrap(axes[i], shape[first + i], pairs[i], out, first + i)

    def _check_wrap(
        self, axis: str, size: int, pair: tuple[int, int], out: Shape, dim: int
    ) -> None:
        lo, hi = pair
        n = out[dim]
        copies: list[tuple[Span, Span]] = []
        if lo > 0:
            copies.append(
                (_aten_slice(n, 0, lo), _aten_slice(n, n - lo - max(hi, 0), n - max(hi, 0)))
            )
        if hi > 0:
            copies.append((_aten_slice(n, n - hi, n), _aten_slice(n, max(lo, 0), max(lo, 0) + hi)))
        # the copies read and write the output itself (their lengths always match once the
        # centre copy fits); copy_ refuses a partial overlap when it can see one: both slices
        # dense, i.e. every dim before this one has size 1 (aten/src/ATen/MemoryOverlap.cpp
        # get_overlap_status; with a bigger outer dim torch goes on and returns the shape)
        if prod(out[:dim]) > 1:
            return
        for dst, src in copies:
            if dst != src and dst[0] < src[1] and src[0] < dst[1]:
                raise ShapeError(
                    f"circular padding wraps into its own crop: {self._where(axis, pair, size)}; "
                    f"torch's copy of output[{src[0]}:{src[1]}] to output[{dst[0]}:{dst[1]}] "
                    f"along {AXIS_WORDS[axis]} overlaps itself",
                    hint="pad each side by at most what the crop on the other side leaves",
                )


@register
class CircularPad1d(_CircularPadNd):
    ndim = 1


@register
class CircularPad2d(_CircularPadNd):
    ndim = 2


@register
class CircularPad3d(_CircularPadNd):
    ndim = 3
