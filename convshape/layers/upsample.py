"""Upsample, UpsamplingNearest2d, UpsamplingBilinear2d (torch/nn/modules/upsampling.py,
which calls ``F.interpolate`` in torch/nn/functional.py)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from math import floor, prod

from convshape.errors import ShapeError, SpecError
from convshape.layers.argtypes import OptBool, OptScale, OptSizeAny, UpsampleMode
from convshape.layers.base import (
    AXES,
    Device,
    KeepsNothing,
    Saves,
    Shape,
    Strides,
    dim_formula,
    fmt,
    ntuple,
    register,
    too_small,
)

# F.interpolate's dispatch: the input ranks (N, C, *spatial) each mode has a kernel for
MODE_RANKS = {
    "nearest": (3, 4, 5),
    "nearest-exact": (3, 4, 5),
    "area": (3, 4, 5),
    "linear": (3,),
    "bilinear": (4,),
    "bicubic": (4,),
    "trilinear": (5,),
}
NOT_INTERPOLATING = ("nearest", "area", "nearest-exact")  # align_corners must stay None


def scaled_size(size: int, scale: float) -> int:
    # F.interpolate / ATen compute_output_size: int(size * scale) on doubles, truncated.
    # Float rounding shows: 100 * 0.29 = 28.999999999999996 -> 28.
    return int(size * scale)


def scaled_text(axis: str, size: int, scale: float) -> list[str]:
    value = scaled_size(size, scale)
    lines = dim_formula(
        axis, f"floor({axis}_in * scale_factor)", f"floor({size} * {scale!r})", value
    )
    if floor(Decimal(repr(scale)) * size) != value:
        lines.append(
            f"{' ' * (len(axis) + 7)}({size} * {scale!r} is {size * scale!r} in double precision, "
            "and torch truncates the double)"
        )
    return lines


def _per_axis(scale: float | tuple[float, ...], n: int) -> tuple[float, ...]:
    return scale if isinstance(scale, tuple) else (scale,) * n


@dataclass(frozen=True)
class _Interpolate(KeepsNothing):
    size: OptSizeAny = None
    scale_factor: OptScale = None

    def saves(
        self, shape: Shape, strides: Strides, out: Shape, at: Device, grad_in: bool, learns: bool
    ) -> Saves:
        # 'area' is adaptive average pooling: it keeps its input, unless the output is all
        # ones (a mean); the interpolating modes keep nothing
        spatial = out[2:]
        return Saves(input=self._mode() == "area" and any(o != 1 for o in spatial))

    def _mode(self) -> str:
        return "nearest"

    def _align_corners(self) -> bool | None:
        return None

    def _recompute(self) -> bool | None:
        return None

    def check(self) -> None:
        # F.interpolate raises these on any input, before it looks at the shape
        mode = self._mode()
        if mode in NOT_INTERPOLATING and self._align_corners() is not None:
            raise SpecError(
                f"align_corners can only be set with the interpolating modes "
                f"(linear, bilinear, bicubic, trilinear), not mode={mode!r}"
            )
        if self.size is not None and self.scale_factor is not None:
            raise SpecError("only one of size or scale_factor should be defined")
        if self.size is None and self.scale_factor is None:
            raise SpecError("either size or scale_factor should be defined")
        if self._recompute() and self.size is not None:
            raise SpecError("recompute_scale_factor is not meaningful with an explicit size")

    def output_shape(self, shape: Shape) -> Shape:
        dim = len(shape) - 2  # F.interpolate: dim 0 is N, dim 1 is C, always
        for name, value in (("size", self.size), ("scale_factor", self.scale_factor)):
            if isinstance(value, tuple) and len(value) != dim:
                raise ShapeError(
                    f"{name} has {len(value)} entries but the input has {max(dim, 0)} spatial "
                    f"dims: {fmt(shape[2:])} of (N, C, *spatial) {fmt(shape)}"
                )
        self._check_rank(shape)
        axes = AXES[dim]
        outs = self._outs(shape[2:])
        if self._mode() != "area" or min(outs) < 0:  # area is adaptive pooling: 0 is empty
            too_small(axes, outs, self._texts(shape[2:]))
        return (shape[0], shape[1], *outs)

    def empty_error(self, shape: Shape) -> str | None:
        """UpSample.h upsample_*_common_check: every spatial size in and out > 0, then no
        empty non-batch dim (a batch of 0 is fine)."""
        spatial, outs = shape[2:], self._outs(shape[2:])
        if self._mode() == "area":  # AdaptiveAveragePooling*.cpp: spatial sizes > 0
            if 0 in spatial:
                n = len(spatial)
                return (
                    f"adaptive_avg_pool{max(n, 2)}d(): Expected input to have non-zero size for "
                    f"non-batch dimensions, but input has sizes {fmt(shape)}"
                )
            return None
        if 0 in spatial:
            axes = AXES[len(spatial)]
            sizes_in = ", ".join(f"{a}: {n}" for a, n in zip(axes, spatial, strict=True))
            sizes_out = ", ".join(f"{a}: {n}" for a, n in zip(axes, outs, strict=True))
            return (
                "Input and output sizes should be greater than 0, but got input "
                f"({sizes_in}) output ({sizes_out})"
            )
        if prod(shape[1:]) == 0:
            rank = len(shape)
            return (
                f"Non-empty {rank}D data tensor expected but got a tensor with sizes {fmt(shape)}"
            )
        return None

    def _check_rank(self, shape: Shape) -> None:
        mode, ranks = self._mode(), MODE_RANKS[self._mode()]
        if len(shape) in ranks:
            return
        need = " or ".join(", ".join(f"{r}-d" for r in ranks).rsplit(", ", 1))
        unbatched = len(shape) + 1 in ranks
        raise ShapeError(
            f"{mode} mode needs a {need} input (N, C, *spatial), got a {len(shape)}-d input "
            f"{fmt(shape)}",
            hint=f"{self.type_name} has no unbatched form: it reads dim 0 as N and dim 1 as C"
            if unbatched
            else None,
        )

    def _outs(self, spatial: Shape) -> list[int]:
        if self.size is not None:
            return list(ntuple(self.size, len(spatial)))
        assert self.scale_factor is not None  # check() saw to it
        scales = _per_axis(self.scale_factor, len(spatial))
        return [scaled_size(n, s) for n, s in zip(spatial, scales, strict=True)]

    def _texts(self, spatial: Shape) -> list[list[str]]:
        axes, outs = AXES[len(spatial)], self._outs(spatial)
        if self.size is not None:
            return [[f"{a}_out = size = {o}"] for a, o in zip(axes, outs, strict=True)]
        assert self.scale_factor is not None
        scales = _per_axis(self.scale_factor, len(spatial))
        return [scaled_text(a, n, s) for a, n, s in zip(axes, spatial, scales, strict=True)]

    def explain(self, shape: Shape, out: Shape) -> list[str]:
        head = (
            f"mode={self._mode()!r}: (N, C, *spatial) -> (N, C, *out): {fmt(shape)} -> {fmt(out)}"
        )
        lines = [head]
        for text in self._texts(shape[2:]):
            lines += text
        return lines


@register
@dataclass(frozen=True)
class Upsample(_Interpolate):
    mode: UpsampleMode = "nearest"
    align_corners: OptBool = None
    recompute_scale_factor: OptBool = None

    def _mode(self) -> str:
        return self.mode

    def _align_corners(self) -> bool | None:
        return self.align_corners

    def _recompute(self) -> bool | None:
        return self.recompute_scale_factor


@register
class UpsamplingNearest2d(_Interpolate):
    """``Upsample(size, scale_factor, mode='nearest')``: 3-d, 4-d or 5-d input, despite the name."""


@register
class UpsamplingBilinear2d(_Interpolate):
    """``Upsample(size, scale_factor, mode='bilinear', align_corners=True)``: 4-d input only."""

    def _mode(self) -> str:
        return "bilinear"

    def _align_corners(self) -> bool | None:
        return True
