"""MaxPool, AvgPool, LPPool and adaptive pooling, 1d/2d/3d (aten/src/ATen/native/Pool.h)."""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

from convshape.errors import ShapeError
from convshape.layers.argtypes import (
    FalseOnly,
    NonNegPad,
    NonZeroFloat,
    OptNonZeroInt,
    OptSize,
    OutputSize,
    PosInt,
    Size,
)
from convshape.layers.base import (
    AXES,
    Device,
    Layer,
    Saves,
    Shape,
    Strides,
    fmt,
    ntuple,
    register,
    too_small,
)
from convshape.layers.formulas import pool_out, pool_text

INDEX = 8  # bytes per max-pooling index: int64 on every device and dtype

_RANKS = {1: "2D or 3D", 2: "3D or 4D", 3: "4D or 5D"}


def _check_rank(shape: Shape, ndim: int, op: str) -> None:
    # Pool.h pool2d_shape_check / pool3d_shape_check: one optional batch dim
    if len(shape) not in (ndim + 1, ndim + 2):
        raise ShapeError(
            f"{op} expects a {_RANKS[ndim]} (batch mode) input, but got input of size: {fmt(shape)}"
        )


@dataclass(frozen=True)
class _PoolNd(Layer):
    """What MaxPool, AvgPool and LPPool share: a window sliding with stride, padding, ceil_mode."""

    takes_unbatched = True

    def _window(self) -> tuple[tuple[int, ...], ...]:
        """(kernel, stride, padding, dilation) per spatial dim."""
        raise NotImplementedError

    @property
    def _op(self) -> str:
        return type(self).__name__

    def _ceil(self) -> bool:
        return bool(getattr(self, "ceil_mode", False))

    def check(self) -> None:
        kernel, _, padding, _ = self._window()
        for k, p in zip(kernel, padding, strict=True):
            if p > k // 2:
                # Pool.h pooling_output_shape and pool2d_shape_check use the raw kernel here
                raise ShapeError(
                    "pad should be at most half of kernel size",
                    formula=["padding <= kernel_size // 2", f"{p} > {k} // 2 = {k // 2}"],
                )

    def output_shape(self, shape: Shape) -> Shape:
        _check_rank(shape, self.ndim, self._op)
        spatial = shape[-self.ndim :]
        outs = [
            pool_out(size, k, s, p, d, self._ceil())
            for size, k, s, p, d in zip(spatial, *self._window(), strict=True)
        ]
        if min(outs) < 1:
            too_small(AXES[self.ndim], outs, self._texts(spatial))
        return (*shape[: -self.ndim], *outs)

    def _texts(self, spatial: Shape) -> list[list[str]]:
        return [
            pool_text(axis, size, k, s, p, d, self._ceil())
            for axis, size, k, s, p, d in zip(
                AXES[self.ndim], spatial, *self._window(), strict=True
            )
        ]

    def explain(self, shape: Shape, out: Shape) -> list[str]:
        lines: list[str] = []
        if getattr(self, "stride", 0) is None:
            lines.append("stride defaults to kernel_size")
        for text in self._texts(shape[-self.ndim :]):
            lines += text
        return lines


class _KeepsIndices(Layer):
    """Max pooling: it keeps its input and the argmax indices (int64), which eval computes
    too."""

    def saves(
        self, shape: Shape, strides: Strides, out: Shape, at: Device, grad_in: bool, learns: bool
    ) -> Saves:
        return Saves(input=True, extra=INDEX * prod(out))  # and the argmax indices

    def temporaries(self, shape: Shape, out: Shape, strides: Strides, at: Device) -> int:
        return INDEX * prod(out)  # eval computes the indices too


@dataclass(frozen=True)
class _MaxPoolNd(_KeepsIndices, _PoolNd):
    strided_window = True
    kernel_size: Size
    stride: OptSize = None
    padding: NonNegPad = 0
    dilation: Size = 1
    return_indices: FalseOnly = False
    ceil_mode: bool = False

    def _window(self) -> tuple[tuple[int, ...], ...]:
        n, k = self.ndim, self.kernel_size
        stride = k if self.stride is None else self.stride
        return ntuple(k, n), ntuple(stride, n), ntuple(self.padding, n), ntuple(self.dilation, n)


@register
class MaxPool1d(_MaxPoolNd):
    ndim = 1


@register
class MaxPool2d(_MaxPoolNd):
    ndim = 2


@register
class MaxPool3d(_MaxPoolNd):
    ndim = 3


@dataclass(frozen=True)
class _AvgPoolNd(_PoolNd):
    strided_window = True
    kernel_size: Size
    stride: OptSize = None
    padding: NonNegPad = 0
    ceil_mode: bool = False
    count_include_pad: bool = True

    def _window(self) -> tuple[tuple[int, ...], ...]:
        n, k = self.ndim, self.kernel_size
        stride = k if self.stride is None else self.stride
        return ntuple(k, n), ntuple(stride, n), ntuple(self.padding, n), (1,) * n


@register
class AvgPool1d(_AvgPoolNd):
    ndim = 1


@register
@dataclass(frozen=True)
class AvgPool2d(_AvgPoolNd):
    divisor_override: OptNonZeroInt = None

    ndim = 2


def _check_image_fits_kernel(shape: Shape, kernel: tuple[int, ...], op: str) -> None:
    # aten/src/ATen/native/Pool.h pool3d_shape_check (avg_pool3d): padding is NOT counted here
    spatial = shape[-3:]
    if any(size < k for size, k in zip(spatial, kernel, strict=True)):
        raise ShapeError(
            f"{op}: input image (T: {spatial[0]} H: {spatial[1]} W: {spatial[2]}) smaller than "
            f"kernel size (kT: {kernel[0]} kH: {kernel[1]} kW: {kernel[2]}); "
            "padding does not count here"
        )


