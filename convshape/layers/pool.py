"""MaxPool, AvgPool, LPPool and adaptive pooling, 1d/2d/3d (aten/src/ATen/native/Pool.h)."""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import ClassVar

from convshape.errors import ShapeError
from convshape.layers.argtypes import (
    FalseOnly,
    NonNegPad,
    NonZeroFloat,
    OptNonZeroInt,
    OptOutSize,
    OptRatio,
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
    first_empty,
    fmt,
    non_batch,
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

    def empty_error(self, shape: Shape) -> str | None:
        """Pool.h pool2d_shape_check / pool3d_shape_check: only the batch may be empty (1-d
        avg and LP pooling run the 2-d kernel on ``(N, C, 1, L)``)."""
        if first_empty(shape, non_batch(shape, self.ndim)) is None:
            return None
        name = self.type_name
        if self.ndim == 3:
            op = (
                "max_pool3d_with_indices_out_cpu_template"
                if name.startswith("Max")
                else "avg_pool3d"
            )
            return (
                f"{op}(): Expected input's non-batch dimensions to have positive length, but "
                f"input has a shape of {fmt(shape)} and non-batch dimension 0 has length zero!"
            )
        if name == "MaxPool1d":
            return (
                "max_pool1d: Expected 2D or 3D (batch mode) tensor with optional 0 dim batch "
                f"size for input, but got:{fmt(shape)}"
            )
        seen = (*shape[:-1], 1, shape[-1]) if self.ndim == 1 else shape
        return (
            "Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size for input, "
            f"but got:{fmt(seen)}"
        )

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

    def empty_error(self, shape: Shape) -> str | None:
        """aten AdaptiveAveragePooling.cpp / AdaptiveMaxPooling*.cpp: max pooling and 3-d
        averaging refuse any empty non-batch dim, 1-d/2-d averaging an empty spatial dim (1-d
        runs on ``(N, C, 1, L)``); an all-ones average is a mean, which takes anything."""
        out = self._resolve(shape)
        average = type(self).__name__.startswith("AdaptiveAvg")
        if average and (self.mean_shortcut or self.ndim == 1) and all(o == 1 for o in out):
            return None  # 1-d runs the 2-d kernel, whose all-ones output is a mean
        seen = (*shape[:-1], 1, shape[-1]) if self.ndim == 1 and average else shape
        # 1-d/2-d averaging checks the two spatial dims only; the rest every non-batch dim
        start = len(seen) - 2 if average and self.ndim < 3 else non_batch(seen, self.ndim)
        empty = first_empty(seen, start)
        if empty is None:
            return None
        n = 2 if average and self.ndim == 1 else self.ndim
        op = f"adaptive_{'avg' if average else 'max'}_pool{n}d"
        return (
            f"{op}(): Expected input to have non-zero size for non-batch dimensions, but input "
            f"has sizes {fmt(seen)} with dimension {empty} being empty"
        )

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


# ------------------------------------------------------------------- fractional max pooling


@dataclass(frozen=True)
class _FractionalMaxPoolNd(_KeepsIndices, Layer):
    """torch/nn/modules/pooling.py FractionalMaxPool2d/3d: the output size is ``output_size``,
    or ``floor(input * output_ratio)`` per spatial dim; only where the windows fall is random.
    aten FractionalMaxPool2d.cpp / 3d.cpp check ``out + kernel - 1 <= in`` (2d), ``< in``
    (3d: one stricter); ``_random_samples`` is not a spec argument."""

    takes_unbatched = True
    kernel_size: Size
    output_size: OptOutSize = None
    output_ratio: OptRatio = None
    return_indices: FalseOnly = False

    _AXES: ClassVar[tuple[str, ...]] = ("height", "width")

    def check(self) -> None:
        if self.output_size is None and self.output_ratio is None:
            raise ShapeError(
                f"{self.type_name} requires specifying either an output size, or a pooling ratio"
            )
        if self.output_size is not None and self.output_ratio is not None:
            raise ShapeError("only one of output_size and output_ratio may be specified")

    def _sizes(self, shape: Shape) -> tuple[int, ...]:
        n = self.ndim
        if self.output_size is not None:
            return ntuple(self.output_size, n)
        ratios = (
            self.output_ratio if isinstance(self.output_ratio, tuple) else (self.output_ratio,) * n
        )
        assert all(r is not None for r in ratios)
        return tuple(int(size * float(r)) for size, r in zip(shape[-n:], ratios, strict=True))  # type: ignore[arg-type]

    def output_shape(self, shape: Shape) -> Shape:
        n, rank = self.ndim, len(shape)
        # functional.py reads input.size(-n) (ratio), then input.size(-n - 1) (random samples)
        wanted = n if self.output_size is None and rank < n else n + 1
        if rank < wanted:
            raise ShapeError(
                f"Dimension out of range (expected to be in range of [{-rank}, {rank - 1}], "
                f"but got {-wanted})"
            )
        op = f"fractional_max_pool{n}d" + ("_out" if n == 3 else "")
        if rank not in (n + 1, n + 2):
            ranks = "3D or 4D" if n == 2 else "4D or 5D"
            raise ShapeError(f"{op}(): Expected {ranks} tensor, but got: {fmt(shape)}")
        outs = self._sizes(shape)
        kernel = ntuple(self.kernel_size, n)
        for axis, size, k, o in zip(self._AXES, shape[-n:], kernel, outs, strict=True):
            if o + k - 1 > size or (n == 3 and o + k - 1 == size):
                relation = "<=" if n == 2 else "<"
                raise ShapeError(
                    f"{op}(): pool {axis} {k} too large relative to input {axis} {size}",
                    formula=[f"output + kernel_size - 1 {relation} input: {o} + {k} - 1 = "
                             f"{o + k - 1}, input {size}"],
                )  # fmt: skip
        return (*shape[:-n], *outs)  # an output size of 0 is an empty tensor (warning CS106)

    def empty_error(self, shape: Shape) -> str | None:
        empty = first_empty(shape, 1)  # FractionalMaxPool2d.cpp: dims 1.., batched or not
        if empty is None:
            return None
        op = f"fractional_max_pool{self.ndim}d" + ("_out" if self.ndim == 3 else "")
        return (
            f"{op}(): Expected input to have non-zero size for non-batch dimensions, but "
            f"got{fmt(shape)} with dimension {empty} being empty."
        )

    def explain(self, shape: Shape, out: Shape) -> list[str]:
        n = self.ndim
        if self.output_size is not None:
            return [f"output size = output_size = {list(out[-n:])} (windows at random places)"]
        return [
            f"output = floor(input * output_ratio) = floor({list(shape[-n:])} * "
            f"{self.output_ratio}) = {list(out[-n:])} (windows at random places)"
        ]

    def temporaries(self, shape: Shape, out: Shape, strides: Strides, at: Device) -> int:
        # the int64 indices, and functional.py's random samples: (N, C, ndim) in the input dtype
        batch = shape[0] if len(shape) == self.ndim + 2 else 1
        return INDEX * prod(out) + batch * shape[-self.ndim - 1] * self.ndim * at.itemsize


@register
class FractionalMaxPool2d(_FractionalMaxPoolNd):
    ndim = 2


@register
class FractionalMaxPool3d(_FractionalMaxPoolNd):
    ndim = 3
    _AXES: ClassVar[tuple[str, ...]] = ("time", "height", "width")