class _AvgPool3dShapeCheck(_PoolNd):
    """AvgPool3d and LPPool3d (which is avg_pool3d) first check the image against the kernel."""

    def output_shape(self, shape: Shape) -> Shape:
        _check_rank(shape, self.ndim, self._op)
        kernel, *_ = self._window()
        _check_image_fits_kernel(shape, kernel, self._op)
        return super().output_shape(shape)


@register
@dataclass(frozen=True)
class AvgPool3d(_AvgPool3dShapeCheck, _AvgPoolNd):
    divisor_override: OptNonZeroInt = None

    ndim = 3


@dataclass(frozen=True)
class _LPPoolNd(_PoolNd):
    strided_window = True
    """torch/nn/functional.py lp_pool{n}d: avg_pool{n}d(x**p, kernel, stride, 0, ceil_mode)."""

    norm_type: NonZeroFloat
    kernel_size: Size
    stride: OptSize = None
    ceil_mode: bool = False

    def _window(self) -> tuple[tuple[int, ...], ...]:
        n, k = self.ndim, self.kernel_size
        stride = k if self.stride is None else self.stride
        return ntuple(k, n), ntuple(stride, n), (0,) * n, (1,) * n

    def saves(
        self, shape: Shape, strides: Strides, out: Shape, at: Device, grad_in: bool, learns: bool
    ) -> Saves:
        # x.pow(p) keeps x; avg_pool keeps x**p; sign(out) * relu(abs(out)) keeps out, the
        # sign, the relu; .mul(k).pow(1/p) keeps its base and its result
        return Saves(input=True, extra=at.itemsize * (prod(shape) + 4 * prod(out)))

    def temporaries(self, shape: Shape, out: Shape, strides: Strides, at: Device) -> int:
        # x**p and the pooled sum together; later out, its sign, abs and relu together
        size, pooled = at.itemsize * prod(shape), at.itemsize * prod(out)
        return max(size + pooled, 4 * pooled) - pooled


@register
@dataclass(frozen=True)
class LPPool1d(_LPPoolNd):
    kernel_size: PosInt  # torch multiplies by kernel_size, so a tuple raises a TypeError

    ndim = 1


@register
class LPPool2d(_LPPoolNd):
    ndim = 2


@register
class LPPool3d(_AvgPool3dShapeCheck, _LPPoolNd):
    ndim = 3


# ------------------------------------------------------------------------------ adaptive pooling


@dataclass(frozen=True)
class _AdaptivePoolNd(Layer):
    takes_unbatched = True
    output_size: OutputSize

    mean_shortcut = False  # avg pooling to all-ones is a plain mean on any rank >= ndim

    def _resolve(self, shape: Shape) -> tuple[int, ...]:
        """torch/nn/modules/utils.py _list_with_default: None takes the input's size."""
        if isinstance(self.output_size, int):
            return (self.output_size,) * self.ndim
        if len(shape) <= self.ndim:
            raise ShapeError(f"Input dimension should be at least {self.ndim + 1}")
        return tuple(
            size if out is None else out
            for out, size in zip(self.output_size, shape[-self.ndim :], strict=True)
        )

    def output_shape(self, shape: Shape) -> Shape:
        out = self._resolve(shape)
        if self.mean_shortcut and self.ndim > 1 and all(o == 1 for o in out):
            if len(shape) < self.ndim:  # aten AdaptiveAveragePooling.cpp: mean(dim=(-1,-2))
                raise ShapeError(f"expected at least {self.ndim} dims, got input {fmt(shape)}")
        else:
            _check_rank(shape, self.ndim, type(self).__name__)
        return (*shape[: -self.ndim], *out)

    def saves(
        self, shape: Shape, strides: Strides, out: Shape, at: Device, grad_in: bool, learns: bool
    ) -> Saves:
        # aten AdaptiveAveragePooling.cpp: an all-ones output is a mean, which keeps nothing
        return Saves(input=any(o != 1 for o in out[-self.ndim :]))

    def explain(self, shape: Shape, out: Shape) -> list[str]:
        axes = AXES[self.ndim]
        lines = [f"output size = output_size = {list(out[-self.ndim :])} (adaptive)"]
        for axis, size, o in zip(axes, shape[-self.ndim :], out[-self.ndim :], strict=True):
            lines.append(
                f"window i along {axis}: [floor(i*{size}/{o}), ceil((i+1)*{size}/{o})), i < {o}"
            )
        return lines


@register
class AdaptiveAvgPool1d(_AdaptivePoolNd):
    ndim = 1


@register
class AdaptiveAvgPool2d(_AdaptivePoolNd):
    ndim = 2
    mean_shortcut = True


@register
class AdaptiveAvgPool3d(_AdaptivePoolNd):
    ndim = 3
    mean_shortcut = True


@dataclass(frozen=True)
class _AdaptiveMaxPoolNd(_KeepsIndices, _AdaptivePoolNd):
    return_indices: FalseOnly = False


@register
class AdaptiveMaxPool1d(_AdaptiveMaxPoolNd):
    ndim = 1


@register
class AdaptiveMaxPool2d(_AdaptiveMaxPoolNd):
    ndim = 2


@register
class AdaptiveMaxPool3d(_AdaptiveMaxPoolNd):
    ndim = 3
